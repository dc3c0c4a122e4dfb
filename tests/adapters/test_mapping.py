"""Mapping profiles: the bundled default, a tenant's file, and refusals at load."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from divalto.errors import ProfileInvalid
from divalto.mapping import MappingInvalid, default_mapping, load_mapping, parse_mapping
from divalto.models import DocumentKind, DocumentState

RENAMED = Path(__file__).with_name("renamed.toml")


def default_table() -> dict[str, object]:
    text = (Path(__file__).parents[2] / "src/divalto/mappings/default.toml").read_text(
        encoding="utf-8"
    )
    return tomllib.loads(text)


def test_default_profile_matches_the_simulator() -> None:
    """The bundled profile names the simulator's RecordSql, codes and articles."""
    mapping = default_mapping()

    assert mapping.recordsql["customers"].fields["name"] == "NOM"
    assert mapping.recordsql["customers"].where["by_code"].case == "Equal_Tiers"
    assert mapping.actions.create_document == "integration_piece"
    assert [mapping.picod(kind) for kind in DocumentKind] == ["1", "2", "3", "4", "5"]
    assert mapping.kind_of("4") is DocumentKind.INVOICE
    assert mapping.state_code(DocumentState.CANCELLED) == "2"
    assert mapping.vat.code_for(Decimal("5.5")) == "2"
    assert mapping.rounding.amount(Decimal("8.845")) == Decimal("8.85")


def test_a_tenant_profile_is_read_from_its_file() -> None:
    """Another tenant's file gives its own names and codes."""
    mapping = load_mapping(RENAMED)

    assert mapping.name == "renamed"
    assert mapping.recordsql["products"].fields["label"] == "LIBELLE"
    assert mapping.actions.transfer_document == "transformer_piece"
    assert mapping.picod(DocumentKind.ORDER) == "12"
    assert mapping.customer_codes.template == "W{id:0>7}"


def test_a_profile_missing_entries_is_refused_naming_each() -> None:
    """Every missing entry and dangling reference is named, all in one error."""
    table = default_table()
    del table["recordsql"]["customers"]["fields"]["name"]  # type: ignore[index]
    del table["recordsql"]["products"]["where"]["by_family"]  # type: ignore[index]
    del table["document_types"]["credit_note"]  # type: ignore[attr-defined]
    table["vat"]["exempt_code"] = "9"  # type: ignore[index]
    table["customer_codes"]["default_payment_term"] = "90J"  # type: ignore[index]

    with pytest.raises(MappingInvalid) as caught:
        parse_mapping(table, "broken.toml")

    assert caught.value.problems == [
        "recordsql.customers.fields.name: is missing",
        "recordsql.products.where.by_family: is missing",
        "document_types.credit_note: is missing",
        "vat.exempt_code: '9' is not a code of vat.codes",
        "customer_codes.default_payment_term: '90J' is not in payment_terms",
    ]
    assert isinstance(caught.value, ProfileInvalid)
    assert str(caught.value).startswith("mapping profile broken.toml refused: ")


def test_a_profile_with_an_unknown_or_missing_section_is_refused() -> None:
    """A misspelt key and an absent section are named by their paths."""
    table = default_table()
    table["artikles"] = table.pop("articles")

    with pytest.raises(MappingInvalid) as caught:
        parse_mapping(table, "typo.toml")

    assert caught.value.problems == [
        "articles: is missing",
        "artikles: Extra inputs are not permitted",
    ]


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    """A file that is not TOML is a MappingInvalid naming the file."""
    path = tmp_path / "tenant.toml"
    path.write_text("name = \n", encoding="utf-8")

    with pytest.raises(MappingInvalid, match=r"tenant\.toml unreadable"):
        load_mapping(path)

"""The adapters under attack: bad payloads, odd mapping files, races and faults.

Each test names a behaviour the adapters must keep when the input, the profile or
the wire misbehaves; they run against the simulator over loopback, for both
tenants where the ERP is involved.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from divalto.adapters import (
    Adapters,
    CreditLimitExceeded,
    MissingReference,
    PriceDifference,
    PriceMismatch,
    ReferencesMissing,
)
from divalto.client import Divalto
from divalto.errors import DuplicateReference
from divalto.mapping import (
    MappingInvalid,
    MappingProfile,
    default_mapping,
    load_mapping,
    parse_mapping,
)
from divalto.models import (
    DocumentKind,
    DocumentState,
    LineAvailability,
    Money,
)
from divalto.services import BusinessAction
from divalto.settings import load_profile
from divalto.simulator import SimulatorServer
from divalto.simulator.settings import ActionNames
from divalto.testing import SimulatorControl
from divalto.validation import (
    OrderLineRequest,
    PayloadInvalid,
    validate_customer,
    validate_order,
)

from .conftest import RENAMED_SETTINGS, Tenant

DAY = date(2026, 1, 15)
MAPPING = default_mapping()
DEFAULT_TOML = Path(__file__).parents[2] / "src/divalto/mappings/default.toml"
RENAMED_TOML = Path(__file__).with_name("renamed.toml")
PIECE_AT_933 = {
    "dossier": "998",
    "ART": [
        {
            "REF": "TST0933",
            "DES": "Article at 9.33",
            "FAM": "DIVERS",
            "UN": "U",
            "TVAART": "1",
            "STFL": "1",
            "PUB": "9.33",
        }
    ],
}


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def problems_of(payload: Any) -> list[str]:
    with pytest.raises(PayloadInvalid) as caught:
        validate_order(payload, MAPPING)
    return [str(problem) for problem in caught.value.problems]


def calls(tenant: Tenant, action: str) -> list[dict[str, Any]]:
    return [e for e in tenant.control.requests() if e.get("action") == action]


@contextmanager
def adapters_of(
    base_url: str, mapping: MappingProfile, **settings: Any
) -> Iterator[Adapters]:
    """Adapters over a new client of the simulator at ``base_url``."""
    profile = load_profile(
        "hardening",
        base_url=base_url,
        dossier="998",
        user="DEMO",
        password="demo",
        **{
            "retry": {"attempts": 3, "wait_initial": 0.01, "wait_jitter": 0.0},
            **settings,
        },
    )
    with Divalto(profile) as erp:
        yield Adapters(erp, mapping)


def ten_at_933(tenant: Tenant) -> str:
    """Invoice FA00000001: 10 x TST0933 at 9.33 for C0000002, 111.96 with VAT."""
    tenant.control.seed(PIECE_AT_933)
    tenant.adapters.orders.create(
        {
            "customer": "C0000002",
            "your_reference": "SHOP-933",
            "date": DAY,
            "lines": [{"ref": "TST0933", "quantity": "10", "unit_price": "9.33"}],
        }
    )
    return tenant.adapters.invoices.from_order("CC00000001", on=DAY).number


# Models


def test_money_of_refuses_a_float_too() -> None:
    """Money.of turns no float into a decimal behind the caller's back."""
    with pytest.raises(ValidationError, match="a float cannot hold money"):
        Money.of(0.1, "EUR")  # type: ignore[arg-type]


# Payloads


def test_a_payload_that_is_not_an_object_is_refused_as_a_payload() -> None:
    """A list or None instead of an order is a PayloadInvalid, not a TypeError."""
    assert problems_of([{"ref": "ALB0001"}]) == [
        "(payload): must be an object, not list"
    ]
    assert problems_of(None) == ["(payload): must be an object, not NoneType"]


def test_every_problem_at_every_level_comes_back_at_once() -> None:
    """Missing fields at three levels, floats, huge numbers, currency, emoji, CJK."""
    problems = problems_of(
        {
            "currency": "XBT",
            "customer": "客户",
            "lines": [
                {"quantity": "1", "label": "Tasse 🍵"},
                {"ref": "ALB0001"},
                {"ref": "ALB0001", "quantity": 0.5, "unit_price": "1e3"},
                {"ref": "ALB0001", "quantity": "1e12"},
                {"ref": "ALB0001", "quantity": "-2", "gross_price": "-1"},
            ],
            "shipping": 4.9,
        }
    )

    assert problems == [
        "your_reference: is required",
        "lines[1].ref: is required",
        "lines[2].quantity: is required",
        "lines[3].quantity: a float cannot hold money or quantities exactly: give text",
        "lines[5].quantity: Input should be greater than 0",
        "lines[5].gross_price: Input should be greater than or equal to 0",
        "shipping: a float cannot hold money or quantities exactly: give text",
        "currency: 'XBT' is not one of EUR, CHF, GBP, USD",
        "lines[4].quantity: must be below 1000000000000, got 1e12",
        "customer: windows-1252 cannot carry '客' (U+5BA2), '户' (U+6237)",
        "lines[1].label: windows-1252 cannot carry '🍵' (U+1F375)",
    ]


def test_a_unit_price_that_contradicts_the_stated_gross_price_is_refused() -> None:
    """unit_price 9.31 with gross 10.00 and no discount contradicts itself."""
    assert problems_of(
        {
            "customer": "C0000001",
            "your_reference": "R",
            "lines": [
                {
                    "ref": "ALB0001",
                    "quantity": "10",
                    "unit_price": "9.31",
                    "gross_price": "10.00",
                },
                {
                    "ref": "ALB0001",
                    "quantity": "10",
                    "unit_price": "9.31",
                    "gross_price": "10.00",
                    "discounts": ["5", "2"],
                },
            ],
        }
    ) == [
        "lines[1].unit_price: 9.31 is not gross_price 10.00 less its discounts (10.00)"
    ]


def test_an_order_date_in_the_erp_format_is_understood() -> None:
    """``20260115``, the ERP's own date text, is 15 January 2026, not a timestamp."""
    order = validate_order(
        {
            "customer": "C0000001",
            "your_reference": "R",
            "date": "20260115",
            "lines": [{"ref": "ALB0001", "quantity": "1"}],
        },
        MAPPING,
    )

    assert order.date == DAY
    assert problems_of(
        {
            "customer": "C0000001",
            "your_reference": "R",
            "date": "20261345",
            "lines": [{"ref": "ALB0001", "quantity": "1"}],
        }
    ) == ["date: '20261345' is not a real YYYYMMDD date"]


# Mapping files


def default_table() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))


def refusals(table: dict[str, Any]) -> list[str]:
    with pytest.raises(MappingInvalid) as caught:
        parse_mapping(table, "odd.toml")
    return caught.value.problems


def test_a_partial_wire_section_keeps_the_other_names() -> None:
    """Renaming one request field keeps every other default name."""
    table = default_table()
    table["wire"] = {"request": {"customer": "CodeTiers"}, "groups": {"header": "en"}}

    mapping = parse_mapping(table, "partial.toml")

    assert mapping.wire.request["customer"] == "CodeTiers"
    assert mapping.wire.request["kind"] == "PiCod"
    assert (mapping.wire.groups["header"], mapping.wire.groups["lines"]) == (
        "en",
        "imouvtb",
    )


def test_misspelt_wire_names_are_refused_at_load() -> None:
    """A wire name the adapters never read is a typo: refused, named."""
    table = default_table()
    table["wire"] = {"request": {"custmer": "Tiers"}}

    assert refusals(table) == [
        "wire.request.custmer: is not a name the adapters use",
    ]


def test_templates_that_cannot_be_filled_are_refused_at_load() -> None:
    """A customer-code or reference template that would fail at run time is named."""
    table = default_table()
    table["customer_codes"] = {
        "strategy": "template",
        "template": "C{id:07d}",
        "external_reference": "{shop}:{id}",
    }

    assert refusals(table) == [
        "customer_codes.external_reference: '{shop}:{id}' cannot be filled "
        "with source and id (KeyError: 'shop')",
        "customer_codes.template: 'C{id:07d}' cannot be filled with source and id "
        "(ValueError: Unknown format code 'd' for object of type 'str')",
    ]


def test_an_external_reference_without_the_shop_id_is_refused() -> None:
    """ "{source}" alone would give every shop customer the same reference."""
    table = default_table()
    table["customer_codes"]["external_reference"] = "{source}"

    assert refusals(table) == [
        "customer_codes.external_reference: must use {id}, or every shop "
        "customer would share one reference"
    ]


def test_a_negative_tolerance_and_an_empty_article_are_refused_at_load() -> None:
    """A tolerance below zero would refuse every price; an empty article no line."""
    table = default_table()
    table["price_tolerance"] = "-0.01"
    table["articles"]["rounding"] = ""

    assert refusals(table) == [
        "articles.rounding: String should have at least 1 character",
        "price_tolerance: Input should be greater than or equal to 0",
    ]


def test_odd_vat_codes_and_encoding_are_refused_at_load() -> None:
    """An exempt code with a rate, a rate given twice and an unknown encoding."""
    table = default_table()
    table["vat"] = {"exempt_code": "1", "codes": {"20.00": "1", "20": "5", "0": "4"}}
    table["encoding"] = "klingon"

    assert refusals(table) == [
        "vat.codes: rate 20 is given twice",
        "vat.exempt_code: '1' is the code of rate 20.00, not of a zero rate",
        "encoding: 'klingon' is not an encoding Python knows",
    ]


def test_a_profile_saved_in_windows_1252_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    """A non-UTF-8 file is a MappingInvalid, not a UnicodeDecodeError."""
    path = tmp_path / "acme.toml"
    path.write_bytes(
        ("# Dépôt principal\n" + DEFAULT_TOML.read_text(encoding="utf-8")).encode(
            "cp1252"
        )
    )

    with pytest.raises(MappingInvalid, match=r"acme\.toml unreadable: not UTF-8"):
        load_mapping(path)


def test_a_profile_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Notepad's UTF-8 byte order mark does not make a profile unreadable."""
    path = tmp_path / "acme.toml"
    path.write_bytes(b"\xef\xbb\xbf" + DEFAULT_TOML.read_bytes())

    assert load_mapping(path).name == "default"


# Customers


def test_two_concurrent_upserts_of_one_shop_customer_make_one_customer(
    tenant: Tenant,
) -> None:
    """Both look up before either creates; the ERP refuses the twin, both agree."""
    shop = {"source": "shopify", "id": "77", "name": "Brasserie Kléber"}
    customers = tenant.adapters.customers
    reference = customers.external_reference(validate_customer(shop, tenant.mapping))
    create = tenant.mapping.actions.create_customer
    customers.get("C0000001")  # logged in, so that both look-ups start together
    tenant.control.add_fault(
        "latency", route="recordsql", action="Client", latency_ms=300, times=2
    )
    # The first creation waits until the second was applied: both creations
    # surely follow both look-ups.
    tenant.control.add_fault("latency", action=create, nth=1, latency_ms=600)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(customers.upsert, [shop, shop])

    assert first == second
    assert (first.external_references, first.version) == ((reference,), 1)
    assert sorted(e["outcome"] for e in calls(tenant, create)) == ["ok", "rejected"]
    assert len(tenant.control.table("CLI", REFEXT=reference)) == 1


def test_a_customer_creation_whose_answer_is_lost_is_found_not_duplicated(
    tenant: Tenant,
) -> None:
    """The ERP created it but the answer timed out: upsert returns that customer."""
    create = tenant.mapping.actions.create_customer
    tenant.control.add_fault("timeout_after", action=create, times=1, hang_seconds=2)

    with adapters_of(
        tenant.simulator.base_url, tenant.mapping, timeouts={"write": 0.5}
    ) as adapters:
        customer = adapters.customers.upsert(
            {"source": "shopify", "id": "88", "name": "Lost answer"}
        )

    assert customer.name == "Lost answer"
    assert len(calls(tenant, create)) == 1
    assert len(tenant.control.table("CLI", NOM="Lost answer")) == 1


# Orders


def order(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer": "C0000001",
        "your_reference": "SHOP-1001",
        "date": DAY,
        "lines": [{"ref": "ALB0001", "quantity": "10", "unit_price": "9.31"}],
    }
    payload.update(changes)
    return payload


def test_an_order_whose_answer_is_lost_is_returned_once_created(
    tenant: Tenant,
) -> None:
    """timeout_after on creation: the adapter finds the order; exactly one exists."""
    create = tenant.mapping.actions.create_document
    tenant.control.add_fault("timeout_after", action=create, times=1, hang_seconds=2)

    with adapters_of(
        tenant.simulator.base_url, tenant.mapping, timeouts={"write": 0.5}
    ) as adapters:
        created = adapters.orders.create(order())

    assert (created.number, created.your_reference) == ("CC00000001", "SHOP-1001")
    assert created.total_including_tax == eur("111.72")
    assert len(calls(tenant, create)) == 1
    assert len(tenant.control.table("ENT", PIREF="SHOP-1001")) == 1


def test_a_proxy_error_on_creation_is_resolved_by_looking_up(tenant: Tenant) -> None:
    """A 502 may hide an applied write: not found by reference, it is sent again."""
    create = tenant.mapping.actions.create_document
    tenant.control.add_fault("http_error", status=502, action=create, times=1)

    created = tenant.adapters.orders.create(order())

    assert created.number == "CC00000001"
    assert [e["outcome"] for e in calls(tenant, create)] == ["fault", "ok"]
    assert len(tenant.control.table("ENT", PIREF="SHOP-1001")) == 1


def test_transient_faults_on_reads_and_writes_are_retried(tenant: Tenant) -> None:
    """A reset read, a cut price answer, a 503 on creation: one order all the same."""
    create = tenant.mapping.actions.create_document
    tenant.control.add_fault("connection_reset", route="recordsql", nth=1)
    tenant.control.add_fault("truncated_body", action="INTERROGER_TARIF", nth=1)
    tenant.control.add_fault("http_error", status=503, action=create, nth=1)

    created = tenant.adapters.orders.create(order())

    assert created.line(1).net_price == Decimal("9.31")
    assert [rule["fired"] for rule in tenant.control.faults()] == [1, 1, 1]
    assert len(tenant.control.table("ENT", PIREF="SHOP-1001")) == 1


def test_shop_discounts_without_a_gross_price_are_checked_against_the_erp(
    tenant: Tenant,
) -> None:
    """50 % off the ERP's 10.00 is 5.00, not its 9.31: reported, nothing created."""
    lines = [{"ref": "ALB0001", "quantity": "10", "discounts": ["50"]}]

    with pytest.raises(PriceMismatch) as caught:
        tenant.adapters.orders.create(order(lines=lines))

    assert caught.value.differences == [
        PriceDifference(
            "lines[1]",
            "ALB0001",
            Decimal("5.00"),
            Decimal("9.31"),
            Decimal("10.00"),
            (Decimal("5.00"), Decimal("2.00"), Decimal("0.00")),
        )
    ]
    assert tenant.control.table("ENT") == []


def test_the_checked_price_is_the_price_of_the_created_order(tenant: Tenant) -> None:
    """An order dated before a price list starts keeps the price that was checked."""
    created = tenant.adapters.orders.create(
        order(
            customer="C0000004",
            date=date(2025, 12, 20),
            lines=[{"ref": "CAF0001", "quantity": "2", "unit_price": "31.90"}],
        )
    )

    line = created.line(1)
    assert (line.gross_price, line.net_price, line.amount) == (
        Decimal("31.90"),
        Decimal("31.90"),
        Decimal("63.80"),
    )
    assert created.total_including_tax == eur("76.56")


def test_create_refuses_a_kind_that_is_not_an_order_before_any_call(
    tenant: Tenant,
) -> None:
    """Creating an invoice through orders.create is refused; nothing reaches the ERP."""
    with pytest.raises(ValueError, match="an order or a quote, not invoice"):
        tenant.adapters.orders.create(order(), kind=DocumentKind.INVOICE)

    assert tenant.control.requests() == []


def test_a_missing_depot_is_named_even_when_every_article_is_missing(
    tenant: Tenant,
) -> None:
    """No article to probe the depot with does not hide the unknown depot."""
    lines = [{"ref": "XYZ", "quantity": "1", "depot": "9"}]

    with pytest.raises(ReferencesMissing) as caught:
        tenant.adapters.orders.create(order(lines=lines))

    assert caught.value.missing == [
        MissingReference("lines[1].ref", "article", "XYZ"),
        MissingReference("lines[1].depot", "depot", "9"),
    ]


def test_a_service_line_is_never_short(tenant: Tenant) -> None:
    """PORT is not stock-managed: available as asked, whatever the stock says."""
    availability = tenant.adapters.products.availability(
        [
            OrderLineRequest(ref="PORT", quantity=Decimal(1)),
            OrderLineRequest(ref="BLO0001", sref1="XL", sref2="BLEU", quantity=9),
        ]
    )

    assert availability.lines == (
        LineAvailability(line=1, ref="PORT", depot="1", requested=1, available=1),
        LineAvailability(
            line=2,
            ref="BLO0001",
            sref1="XL",
            sref2="BLEU",
            depot="1",
            requested=9,
            available=8,
        ),
    )
    assert [line.line for line in availability.short_lines] == [2]


def test_delivery_quantities_are_checked_before_any_call(tenant: Tenant) -> None:
    """A float, a negative and a zero quantity are each named; nothing is sent."""
    tenant.adapters.orders.create(order())
    tenant.control.clear_requests()

    with pytest.raises(PayloadInvalid) as caught:
        tenant.adapters.orders.deliver(
            "CC00000001",
            {1: 1.5, 2: Decimal(-1), 3: Decimal(0)},  # type: ignore[dict-item]
        )

    assert [str(problem) for problem in caught.value.problems] == [
        "quantities[1]: a float cannot hold a quantity exactly: give a Decimal",
        "quantities[2]: must be above 0, got -1",
        "quantities[3]: must be above 0, got 0",
    ]
    assert calls(tenant, tenant.mapping.actions.transfer_document) == []


def test_a_stock_movement_of_text_or_too_precise_a_quantity_is_refused_first(
    tenant: Tenant,
) -> None:
    """Text that is no number, four decimals and 10^12 units never reach the ERP."""
    moves = [("abc", "must be a decimal above 0: abc")]
    moves.append((Decimal("1.2345"), "at most 3 decimals, got 1.2345"))
    moves.append((Decimal("1e12"), "must be below 1000000000000, got 1E+12"))

    for quantity, problem in moves:
        with pytest.raises(PayloadInvalid) as caught:
            tenant.adapters.stock.move(
                "ALB0001",
                quantity,
                entry=True,
                reason="Count",  # type: ignore[arg-type]
            )
        assert [str(p) for p in caught.value.problems] == [f"quantity: {problem}"]

    assert tenant.control.requests() == []


# Credit notes


def test_credit_quantities_are_checked_and_none_is_dropped_silently(
    tenant: Tenant,
) -> None:
    """A negative, a float and an unknown line are each named; nothing is sent."""
    invoice = ten_at_933(tenant)
    tenant.control.clear_requests()

    with pytest.raises(PayloadInvalid) as caught:
        tenant.adapters.invoices.credit_note(
            invoice,
            {1: Decimal(-1), 2: 0.5, 9: Decimal(1)},  # type: ignore[dict-item]
        )

    assert [str(problem) for problem in caught.value.problems] == [
        "quantities[1]: must be 0 or above, got -1",
        "quantities[2]: a float cannot hold a quantity exactly: give a Decimal",
        "quantities[9]: invoice FA00000001 has no line 9",
    ]
    create = tenant.mapping.actions.create_document
    assert calls(tenant, create) == []


def test_a_refund_reference_is_unique_so_a_rerun_makes_no_second_credit_note(
    tenant: Tenant,
) -> None:
    """The same refund credited twice: the ERP refuses the second note."""
    invoice = ten_at_933(tenant)
    tenant.adapters.invoices.credit_note(invoice, {1: Decimal(1)}, reference="RF-1")

    with pytest.raises(DuplicateReference):
        tenant.adapters.invoices.credit_note(invoice, {1: Decimal(1)}, reference="RF-1")

    credit = tenant.picod(DocumentKind.CREDIT_NOTE)
    assert len(tenant.control.table("ENT", PICOD=credit)) == 1
    assert tenant.adapters.invoices.get(invoice).credited == eur("11.20")


def test_a_credit_note_whose_answer_is_lost_is_found_by_its_reference(
    tenant: Tenant,
) -> None:
    """timeout_after on a refund: the note is found again, never made twice."""
    invoice = ten_at_933(tenant)
    create = tenant.mapping.actions.create_document
    tenant.control.add_fault("timeout_after", action=create, times=1, hang_seconds=2)

    with adapters_of(
        tenant.simulator.base_url, tenant.mapping, timeouts={"write": 0.5}
    ) as adapters:
        note = adapters.invoices.credit_note(invoice, {1: Decimal(2)}, reference="R")

    assert (note.number, note.total_including_tax) == ("AV00000001", eur("22.39"))
    credit = tenant.picod(DocumentKind.CREDIT_NOTE)
    assert len(tenant.control.table("ENT", PICOD=credit)) == 1


def test_the_last_credit_note_is_lowered_when_vat_rounding_went_up_before(
    tenant: Tenant,
) -> None:
    """Three notes of 11.20 (1.866 VAT rounded up) leave 78.36 for the last seven
    units, a cent below their natural 78.37: one unit is credited a cent lower."""
    invoice = ten_at_933(tenant)
    for _ in range(3):
        tenant.adapters.invoices.credit_note(invoice, {1: Decimal(1)}, on=DAY)

    last = tenant.adapters.invoices.credit_note(invoice, on=DAY)
    after = tenant.adapters.invoices.get(invoice)

    assert last.number == "AV00000004"
    assert [(line.ref, line.quantity, line.amount) for line in last.lines] == [
        ("TST0933", 6, Decimal("55.98")),
        ("TST0933", 1, Decimal("9.32")),
    ]
    assert (last.total_vat, last.total_including_tax) == (eur("13.06"), eur("78.36"))
    assert (after.credited, after.creditable) == (eur("111.96"), eur("0.00"))
    with pytest.raises(CreditLimitExceeded) as caught:
        tenant.adapters.invoices.credit_note(invoice, on=DAY)
    assert caught.value.message.endswith("0.00 left to credit, asked 0")


def test_a_credit_far_beyond_what_remains_is_still_refused(tenant: Tenant) -> None:
    """Only rounding cents are absorbed: after a lump sum credited by another
    system, crediting every line again is refused before sending."""
    invoice = ten_at_933(tenant)
    req, groups = tenant.mapping.wire.request, tenant.mapping.wire.groups
    line = {req["ref"]: "FRAIS", req["quantity"]: "1", req["gross_price"]: "50.00"}
    lump_sum = {
        groups["header"]: {
            req["kind"]: tenant.picod(DocumentKind.CREDIT_NOTE),
            req["origin"]: invoice,
        },
        groups["lines"]: [{groups["line"]: {**line, req["vat_code"]: "4"}}],
    }
    tenant.adapters.invoices.run(BusinessAction.CREATE_DOCUMENT, lump_sum)
    tenant.control.clear_requests()

    with pytest.raises(CreditLimitExceeded) as caught:
        tenant.adapters.invoices.credit_note(invoice, on=DAY)

    assert caught.value.message == (
        "credit note beyond invoice FA00000001: total 111.96, "
        "61.96 left to credit, asked 111.96"
    )
    create = tenant.mapping.actions.create_document
    assert calls(tenant, create) == []


# The integrator's script, on the tenants and on one with other service codes


def lifecycle(adapters: Adapters) -> dict[str, Any]:
    """What an integrator writes from docs/adapters.md, with the public API only."""
    customer = adapters.customers.upsert(
        {
            "source": "shopify",
            "id": "5001",
            "name": "Cœur de Loire",
            "address": {"street": "2 rue Haute", "postcode": "49000", "city": "Angers"},
            "email": "achats@example.com",
        }
    )
    lines = [
        {"ref": "ALB0001", "quantity": "4", "unit_price": "12.50"},
        {"ref": "CAF0001", "quantity": "2", "unit_price": "34.90"},
    ]
    availability = adapters.products.availability(
        [OrderLineRequest.model_validate(line) for line in lines]
    )
    order = adapters.orders.create(
        {
            "customer": customer.code,
            "your_reference": "SHOP-5001",
            "date": DAY,
            "lines": lines,
            "shipping": "5.90",
        }
    )
    note = adapters.orders.deliver(order.number, {1: Decimal(3), 3: Decimal(1)})
    invoice = adapters.invoices.from_delivery(note.number, on=DAY)
    refund = adapters.invoices.credit_note(
        invoice.number, {1: Decimal(1)}, reference="REFUND-5001", on=DAY
    )
    return {
        "complete": availability.complete,
        "order": (order.number, order.total_including_tax),
        "note": (note.number, [(x.ref, x.quantity) for x in note.lines]),
        "invoice": (invoice.number, invoice.total_including_tax),
        "refund": (refund.number, refund.total_including_tax),
        "left": adapters.invoices.get(invoice.number).creditable,
        "order_state": adapters.orders.get(order.number).state,
    }


LIFECYCLE = {
    "complete": True,
    "order": ("CC00000001", eur("150.84")),
    "note": ("BL00000001", [("ALB0001", 3), ("PORT", 1)]),
    "invoice": ("FA00000001", eur("52.08")),
    "refund": ("AV00000001", eur("15.00")),
    "left": eur("37.08"),
    "order_state": DocumentState.ACTIVE,
}


def test_the_integrator_script_runs_on_both_tenants(tenant: Tenant) -> None:
    """Customer, availability, order, partial delivery, invoice, partial refund."""
    assert lifecycle(tenant.adapters) == LIFECYCLE


@pytest.fixture(scope="module")
def other_codes_server() -> Iterator[SimulatorServer]:
    """The renamed tenant whose service action codes are renamed as well."""
    actions = RENAMED_SETTINGS.actions.model_dump()
    actions.update(xml_service="DEMANDES_XML", json_service="SERVICES_JSON")
    settings = RENAMED_SETTINGS.model_copy(update={"actions": ActionNames(**actions)})
    with SimulatorServer(settings) as server:
        yield server


def test_the_integrator_script_runs_with_other_service_codes(
    other_codes_server: SimulatorServer,
) -> None:
    """Service codes are mapping settings too: only the profile file changes."""
    table = tomllib.loads(RENAMED_TOML.read_text(encoding="utf-8"))
    table["actions"].update(xml_service="DEMANDES_XML", json_service="SERVICES_JSON")
    mapping = parse_mapping(table, "other-codes")
    control = SimulatorControl(other_codes_server.url)
    control.reset()
    try:
        with adapters_of(other_codes_server.base_url, mapping) as adapters:
            result = lifecycle(adapters)
        services = {e["service_action"] for e in control.requests(route="service")}
    finally:
        control.close()

    assert result == LIFECYCLE
    assert services == {"DEMANDES_XML", "SERVICES_JSON"}

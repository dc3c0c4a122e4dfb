"""Customer creation and update over the wire, with codes, versions and checks."""

from __future__ import annotations

from typing import Any

from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire


def create(wire: Wire, **fields: str) -> dict[str, Any]:
    return wire.json_action("creation_client", {"icli": fields})


def update(wire: Wire, **fields: str) -> dict[str, Any]:
    return wire.json_action("modification_client", {"icli": fields})


def client(result: dict[str, Any]) -> dict[str, str]:
    assert result["result"]["common"] == {"resultcode": "0", "errormessage": ""}
    found: dict[str, str] = result["result"]["response"]["client"]
    return found


def refused(result: dict[str, Any]) -> tuple[str, str]:
    common = result["result"]["common"]
    return common["resultcode"], common["errormessage"]


def test_a_new_customer_gets_the_next_free_code(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Codes C0000001 to C0000004 are taken, so the first new customer is C0000005."""
    first = client(
        create(
            wire,
            Nom="Brasserie Kléber",
            Rue="5 place Kléber",
            CPostal="67000",
            Vil="Strasbourg",
            Pay="FR",
            Email="compta@example.com",
            TvaNo="FR99999999999",
            RegCod="45FM",
            TarCod="GROS",
            RemCod="FID",
            RefExt="shopify:4401",
        )
    )
    second = client(create(wire, Nom="Épicerie Fine"))

    assert first == {
        "tiers": "C0000005",
        "nom": "Brasserie Kléber",
        "rue": "5 place Kléber",
        "cpostal": "67000",
        "vil": "Strasbourg",
        "pay": "FR",
        "tel": "",
        "email": "compta@example.com",
        "tvano": "FR99999999999",
        "regcod": "45FM",
        "tarcod": "GROS",
        "remcod": "FID",
        "dev": "EUR",
        "refext": "shopify:4401",
        "ce1": "3",
        "version": "1",
    }
    assert second["tiers"] == "C0000006"
    (row,) = divalto_simulator.control.table("CLI", REFEXT="shopify:4401")
    assert (row["TIERS"], row["NOM"], row["VERSION"]) == (
        "C0000005",
        "Brasserie Kléber",
        1,
    )


def test_a_given_code_is_kept_and_skipped_by_numbering(wire: Wire) -> None:
    """A caller's code is used as is; numbering later skips it."""
    given = client(create(wire, Tiers="C0000005", Nom="Given"))
    numbered = client(create(wire, Nom="Numbered"))

    assert (given["tiers"], numbered["tiers"]) == ("C0000005", "C0000006")


def test_a_duplicate_code_or_external_reference_is_refused(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An existing code, or another customer's external reference, is resultcode 3."""
    duplicate_code = create(wire, Tiers="C0000001", Nom="Twin")
    duplicate_reference = create(wire, Nom="Twin", RefExt="northwind:ALFKI")

    assert refused(duplicate_code) == (
        "3",
        "icli.Tiers: customer 'C0000001' already exists",
    )
    assert refused(duplicate_reference) == (
        "3",
        "icli.RefExt: external reference 'northwind:ALFKI' is already used by "
        "customer 'C0000101'",
    )
    assert divalto_simulator.control.table("CLI", NOM="Twin") == []


def test_unknown_lookups_and_bad_fields_are_named_together(wire: Wire) -> None:
    """Payment term, families and currency must exist; Nom and a sane e-mail are
    required; all problems come in one answer."""
    unknown = create(
        wire, Nom="X", RegCod="90J", TarCod="DETAIL", RemCod="VIP", Dev="JPY"
    )
    malformed = create(wire, Email="not-an-address", Vil="Zürich ☃")

    assert refused(unknown) == (
        "2",
        "icli.RegCod: payment term '90J' not found; "
        "icli.TarCod: price family 'DETAIL' not found; "
        "icli.RemCod: discount family 'VIP' not found; "
        "icli.Dev: currency 'JPY' not found",
    )
    assert refused(malformed) == (
        "1",
        "icli.Nom: is required; "
        "icli.Vil: characters not representable in windows-1252: '☃' (U+2603); "
        "icli.Email: 'not-an-address' is not an e-mail address",
    )


def test_an_update_at_the_current_version_changes_the_fields_it_names(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Only the named fields change, and the version grows by one."""
    changed = client(
        update(wire, Tiers="C0000002", Version="1", Email="", Tel="02 41 00 00 00")
    )

    assert (changed["version"], changed["tel"], changed["email"]) == (
        "2",
        "02 41 00 00 00",
        "",
    )
    (row,) = divalto_simulator.control.table("CLI", TIERS="C0000002")
    assert (row["NOM"], row["TEL"], row["EMAIL"], row["VERSION"]) == (
        "L'Atelier d'Anjou",
        "02 41 00 00 00",
        "",
        2,
    )


def test_an_update_on_a_stale_version_is_a_conflict(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Two writers read version 1; the second one's update is refused."""
    client(update(wire, Tiers="C0000003", Version="1", Vil="Colmar"))

    late = update(wire, Tiers="C0000003", Version="1", Vil="Mulhouse")

    assert refused(late) == (
        "3",
        "version conflict on customer 'C0000003': current version 2, given 1",
    )
    (row,) = divalto_simulator.control.table("CLI", TIERS="C0000003")
    assert (row["VIL"], row["VERSION"]) == ("Colmar", 2)


def test_an_update_needs_a_known_customer_a_version_and_a_change(
    wire: Wire,
) -> None:
    """Unknown customers are resultcode 2; a missing version or change is 1."""
    unknown = update(wire, Tiers="C0009999", Version="1", Nom="Ghost")
    no_version = update(wire, Tiers="C0000002", Nom="Renamed")
    no_change = update(wire, Tiers="C0000002", Version="1")
    emptied_name = update(wire, Tiers="C0000002", Version="1", Nom=" ")

    assert refused(unknown) == ("2", "icli.Tiers: customer 'C0009999' not found")
    assert refused(no_version) == ("1", "icli.Version: is required")
    assert refused(no_change) == ("1", "icli: no field to change")
    assert refused(emptied_name) == ("1", "icli.Nom: is required")


def test_an_update_may_not_take_another_customers_external_reference(
    wire: Wire,
) -> None:
    """External references stay unique across updates too."""
    result = update(wire, Tiers="C0000002", Version="1", RefExt="northwind:ANATR")

    assert refused(result) == (
        "3",
        "icli.RefExt: external reference 'northwind:ANATR' is already used by "
        "customer 'C0000102'",
    )

"""The price rule, seen through ``INTERROGER_TARIF`` over HTTP.

Every expected amount below is worked out by hand in ``docs/simulator/pricing.md``:
seed ``TARIF`` ids 1-4 and ``REMISE`` ids 1-3 are those of ``demo.json``; rows a
test adds carry ids from 101 up so that ``origine_prix`` names them exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.testing import RunningSimulator, SimulatorControl
from tests.simulator.conftest import Wire
from tests.simulator.test_xml_demands import ask

PRICE_TAGS = (
    "pub",
    "rem1",
    "rem2",
    "rem3",
    "punet",
    "montant",
    "origine_prix",
    "origine_remise",
)
DAY = 24 * 3600


def tarif(wire: Wire, tiers: str, ref: str, **params: str) -> dict[str, str]:
    """The children of `<tarif>` as a tag → text mapping."""
    rep = ask(wire, "INTERROGER_TARIF", tiers=tiers, ref=ref, **params)
    element = rep.find("tarif")
    assert element is not None, rep.findtext("erreur")
    return {child.tag: child.text or "" for child in element}


def price(wire: Wire, tiers: str, ref: str, **params: str) -> tuple[str, ...]:
    """(gross, rem1, rem2, rem3, net, amount, price source, discount source)."""
    answer = tarif(wire, tiers, ref, **params)
    return tuple(answer[tag] for tag in PRICE_TAGS)


def seed(wire: Wire, **tables: list[dict[str, Any]]) -> None:
    wire.simulator.control.seed({"dossier": "998", **tables})


def day(offset: int = 0) -> str:
    """The simulator's date (UTC) moved by ``offset`` days, as ``YYYYMMDD``."""
    return (datetime.now(UTC) + timedelta(days=offset)).strftime("%Y%m%d")


def test_worked_example_answers_every_tag(wire: Wire) -> None:
    """C0000001 buying 10 ALB0001: GROS break at 10, FID 5 % then 2 %, 9.31 net."""
    answer = tarif(wire, "C0000001", "ALB0001", quantite="10")

    assert answer == {
        "tiers": "C0000001",
        "ref": "ALB0001",
        "sref1": "",
        "sref2": "",
        "depot": "",
        "quantite": "10.000",
        "prix": "1",
        "pub": "10.00",
        "rem1": "5.00",
        "rem2": "2.00",
        "rem3": "0.00",
        "punet": "9.31",
        "montant": "93.10",
        "mtht": "93.10",
        "tvacod": "1",
        "tvataux": "20.00",
        "origine_prix": "tarif:2",
        "origine_remise": "remise:1",
    }


@pytest.mark.parametrize(
    ("tiers", "ref", "params", "expected"),
    [
        pytest.param(
            "C0000001",
            "ALB0001",
            {"quantite": "9"},
            ("11.00", "5.00", "2.00", "0.00", "10.24", "92.16", "tarif:1", "remise:1"),
            id="below-the-quantity-break",
        ),
        pytest.param(
            "C0000001",
            "ALB0001",
            {"quantite": "50"},
            ("9.50", "5.00", "2.00", "0.00", "8.84", "442.00", "tarif:3", "remise:1"),
            id="customer-entry-with-higher-priority",
        ),
        pytest.param(
            "C0000002",
            "ALB0001",
            {"quantite": "3"},
            ("12.50", "0.00", "0.00", "0.00", "12.50", "37.50", "article", ""),
            id="no-family-falls-back-to-article-price",
        ),
        pytest.param(
            "C0000003",
            "ALB0001",
            {},
            ("12.50", "5.00", "2.00", "0.00", "11.64", "11.64", "article", "remise:1"),
            id="discount-family-without-price-family",
        ),
        pytest.param(
            "C0000001",
            "BLO0001",
            {"sref1": "XL", "sref2": "BLEU", "quantite": "2"},
            (
                "89.90",
                "10.00",
                "0.00",
                "0.00",
                "80.91",
                "161.82",
                "article",
                "remise:2",
            ),
            id="customer-article-discount-beats-family-discount",
        ),
        pytest.param(
            "C0000003",
            "BLO0001",
            {"sref1": "L", "sref2": "BLEU"},
            ("89.90", "3.00", "0.00", "0.00", "87.20", "87.20", "article", "remise:3"),
            id="family-discount-on-article-family",
        ),
        pytest.param(
            "C0000004",
            "CAF0001",
            {"quantite": "2"},
            ("31.90", "0.00", "0.00", "0.00", "31.90", "63.80", "tarif:4", ""),
            id="dated-family-entry-inside-its-period",
        ),
        pytest.param(
            "C0000001",
            "ALB0001",
            {"quantite": "-10"},
            ("10.00", "5.00", "2.00", "0.00", "9.31", "-93.10", "tarif:2", "remise:1"),
            id="returned-quantity-priced-like-the-sale",
        ),
    ],
)
def test_seeded_price_lists_and_discounts(
    wire: Wire,
    tiers: str,
    ref: str,
    params: dict[str, str],
    expected: tuple[str, ...],
) -> None:
    """The demo seed's price lists and discounts give the hand-computed prices."""
    assert price(wire, tiers, ref, **params) == expected


def test_quantity_with_a_comma_and_half_up_amount(wire: Wire) -> None:
    """1,5 × 12.31 = 18.465 is rounded half up to 18.47."""
    seed(
        wire,
        TARIF=[
            {
                "TARIF_ID": 101,
                "TIERS": "C0000002",
                "REF": "ALB0001",
                "PUB": "12.31",
                "PRIO": 1,
            }
        ],
    )

    answer = tarif(wire, "C0000002", "ALB0001", quantite="1,5")

    assert (answer["quantite"], answer["punet"], answer["montant"]) == (
        "1.500",
        "12.31",
        "18.47",
    )


def test_three_decimal_price_is_kept_gross_and_rounded_net(wire: Wire) -> None:
    """A 10.005 list price is shown as is; its net is 10.01 half up."""
    seed(
        wire,
        TARIF=[
            {
                "TARIF_ID": 101,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "PUB": "10.005",
                "PRIO": 50,
            }
        ],
    )

    assert price(wire, "C0000002", "CAF0001") == (
        "10.005",
        "0.00",
        "0.00",
        "0.00",
        "10.01",
        "10.01",
        "tarif:101",
        "",
    )


def test_three_cascaded_rates(wire: Wire) -> None:
    """34.90 × 0.90 × 0.95 × 0.975 = 29.0935125 → 29.09, × 3 = 87.27."""
    seed(
        wire,
        REMISE=[
            {
                "REMISE_ID": 101,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "REM1": "10",
                "REM2": "5",
                "REM3": "2.5",
                "PRIO": 1,
            }
        ],
    )

    assert price(wire, "C0000002", "CAF0001", quantite="3") == (
        "34.90",
        "10.00",
        "5.00",
        "2.50",
        "29.09",
        "87.27",
        "article",
        "remise:101",
    )


def test_not_yet_and_no_longer_valid_entries_are_skipped(wire: Wire) -> None:
    """Validity bounds are inclusive and follow the clock, back in time included."""
    seed(
        wire,
        TARIF=[
            {
                "TARIF_ID": 101,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "PUB": "20.00",
                "PRIO": 30,
                "DTFIN": day(-1),
            },
            {
                "TARIF_ID": 102,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "PUB": "21.00",
                "PRIO": 30,
                "DTDEB": day(1),
            },
            {
                "TARIF_ID": 103,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "PUB": "30.00",
                "PRIO": 5,
            },
            {
                "TARIF_ID": 104,
                "TIERS": "C0000002",
                "REF": "CAF0001",
                "PUB": "25.00",
                "PRIO": 20,
                "DTDEB": day(),
                "DTFIN": day(),
            },
        ],
    )

    today = tarif(wire, "C0000002", "CAF0001")
    # Backwards, so that the token already issued stays valid.
    wire.simulator.control.advance_clock(-3 * DAY)
    earlier = tarif(wire, "C0000002", "CAF0001")

    assert (today["pub"], today["origine_prix"]) == ("25.00", "tarif:104")
    assert (earlier["pub"], earlier["origine_prix"]) == ("20.00", "tarif:101")


def test_expired_seed_entry_gives_way_to_the_base_price(wire: Wire) -> None:
    """Once the clock passes DTFIN 20991231, CAF0001's GROS entry no longer applies."""
    wire.simulator.control.advance_clock(
        (datetime(2100, 1, 2, tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    )

    assert price(wire, "C0000004", "CAF0001") == (
        "34.90",
        "0.00",
        "0.00",
        "0.00",
        "34.90",
        "34.90",
        "article",
        "",
    )


def test_price_entry_ties_go_to_the_more_specific_then_the_lower_id(
    wire: Wire,
) -> None:
    """Same PRIO and QTEMIN: customer over family over everyone, then lower id."""
    seed(
        wire,
        TARIF=[
            {"TARIF_ID": 101, "REF": "CAF0001", "PUB": "33.00", "PRIO": 40},
            {
                "TARIF_ID": 102,
                "TARCOD": "GROS",
                "REF": "CAF0001",
                "PUB": "32.00",
                "PRIO": 40,
            },
            {
                "TARIF_ID": 103,
                "TIERS": "C0000004",
                "REF": "CAF0001",
                "PUB": "31.00",
                "PRIO": 40,
            },
            {"TARIF_ID": 104, "REF": "CAF0001", "PUB": "34.00", "PRIO": 40},
        ],
    )

    sources = {
        tiers: tarif(wire, tiers, "CAF0001")["origine_prix"]
        for tiers in ("C0000004", "C0000001", "C0000002")
    }

    assert sources == {
        "C0000004": "tarif:103",
        "C0000001": "tarif:102",
        "C0000002": "tarif:101",
    }


def test_larger_quantity_break_beats_specificity(wire: Wire) -> None:
    """At equal PRIO, an everyone entry from 5 beats the customer's entry from 0."""
    seed(
        wire,
        TARIF=[
            {
                "TARIF_ID": 101,
                "TIERS": "C0000004",
                "REF": "CAF0001",
                "PUB": "31.00",
                "PRIO": 40,
            },
            {
                "TARIF_ID": 102,
                "REF": "CAF0001",
                "QTEMIN": "5",
                "PUB": "30.50",
                "PRIO": 40,
            },
        ],
    )

    assert price(wire, "C0000004", "CAF0001", quantite="4")[-2] == "tarif:101"
    assert price(wire, "C0000004", "CAF0001", quantite="5") == (
        "30.50",
        "0.00",
        "0.00",
        "0.00",
        "30.50",
        "152.50",
        "tarif:102",
        "",
    )


def test_priority_beats_a_larger_quantity_break(wire: Wire) -> None:
    """A PRIO 15 entry from 0 wins over the GROS PRIO 10 entry from 10."""
    seed(
        wire,
        TARIF=[
            {
                "TARIF_ID": 101,
                "TIERS": "C0000001",
                "REF": "ALB0001",
                "PUB": "10.80",
                "PRIO": 15,
            }
        ],
    )

    assert price(wire, "C0000001", "ALB0001", quantite="10") == (
        "10.80",
        "5.00",
        "2.00",
        "0.00",
        "10.05",
        "100.50",
        "tarif:101",
        "remise:1",
    )


def test_discount_ties_prefer_customer_then_article(wire: Wire) -> None:
    """Same PRIO: article beats article family; customer beats discount family."""
    seed(
        wire,
        REMISE=[
            {
                "REMISE_ID": 101,
                "REMCOD": "FID",
                "FAM": "CUISINE",
                "REM1": "4",
                "PRIO": 7,
            },
            {
                "REMISE_ID": 102,
                "REMCOD": "FID",
                "REF": "CAF0001",
                "REM1": "6",
                "PRIO": 7,
            },
        ],
    )
    article_first = price(wire, "C0000003", "CAF0001")
    seed(
        wire,
        REMISE=[
            {
                "REMISE_ID": 103,
                "TIERS": "C0000003",
                "FAM": "CUISINE",
                "REM1": "8",
                "PRIO": 7,
            },
            {"REMISE_ID": 104, "REM1": "1", "PRIO": 7},
        ],
    )
    customer_first = price(wire, "C0000003", "CAF0001")
    everyone = price(wire, "C0000002", "CAF0001")

    assert article_first[4:] == ("32.81", "32.81", "article", "remise:102")
    assert customer_first[4:] == ("32.11", "32.11", "article", "remise:103")
    assert everyone[4:] == ("34.55", "34.55", "article", "remise:104")


def test_discount_priority_beats_specificity(wire: Wire) -> None:
    """A PRIO 8 discount for everyone wins over the customer's own PRIO 7 one."""
    seed(
        wire,
        REMISE=[
            {
                "REMISE_ID": 101,
                "TIERS": "C0000003",
                "REF": "CAF0001",
                "REM1": "8",
                "PRIO": 7,
            },
            {"REMISE_ID": 102, "REM1": "2", "PRIO": 8},
        ],
    )

    assert price(wire, "C0000003", "CAF0001") == (
        "34.90",
        "2.00",
        "0.00",
        "0.00",
        "34.20",
        "34.20",
        "article",
        "remise:102",
    )


def test_price_including_tax_rounds_each_figure_from_excluding_tax(
    wire: Wire,
) -> None:
    """`prix` 2: 9.31 → 11.17 net, 93.10 → 111.72 amount (not 10 × 11.17)."""
    answer = tarif(wire, "C0000001", "ALB0001", quantite="10", prix="2")

    figures = ("prix", "pub", "punet", "montant", "mtht", "tvacod", "tvataux")
    assert tuple(answer[tag] for tag in figures) == (
        "2",
        "12.00",
        "11.17",
        "111.72",
        "93.10",
        "1",
        "20.00",
    )


def test_price_including_reduced_vat(wire: Wire) -> None:
    """Chai (NW001, VAT code 2 at 5.5 %): 18.00 excl. tax is 18.99 incl. tax."""
    answer = tarif(wire, "C0000002", "NW001", quantite="2", prix="2")

    figures = ("pub", "punet", "montant", "mtht", "tvacod", "tvataux")
    assert tuple(answer[tag] for tag in figures) == (
        "18.99",
        "18.99",
        "37.98",
        "36.00",
        "2",
        "5.50",
    )


def test_default_quantity_is_one_and_depot_and_marche_are_accepted(
    wire: Wire,
) -> None:
    """No `quantite` prices one unit; a known `depot` and a `marche` change nothing."""
    answer = tarif(wire, "C0000001", "ALB0001", depot="2", marche="FR")

    assert (answer["quantite"], answer["depot"], answer["montant"]) == (
        "1.000",
        "2",
        "10.24",
    )


@pytest.fixture(scope="module")
def half_even_wire() -> Iterator[Wire]:
    """A second simulator rounding half to even on three decimals."""
    settings = SimulatorSettings(rounding="ROUND_HALF_EVEN", price_decimals=3)
    with SimulatorServer(settings) as server:
        control = SimulatorControl(server.url)
        client = Wire(RunningSimulator(server, control))
        try:
            yield client
        finally:
            client.close()
            control.close()


def test_rounding_and_decimals_are_settings(half_even_wire: Wire) -> None:
    """Half even on three decimals: 8.8445 → 8.844 (half up would give 8.845)."""
    answer = price(half_even_wire, "C0000001", "ALB0001", quantite="50")

    assert answer == (
        "9.500",
        "5.00",
        "2.00",
        "0.00",
        "8.844",
        "442.200",
        "tarif:3",
        "remise:1",
    )

"""``INTERROGER_TARIF`` and ``integration_piece`` agree to the cent, over HTTP.

For the same customer, article and quantity, the price simulation announces a
gross price, discounts, a net unit price and an amount; the order line created
afterwards must carry exactly those figures. The cases cover the seeded price
lists (``GROS`` with its quantity break at 10, C0000001's own price from 50), the
seeded discounts (``FID`` 5 % then 2 % on stationery, C0000001's 10 % on jackets),
base prices, a fractional quantity, and a price list with a quantity break and a
three-rate discount added for the test, whose rounding falls on awkward digits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire
from tests.simulator.test_pricing import tarif

ORDER = "2"
AGREED = ("pub", "rem1", "rem2", "rem3", "punet")
"""Tags of ``<tarif>`` that are also the names of an order line's fields."""

CASES = [
    # customer, article, sub-references, quantity: gross, rates, net, amount
    pytest.param(
        "C0000001", "ALB0001", "", "", "1", ("11.00", "5.00", "2.00", "0.00"),
        "10.24", "10.24", id="price-family-below-the-break",
    ),
    pytest.param(
        "C0000001", "ALB0001", "", "", "10", ("10.00", "5.00", "2.00", "0.00"),
        "9.31", "93.10", id="price-family-at-the-break",
    ),
    pytest.param(
        "C0000001", "ALB0001", "", "", "50", ("9.50", "5.00", "2.00", "0.00"),
        "8.84", "442.00", id="own-price-from-50-beats-the-family",
    ),
    pytest.param(
        "C0000001", "ALB0001", "", "", "7.5", ("11.00", "5.00", "2.00", "0.00"),
        "10.24", "76.80", id="fractional-quantity",
    ),
    pytest.param(
        "C0000001", "BLO0001", "XL", "BLEU", "3", ("89.90", "10.00", "0.00", "0.00"),
        "80.91", "242.73", id="own-discount-on-a-sub-referenced-article",
    ),
    pytest.param(
        "C0000001", "CAF0001", "", "", "2", ("31.90", "0.00", "0.00", "0.00"),
        "31.90", "63.80", id="dated-price-list-no-discount",
    ),
    pytest.param(
        "C0000003", "ALB0001", "", "", "3", ("12.50", "5.00", "2.00", "0.00"),
        "11.64", "34.92", id="discount-family-on-the-base-price",
    ),
    pytest.param(
        "C0000004", "ALB0001", "", "", "12", ("10.00", "0.00", "0.00", "0.00"),
        "10.00", "120.00", id="price-family-without-discount",
    ),
    pytest.param(
        "C0000002", "CAF0001", "", "", "4", ("34.90", "12.50", "3.30", "1.10"),
        "29.20", "116.80", id="three-rates-below-the-added-break",
    ),
    pytest.param(
        "C0000002", "CAF0001", "", "", "5.125", ("33.33", "12.50", "3.30", "1.10"),
        "27.89", "142.94", id="three-rates-at-the-added-break-fractional",
    ),
]  # fmt: skip


@pytest.fixture
def added_rules(divalto_simulator: RunningSimulator) -> None:
    """C0000002: 33.33 for CAF0001 from 5 units, and 12.5 %, 3.3 %, 1.1 % on it."""
    divalto_simulator.control.seed(
        {
            "dossier": "998",
            "TARIF": [
                {
                    "TARIF_ID": 101,
                    "TIERS": "C0000002",
                    "REF": "CAF0001",
                    "QTEMIN": "5",
                    "PUB": "33.33",
                    "PRIO": 1,
                }
            ],
            "REMISE": [
                {
                    "REMISE_ID": 101,
                    "TIERS": "C0000002",
                    "REF": "CAF0001",
                    "REM1": "12.5",
                    "REM2": "3.3",
                    "REM3": "1.1",
                    "PRIO": 1,
                }
            ],
        }
    )


def order_line(
    wire: Wire, tiers: str, ref: str, sref1: str, sref2: str, qte: str
) -> dict[str, Any]:
    """Create a one-line order and return its line as the response shows it."""
    line = {"Ref": ref, "Qte": qte, "Sref1": sref1, "Sref2": sref2}
    result = wire.json_action(
        "integration_piece",
        {"ient": {"PiCod": ORDER, "Tiers": tiers}, "imouvtb": [{"imouv": line}]},
    )
    assert result["result"]["common"] == {"resultcode": "0", "errormessage": ""}
    [created] = result["result"]["response"]["piece"]["lines"]
    found: dict[str, Any] = created
    return found


@pytest.mark.usefixtures("added_rules")
@pytest.mark.parametrize(
    ("tiers", "ref", "sref1", "sref2", "qte", "prices", "net", "amount"), CASES
)
def test_simulated_price_and_order_line_agree_to_the_cent(
    wire: Wire,
    tiers: str,
    ref: str,
    sref1: str,
    sref2: str,
    qte: str,
    prices: tuple[str, str, str, str],
    net: str,
    amount: str,
) -> None:
    """The line an order gets carries the gross, rates, net and amount announced."""
    subs = {"sref1": sref1, "sref2": sref2} if sref1 else {}
    announced = tarif(wire, tiers, ref, quantite=qte, **subs)

    created = order_line(wire, tiers, ref, sref1, sref2, qte)

    assert tuple(announced[tag] for tag in AGREED) == (*prices, net)
    assert (announced["montant"], announced["mtht"]) == (amount, amount)
    assert tuple(created[tag] for tag in AGREED) == (*prices, net)
    assert created["mtht"] == amount


@pytest.mark.usefixtures("added_rules")
def test_an_orders_total_is_the_sum_of_the_simulated_amounts(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Three lines priced by three rules: HT is the sum of the announced amounts."""
    asked = [("ALB0001", "12"), ("CAF0001", "6"), ("CAF0001", "4")]
    announced = [
        tarif(wire, "C0000002", ref, quantite=qte)["montant"] for ref, qte in asked
    ]
    data = {
        "ient": {"PiCod": ORDER, "Tiers": "C0000002"},
        "imouvtb": [{"imouv": {"Ref": ref, "Qte": qte}} for ref, qte in asked],
    }

    result = wire.json_action("integration_piece", data)

    piece = result["result"]["response"]["piece"]
    assert announced == ["150.00", "167.34", "116.80"]
    assert [line["mtht"] for line in piece["lines"]] == announced
    assert piece["htmt"] == str(sum(map(Decimal, announced)))
    assert (piece["htmt"], piece["tvamt"], piece["ttcmt"]) == (
        "434.14",
        "86.83",
        "520.97",
    )
    [row] = divalto_simulator.control.table("ENT", PREFPINO="CC00000001")
    assert row["HTMT"] == "434.14"

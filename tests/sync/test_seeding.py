"""Seeding the embedded ERP: the prices, articles and stock an input needs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from divalto.flows.intake import CanonicalOrder
from divalto.mapping import default_mapping
from divalto.sources.base import Catalogue, Item, Origin
from divalto.sync.seeding import PriceSteps, price_steps, seed_records

D = Decimal


def test_one_price_is_a_base_price_without_breaks() -> None:
    """An article always sold at one price needs no price list entry."""
    assert price_steps([(D(1), D("2.55")), (D(6), D("2.55"))]) == PriceSteps(D("2.55"))


def test_price_by_quantity_becomes_breaks_where_it_changes() -> None:
    """Each quantity keeps its most frequent price; a break starts at each change."""
    seen = [
        (D(1), D("4.25")),
        (D(2), D("4.25")),
        (D(12), D("3.75")),
        (D(24), D("3.75")),
        (D(24), D("3.75")),
        (D(100), D("3.25")),
        (D(100), D("3.40")),
        (D(100), D("3.25")),
    ]

    steps = price_steps(seen)

    assert steps == PriceSteps(
        base=D("3.75"),
        breaks=((D(0), D("4.25")), (D(12), D("3.75")), (D(100), D("3.25"))),
    )
    assert [steps.price(q) for q in (D(1), D(2), D(12), D(50), D(100))] == [
        D("4.25"), D("4.25"), D("3.75"), D("3.75"), D("3.25"),
    ]  # fmt: skip


def test_two_prices_for_one_quantity_keep_the_frequent_one() -> None:
    """What no break can express keeps the most frequent price (lower on a tie)."""
    assert price_steps([(D(1), D("5.00")), (D(1), D("4.00"))]) == PriceSteps(D("4.00"))
    assert price_steps([]) is None


def test_seed_records_of_two_orders() -> None:
    """Articles, sub-references, stock with margin, and the breaks of one article."""
    catalogue = Catalogue()
    catalogue.article("MUG01").label = "Mug"
    catalogue.article("MUG01").vat_rates[D("5.50")] += 2
    items = [
        _order("1", [("MUG01", "", "", "2", "8.50"), ("TEE", "L", "RED", "1", "15")]),
        _order("2", [("MUG01", "", "", "12", "7.00")]),
        _order("2", [("MUG01", "", "", "500", "1.00")]),  # a repeat: not counted
    ]

    records = seed_records(items, catalogue, default_mapping())

    assert records["ART"] == [
        {"REF": "MUG01", "DES": "Mug", "STFL": "2", "SREFFL": "1", "PUB": "7",
         "TVAART": "2"},
        {"REF": "TEE", "DES": "TEE", "STFL": "2", "SREFFL": "2", "PUB": "15"},
    ]  # fmt: skip
    assert records["SART"] == [{"REF": "TEE", "SREF1": "L", "SREF2": "RED"}]
    assert records["STOCK"] == [
        {"REF": "MUG01", "SREF1": "", "SREF2": "", "DEPO": "1", "QTESTK": "114"},
        {"REF": "TEE", "SREF1": "L", "SREF2": "RED", "DEPO": "1", "QTESTK": "101"},
    ]
    assert records["DEPO"] == [{"DEPO": "1", "LIB": "Dépôt 1"}]
    assert records["TARIF"] == [
        {"REF": "MUG01", "QTEMIN": "0", "PUB": "8.5"},
        {"REF": "MUG01", "QTEMIN": "12", "PUB": "7"},
    ]


def _order(external_id: str, lines: list[tuple[str, str, str, str, str]]) -> Item:
    order = CanonicalOrder(
        source="shop",
        external_id=external_id,
        customer={"id": "A", "name": "A"},
        order={
            "lines": [
                {"ref": r, "sref1": s1, "sref2": s2, "quantity": q, "unit_price": p}
                for r, s1, s2, q, p in lines
            ]
        },
    )
    return Item(Origin(Path("in.jsonl"), f"order {external_id}"), order, {})


def test_inventory_levels_start_the_erp_before_the_orders() -> None:
    """A stated level gets the ordered quantity back; other depots keep theirs."""
    catalogue = Catalogue()
    catalogue.stock[("MUG01", "1")] = D(3)
    catalogue.stock[("MUG01", "2")] = D(7)
    items = [_order("1", [("MUG01", "", "", "2", "8.50")])]

    records = seed_records(items, catalogue, default_mapping())

    assert records["STOCK"] == [
        {"REF": "MUG01", "SREF1": "", "SREF2": "", "DEPO": "1", "QTESTK": "5"},
        {"REF": "MUG01", "DEPO": "2", "QTESTK": "7"},
    ]
    assert [row["DEPO"] for row in records["DEPO"]] == ["1", "2"]


def _customer_order(external_id: str, customer: dict[str, str], price: str) -> Item:
    order = CanonicalOrder(
        source="shop",
        external_id=external_id,
        customer=customer,
        order={"lines": [{"ref": "MUG01", "quantity": "1", "unit_price": price}]},
    )
    return Item(Origin(Path("in.jsonl"), f"order {external_id}"), order, {})


def test_customers_and_their_own_prices_are_seeded() -> None:
    """Each valid customer as its first order states it, with its ERP code; a
    customer whose price differs from the article's gets its own price row."""
    alice = {"id": "A", "name": "Alice", "email": "alice@example.com"}
    items = [
        _customer_order("1", alice, "8.50"),
        _customer_order("2", {**alice, "email": "new@example.com"}, "8.50"),
        _customer_order("3", {"id": "B", "name": "Bob"}, "9.90"),
        _customer_order("4", {"id": "C", "name": "Carol"}, "8.50"),
        _customer_order("5", {"id": "D", "name": ""}, "7.00"),
    ]
    codes = {"shop:A": "C0000101", "shop:B": "C0000102", "shop:C": "C0000103"}

    records = seed_records(items, Catalogue(), default_mapping(), codes.__getitem__)

    assert records["CLI"] == [
        {"NOM": "Alice", "EMAIL": "alice@example.com", "REGCOD": "30J",
         "REFEXT": "shop:A", "TIERS": "C0000101"},
        {"NOM": "Bob", "REGCOD": "30J", "REFEXT": "shop:B", "TIERS": "C0000102"},
        {"NOM": "Carol", "REGCOD": "30J", "REFEXT": "shop:C", "TIERS": "C0000103"},
    ]  # fmt: skip
    assert [row["PUB"] for row in records["ART"]] == ["8.5"]
    assert records["TARIF"] == [
        {"REF": "MUG01", "TIERS": "C0000102", "PRIO": "1", "QTEMIN": "0",
         "PUB": "9.9"},
    ]  # fmt: skip


def test_without_customer_codes_no_customer_is_seeded() -> None:
    """Codes the ERP cannot tell beforehand leave the customers to the upsert."""
    items = [_customer_order("1", {"id": "B", "name": "Bob"}, "9.90")]

    records = seed_records(items, Catalogue(), default_mapping())

    assert "CLI" not in records
    assert records["TARIF"] == []

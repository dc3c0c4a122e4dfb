"""The Online Retail slice, and canonical JSON Lines, read from files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund
from divalto.sources import Item, ReadResult, read

SLICE = "online-retail/online_retail_2010-12-01_to_2010-12-09.csv"
HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
)


@pytest.fixture(scope="module")
def retail(shared_data: Path) -> ReadResult:
    return read(shared_data / SLICE)


def _item(result: ReadResult, external_id: str) -> Item:
    return next(i for i in result.items if i.canonical.external_id == external_id)


def test_whole_slice_counts(retail: ReadResult) -> None:
    """830 orders, 31 matched cancellations, 406 rejections, 56 guest orders."""
    orders = [i for i in retail.items if isinstance(i.canonical, CanonicalOrder)]
    refunds = [i for i in retail.items if isinstance(i.canonical, CanonicalRefund)]
    assert (len(orders), len(refunds), len(retail.rejections)) == (830, 31, 406)
    ids = [o.canonical.customer["id"] for o in orders]
    assert {i for i in ids if i.startswith("guest")} == {
        "guest-eire",
        "guest-united-kingdom",
    }
    assert sum(o.canonical.customer["id"].startswith("guest") for o in orders) == 56
    by_field: dict[str, int] = {}
    for rejection in retail.rejections:
        by_field[rejection.field] = by_field.get(rejection.field, 0) + 1
    assert by_field == {
        "UnitPrice": 114,
        "Quantity": 64,
        "StockCode": 123,
        "CustomerID": 11,
        "InvoiceNo": 94,
    }
    assert len(retail.catalogue.articles) == 2429


def test_invoice_536365_line_by_line(retail: ReadResult) -> None:
    """The first invoice: customer 17850, seven lines at their net prices in GBP."""
    item = _item(retail, "536365")
    order = item.canonical
    assert isinstance(order, CanonicalOrder)
    assert item.origin.position == "invoice 536365 (lines 2-8)"
    assert order.customer == {
        "source": "online-retail",
        "id": "17850",
        "name": "Customer 17850",
        "address": {"country": "United Kingdom"},
    }
    assert order.order["date"] == "2010-12-01"
    assert order.order["currency"] == "GBP"
    assert [
        (
            line["ref"],
            Decimal(line["quantity"]),
            Decimal(line["unit_price"]),
            line["label"],
        )
        for line in order.order["lines"]
    ] == [
        ("85123A", 6, Decimal("2.55"), "WHITE HANGING HEART T-LIGHT HOLDER"),
        ("71053", 6, Decimal("3.39"), "WHITE METAL LANTERN"),
        ("84406B", 8, Decimal("2.75"), "CREAM CUPID HEARTS COAT HANGER"),
        ("84029G", 6, Decimal("3.39"), "KNITTED UNION FLAG HOT WATER BOTTLE"),
        ("84029E", 6, Decimal("3.39"), "RED WOOLLY HOTTIE WHITE HEART."),
        ("22752", 2, Decimal("7.65"), "SET 7 BABUSHKA NESTING BOXES"),
        ("21730", 6, Decimal("4.25"), "GLASS STAR FROSTED T-LIGHT HOLDER"),
    ]
    assert all("vat_rate" not in line for line in order.order["lines"])
    seen = retail.catalogue.articles["85123A"]
    assert seen.label == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert seen.prices[Decimal("2.55")] == 36
    assert seen.quantity == Decimal(1824)


def test_cancellation_matched_to_its_invoice(retail: ReadResult) -> None:
    """C536506 credits the customer's earlier invoice 536488 holding 22960."""
    refund = _item(retail, "C536506").canonical
    assert isinstance(refund, CanonicalRefund)
    assert refund.order_id == "536488"
    assert refund.lines == [{"ref": "22960", "sref1": "", "sref2": "", "quantity": "6"}]
    assert refund.amount is None


def test_service_codes(retail: ReadResult) -> None:
    """POST is shipping, M charges, D an amount credited; charges need articles."""
    posted = _item(retail, "536403").canonical
    assert isinstance(posted, CanonicalOrder)
    assert posted.order["shipping"] == "15.00"
    assert [line["ref"] for line in posted.order["lines"]] == ["22867"]
    manual = _item(retail, "536569").canonical
    assert isinstance(manual, CanonicalOrder)
    assert manual.order["charges"] == "20.20"
    discount = _item(retail, "C537164").canonical
    assert isinstance(discount, CanonicalRefund)
    assert (discount.order_id, discount.amount, discount.lines) == (
        "537159",
        "29.29",
        None,
    )
    # 536779 holds one BANK CHARGES row: charges with no article to carry them.
    bank = next(r for r in retail.rejections if r.key == "order:online-retail:536779")
    assert (bank.field, bank.reason) == (
        "StockCode",
        "invoice 536779 has no article line left",
    )
    unmatched = next(
        r for r in retail.rejections if r.key == "refund:online-retail:C536379"
    )
    assert unmatched.reason == (
        "no invoice of customer 14527 in the input, on or before 2010-12-01 09:41"
    )


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    file = tmp_path / "retail.csv"
    file.write_text("\n".join([header, *rows]) + "\n")
    return file


def test_bad_rows_are_rejected_alone(tmp_path: Path) -> None:
    """A non-numeric quantity rejects its row, naming line and field."""
    file = _csv(
        tmp_path,
        "536365,85123A,HOLDER,six,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "536365,71053,LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",
        "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom",
    )
    result = read(file)
    (rejection,) = result.rejections
    assert rejection.origin.position == "line 2 (invoice 536365)"
    assert (rejection.field, rejection.reason) == ("Quantity", "not a number: 'six'")
    first, guest = (item.canonical for item in result.items)
    assert isinstance(first, CanonicalOrder)
    assert isinstance(guest, CanonicalOrder)
    assert first.order["lines"][0]["ref"] == "71053"
    assert first.order["date"] == "2010-12-01"
    assert guest.customer["id"] == "guest-united-kingdom"


def test_missing_column_rejects_the_file(tmp_path: Path) -> None:
    """A header without UnitPrice is one rejection naming the column."""
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,CustomerID,Country"
    file = _csv(
        tmp_path, "536365,85123A,HOLDER,6,2010-12-01 08:26:00,17850.0,UK", header=header
    )
    result = read(file, source="online-retail")
    assert result.items == []
    (rejection,) = result.rejections
    assert (rejection.field, rejection.reason) == (
        "UnitPrice",
        "Online Retail header lacks UnitPrice",
    )


def test_jsonl_lines(tmp_path: Path) -> None:
    """Good lines become items; a bad one names its line number and field."""
    order = {
        "kind": "order",
        "source": "shop",
        "external_id": "A1",
        "customer": {"source": "shop", "id": "C1", "name": "Ada"},
        "order": {"lines": [{"ref": "ART1", "quantity": "2", "unit_price": "3.50"}]},
    }
    refund = {"source": "shop", "external_id": "R1", "order_id": "A1", "amount": "3.50"}
    bad = {"kind": "refund", "source": "shop", "external_id": "R2"}
    file = tmp_path / "items.jsonl"
    file.write_text(
        "\n".join([json.dumps(order), json.dumps(refund), "", json.dumps(bad), "{oops"])
        + "\n"
    )
    result = read(file)
    assert [item.key for item in result.items] == [
        "order:shop:A1",
        "refund:shop:R1",
    ]
    assert [(r.origin.position, r.field) for r in result.rejections] == [
        ("line 4", "order_id"),
        ("line 5", "(line)"),
    ]
    assert result.rejections[0].reason == "is required"
    assert result.catalogue.articles["ART1"].quantity == Decimal(2)

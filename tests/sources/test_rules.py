"""The shared rules of the readers: discounts as prices, allocations, detection."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund
from divalto.mapping import default_mapping
from divalto.sources import detect, read
from divalto.sources._common import allocate, priced_line


def test_discount_becomes_a_percentage_exact_to_the_cent() -> None:
    """3.34 off 199.00 is 1.68 %: 199.00 less 1.68 % rounds to 195.66."""
    assert priced_line(
        default_mapping(), Decimal("199.00"), Decimal(1), Decimal("3.34")
    ) == {
        "unit_price": "195.66",
        "gross_price": "199.00",
        "discounts": ["1.68"],
    }


def test_discount_not_in_whole_cents_becomes_the_gross_price() -> None:
    """10.00 off three units is 3.333... each: the rounded net is the gross price."""
    assert priced_line(
        default_mapping(), Decimal("20.00"), Decimal(3), Decimal("10.00")
    ) == {
        "unit_price": "16.67",
        "gross_price": "16.67",
    }


def test_no_discount_states_the_net_price_only() -> None:
    assert priced_line(default_mapping(), Decimal("2.5"), Decimal(6)) == {
        "unit_price": "2.50"
    }


def test_allocation_adds_up_to_the_cent() -> None:
    """10.00 over three equal lines: 3.34, 3.33, 3.33."""
    weights = [Decimal("199.00")] * 3
    shares = allocate(Decimal("10.00"), weights, Decimal("0.01"))
    assert shares == [Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]
    assert allocate(Decimal("1.00"), [Decimal(0)], Decimal("0.01")) == [Decimal(0)]


def test_shopify_refund_finds_the_sku_of_an_order_read_before(
    tmp_path: Path, shared_data: Path
) -> None:
    """A refund line without its nested line item takes the SKU of the order's line."""
    order = shared_data / "shopify/legacy_python_api_fixtures/order.json"
    (tmp_path / "a_order.json").write_bytes(order.read_bytes())
    refund = json.loads(
        (shared_data / "shopify/legacy_python_api_fixtures/refund.json").read_text()
    )
    for line in refund["refund"]["refund_line_items"]:
        del line["line_item"]
    (tmp_path / "b_refund.json").write_text(json.dumps(refund))
    refund["refund"]["id"] = 1
    refund["refund"]["refund_line_items"][0]["line_item_id"] = 42
    (tmp_path / "c_unknown.json").write_text(json.dumps(refund))
    result = read(tmp_path)
    assert [item.key for item in result.items] == [
        "order:shopify:450789469",
        "refund:shopify:509562969",
    ]
    found = result.items[1].canonical
    assert isinstance(found, CanonicalRefund)
    assert found.lines == [
        {"ref": "IPOD2008BLACK", "sref1": "", "sref2": "", "quantity": "1"},
        {"ref": "IPOD2008GREEN", "sref1": "", "sref2": "", "quantity": "1"},
    ]
    (unknown,) = result.rejections
    assert unknown.field == "refund.refund_line_items[0].line_item_id"
    assert unknown.reason == (
        "line item 42 has no SKU here and is on no order read before"
    )


def test_legacy_woocommerce_order_is_not_taken_for_shopify(shared_data: Path) -> None:
    """WooCommerce's legacy ``{"order": …}`` is read as WooCommerce."""
    file = shared_data / "woocommerce/orders/docs_legacy-v3_order_view.json"
    assert detect(file) == "json"
    (item,) = read(file).items
    assert item.key == "order:woocommerce:645"
    assert [line["ref"] for line in item.canonical.order["lines"]] == ["WC546", "WC613"]


def test_a_line_without_sku_is_refused_when_the_profile_names_no_template(
    shared_data: Path,
) -> None:
    """Without ``articles.without_sku`` for the source, the line is refused."""
    file = shared_data / "woocommerce/orders/docs_legacy-v3_order_view.json"
    mapping = default_mapping()
    strict = mapping.model_copy(
        update={"articles": mapping.articles.model_copy(update={"without_sku": {}})}
    )
    (rejection,) = read(file, mapping=strict).rejections
    assert rejection.key == "order:woocommerce:645"
    assert rejection.field == "order.line_items[0].sku"
    assert (
        rejection.reason == "line 'Premium Quality' has no SKU: no ERP article to use"
    )


def test_forced_source_and_detection(shared_data: Path) -> None:
    """``source`` forces a reader; an unknown one is a ValueError."""
    file = shared_data / "online-retail/online_retail_2010-12-01_to_2010-12-09.csv"
    assert detect(file) == "online-retail"
    assert detect(shared_data / "SOURCES.md") is None
    wrong = read(file, source="shopify")
    assert wrong.items == []
    assert [r.field for r in wrong.rejections] == ["file"]
    assert wrong.rejections[0].reason.startswith("not valid JSON: ")
    with pytest.raises(ValueError, match="unknown source 'magento'"):
        read(file, source="magento")


def test_stock_from_product_files(shared_data: Path) -> None:
    """WooCommerce products with a managed stock fill the catalogue's stock."""
    result = read(shared_data / "woocommerce/products")
    assert result.items == []
    assert result.catalogue.stock == {("99%-nuts-marble", "1"): Decimal("16.5")}
    presta = read(shared_data / "prestashop")
    assert presta.catalogue.stock == {("demo_1", "1"): Decimal(0)}


def test_orders_pass_the_flow_check(shared_data: Path) -> None:
    """Every Online Retail order read is one the flow's first step accepts."""
    from divalto.validation import validate_customer, validate_order

    mapping = default_mapping()
    result = read(shared_data / "online-retail")
    for item in result.items:
        if isinstance(item.canonical, CanonicalOrder):
            payload = {**item.canonical.order, "customer": "C1", "your_reference": "R"}
            validate_order(payload, mapping)
            validate_customer(item.canonical.customer, mapping)


def test_unexpected_shapes_are_rejections(tmp_path: Path) -> None:
    """A list where an object belongs rejects the item, never raises."""
    order = {
        "id": 7,
        "currency": "EUR",
        "created_at": "2026-01-15T10:00:00+01:00",
        "line_items": [{"sku": "A1", "price": "5.00", "quantity": 1}],
        "shipping_lines": ["free"],
    }
    good = {**order, "id": 8, "shipping_lines": []}
    (tmp_path / "orders.json").write_text(json.dumps({"orders": [order, good]}))
    result = read(tmp_path)
    assert [item.key for item in result.items] == ["order:shopify:8"]
    (rejection,) = result.rejections
    assert rejection.field == "orders[0]"
    assert rejection.reason == (
        "unexpected content (AttributeError: 'str' object has no attribute 'get')"
    )
    assert rejection.key == "order:shopify:7"
    customer = result.items[0].canonical
    assert isinstance(customer, CanonicalOrder)
    assert customer.customer["id"] == "guest"


def test_short_csv_row_names_the_missing_column(tmp_path: Path) -> None:
    """A row cut short is rejected naming the first column it lacks."""
    file = tmp_path / "retail.csv"
    file.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
        "CustomerID,Country\n536365,85123A,HOLDER,6\n"
    )
    (rejection,) = read(file).rejections
    assert rejection.origin.position == "line 2 (invoice 536365)"
    assert (rejection.field, rejection.reason) == (
        "InvoiceDate",
        "the row has 4 fields, no InvoiceDate",
    )


def test_read_mes_and_licences_in_a_folder_are_skipped_not_rejected(
    tmp_path: Path,
) -> None:
    """Documentation beside the exports is skipped; an unknown data file is not."""
    (tmp_path / "README.md").write_text("# Exports\n", encoding="utf-8")
    (tmp_path / "LICENSE").write_text("MIT\n", encoding="utf-8")
    (tmp_path / "notes.dat").write_text("hello\n", encoding="utf-8")
    result = read(tmp_path)
    assert [(skip.file.name, skip.reason) for skip in result.skipped] == [
        ("LICENSE", "a document, not a shop export"),
        ("README.md", "a document, not a shop export"),
    ]
    assert [(r.origin.file.name, r.field, r.reason) for r in result.rejections] == [
        ("notes.dat", "file", "not a known shop export (format not recognised)")
    ]

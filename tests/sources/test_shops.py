"""Shopify, WooCommerce and PrestaShop exports read from the real public files."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund
from divalto.sources import ReadResult, read


def _counts(result: ReadResult, root: Path) -> dict[str, tuple[int, int, int]]:
    """(items, rejections, skips) of each file, by its path under ``root``."""
    counts: dict[Path, list[int]] = {file: [0, 0, 0] for file in result.files}
    for item in result.items:
        counts[item.origin.file][0] += 1
    for rejection in result.rejections:
        counts[rejection.origin.file][1] += 1
    for skip in result.skipped:
        counts[skip.file][2] += 1
    return {
        file.relative_to(root).as_posix(): (a, b, c)
        for file, (a, b, c) in counts.items()
    }


def test_shopify_files_give_orders_refunds_and_skips(shared_data: Path) -> None:
    """Each Shopify file gives the items, rejections and skips it should."""
    root = shared_data / "shopify"
    counts = _counts(read(root), root)
    assert counts == {
        "customers/customers_list.json": (0, 0, 1),
        "draft_orders/draft_order_622762746_completed.json": (0, 0, 1),
        "draft_orders/draft_orders_list.json": (0, 0, 1),
        "fulfillments/fulfillments_list_order_450789469.json": (0, 0, 1),
        "inventory/inventory_level_adjust.json": (0, 0, 1),
        "inventory/inventory_level_set.json": (0, 0, 1),
        "inventory/inventory_levels_by_location.json": (0, 0, 1),
        "legacy_python_api_fixtures/customer.json": (0, 0, 1),
        "legacy_python_api_fixtures/draft_order.json": (0, 0, 1),
        "legacy_python_api_fixtures/inventory_levels.json": (0, 0, 1),
        "legacy_python_api_fixtures/order.json": (1, 0, 0),
        "legacy_python_api_fixtures/orders.json": (0, 1, 0),
        "legacy_python_api_fixtures/product.json": (0, 0, 1),
        "legacy_python_api_fixtures/refund.json": (1, 0, 0),
        "legacy_python_api_fixtures/refund_calculate.json": (0, 0, 1),
        "legacy_python_api_fixtures/transactions.json": (0, 0, 1),
        "orders/order_1073459963_three_lines_tax_one_nontaxable.json": (0, 1, 0),
        "orders/order_1073459966_paid_no_customer.json": (1, 0, 0),
        "orders/order_1073459972_fulfilled_at_location.json": (1, 0, 0),
        "orders/order_1073459975_created_fulfilled.json": (1, 0, 0),
        "orders/order_1073459981_with_discount.json": (1, 0, 0),
        "orders/order_1073459983_pending_with_customer.json": (1, 0, 0),
        "orders/order_450789469_closed.json": (2, 0, 0),
        "orders/order_450789469_partially_refunded.json": (2, 0, 0),
        "orders/orders_list_status_any.json": (2, 0, 0),
        "products/product_632910392.json": (0, 0, 1),
        "products/products_list.json": (0, 0, 1),
        "refunds/refund_509562969_two_lines_legacy_restock.json": (1, 0, 0),
        "refunds/refund_calculate_shipping.json": (0, 0, 1),
        "refunds/refunds_list_order_450789469.json": (1, 0, 0),
        "transactions/transactions_list_order_450789469.json": (0, 0, 1),
    }


def test_shopify_order_is_mapped_field_by_field(shared_data: Path) -> None:
    """Order #1001: customer, discounted lines, VAT rate, currency and date."""
    file = shared_data / "shopify/orders/order_450789469_partially_refunded.json"
    result = read(file)
    order = result.items[0].canonical
    assert isinstance(order, CanonicalOrder)
    assert order.key == "order:shopify:450789469"
    assert order.customer == {
        "source": "shopify",
        "id": "207119551",
        "name": "Bob Norman",
        "address": {
            "street": "Chestnut Street 92",
            "postcode": "40202",
            "city": "Louisville",
            "country": "US",
        },
        "email": "bob.norman@mail.example.com",
        "phone": "+16136120707",
    }
    assert order.order["date"] == "2008-01-10"
    assert order.order["currency"] == "USD"
    assert "shipping" not in order.order  # "Free Shipping" at 0.00
    lines = order.order["lines"]
    assert [line["ref"] for line in lines] == [
        "IPOD2008GREEN",
        "IPOD2008RED",
        "IPOD2008BLACK",
    ]
    # The TENOFF code's 10.00 is allocated 3.34 + 3.33 + 3.33 by Shopify.
    assert [Decimal(line["unit_price"]) for line in lines] == [
        Decimal("195.66"),
        Decimal("195.67"),
        Decimal("195.67"),
    ]
    assert {Decimal(line["gross_price"]) for line in lines} == {Decimal("199.00")}
    assert [line["discounts"] for line in lines] == [["1.68"], ["1.673"], ["1.673"]]
    assert {line["vat_rate"] for line in lines} == {"6.00"}
    assert lines[0]["label"] == "IPod Nano - 8gb - green"
    assert result.catalogue.articles["IPOD2008RED"].prices == Counter(
        {Decimal("195.67"): 1}
    )
    assert result.catalogue.articles["IPOD2008RED"].gross_prices == Counter(
        {Decimal("199.00"): 1}
    )


def test_shopify_refund_names_skus_of_the_order(shared_data: Path) -> None:
    """A refund's line items become article lines, from the nested line item."""
    file = (
        shared_data / "shopify/refunds/refund_509562969_two_lines_legacy_restock.json"
    )
    refund = read(file).items[0].canonical
    assert isinstance(refund, CanonicalRefund)
    assert refund.key == "refund:shopify:509562969"
    assert refund.order_id == "450789469"
    assert refund.lines == [
        {"ref": "IPOD2008BLACK", "sref1": "", "sref2": "", "quantity": "1"},
        {"ref": "IPOD2008GREEN", "sref1": "", "sref2": "", "quantity": "1"},
    ]
    assert refund.amount is None
    assert refund.shipping is False
    assert refund.reason == "it broke during shipping"


def test_shopify_guest_discount_and_missing_sku(shared_data: Path) -> None:
    """No customer gives the guest; a discount code a percentage; a line with
    neither SKU nor product id a rejection."""
    orders = shared_data / "shopify/orders"
    guest = read(orders / "order_1073459966_paid_no_customer.json").items[0]
    assert isinstance(guest.canonical, CanonicalOrder)
    assert guest.canonical.customer["id"] == "guest"
    assert guest.canonical.customer["name"] == "Guest customers"
    discounted = read(orders / "order_1073459981_with_discount.json").items[0]
    assert isinstance(discounted.canonical, CanonicalOrder)
    assert discounted.canonical.order["lines"] == [
        {
            "ref": "IPOD2009BLACK",
            "quantity": "1",
            "unit_price": "181.09",
            "gross_price": "199.00",
            "discounts": ["9"],
            "label": "IPod Touch 8GB - Black",
        }
    ]
    result = read(orders / "order_1073459963_three_lines_tax_one_nontaxable.json")
    (rejection,) = result.rejections
    assert rejection.field == "order.line_items[0].sku"
    assert rejection.reason == (
        "line 'Red Leather Coat' has no SKU and no product id to name it by"
    )
    assert rejection.key == "order:shopify:1073459963"


def test_woocommerce_files(shared_data: Path) -> None:
    """Lines without SKU are named by product id; refunds find their order by link."""
    root = shared_data / "woocommerce"
    result = read(root)
    counts = _counts(result, root)
    assert counts["orders/order-with-charge.json"] == (1, 0, 0)
    assert counts["orders/orders-load-all.json"] == (4, 0, 0)
    assert counts["orders/order-auto-draft-status.json"] == (0, 1, 0)
    assert counts["refunds/order-560-all-refunds.json"] == (4, 0, 0)
    assert counts["customers/customer.json"] == (0, 0, 1)
    assert counts["settings/taxes.json"] == (0, 0, 1)
    assert len(result.items) == 29
    assert len(result.rejections) == 1
    assert len(result.skipped) == 14
    draft = next(
        each
        for each in result.rejections
        if each.origin.file.name == "order-auto-draft-status.json"
    )
    assert (draft.field, draft.reason) == (
        "data.status",
        "a 'auto-draft' order is not a placed order",
    )
    charged = read(root / "orders/order-with-charge.json").items[0].canonical
    assert isinstance(charged, CanonicalOrder)
    assert charged.key == "order:woocommerce:211"
    assert charged.customer["id"] == "2177025@example.net"  # a guest, by e-mail
    assert charged.customer["name"] == "Marcus Fisher"
    assert charged.order == {
        "date": "2022-01-28",
        "currency": "USD",
        "lines": [
            {
                "ref": "woo-beanie",
                "quantity": "1",
                "unit_price": "17.65",
                "vat_rate": "2.00",
                "label": "Beanie",
            }
        ],
        "shipping": "15.00",
    }
    refund = read(root / "refunds/refund-single.json").items[0].canonical
    assert isinstance(refund, CanonicalRefund)
    assert (refund.key, refund.order_id, refund.shipping) == (
        "refund:woocommerce:562",
        "560",
        True,
    )
    assert refund.lines == [
        {
            "ref": "HOODIE-SHIP-YOUR-IDEA-BLUE-XL",
            "sref1": "",
            "sref2": "",
            "quantity": "1",
        }
    ]


def test_prestashop_order_with_its_customer(shared_data: Path) -> None:
    """Order 5 takes its customer's name and address from the other files."""
    root = shared_data / "prestashop"
    result = read(root)
    assert len(result.items) == 1
    assert result.rejections == []
    assert len(result.skipped) == 31
    order = result.items[0].canonical
    assert isinstance(order, CanonicalOrder)
    assert order.key == "order:prestashop:5"
    assert order.customer == {
        "source": "prestashop",
        "id": "1",
        "name": "John DOE",
        "address": {
            "street": "16, Main street, 2nd floor",
            "postcode": "33133",
            "city": "Miami",
            "country": "",
        },
        "email": "pub@prestashop.com",
        "phone": "0102030405",
    }
    assert order.order["date"] == "2019-01-30"
    assert order.order["currency"] == "EUR"  # the profile's default: no code
    assert order.order["shipping"] == "2.00"
    assert [
        (line["ref"], line["quantity"], Decimal(line["unit_price"]), line["vat_rate"])
        for line in order.order["lines"]
    ] == [
        ("demo_1", "1", Decimal("16.51"), "0.00"),
        ("demo_2", "1", Decimal("27.00"), "0.00"),
        ("demo_3", "1", Decimal("26.00"), "0.00"),
    ]
    links = next(
        each
        for each in result.skipped
        if each.file.name == "GET_orders_filtered.response.xml"
    )
    assert links.reason.startswith("PrestaShop orders list of links only (ids 1, 2")


def test_unsupported_currency_is_rejected(tmp_path: Path, shared_data: Path) -> None:
    """A currency the profile does not accept is a rejection naming ``currency``."""
    text = shared_data / "shopify/orders/order_1073459983_pending_with_customer.json"
    file = tmp_path / "order.json"
    file.write_text(text.read_text().replace('"currency": "USD"', '"currency": "JPY"'))
    (rejection,) = read(file).rejections
    assert rejection.field == "order.currency"
    assert rejection.reason == (
        "currency 'JPY' is not accepted (accepted: EUR, CHF, GBP, USD)"
    )


def test_malformed_files_are_rejections(tmp_path: Path) -> None:
    """Truncated JSON, XML with a DTD, unknown files: rejected, never raised."""
    (tmp_path / "a_truncated.json").write_text('{"order": {"id": 1, "line_')
    (tmp_path / "b_entity.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x "y">]>'
        "<prestashop><order><id>&x;</id></order></prestashop>"
    )
    (tmp_path / "c_notes.dat").write_text("hello\n")
    result = read(tmp_path)
    assert result.items == []
    assert [(r.origin.file.name, r.field) for r in result.rejections] == [
        ("a_truncated.json", "file"),
        ("b_entity.xml", "file"),
        ("c_notes.dat", "file"),
    ]
    reasons = [r.reason for r in result.rejections]
    assert reasons[0].startswith("not valid JSON: ")
    assert reasons[1] == "XML file refused: it declares a DOCTYPE or an entity"
    assert reasons[2] == "not a known shop export (format not recognised)"

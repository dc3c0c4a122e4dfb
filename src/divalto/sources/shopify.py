"""Shopify Admin REST exports: orders and refunds, 2026 shape and older ones.

A file is one response body: ``{"order": …}``, ``{"orders": […]}``,
``{"refund": …}`` or ``{"refunds": […]}``. Other bodies (customers, products,
draft orders, inventory levels, transactions, fulfillments) hold no orders or
refunds and are skipped with the reason. Field paths in rejections are the
JSON's own, lists counted from 0 (``orders[0].line_items[2].sku``). The
decisions are listed in ``docs/sources.md``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from divalto.sources._common import (
    SHAPE_ERRORS,
    Bad,
    Run,
    allocate,
    amount_text,
    article_ref,
    as_bad,
    decimal,
    guest_id,
    guest_name,
    iso_date,
    joined,
    merge_lines,
    priced_line,
    quantity_text,
    street,
    vat_text,
)
from divalto.sources.base import Origin

__all__ = ["looks_like_shopify", "read_shopify"]

SOURCE = "shopify"

_NOT_ORDERS = {
    "customer": "customers",
    "customers": "customers",
    "product": "products",
    "products": "products",
    "inventory_level": "inventory levels",
    "inventory_levels": "inventory levels",
    "transaction": "transactions",
    "transactions": "transactions",
    "fulfillment": "fulfillments",
    "fulfillments": "fulfillments",
    "draft_order": "draft orders",
    "draft_orders": "draft orders",
}


def looks_like_shopify(data: Any) -> bool:
    """Whether a JSON body is a Shopify response (its one top-level key)."""
    if isinstance(data, list):
        return bool(data) and all(
            isinstance(each, dict) and {"gateway", "kind", "order_id"} <= set(each)
            for each in data
        )
    keys = {"order", "orders", "refund", "refunds", *_NOT_ORDERS}
    if not (isinstance(data, dict) and len(data) == 1 and next(iter(data)) in keys):
        return False
    body = next(iter(data.values()))
    first = body[0] if isinstance(body, list) and body else body
    # WooCommerce's legacy API wraps orders the same way; its orders count
    # their items and name their customer by id, which Shopify's never do.
    return not (
        isinstance(first, dict)
        and {"total_line_items_quantity", "customer_id"} & set(first)
    )


def read_shopify(run: Run, file: Path, data: Any) -> None:
    """Read one Shopify response body into ``run``."""
    if isinstance(data, list):
        run.skip(file, "Shopify transactions, no orders or refunds")
        return
    if not isinstance(data, dict) or len(data) != 1:
        raise Bad("file", "not a Shopify response body (one top-level key)")
    ((name, body),) = data.items()
    if name in _NOT_ORDERS:
        what = _NOT_ORDERS[name]
        note = " (a draft becomes an order when completed)" if "draft" in name else ""
        run.skip(file, f"Shopify {what}, no orders or refunds{note}")
        return
    if name in ("order", "refund"):
        entries = [(name, body)]
    elif isinstance(body, list):
        entries = [(f"{name}[{n}]", each) for n, each in enumerate(body)]
    else:
        raise Bad(name, "a list expected")
    if not entries:
        run.skip(file, f"Shopify {name}: empty list")
        return
    if name == "refund" and isinstance(body, dict) and body.get("id") is None:
        run.skip(file, "Shopify refund calculation (no refund id), not a refund")
        return
    for path, entry in entries:
        origin = Origin(file, path)
        if name.startswith("order"):
            _order(run, origin, path, entry)
        else:
            _refund(run, origin, path, entry)


def _order(run: Run, origin: Origin, path: str, raw: Any) -> None:
    key = None
    try:
        if not isinstance(raw, dict):
            raise Bad(path, "an object expected")
        key = f"order:{SOURCE}:{raw.get('id')}"
        order = _canonical_order(run, raw)
        customer = _customer(raw)
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, path)
        run.reject(origin, _within(path, bad.field), bad.reason, raw, key)
        return
    for n, line in enumerate(raw.get("line_items") or ()):
        if isinstance(line, dict) and line.get("id") is not None:
            ref = article_ref(run.mapping, SOURCE, line, f"line_items[{n}]")
            run.shopify_lines[str(line["id"])] = ref
    added = run.order(
        origin,
        raw,
        source=SOURCE,
        external_id=str(raw["id"]),
        customer=customer,
        order=order,
        currency_field=_within(path, "currency"),
    )
    if not added:
        return
    for n, refund in enumerate(raw.get("refunds") or ()):
        where = f"{path}.refunds[{n}]"
        _refund(run, Origin(origin.file, where), where, refund)


def _within(path: str, field: str) -> str:
    if field.startswith(f"{path}.") or field == path:
        return field
    return f"{path}.{field}"


def _canonical_order(run: Run, raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("id") is None:
        raise Bad("id", "the order has no id")
    if raw.get("cancelled_at"):
        why = raw.get("cancel_reason") or "no reason given"
        raise Bad("cancelled_at", f"order cancelled ({why}), not imported")
    items = raw.get("line_items")
    if not isinstance(items, list) or not items:
        raise Bad("line_items", "the order has no line items")
    included = bool(raw.get("taxes_included"))
    lines = _lines(run, raw, items, included)
    order: dict[str, Any] = {
        "date": iso_date(
            raw.get("created_at") or raw.get("processed_at"), "created_at"
        ),
        "currency": raw.get("currency") or None,
        "lines": lines,
    }
    shipping = _shipping(raw.get("shipping_lines") or ())
    if shipping:
        order["shipping"] = amount_text(shipping)
    return {key: value for key, value in order.items() if value is not None}


def _lines(
    run: Run, raw: dict[str, Any], items: list[Any], included: bool
) -> list[dict[str, Any]]:
    read = [_line(run, n, item) for n, item in enumerate(items)]
    discounts = [discount for *_, discount in read]
    allocated = any(
        isinstance(item, dict) and "discount_allocations" in item for item in items
    )
    total = decimal(raw.get("total_discounts") or "0", "total_discounts")
    if not allocated and total > 0:
        weights = [price * quantity for _, _, price, quantity, _, _ in read]
        discounts = allocate(total, weights, run.mapping.rounding.cent)
    lines = []
    for (item, sku, price, quantity, rate, _), discount in zip(
        read, discounts, strict=False
    ):
        if included and rate:
            price = price * 100 / (100 + rate)
            discount = discount * 100 / (100 + rate)
        line: dict[str, Any] = {
            "ref": sku,
            "quantity": quantity_text(quantity),
            **priced_line(run.mapping, price, quantity, discount),
        }
        if rate is not None:
            line["vat_rate"] = vat_text(rate)
        label = item.get("name") or item.get("title")
        if label:
            line["label"] = str(label).strip()
        lines.append(line)
    return lines


def _line(
    run: Run, n: int, item: Any
) -> tuple[dict[str, Any], str, Decimal, Decimal, Decimal | None, Decimal]:
    path = f"line_items[{n}]"
    if not isinstance(item, dict):
        raise Bad(path, "an object expected")
    sku = article_ref(run.mapping, SOURCE, item, path)
    quantity = decimal(item.get("quantity"), f"{path}.quantity")
    if quantity <= 0:
        raise Bad(f"{path}.quantity", f"must be above 0, got {quantity}")
    price = decimal(item.get("price"), f"{path}.price")
    discount = sum(
        (
            decimal(each.get("amount"), f"{path}.discount_allocations[{k}].amount")
            for k, each in enumerate(item.get("discount_allocations") or ())
        ),
        Decimal(0),
    )
    return item, sku, price, quantity, _rate(item), discount


def _rate(item: dict[str, Any]) -> Decimal | None:
    """The line's VAT rate in percent: its tax lines' rates added, 0 if untaxed."""
    if item.get("taxable") is False:
        return Decimal(0)
    taxes = item.get("tax_lines") or ()
    if not taxes:
        return None
    return sum((Decimal(str(tax.get("rate", 0))) * 100 for tax in taxes), Decimal(0))


def _shipping(lines: Any) -> Decimal:
    total = Decimal(0)
    for n, line in enumerate(lines):
        value = line.get("discounted_price", line.get("price"))
        total += decimal(value, f"shipping_lines[{n}].price")
    return total


def _customer(raw: dict[str, Any]) -> dict[str, Any]:
    """The order's customer: by Shopify customer id, else e-mail, else a guest."""
    customer = raw.get("customer") or {}
    address = raw.get("billing_address") or raw.get("shipping_address") or {}
    address = address or customer.get("default_address") or {}
    email = str(customer.get("email") or raw.get("email") or "").strip()
    country = address.get("country") or ""
    if customer.get("id") is not None:
        ident = str(customer["id"])
    elif email:
        ident = email.lower()
    else:
        ident = guest_id(country)
    name = (
        joined(customer.get("first_name"), customer.get("last_name"))
        or joined(address.get("first_name"), address.get("last_name"))
        or str(address.get("company") or "").strip()
        or email
        or guest_name(country)
    )
    payload: dict[str, Any] = {
        "source": SOURCE,
        "id": ident,
        "name": name,
        "address": {
            "street": street(address.get("address1"), address.get("address2")),
            "postcode": str(address.get("zip") or "").strip(),
            "city": str(address.get("city") or "").strip(),
            "country": str(address.get("country_code") or country).strip(),
        },
    }
    if email:
        payload["email"] = email
    phone = customer.get("phone") or address.get("phone") or raw.get("phone")
    if phone:
        payload["phone"] = str(phone).strip()
    return payload


def _refund(run: Run, origin: Origin, path: str, raw: Any) -> None:
    key = None
    try:
        if not isinstance(raw, dict):
            raise Bad(path, "an object expected")
        if raw.get("id") is None:
            raise Bad(_within(path, "id"), "the refund has no id")
        key = f"refund:{SOURCE}:{raw['id']}"
        if raw.get("order_id") is None:
            raise Bad(_within(path, "order_id"), "the refund names no order")
        read = [
            _refund_line(run, f"{path}.refund_line_items[{n}]", each)
            for n, each in enumerate(raw.get("refund_line_items") or ())
        ]
        lines = merge_lines(line for line in read if line)
        shipping = _refunds_shipping(raw)
        amount = None
        if not lines and not shipping:
            amount = _transactions_total(raw, path)
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, path)
        run.reject(origin, bad.field, bad.reason, raw, key)
        return
    run.refund(
        origin,
        raw,
        source=SOURCE,
        external_id=str(raw["id"]),
        order_id=str(raw["order_id"]),
        lines=lines or None,
        amount=amount,
        shipping=shipping,
        reason=str(raw.get("note") or "").strip(),
    )


def _refund_line(run: Run, path: str, raw: Any) -> dict[str, str] | None:
    quantity = decimal(raw.get("quantity"), f"{path}.quantity")
    if quantity == 0:
        return None
    if quantity < 0:
        raise Bad(f"{path}.quantity", f"must be above 0, got {quantity}")
    sku = run.shopify_lines.get(str(raw.get("line_item_id")), "")
    if not sku and isinstance(raw.get("line_item"), dict):
        sku = article_ref(run.mapping, SOURCE, raw["line_item"], f"{path}.line_item")
    if not sku:
        raise Bad(
            f"{path}.line_item_id",
            f"line item {raw.get('line_item_id')} has no SKU here and is on no "
            "order read before",
        )
    return {"ref": sku, "sref1": "", "sref2": "", "quantity": quantity_text(quantity)}


def _refunds_shipping(raw: dict[str, Any]) -> bool:
    if raw.get("refund_shipping_lines"):
        return True
    return any(
        adjustment.get("kind") == "shipping_refund"
        for adjustment in raw.get("order_adjustments") or ()
    )


def _transactions_total(raw: dict[str, Any], path: str) -> str:
    total = Decimal(0)
    for n, transaction in enumerate(raw.get("transactions") or ()):
        if transaction.get("kind") == "refund" and transaction.get("status") in (
            "success",
            None,
        ):
            total += decimal(
                transaction.get("amount"), f"{path}.transactions[{n}].amount"
            )
    if total <= 0:
        raise Bad(
            _within(path, "refund_line_items"),
            "no lines, no shipping and no refund transaction: nothing to credit",
        )
    return amount_text(total)

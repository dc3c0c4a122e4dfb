"""WooCommerce REST exports: orders and refunds, v3 and the legacy v3 shape.

A file holds one object or a list, bare or in a ``{"data": …}`` envelope (the
WordPress.com proxy's), or the legacy API's ``{"order": …}``/``{"orders": […]}``.
Each object is told apart by its fields: an order has ``line_items`` and a
``billing`` (or ``billing_address``) part, a refund has ``amount`` and
``refunded_by``/``refunded_payment``; a product with a SKU and a managed stock
quantity fills the catalogue's stock. The decisions are listed in
``docs/sources.md``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from divalto.sources._common import (
    SHAPE_ERRORS,
    Bad,
    Run,
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

__all__ = ["looks_like_woocommerce", "read_woocommerce"]

SOURCE = "woocommerce"

NOT_PLACED = frozenset(
    {"auto-draft", "checkout-draft", "draft", "trash", "cancelled", "failed"}
)
"""Order statuses that are not placed orders: rejected, naming ``status``."""

_ORDER_LINK = re.compile(r"/orders/(\d+)(?:/|$)")


def looks_like_woocommerce(data: Any) -> bool:
    """Whether a JSON body is a WooCommerce response: the proxy's ``{"data": …}``
    envelope, or objects that all have a WooCommerce kind's fields."""
    if isinstance(data, dict) and set(data) == {"data"}:
        return True
    return bool(_objects(data)) and all(
        _kind(each) is not None for _, each in _objects(data)
    )


def _objects(data: Any) -> list[tuple[str, Any]]:
    prefix = ""
    if isinstance(data, dict) and set(data) == {"data"}:
        data, prefix = data["data"], "data"
    elif (
        isinstance(data, dict)
        and len(data) == 1
        and next(iter(data))
        in (
            "order",
            "orders",
        )
    ):
        ((prefix, data),) = data.items()
    if isinstance(data, list):
        return [(f"{prefix}[{n}]", each) for n, each in enumerate(data)]
    return [(prefix, data)] if isinstance(data, dict) else []


def _kind(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "line_items" in obj and ("billing" in obj or "billing_address" in obj):
        return "order"
    if "amount" in obj and ("refunded_by" in obj or "refunded_payment" in obj):
        return "refund"
    if "username" in obj or ("role" in obj and "email" in obj):
        return "customer"
    if "sku" in obj and ("stock_status" in obj or "regular_price" in obj):
        return "product"
    if {"id", "title", "description"} <= set(obj) or {"slug", "name"} <= set(obj):
        return "setting"
    return None


def read_woocommerce(run: Run, file: Path, data: Any) -> None:
    """Read one WooCommerce response body into ``run``."""
    objects = _objects(data)
    if not objects:
        run.skip(file, "WooCommerce response with no objects")
        return
    kinds = {_kind(obj) for _, obj in objects}
    for path, obj in objects:
        kind = _kind(obj)
        if kind == "order":
            _order(run, Origin(file, path or "object"), path, obj)
        elif kind == "refund":
            _refund(run, Origin(file, path or "object"), path, obj)
        elif kind == "product":
            _stock(run, obj)
    if not kinds & {"order", "refund"}:
        named = ", ".join(sorted(f"{kind}s" for kind in kinds if kind))
        run.skip(file, f"WooCommerce {named or 'data'}, no orders or refunds")


def _order(run: Run, origin: Origin, path: str, raw: dict[str, Any]) -> None:
    key = f"order:{SOURCE}:{raw.get('id')}"
    try:
        if raw.get("id") is None:
            raise Bad("id", "the order has no id")
        status = str(raw.get("status") or "")
        if status in NOT_PLACED:
            raise Bad("status", f"a '{status}' order is not a placed order")
        order = _canonical_order(run, raw)
        customer = _customer(raw)
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, path)
        run.reject(origin, _within(path, bad.field), bad.reason, raw, key)
        return
    run.order(
        origin,
        raw,
        source=SOURCE,
        external_id=str(raw["id"]),
        customer=customer,
        order=order,
        currency_field=_within(path, "currency"),
    )


def _within(path: str, field: str) -> str:
    if not path or field == path or field.startswith(f"{path}."):
        return field
    return f"{path}.{field}"


def _canonical_order(run: Run, raw: dict[str, Any]) -> dict[str, Any]:
    items = raw.get("line_items")
    if not isinstance(items, list) or not items:
        raise Bad("line_items", "the order has no line items")
    rates = {
        tax.get("rate_id"): decimal(tax.get("rate_percent"), f"tax_lines[{n}]")
        for n, tax in enumerate(raw.get("tax_lines") or ())
        if tax.get("rate_percent") is not None
    }
    created = (
        raw.get("date_created") or raw.get("date_created_gmt") or raw.get("created_at")
    )
    order: dict[str, Any] = {
        "date": iso_date(created, "date_created"),
        "currency": raw.get("currency") or None,
        "lines": [_line(run, n, item, rates) for n, item in enumerate(items)],
    }
    shipping = _total(raw.get("shipping_lines"), "shipping_lines")
    if shipping:
        order["shipping"] = amount_text(shipping)
    charges = _total(raw.get("fee_lines"), "fee_lines")
    if charges < 0:
        raise Bad("fee_lines", f"negative fees ({charges}) cannot be sent as charges")
    if charges:
        order["charges"] = amount_text(charges)
    return {key: value for key, value in order.items() if value is not None}


def _line(run: Run, n: int, item: Any, rates: dict[Any, Decimal]) -> dict[str, Any]:
    path = f"line_items[{n}]"
    if not isinstance(item, dict):
        raise Bad(path, "an object expected")
    sku = article_ref(run.mapping, SOURCE, item, path)
    quantity = decimal(item.get("quantity"), f"{path}.quantity")
    if quantity <= 0:
        raise Bad(f"{path}.quantity", f"must be above 0, got {quantity}")
    total = decimal(item.get("total"), f"{path}.total")
    subtotal = decimal(item.get("subtotal", item.get("total")), f"{path}.subtotal")
    line: dict[str, Any] = {
        "ref": sku,
        "quantity": quantity_text(quantity),
        **priced_line(run.mapping, subtotal / quantity, quantity, subtotal - total),
    }
    taxes = [
        rates[tax.get("id")]
        for tax in item.get("taxes") or ()
        if tax.get("id") in rates
    ]
    if taxes:
        line["vat_rate"] = vat_text(sum(taxes, Decimal(0)))
    if item.get("name"):
        line["label"] = str(item["name"]).strip()
    return line


def _total(lines: Any, path: str) -> Decimal:
    return sum(
        (
            decimal(line.get("total"), f"{path}[{n}].total")
            for n, line in enumerate(lines or ())
        ),
        Decimal(0),
    )


def _customer(raw: dict[str, Any]) -> dict[str, Any]:
    """By WooCommerce customer id; ``customer_id`` 0 is a guest: e-mail, else
    the guest customer of the billing country."""
    billing = raw.get("billing") or raw.get("billing_address") or {}
    email = str(billing.get("email") or "").strip()
    country = str(billing.get("country") or "").strip()
    customer_id = raw.get("customer_id")
    if customer_id not in (None, 0, "0", ""):
        ident = str(customer_id)
    elif email:
        ident = email.lower()
    else:
        ident = guest_id(country)
    name = (
        joined(billing.get("first_name"), billing.get("last_name"))
        or str(billing.get("company") or "").strip()
        or email
        or guest_name(country)
    )
    payload: dict[str, Any] = {
        "source": SOURCE,
        "id": ident,
        "name": name,
        "address": {
            "street": street(billing.get("address_1"), billing.get("address_2")),
            "postcode": str(billing.get("postcode") or "").strip(),
            "city": str(billing.get("city") or "").strip(),
            "country": country,
        },
    }
    if email:
        payload["email"] = email
    if billing.get("phone"):
        payload["phone"] = str(billing["phone"]).strip()
    return payload


def _refund(run: Run, origin: Origin, path: str, raw: dict[str, Any]) -> None:
    key = f"refund:{SOURCE}:{raw.get('id')}"
    try:
        if raw.get("id") is None:
            raise Bad("id", "the refund has no id")
        order_id = _refunded_order(raw)
        lines = merge_lines(
            line
            for n, item in enumerate(raw.get("line_items") or ())
            if (line := _refund_line(run, n, item))
        )
        shipping = any(
            decimal(line.get("total"), f"shipping_lines[{n}].total") != 0
            for n, line in enumerate(raw.get("shipping_lines") or ())
        )
        amount = None
        if not lines and not shipping:
            amount = amount_text(abs(decimal(raw.get("amount"), "amount")))
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, path)
        run.reject(origin, _within(path, bad.field), bad.reason, raw, key)
        return
    run.refund(
        origin,
        raw,
        source=SOURCE,
        external_id=str(raw["id"]),
        order_id=order_id,
        lines=lines or None,
        amount=amount,
        shipping=shipping,
        reason=str(raw.get("reason") or "").strip(),
    )


def _refunded_order(raw: dict[str, Any]) -> str:
    """The order a refund belongs to: ``order_id``/``parent_id``, else its link."""
    for name in ("order_id", "parent_id"):
        if raw.get(name) not in (None, 0, ""):
            return str(raw[name])
    for link in (raw.get("_links") or {}).get("up") or ():
        found = _ORDER_LINK.search(str(link.get("href", "")))
        if found:
            return found.group(1)
    raise Bad("_links.up", "the refund names no order (no order link)")


def _refund_line(run: Run, n: int, item: Any) -> dict[str, str] | None:
    path = f"line_items[{n}]"
    quantity = abs(decimal(item.get("quantity", 0), f"{path}.quantity"))
    if quantity == 0:
        return None
    sku = article_ref(run.mapping, SOURCE, item, path)
    return {"ref": sku, "sref1": "", "sref2": "", "quantity": quantity_text(quantity)}


def _stock(run: Run, product: dict[str, Any]) -> None:
    """A product's managed stock quantity, in the profile's default depot."""
    sku = str(product.get("sku") or "").strip()
    quantity = product.get("stock_quantity")
    if not sku or not product.get("manage_stock") or quantity is None:
        return
    try:
        value = decimal(quantity, "stock_quantity")
    except Bad:
        return
    run.result.catalogue.stock[(sku, run.mapping.default_depot)] = value

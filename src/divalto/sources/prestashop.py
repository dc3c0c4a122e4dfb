"""PrestaShop webservice XML: orders, with their customers and addresses.

Files are parsed with :func:`divalto.xmlsafe.parse_xml`: a DOCTYPE or an
entity declaration is refused, nothing is fetched. ``<prestashop><order>`` is
an order; customers, addresses and products are indexed first (:func:`index`),
whichever file they are in, so that an order finds its customer's name and a
stock level its product's reference; those files are then skipped with the
reason. ``<orders>`` holding links only is skipped: it names orders without
their content. The decisions are listed in ``docs/sources.md``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from divalto.errors import ResponseInvalid
from divalto.sources._common import (
    SHAPE_ERRORS,
    Bad,
    Run,
    allocate,
    amount_text,
    as_bad,
    decimal,
    iso_date,
    joined,
    priced_line,
    quantity_text,
    snap_vat,
    street,
    vat_text,
)
from divalto.sources.base import Origin
from divalto.xmlsafe import parse_xml

__all__ = ["index", "looks_like_prestashop", "parse", "read_prestashop"]

SOURCE = "prestashop"

_INDEXED = {"customer": "customers", "address": "addresses", "product": "products"}


def looks_like_prestashop(text: str) -> bool:
    """Whether a text is a PrestaShop webservice document."""
    return "<prestashop" in text[:2000]


def parse(text: str) -> etree._Element:
    """The document's root, safely; :class:`Bad` (field ``file``) if refused."""
    try:
        root = parse_xml(text)
    except ResponseInvalid as exc:
        raise Bad("file", exc.message.replace("XML answer", "XML file")) from None
    if etree.QName(root).localname != "prestashop":
        raise Bad("file", f"not a PrestaShop document (root <{root.tag}>)")
    return root


def index(run: Run, root: etree._Element) -> None:
    """Remember the customers, addresses and products a document holds."""
    for tag, bucket in _INDEXED.items():
        for element in root.iter(tag):
            fields = _fields(element)
            if fields.get("id"):
                run.prestashop.setdefault(bucket, {})[fields["id"]] = fields


def read_prestashop(run: Run, file: Path, root: etree._Element) -> None:
    """Read one PrestaShop document into ``run``."""
    children = [child for child in root if isinstance(child.tag, str)]
    if not children:
        run.skip(file, "PrestaShop document with no content")
        return
    tag = children[0].tag
    if tag == "order":
        for n, element in enumerate(children):
            _order(run, Origin(file, f"order[{n}]" if n else "order"), element)
    elif tag == "orders":
        orders = [each for each in children[0] if each.tag == "order"]
        full = [each for each in orders if len(each)]
        if orders and not full:
            ids = ", ".join(str(each.get("id")) for each in orders)
            run.skip(
                file,
                f"PrestaShop orders list of links only (ids {ids}): export each "
                "order itself (GET /api/orders/<id>)",
            )
        elif not orders:
            run.skip(file, "PrestaShop orders list, empty")
        for n, element in enumerate(full):
            _order(run, Origin(file, f"orders/order[{n}]"), element)
    elif tag in ("stock_available", "stock_availables"):
        noted = _stock(run, root)
        run.skip(
            file,
            f"PrestaShop stock levels, no orders or refunds ({noted} stock "
            "quantities noted)",
        )
    else:
        what = tag.replace("_", " ")
        run.skip(file, f"PrestaShop {what}, no orders or refunds")


def _fields(element: etree._Element) -> dict[str, str]:
    return {
        child.tag: (child.text or "").strip()
        for child in element
        if isinstance(child.tag, str) and len(child) == 0
    }


def _order(run: Run, origin: Origin, element: etree._Element) -> None:
    fields = _fields(element)
    rows = [_fields(row) for row in element.iter("order_row")]
    raw: dict[str, Any] = {**fields, "order_rows": rows}
    key = f"order:{SOURCE}:{fields.get('id')}" if fields.get("id") else None
    try:
        if not fields.get("id"):
            raise Bad("id", "the order has no id")
        order = _canonical_order(run, fields, rows)
        customer = _customer(run, fields)
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, "order")
        run.reject(origin, bad.field, bad.reason, raw, key)
        return
    run.order(
        origin,
        raw,
        source=SOURCE,
        external_id=fields["id"],
        customer=customer,
        order=order,
        currency_field="id_currency",
    )


def _canonical_order(
    run: Run, fields: dict[str, str], rows: list[dict[str, str]]
) -> dict[str, Any]:
    if not rows:
        raise Bad("associations.order_rows", "the order has no rows")
    read = [_row(n, row) for n, row in enumerate(rows)]
    discount = decimal(
        fields.get("total_discounts_tax_excl") or "0", "total_discounts_tax_excl"
    )
    weights = [price * quantity for _, _, price, quantity, _ in read]
    shares = allocate(discount, weights, run.mapping.rounding.cent)
    lines = []
    for (row, ref, price, quantity, rate), share in zip(read, shares, strict=False):
        line: dict[str, Any] = {
            "ref": ref,
            "quantity": quantity_text(quantity),
            **priced_line(run.mapping, price, quantity, share),
        }
        if rate is not None:
            line["vat_rate"] = vat_text(snap_vat(rate, run.mapping))
        if row.get("product_name"):
            line["label"] = row["product_name"]
        lines.append(line)
    order: dict[str, Any] = {
        "date": iso_date(fields.get("date_add"), "date_add"),
        "currency": run.mapping.default_currency,
        "lines": lines,
    }
    for name, source in (
        ("shipping", "total_shipping_tax_excl"),
        ("charges", "total_wrapping_tax_excl"),
    ):
        value = decimal(fields.get(source) or "0", source)
        if value:
            order[name] = amount_text(value)
    return order


def _row(
    n: int, row: dict[str, str]
) -> tuple[dict[str, str], str, Decimal, Decimal, Decimal | None]:
    path = f"associations.order_rows[{n}]"
    ref = row.get("product_reference", "")
    if not ref:
        name = row.get("product_name") or "?"
        raise Bad(f"{path}.product_reference", f"row '{name}' has no reference")
    quantity = decimal(row.get("product_quantity"), f"{path}.product_quantity")
    if quantity <= 0:
        raise Bad(f"{path}.product_quantity", f"must be above 0, got {quantity}")
    price = decimal(row.get("unit_price_tax_excl"), f"{path}.unit_price_tax_excl")
    rate = None
    if row.get("unit_price_tax_incl") and price > 0:
        incl = decimal(row["unit_price_tax_incl"], f"{path}.unit_price_tax_incl")
        rate = (incl / price - 1) * 100
    return row, ref, price, quantity, rate


def _customer(run: Run, fields: dict[str, str]) -> dict[str, Any]:
    ident = fields.get("id_customer", "")
    if not ident or ident == "0":
        raise Bad("id_customer", "the order names no customer")
    known = run.prestashop.get("customers", {}).get(ident, {})
    address = run.prestashop.get("addresses", {}).get(
        fields.get("id_address_invoice", ""), {}
    )
    name = (
        joined(known.get("firstname"), known.get("lastname"))
        or str(known.get("company") or "").strip()
        or joined(address.get("firstname"), address.get("lastname"))
        or f"PrestaShop customer {ident}"
    )
    payload: dict[str, Any] = {
        "source": SOURCE,
        "id": ident,
        "name": name,
        "address": {
            "street": street(address.get("address1"), address.get("address2")),
            "postcode": address.get("postcode", ""),
            "city": address.get("city", ""),
            "country": "",
        },
    }
    if known.get("email"):
        payload["email"] = known["email"]
    phone = address.get("phone") or address.get("phone_mobile")
    if phone:
        payload["phone"] = phone
    if address.get("vat_number"):
        payload["vat_number"] = address["vat_number"]
    return payload


def _stock(run: Run, root: etree._Element) -> int:
    """Product-level stock quantities whose product (and reference) is known."""
    products = run.prestashop.get("products", {})
    noted = 0
    for element in root.iter("stock_available"):
        fields = _fields(element)
        product = products.get(fields.get("id_product", ""), {})
        if fields.get("id_product_attribute", "0") != "0":
            continue
        if not product.get("reference") or not fields.get("quantity"):
            continue
        try:
            quantity = decimal(fields["quantity"], "quantity")
        except Bad:
            continue
        depot = run.mapping.default_depot
        run.result.catalogue.stock[(product["reference"], depot)] = quantity
        noted += 1
    return noted

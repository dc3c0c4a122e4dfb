"""The UCI "Online Retail" CSV: invoice lines of a UK gift-ware retailer.

Header ``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,
CustomerID,Country``. Rows are read with the :mod:`csv` module, one at a time,
and grouped into one order per ``InvoiceNo``; an invoice whose number starts
with ``C`` is a cancellation and becomes a refund of the same customer's most
recent earlier invoice that holds its articles. Positions are the file's line
numbers (the header is line 1). Every rule is in ``docs/sources.md``; in short:

- prices are net, excluding tax, in GBP; there is no tax column (no VAT rate);
- ``POST``, ``DOT`` (postage) and ``C2`` (carriage) are the order's shipping;
  ``M`` (manual), ``S`` (samples), ``BANK CHARGES``, ``AMAZONFEE`` and ``CRUK``
  its charges; ``D`` (discount) appears on cancellations only and is credited
  as an amount; every other code (``DCGS0076`` included, a lamp) is an article;
- a row with a quantity or price at or below zero, outside a cancellation, is
  rejected on its own; an invoice left with no article line is rejected too;
- rows without a CustomerID belong to the guest customer of their country.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from divalto.sources._common import (
    Bad,
    Run,
    amount_text,
    decimal,
    guest_id,
    guest_name,
    merge_lines,
    quantity_text,
)
from divalto.sources.base import Origin

__all__ = [
    "CHARGE_CODES",
    "COLUMNS",
    "CURRENCY",
    "DISCOUNT_CODES",
    "SHIPPING_CODES",
    "looks_like_online_retail",
    "read_online_retail",
]

SOURCE = "online-retail"
CURRENCY = "GBP"
"""The retailer is in the United Kingdom and invoices in pounds sterling."""

COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
SHIPPING_CODES = frozenset({"POST", "DOT", "C2"})
"""Postage (``POST``, ``DOT`` "dotcom postage") and carriage: the shipping."""
CHARGE_CODES = frozenset({"M", "S", "BANK CHARGES", "AMAZONFEE", "CRUK"})
"""Manual lines, samples, bank and Amazon fees, charity commission: charges."""
DISCOUNT_CODES = frozenset({"D"})
"""A discount granted after the sale: on a cancellation, an amount credited."""

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M")


def looks_like_online_retail(first_line: str) -> bool:
    """Whether a CSV header is the Online Retail one."""
    return "InvoiceNo" in first_line and "StockCode" in first_line


@dataclass(frozen=True)
class _Row:
    line: int
    raw: dict[str, str]
    code: str
    quantity: Decimal
    price: Decimal
    when: dt.datetime
    customer: str
    country: str


@dataclass
class _Invoice:
    number: str
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Sold:
    """An order read, for matching cancellations: when, and its articles."""

    number: str
    when: dt.datetime
    refs: frozenset[str]


def read_online_retail(run: Run, file: Path) -> None:
    """Read an Online Retail CSV into ``run``, invoice after invoice."""
    sold: dict[str, list[_Sold]] = {}
    for invoice in _invoices(run, file):
        if invoice.number.upper().startswith("C"):
            _cancellation(run, file, invoice, sold)
        else:
            _sale(run, file, invoice, sold)


def _invoices(run: Run, file: Path) -> Iterator[_Invoice]:
    """The file's invoices: consecutive rows with one InvoiceNo (the export's
    order), a number seen again later making a new group under the same key."""
    with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            run.reject(
                Origin(file, "line 1"),
                ", ".join(missing),
                f"Online Retail header lacks {', '.join(missing)}",
                header,
            )
            return
        current: _Invoice | None = None
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            raw = dict(zip(header, values, strict=False))
            number = raw.get("InvoiceNo", "").strip()
            if current is None or number != current.number:
                if current is not None:
                    yield current
                current = _Invoice(number)
            current.rows.append((reader.line_num, raw))
        if current is not None:
            yield current


def _position(invoice: _Invoice) -> str:
    first, last = invoice.rows[0][0], invoice.rows[-1][0]
    lines = f"line {first}" if first == last else f"lines {first}-{last}"
    return f"invoice {invoice.number} ({lines})"


def _parse(run: Run, file: Path, invoice: _Invoice) -> list[_Row]:
    """The invoice's rows that read; each one that does not is rejected."""
    rows = []
    for line, raw in invoice.rows:
        try:
            rows.append(_row(line, raw))
        except Bad as bad:
            origin = Origin(file, f"line {line} (invoice {invoice.number or '?'})")
            run.reject(origin, bad.field, bad.reason, raw)
    return rows


def _row(line: int, raw: dict[str, str]) -> _Row:
    missing = [name for name in COLUMNS if name not in raw]
    if missing:
        raise Bad(missing[0], f"the row has {len(raw)} fields, no {missing[0]}")
    if not raw["InvoiceNo"].strip():
        raise Bad("InvoiceNo", "the row has no invoice number")
    code = raw["StockCode"].strip()
    if not code:
        raise Bad("StockCode", "the row has no stock code")
    return _Row(
        line=line,
        raw=raw,
        code=code,
        quantity=decimal(raw["Quantity"], "Quantity"),
        price=decimal(raw["UnitPrice"], "UnitPrice"),
        when=_when(raw["InvoiceDate"]),
        customer=_customer_id(raw["CustomerID"]),
        country=raw["Country"].strip(),
    )


def _when(text: str) -> dt.datetime:
    for form in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), form)
        except ValueError:
            continue
    raise Bad(
        "InvoiceDate", f"not a date (YYYY-MM-DD HH:MM:SS or M/D/YYYY H:MM): {text!r}"
    )


def _customer_id(text: str) -> str:
    """``17850.0`` (the export writes a float) → ``17850``; empty stays empty."""
    text = text.strip()
    if not text:
        return ""
    number = decimal(text, "CustomerID")
    if number != number.to_integral_value() or number <= 0:
        raise Bad("CustomerID", f"not a customer number: {text!r}")
    return str(int(number))


def _price_text(price: Decimal) -> str:
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return amount_text(price)
    return f"{price:f}"


def _customer(row: _Row) -> dict[str, Any]:
    if row.customer:
        ident, name = row.customer, f"Customer {row.customer}"
    else:
        ident, name = guest_id(row.country), guest_name(row.country)
    return {
        "source": SOURCE,
        "id": ident,
        "name": name,
        "address": {"country": row.country},
    }


def _sale(
    run: Run, file: Path, invoice: _Invoice, sold: dict[str, list[_Sold]]
) -> None:
    rows = _parse(run, file, invoice)
    lines: list[dict[str, Any]] = []
    shipping = charges = Decimal(0)
    for row in rows:
        origin = Origin(file, f"line {row.line} (invoice {invoice.number})")
        problem = _refused_sale_row(row)
        if problem:
            run.reject(origin, *problem, row.raw)
        elif row.code in SHIPPING_CODES:
            shipping += row.quantity * row.price
        elif row.code in CHARGE_CODES:
            charges += row.quantity * row.price
        else:
            lines.append(_line(row))
    origin = Origin(file, _position(invoice))
    raw = [each for _, each in invoice.rows]
    if not rows:
        return
    if not lines:
        reason = f"invoice {invoice.number} has no article line left"
        run.reject(origin, "StockCode", reason, raw, f"order:{SOURCE}:{invoice.number}")
        return
    first = rows[0]
    order: dict[str, Any] = {
        "date": first.when.date().isoformat(),
        "currency": CURRENCY,
        "lines": lines,
    }
    if shipping:
        order["shipping"] = amount_text(shipping)
    if charges:
        order["charges"] = amount_text(charges)
    customer = _customer(first)
    added = run.order(
        origin,
        raw,
        source=SOURCE,
        external_id=invoice.number,
        customer=customer,
        order=order,
    )
    if added:
        refs = frozenset(line["ref"] for line in lines)
        sold.setdefault(customer["id"], []).append(
            _Sold(invoice.number, first.when, refs)
        )


def _refused_sale_row(row: _Row) -> tuple[str, str] | None:
    if row.code in DISCOUNT_CODES:
        return "StockCode", "a discount row on a sale: no discount line to carry it"
    if row.quantity <= 0:
        return (
            "Quantity",
            f"quantity {row.quantity} on a sale, not a cancellation (a stock "
            "adjustment?)",
        )
    if row.quantity != row.quantity.to_integral_value():
        return "Quantity", f"a whole quantity expected, got {row.quantity}"
    if row.price <= 0:
        return "UnitPrice", f"price {row.price} on a sale: not a sold article"
    return None


def _line(row: _Row) -> dict[str, Any]:
    line: dict[str, Any] = {
        "ref": row.code,
        "quantity": quantity_text(row.quantity),
        "unit_price": _price_text(row.price),
    }
    label = row.raw["Description"].strip()
    if label:
        line["label"] = label
    return line


def _cancellation(
    run: Run, file: Path, invoice: _Invoice, sold: dict[str, list[_Sold]]
) -> None:
    rows = _parse(run, file, invoice)
    if not rows:
        return
    origin = Origin(file, _position(invoice))
    raw = [each for _, each in invoice.rows]
    key = f"refund:{SOURCE}:{invoice.number}"
    first = rows[0]
    if not first.customer:
        reason = "a cancellation without CustomerID cannot be matched to an invoice"
        run.reject(origin, "CustomerID", reason, raw, key)
        return
    lines, amounts, shipping = [], [], False
    for row in rows:
        row_origin = Origin(file, f"line {row.line} (invoice {invoice.number})")
        if row.quantity >= 0 or row.price < 0:
            reason = (
                f"quantity {row.quantity} at {row.price} on a cancellation: "
                "a cancelled row has a negative quantity and a price"
            )
            run.reject(row_origin, "Quantity", reason, row.raw)
        elif row.code in SHIPPING_CODES:
            shipping = True
            amounts.append(row)
        elif row.code in CHARGE_CODES or row.code in DISCOUNT_CODES:
            amounts.append(row)
        else:
            lines.append({"ref": row.code, "quantity": quantity_text(-row.quantity)})
    if lines:
        for row in amounts:
            if row.code in SHIPPING_CODES:
                continue
            row_origin = Origin(file, f"line {row.line} (invoice {invoice.number})")
            reason = (
                f"{row.code} is credited as an amount, which cannot go with the "
                "article lines of the same cancellation"
            )
            run.reject(row_origin, "StockCode", reason, row.raw)
    elif not amounts:
        return
    refs = {line["ref"] for line in lines}
    match = _match(sold.get(first.customer, ()), first.when, refs)
    if match is None:
        held = f" holds {', '.join(sorted(refs))}" if refs else ""
        reason = (
            f"no invoice of customer {first.customer} in the input, on or before "
            f"{first.when:%Y-%m-%d %H:%M},{held}"
        ).rstrip(",")
        run.reject(origin, "InvoiceNo", reason, raw, key)
        return
    amount = None
    if not lines:
        total = sum((-row.quantity * row.price for row in amounts), Decimal(0))
        amount, shipping = amount_text(total), False
    run.refund(
        origin,
        raw,
        source=SOURCE,
        external_id=invoice.number,
        order_id=match.number,
        lines=merge_lines({"sref1": "", "sref2": "", **line} for line in lines) or None,
        amount=amount,
        shipping=shipping,
        reason=f"cancellation {invoice.number} of invoice {match.number}",
    )


def _match(orders: Iterable[_Sold], when: dt.datetime, refs: set[str]) -> _Sold | None:
    """The customer's most recent invoice, on or before ``when``, holding ``refs``."""
    candidates = [each for each in orders if each.when <= when and refs <= each.refs]
    if not candidates:
        return None
    return max(candidates, key=lambda each: (each.when, each.number))

"""Prices and discounts of the simulated ERP: one rule for every caller.

Whoever prices a line (the ``INTERROGER_TARIF`` demand, ``integration_piece``)
calls :func:`price_line`, so that a price simulation and the document it announces
agree to the cent. The rule, with worked examples, is written in
``docs/simulator/pricing.md``; in short:

- the **gross** unit price is the best ``TARIF`` entry (price list) for the
  customer and the article, or the article's base price ``ART.PUB``;
- the **discount** is the best ``REMISE`` entry: up to three rates applied in
  cascade;
- the **net** unit price and the line **amount** are rounded to
  ``settings.price_decimals`` with ``settings.rounding``.

Divalto's words: ``TARCOD`` is a customer's price family, ``REMCOD`` its discount
family, ``FAM`` an article family, ``PRIO`` a priority (higher wins), ``QTEMIN`` a
quantity break, ``DTDEB``/``DTFIN`` a validity period (``YYYYMMDD``, empty = open).
Sub-references (``SREF1``/``SREF2``) never change a price; they are only checked,
by :func:`sub_reference_problem`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from divalto.simulator.settings import SimulatorSettings

Row = dict[str, Any]
_T = TypeVar("_T")

SREF_REQUIRED = "Sous-réf obligatoire"
"""Divalto's text when an article with sub-references is asked without ``sref1``."""
SREF_UNKNOWN = "Sous référence inexistante"
"""Divalto's text when the ``SREF1``/``SREF2`` pair is not one of the article's."""

_HUNDRED = Decimal(100)
_NO_DISCOUNT = (Decimal(0), Decimal(0), Decimal(0))


class PricingError(ValueError):
    """A stored price, quantity, rate or priority is not a number.

    The message names the table, the row identity and the column, so that the
    seed data at fault can be found.
    """


@dataclass(frozen=True)
class LinePrice:
    """The price of one line: gross unit price, cascaded discounts, net, amount.

    ``discounts`` are the three rates in percent (``REM1``..``REM3``). ``source``
    names where the gross price comes from: ``tarif:<TARIF_ID>`` or ``article``;
    ``discount_source`` names the discount: ``remise:<REMISE_ID>``, or is empty.
    """

    gross: Decimal
    discounts: tuple[Decimal, Decimal, Decimal]
    net: Decimal
    amount: Decimal
    source: str
    discount_source: str = ""


def price_line(
    rows: sqlite3.Connection,
    settings: SimulatorSettings,
    dossier: str,
    customer: Row,
    article: Row,
    quantity: Decimal,
    on: date,
) -> LinePrice:
    """Price ``quantity`` of ``article`` for ``customer`` on the date ``on``.

    ``rows`` is an open connection on the store (inside a transaction);
    ``customer`` and ``article`` are ``CLI`` and ``ART`` rows. Quantity breaks
    compare with the quantity's absolute value, so a returned quantity is priced
    like the same quantity sold; the amount keeps the quantity's sign.

    Raises :class:`PricingError` when a stored value is not a number.
    """
    gross, source = gross_price(rows, dossier, customer, article, abs(quantity), on)
    rates, discount_source = discount_rates(rows, dossier, customer, article)
    net = round_price(cascade(gross, rates), settings)
    amount = round_price(quantity * net, settings)
    return LinePrice(gross, rates, net, amount, source, discount_source)


def cascade(gross: Decimal, rates: Iterable[Decimal]) -> Decimal:
    """Apply discount rates (percent) one after the other, without rounding."""
    net = gross
    for rate in rates:
        net *= 1 - rate / _HUNDRED
    return net


def round_price(value: Decimal, settings: SimulatorSettings) -> Decimal:
    """Round a price or an amount to ``price_decimals`` with ``rounding``."""
    step = Decimal(1).scaleb(-settings.price_decimals)
    return value.quantize(step, rounding=settings.rounding)


def including_tax(
    value: Decimal, rate: Decimal, settings: SimulatorSettings
) -> Decimal:
    """``value`` plus VAT at ``rate`` percent, rounded like a price."""
    return round_price(value * (1 + rate / _HUNDRED), settings)


def gross_price(
    rows: sqlite3.Connection,
    dossier: str,
    customer: Row,
    article: Row,
    quantity: Decimal,
    on: date,
) -> tuple[Decimal, str]:
    """The gross unit price and its source (see :func:`price_entry`)."""
    entry = price_entry(rows, dossier, customer, article, quantity, on)
    if entry is None:
        return stored_decimal(article, "PUB", "ART"), "article"
    return stored_decimal(entry, "PUB", "TARIF"), f"tarif:{entry['TARIF_ID']}"


def price_entry(
    rows: sqlite3.Connection,
    dossier: str,
    customer: Row,
    article: Row,
    quantity: Decimal,
    on: date,
) -> Row | None:
    """The applicable ``TARIF`` row, or None when the base price applies.

    Candidates match the customer (each of ``TIERS`` and ``TARCOD`` that is set
    must equal the customer's), the article, the date, and have ``QTEMIN`` at most
    ``quantity``. The winner has the highest ``PRIO``, then the larger ``QTEMIN``,
    then the more specific customer criterion, then the lower ``TARIF_ID``.
    """
    day = on.strftime("%Y%m%d")
    entries = _rows(rows, "TARIF", dossier, article["REF"])
    candidates = [
        entry
        for entry in entries
        if _price_matches(entry, customer, day)
        and stored_decimal(entry, "QTEMIN", "TARIF") <= quantity
    ]
    return min(candidates, key=_price_rank, default=None)


def discount_rates(
    rows: sqlite3.Connection, dossier: str, customer: Row, article: Row
) -> tuple[tuple[Decimal, Decimal, Decimal], str]:
    """The three discount rates and their source (see :func:`discount_entry`)."""
    entry = discount_entry(rows, dossier, customer, article)
    if entry is None:
        return _NO_DISCOUNT, ""
    rates = tuple(stored_decimal(entry, f"REM{n}", "REMISE") for n in (1, 2, 3))
    return (rates[0], rates[1], rates[2]), f"remise:{entry['REMISE_ID']}"


def discount_entry(
    rows: sqlite3.Connection, dossier: str, customer: Row, article: Row
) -> Row | None:
    """The applicable ``REMISE`` row, or None when no discount applies.

    Candidates match the customer (``TIERS``, ``REMCOD``) and the article
    (``REF``, ``FAM``): each criterion that is set must be equal. The winner has
    the highest ``PRIO``, then the more specific customer criterion, then the more
    specific article criterion, then the lower ``REMISE_ID``.
    """
    entries = _rows(rows, "REMISE", dossier)
    candidates = [
        entry
        for entry in entries
        if _party_matches(entry, customer, "REMCOD")
        and _set_and_equal(entry["REF"], article["REF"])
        and _set_and_equal(entry["FAM"], article["FAM"])
    ]
    return min(candidates, key=_discount_rank, default=None)


def sub_reference_problem(
    rows: sqlite3.Connection, dossier: str, article: Row, sref1: str, sref2: str
) -> str | None:
    """Divalto's text if the sub-reference pair does not fit the article, else None.

    An article with sub-references (``SREFFL`` = ``2``) needs ``sref1``
    (:data:`SREF_REQUIRED`); any given pair must be a ``SART`` row of the article
    (:data:`SREF_UNKNOWN`), which an article without sub-references has none of.
    """
    if not sref1 and not sref2:
        return SREF_REQUIRED if article["SREFFL"] == "2" else None
    if not sref1:
        return SREF_REQUIRED if article["SREFFL"] == "2" else SREF_UNKNOWN
    found = rows.execute(
        "SELECT 1 FROM SART WHERE DOS = ? AND REF = ? AND SREF1 = ? AND SREF2 = ?",
        (dossier, article["REF"], sref1, sref2),
    ).fetchone()
    return None if found else SREF_UNKNOWN


def vat_rate(rows: sqlite3.Connection, dossier: str, code: str) -> Decimal | None:
    """The rate in percent of the VAT code ``code`` (``TVA.TVACOD``), or None."""
    found = rows.execute(
        "SELECT * FROM TVA WHERE DOS = ? AND TVACOD = ?", (dossier, code)
    ).fetchone()
    return None if found is None else stored_decimal(dict(found), "TAUX", "TVA")


def stored_decimal(row: Row, column: str, table: str) -> Decimal:
    """A decimal stored as text; raises :class:`PricingError` naming the cell."""
    return _stored(row, column, table, _to_decimal)


def _to_decimal(value: Any) -> Decimal:
    number = Decimal(str(value).strip() or "0")
    if not number.is_finite():
        raise ValueError(value)
    return number


def _stored(row: Row, column: str, table: str, convert: Callable[[Any], _T]) -> _T:
    try:
        return convert(row[column])
    except (InvalidOperation, ValueError, TypeError) as exc:
        identity = row.get(f"{table}_ID", "?")
        raise PricingError(
            f"{table} row {identity}: {column} is not a number: {row[column]!r}"
        ) from exc


def _rows(
    rows: sqlite3.Connection, table: str, dossier: str, ref: str | None = None
) -> list[Row]:
    sql = f"SELECT * FROM {table} WHERE DOS = ?"  # noqa: S608 - our own table names
    params: tuple[str, ...] = (dossier,)
    if ref is not None:
        sql, params = sql + " AND REF = ?", (dossier, ref)
    cursor = rows.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


def _price_matches(entry: Row, customer: Row, day: str) -> bool:
    start, end = entry["DTDEB"], entry["DTFIN"]
    valid = (not start or start <= day) and (not end or day <= end)
    return valid and _party_matches(entry, customer, "TARCOD")


def _party_matches(entry: Row, customer: Row, family: str) -> bool:
    return _set_and_equal(entry["TIERS"], customer["TIERS"]) and _set_and_equal(
        entry[family], customer[family]
    )


def _set_and_equal(criterion: str, value: str) -> bool:
    """An empty criterion matches everything; a set one only its own value."""
    return not criterion or criterion == value


def _specificity(entry: Row, own: str, family: str) -> int:
    return 2 if entry[own] else 1 if entry[family] else 0


def _price_rank(entry: Row) -> tuple[int, Decimal, int, int]:
    return (
        -_priority(entry, "TARIF"),
        -stored_decimal(entry, "QTEMIN", "TARIF"),
        -_specificity(entry, "TIERS", "TARCOD"),
        int(entry["TARIF_ID"]),
    )


def _discount_rank(entry: Row) -> tuple[int, int, int, int]:
    return (
        -_priority(entry, "REMISE"),
        -_specificity(entry, "TIERS", "REMCOD"),
        -_specificity(entry, "REF", "FAM"),
        int(entry["REMISE_ID"]),
    )


def _priority(entry: Row, table: str) -> int:
    return _stored(entry, "PRIO", table, int)

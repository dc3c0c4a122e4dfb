"""Seed records that make an empty ERP (the simulator) ready for an input.

The embedded ERP of ``divalto sync`` knows nothing of a shop's catalogue. Before
the flows run, it is given what the input refers to, in the seed shape that
:meth:`divalto.simulator.store.Store.load` takes:

- an ``ART`` row per article: its label, the VAT code of the rate seen most
  often (through the mapping's VAT codes), the base price ``PUB`` the shop
  charged most often (net, excluding tax), ``SREFFL`` on when it has
  sub-references;
- a ``SART`` row per sub-reference pair;
- a ``STOCK`` row per article (and pair) in the mapping's default depot, with
  the quantity ordered over the input plus :data:`STOCK_MARGIN`, or plus the
  level an inventory file states there; the levels it states in other depots
  (their ``DEPO`` rows too);
- ``TARIF`` quantity breaks where the shop's price depends on the quantity.

- given a way to tell a customer's ERP code (``customer_code``), a ``CLI`` row
  per customer, as the flow's upsert step would create it from the customer's
  first order (same fields, same external reference, so that the upsert finds
  it and has nothing to update), and customer-specific ``TARIF`` rows
  (``TIERS``, priority :data:`CUSTOMER_PRIORITY`) wherever a customer's own
  prices differ from the article's.

What cannot be told to the ERP is left to the flow, which parks the order with
its price-mismatch reason: the ERP checks a price at today's date, so a price
that changed from one day to the next for the same customer and quantity
agrees with the ERP only for its most frequent value.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from divalto.adapters.customers import wanted_fields
from divalto.flows.intake import CanonicalOrder
from divalto.mapping import MappingProfile
from divalto.simulator.customers import FIELDS as CUSTOMER_COLUMNS
from divalto.sources.base import Catalogue, Item
from divalto.validation import PayloadInvalid, ShopCustomer, validate_customer

__all__ = [
    "CUSTOMER_PRIORITY",
    "STOCK_MARGIN",
    "PriceSteps",
    "price_steps",
    "seed_records",
]

STOCK_MARGIN = Decimal(100)
"""Added to the quantity ordered, so that every delivery finds its stock."""

CUSTOMER_PRIORITY = 1
"""``PRIO`` of a customer's own price rows: above the article's quantity breaks,
which would otherwise win from their larger ``QTEMIN``."""

Article = tuple[str, str, str]
"""An article and its sub-references: ``(ref, sref1, sref2)``."""


@dataclass(frozen=True)
class PriceSteps:
    """An article's prices as the ERP can hold them: a base, then quantity breaks.

    ``breaks`` are ``(minimum quantity, price)`` pairs, ascending; the price of a
    quantity is that of the last break at or below it, else ``base``.
    """

    base: Decimal
    breaks: tuple[tuple[Decimal, Decimal], ...] = ()

    def price(self, quantity: Decimal) -> Decimal:
        """The price these steps give ``quantity``."""
        price = self.base
        for minimum, step in self.breaks:
            if minimum <= quantity:
                price = step
        return price


def price_steps(seen: Iterable[tuple[Decimal, Decimal]]) -> PriceSteps | None:
    """The steps that reproduce most of the ``(quantity, net price)`` pairs seen.

    The base is the most frequent price. Each quantity keeps its most frequent
    price (the lower one on a tie); a break starts wherever that price changes
    from the quantity before. None when nothing was seen.
    """
    by_quantity: dict[Decimal, Counter[Decimal]] = defaultdict(Counter)
    overall: Counter[Decimal] = Counter()
    for quantity, price in seen:
        by_quantity[quantity][price] += 1
        overall[price] += 1
    if not overall:
        return None
    base = _most_frequent(overall)
    breaks: list[tuple[Decimal, Decimal]] = []
    current = base
    for number, quantity in enumerate(sorted(by_quantity)):
        price = _most_frequent(by_quantity[quantity])
        if price != current:
            breaks.append((Decimal(0) if number == 0 else quantity, price))
            current = price
    return PriceSteps(base, tuple(breaks))


def _most_frequent(prices: Counter[Decimal]) -> Decimal:
    return min(prices, key=lambda price: (-prices[price], price))


def seed_records(
    items: Iterable[Item],
    catalogue: Catalogue,
    mapping: MappingProfile,
    customer_code: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The seed records (``ART``, ``SART``, ``DEPO``, ``STOCK``, ``TARIF``, ``CLI``).

    ``items`` give the ordered lines (quantities, prices, sub-references), the
    first item of each key only (a repeat starts no flow);
    ``catalogue`` the labels, VAT rates and inventory figures the reader saw.
    ``customer_code`` tells the ERP code of the customer with an external
    reference (the one it has, or the one it will be created with); without
    it, customers and their own prices are not seeded.
    """
    orders = [
        order
        for order in _first_of_each_key(items)
        if isinstance(order, CanonicalOrder)
    ]
    lines = [line for order in orders for line in _lines(order)]
    articles = _articles(lines, catalogue)
    prices = _observed_prices(lines, mapping)
    depot = mapping.default_depot
    records: dict[str, Any] = {}
    records["ART"] = [
        _article_row(ref, catalogue, prices.get(ref), articles, mapping)
        for ref in sorted({ref for ref, _, _ in articles})
    ]
    records["SART"] = [
        {"REF": ref, "SREF1": sref1, "SREF2": sref2}
        for ref, sref1, sref2 in sorted(articles)
        if sref1 or sref2
    ]
    records["STOCK"] = list(_stock_rows(articles, catalogue, depot))
    depots = sorted({depot} | {row["DEPO"] for row in records["STOCK"]})
    records["DEPO"] = [{"DEPO": code, "LIB": f"Dépôt {code}"} for code in depots]
    records["TARIF"] = [
        {"REF": ref, "QTEMIN": _text(minimum), "PUB": _text(price)}
        for ref in sorted(prices)
        for minimum, price in _steps(prices[ref]).breaks
    ]
    if customer_code is not None:
        customers = _customers(orders, mapping)
        codes = {reference: customer_code(reference) for reference in customers}
        records["CLI"] = [
            {**row, "TIERS": codes[reference]} for reference, row in customers.items()
        ]
        records["TARIF"] += _customer_prices(orders, customers, codes, prices, mapping)
    return records


def _customers(
    orders: list[CanonicalOrder], mapping: MappingProfile
) -> dict[str, dict[str, str]]:
    """The ``CLI`` row (without its code) of each valid customer, by external
    reference, with the fields of its first order: what the upsert creates."""
    rows: dict[str, dict[str, str]] = {}
    for order in orders:
        shop = _shop_customer(order, mapping)
        if shop is None:
            continue
        reference = _reference(shop, mapping)
        if reference in rows:
            continue
        fields = wanted_fields(shop, mapping, creating=True)
        wire = mapping.wire.client
        row = {
            CUSTOMER_COLUMNS[wire[name]]: value
            for name, value in fields.items()
            if value and wire[name] in CUSTOMER_COLUMNS
        }
        rows[reference] = {**row, "REFEXT": reference}
    return rows


def _shop_customer(
    order: CanonicalOrder, mapping: MappingProfile
) -> ShopCustomer | None:
    """The order's customer as the flow checks it; None when it does not pass
    (the flow parks such an order before the ERP is asked anything)."""
    try:
        return validate_customer({**order.customer, "source": order.source}, mapping)
    except PayloadInvalid:
        return None


def _reference(shop: ShopCustomer, mapping: MappingProfile) -> str:
    template = mapping.customer_codes.external_reference
    return template.format(source=shop.source, id=shop.id)


def _customer_prices(
    orders: list[CanonicalOrder],
    customers: dict[str, dict[str, str]],
    codes: dict[str, str],
    prices: dict[str, list[tuple[Decimal, Decimal]]],
    mapping: MappingProfile,
) -> list[dict[str, str]]:
    """``TARIF`` rows of a customer's own prices, where they differ from the
    article's at a quantity the customer ordered: its base from 0, then its
    breaks, all at :data:`CUSTOMER_PRIORITY`."""
    seen: dict[tuple[str, str], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for order in orders:
        shop = _shop_customer(order, mapping)
        if shop is None or _reference(shop, mapping) not in customers:
            continue
        reference = _reference(shop, mapping)
        for ref, pairs in _observed_prices(list(_lines(order)), mapping).items():
            seen[(ref, reference)] += pairs
    rows: list[dict[str, str]] = []
    for (ref, reference), pairs in sorted(seen.items()):
        own, general = _steps(pairs), _steps(prices[ref])
        if all(own.price(quantity) == general.price(quantity) for quantity, _ in pairs):
            continue
        steps = list(own.breaks)
        if not steps or steps[0][0] != 0:
            steps.insert(0, (Decimal(0), own.base))
        rows += [
            {
                "REF": ref,
                "TIERS": codes[reference],
                "PRIO": str(CUSTOMER_PRIORITY),
                "QTEMIN": _text(minimum),
                "PUB": _text(price),
            }
            for minimum, price in steps
        ]
    return rows


def _first_of_each_key(items: Iterable[Item]) -> Iterator[Any]:
    """The canonical items, a key's repeats left out: the flows run the first."""
    seen: set[str] = set()
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            yield item.canonical


def _lines(order: CanonicalOrder) -> Iterator[dict[str, Any]]:
    lines = order.order.get("lines")
    for line in lines if isinstance(lines, list) else ():
        if isinstance(line, dict) and isinstance(line.get("ref"), str):
            yield line


def _articles(
    lines: list[dict[str, Any]], catalogue: Catalogue
) -> dict[Article, Decimal]:
    """Each article (with sub-references) and the quantity ordered of it."""
    ordered: dict[Article, Decimal] = defaultdict(Decimal)
    for line in lines:
        quantity = _decimal(line.get("quantity")) or Decimal(0)
        ordered[_article(line)] += max(quantity, Decimal(0))
    for ref, seen in catalogue.articles.items():
        ordered.setdefault(
            (ref, "", ""), seen.quantity if not seen.sub_references else Decimal(0)
        )
        for sref1, sref2 in seen.sub_references:
            ordered.setdefault((ref, sref1, sref2), Decimal(0))
    return ordered


def _article(line: dict[str, Any]) -> Article:
    return (
        str(line["ref"]).strip(),
        str(line.get("sref1") or "").strip(),
        str(line.get("sref2") or "").strip(),
    )


def _observed_prices(
    lines: list[dict[str, Any]], mapping: MappingProfile
) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """The ``(quantity, net price)`` pairs stated for each article."""
    seen: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for line in lines:
        quantity, net = _decimal(line.get("quantity")), _net(line, mapping)
        if quantity is not None and quantity > 0 and net is not None:
            seen[_article(line)[0]].append((quantity, net))
    return seen


def _net(line: dict[str, Any], mapping: MappingProfile) -> Decimal | None:
    """The net price a line states: its unit price, or its gross less discounts."""
    unit = _decimal(line.get("unit_price"))
    if unit is not None:
        return unit
    gross = _decimal(line.get("gross_price"))
    if gross is None:
        return None
    rates = [_decimal(rate) for rate in line.get("discounts") or ()]
    return mapping.rounding.net(gross, [rate for rate in rates if rate is not None])


def _steps(seen: list[tuple[Decimal, Decimal]]) -> PriceSteps:
    steps = price_steps(seen)
    assert steps is not None, "an article's prices are only kept when some were seen"
    return steps


def _article_row(
    ref: str,
    catalogue: Catalogue,
    prices: list[tuple[Decimal, Decimal]] | None,
    articles: dict[Article, Decimal],
    mapping: MappingProfile,
) -> dict[str, Any]:
    seen = catalogue.articles.get(ref)
    label = (seen.label if seen is not None else "").strip() or ref
    row: dict[str, Any] = {"REF": ref, "DES": label, "STFL": "2"}
    row["SREFFL"] = (
        "2" if any(a[0] == ref and (a[1] or a[2]) for a in articles) else "1"
    )
    if prices:
        row["PUB"] = _text(_steps(prices).base)
    elif seen is not None and seen.prices:
        row["PUB"] = _text(_most_frequent(seen.prices))
    if seen is not None and seen.vat_rates:
        code = mapping.vat.code_for(_most_frequent(seen.vat_rates))
        if code is not None:
            row["TVAART"] = code
    return row


def _stock_rows(
    articles: dict[Article, Decimal], catalogue: Catalogue, depot: str
) -> Iterator[dict[str, Any]]:
    """Stock in the default depot for every article, and the stated levels.

    A level an inventory file states was read after the shop took its orders:
    in the default depot, the quantity the input orders is added back, so the
    ERP starts where the shop stood before them.
    """
    stated = catalogue.stock
    for (ref, sref1, sref2), ordered in sorted(articles.items()):
        has_pairs = any(a[0] == ref and (a[1] or a[2]) for a in articles)
        if has_pairs and not (sref1 or sref2):
            continue
        level = stated.get((ref, depot))
        quantity = ordered + (STOCK_MARGIN if level is None or has_pairs else level)
        yield {
            "REF": ref,
            "SREF1": sref1,
            "SREF2": sref2,
            "DEPO": depot,
            "QTESTK": _text(quantity),
        }
    for (ref, where), level in sorted(stated.items()):
        if where != depot or ref not in {a[0] for a in articles}:
            yield {"REF": ref, "DEPO": where, "QTESTK": _text(level)}


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Decimal) -> str:
    """A decimal as plain text, without exponent or trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text

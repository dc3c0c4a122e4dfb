"""What every reader shares: the run's state, money as text, lines, customers.

Canonical payloads carry numbers as text (``"195.66"``, quantities ``"1.5"``)
and dates as ISO text, the way the intake stores them as JSON and the flows
read them back; the tests read them as :class:`~decimal.Decimal`.

A reader converts one item at a time; a problem raises :class:`Bad` naming the
source's own field, which :meth:`Run.reject` turns into a
:class:`~divalto.sources.base.Rejection`, and the next item goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund
from divalto.mapping import MappingProfile
from divalto.sources.base import Item, Origin, ReadResult, Rejection, Skip

__all__ = [
    "SHAPE_ERRORS",
    "Bad",
    "Run",
    "allocate",
    "amount_text",
    "article_ref",
    "as_bad",
    "decimal",
    "guest_id",
    "priced_line",
    "quantity_text",
]


class Bad(Exception):
    """One item's problem: the source's field path and what is wrong with it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ArithmeticError)
"""What reading a payload of an unexpected shape raises (a list for an object...)."""


def as_bad(exc: Exception, where: str = "") -> Bad:
    """``exc`` as a :class:`Bad`: itself, or an unexpected shape at ``where``."""
    if isinstance(exc, Bad):
        return exc
    return Bad(where or "(item)", f"unexpected content ({type(exc).__name__}: {exc})")


@dataclass
class Run:
    """One call of :func:`~divalto.sources.read`: its profile, result, indexes.

    ``shopify_lines`` maps a Shopify line item id to its SKU, for the refunds
    that name lines of orders read earlier; ``prestashop`` holds the
    customers, addresses and products that PrestaShop orders and stock refer to.
    """

    mapping: MappingProfile
    result: ReadResult = field(default_factory=ReadResult)
    shopify_lines: dict[str, str] = field(default_factory=dict)
    prestashop: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def skip(self, file: Path, reason: str) -> None:
        self.result.skipped.append(Skip(file, reason))

    def reject(
        self,
        origin: Origin,
        field: str,
        reason: str,
        raw: Any,
        key: str | None = None,
    ) -> None:
        self.result.rejections.append(Rejection(origin, field, reason, raw, key))

    def order(
        self,
        origin: Origin,
        raw: Any,
        *,
        source: str,
        external_id: str,
        customer: dict[str, Any],
        order: dict[str, Any],
        currency_field: str = "currency",
    ) -> bool:
        """Add the order, or a rejection when its currency or shape is refused.

        The currency must be one the profile accepts (``currencies``); the rest
        of the order is checked by the flow's first step, as any order is.
        """
        key = f"order:{source}:{external_id}"
        currency = order.get("currency")
        if currency and currency not in self.mapping.currencies:
            accepted = ", ".join(self.mapping.currencies)
            reason = f"currency '{currency}' is not accepted (accepted: {accepted})"
            self.reject(origin, currency_field, reason, raw, key)
            return False
        try:
            canonical = CanonicalOrder(
                source=source, external_id=external_id, customer=customer, order=order
            )
        except ValidationError as exc:
            self.reject(origin, *_first_error(exc), raw, key)
            return False
        self.result.items.append(Item(origin, canonical, raw))
        self.note_articles(order)
        return True

    def refund(
        self,
        origin: Origin,
        raw: Any,
        *,
        source: str,
        external_id: str,
        order_id: str,
        lines: list[dict[str, str]] | None = None,
        amount: str | None = None,
        shipping: bool = False,
        reason: str = "",
    ) -> bool:
        """Add the refund, or a rejection when its ids do not fit a key."""
        try:
            canonical = CanonicalRefund(
                source=source,
                external_id=external_id,
                order_id=order_id,
                lines=lines,
                amount=amount,
                shipping=shipping,
                reason=reason,
            )
        except ValidationError as exc:
            key = f"refund:{source}:{external_id}"
            self.reject(origin, *_first_error(exc), raw, key)
            return False
        self.result.items.append(Item(origin, canonical, raw))
        return True

    def note_articles(self, order: Mapping[str, Any]) -> None:
        """Add the order's lines to the catalogue; a line that does not read
        (a hand-written canonical line) is left out of it, never raised."""
        try:
            day = dt.date.fromisoformat(str(order["date"])[:10])
        except (KeyError, ValueError):
            day = None
        lines = order.get("lines")
        for line in lines if isinstance(lines, list) else ():
            try:
                self._note_line(line, day)
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue

    def _note_line(self, line: Mapping[str, Any], day: dt.date | None) -> None:
        quantity = Decimal(str(line["quantity"]))
        seen = self.result.catalogue.article(str(line["ref"]))
        if not seen.label and line.get("label"):
            seen.label = str(line["label"])
        if line.get("unit_price") is not None:
            seen.prices[Decimal(str(line["unit_price"]))] += 1
        gross = line.get("gross_price", line.get("unit_price"))
        if gross is not None:
            seen.gross_prices[Decimal(str(gross))] += 1
        if line.get("vat_rate") is not None:
            seen.vat_rates[Decimal(str(line["vat_rate"]))] += 1
        if line.get("sref1") or line.get("sref2"):
            seen.sub_references.add((line.get("sref1", ""), line.get("sref2", "")))
        seen.quantity += quantity
        if day is not None and (seen.first_date is None or day < seen.first_date):
            seen.first_date = day


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    path = ".".join(str(part) for part in error["loc"]) or "(item)"
    return path, str(error["msg"])


def decimal(value: Any, field: str) -> Decimal:
    """``value`` (text, integer or a JSON number read as Decimal) as a Decimal."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise Bad(field, f"a number expected, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Bad(field, f"not a number: {value!r}") from None
    if not number.is_finite():
        raise Bad(field, f"not a number: {value!r}")
    return number


def amount_text(value: Decimal, places: int = 2) -> str:
    """An amount as text with ``places`` decimals (``"195.66"``)."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def quantity_text(value: Decimal) -> str:
    """A quantity as text without trailing zeros (``"2"``, ``"1.5"``)."""
    return f"{value.normalize():f}"


def allocate(
    total: Decimal, weights: Sequence[Decimal], cent: Decimal
) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, in cents that sum to it.

    Each share is rounded down to the cent, then the cents left over go to the
    largest remainders, first come first served: the shares always add up.
    """
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        return [Decimal(0) for _ in weights]
    exact = [total * weight / whole for weight in weights]
    shares = [
        (share / cent).to_integral_value(rounding="ROUND_FLOOR") * cent
        for share in exact
    ]
    left = int((total - sum(shares, Decimal(0))) / cent)
    order = sorted(range(len(exact)), key=lambda n: shares[n] - exact[n])
    for n in order[:left]:
        shares[n] += cent
    return shares


def priced_line(
    mapping: MappingProfile,
    gross: Decimal,
    quantity: Decimal,
    discount: Decimal = Decimal(0),
) -> dict[str, Any]:
    """The price fields of a line: unit price, and the shop's discount if any.

    ``gross`` is the unit price before the shop's discounts, ``discount`` the
    amount taken off the whole line. Without a discount the line states its net
    ``unit_price`` only (the ERP's own gross price and discounts apply once they
    agree). With one, it states ``gross_price``, one percentage in
    ``discounts`` that gives the discounted unit price to the cent after the
    ERP's rounding, and that ``unit_price``. When no percentage of up to six
    decimals gives it, or the discount per unit is not a whole number of cents,
    the discounted unit price (rounded) becomes the gross price itself.
    """
    rounding = mapping.rounding
    gross = rounding.amount(gross)
    if not discount:
        return {"unit_price": amount_text(gross, rounding.decimals)}
    exact = gross - discount / quantity
    net = rounding.amount(exact)
    if exact == net and gross > 0:
        for places in range(2, 7):
            rate = (100 * (gross - net) / gross).quantize(Decimal(1).scaleb(-places))
            if Decimal(0) <= rate <= 100 and rounding.net(gross, [rate]) == net:
                return {
                    "unit_price": amount_text(net, rounding.decimals),
                    "gross_price": amount_text(gross, rounding.decimals),
                    "discounts": [f"{rate.normalize():f}"],
                }
    text = amount_text(max(net, Decimal(0)), rounding.decimals)
    return {"unit_price": text, "gross_price": text}


def vat_text(rate: Decimal | None) -> str | None:
    """A VAT rate in percent as text with two decimals (``"20.00"``), or None."""
    return None if rate is None else amount_text(rate)


def snap_vat(rate: Decimal, mapping: MappingProfile) -> Decimal:
    """A rate computed from rounded prices, snapped to the profile's within 0.1."""
    for text in mapping.vat.codes:
        known = Decimal(text)
        if abs(known - rate) <= Decimal("0.1"):
            return known
    return rate.quantize(Decimal("0.01"))


def guest_id(country: str = "") -> str:
    """The id of the guest customer of a country: ``guest-united-kingdom``."""
    slug = re.sub(r"[^a-z0-9]+", "-", country.strip().lower()).strip("-")
    return f"guest-{slug}" if slug else "guest"


def guest_name(country: str = "") -> str:
    return (
        f"Guest customers ({country.strip()})" if country.strip() else "Guest customers"
    )


def joined(*parts: Any) -> str:
    """The non-empty parts as one line of text, separated by spaces."""
    return " ".join(str(part).strip() for part in parts if part and str(part).strip())


def street(*parts: Any) -> str:
    """Street lines joined with a comma."""
    return ", ".join(str(part).strip() for part in parts if part and str(part).strip())


def iso_date(text: Any, field: str) -> str:
    """The date of an ISO timestamp or date (``2008-01-10T11:00:00-05:00``).

    The date is the one written, in the shop's own time zone, not converted.
    """
    if not isinstance(text, str) or not text.strip():
        raise Bad(field, f"a date expected, got {text!r}")
    value = text.strip().replace(" ", "T", 1)
    try:
        return dt.datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise Bad(field, f"not a date: {text!r}") from None


def merge_lines(lines: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Refund lines with one line per article: quantities of repeats added up."""
    merged: dict[tuple[str, str, str], Decimal] = {}
    for line in lines:
        article = (line["ref"], line.get("sref1", ""), line.get("sref2", ""))
        merged[article] = merged.get(article, Decimal(0)) + Decimal(line["quantity"])
    return [
        {"ref": ref, "sref1": s1, "sref2": s2, "quantity": quantity_text(quantity)}
        for (ref, s1, s2), quantity in merged.items()
    ]


def article_ref(
    mapping: MappingProfile, source: str, item: Mapping[str, Any], path: str
) -> str:
    """The ERP article of a shop line: its SKU, else the profile's template.

    A line without a SKU is named by ``mapping.articles.without_sku[source]``
    over the line's ids (``{id}``: the variant's or variation's id when it has
    one, else the product's; ``{product_id}``); with no template for the source,
    or no id to fill it, the line is refused naming ``<path>.sku``.
    """
    sku = str(item.get("sku") or "").strip()
    if sku:
        return sku
    title = item.get("name") or item.get("title") or "?"
    template = mapping.articles.without_sku.get(source)
    if not template:
        raise Bad(f"{path}.sku", f"line '{title}' has no SKU: no ERP article to use")
    ids = {
        name: str(item.get(name)).strip()
        for name in ("variant_id", "variation_id", "product_id")
        if str(item.get(name) or "").strip() not in ("", "0", "None")
    }
    specific = ids.get("variant_id") or ids.get("variation_id") or ids.get("product_id")
    if specific is None:
        raise Bad(
            f"{path}.sku", f"line '{title}' has no SKU and no product id to name it by"
        )
    try:
        ref = template.format(id=specific, product_id=ids.get("product_id", specific))
    except (KeyError, IndexError, ValueError) as exc:
        raise Bad(
            f"{path}.sku",
            f"the profile's article template for {source} lines without SKU "
            f"({template!r}) does not fill: {exc}",
        ) from None
    return ref.upper()

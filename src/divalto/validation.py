"""Incoming payloads, checked before any call to the ERP.

A shop's order becomes an :class:`OrderRequest` only through :func:`validate_order`,
which reports **every** problem of the payload at once, each with its field path
(``lines[2].quantity``, items counted from 1 as the ERP counts them): structure
and types, quantities above zero within the ERP's decimals, prices and discounts
in range, a currency, VAT rate and payment term the mapping profile knows, and text
that the ERP's encoding can carry. Nothing is sent while a problem remains.

:class:`ShopCustomer` is a shop's customer, checked by :func:`validate_customer`
the same way; the mapping profile turns it into a Divalto customer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from divalto.errors import ContractError
from divalto.mapping import MappingProfile
from divalto.models import Address, Exact

__all__ = [
    "OrderLineRequest",
    "OrderRequest",
    "PayloadInvalid",
    "Problem",
    "ShopCustomer",
    "validate_customer",
    "validate_order",
]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class OrderLineRequest(_Input):
    """One ordered line.

    ``unit_price`` is the net unit price excluding tax the shop showed: it is
    checked against the ERP's price, never sent blindly. ``gross_price`` and
    ``discounts`` (up to three cascaded percentages) state the price the shop
    computed; both are sent to the ERP once they agree with it. ``vat_rate``
    (percent) is mapped to a VAT code by the profile.
    """

    ref: str = Field(min_length=1)
    sref1: str = ""
    sref2: str = ""
    quantity: Exact = Field(gt=0)
    unit_price: Exact | None = Field(default=None, ge=0)
    gross_price: Exact | None = Field(default=None, ge=0)
    discounts: tuple[Exact, ...] = Field(default=(), max_length=3)
    vat_rate: Exact | None = Field(default=None, ge=0)
    depot: str | None = None
    label: str | None = None

    @field_validator("discounts")
    @classmethod
    def _percentages(cls, rates: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        for rate in rates:
            if not Decimal(0) <= rate <= Decimal(100):
                raise ValueError(
                    f"a discount is a percentage from 0 to 100, got {rate}"
                )
        return rates


class OrderRequest(_Input):
    """An order to create; ``your_reference`` is the shop's order id, kept unique."""

    customer: str = Field(min_length=1)
    your_reference: str = Field(min_length=1)
    date: dt.date | None = None
    """ISO text (``2026-01-15``), the ERP's ``20260115``, or a date."""
    currency: str | None = None
    depot: str | None = None
    payment_term: str | None = None
    lines: list[OrderLineRequest] = Field(min_length=1)
    shipping: Exact | None = Field(default=None, ge=0)
    charges: Exact | None = Field(default=None, ge=0)

    @field_validator("date", mode="before")
    @classmethod
    def _erp_date(cls, value: Any) -> Any:
        # Eight digits would otherwise be read as seconds since 1970.
        if not (isinstance(value, str) and re.fullmatch(r"\d{8}", value.strip())):
            return value
        try:
            return dt.datetime.strptime(value.strip(), "%Y%m%d").date()
        except ValueError:
            raise ValueError(f"'{value}' is not a real YYYYMMDD date") from None


class ShopCustomer(_Input):
    """A customer as a shop knows it: its own ``source`` and ``id``."""

    source: str = Field(min_length=1)
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    address: Address = Address()
    email: str = ""
    phone: str = ""
    vat_number: str = ""
    payment_term: str = ""
    price_family: str = ""
    discount_family: str = ""
    currency: str = ""


@dataclass(frozen=True)
class Problem:
    """One problem of a payload: where (``lines[1].quantity``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadInvalid(ContractError):
    """A payload refused before any call; ``problems`` lists every one of them."""

    code = "contract.payload_invalid"

    def __init__(self, what: str, problems: list[Problem], **context: Any) -> None:
        joined = "; ".join(str(problem) for problem in problems)
        super().__init__(f"{what} refused: {joined}", **context)
        self.problems = problems


def validate_order(
    payload: Mapping[str, Any] | OrderRequest, mapping: MappingProfile
) -> OrderRequest:
    """The checked order; raises :class:`PayloadInvalid` listing every problem."""
    raw = _payload(payload, "order payload")
    problems = [*_structure(OrderRequest, raw), *_order_rules(raw, mapping)]
    problems.extend(_encoding(raw, mapping.encoding))
    if problems:
        raise PayloadInvalid("order payload", _unique(problems))
    return OrderRequest.model_validate(raw)


def validate_customer(
    payload: Mapping[str, Any] | ShopCustomer, mapping: MappingProfile
) -> ShopCustomer:
    """The checked shop customer; raises :class:`PayloadInvalid` listing problems."""
    raw = _payload(payload, "customer payload")
    problems = [*_structure(ShopCustomer, raw), *_customer_rules(raw, mapping)]
    problems.extend(_encoding(raw, mapping.encoding))
    if problems:
        raise PayloadInvalid("customer payload", _unique(problems))
    return ShopCustomer.model_validate(raw)


def _payload(payload: object, what: str) -> dict[str, Any]:
    if not isinstance(payload, Mapping | BaseModel):
        kind = type(payload).__name__
        raise PayloadInvalid(
            what, [Problem("(payload)", f"must be an object, not {kind}")]
        )
    return _raw(payload)


def _raw(payload: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(payload, BaseModel):
        return payload.model_dump(exclude_defaults=True)
    return dict(payload)


def _structure(model: type[BaseModel], raw: dict[str, Any]) -> list[Problem]:
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return [Problem(_path(error["loc"]), _message(error)) for error in exc.errors()]
    return []


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    return str(error["msg"]).removeprefix("Value error, ")


def _path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part + 1}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(payload)"


def _order_rules(raw: dict[str, Any], mapping: MappingProfile) -> Iterator[Problem]:
    yield from _known("currency", raw.get("currency"), mapping.currencies)
    yield from _known("payment_term", raw.get("payment_term"), mapping.payment_terms)
    lines = raw.get("lines")
    for number, line in enumerate(lines if isinstance(lines, list | tuple) else ()):
        if isinstance(line, Mapping | BaseModel):
            yield from _line_rules(f"lines[{number + 1}]", _raw(line), mapping)
    for name in ("shipping", "charges"):
        yield from _decimals(name, raw.get(name), mapping.rounding.decimals)


def _line_rules(
    path: str, line: dict[str, Any], mapping: MappingProfile
) -> Iterator[Problem]:
    rounding = mapping.rounding
    quantity = line.get("quantity")
    yield from _decimals(f"{path}.quantity", quantity, rounding.quantity_decimals)
    yield from _below(f"{path}.quantity", quantity, rounding.quantity_limit)
    yield from _decimals(
        f"{path}.unit_price", line.get("unit_price"), rounding.decimals
    )
    yield from _agreeing_prices(path, line, mapping)
    rate = _decimal(line.get("vat_rate"))
    if rate is not None and mapping.vat.code_for(rate) is None:
        known = ", ".join(mapping.vat.codes)
        yield Problem(
            f"{path}.vat_rate", f"no VAT code for rate {rate} (known: {known})"
        )


def _below(path: str, value: Any, limit: Decimal) -> Iterator[Problem]:
    number = _decimal(value)
    if number is not None and number >= limit:
        yield Problem(path, f"must be below {limit:f}, got {value}")


def _agreeing_prices(
    path: str, line: dict[str, Any], mapping: MappingProfile
) -> Iterator[Problem]:
    """A stated net price must be what the stated gross price and discounts give."""
    unit, gross = _decimal(line.get("unit_price")), _decimal(line.get("gross_price"))
    rates = [_decimal(rate) for rate in line.get("discounts") or ()]
    if unit is None or gross is None or None in rates:
        return
    net = mapping.rounding.net(gross, [rate for rate in rates if rate is not None])
    if net != unit:
        yield Problem(
            f"{path}.unit_price",
            f"{line['unit_price']} is not gross_price {line['gross_price']} "
            f"less its discounts ({net})",
        )


def _customer_rules(raw: dict[str, Any], mapping: MappingProfile) -> Iterator[Problem]:
    yield from _known("currency", raw.get("currency") or None, mapping.currencies)
    term = raw.get("payment_term") or None
    yield from _known("payment_term", term, mapping.payment_terms)
    email = raw.get("email")
    if isinstance(email, str) and email.strip() and not _looks_like_email(email):
        yield Problem("email", f"'{email}' is not an e-mail address")


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.strip().partition("@")
    return bool(local and at and "." in domain.strip(".") and " " not in text.strip())


def _known(path: str, value: Any, known: tuple[str, ...]) -> Iterator[Problem]:
    if isinstance(value, str) and value.strip() and value.strip() not in known:
        yield Problem(path, f"'{value}' is not one of {', '.join(known)}")


def _decimals(path: str, value: Any, places: int) -> Iterator[Problem]:
    number = _decimal(value)
    if number is None:
        return
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        yield Problem(path, f"at most {places} decimals, got {value}")


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, float | bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number.normalize() if number.is_finite() else None


def _encoding(value: Any, encoding: str, path: str = "") -> Iterator[Problem]:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _encoding(item, encoding, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for number, item in enumerate(value, start=1):
            yield from _encoding(item, encoding, f"{path}[{number}]")
    elif isinstance(value, str):
        bad = [char for char in dict.fromkeys(value) if not _fits(char, encoding)]
        if bad:
            named = ", ".join(f"'{char}' (U+{ord(char):04X})" for char in bad)
            yield Problem(path, f"{encoding} cannot carry {named}")


def _fits(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))

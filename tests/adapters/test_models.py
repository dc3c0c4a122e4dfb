"""The typed models: exact decimals, frozen values, derived amounts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from divalto.models import (
    DocumentKind,
    DocumentLine,
    DocumentState,
    Invoice,
    LineAvailability,
    Money,
)


def test_money_refuses_a_float() -> None:
    """A float amount is refused: money never passes through binary floats."""
    with pytest.raises(ValidationError, match="a float cannot hold money"):
        Money(amount=0.1, currency="EUR")  # type: ignore[arg-type]


def test_money_adds_and_subtracts_in_one_currency_only() -> None:
    """Amounts of one currency add exactly; two currencies do not mix."""
    total = Money.of("0.10", "EUR") + Money.of("0.20", "EUR")

    assert total == Money.of("0.30", "EUR")
    assert str(total - Money.of("0.05", "EUR")) == "0.25 EUR"
    with pytest.raises(ValueError, match="cannot mix EUR and CHF"):
        total + Money.of("1", "CHF")


def test_models_are_frozen() -> None:
    """A model cannot be changed in place."""
    money = Money.of("1.00", "EUR")

    with pytest.raises(ValidationError, match="frozen"):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_line_remaining_and_availability_missing() -> None:
    """A line's remainder is quantity less transferred; a short line says its gap."""
    line = DocumentLine(
        number=1,
        ref="ALB0001",
        quantity=Decimal(10),
        transferred=Decimal(4),
        gross_price=Decimal("10.00"),
        net_price=Decimal("9.31"),
        amount=Decimal("93.10"),
    )
    short = LineAvailability(
        line=1, ref="ALB0001", depot="1", requested=Decimal(5), available=Decimal(-2)
    )

    assert line.remaining == 6
    assert (short.missing, short.complete) == (5, False)


def test_invoice_creditable_is_total_less_credited() -> None:
    """What remains creditable is the invoice's total less its credit notes."""
    invoice = Invoice(
        kind=DocumentKind.INVOICE,
        number="FA00000001",
        state=DocumentState.ACTIVE,
        version=2,
        customer="C0000001",
        date=date(2026, 1, 15),
        currency="EUR",
        total_excluding_tax=Money.of("93.10", "EUR"),
        total_vat=Money.of("18.62", "EUR"),
        total_including_tax=Money.of("111.72", "EUR"),
        credited=Money.of("11.17", "EUR"),
    )

    assert invoice.creditable == Money.of("100.55", "EUR")
    assert invoice.ref.number == "FA00000001"

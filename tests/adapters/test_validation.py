"""Incoming payloads: every problem reported at once, with its field path."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from divalto.mapping import default_mapping
from divalto.validation import (
    OrderLineRequest,
    PayloadInvalid,
    validate_customer,
    validate_order,
)

MAPPING = default_mapping()


def problems_of(payload: dict[str, object]) -> list[str]:
    with pytest.raises(PayloadInvalid) as caught:
        validate_order(payload, MAPPING)
    return [str(problem) for problem in caught.value.problems]


def test_a_valid_order_becomes_typed_with_exact_decimals() -> None:
    """Text numbers become Decimal, dates become dates, blanks are trimmed."""
    order = validate_order(
        {
            "customer": " C0000001 ",
            "your_reference": "SHOP-1",
            "date": "2026-01-15",
            "lines": [{"ref": "ALB0001", "quantity": "2.5", "unit_price": "9.31"}],
            "shipping": 7,
        },
        MAPPING,
    )

    assert order.customer == "C0000001"
    assert order.date == date(2026, 1, 15)
    assert order.lines == [
        OrderLineRequest(
            ref="ALB0001", quantity=Decimal("2.5"), unit_price=Decimal("9.31")
        )
    ]
    assert order.shipping == Decimal(7)


def test_every_problem_of_an_order_is_reported_at_once() -> None:
    """Structure, ranges, decimals, mapping codes and encoding, all with paths."""
    problems = problems_of(
        {
            "customer": "C0000001",
            "currency": "JPY",
            "payment_term": "90J",
            "lines": [
                {"ref": "ALB0001", "quantity": 2.5},
                {"ref": "", "quantity": "0", "vat_rate": "7", "label": "Tasse ✓"},
                {"ref": "X", "quantity": "1.2345", "discounts": ["120"]},
                {"ref": "X", "quantity": "1", "unit_price": "9.315", "colour": "red"},
            ],
            "shipping": "-1",
        }
    )

    assert problems == [
        "your_reference: is required",
        "lines[1].quantity: a float cannot hold money or quantities exactly: give text",
        "lines[2].ref: String should have at least 1 character",
        "lines[2].quantity: Input should be greater than 0",
        "lines[3].discounts: a discount is a percentage from 0 to 100, got 120",
        "lines[4].colour: is not a known field",
        "shipping: Input should be greater than or equal to 0",
        "currency: 'JPY' is not one of EUR, CHF, GBP, USD",
        "payment_term: '90J' is not one of 30J, CPT, 45FM",
        "lines[2].vat_rate: no VAT code for rate 7 (known: 20.00, 5.50, 10.00, 0.00)",
        "lines[3].quantity: at most 3 decimals, got 1.2345",
        "lines[4].unit_price: at most 2 decimals, got 9.315",
        "lines[2].label: windows-1252 cannot carry '✓' (U+2713)",
    ]


def test_an_order_without_lines_or_with_non_numbers_is_refused() -> None:
    """No lines, a comma decimal and NaN are each named."""
    assert problems_of({"customer": "C1", "your_reference": "R", "lines": []}) == [
        "lines: List should have at least 1 item after validation, not 0"
    ]
    assert problems_of(
        {
            "customer": "C1",
            "your_reference": "R",
            "lines": [{"ref": "A", "quantity": "1,5", "unit_price": "NaN"}],
        }
    ) == [
        "lines[1].quantity: Input should be a valid decimal",
        "lines[1].unit_price: Input should be a finite number",
    ]


def test_windows_1252_text_passes_but_not_beyond() -> None:
    """€, œ and « fit Windows-1252; an emoji in the customer's name does not."""
    assert (
        validate_customer(
            {"source": "shop", "id": "1", "name": "Cœur « 10 € »"}, MAPPING
        ).name
        == "Cœur « 10 € »"
    )
    with pytest.raises(PayloadInvalid) as caught:
        validate_customer({"source": "shop", "id": "1", "name": "Café 🍰"}, MAPPING)

    assert caught.value.message == (
        "customer payload refused: name: windows-1252 cannot carry '🍰' (U+1F370)"
    )

"""The orders adapter against both tenants: checks, creation and life of an order."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from divalto.adapters import (
    MissingReference,
    PriceDifference,
    PriceMismatch,
    ReferencesMissing,
)
from divalto.errors import BusinessRuleRejected, DuplicateReference, InsufficientStock
from divalto.models import DocumentKind, DocumentRef, DocumentState, Money, Order
from divalto.validation import PayloadInvalid

from .conftest import Tenant

DAY = date(2026, 1, 15)


def order(**changes: Any) -> dict[str, Any]:
    """A shop order of C0000001: 10 albums at 9.31, one jacket at 80.91, shipping."""
    payload: dict[str, Any] = {
        "customer": "C0000001",
        "your_reference": "SHOP-1001",
        "date": DAY,
        "lines": [
            {"ref": "ALB0001", "quantity": "10", "unit_price": "9.31"},
            {
                "ref": "BLO0001",
                "sref1": "XL",
                "sref2": "BLEU",
                "quantity": "1",
                "unit_price": "80.91",
            },
        ],
        "shipping": "7.50",
    }
    payload.update(changes)
    return payload


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def created_documents(tenant: Tenant, kind: DocumentKind) -> list[dict[str, Any]]:
    return tenant.control.table("ENT", PICOD=tenant.picod(kind))


def test_create_prices_checks_and_creates_the_order(tenant: Tenant) -> None:
    """The order is created with the ERP's prices, shipping as a line, exact totals."""
    created = tenant.adapters.orders.create(order())

    assert isinstance(created, Order)
    assert (created.number, created.state, created.version) == (
        "CC00000001",
        DocumentState.ACTIVE,
        1,
    )
    assert (created.customer, created.your_reference, created.date) == (
        "C0000001",
        "SHOP-1001",
        DAY,
    )
    assert [(line.ref, line.net_price, line.amount) for line in created.lines] == [
        ("ALB0001", Decimal("9.31"), Decimal("93.10")),
        ("BLO0001", Decimal("80.91"), Decimal("80.91")),
        ("PORT", Decimal("7.50"), Decimal("7.50")),
    ]
    assert created.total_excluding_tax == eur("181.51")
    assert created.total_vat == eur("36.30")
    assert created.total_including_tax == eur("217.81")


def test_a_second_order_with_the_same_reference_is_refused_by_the_erp(
    tenant: Tenant,
) -> None:
    """The shop's order id is unique in the ERP: a re-run cannot make a twin."""
    tenant.adapters.orders.create(order())

    with pytest.raises(DuplicateReference) as caught:
        tenant.adapters.orders.create(order())

    assert caught.value.errormessage == (
        "ient.PiRef: your reference 'SHOP-1001' is already used by order CC00000001"
    )
    assert len(created_documents(tenant, DocumentKind.ORDER)) == 1


def test_a_price_changed_in_the_erp_is_reported_and_nothing_created(
    tenant: Tenant,
) -> None:
    """Shop prices that differ from INTERROGER_TARIF stop the order, line by line."""
    lines = [
        {"ref": "ALB0001", "quantity": "10", "unit_price": "10.00"},
        {"ref": "ALB0001", "quantity": "9", "unit_price": "10.24"},
        {"ref": "CAF0001", "quantity": "1", "gross_price": "34.90"},
    ]

    with pytest.raises(PriceMismatch) as caught:
        tenant.adapters.orders.create(order(lines=lines, shipping=None))

    assert caught.value.differences == [
        PriceDifference(
            "lines[1]",
            "ALB0001",
            Decimal("10.00"),
            Decimal("9.31"),
            Decimal("10.00"),
            (Decimal("5.00"), Decimal("2.00"), Decimal("0.00")),
        ),
        PriceDifference(
            "lines[3]",
            "CAF0001",
            Decimal("34.90"),
            Decimal("31.90"),
            Decimal("31.90"),
            (Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        ),
    ]
    assert str(caught.value.differences[0]) == (
        "lines[1]: article 'ALB0001' costs 10.00 in the shop but 9.31 in the ERP "
        "(10.00 less 5.00% + 2.00%)"
    )
    assert created_documents(tenant, DocumentKind.ORDER) == []


def test_combined_discounts_that_agree_with_the_erp_are_sent_as_stated(
    tenant: Tenant,
) -> None:
    """A gross price less 5 % then 2 % gives the ERP's 9.31; the line keeps them."""
    lines = [
        {
            "ref": "ALB0001",
            "quantity": "10",
            "gross_price": "10.00",
            "discounts": ["5", "2"],
        }
    ]

    created = tenant.adapters.orders.create(order(lines=lines, shipping=None))

    line = created.line(1)
    assert (line.gross_price, line.discounts, line.net_price, line.amount) == (
        Decimal("10.00"),
        (Decimal("5.00"), Decimal("2.00"), Decimal("0.00")),
        Decimal("9.31"),
        Decimal("93.10"),
    )
    assert created.total_including_tax == eur("111.72")


def test_combined_discounts_on_a_changed_gross_price_are_detected(
    tenant: Tenant,
) -> None:
    """11.00 less 5 % and 2 % is 10.24, not the ERP's 9.31 for 10 albums."""
    lines = [
        {
            "ref": "ALB0001",
            "quantity": "10",
            "gross_price": "11.00",
            "discounts": ["5", "2"],
        }
    ]

    with pytest.raises(PriceMismatch, match=r"costs 10.24 in the shop but 9.31"):
        tenant.adapters.orders.create(order(lines=lines, shipping=None))


def test_every_missing_reference_is_listed_in_one_error(tenant: Tenant) -> None:
    """Unknown customer, article, variant and depot: one error naming all four."""
    lines = [
        {"ref": "ALB0001", "quantity": "1"},
        {"ref": "XYZ", "quantity": "1"},
        {"ref": "BLO0001", "sref1": "XL", "sref2": "VERT", "quantity": "1"},
        {"ref": "ALB0001", "quantity": "1", "depot": "9"},
    ]

    with pytest.raises(ReferencesMissing) as caught:
        tenant.adapters.orders.create(
            order(customer="C0009999", depot="8", lines=lines, shipping=None)
        )

    assert caught.value.missing == [
        MissingReference("customer", "customer", "C0009999"),
        MissingReference("lines[2].ref", "article", "XYZ"),
        MissingReference("lines[3].sref1", "sub-reference", "XL/VERT"),
        MissingReference("depot", "depot", "8"),
        MissingReference("lines[4].depot", "depot", "9"),
    ]
    assert caught.value.message == (
        "references missing: customer: customer 'C0009999' not found; "
        "lines[2].ref: article 'XYZ' not found; "
        "lines[3].sref1: sub-reference 'XL/VERT' not found; "
        "depot: depot '8' not found; lines[4].depot: depot '9' not found"
    )
    assert created_documents(tenant, DocumentKind.ORDER) == []


def test_a_customer_payment_term_that_does_not_exist_is_a_missing_reference(
    tenant: Tenant,
) -> None:
    """A customer whose payment term is no REG row cannot be ordered for."""
    tenant.control.seed(
        {
            "dossier": "998",
            "CLI": [{"TIERS": "C0000050", "NOM": "Sans terme", "REGCOD": "99J"}],
        }
    )

    with pytest.raises(ReferencesMissing) as caught:
        tenant.adapters.orders.create(order(customer="C0000050", shipping=None))

    assert caught.value.missing == [
        MissingReference("payment_term", "payment term", "99J")
    ]


def test_a_bad_payload_is_refused_whole_before_any_call(tenant: Tenant) -> None:
    """Every problem of the order is reported with its path; nothing is sent."""
    lines = [
        {"ref": "ALB0001", "quantity": "-1"},
        {"ref": "ALB0001", "quantity": "1", "label": "Tasse ✓", "vat_rate": "7"},
    ]

    with pytest.raises(PayloadInvalid) as caught:
        tenant.adapters.orders.create(order(lines=lines, currency="JPY"))

    assert [str(problem) for problem in caught.value.problems] == [
        "lines[1].quantity: Input should be greater than 0",
        "currency: 'JPY' is not one of " + ", ".join(tenant.mapping.currencies),
        "lines[2].vat_rate: no VAT code for rate 7 (known: "
        + ", ".join(tenant.mapping.vat.codes)
        + ")",
        "lines[2].label: windows-1252 cannot carry '✓' (U+2713)",
    ]
    assert tenant.control.requests() == []


def test_get_and_find_by_reference_read_the_order_as_it_stands(
    tenant: Tenant,
) -> None:
    """An order is read back by number and by the shop's reference."""
    created = tenant.adapters.orders.create(order())

    assert tenant.adapters.orders.get("CC00000001") == created
    assert tenant.adapters.orders.find_by_reference("SHOP-1001") == created
    assert tenant.adapters.orders.find_by_reference("SHOP-404") is None


def test_quote_confirmed_into_an_order_and_confirming_again_is_a_no_op(
    tenant: Tenant,
) -> None:
    """Quote → order once; a second confirm returns the same order unchanged."""
    quote = tenant.adapters.orders.create(order(), kind=DocumentKind.QUOTE)

    first = tenant.adapters.orders.confirm(quote.number)
    second = tenant.adapters.orders.confirm(quote.number)

    assert quote.number == "DV00000001"
    assert first.number == second.number == "CC00000001"
    assert second == first
    assert first.origin == DocumentRef(kind=DocumentKind.QUOTE, number="DV00000001")
    assert first.total_including_tax == eur("217.81")
    assert tenant.adapters.orders.get_quote("DV00000001").state is (
        DocumentState.TRANSFERRED
    )
    assert len(created_documents(tenant, DocumentKind.ORDER)) == 1


def test_partial_deliveries_split_the_order_until_it_is_transferred(
    tenant: Tenant,
) -> None:
    """4 albums first, the rest later: two notes, the order transferred at the end."""
    lines = [
        {"ref": "ALB0001", "quantity": "10"},
        {"ref": "CAF0001", "quantity": "2"},
    ]
    tenant.adapters.orders.create(order(lines=lines, shipping=None))

    first = tenant.adapters.orders.deliver(
        "CC00000001", {1: Decimal(4)}, on=date(2026, 1, 16)
    )
    middle = tenant.adapters.orders.get("CC00000001")
    second = tenant.adapters.orders.deliver("CC00000001", on=date(2026, 1, 20))
    final = tenant.adapters.orders.get("CC00000001")

    assert (first.number, first.total_excluding_tax) == ("BL00000001", eur("37.24"))
    assert [(line.ref, line.quantity) for line in first.lines] == [("ALB0001", 4)]
    assert (middle.state, middle.version, middle.line(1).remaining) == (
        DocumentState.ACTIVE,
        2,
        6,
    )
    assert second.number == "BL00000002"
    assert [(line.ref, line.quantity, line.amount) for line in second.lines] == [
        ("ALB0001", 6, Decimal("55.86")),
        ("CAF0001", 2, Decimal("63.80")),
    ]
    assert final.state is DocumentState.TRANSFERRED
    assert final.transferred_into == (
        DocumentRef(kind=DocumentKind.DELIVERY, number="BL00000001"),
        DocumentRef(kind=DocumentKind.DELIVERY, number="BL00000002"),
    )
    assert tenant.stock_of("ALB0001", "1") == 110
    assert tenant.stock_of("CAF0001", "1") == 38


def test_a_delivery_beyond_the_stock_is_refused_and_changes_nothing(
    tenant: Tenant,
) -> None:
    """130 albums with 120 in depot 1: InsufficientStock, no note, order untouched."""
    lines = [{"ref": "ALB0001", "quantity": "130"}]
    tenant.adapters.orders.create(order(lines=lines, shipping=None))

    with pytest.raises(InsufficientStock) as caught:
        tenant.adapters.orders.deliver("CC00000001")

    assert caught.value.errormessage == (
        "not enough stock of article 'ALB0001' in depot '1': asked 130, available 120"
    )
    assert created_documents(tenant, DocumentKind.DELIVERY) == []
    assert tenant.adapters.orders.get("CC00000001").version == 1


def test_cancel_then_cancel_again_is_a_no_op(tenant: Tenant) -> None:
    """A cancelled order is returned as it stands when cancelled again."""
    tenant.adapters.orders.create(order())

    cancelled = tenant.adapters.orders.cancel("CC00000001")
    again = tenant.adapters.orders.cancel("CC00000001")

    assert (cancelled.state, cancelled.version) == (DocumentState.CANCELLED, 2)
    assert again == cancelled


def test_an_order_partly_delivered_cannot_be_cancelled(tenant: Tenant) -> None:
    """Once part of it is delivered the ERP refuses the cancellation."""
    tenant.adapters.orders.create(order())
    tenant.adapters.orders.deliver("CC00000001", {1: Decimal(1)})

    with pytest.raises(BusinessRuleRejected) as caught:
        tenant.adapters.orders.cancel("CC00000001")

    assert caught.value.errormessage == (
        "order CC00000001 cannot be cancelled: part of it was transferred"
    )


def test_lines_of_one_article_and_quantity_are_priced_once(tenant: Tenant) -> None:
    """The price check asks the ERP once per article, sub-references and quantity."""
    tenant.control.clear_requests()
    album = {"ref": "ALB0001", "quantity": "10", "unit_price": "9.31"}
    lines = [album, {**album}, order()["lines"][1]]

    created = tenant.adapters.orders.create(order(lines=lines))

    asked = [e for e in tenant.control.requests() if "TARIF" in str(e.get("action"))]
    assert len(asked) == 2
    assert [(line.ref, line.net_price) for line in created.lines] == [
        ("ALB0001", Decimal("9.31")),
        ("ALB0001", Decimal("9.31")),
        ("BLO0001", Decimal("80.91")),
        ("PORT", Decimal("7.50")),
    ]

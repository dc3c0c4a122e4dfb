"""The invoices adapter against both tenants: invoicing and credit notes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from divalto.adapters import CreditLimitExceeded
from divalto.models import DocumentKind, DocumentRef, Money

from .conftest import Tenant

DAY = date(2026, 1, 15)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def ten_albums(tenant: Tenant) -> None:
    """Order CC00000001: 10 albums for C0000001 at 9.31, 111.72 with VAT."""
    tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-2001",
            "date": DAY,
            "lines": [{"ref": "ALB0001", "quantity": "10"}],
        }
    )


def test_invoice_from_a_delivery_note_does_not_move_stock_again(
    tenant: Tenant,
) -> None:
    """Order → delivery note → invoice: stock leaves once, totals carried over."""
    ten_albums(tenant)
    tenant.adapters.orders.deliver("CC00000001")

    invoice = tenant.adapters.invoices.from_delivery("BL00000001", on=DAY)

    assert invoice.number == "FA00000001"
    assert invoice.origin == DocumentRef(
        kind=DocumentKind.DELIVERY, number="BL00000001"
    )
    assert (invoice.total_excluding_tax, invoice.total_vat) == (
        eur("93.10"),
        eur("18.62"),
    )
    assert invoice.total_including_tax == eur("111.72")
    assert (invoice.credited, invoice.creditable) == (eur("0.00"), eur("111.72"))
    assert tenant.stock_of("ALB0001", "1") == 110


def test_invoice_straight_from_an_order_ships_it(tenant: Tenant) -> None:
    """Order → invoice: the invoice takes the goods out of stock itself."""
    ten_albums(tenant)

    invoice = tenant.adapters.invoices.from_order("CC00000001", on=DAY)

    assert (invoice.number, invoice.your_reference) == ("FA00000001", "SHOP-2001")
    assert invoice.origin == DocumentRef(kind=DocumentKind.ORDER, number="CC00000001")
    assert tenant.adapters.invoices.get("FA00000001") == invoice
    assert tenant.stock_of("ALB0001", "1") == 110


def test_partial_credit_note_at_the_invoiced_terms(tenant: Tenant) -> None:
    """One album credited at 9.31 net: 11.17 with VAT, the invoice has 100.55 left."""
    ten_albums(tenant)
    tenant.adapters.invoices.from_order("CC00000001", on=DAY)

    note = tenant.adapters.invoices.credit_note(
        "FA00000001", {1: Decimal(1)}, reference="REFUND-1", on=DAY
    )
    invoice = tenant.adapters.invoices.get("FA00000001")

    assert (note.number, note.your_reference) == ("AV00000001", "REFUND-1")
    assert note.origin == DocumentRef(kind=DocumentKind.INVOICE, number="FA00000001")
    assert [
        (line.gross_price, line.discounts, line.net_price) for line in note.lines
    ] == [
        (
            Decimal("10.00"),
            (Decimal("5.00"), Decimal("2.00"), Decimal("0.00")),
            Decimal("9.31"),
        )
    ]
    assert (note.total_excluding_tax, note.total_including_tax) == (
        eur("9.31"),
        eur("11.17"),
    )
    assert (invoice.credited, invoice.creditable) == (eur("11.17"), eur("100.55"))


def test_the_last_credit_note_carries_the_rounding_remainder(tenant: Tenant) -> None:
    """Three credits of one album then the rest: the credits sum to 111.72 exactly."""
    ten_albums(tenant)
    tenant.adapters.invoices.from_order("CC00000001", on=DAY)
    for _ in range(3):
        tenant.adapters.invoices.credit_note("FA00000001", {1: Decimal(1)}, on=DAY)

    last = tenant.adapters.invoices.credit_note("FA00000001", on=DAY)
    invoice = tenant.adapters.invoices.get("FA00000001")

    assert last.number == "AV00000004"
    assert [
        (line.ref, line.quantity, line.amount, line.vat_code) for line in last.lines
    ] == [
        ("ALB0001", 7, Decimal("65.17"), "1"),
        ("FRAIS", 1, Decimal("0.01"), "4"),
    ]
    assert last.total_including_tax == eur("78.21")
    assert (invoice.credited, invoice.creditable) == (eur("111.72"), eur("0.00"))


def test_a_credit_beyond_the_invoiced_quantity_is_refused_before_sending(
    tenant: Tenant,
) -> None:
    """Eleven albums of ten: refused by the adapter, the ERP never asked."""
    ten_albums(tenant)
    tenant.adapters.invoices.from_order("CC00000001", on=DAY)
    tenant.adapters.invoices.credit_note("FA00000001", {1: Decimal(4)}, on=DAY)
    tenant.control.clear_requests()

    with pytest.raises(CreditLimitExceeded) as caught:
        tenant.adapters.invoices.credit_note("FA00000001", {1: Decimal(7)}, on=DAY)

    assert caught.value.message == (
        "line 1 of invoice FA00000001 has 6 left to credit, asked 7"
    )
    create = tenant.mapping.actions.create_document
    assert [e for e in tenant.control.requests() if e.get("action") == create] == []


def test_nothing_left_to_credit_after_a_whole_credit(tenant: Tenant) -> None:
    """A wholly credited invoice refuses any further credit note."""
    ten_albums(tenant)
    tenant.adapters.invoices.from_order("CC00000001", on=DAY)
    whole = tenant.adapters.invoices.credit_note("FA00000001", on=DAY)

    with pytest.raises(CreditLimitExceeded) as caught:
        tenant.adapters.invoices.credit_note("FA00000001", on=DAY)

    assert whole.total_including_tax == eur("111.72")
    assert caught.value.message == (
        "credit note beyond invoice FA00000001: total 111.72, "
        "0.00 left to credit, asked 0"
    )

"""A second pair of eyes on the adapters: probes of what the other tests miss.

Every test runs on both tenants (the default mapping and the renamed one), so a
behaviour that holds only under the default names fails here too. The angles:
two writers at the same moment, a run of small credit notes, the other writer
agreeing with us, a reference that is missing in more than one way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from divalto.adapters import CreditLimitExceeded, MissingReference, ReferencesMissing
from divalto.errors import DivaltoError
from divalto.models import DocumentKind, DocumentState, Money

from .conftest import Tenant

DAY = date(2026, 1, 15)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread, released at once; results or errors."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def invoiced_albums(tenant: Tenant) -> None:
    """Order CC00000001 of 10 albums at 9.31 invoiced as FA00000001 (111.72)."""
    tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-3001",
            "date": DAY,
            "lines": [{"ref": "ALB0001", "quantity": "10"}],
        }
    )
    tenant.adapters.invoices.from_order("CC00000001", on=DAY)


def test_ten_credit_notes_of_one_album_end_exactly_on_the_invoice(
    tenant: Tenant,
) -> None:
    """Nine notes of 11.17, the tenth takes the remainder: 11.19; an 11th is refused."""
    invoiced_albums(tenant)
    invoices = tenant.adapters.invoices
    totals = [
        invoices.credit_note(
            "FA00000001", {1: Decimal(1)}, on=DAY
        ).total_including_tax.amount
        for _ in range(10)
    ]

    assert totals == [Decimal("11.17")] * 9 + [Decimal("11.19")]
    invoice = invoices.get("FA00000001")
    assert (invoice.credited, invoice.creditable) == (eur("111.72"), eur("0.00"))
    with pytest.raises(CreditLimitExceeded):
        invoices.credit_note("FA00000001", {1: Decimal(1)}, on=DAY)


def test_two_writers_crediting_everything_at_once_never_exceed_the_invoice(
    tenant: Tenant,
) -> None:
    """Two refunds of the whole invoice at the same moment: one note, 111.72."""
    invoiced_albums(tenant)
    invoices = tenant.adapters.invoices

    outcomes = together(
        lambda: invoices.credit_note("FA00000001", reference="REFUND-A", on=DAY),
        lambda: invoices.credit_note("FA00000001", reference="REFUND-B", on=DAY),
    )

    invoice = invoices.get("FA00000001")
    assert invoice.credited == eur("111.72")
    assert invoice.creditable == eur("0.00")
    assert len(invoice.credit_notes) == 1
    assert sum(isinstance(outcome, DivaltoError) for outcome in outcomes) == 1


def test_two_concurrent_confirms_of_one_quote_make_one_order(tenant: Tenant) -> None:
    """Confirming twice at once is still a no-op: one order, both get it."""
    quote = tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-3002",
            "date": DAY,
            "lines": [{"ref": "ALB0001", "quantity": "2"}],
        },
        kind=DocumentKind.QUOTE,
    )
    orders = tenant.adapters.orders
    # Both confirms read the quote before either transfer lands.
    tenant.control.add_fault(
        "latency", action=tenant.mapping.actions.transfer_document, latency_ms=300
    )

    outcomes = together(
        lambda: orders.confirm(quote.number), lambda: orders.confirm(quote.number)
    )

    assert len(tenant.control.table("ENT", PICOD=tenant.picod(DocumentKind.ORDER))) == 1
    assert [getattr(outcome, "number", outcome) for outcome in outcomes] == [
        "CC00000001",
        "CC00000001",
    ]


def test_the_other_writer_setting_our_value_is_no_conflict(tenant: Tenant) -> None:
    """A stale update whose value the other writer already set: nothing is sent."""
    customers = tenant.adapters.customers
    read = customers.get("C0000002")
    customers.update(read, {"email": "same@atelier.example"})
    tenant.control.clear_requests()

    after = customers.update(read, {"email": "same@atelier.example", "city": "Tours"})

    assert (after.email, after.address.city, after.version) == (
        "same@atelier.example",
        "Tours",
        3,
    )
    updates = tenant.control.requests(action=tenant.mapping.actions.update_customer)
    # The stale write on version 1, refused; then the city alone on version 2.
    assert len(updates) == 2
    assert customers.get("C0000002") == after


def test_a_missing_customer_does_not_hide_the_other_missing_references(
    tenant: Tenant,
) -> None:
    """Unknown customer, unknown article, article without a VAT code, unknown depot."""
    tenant.control.seed(
        {
            "dossier": "998",
            "ART": [
                {
                    "REF": "NOVAT01",
                    "DES": "Article sans TVA",
                    "TVAART": "9",
                    "STFL": "1",
                }
            ],
        }
    )

    with pytest.raises(ReferencesMissing) as caught:
        tenant.adapters.orders.create(
            {
                "customer": "C0009998",
                "your_reference": "SHOP-3003",
                "depot": "77",
                "lines": [
                    {"ref": "NOVAT01", "quantity": "1"},
                    {"ref": "NOPE", "quantity": "1"},
                ],
            }
        )

    assert caught.value.missing == [
        MissingReference("customer", "customer", "C0009998"),
        MissingReference("lines[1].ref", "VAT code", "9"),
        MissingReference("lines[2].ref", "article", "NOPE"),
        MissingReference("depot", "depot", "77"),
    ]
    assert tenant.control.table("ENT", PIREF="SHOP-3003") == []


def test_cancel_twice_returns_the_same_cancelled_order(tenant: Tenant) -> None:
    """Cancel twice is a no-op returning the same cancelled state and version."""
    tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-3004",
            "date": DAY,
            "lines": [{"ref": "ALB0001", "quantity": "1"}],
        }
    )
    first = tenant.adapters.orders.cancel("CC00000001")
    second = tenant.adapters.orders.cancel("CC00000001")

    assert first.state is second.state is DocumentState.CANCELLED
    assert second == first


@pytest.mark.parametrize("discounts", [["5", "2"], []])
@pytest.mark.parametrize(("quantity", "first"), [("13", "5"), ("13", "1")])
def test_credits_of_a_discounted_line_end_exactly_on_the_invoice(
    tenant: Tenant, quantity: str, first: str, discounts: list[str]
) -> None:
    """11.00 less 5 % and 2 % is 10.241: the credits of such a line still add up
    to the invoice to the cent, and nothing is left afterwards."""
    tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-3005",
            "date": DAY,
            "lines": [
                {"ref": "ALB0001", "quantity": quantity, "discounts": discounts},
            ],
        }
    )
    invoices = tenant.adapters.invoices
    invoice = invoices.from_order("CC00000001", on=DAY)

    one = invoices.credit_note("FA00000001", {1: Decimal(first)}, on=DAY)
    rest = invoices.credit_note("FA00000001", on=DAY)

    after = invoices.get("FA00000001")
    total = one.total_including_tax.amount + rest.total_including_tax.amount
    assert total == invoice.total_including_tax.amount
    assert (after.credited, after.creditable.amount) == (
        invoice.total_including_tax,
        Decimal("0.00"),
    )


def test_two_concurrent_cancels_of_one_order_both_return_it_cancelled(
    tenant: Tenant,
) -> None:
    """Cancelling twice at once: both callers get the cancelled order."""
    tenant.adapters.orders.create(
        {
            "customer": "C0000001",
            "your_reference": "SHOP-3006",
            "date": DAY,
            "lines": [{"ref": "ALB0001", "quantity": "1"}],
        }
    )
    orders = tenant.adapters.orders
    tenant.control.add_fault(
        "latency", action=tenant.mapping.actions.cancel_document, latency_ms=300
    )

    outcomes = together(
        lambda: orders.cancel("CC00000001"), lambda: orders.cancel("CC00000001")
    )

    assert [getattr(outcome, "state", outcome) for outcome in outcomes] == [
        DocumentState.CANCELLED,
        DocumentState.CANCELLED,
    ]


def test_two_concurrent_upserts_of_different_fields_both_land(tenant: Tenant) -> None:
    """One upsert changes the e-mail, the other the phone, at once: both stick."""
    shop = {
        "source": "shopify",
        "id": "5501",
        "name": "Brasserie Meinau",
        "email": "old@meinau.example",
        "phone": "03 88 11 11 11",
    }
    customers = tenant.adapters.customers
    created = customers.upsert(shop)
    tenant.control.add_fault(
        "latency", action=tenant.mapping.actions.update_customer, latency_ms=200
    )

    outcomes = together(
        lambda: customers.upsert({**shop, "email": "new@meinau.example"}),
        lambda: customers.upsert({**shop, "phone": "03 88 22 22 22"}),
    )

    assert [type(outcome).__name__ for outcome in outcomes] == ["Customer"] * 2
    after = customers.get(created.code)
    assert (after.email, after.phone, after.version) == (
        "new@meinau.example",
        "03 88 22 22 22",
        3,
    )
    assert len(tenant.control.table("CLI", NOM="Brasserie Meinau")) == 1

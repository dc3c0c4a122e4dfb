"""The refund-to-credit-note flow against the simulator, on a SQLite engine database.

Every test first runs shop order 1001 to its invoice FA00000001: 10 albums at
12.50, a jacket at 89.90 and 7.50 of shipping, 222.40 excluding VAT, 266.88 with
20 % VAT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from divalto.flows import IntakeStatus, Submission
from divalto.flows.refund import RefundToCreditNote, Retries
from divalto.models import DocumentKind, DocumentRef, Money

from .conftest import Flows, LaunchFlows, shop_order

ORDER = "order:shopify:1001"
CREATE = "integration_piece"
JACKET = {"ref": "BLO0001", "sref1": "XL", "sref2": "BLEU"}


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def refund(external_id: str = "R1", **fields: Any) -> dict[str, Any]:
    """Shop refund ``external_id`` of order 1001, with ``fields`` as given."""
    return {"source": "shopify", "external_id": external_id, "order_id": "1001"} | (
        fields
    )


@dataclass
class Refunds:
    """The order flow and the refund flow on one engine, intake and sink."""

    flows: Flows
    flow: RefundToCreditNote

    def run(self, payload: dict[str, Any]) -> Any:
        """Submit ``payload`` and wait for its flow to end; its intake record."""
        return self.flow.wait(self.flow.submit(payload).key, timeout=30)

    def invoice(self) -> Any:
        return self.flow.adapters.invoices.get("FA00000001")

    def credit_note(self, number: str) -> Any:
        return self.flow.adapters.invoices.get_credit_note(number)

    def creations(self, reference: str) -> int:
        """Calls creating a document under ``reference`` that reached the ERP."""
        requests = self.flows.control.requests(route="service", action=CREATE)
        return sum(1 for entry in requests if entry.get("reference") == reference)


LaunchRefunds = Callable[..., Refunds]


@pytest.fixture
def launch_refunds(launch_flows: LaunchFlows) -> LaunchRefunds:
    """Launch both flows; with ``invoiced``, order 1001 is invoiced first."""

    def launch(service_timeout: float = 10.0, invoiced: bool = True) -> Refunds:
        flows = launch_flows(service_timeout=service_timeout)
        # Installed after launch: this fresh database holds no refund to recover.
        flow = RefundToCreditNote(
            flows.engine,
            flows.store,
            flows.flow.adapters,
            flows.sink,
            Retries(wait_initial=0.01),
            sleep=lambda seconds: None,
        ).install()
        if invoiced:
            flows.flow.submit(shop_order())
            order = flows.flow.wait(ORDER, timeout=30)
            assert order.documents["invoice"] == "FA00000001"
        return Refunds(flows, flow)

    return launch


def test_a_partial_refund_credits_its_lines_at_the_invoiced_prices(
    launch_refunds: LaunchRefunds,
) -> None:
    """Two albums refunded: credit note AV00000001 of 30.00, 236.88 left to credit."""
    refunds = launch_refunds()

    record = refunds.run(
        refund(lines=[{"ref": "ALB0001", "quantity": "2"}], reason="damaged")
    )

    assert record.status is IntakeStatus.COMPLETED
    assert record.documents == {"invoice": "FA00000001", "credit_note": "AV00000001"}
    note = refunds.credit_note("AV00000001")
    assert note.origin == DocumentRef(kind=DocumentKind.INVOICE, number="FA00000001")
    assert note.your_reference == "R1"
    assert [(ln.ref, ln.quantity, ln.amount) for ln in note.lines] == [
        ("ALB0001", Decimal("2"), Decimal("25.00"))
    ]
    assert (note.total_excluding_tax, note.total_including_tax) == (
        eur("25.00"),
        eur("30.00"),
    )
    invoice = refunds.invoice()
    assert (invoice.credited, invoice.creditable) == (eur("30.00"), eur("236.88"))
    assert refunds.flows.sink.entries()[-1] == {
        "key": "refund:shopify:R1",
        "source": "shopify",
        "external_id": "R1",
        "order_id": "1001",
        "reason": "damaged",
        "documents": record.documents,
    }


def test_a_refund_without_lines_or_amount_credits_the_whole_invoice(
    launch_refunds: LaunchRefunds,
) -> None:
    """A cancellation credits every line, shipping included: 266.88, nothing left."""
    refunds = launch_refunds()

    record = refunds.run(refund(reason="cancelled"))

    note = refunds.credit_note(record.documents["credit_note"])
    assert [(ln.ref, ln.quantity, ln.amount) for ln in note.lines] == [
        ("ALB0001", Decimal("10"), Decimal("125.00")),
        ("BLO0001", Decimal("1"), Decimal("89.90")),
        ("PORT", Decimal("1"), Decimal("7.50")),
    ]
    assert note.total_including_tax == eur("266.88")
    invoice = refunds.invoice()
    assert (invoice.credited, invoice.creditable) == (eur("266.88"), eur("0.00"))


def test_two_partial_refunds_reach_the_invoice_total_to_the_cent(
    launch_refunds: LaunchRefunds,
) -> None:
    """Four albums, then the rest with the shipping: 60.00 + 206.88 = 266.88."""
    refunds = launch_refunds()

    first = refunds.run(refund("R1", lines=[{"ref": "ALB0001", "quantity": "4"}]))
    second = refunds.run(
        refund(
            "R2",
            lines=[{"ref": "ALB0001", "quantity": "6"}, {**JACKET, "quantity": "1"}],
            shipping=True,
        )
    )

    assert (first.status, second.status) == (IntakeStatus.COMPLETED,) * 2
    totals = [
        refunds.credit_note(r.documents["credit_note"]).total_including_tax
        for r in (first, second)
    ]
    assert totals == [eur("60.00"), eur("206.88")]
    invoice = refunds.invoice()
    assert [ref.number for ref in invoice.credit_notes] == ["AV00000001", "AV00000002"]
    assert (invoice.credited, invoice.creditable) == (eur("266.88"), eur("0.00"))


def test_a_refund_beyond_what_remains_is_parked_escalated_and_creates_nothing(
    launch_refunds: LaunchRefunds,
) -> None:
    """Seven albums after four were credited: escalated, the ERP never asked."""
    refunds = launch_refunds()
    refunds.run(refund("R1", lines=[{"ref": "ALB0001", "quantity": "4"}]))

    record = refunds.run(refund("R2", lines=[{"ref": "ALB0001", "quantity": "7"}]))

    assert record.status is IntakeStatus.ESCALATED
    assert record.parking == {
        "state": "escalated",
        "step": "create_credit_note",
        "category": "business",
        "code": "business.credit_limit_exceeded",
        "reason": "line 1 of invoice FA00000001 has 6 left to credit, asked 7",
        "suggested_action": "escalate",
        "retries_exhausted": False,
    }
    assert record.documents == {"invoice": "FA00000001"}
    assert refunds.creations("R2") == 0
    assert refunds.invoice().creditable == eur("206.88")


def test_an_amount_beyond_what_remains_is_parked_escalated(
    launch_refunds: LaunchRefunds,
) -> None:
    """300.00 asked of an invoice of 266.88: escalated with both figures named."""
    refunds = launch_refunds()

    record = refunds.run(refund(amount="300.00"))

    assert record.status is IntakeStatus.ESCALATED
    assert record.parking is not None
    assert (record.parking["code"], record.parking["reason"]) == (
        "business.credit_limit_exceeded",
        "credit note beyond invoice FA00000001: total 266.88, "
        "266.88 left to credit, asked 300.00",
    )
    assert refunds.creations("R1") == 0


def test_an_amount_refund_credits_it_at_the_invoice_vat_rate(
    launch_refunds: LaunchRefunds,
) -> None:
    """30.00 refunded: one line of 25.00 at 20 % VAT, labelled with the reason."""
    refunds = launch_refunds()

    record = refunds.run(refund(amount="30.00", reason="late delivery"))

    note = refunds.credit_note(record.documents["credit_note"])
    assert [(ln.ref, ln.label, ln.amount, ln.vat_code) for ln in note.lines] == [
        ("REMISE", "late delivery", Decimal("25.00"), "1")
    ]
    assert note.total_including_tax == eur("30.00")
    assert refunds.invoice().creditable == eur("236.88")


def test_an_amount_the_vat_cannot_reach_gets_a_rounding_line(
    launch_refunds: LaunchRefunds,
) -> None:
    """10.05 is no base plus its rounded VAT: 8.37 + 1.67, then 0.01 exempt."""
    refunds = launch_refunds()

    record = refunds.run(refund(amount="10.05"))

    note = refunds.credit_note(record.documents["credit_note"])
    assert [(ln.ref, ln.amount, ln.vat_code) for ln in note.lines] == [
        ("REMISE", Decimal("8.37"), "1"),
        ("FRAIS", Decimal("0.01"), "4"),
    ]
    assert note.total_including_tax == eur("10.05")


def test_the_same_refund_submitted_twice_makes_one_credit_note(
    launch_refunds: LaunchRefunds,
) -> None:
    """The second submission of refund R1 stores nothing and starts nothing."""
    refunds = launch_refunds()
    payload = refund(lines=[{"ref": "ALB0001", "quantity": "2"}])
    first = refunds.flow.submit(payload)
    refunds.flow.wait(first.key, timeout=30)

    second = refunds.flow.submit(refund(amount="50.00"))

    assert (first, second) == (
        Submission("refund:shopify:R1", created=True),
        Submission("refund:shopify:R1", created=False),
    )
    rows = refunds.flows.control.table("ENT", PIREF="R1", PICOD="5")
    assert [row["PREFPINO"] for row in rows] == ["AV00000001"]
    assert refunds.creations("R1") == 1
    assert refunds.invoice().creditable == eur("236.88")


def test_a_timeout_after_the_credit_note_was_created_adopts_it(
    launch_refunds: LaunchRefunds,
) -> None:
    """The create times out after the ERP applied it: the retry finds it, no twin."""
    refunds = launch_refunds(service_timeout=0.5)
    refunds.flows.control.add_fault(
        "timeout_after", route="service", action=CREATE, nth=1, hang_seconds=1.5
    )

    record = refunds.run(refund(lines=[{"ref": "ALB0001", "quantity": "2"}]))

    assert record.status is IntakeStatus.COMPLETED
    assert record.documents["credit_note"] == "AV00000001"
    rows = refunds.flows.control.table("ENT", PIREF="R1", PICOD="5")
    assert [row["PREFPINO"] for row in rows] == ["AV00000001"]
    assert refunds.creations("R1") == 1
    assert [fault["fired"] for fault in refunds.flows.control.faults()] == [1]
    assert refunds.invoice().credited == eur("30.00")


def test_a_refund_before_its_order_is_invoiced_parks_then_replays_to_one_note(
    launch_refunds: LaunchRefunds,
) -> None:
    """No invoice yet: parked ``to_resume``; once invoiced, replay credits it once."""
    refunds = launch_refunds(invoiced=False)

    parked = refunds.run(refund(lines=[{"ref": "ALB0001", "quantity": "2"}]))

    assert parked.status is IntakeStatus.TO_RESUME
    assert parked.parking == {
        "state": "to_resume",
        "step": "find_invoice",
        "category": "business",
        "code": "refund.order_not_invoiced",
        "reason": "order order:shopify:1001 has no invoice yet: it is not in the "
        "intake, and the ERP has no invoice with your reference '1001'",
        "suggested_action": "fix data then replay",
        "retries_exhausted": False,
    }

    refunds.flows.flow.submit(shop_order())
    refunds.flows.flow.wait(ORDER, timeout=30)
    refunds.flow.replay("refund:shopify:R1")
    record = refunds.flow.wait("refund:shopify:R1", timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert record.parking is None
    assert record.documents == {"invoice": "FA00000001", "credit_note": "AV00000001"}
    assert refunds.creations("R1") == 1


def test_an_invalid_refund_is_stored_then_parked_with_every_problem(
    launch_refunds: LaunchRefunds,
) -> None:
    """A negative quantity and an amount beside lines: both named, nothing sent."""
    refunds = launch_refunds()

    record = refunds.run(
        refund(lines=[{"ref": "ALB0001", "quantity": "-1"}], amount="5.00")
    )

    assert record.status is IntakeStatus.TO_RESUME
    assert record.parking is not None
    assert (record.parking["step"], record.parking["code"]) == (
        "validate",
        "contract.payload_invalid",
    )
    assert record.parking["reason"] == (
        "refund refund:shopify:R1 refused: lines[0].quantity: must be greater "
        "than 0, got '-1'; amount: give lines or an amount, not both"
    )
    assert refunds.creations("R1") == 0


def test_a_refund_line_of_an_article_not_invoiced_parks_to_resume(
    launch_refunds: LaunchRefunds,
) -> None:
    """A jacket in red was never invoiced: parked ``to_resume`` at the credit note."""
    refunds = launch_refunds()

    record = refunds.run(refund(lines=[{**JACKET, "sref2": "ROUGE", "quantity": "1"}]))

    assert record.status is IntakeStatus.TO_RESUME
    assert record.parking is not None
    assert record.parking["step"] == "create_credit_note"
    assert record.parking["reason"] == (
        "refund refund:shopify:R1 refused: lines[0]: article 'BLO0001/XL/ROUGE' "
        "is not on invoice FA00000001"
    )

"""The refund-to-credit-note flow: a shop's refund becomes one credit note, durably.

A refund (or a cancellation) is stored in the intake under
``refund:<source>:<refund id>``, then runs these steps, each journaled once done,
each reading the refund again from the intake:

1. ``validate``: check the refund's lines or amount, every problem at once;
2. ``find_invoice``: the invoice of the refunded order, from the order's intake
   record (``order:<source>:<order id>``) or else from the ERP, by the shop's
   order id as "your reference";
3. ``create_credit_note``: the credit note against that invoice, with the refund
   id as its "your reference", looked up before it is created;
4. ``acknowledge``: tell the source, through an acknowledgement sink.

What is credited: the refund's ``lines`` (article and quantity, at the invoiced
prices), its ``shipping``, an ``amount`` including tax, or, with none of them,
all that remains creditable (a cancellation). A credit note never exceeds what
remains creditable: the invoices adapter refuses it before sending, and the ERP
refuses it again; the flow then parks ``escalated``.

A refund whose order is not invoiced yet parks ``to_resume`` at ``find_invoice``
with the reason; replay it once the order is invoiced. Refunds of one order run
one at a time (their partition is the order's key), so two of them never read
the same remainder at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from divalto.adapters import Adapters, CreditLimitExceeded
from divalto.errors import BusinessRuleRejected, DuplicateReference, SuggestedAction
from divalto.flows.engine import FlowEngine, step, workflow
from divalto.flows.intake import (
    Intake,
    IntakeRecord,
    IntakeStatus,
    IntakeStore,
    Submission,
)
from divalto.flows.order_to_cash import (
    AcknowledgementSink,
    FlowParked,
    attempt_step,
    find_by_reference,
    mark_completed,
    mark_parked,
)
from divalto.mapping import MappingProfile
from divalto.models import CreditNote, Document, DocumentKind, Invoice
from divalto.services import BusinessAction
from divalto.validation import PayloadInvalid, Problem

__all__ = [
    "ORDER_NOT_INVOICED",
    "REFUND_STEPS",
    "CanonicalRefund",
    "RefundLine",
    "RefundPlan",
    "RefundToCreditNote",
    "Retries",
    "check_refund",
]

REFUND_STEPS = ("validate", "find_invoice", "create_credit_note", "acknowledge")
"""The steps of the refund flow, in the order they run."""

FLOW_NAME = "divalto.refund_to_credit_note"

ORDER_NOT_INVOICED = "refund.order_not_invoiced"
"""The parking code of a refund whose order has no invoice yet: a replay from
``find_invoice`` completes it once the order is invoiced."""

R = TypeVar("R")

_ARTICLE = ("ref", "sref1", "sref2")
_LINE_FIELDS = frozenset({*_ARTICLE, "quantity"})


class CanonicalRefund(BaseModel):
    """A shop's refund or cancellation in the connector's own shape.

    ``lines`` are ``{"ref", "sref1", "sref2", "quantity"}`` (article, its
    sub-references, quantity as text); ``amount`` is the refunded total,
    tax included, as text; ``shipping`` credits the order's shipping too. Lines
    and amount exclude each other; neither, nor shipping, refunds all that
    remains. They are checked by the flow's first step, not here, so that a
    faulty refund is stored, then parked with every problem named.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    external_id: str = Field(min_length=1, pattern=r"^\S+$")
    order_id: str = Field(min_length=1, pattern=r"^\S+$")
    lines: Any = None
    amount: Any = None
    shipping: bool = False
    reason: str = ""

    @property
    def key(self) -> str:
        """The business key: ``refund:<source>:<external id>``."""
        return f"refund:{self.source}:{self.external_id}"

    @property
    def order_key(self) -> str:
        """The intake key of the refunded order."""
        return f"order:{self.source}:{self.order_id}"

    @property
    def partition(self) -> str:
        """The refunded order's key: refunds of one order run one at a time."""
        return self.order_key


@dataclass(frozen=True)
class RefundLine:
    """One checked refund line: an article (with sub-references) and a quantity."""

    ref: str
    sref1: str
    sref2: str
    quantity: Decimal


@dataclass(frozen=True)
class RefundPlan:
    """What a checked refund credits: lines, shipping, an amount, or everything."""

    lines: tuple[RefundLine, ...] = ()
    shipping: bool = False
    amount: Decimal | None = None

    @property
    def whole(self) -> bool:
        """Whether the refund credits all that remains of the invoice."""
        return not self.lines and not self.shipping and self.amount is None


def check_refund(refund: CanonicalRefund, mapping: MappingProfile) -> RefundPlan:
    """The refund's plan; raises :class:`PayloadInvalid` naming every problem."""
    problems: list[Problem] = []
    lines = _check_lines(refund.lines, problems)
    amount = _check_amount(refund.amount, mapping.rounding.decimals, problems)
    if refund.lines is not None and refund.amount is not None:
        problems.append(Problem("amount", "give lines or an amount, not both"))
    if refund.shipping and refund.amount is not None:
        problems.append(Problem("shipping", "an amount refund cannot add shipping"))
    if problems:
        raise PayloadInvalid(f"refund {refund.key}", problems)
    return RefundPlan(lines=lines, shipping=refund.shipping, amount=amount)


def _check_lines(raw: Any, problems: list[Problem]) -> tuple[RefundLine, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append(Problem("lines", "a non-empty list of lines expected"))
        return ()
    lines = [_check_line(item, f"lines[{n}]", problems) for n, item in enumerate(raw)]
    checked = tuple(line for line in lines if line is not None)
    seen: set[tuple[str, str, str]] = set()
    for n, line in enumerate(checked):
        article = (line.ref, line.sref1, line.sref2)
        if article in seen:
            problems.append(Problem(f"lines[{n}]", f"article '{line.ref}' twice"))
        seen.add(article)
    return checked


def _check_line(raw: Any, path: str, problems: list[Problem]) -> RefundLine | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, "an object expected"))
        return None
    before = len(problems)
    for name in sorted(set(raw) - _LINE_FIELDS):
        problems.append(Problem(f"{path}.{name}", "unknown field"))
    ref, sref1, sref2 = (_text(raw, path, name, problems) for name in _ARTICLE)
    if not ref:
        problems.append(Problem(f"{path}.ref", "an article reference is required"))
    quantity = _positive(raw.get("quantity"), f"{path}.quantity", None, problems)
    if len(problems) > before or quantity is None:
        return None
    return RefundLine(ref=ref, sref1=sref1, sref2=sref2, quantity=quantity)


def _text(raw: Mapping[str, Any], path: str, name: str, problems: list[Problem]) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        problems.append(Problem(f"{path}.{name}", "text expected"))
        return ""
    return value.strip()


def _check_amount(raw: Any, decimals: int, problems: list[Problem]) -> Decimal | None:
    if raw is None:
        return None
    return _positive(raw, "amount", decimals, problems)


def _positive(
    raw: Any, path: str, decimals: int | None, problems: list[Problem]
) -> Decimal | None:
    """A decimal above 0 given as text or an integer, never as a float."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        problems.append(Problem(path, f"a decimal as text expected, got {raw!r}"))
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        problems.append(Problem(path, f"not a number: {raw!r}"))
        return None
    if not value.is_finite() or value <= 0:
        problems.append(Problem(path, f"must be greater than 0, got {raw!r}"))
        return None
    if decimals is not None and value != value.quantize(Decimal(1).scaleb(-decimals)):
        problems.append(Problem(path, f"at most {decimals} decimals, got {raw!r}"))
        return None
    return value


class Retries(BaseModel):
    """How hard a step of the refund flow retries a transient error.

    ``attempts`` in all, waiting ``wait_initial`` seconds, then ``backoff``
    times longer each time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=3, ge=1)
    wait_initial: float = Field(default=0.5, ge=0)
    backoff: float = Field(default=2.0, ge=1)


@dataclass
class RefundToCreditNote:
    """The refund flow's dependencies in this process, and its operator interface.

    One instance is installed per process (:meth:`install`), before the engine
    is launched; it may share the engine, the intake store and the sink with
    the order-to-cash flow. ``on_step(step, phase)`` is told ``"start"`` and
    ``"done"`` of every attempt of a step; ``sleep`` waits between retries.
    """

    engine: FlowEngine
    store: IntakeStore
    adapters: Adapters
    sink: AcknowledgementSink
    retries: Retries = field(default_factory=Retries)
    sleep: Callable[[float], None] = time.sleep
    on_step: Callable[[str, str], None] = lambda step, phase: None

    def install(self) -> RefundToCreditNote:
        """Make this the instance the refund flow's steps use in this process."""
        global _INSTALLED
        _INSTALLED = self
        return self

    @property
    def intake(self) -> Intake:
        return Intake(
            self.store, self.engine, self._start, CanonicalRefund.model_validate
        )

    def submit(self, refund: CanonicalRefund | Mapping[str, Any]) -> Submission:
        """Store the refund and queue its flow; the same key again creates nothing.

        Raises pydantic's ValidationError when the refund lacks its source, its
        id or its order's id, or carries an unknown field.
        """
        return self.intake.submit(refund)

    def _start(self, key: str, partition: str) -> None:
        self.engine.start(refund_to_credit_note, key, partition, key)

    def wait(self, key: str, timeout: float = 60.0) -> IntakeRecord:
        """The intake record of ``key`` once its flow has ended."""
        self.engine.wait(key, timeout)
        return self.store.require(key)

    def replay(self, key: str, step_name: str | None = None) -> None:
        """Run the parked refund ``key`` again from ``step_name`` (default: where
        it parked), keeping the results of the steps before it.

        Raises KeyError for an unknown key, ValueError for a step that is not
        in the flow's journal.
        """
        record = self.store.require(key)
        name = step_name or (record.parking or {}).get("step") or REFUND_STEPS[0]
        positions = {
            journaled.name.rpartition(".")[2]: journaled.number
            for journaled in self.engine.steps(key)
        }
        if name not in positions:
            raise ValueError(f"flow {key!r} has no journaled step {name!r}")
        self.store.set_status(key, IntakeStatus.QUEUED)
        self.engine.replay(key, positions[name], record.partition)


_INSTALLED: RefundToCreditNote | None = None


def _installed() -> RefundToCreditNote:
    if _INSTALLED is None:
        raise RuntimeError("no RefundToCreditNote is installed in this process")
    return _INSTALLED


def _refund(record: IntakeRecord) -> CanonicalRefund:
    return CanonicalRefund.model_validate(record.canonical)


@workflow(FLOW_NAME)
def refund_to_credit_note(key: str) -> dict[str, Any]:
    """The flow of the refund stored under ``key``; its outcome as a dict."""
    for run in (validate, find_invoice, create_credit_note, acknowledge):
        try:
            run(key)
        except FlowParked as parked:
            return park(key, parked.parking)
    return complete(key)


@step(f"{FLOW_NAME}.park")
def park(key: str, parking: dict[str, Any]) -> dict[str, Any]:
    """Record in the intake that the refund ``key`` is parked, and why."""
    return mark_parked(_installed().store, key, parking)


@step(f"{FLOW_NAME}.complete")
def complete(key: str) -> dict[str, Any]:
    """Record in the intake that the refund ``key`` completed."""
    return mark_completed(_installed().store, key)


def _attempts(
    name: str, key: str, body: Callable[[RefundToCreditNote, IntakeRecord], R]
) -> R:
    flow = _installed()
    return attempt_step(flow, flow.retries, name, key, body)


@step(f"{FLOW_NAME}.validate")
def validate(key: str) -> dict[str, Any]:
    """Check the stored refund; what it credits, as journaled text."""
    return _attempts("validate", key, _validate)


def _validate(flow: RefundToCreditNote, record: IntakeRecord) -> dict[str, Any]:
    plan = check_refund(_refund(record), flow.adapters.mapping)
    return {
        "lines": [[ln.ref, ln.sref1, ln.sref2, str(ln.quantity)] for ln in plan.lines],
        "shipping": plan.shipping,
        "amount": None if plan.amount is None else str(plan.amount),
    }


@step(f"{FLOW_NAME}.find_invoice")
def find_invoice(key: str) -> str:
    """The number of the refunded order's invoice; parks while there is none."""
    return _attempts("find_invoice", key, _find_invoice)


def _find_invoice(flow: RefundToCreditNote, record: IntakeRecord) -> str:
    refund = _refund(record)
    order = flow.store.get(refund.order_key)
    number = None if order is None else order.documents.get("invoice")
    if number is None:
        found = find_by_reference(flow.adapters, DocumentKind.INVOICE, refund.order_id)
        number = None if found is None else found.number
    if number is None:
        raise FlowParked(_not_invoiced(refund, order))
    flow.store.add_document(record.key, "invoice", number)
    return number


def _not_invoiced(
    refund: CanonicalRefund, order: IntakeRecord | None
) -> dict[str, Any]:
    where = (
        "is not in the intake"
        if order is None
        else f"is {order.status.value} in the intake"
    )
    return {
        "state": IntakeStatus.TO_RESUME.value,
        "step": "find_invoice",
        "category": "business",
        "code": ORDER_NOT_INVOICED,
        "reason": (
            f"order {refund.order_key} has no invoice yet: it {where}, and the "
            f"ERP has no invoice with your reference '{refund.order_id}'"
        ),
        "suggested_action": SuggestedAction.FIX_DATA_THEN_REPLAY.value,
        "retries_exhausted": False,
    }


@step(f"{FLOW_NAME}.create_credit_note")
def create_credit_note(key: str) -> str:
    """Credit the invoice, unless the ERP has the credit note already; its number."""
    return _attempts("create_credit_note", key, _create_credit_note)


def _create_credit_note(flow: RefundToCreditNote, record: IntakeRecord) -> str:
    refund = _refund(record)
    invoice = record.documents["invoice"]
    note = find_by_reference(
        flow.adapters, DocumentKind.CREDIT_NOTE, refund.external_id
    )
    if note is None:
        note = _create_or_adopt(flow, refund, invoice)
    _check_origin(note, invoice, refund)
    flow.store.add_document(record.key, "credit_note", note.number)
    return note.number


def _create_or_adopt(
    flow: RefundToCreditNote, refund: CanonicalRefund, invoice: str
) -> Document:
    try:
        return _credit(flow.adapters, refund, flow.adapters.invoices.get(invoice))
    except DuplicateReference:
        adopted = find_by_reference(
            flow.adapters, DocumentKind.CREDIT_NOTE, refund.external_id
        )
        if adopted is None:
            raise
        return adopted


def _check_origin(note: Document, invoice: str, refund: CanonicalRefund) -> None:
    """Refuse to adopt a credit note of another invoice that bears our reference."""
    origin = None if note.origin is None else note.origin.number
    if origin != invoice:
        raise DuplicateReference(
            f"your reference '{refund.external_id}' is already used by credit "
            f"note {note.number} of invoice {origin}, not of {invoice}"
        )


def _credit(adapters: Adapters, refund: CanonicalRefund, invoice: Invoice) -> Document:
    """Create the credit note the refund asks for; an amount equal to what
    remains creditable credits every line, like a cancellation."""
    plan = check_refund(refund, adapters.mapping)
    quantities: dict[int, Decimal] | None = None
    if plan.amount is not None and plan.amount != invoice.creditable.amount:
        return _credit_amount(adapters, invoice, plan.amount, refund)
    if plan.lines or plan.shipping:
        quantities = _quantities(adapters, refund, plan, invoice)
    return adapters.invoices.credit_note(
        invoice.number, quantities, reference=refund.external_id
    )


def _quantities(
    adapters: Adapters, refund: CanonicalRefund, plan: RefundPlan, invoice: Invoice
) -> dict[int, Decimal]:
    """Invoice line numbers and quantities to credit; PayloadInvalid if absent."""
    problems: list[Problem] = []
    wanted: dict[int, Decimal] = {}
    for n, line in enumerate(plan.lines):
        number = _line_of(invoice, line.ref, line.sref1, line.sref2)
        if number is None:
            article = "/".join(
                part for part in (line.ref, line.sref1, line.sref2) if part
            )
            problems.append(
                Problem(
                    f"lines[{n}]",
                    f"article '{article}' is not on invoice {invoice.number}",
                )
            )
        else:
            wanted[number] = line.quantity
    if plan.shipping:
        number = _line_of(invoice, adapters.mapping.articles.shipping, "", "")
        if number is None:
            problems.append(
                Problem("shipping", f"invoice {invoice.number} has no shipping line")
            )
        else:
            wanted[number] = invoice.line(number).quantity
    if problems:
        raise PayloadInvalid(f"refund {refund.key}", problems)
    return wanted


def _line_of(invoice: Invoice, ref: str, sref1: str, sref2: str) -> int | None:
    """The first invoice line of the article; a refund line credits that one."""
    for line in invoice.lines:
        if (line.ref, line.sref1, line.sref2) == (ref, sref1, sref2):
            return line.number
    return None


def _credit_amount(
    adapters: Adapters, invoice: Invoice, amount: Decimal, refund: CanonicalRefund
) -> CreditNote:
    """Credit ``amount`` (tax included) as one line at the invoice's VAT rate.

    Raises CreditLimitExceeded above what remains creditable, and
    BusinessRuleRejected when the invoice has several VAT rates: how to split
    the amount between them is a person's decision.
    """
    remaining = invoice.creditable.amount
    if amount > remaining:
        raise CreditLimitExceeded(
            f"credit note beyond invoice {invoice.number}: "
            f"total {invoice.total_including_tax.amount}, "
            f"{remaining} left to credit, asked {amount}",
            remaining=remaining,
            asked=amount,
        )
    rates = {tax.vat_code: tax.rate for tax in invoice.taxes}
    if len(rates) != 1:
        raise BusinessRuleRejected(
            f"an amount refund of invoice {invoice.number} cannot be split over "
            f"its {len(rates)} VAT rates: refund lines instead"
        )
    [(code, rate)] = rates.items()
    base, remainder = _split(amount, rate, adapters.mapping)
    data = _amount_data(adapters, invoice, refund, (base, code), remainder)
    invoices = adapters.invoices
    note = invoices.piece(invoices.run(BusinessAction.CREATE_DOCUMENT, data))
    assert isinstance(note, CreditNote)
    return note


def _split(
    amount: Decimal, rate: Decimal, mapping: MappingProfile
) -> tuple[Decimal, Decimal]:
    """The base whose total with VAT is at most ``amount``, and the cents left.

    The ERP rounds the VAT of the base; the cents it leaves go on a VAT-exempt
    rounding line, so the credit note's total is ``amount`` to the cent.
    """
    cent = Decimal(1).scaleb(-mapping.rounding.decimals)
    base = (amount * 100 / (100 + rate)).quantize(cent, rounding=ROUND_UP)
    while base + mapping.rounding.amount(base * rate / 100) > amount:
        base -= cent
    return base, amount - base - mapping.rounding.amount(base * rate / 100)


def _amount_data(
    adapters: Adapters,
    invoice: Invoice,
    refund: CanonicalRefund,
    credited: tuple[Decimal, str],
    remainder: Decimal,
) -> dict[str, Any]:
    invoices, articles = adapters.invoices, adapters.mapping.articles
    req, group = invoices.req, invoices.group
    base, code = credited
    line = {
        req("ref"): articles.discount,
        req("quantity"): Decimal(1),
        req("gross_price"): base,
        req("vat_code"): code,
    }
    if refund.reason:
        line[req("label")] = refund.reason
    items = [line]
    if remainder > 0:
        items.append(
            {
                req("ref"): articles.rounding,
                req("quantity"): Decimal(1),
                req("gross_price"): remainder,
                req("vat_code"): adapters.mapping.vat.exempt_code,
            }
        )
    return {
        group("header"): {
            req("kind"): adapters.mapping.picod(DocumentKind.CREDIT_NOTE),
            req("origin"): invoice.number,
            req("your_reference"): refund.external_id,
        },
        group("lines"): [{group("line"): item} for item in items],
        group("line_discounts"): [
            {group("line_discount"): {req("line_number"): str(n)}}
            for n in range(1, len(items) + 1)
        ],
    }


@step(f"{FLOW_NAME}.acknowledge")
def acknowledge(key: str) -> None:
    """Tell the source the credit note made for its refund."""
    _attempts("acknowledge", key, _acknowledge)


def _acknowledge(flow: RefundToCreditNote, record: IntakeRecord) -> None:
    refund = _refund(record)
    payload = {
        "source": refund.source,
        "external_id": refund.external_id,
        "order_id": refund.order_id,
        "reason": refund.reason,
        "documents": record.documents,
    }
    flow.sink.acknowledge(record.key, payload)

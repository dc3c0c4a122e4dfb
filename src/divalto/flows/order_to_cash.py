"""The order-to-cash flow: from a stored shop order to an invoice, durably.

Steps, each journaled once done, each reading the order again from the intake
(so that an operator's correction is seen on replay):

1. ``validate``: check the customer and the order, every problem at once;
2. ``upsert_customer``: find the shop's customer by its external reference in
   the ERP, create or update it;
3. ``create_order``: the order (or quote, as the :class:`Fulfilment` says),
   with the shop's order id as "your reference";
4. ``confirm``: the quote becomes an order (nothing to do for an order);
5. ``deliver``: a delivery note for all of it, if the fulfilment says so;
6. ``invoice``: the invoice, from the delivery note or from the order;
7. ``sync_stock``: the stock left of each ordered article;
8. ``acknowledge``: tell the source, through an :class:`AcknowledgementSink`.

Errors are routed by their category (:mod:`divalto.errors`): a transient error
is retried inside the step, a bounded number of times with a growing wait; a
contract or referential error parks the flow ``to_resume`` (fix, then
:meth:`OrderToCash.replay`); a blocking business or an auth error parks it
``escalated``; retries exhausted park it ``to_resume``. A parked flow has ended
for the engine, so its customer's partition goes on with the next order.

No document is created before it is looked for: a step that creates looks the
ERP up by "your reference" (or the quote's transfers) first and adopts what it
finds, so a step run again after a crash or a timeout whose outcome is unknown
makes no twin; the ERP's uniqueness check on "your reference" backs this up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from divalto.adapters import Adapters
from divalto.errors import (
    Category,
    DivaltoError,
    DuplicateReference,
    ReferenceNotFound,
    SuggestedAction,
    TransientError,
)
from divalto.flows.engine import FlowEngine, step, workflow
from divalto.flows.intake import (
    CanonicalOrder,
    Intake,
    IntakeRecord,
    IntakeStatus,
    IntakeStore,
    Submission,
)
from divalto.models import DeliveryNote, Document, DocumentKind
from divalto.services import BusinessAction
from divalto.validation import (
    PayloadInvalid,
    Problem,
    validate_customer,
    validate_order,
)

__all__ = [
    "STEPS",
    "AcknowledgementSink",
    "FileSink",
    "FlowParked",
    "Fulfilment",
    "OrderToCash",
    "RetryPolicy",
    "StepHost",
    "attempt_step",
    "find_by_reference",
]

STEPS = (
    "validate",
    "upsert_customer",
    "create_order",
    "confirm",
    "deliver",
    "invoice",
    "sync_stock",
    "acknowledge",
)
"""The steps of the flow, in the order they run."""

FLOW_NAME = "divalto.order_to_cash"


class Fulfilment(BaseModel):
    """What the flow makes of an order, and how hard it retries.

    ``create_as`` ``quote`` creates a quote that the ``confirm`` step turns
    into an order. ``invoice`` without ``deliver`` invoices the order directly.
    A transient error is tried ``attempts`` times in all, waiting
    ``wait_initial`` seconds, then ``backoff`` times longer each time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    create_as: Literal["order", "quote"] = "order"
    deliver: bool = True
    invoice: bool = True
    attempts: int = Field(default=3, ge=1)
    wait_initial: float = Field(default=0.5, ge=0)
    backoff: float = Field(default=2.0, ge=1)


class AcknowledgementSink(Protocol):
    """Where a flow tells its source what became of an order."""

    def acknowledge(self, key: str, payload: dict[str, Any]) -> None:
        """Deliver ``payload`` for ``key``; delivering it twice must be harmless."""


@dataclass
class FileSink:
    """Acknowledgements as JSON lines in a file, at most one line per key.

    Safe for one writing process; a line already written for the key is not
    written again.
    """

    path: Path

    def acknowledge(self, key: str, payload: dict[str, Any]) -> None:
        if key in self.keys():
            return
        line = json.dumps({"key": key, **payload}, default=str, sort_keys=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")

    def keys(self) -> set[str]:
        """The keys acknowledged so far."""
        return {entry["key"] for entry in self.entries()}

    def entries(self) -> list[dict[str, Any]]:
        """Every acknowledgement written, in order."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


class FlowParked(Exception):
    """A step gave up: ``parking`` says why, what to do and where to resume.

    Its only argument is a plain dict, so the engine can journal it.
    """

    def __init__(self, parking: dict[str, Any]) -> None:
        super().__init__(parking)
        self.parking = parking


@dataclass
class OrderToCash:
    """The flow's dependencies in this process, and its operator interface.

    One instance is installed per process (:meth:`install`), before the engine
    is launched: the engine's steps find the adapters, the intake and the sink
    through it. ``on_step(step, phase)`` is told ``"start"`` and ``"done"`` of
    every attempt of a step, for telemetry and tests; ``sleep`` waits between
    retries.
    """

    engine: FlowEngine
    store: IntakeStore
    adapters: Adapters
    sink: AcknowledgementSink
    fulfilment: Fulfilment = field(default_factory=Fulfilment)
    sleep: Callable[[float], None] = time.sleep
    on_step: Callable[[str, str], None] = lambda step, phase: None

    def install(self) -> OrderToCash:
        """Make this the instance the flow's steps use in this process."""
        global _INSTALLED
        _INSTALLED = self
        return self

    @property
    def intake(self) -> Intake:
        return Intake(self.store, self.engine, self._start)

    def submit(self, order: CanonicalOrder | dict[str, Any]) -> Submission:
        """Store the order and queue its flow; the same key again creates nothing."""
        return self.intake.submit(order)

    def _start(self, key: str, partition: str) -> None:
        self.engine.start(order_to_cash, key, partition, key)

    def wait(self, key: str, timeout: float = 60.0) -> IntakeRecord:
        """The intake record of ``key`` once its flow has ended."""
        self.engine.wait(key, timeout)
        return self.store.require(key)

    def replay(self, key: str, step_name: str | None = None) -> None:
        """Run the parked flow ``key`` again from ``step_name`` (default: where
        it parked), keeping the results of the steps before it.

        Raises KeyError for an unknown key, ValueError for a step that is not
        in the flow's journal.
        """
        record = self.store.require(key)
        name = step_name or (record.parking or {}).get("step") or STEPS[0]
        number = self._journal_position(key, name)
        self.store.set_status(key, IntakeStatus.QUEUED)
        self.engine.replay(key, number, record.partition)

    def _journal_position(self, key: str, name: str) -> int:
        positions = {
            journaled.name.rpartition(".")[2]: journaled.number
            for journaled in self.engine.steps(key)
        }
        if name not in positions:
            raise ValueError(f"flow {key!r} has no journaled step {name!r}")
        return positions[name]

    def cancel(self, key: str) -> None:
        """Stop the flow ``key`` at its next step and mark it cancelled."""
        self.engine.cancel(key)
        self.store.set_status(key, IntakeStatus.CANCELLED)


_INSTALLED: OrderToCash | None = None


def _installed() -> OrderToCash:
    if _INSTALLED is None:
        raise RuntimeError("no OrderToCash is installed in this process")
    return _INSTALLED


@workflow(FLOW_NAME)
def order_to_cash(key: str) -> dict[str, Any]:
    """The flow of the order stored under ``key``; its outcome as a dict."""
    for run in _STEP_FUNCTIONS:
        try:
            run(key)
        except FlowParked as parked:
            return park(key, parked.parking)
    return complete(key)


@step(f"{FLOW_NAME}.park")
def park(key: str, parking: dict[str, Any]) -> dict[str, Any]:
    """Record in the intake that the flow of ``key`` is parked, and why."""
    return mark_parked(_installed().store, key, parking)


@step(f"{FLOW_NAME}.complete")
def complete(key: str) -> dict[str, Any]:
    """Record in the intake that the flow of ``key`` completed."""
    return mark_completed(_installed().store, key)


def mark_parked(
    store: IntakeStore, key: str, parking: dict[str, Any]
) -> dict[str, Any]:
    """Set ``key`` parked in ``parking["state"]`` with its reason; the outcome."""
    store.set_status(key, IntakeStatus(parking["state"]), parking)
    return parking


def mark_completed(store: IntakeStore, key: str) -> dict[str, Any]:
    """Set ``key`` completed; the outcome: its state and its ERP documents."""
    store.set_status(key, IntakeStatus.COMPLETED)
    return {"state": IntakeStatus.COMPLETED.value, **store.require(key).documents}


def _attempts(
    name: str, key: str, body: Callable[[OrderToCash, IntakeRecord], Any]
) -> Any:
    flow = _installed()
    return attempt_step(flow, flow.fulfilment, name, key, body)


class RetryPolicy(Protocol):
    """How often a step tries again after a transient error, and how long it waits."""

    @property
    def attempts(self) -> int: ...

    @property
    def wait_initial(self) -> float: ...

    @property
    def backoff(self) -> float: ...


class StepHost(Protocol):
    """What a step's retry loop needs of its flow: the intake, a sleep, an observer."""

    @property
    def store(self) -> IntakeStore: ...

    @property
    def sleep(self) -> Callable[[float], None]: ...

    @property
    def on_step(self) -> Callable[[str, str], None]: ...


H = TypeVar("H", bound=StepHost)
R = TypeVar("R")


def attempt_step(
    flow: H,
    retries: RetryPolicy,
    name: str,
    key: str,
    body: Callable[[H, IntakeRecord], R],
) -> R:
    """Run ``body`` on the intake record of ``key``, routing its errors.

    A retryable transient error is tried again, ``retries.attempts`` times in
    all, the record read afresh each time; any other :class:`DivaltoError`, or
    the last transient one, raises :class:`FlowParked` with the parking.
    """
    attempt, wait = 1, retries.wait_initial
    while True:
        record = flow.store.require(key)
        flow.on_step(name, "start")
        try:
            result = body(flow, record)
        except TransientError as exc:
            if attempt >= retries.attempts or not exc.retryable:
                raise FlowParked(_parking(name, exc, exhausted=True)) from exc
            flow.sleep(wait)
            attempt, wait = attempt + 1, wait * retries.backoff
            continue
        except DivaltoError as exc:
            raise FlowParked(_parking(name, exc)) from exc
        flow.on_step(name, "done")
        return result


def _parking(
    name: str, exc: DivaltoError, *, exhausted: bool = False
) -> dict[str, Any]:
    state = _parked_state(exc, exhausted=exhausted)
    action = _suggested_action(exc, exhausted=exhausted)
    return {
        "state": state.value,
        "step": name,
        "category": exc.category.value,
        "code": exc.code,
        "reason": exc.message,
        "suggested_action": action.value,
        "retries_exhausted": exhausted,
    }


def _suggested_action(exc: DivaltoError, *, exhausted: bool) -> SuggestedAction:
    """What to do of a parked flow: a transient cause is waited out, not fixed.

    Retries exhausted on a transient error (the ERP down or overloaded) say
    ``retry later``: replay once the ERP answers again, nothing to correct.
    Any other error that used up its retries says ``fix data then replay``.
    """
    if exhausted and exc.category is Category.TRANSIENT:
        return SuggestedAction.RETRY_LATER
    if exhausted:
        return SuggestedAction.FIX_DATA_THEN_REPLAY
    return exc.suggested_action


def _parked_state(exc: DivaltoError, *, exhausted: bool) -> IntakeStatus:
    if exhausted or exc.category is Category.CONTRACT:
        return IntakeStatus.TO_RESUME
    if exc.suggested_action is SuggestedAction.FIX_DATA_THEN_REPLAY:
        return IntakeStatus.TO_RESUME
    return IntakeStatus.ESCALATED


@step(f"{FLOW_NAME}.validate")
def validate(key: str) -> dict[str, Any]:
    """Check the stored customer and order; enrich with the shop's reference."""
    return _attempts("validate", key, _validate)  # type: ignore[no-any-return]


def _validate(flow: OrderToCash, record: IntakeRecord) -> dict[str, Any]:
    order = record.order()
    problems: list[Problem] = []
    try:
        validate_customer(_shop_customer(order), flow.adapters.mapping)
    except PayloadInvalid as exc:
        problems += [Problem(f"customer.{p.path}", p.message) for p in exc.problems]
    try:
        validate_order(_order_request(order, order.partition), flow.adapters.mapping)
    except PayloadInvalid as exc:
        problems += [Problem(f"order.{p.path}", p.message) for p in exc.problems]
    if problems:
        raise PayloadInvalid(f"order {order.key}", problems)
    return {"your_reference": order.external_id, "plan": _plan(flow.fulfilment)}


def _plan(fulfilment: Fulfilment) -> list[str]:
    wanted = {
        "confirm": fulfilment.create_as == "quote",
        "deliver": fulfilment.deliver,
        "invoice": fulfilment.invoice,
    }
    return [name for name in STEPS if wanted.get(name, True)]


def _shop_customer(order: CanonicalOrder) -> dict[str, Any]:
    return {**order.customer, "source": order.source}


def _order_request(order: CanonicalOrder, customer: str) -> dict[str, Any]:
    return {**order.order, "customer": customer, "your_reference": order.external_id}


@step(f"{FLOW_NAME}.upsert_customer")
def upsert_customer(key: str) -> str:
    """Create or update the shop's customer in the ERP; its code."""
    return _attempts("upsert_customer", key, _upsert_customer)  # type: ignore[no-any-return]


def _upsert_customer(flow: OrderToCash, record: IntakeRecord) -> str:
    customer = flow.adapters.customers.upsert(_shop_customer(record.order()))
    flow.store.add_document(record.key, "customer", customer.code)
    return customer.code


@step(f"{FLOW_NAME}.create_order")
def create_order(key: str) -> str:
    """Create the order (or quote), unless the ERP has it already; its number."""
    return _attempts("create_order", key, _create_order)  # type: ignore[no-any-return]


def _create_order(flow: OrderToCash, record: IntakeRecord) -> str:
    order = record.order()
    kind = DocumentKind(flow.fulfilment.create_as)
    existing = _find_by_reference(flow, kind, order.external_id)
    if existing is None:
        existing = _create_or_adopt(flow, record, kind)
    flow.store.add_document(record.key, kind.value, existing.number)
    return existing.number


def _create_or_adopt(
    flow: OrderToCash, record: IntakeRecord, kind: DocumentKind
) -> Document:
    order = record.order()
    request = _order_request(order, record.documents["customer"])
    try:
        return flow.adapters.orders.create(request, kind=kind)
    except DuplicateReference:
        adopted = _find_by_reference(flow, kind, order.external_id)
        if adopted is None:
            raise
        return adopted


def _find_by_reference(
    flow: OrderToCash, kind: DocumentKind, reference: str
) -> Document | None:
    return find_by_reference(flow.adapters, kind, reference)


def find_by_reference(
    adapters: Adapters, kind: DocumentKind, reference: str
) -> Document | None:
    """The oldest ERP document of ``kind`` with "your reference" ``reference``."""
    orders = adapters.orders
    header = {
        orders.req("your_reference"): reference,
        orders.req("kind"): adapters.mapping.picod(kind),
    }
    try:
        response = orders.run(
            BusinessAction.DOCUMENT_STATE, {orders.group("header"): header}
        )
    except ReferenceNotFound:
        return None
    return orders.piece(response)


@step(f"{FLOW_NAME}.confirm")
def confirm(key: str) -> str:
    """Turn the quote into an order (again: the same order); the order's number."""
    return _attempts("confirm", key, _confirm)  # type: ignore[no-any-return]


def _confirm(flow: OrderToCash, record: IntakeRecord) -> str:
    documents = record.documents
    if flow.fulfilment.create_as == "order":
        return documents["order"]
    number = flow.adapters.orders.confirm(documents["quote"]).number
    flow.store.add_document(record.key, "order", number)
    return number


@step(f"{FLOW_NAME}.deliver")
def deliver(key: str) -> str | None:
    """Deliver all of the order, unless done or not wanted; the note's number."""
    return _attempts("deliver", key, _deliver)  # type: ignore[no-any-return]


def _deliver(flow: OrderToCash, record: IntakeRecord) -> str | None:
    if not flow.fulfilment.deliver:
        return None
    order = flow.adapters.orders.get(record.documents["order"])
    made = _made(order, DocumentKind.DELIVERY)
    number = made or flow.adapters.orders.deliver(order.number).number
    flow.store.add_document(record.key, "delivery", number)
    return number


@step(f"{FLOW_NAME}.invoice")
def invoice(key: str) -> str | None:
    """Invoice the delivery note (or the order), unless done; the invoice's number."""
    return _attempts("invoice", key, _invoice)  # type: ignore[no-any-return]


def _invoice(flow: OrderToCash, record: IntakeRecord) -> str | None:
    if not flow.fulfilment.invoice:
        return None
    invoices, documents = flow.adapters.invoices, record.documents
    source: Document
    if "delivery" in documents:
        number = documents["delivery"]
        source = invoices.read(DocumentKind.DELIVERY, number, DeliveryNote)
    else:
        source = flow.adapters.orders.get(documents["order"])
    made = _made(source, DocumentKind.INVOICE)
    number = made or invoices.transfer(source, DocumentKind.INVOICE).number
    flow.store.add_document(record.key, "invoice", number)
    return number


def _made(source: Document, kind: DocumentKind) -> str | None:
    """The document of ``kind`` that ``source`` was already transferred into."""
    made = [ref.number for ref in source.transferred_into if ref.kind is kind]
    return made[0] if made else None


@step(f"{FLOW_NAME}.sync_stock")
def sync_stock(key: str) -> dict[str, str]:
    """The stock available now of each ordered article, summed over depots."""
    return _attempts("sync_stock", key, _sync_stock)  # type: ignore[no-any-return]


def _sync_stock(flow: OrderToCash, record: IntakeRecord) -> dict[str, str]:
    refs = sorted({str(line["ref"]) for line in record.order().order["lines"]})
    levels: dict[str, str] = {}
    for ref in refs:
        available = sum(
            (level.available for level in flow.adapters.stock.levels(ref)),
            Decimal(0),
        )
        levels[ref] = str(available)
    return levels


@step(f"{FLOW_NAME}.acknowledge")
def acknowledge(key: str) -> None:
    """Tell the source the ERP's documents for its order."""
    _attempts("acknowledge", key, _acknowledge)


def _acknowledge(flow: OrderToCash, record: IntakeRecord) -> None:
    order = record.order()
    payload = {
        "source": order.source,
        "external_id": order.external_id,
        "documents": record.documents,
    }
    flow.sink.acknowledge(record.key, payload)


_STEP_FUNCTIONS: tuple[Callable[[str], Any], ...] = (
    validate,
    upsert_customer,
    create_order,
    confirm,
    deliver,
    invoice,
    sync_stock,
    acknowledge,
)

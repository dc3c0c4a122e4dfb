"""The operator's view of the flows: list, show, correct, replay, cancel, recover,
reconcile.

An :class:`Operator` joins what the intake knows of an order or a refund (its
status, ERP documents, why it is parked) with what the engine's journal knows of
its flow (engine state, executor, partition, each step's timing and error). It
runs no flow itself: it works through a
:class:`~divalto.flows.engine.FlowClient`, and the workers run what it queues.

States: the intake's statuses (``received``, ``queued``, ``completed``,
``to_resume``, ``escalated``, ``cancelled``) and the engine's (``ENQUEUED``,
``PENDING``, ``SUCCESS``, ``ERROR``, ``CANCELLED``...). A parked flow has ended
for the engine (``SUCCESS``) and is ``to_resume`` or ``escalated`` in the intake.

Orders (``order:<source>:<id>``, partitioned by customer) and refunds
(``refund:<source>:<id>``, partitioned by their order's key) are handled alike:
the journal knows which flow each key runs, and a replay puts it back on the
queue in the partition its intake record names.

A parked flow whose data must be fixed is corrected with :meth:`Operator.correct`
(the canonical payload :meth:`Operator.show` gives, edited) and replayed.

Every refusal raises :class:`OperatorError` with a message for a person.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic

from divalto.adapters import Adapters
from divalto.errors import ReferenceNotFound
from divalto.flows.engine import ENDED, FlowClient, FlowInfo, StepRecord
from divalto.flows.intake import (
    CanonicalOrder,
    IntakeRecord,
    IntakeStatus,
    IntakeStore,
)
from divalto.flows.order_to_cash import find_by_reference
from divalto.flows.refund import CanonicalRefund
from divalto.models import DocumentKind

__all__ = [
    "CORRECTABLE",
    "ENGINE_STATES",
    "Difference",
    "FlowDetail",
    "FlowSummary",
    "Operator",
    "OperatorError",
    "StepView",
    "plain",
]

ENGINE_STATES = (
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
)
"""The engine states a flow can be listed by."""

CORRECTABLE = (IntakeStatus.TO_RESUME, IntakeStatus.ESCALATED)
"""The intake statuses of a flow whose data may be corrected: the parked ones."""

_CHECKED_DOCUMENTS = {
    "delivery": DocumentKind.DELIVERY,
    "invoice": DocumentKind.INVOICE,
}


class OperatorError(Exception):
    """An operator's request that cannot be done; the message says why."""


@dataclass(frozen=True)
class FlowSummary:
    """One flow in a list: both its states, where it runs, why it is parked."""

    key: str
    status: str | None
    engine_state: str | None
    partition: str | None
    executor_id: str | None
    updated_at: str | None
    reason: str | None


@dataclass(frozen=True)
class StepView:
    """One journaled step: short name, when it ran, how long, its error.

    ``error`` is for a person (``category/code: reason`` when the step parked
    the flow); ``parking`` is the parking the step raised, as data, if any.
    """

    number: int
    name: str
    started_at: str | None
    duration_ms: int | None
    error: str | None
    parking: dict[str, Any] | None
    output: Any


@dataclass(frozen=True)
class FlowDetail:
    """Everything known of one flow, from the intake and from the journal."""

    key: str
    status: str | None
    engine_state: str | None
    partition: str | None
    executor_id: str | None
    queue: str | None
    documents: dict[str, str]
    parking: dict[str, Any] | None
    error: str | None
    created_at: str | None
    updated_at: str | None
    steps: list[StepView]
    canonical: dict[str, Any] | None
    """The stored order or refund (corrections included): what
    :meth:`Operator.correct` takes back, edited."""


@dataclass(frozen=True)
class Difference:
    """A disagreement between the intake and the ERP about one document.

    ``kind``: ``missing_in_erp`` (the intake names a document the ERP does not
    have), ``number_differs`` (the ERP's document under the shop's reference
    is another one), ``not_in_intake`` (the ERP has a document under the
    shop's reference that the intake does not name). The reference is the
    shop's order id for an order, its refund id for a credit note.
    """

    key: str
    kind: str
    document: str
    intake: str | None
    erp: str | None


def plain(value: Any) -> Any:
    """``value`` (a result of the operator, or a list of them) as JSON-ready data."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class Operator:
    """The flows of one journal and intake, seen and steered by a person.

    ``adapters`` (an ERP connection) is needed by :meth:`reconcile` only.
    """

    def __init__(
        self,
        client: FlowClient,
        store: IntakeStore,
        adapters: Adapters | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.adapters = adapters

    def list_flows(self, state: str | None = None) -> list[FlowSummary]:
        """Every flow, oldest first, in intake status or engine ``state`` if given.

        Raises OperatorError for a state that is neither.
        """
        matches = _state_filter(state)
        engine = {info.key: info for info in self.client.flows()}
        summaries = [
            _summary(record, engine.pop(record.key, None))
            for record in self.store.records()
        ]
        summaries += [_summary(None, info) for info in engine.values()]
        return [summary for summary in summaries if matches(summary)]

    def show(self, key: str) -> FlowDetail:
        """The flow ``key`` with its steps; raises OperatorError for an unknown key."""
        record, info = self._find(key)
        steps = self.client.steps(key) if info is not None else []
        return FlowDetail(
            key=key,
            status=None if record is None else record.status.value,
            engine_state=None if info is None else info.state,
            partition=_partition(record, info),
            executor_id=None if info is None else info.executor_id,
            queue=None if info is None else info.queue,
            documents={} if record is None else record.documents,
            parking=None if record is None else record.parking,
            error=None if info is None else info.error,
            created_at=None if record is None else record.created_at,
            updated_at=None if record is None else record.updated_at,
            steps=[_step_view(step) for step in steps],
            canonical=None if record is None else record.canonical,
        )

    def correct(
        self, key: str, payload: dict[str, Any], replay: bool = False
    ) -> int | None:
        """Store ``payload`` as the corrected order or refund of the parked
        flow ``key``; with ``replay``, run the flow again.

        ``payload`` is the canonical shape :meth:`show` gives (``canonical``).
        It must name the same item (source and external id) and the same
        partition (the customer of an order, the order of a refund): a
        correction fixes an item's data, it does not move it. Only a parked
        flow (``to_resume`` or ``escalated``) is corrected: a completed one has
        used its data, a queued or running one may be reading it.

        The replay starts at ``validate``, not at the parked step: the corrected
        payload is checked again, and the steps between look up what they made
        before creating anything, so they make no twin. Returns the journal
        position replayed from (None without ``replay``). Raises OperatorError
        for an unknown key, a flow not parked, or a payload that is not a
        canonical item of that key.
        """
        record = self.store.get(key)
        if record is None:
            raise OperatorError(f"no intake record under {key}: nothing to correct")
        if record.status not in CORRECTABLE:
            raise OperatorError(
                f"flow {key} is {record.status.value}: only a parked flow "
                "(to_resume or escalated) can be corrected"
            )
        item = _canonical(key, record.kind, payload)
        if item.key != key:
            raise OperatorError(
                f"the correction is for {item.key}, not {key}: source and "
                "external_id must stay as they are"
            )
        partition = item.partition
        if partition != record.partition:
            raise OperatorError(
                f"the correction of {key} moves it from partition "
                f"{record.partition} to {partition}: a correction cannot change "
                "the customer of an order or the order of a refund"
            )
        self.store.correct(key, item)
        if not replay:
            return None
        return self.replay(key, "validate")

    def replay(self, key: str, from_step: str | None = None) -> int:
        """Run the ended flow ``key`` again from step ``from_step`` (default: the
        step it parked at), on its queue and in its customer's partition.

        The steps before it keep their journaled results; the intake record goes
        back to ``queued``. Returns the journal position replayed from. Raises
        OperatorError for an unknown key, a flow not ended (it is queued or
        running), or a step not in its journal.
        """
        record, info = self._find(key)
        if info is None or info.state not in ENDED:
            state = "unknown to the engine" if info is None else info.state
            raise OperatorError(f"flow {key} cannot be replayed: it is {state}")
        name = from_step or _parked_step(record)
        position = _position(key, name, self.client.steps(key))
        if record is not None:
            self.store.set_status(key, IntakeStatus.QUEUED)
        self.client.replay(key, position, _partition(record, info) or "")
        return position

    def cancel(self, key: str) -> None:
        """Stop the flow ``key`` and mark it ``cancelled`` in the intake.

        Raises OperatorError for an unknown key or a completed flow.
        """
        record, info = self._find(key)
        if record is not None and record.status is IntakeStatus.COMPLETED:
            raise OperatorError(f"flow {key} has completed: nothing to cancel")
        if info is not None:
            self.client.cancel(key)
        if record is not None:
            self.store.set_status(key, IntakeStatus.CANCELLED)

    def recover(self, executor_id: str) -> list[str]:
        """Put back on the queue the flows left running by worker ``executor_id``.

        Only for a worker gone for good: a live worker's flow would then run
        twice at once. Returns the keys put back (none: nothing was left).
        """
        return self.client.recover([executor_id])

    def reconcile(self) -> list[Difference]:
        """Compare each order and refund of the intake with the ERP; the
        differences found.

        Looks up an order by the shop's order id as "your reference", and each
        delivery note and invoice the intake names, by number; a refund's credit
        note by the refund id as "your reference", and the invoice it credits,
        by number. Raises
        OperatorError without an ERP connection, and the adapters' errors when
        the ERP cannot be reached.
        """
        if self.adapters is None:
            raise OperatorError("reconcile needs an ERP connection (a profile)")
        differences: list[Difference] = []
        for record in self.store.records():
            if record.kind == "order":
                differences += _order_differences(self.adapters, record)
            elif record.kind == "refund":
                differences += _refund_differences(self.adapters, record)
        return differences

    def _find(self, key: str) -> tuple[IntakeRecord | None, FlowInfo | None]:
        record, info = self.store.get(key), self.client.get(key)
        if record is None and info is None:
            raise OperatorError(f"no flow under {key}")
        return record, info


def _state_filter(state: str | None) -> Any:
    if state is None:
        return lambda summary: True
    statuses = {status.value for status in IntakeStatus}
    if state in statuses:
        return lambda summary: summary.status == state
    if state.upper() in ENGINE_STATES:
        return lambda summary: summary.engine_state == state.upper()
    known = ", ".join([*sorted(statuses), *ENGINE_STATES])
    raise OperatorError(f"unknown state {state!r}; known states: {known}")


def _summary(record: IntakeRecord | None, info: FlowInfo | None) -> FlowSummary:
    parking = None if record is None else record.parking
    return FlowSummary(
        key=record.key if record is not None else info.key if info else "",
        status=None if record is None else record.status.value,
        engine_state=None if info is None else info.state,
        partition=_partition(record, info),
        executor_id=None if info is None else info.executor_id,
        updated_at=None if record is None else record.updated_at,
        reason=None if parking is None else parking.get("reason"),
    )


def _partition(record: IntakeRecord | None, info: FlowInfo | None) -> str | None:
    if record is not None:
        return record.partition
    return None if info is None else info.partition


def _step_view(step: StepRecord) -> StepView:
    started, completed = step.started_ms, step.completed_ms
    duration = None
    if started is not None and completed is not None:
        duration = completed - started
    parking = _parking_of(step.error)
    return StepView(
        number=step.number,
        name=_short(step.name),
        started_at=None if started is None else _iso(started),
        duration_ms=duration,
        error=step.error if parking is None else parking_text(parking),
        parking=parking,
        output=step.output,
    )


def parking_text(parking: dict[str, Any]) -> str:
    """A parking for a person: ``category/code: reason``, or ``code: reason``
    when the code already starts with its category (``business.price_mismatch``).
    """
    category = str(parking.get("category") or "unknown")
    code = str(parking.get("code") or "unknown")
    reason = parking.get("reason") or "(no reason given)"
    named = code if code.startswith(f"{category}.") else f"{category}/{code}"
    return f"{named}: {reason}"


def _parking_of(error: str | None) -> dict[str, Any] | None:
    """The parking dict a step raised, from the text the journal keeps of it.

    A step that parks raises ``FlowParked`` with the parking as its only
    argument, and the journal keeps the exception's text: that dict's repr.
    Literals only are read back (no code runs); any other error is None.
    """
    if error is None or not (error.startswith("{") and error.endswith("}")):
        return None
    try:
        value = ast.literal_eval(error)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict) or "reason" not in value:
        return None
    return value


def _canonical(key: str, kind: str, payload: Any) -> CanonicalOrder | CanonicalRefund:
    if not isinstance(payload, dict):
        raise OperatorError(
            f"the correction of {key} must be a JSON object, not "
            f"{type(payload).__name__}"
        )
    model: type[CanonicalOrder] | type[CanonicalRefund]
    model = CanonicalRefund if kind == "refund" else CanonicalOrder
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(payload)'}: "
            f"{error['msg']}"
            for error in exc.errors()
        )
        raise OperatorError(
            f"the correction of {key} is not a canonical {kind}: {problems}"
        ) from None


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds")


def _parked_step(record: IntakeRecord | None) -> str:
    parking = None if record is None else record.parking
    if parking is None or "step" not in parking:
        raise OperatorError("the flow is not parked: name the step to replay from")
    return str(parking["step"])


def _position(key: str, name: str, steps: list[StepRecord]) -> int:
    for step in steps:
        if name in (step.name, _short(step.name)):
            return step.number
    journaled = ", ".join(_short(step.name) for step in steps) or "none"
    raise OperatorError(
        f"flow {key} has no journaled step {name!r}; journaled: {journaled}"
    )


def _order_differences(adapters: Adapters, record: IntakeRecord) -> list[Difference]:
    recorded = record.documents.get("order")
    found = adapters.orders.find_by_reference(record.order().external_id)
    erp = None if found is None else found.number
    differences: list[Difference] = []
    if recorded != erp:
        kind = _order_disagreement(recorded, erp)
        differences.append(Difference(record.key, kind, "order", recorded, erp))
    for name, kind in _CHECKED_DOCUMENTS.items():
        number = record.documents.get(name)
        if number is not None and not _exists(adapters, kind, number):
            differences.append(
                Difference(record.key, "missing_in_erp", name, number, None)
            )
    return differences


def _refund_differences(adapters: Adapters, record: IntakeRecord) -> list[Difference]:
    refund = CanonicalRefund.model_validate(record.canonical)
    recorded = record.documents.get("credit_note")
    found = find_by_reference(adapters, DocumentKind.CREDIT_NOTE, refund.external_id)
    erp = None if found is None else found.number
    differences: list[Difference] = []
    if recorded != erp:
        kind = _order_disagreement(recorded, erp)
        differences.append(Difference(record.key, kind, "credit_note", recorded, erp))
    invoice = record.documents.get("invoice")
    if invoice is not None and not _exists(adapters, DocumentKind.INVOICE, invoice):
        differences.append(
            Difference(record.key, "missing_in_erp", "invoice", invoice, None)
        )
    return differences


def _order_disagreement(recorded: str | None, erp: str | None) -> str:
    if recorded is None:
        return "not_in_intake"
    return "missing_in_erp" if erp is None else "number_differs"


def _exists(adapters: Adapters, kind: DocumentKind, number: str) -> bool:
    try:
        adapters.orders.document(kind, number)
    except ReferenceNotFound:
        return False
    return True

"""One sync run: every item read goes through its flow, and each outcome is told.

:class:`SyncRun` launches the durable engine in this process on a local journal
(a SQLite file), installs the order-to-cash and refund flows over one ERP
client, and submits the items of a :class:`~divalto.sources.base.ReadResult`:
orders first, then, once every order has ended, refunds (a refund credits its
order's invoice, which must exist by then). It waits until each flow has ended,
or until none has ended for ``deadline`` seconds, and returns a
:class:`SyncOutcome`.

Submissions are idempotent: an item whose key the journal holds already starts
nothing. What the journal said of each key before the run is kept on its
outcome (``prior``): an item that had ended is *already done*; one an
interrupted run left unfinished is *resumed* (the engine recovers the flows of
its executor at launch) and waited for like a new one. A parked item whose input
now reads differently is *corrected*: the new payload is stored and its flow
replayed; a completed item whose input changed is only told (*changed*).

A run stops early when ``stop`` (a :class:`threading.Event`) is set, as the
command does on SIGINT or SIGTERM: it submits nothing more, stops waiting, and
the items not ended are reported unfinished (they resume on the next run).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows.engine import EngineConfig, FlowEngine, prepare_journal, sqlite_url
from divalto.flows.intake import CanonicalOrder, IntakeStatus, IntakeStore
from divalto.flows.order_to_cash import FileSink, Fulfilment, OrderToCash
from divalto.flows.refund import (
    ORDER_NOT_INVOICED,
    CanonicalRefund,
    RefundToCreditNote,
)
from divalto.mapping import MappingProfile
from divalto.settings import Profile
from divalto.sources.base import Item, ReadResult

__all__ = [
    "ENDED_STATUSES",
    "ItemOutcome",
    "SyncOptions",
    "SyncOutcome",
    "SyncRun",
]

ENDED_STATUSES = frozenset(
    {
        IntakeStatus.COMPLETED.value,
        IntakeStatus.TO_RESUME.value,
        IntakeStatus.ESCALATED.value,
        IntakeStatus.CANCELLED.value,
    }
)
"""Intake statuses of an item whose flow has ended: done, parked or cancelled."""

FAILED = "failed"
"""An item whose flow stopped on an error no step routed (a defect): lost."""
UNFINISHED = "unfinished"
"""An item whose flow had not ended when the run stopped waiting: lost for this
run (its flow resumes on the next one)."""

EXECUTOR_ID = "divalto-sync"
"""The engine's executor id: the same on every run, so that a run takes up
the flows an interrupted run left unfinished."""

_POLL_SECONDS = 0.2
_ENGINE_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class SyncOptions:
    """Where a run keeps its journal, how many flows at once, how long it waits.

    ``deadline`` is how long, in seconds, the run waits while no flow ends
    before it gives up on those still running. It bounds a stall, not the run:
    one customer's orders run one at a time, and a customer with many large
    orders can keep a run busy for minutes while it progresses.
    """

    journal: Path
    acknowledgements: Path
    concurrency: int = 16
    deadline: float = 300.0
    fulfilment: Fulfilment = field(default_factory=Fulfilment)
    polling_interval: float = 0.1

    @property
    def database_url(self) -> str:
        return sqlite_url(self.journal)


@dataclass
class ItemOutcome:
    """What became of one item: its status, its ERP documents, why it is parked.

    ``new`` is false for an item the journal knew before this run (its flow was
    not started again); ``prior`` is the intake status the journal had for it
    before this run (None: unknown); ``corrected`` says that its flow was parked
    and replayed on the payload read now, which differed; ``retried`` that it is
    a refund parked until its order was invoiced, replayed now that the order
    has completed; ``changed`` that it had
    completed on a payload that differs from the one read now (left as it is).
    ``status`` is an intake status, :data:`FAILED` or :data:`UNFINISHED`;
    ``error`` is the engine's error of a failed flow.
    """

    item: Item
    status: str = IntakeStatus.RECEIVED.value
    new: bool = True
    duplicate: bool = False
    prior: str | None = None
    corrected: bool = False
    retried: bool = False
    changed: bool = False
    documents: dict[str, str] = field(default_factory=dict)
    parking: dict[str, Any] | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def kind(self) -> str:
        return "order" if isinstance(self.item.canonical, CanonicalOrder) else "refund"

    def made(self, kind: str) -> bool:
        """Whether the document ``kind`` is one this item's flow makes.

        An order's flow makes its documents, not its customer; a refund's flow
        makes the credit note, not the invoice it finds.
        """
        return kind == "credit_note" if self.kind == "refund" else kind != "customer"

    @property
    def lost(self) -> bool:
        """Whether the item ended neither completed, parked nor cancelled."""
        return self.status not in ENDED_STATUSES

    @property
    def already_done(self) -> bool:
        """Whether its flow had ended before this run on the payload read now
        (not replayed, not changed since)."""
        replayed = self.corrected or self.retried
        return self.prior in ENDED_STATUSES and not (replayed or self.changed)

    @property
    def resumed(self) -> bool:
        """Whether an interrupted run had left its flow unfinished."""
        return self.prior is not None and self.prior not in ENDED_STATUSES

    @property
    def ran(self) -> bool:
        """Whether its flow ran in this run: new, resumed, corrected or retried."""
        ended = self.prior in ENDED_STATUSES
        replayed = self.corrected or self.retried
        return not self.duplicate and (not ended or replayed)


@dataclass
class SyncOutcome:
    """The outcome of every item, in input order (orders, then refunds)."""

    outcomes: list[ItemOutcome]
    duration_s: float
    interrupted: str | None = None
    """The signal's name (``SIGINT``, ``SIGTERM``) when one stopped the run."""

    @property
    def lost(self) -> list[ItemOutcome]:
        """The items lost (a repeat of a key is told once, by its first item)."""
        return [o for o in self.outcomes if o.lost and not o.duplicate]

    @property
    def unfinished(self) -> list[ItemOutcome]:
        """The items whose flow had not ended when the run stopped waiting."""
        return [o for o in self.lost if o.status == UNFINISHED]

    def new_documents(self) -> Counter[str]:
        """ERP documents of the items whose flow ran in this run, per kind.

        An estimate from the journal, for an ERP whose documents cannot be
        counted: a resumed item's documents may have been made by the run
        it resumes. The embedded ERP's own counts replace it in the report.
        """
        made: Counter[str] = Counter()
        for outcome in self.outcomes:
            if outcome.ran:
                made.update(kind for kind in outcome.documents if outcome.made(kind))
        return made


class SyncRun:
    """Runs the items of a read through their flows against one ERP.

    ``on_progress(ended, total)`` is told how many items have ended, each time
    that changes. The engine is launched by :meth:`run` and shut down before it
    returns; DBOS allows one launched engine per process.
    """

    def __init__(
        self,
        options: SyncOptions,
        profile: Profile,
        mapping: MappingProfile,
        on_progress: Callable[[int, int], None] = lambda ended, total: None,
    ) -> None:
        self.options = options
        self.profile = profile
        self.mapping = mapping
        self.on_progress = on_progress

    def run(
        self, result: ReadResult, stop: threading.Event | None = None
    ) -> SyncOutcome:
        """Submit every item of ``result``, wait for them, and tell each outcome.

        When ``stop`` is set, no more items are submitted and the waiting ends:
        the items not ended are told :data:`UNFINISHED`.
        """
        stop = stop or threading.Event()
        started = time.monotonic()
        orders = [i for i in result.items if isinstance(i.canonical, CanonicalOrder)]
        refunds = [
            i for i in result.items if not isinstance(i.canonical, CanonicalOrder)
        ]
        outcomes = {id(item): ItemOutcome(item) for item in result.items}
        total = len(result.items)
        self.options.journal.parent.mkdir(parents=True, exist_ok=True)
        prepare_journal(self.options.database_url)
        flows = _Flows(self.options, self.profile, self.mapping)
        # Before the launch: the engine then takes up the flows an interrupted
        # run left, and one may end before this run looks.
        known = flows.known()
        with flows:
            ended = 0
            for phase in (orders, refunds):
                ended += flows.run_phase(
                    [outcomes[id(item)] for item in phase],
                    known,
                    _offset(self.on_progress, ended, total),
                    self.options.deadline,
                    stop,
                )
        ordered = [outcomes[id(item)] for item in [*orders, *refunds]]
        return SyncOutcome(ordered, time.monotonic() - started)


def _offset(
    on_progress: Callable[[int, int], None], before: int, total: int
) -> Callable[[int], None]:
    """A phase's progress, told as the run's: ``before`` items ended already."""
    return lambda ended: on_progress(before + ended, total)


class _Flows:
    """The engine, the intake, the ERP client and both flows, for one run."""

    def __init__(
        self, options: SyncOptions, profile: Profile, mapping: MappingProfile
    ) -> None:
        url = options.database_url
        self.engine = FlowEngine(
            EngineConfig(
                database_url=url,
                executor_id=EXECUTOR_ID,
                worker_concurrency=options.concurrency,
                polling_interval=options.polling_interval,
            )
        )
        self.store = IntakeStore(url)
        self.erp = Divalto(profile)
        adapters = Adapters(self.erp, mapping)
        sink = FileSink(options.acknowledgements)
        self.orders = OrderToCash(
            self.engine, self.store, adapters, sink, options.fulfilment
        ).install()
        self.refunds = RefundToCreditNote(self.engine, self.store, adapters, sink)
        self.refunds.install()

    def known(self) -> dict[str, _Known]:
        """What the journal holds: every key's status, partition and payload."""
        return {
            record.key: _Known(
                record.status.value, record.partition, record.canonical, record.parking
            )
            for record in self.store.records()
        }

    def __enter__(self) -> _Flows:
        self.engine.launch()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # The engine first, so that no flow starts a step on a closed client or
        # store; the flows it leaves running fail on those afterwards and are
        # taken up by the next run: their complaints (the engine's logger, the
        # background threads) are noise by then.
        logging.getLogger("dbos").setLevel(logging.CRITICAL)
        threading.excepthook = _quiet
        self.engine.shutdown()
        self.erp.close()
        self.store.close()

    def run_phase(
        self,
        outcomes: list[ItemOutcome],
        known: dict[str, _Known],
        on_progress: Callable[[int], None],
        deadline: float,
        stop: threading.Event,
    ) -> int:
        """Submit the items, wait for their flows to end; how many ended.

        ``known`` is what the journal held before the run, per key.
        """
        seen: set[str] = set()
        for outcome in outcomes:
            before = known.get(outcome.key)
            outcome.prior = None if before is None else before.status
            outcome.new = before is None
            outcome.duplicate = outcome.key in seen
            seen.add(outcome.key)
            if outcome.duplicate or stop.is_set():
                continue
            if before is not None and before.status in ENDED_STATUSES:
                self._compare(outcome, before)
            else:
                self._submit(outcome.item)
        self._wait(outcomes, on_progress, deadline, stop)
        for outcome in outcomes:
            self._settle(outcome)
        return sum(not outcome.lost for outcome in outcomes)

    def _flow(self, item: Item) -> OrderToCash | RefundToCreditNote:
        if isinstance(item.canonical, CanonicalOrder):
            return self.orders
        return self.refunds

    def _submit(self, item: Item) -> None:
        self._flow(item).intake.submit(item.canonical, raw=item.raw)

    def _compare(self, outcome: ItemOutcome, before: _Known) -> None:
        """An ended item read again: replay a parked one on its new payload.

        A parked item (``to_resume``, ``escalated``) whose payload differs from
        the stored one, for the same customer (or order, for a refund), gets
        the new payload as its correction and its flow replayed from
        ``validate``, so that the correction is checked again (the later steps
        look up what they made before making anything). A completed or
        cancelled item is left as it is, and a changed one is told.
        """
        item = outcome.item
        payload = json.loads(item.canonical.model_dump_json())
        if payload == before.canonical:
            if self._order_now_invoiced(item, before):
                self.refunds.replay(outcome.key, "find_invoice")
                outcome.retried = True
            return
        parked = before.status in (
            IntakeStatus.TO_RESUME.value,
            IntakeStatus.ESCALATED.value,
        )
        if not parked or item.canonical.partition != before.partition:
            outcome.changed = True
            return
        self.store.correct(outcome.key, item.canonical)
        self._flow(item).replay(outcome.key, "validate")
        outcome.corrected = True

    def _order_now_invoiced(self, item: Item, before: _Known) -> bool:
        """Whether ``item`` is a refund parked because its order had no invoice
        yet, and that order has completed since (in this run or an earlier one).
        """
        canonical = item.canonical
        if not isinstance(canonical, CanonicalRefund):
            return False
        if before.status != IntakeStatus.TO_RESUME.value:
            return False
        if (before.parking or {}).get("code") != ORDER_NOT_INVOICED:
            return False
        order = self.store.get(canonical.order_key)
        return order is not None and order.status is IntakeStatus.COMPLETED

    def _wait(
        self,
        outcomes: list[ItemOutcome],
        on_progress: Callable[[int], None],
        deadline: float,
        stop: threading.Event,
    ) -> None:
        keys = {outcome.key for outcome in outcomes}
        failed: dict[str, str] = {}
        checked = changed = time.monotonic()
        count = -1
        while True:
            statuses = self.store.statuses()
            ended = {key for key in keys if statuses.get(key) in ENDED_STATUSES}
            if time.monotonic() - checked > _ENGINE_CHECK_SECONDS:
                failed = self._failed(keys - ended)
                checked = time.monotonic()
            done = sum(o.key in ended or o.key in failed for o in outcomes)
            if done != count:
                count, changed = done, time.monotonic()
                on_progress(done)
            if ended | set(failed) >= keys or time.monotonic() - changed > deadline:
                break
            if stop.wait(_POLL_SECONDS):
                break
        for outcome in outcomes:
            outcome.error = failed.get(outcome.key)

    def _failed(self, keys: Iterable[str]) -> dict[str, str]:
        """The flows among ``keys`` that the engine ended on an unrouted error."""
        wanted = set(keys)
        return {
            info.key: info.error or info.state
            for state in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
            for info in self.engine.flows(state=state)
            if info.key in wanted
        }

    def _settle(self, outcome: ItemOutcome) -> None:
        record = self.store.get(outcome.key)
        if record is None:
            outcome.status = UNFINISHED
            return
        outcome.documents = record.documents
        outcome.parking = record.parking
        if record.status.value in ENDED_STATUSES:
            outcome.status = record.status.value
        elif outcome.error is not None:
            outcome.status = FAILED
        else:
            outcome.status = UNFINISHED


def _quiet(args: threading.ExceptHookArgs) -> None:
    """Say nothing of a background thread's error: the run is shutting down."""


@dataclass(frozen=True)
class _Known:
    """What the journal held of a key: its status, partition, payload and why
    it was parked."""

    status: str
    partition: str
    canonical: Any
    parking: dict[str, Any] | None

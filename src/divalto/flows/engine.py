"""The durable engine behind the flows: DBOS Transact, behind an interface of ours.

Nothing else in :mod:`divalto.flows` imports ``dbos``: the flows declare their
workflows and steps through :func:`workflow` and :func:`step`, and operate them
through a :class:`FlowEngine`, so the engine can be swapped.

Facts about DBOS that this module respects:

- DBOS is one per process: one :class:`FlowEngine` may be launched at a time.
- The system database is a SQLite file (put in WAL mode here, so readers do not
  block the writer) or a PostgreSQL database; the code is the same. On SQLite
  the engine's connections are ours (:func:`sqlite_engine`): DBOS's settings
  (``IMMEDIATE`` transactions, a 30 s busy timeout, foreign keys) plus
  ``synchronous=NORMAL``, which in WAL mode syncs the file at checkpoints rather
  than at every commit. A process killed loses nothing; a machine losing power
  may lose the last commits, so a step may run again, which the flows' look-ups
  before every creation make harmless.
- ``application_version`` is pinned (:data:`FLOWS_VERSION`): DBOS would otherwise
  derive it from the code, and a code change would strand in-flight flows.
- ``executor_id`` must be stable and unique per process: a restarted process with
  the same id recovers its own pending flows at launch; the flows of a worker gone
  for good are recovered by another process with :meth:`FlowEngine.recover`, and
  block their partition until then.
- Queues are registered after launch (the system database must exist).
- The queue is partitioned (one flow at a time per partition), and DBOS refuses
  deduplication ids on partitioned queues: the workflow id carries the business
  key, and a second start with that id returns the existing flow.
- Rewind moves a flow off its queue unless the queue name and partition key are
  passed again; :meth:`FlowEngine.replay` always passes them.

A :class:`FlowEngine` runs flows; a :class:`FlowClient` operates them from
outside any worker (an operator's command, a submitter): it reads and writes
the journal only, and never runs a step.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfig,
    EnqueueOptions,
    SetEnqueueOptions,
    SetWorkflowID,
    WorkflowStatus,
)

__all__ = [
    "ENDED",
    "FLOWS_VERSION",
    "EngineConfig",
    "FlowClient",
    "FlowEngine",
    "FlowInfo",
    "JournalUnavailable",
    "StepRecord",
    "prepare_journal",
    "sqlite_engine",
    "sqlite_url",
    "step",
    "workflow",
]

FLOWS_VERSION = "divalto-flows-1"
"""The application version of the flows; change it only with a migration plan."""

ENDED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
"""The engine states of a flow that has stopped for good, unless replayed."""

DEFAULT_NAME = "divalto-flows"
DEFAULT_QUEUE = "divalto-orders"

P = ParamSpec("P")
R = TypeVar("R")

_WORKFLOW_NAMES: dict[Callable[..., Any], str] = {}


class JournalUnavailable(Exception):
    """The journal (the engine's database) cannot be reached or was never made."""


def workflow(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a durable workflow under a stable ``name`` (before launch)."""
    declare = DBOS.workflow(name=name)

    def named(function: Callable[P, R]) -> Callable[P, R]:
        declared = declare(function)
        _WORKFLOW_NAMES[declared] = name
        return declared

    return named


def step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a journaled step: once it returned, a replay reuses its result.

    A step that raises is journaled with its error; it runs again only when the
    flow is replayed from it.
    """
    return DBOS.step(name=name)


def sqlite_url(path: str | Path) -> str:
    """The system-database URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


@dataclass(frozen=True)
class EngineConfig:
    """Where the engine keeps its journal, and who this process is.

    ``database_url`` is ``sqlite:///<path>`` or ``postgresql://...``.
    ``executor_id`` names this process among the workers: stable across its
    restarts, unique among processes alive at once.
    """

    database_url: str
    executor_id: str
    name: str = DEFAULT_NAME
    application_version: str = FLOWS_VERSION
    queue_name: str = DEFAULT_QUEUE
    worker_concurrency: int = 16
    polling_interval: float = 0.05
    sqlite_synchronous: str = "NORMAL"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


@dataclass(frozen=True)
class FlowInfo:
    """A flow as the engine sees it: its engine state and where it queues."""

    key: str
    state: str
    name: str
    queue: str | None
    partition: str | None
    executor_id: str | None
    created_ms: int | None
    updated_ms: int | None
    output: Any = None
    error: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """One journaled step: its position, name, timing, result or error."""

    number: int
    name: str
    started_ms: int | None
    completed_ms: int | None
    output: Any = None
    error: str | None = None


@dataclass
class FlowEngine:
    """One process's handle on the durable engine.

    :meth:`launch` configures DBOS, recovers this executor's pending flows and
    registers the partitioned queue; :meth:`shutdown` stops it. Raises whatever
    DBOS raises on a database that cannot be opened.
    """

    config: EngineConfig
    _launched: bool = field(default=False, init=False)
    _sqlite: sa.Engine | None = field(default=None, init=False, repr=False)

    def launch(self) -> None:
        """Start the engine in this process; the flows must be imported before."""
        if self.config.is_sqlite:
            _use_wal(self.config.database_url)
            self._sqlite = sqlite_engine(
                self.config.database_url, self.config.sqlite_synchronous
            )
        DBOS(config=self._dbos_config())
        DBOS.launch()
        DBOS.register_queue(
            self.config.queue_name,
            partition_concurrency=1,
            worker_concurrency=self.config.worker_concurrency,
            polling_interval_sec=self.config.polling_interval,
        )
        self._launched = True

    def shutdown(self) -> None:
        """Stop the engine; flows still running resume at the next launch."""
        if self._launched:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            self._launched = False
        if self._sqlite is not None:
            self._sqlite.dispose()
            self._sqlite = None

    def _dbos_config(self) -> DBOSConfig:
        config = DBOSConfig(
            name=self.config.name,
            system_database_url=self.config.database_url,
            application_version=self.config.application_version,
            executor_id=self.config.executor_id,
            log_level="WARNING",
        )
        if self._sqlite is not None:
            config["system_database_engine"] = self._sqlite
        return config

    def start(
        self, flow: Callable[..., Any], key: str, partition: str, *args: Any
    ) -> None:
        """Queue ``flow(*args)`` under workflow id ``key`` in ``partition``.

        Starting a key that exists already starts nothing: the engine keeps the
        existing flow, whatever its state.
        """
        queue = DBOS.retrieve_queue(self.config.queue_name)
        assert queue is not None, "the engine is not launched"
        with (
            SetWorkflowID(key),
            SetEnqueueOptions(queue_partition_key=partition),
        ):
            queue.enqueue(flow, *args)

    def get(self, key: str) -> FlowInfo | None:
        """The flow ``key``, or None when the engine never saw it."""
        status = DBOS.get_workflow_status(key)
        return None if status is None else _flow_info(status)

    def flows(
        self, *, state: str | None = None, prefix: str = "", load_output: bool = True
    ) -> list[FlowInfo]:
        """Flows, oldest first, in engine ``state`` (``SUCCESS``...) if given;
        without their outputs when ``load_output`` is False (a cheaper poll)."""
        statuses = DBOS.list_workflows(
            status=state,
            workflow_id_prefix=prefix or None,
            load_input=False,
            load_output=load_output,
        )
        return [_flow_info(status) for status in statuses]

    def wait(self, key: str, timeout: float = 60.0) -> FlowInfo:
        """The flow ``key`` once it has ended (succeeded, failed or cancelled).

        Raises TimeoutError when it has not ended within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(key)
            if info is not None and info.state in ENDED:
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow {key!r} has not ended in {timeout} s")
            time.sleep(self.config.polling_interval)

    def steps(self, key: str) -> list[StepRecord]:
        """The journaled steps of flow ``key``, in order."""
        return [_step_record(info) for info in DBOS.list_workflow_steps(key)]

    def replay(self, key: str, from_step: int, partition: str) -> None:
        """Run the ended flow ``key`` again from journal position ``from_step``.

        Steps before it keep their journaled results; the flow goes back on the
        queue in its ``partition``. Raises DBOS's error on a flow still running.
        """
        DBOS.rewind_workflow(
            key,
            start_step=from_step,
            queue_name=self.config.queue_name,
            queue_partition_key=partition,
        )

    def cancel(self, key: str) -> None:
        """Stop the flow ``key`` at its next step; its journal is kept."""
        DBOS.cancel_workflow(key)

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Put back on the queue the pending flows of dead workers; their keys.

        Only call it for workers known to be gone: a live worker's flow would
        then run twice at once.
        """
        handles = DBOS._recover_pending_workflows(executor_ids)
        return [handle.get_workflow_id() for handle in handles]


@dataclass
class FlowClient:
    """Operate the flows of a journal from outside any worker; runs no step.

    Reads and writes the journal at ``database_url`` only: lists, inspects,
    queues, replays, cancels and recovers flows, which the workers then run.
    Raises :class:`JournalUnavailable` when the database cannot be reached or
    holds no journal (no worker and no :func:`prepare_journal` made it).
    """

    database_url: str
    name: str = DEFAULT_NAME
    application_version: str = FLOWS_VERSION
    queue_name: str = DEFAULT_QUEUE
    polling_interval: float = 0.1
    _client: DBOSClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.database_url.startswith("sqlite:"):
            _require_file(self.database_url)
        try:
            self._client = DBOSClient(
                system_database_url=self.database_url,
                application_name=self.name,
                retry_connection_errors=False,
            )
            self._client.list_workflows(limit=1, load_input=False)
        except sa.exc.SQLAlchemyError as exc:
            raise JournalUnavailable(_journal_problem(self.database_url)) from exc

    def close(self) -> None:
        """Release the client's connections."""
        self._client.destroy()

    def start(
        self, flow: Callable[..., Any], key: str, partition: str, *args: Any
    ) -> None:
        """Queue ``flow(*args)`` as :meth:`FlowEngine.start` does, for the workers.

        ``flow`` must be declared with :func:`workflow`; raises KeyError if not.
        """
        options: EnqueueOptions = {
            "workflow_name": _WORKFLOW_NAMES[flow],
            "queue_name": self.queue_name,
            "workflow_id": key,
            "queue_partition_key": partition,
            "app_version": self.application_version,
        }
        self._client.enqueue(options, *args)

    def get(self, key: str) -> FlowInfo | None:
        """The flow ``key``, or None when the journal never saw it."""
        found = self._client.list_workflows(workflow_ids=[key], load_input=False)
        return _flow_info(found[0]) if found else None

    def flows(
        self,
        *,
        state: str | None = None,
        prefix: str = "",
        executor_id: str | None = None,
    ) -> list[FlowInfo]:
        """Flows, oldest first, filtered on engine ``state``, key prefix, executor."""
        statuses = self._client.list_workflows(
            status=state,
            workflow_id_prefix=prefix or None,
            executor_id=executor_id,
            load_input=False,
            load_output=False,
        )
        return [_flow_info(status) for status in statuses]

    def steps(self, key: str) -> list[StepRecord]:
        """The journaled steps of flow ``key``, in order."""
        return [_step_record(info) for info in self._client.list_workflow_steps(key)]

    def wait(self, key: str, timeout: float = 60.0) -> FlowInfo:
        """The flow ``key`` once it has ended; raises TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(key)
            if info is not None and info.state in ENDED:
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow {key!r} has not ended in {timeout} s")
            time.sleep(self.polling_interval)

    def replay(self, key: str, from_step: int, partition: str) -> None:
        """Put the ended flow ``key`` back on its queue and ``partition``, to run
        again from journal position ``from_step`` (see :meth:`FlowEngine.replay`).
        """
        self._client.rewind_workflow(
            key,
            start_step=from_step,
            queue_name=self.queue_name,
            queue_partition_key=partition,
        )

    def cancel(self, key: str) -> None:
        """Stop the flow ``key`` at its next step; its journal is kept."""
        self._client.cancel_workflow(key)

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Put back on their queue and partition the running flows of dead workers.

        A flow left running by a worker gone for good blocks its partition
        until this. Only call it for workers known to be gone: a live worker's
        flow would then run twice at once. Returns the keys put back.
        """
        keys: list[str] = []
        for executor_id in executor_ids:
            for info in self.flows(state="PENDING", executor_id=executor_id):
                self._client.resume_workflow(info.key, queue_name=self.queue_name)
                keys.append(info.key)
        return keys


def prepare_journal(database_url: str) -> None:
    """Create the engine's tables in ``database_url``, or bring them up to date.

    Run once before several workers start at the same moment, so that they do
    not race to create the same tables. Raises :class:`JournalUnavailable`.
    """
    if database_url.startswith("sqlite:"):
        _use_wal(database_url)
    try:
        DBOS.migrate(database_url)
    except sa.exc.SQLAlchemyError as exc:
        raise JournalUnavailable(_journal_problem(database_url)) from exc


def _require_file(url: str) -> None:
    if not Path(url.removeprefix("sqlite:///")).is_file():
        raise JournalUnavailable(f"no journal at {url}: the file does not exist")


def _journal_problem(url: str) -> str:
    shown = sa.make_url(url).render_as_string(hide_password=True)
    return f"no journal at {shown}: the database cannot be reached or has no tables"


def _step_record(info: Any) -> StepRecord:
    return StepRecord(
        number=info["function_id"],
        name=info["function_name"],
        started_ms=info["started_at_epoch_ms"],
        completed_ms=info["completed_at_epoch_ms"],
        output=info["output"],
        error=None if info["error"] is None else str(info["error"]),
    )


def sqlite_engine(url: str, synchronous: str = "NORMAL") -> sa.Engine:
    """A pooled engine on the SQLite file at ``url``, set as the journal needs.

    Each connection opens its transactions ``IMMEDIATE`` (a writer takes the
    write lock at once rather than failing to upgrade a read lock), waits up to
    30 s for a lock, enforces foreign keys (all as DBOS sets its own), and runs
    with ``synchronous`` (``NORMAL``: no sync at each commit in WAL mode;
    ``FULL``: a sync at each commit). The file must be in WAL mode already.
    """
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
    # No ping before each checkout (DBOS pings its server connections): a file
    # connection does not drop, and the ping would cost a query per transaction.
    engine = sa.create_engine(url, pool_size=20, max_overflow=0, pool_timeout=30)

    @sa.event.listens_for(engine, "connect")
    def configure(connection: Any, record: Any) -> None:
        connection.isolation_level = "IMMEDIATE"
        connection.execute("PRAGMA busy_timeout=30000")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA synchronous={synchronous.upper()}")

    return engine


def _use_wal(url: str) -> None:
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.close()


def _flow_info(status: WorkflowStatus) -> FlowInfo:
    return FlowInfo(
        key=status.workflow_id,
        state=status.status,
        name=status.name,
        queue=status.queue_name,
        partition=status.queue_partition_key,
        executor_id=status.executor_id,
        created_ms=status.created_at,
        updated_ms=status.updated_at,
        output=status.output,
        error=None if status.error is None else str(status.error),
    )

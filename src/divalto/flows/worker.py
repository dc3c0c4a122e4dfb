"""A worker: one process that runs the flows waiting on the queue.

A worker launches the engine on the journal (a SQLite file, shared by the
workers of one machine, or a PostgreSQL database, shared by workers anywhere),
installs the order-to-cash and the refund-to-credit-note flows with its ERP
client, and runs queued flows of both until it is stopped. Each worker needs
its own ``executor_id``: stable across its restarts (a restarted worker takes
up its own unfinished flows at launch) and unique among the workers alive at
once.

A worker stopped for good leaves its unfinished flows in its name, and their
customers' partitions blocked, until an operator recovers them
(:meth:`divalto.flows.operator.Operator.recover`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows.engine import EngineConfig, FlowEngine, prepare_journal
from divalto.flows.intake import IntakeStore
from divalto.flows.order_to_cash import FileSink, Fulfilment, OrderToCash
from divalto.flows.refund import RefundToCreditNote
from divalto.settings import Profile, load_profile

__all__ = ["SIMULATOR_DOSSIER", "Worker", "WorkerSettings", "simulator_profile"]

SIMULATOR_DOSSIER = "998"
"""The dossier of the simulator's demo tenant."""

_SIMULATOR_USER = "DEMO"
_SIMULATOR_PASSWORD = "demo"  # noqa: S105 - the simulator's documented demo account


def simulator_profile(base_url: str) -> Profile:
    """A profile of the simulator's demo account at API base ``base_url``.

    ``base_url`` is the API base the simulator prints
    (``http://127.0.0.1:PORT/SITE/ENV/api/v1/``). Raises ProfileInvalid for a
    URL that is not one.
    """
    return load_profile(
        "simulator",
        base_url=base_url,
        dossier=SIMULATOR_DOSSIER,
        user=_SIMULATOR_USER,
        password=SecretStr(_SIMULATOR_PASSWORD),
    )


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs: its journal, its name, its ERP, where it acknowledges.

    ``concurrency`` bounds the flows this process runs at once (over distinct
    customers: one customer's flows always run one at a time).
    """

    database_url: str
    executor_id: str
    profile: Profile
    acknowledgements: Path
    concurrency: int = 16
    fulfilment: Fulfilment = field(default_factory=Fulfilment)


class Worker:
    """A running worker in this process; DBOS allows one per process.

    :meth:`start` launches it (flows start running at once); :meth:`stop`
    stops it, leaving the flows it was running to its next start under the same
    ``executor_id``. Usable as a context manager. Raises
    :class:`~divalto.flows.engine.JournalUnavailable` when the journal cannot be
    opened.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.engine = FlowEngine(
            EngineConfig(
                database_url=settings.database_url,
                executor_id=settings.executor_id,
                worker_concurrency=settings.concurrency,
            )
        )
        self._erp: Divalto | None = None
        self._store: IntakeStore | None = None

    def start(self) -> None:
        """Launch the engine with both flows installed; queued flows start running.

        Both flows share the ERP client, the intake and the acknowledgement file.
        """
        prepare_journal(self.settings.database_url)
        self._erp = Divalto(self.settings.profile)
        self._store = IntakeStore(self.settings.database_url)
        adapters = Adapters(self._erp)
        sink = FileSink(self.settings.acknowledgements)
        OrderToCash(
            self.engine, self._store, adapters, sink, self.settings.fulfilment
        ).install()
        RefundToCreditNote(self.engine, self._store, adapters, sink).install()
        self.engine.launch()

    def stop(self) -> None:
        """Stop running flows and release the ERP client and the journal."""
        self.engine.shutdown()
        if self._store is not None:
            self._store.close()
        if self._erp is not None:
            self._erp.close()

    def run_until(
        self, stopped: threading.Event, on_ready: Callable[[], None] = lambda: None
    ) -> None:
        """Start, call ``on_ready``, run until ``stopped`` is set, then stop."""
        with self:
            on_ready()
            stopped.wait()

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

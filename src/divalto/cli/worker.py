"""``divalto worker``: run the queued flows in this process until stopped."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from divalto.cli.flows import (
    DEFAULT_DATABASE,
    DatabaseOption,
    ProfileOption,
    SimulatorOption,
    fail,
    profile_or_exit,
)
from divalto.flows.engine import JournalUnavailable
from divalto.flows.worker import Worker, WorkerSettings
from divalto.telemetry import configure_logging

ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor-id",
        envvar="DIVALTO_EXECUTOR_ID",
        help="This worker's name: stable across restarts, unique among workers.",
    ),
]
AcksOption = Annotated[
    Path,
    typer.Option(
        "--acks", help="The file of acknowledgements (JSON lines).", dir_okay=False
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option(min=1, help="Flows run at once (distinct customers).")
]


def worker(
    executor_id: ExecutorOption,
    database: DatabaseOption = DEFAULT_DATABASE,
    profile: ProfileOption = None,
    simulator: SimulatorOption = None,
    acknowledgements: AcksOption = Path("divalto-acks.jsonl"),
    concurrency: ConcurrencyOption = 16,
    log_level: Annotated[
        str, typer.Option(help="The least level logged, as JSON lines on stderr.")
    ] = "WARNING",
) -> None:
    """Run the flows waiting on the queue until Ctrl+C or SIGTERM."""
    configure_logging(level=log_level)
    settings = WorkerSettings(
        database_url=database,
        executor_id=executor_id,
        profile=profile_or_exit(profile, simulator),
        acknowledgements=acknowledgements,
        concurrency=concurrency,
    )
    console = Console(highlight=False)

    def ready() -> None:
        console.print(
            f"Worker {executor_id} ready: {concurrency} flows at once.", markup=False
        )

    stopped = threading.Event()
    with _stop_on_signals(stopped):
        try:
            Worker(settings).run_until(stopped, on_ready=ready)
        except JournalUnavailable as exc:
            fail(str(exc), code=1)
    console.print(f"Worker {executor_id} stopped.", markup=False)


@contextlib.contextmanager
def _stop_on_signals(stopped: threading.Event) -> Iterator[None]:
    """Let SIGTERM and Ctrl+C end the wait, so that the worker stops cleanly."""

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {
        signum: signal.signal(signum, stop)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

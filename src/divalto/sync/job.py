"""The sync job from end to end: read, seed, run, report.

:func:`sync` reads a file or a folder with :func:`divalto.sources.read`,
picks the ERP (a profile's tenant, or the embedded simulator seeded for the
input), runs every item through its flow (:class:`~divalto.sync.run.SyncRun`)
and writes the report. The state directory holds what must outlive a run: the
journal, the embedded ERP's state, the acknowledgements and the last report.
One run at a time may use a state directory: a second one is refused before
anything is read. Against a profile's ERP, the login is checked first: a
rejected password or an ERP out of reach stops the run before it reads.

SIGINT and SIGTERM (when :func:`sync` runs in the main thread) stop the run
cleanly: nothing more is submitted, the engine is shut down, the partial report
is written, and :attr:`SyncResult.exit_code` is 130 or 143.
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from divalto.client import Divalto
from divalto.errors import DivaltoError
from divalto.mapping import MappingProfile
from divalto.settings import Profile
from divalto.sources.base import ReadResult
from divalto.sync.embedded import EmbeddedErp
from divalto.sync.report import build_report, write_report
from divalto.sync.run import SyncOptions, SyncOutcome, SyncRun
from divalto.sync.seeding import seed_records

__all__ = ["SyncError", "SyncRequest", "SyncResult", "sync"]

JOURNAL_FILE = "journal.sqlite3"
ACKNOWLEDGEMENTS_FILE = "acknowledgements.jsonl"
REPORT_FILE = "report.json"
LOCK_FILE = "lock"


class SyncError(Exception):
    """The run cannot start: a bad path, a busy state directory, no readers."""


@dataclass(frozen=True)
class SyncRequest:
    """What to sync, against which ERP, and where to keep the run's state.

    ``profile`` None runs against the embedded ERP in ``state_dir``.
    ``journal`` and ``report`` default to files in ``state_dir``.
    """

    path: Path
    state_dir: Path
    mapping: MappingProfile
    source: str | None = None
    profile: Profile | None = None
    journal: Path | None = None
    report: Path | None = None
    concurrency: int = 16
    deadline: float = 300.0

    @property
    def journal_path(self) -> Path:
        return self.journal or self.state_dir / JOURNAL_FILE

    @property
    def report_path(self) -> Path:
        return self.report or self.state_dir / REPORT_FILE


@dataclass(frozen=True)
class SyncResult:
    """A finished run: what was read, what became of it, the report and its path."""

    read: ReadResult
    outcome: SyncOutcome
    report: dict[str, Any]
    report_path: Path

    @property
    def exit_code(self) -> int:
        """0 when every item ended completed, parked or rejected; 1 if one was
        lost; 128 + the signal's number (130 for SIGINT, 143 for SIGTERM) when a
        signal stopped the run."""
        if self.outcome.interrupted is not None:
            return 128 + int(signal.Signals[self.outcome.interrupted])
        return 1 if self.outcome.lost else 0


def sync(
    request: SyncRequest,
    *,
    on_start: Callable[[], None] = lambda: None,
    on_read: Callable[[ReadResult], None] = lambda read: None,
    on_progress: Callable[[int, int], None] = lambda ended, total: None,
    reader: Callable[..., ReadResult] | None = None,
) -> SyncResult:
    """Run the sync job; raises :class:`SyncError` when it cannot start.

    ``on_start`` is called once the run may go on (the path exists, the state
    directory is locked, the login works), before anything is read.
    ``reader`` replaces :func:`divalto.sources.read` (same signature).
    """
    if not request.path.exists():
        raise SyncError(f"{request.path}: no such file or folder")
    request.state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(request.state_dir):
        if request.profile is not None:
            check_login(request.profile)
        on_start()
        with _stopped_by_signals() as stop:
            result = _run(request, stop, on_read, on_progress, reader)
        write_report(result.report, request.report_path)
    return result


def check_login(profile: Profile) -> None:
    """Log in once with ``profile``; raises :class:`SyncError` when refused.

    The message names the profile, the user and why (never the password).
    """
    try:
        with Divalto(profile) as client:
            client.tokens.token()
    except DivaltoError as exc:
        raise SyncError(
            f"profile {profile.name}: cannot log in as user {profile.user}: "
            f"{exc.message}"
        ) from exc


class _Stop(threading.Event):
    """Set by SIGINT or SIGTERM; ``signal`` names the first one received."""

    signal: str | None = None


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[_Stop]:
    """A stop event that SIGINT and SIGTERM set while the block runs.

    Outside the main thread (where Python delivers signals) the event is only
    set by its owner.
    """
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(number: int, frame: object) -> None:
        if stop.signal is None:
            stop.signal = signal.Signals(number).name
        stop.set()

    previous = {
        number: signal.signal(number, handle)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run(
    request: SyncRequest,
    stop: _Stop,
    on_read: Callable[[ReadResult], None],
    on_progress: Callable[[int, int], None],
    reader: Callable[..., ReadResult] | None,
) -> SyncResult:
    read = _read(request, reader)
    on_read(read)
    with _erp(request) as erp:
        seeded: dict[str, int] | None = None
        before: dict[str, int] | None = None
        profile = request.profile
        if erp is not None:
            before = dict(erp.documents())
            # A code the ERP numbers can be told before the flows run; a code
            # the mapping builds from a template is left to the upsert.
            erp_codes = request.mapping.customer_codes.strategy == "erp"
            records = seed_records(
                read.items,
                read.catalogue,
                request.mapping,
                erp.customer_code if erp_codes else None,
            )
            seeded = erp.seed(records)
            profile = erp.profile
        assert profile is not None
        options = SyncOptions(
            journal=request.journal_path,
            acknowledgements=request.state_dir / ACKNOWLEDGEMENTS_FILE,
            concurrency=request.concurrency,
            deadline=request.deadline,
        )
        run = SyncRun(options, profile, request.mapping, on_progress)
        outcome = run.run(read, stop)
        outcome.interrupted = stop.signal
        documents = None
        if erp is not None and before is not None:
            documents = {"before": before, "after": dict(erp.documents())}
        report = build_report(
            read,
            outcome,
            path=request.path,
            source=request.source,
            erp=_erp_facts(request, erp),
            journal=request.journal_path,
            seeded=seeded,
            erp_documents=documents,
        )
    return SyncResult(read, outcome, report, request.report_path)


def _read(request: SyncRequest, read: Callable[..., ReadResult] | None) -> ReadResult:
    import divalto.sources

    read = read or getattr(divalto.sources, "read", None)
    if read is None:
        raise SyncError("the source readers (divalto.sources.read) are missing")
    try:
        return read(request.path, source=request.source, mapping=request.mapping)
    except (OSError, ValueError) as exc:
        raise SyncError(f"{request.path}: {exc}") from exc


@contextlib.contextmanager
def _erp(request: SyncRequest) -> Iterator[EmbeddedErp | None]:
    if request.profile is not None:
        yield None
        return
    with EmbeddedErp(request.state_dir) as erp:
        yield erp


def _erp_facts(request: SyncRequest, erp: EmbeddedErp | None) -> dict[str, Any]:
    if erp is None:
        assert request.profile is not None
        return {"mode": "profile", "profile": request.profile.name}
    return {"mode": "embedded", "state": str(erp.path)}


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's lock; refuse when another run holds it."""
    with (state_dir / LOCK_FILE).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SyncError(
                f"{state_dir}: another sync is running with this state directory"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

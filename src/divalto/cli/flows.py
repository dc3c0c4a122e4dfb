"""``divalto flows``: see and steer the durable flows of a journal.

Tables for people; ``--json`` prints the same facts as JSON for scripts. The
journal is ``--database``, else ``$DIVALTO_JOURNAL``, else the journal
``divalto sync`` left in the current folder (``.divalto-sync/journal.sqlite3``);
with none of them the command stops with exit code 2 and says what to give. A
journal is a SQLite URL (``sqlite:///path/flows.db``), a SQLite file's path, or
a PostgreSQL URL. A refused request (unknown key, step or state, a flow still
running) ends with one line on standard error and exit code 1; a journal that
cannot be opened, the same. ``reconcile`` exits 1 when it finds differences and
2 when it cannot compare (see :func:`reconcile`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.errors import AuthError, DivaltoError, ProfileInvalid
from divalto.flows.engine import FlowClient, JournalUnavailable, sqlite_url
from divalto.flows.intake import IntakeStore
from divalto.flows.operator import (
    Difference,
    FlowDetail,
    FlowSummary,
    Operator,
    OperatorError,
    parking_text,
    plain,
)
from divalto.flows.worker import simulator_profile
from divalto.settings import Profile, load_profile
from divalto.sync.job import JOURNAL_FILE
from divalto.telemetry import configure_logging

T = TypeVar("T")

JOURNAL_ENV = "DIVALTO_JOURNAL"
"""The environment variable naming the journal when ``--database`` is not given."""

SYNC_STATE_DIR = ".divalto-sync"
"""``divalto sync``'s default state directory, whose journal is the fallback."""

DEFAULT_DATABASE = sqlite_url("divalto-flows.db")
"""``divalto worker``'s journal when it is given none (``./divalto-flows.db``)."""

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        envvar=[JOURNAL_ENV, "DIVALTO_FLOWS_DATABASE"],
        help="The journal: sqlite:///PATH or postgresql://...",
    ),
]
"""``divalto worker``'s journal option."""

JournalOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=[JOURNAL_ENV, "DIVALTO_FLOWS_DATABASE"],
        show_envvar=True,
        help=(
            "The journal: sqlite:///PATH, a SQLite file's path, or "
            "postgresql://... Default: $DIVALTO_JOURNAL, else "
            f"./{SYNC_STATE_DIR}/{JOURNAL_FILE} when divalto sync left it here."
        ),
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="The ERP profile (see divalto.settings)."),
]
SimulatorOption = Annotated[
    str | None,
    typer.Option(
        "--simulator", help="A simulator's API base URL, instead of a profile."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

app = typer.Typer(help="See and steer the durable flows.", no_args_is_help=True)


@app.command("list")
def list_flows(
    database: JournalOption = None,
    state: Annotated[
        str | None,
        typer.Option(help="An intake status (to_resume...) or engine state (PENDING)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the flows, oldest first, in one state if given."""
    with _operator(database) as operator:
        summaries = _or_exit(lambda: operator.list_flows(state))
    _print(summaries, as_json, _summary_table)


@app.command()
def show(
    key: Annotated[
        str, typer.Argument(help="The flow's key: order:SOURCE:ID or refund:SOURCE:ID.")
    ],
    database: JournalOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a flow: its states, ERP documents, parking, and each step's timing."""
    with _operator(database) as operator:
        detail = _or_exit(lambda: operator.show(key))
    _print(detail, as_json, _detail_tables)


@app.command()
def replay(
    key: Annotated[str, typer.Argument(help="The flow's key.")],
    database: JournalOption = None,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from-step", help="The step to run again from (default: parked)."
        ),
    ] = None,
) -> None:
    """Run an ended flow again from a step, on its queue and customer partition."""
    with _operator(database) as operator:
        position = _or_exit(lambda: operator.replay(key, from_step))
    _say(f"Flow {key} queued again from journal step {position}.")


@app.command()
def cancel(
    key: Annotated[str, typer.Argument(help="The flow's key.")],
    database: JournalOption = None,
) -> None:
    """Cancel a flow: it stops at its next step and is marked cancelled."""
    with _operator(database) as operator:
        _or_exit(lambda: operator.cancel(key))
    _say(f"Flow {key} cancelled.")


@app.command()
def recover(
    executor: Annotated[
        str, typer.Option("--executor", help="The dead worker's executor id.")
    ],
    database: JournalOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-queue the flows a worker gone for good left running (never a live one)."""
    with _operator(database) as operator:
        keys = operator.recover(executor)
    if as_json:
        typer.echo(json.dumps(keys))
        return
    _say(_recovered(executor, keys))


@app.command()
def correct(
    key: Annotated[str, typer.Argument(help="The parked flow's key.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help=(
                "The corrected order or refund, as JSON: the canonical payload "
                "of 'show KEY --json' (or that whole output), edited; - reads "
                "standard input."
            ),
        ),
    ],
    replay_after: Annotated[
        bool,
        typer.Option("--replay", help="Queue the flow again once corrected."),
    ] = False,
    database: JournalOption = None,
) -> None:
    """Store a parked flow's corrected order or refund; --replay runs it again.

    Only a parked flow (to_resume or escalated) is corrected, and only with a
    payload of the same key (source, external id) and partition. The replay
    starts at the validate step, so the corrected payload is checked again;
    the steps look up what they made before, so nothing is made twice.
    """
    payload = _correction(file)
    with _operator(database) as operator:
        position = _or_exit(lambda: operator.correct(key, payload, replay_after))
    if position is None:
        _say(f"Correction of {key} stored; replay it with: divalto flows replay {key}")
    else:
        _say(
            f"Correction of {key} stored; flow queued again from journal step "
            f"{position} (validate)."
        )


@app.command()
def reconcile(
    database: JournalOption = None,
    profile: ProfileOption = None,
    simulator: SimulatorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the intake with the ERP; list every difference.

    Orders are compared by the shop's order id, refunds by their credit note.
    Exit code 0: no difference; 1: differences (listed); 2: the comparison
    could not be made (no journal, ERP unreachable or refusing the login),
    with one line on standard error.
    """
    # The ERP client logs each call: errors only, and never on standard output,
    # so that the one line below is what a failure prints.
    configure_logging(level="ERROR", stream=cast(TextIO, _Stderr()), cache=False)
    chosen = profile_or_exit(profile, simulator)
    erp = Divalto(chosen)
    try:
        with _operator(database, Adapters(erp), failure_code=2) as operator:
            differences = _compare(operator, chosen)
    finally:
        erp.close()
    _print(differences, as_json, _difference_table)
    if differences:
        raise typer.Exit(1)


def profile_or_exit(name: str | None, simulator: str | None) -> Profile:
    """The profile ``name``, or the simulator's demo account at ``simulator``."""
    if name is not None and simulator is not None:
        fail("give --profile or --simulator, not both", code=2)
    try:
        return simulator_profile(simulator) if simulator else load_profile(name)
    except ProfileInvalid as exc:
        fail(str(exc), code=2)


def fail(message: str, *, code: int) -> NoReturn:
    """Print ``message`` on standard error and exit with ``code``."""
    Console(stderr=True, highlight=False).print(
        f"Error: {message}", markup=False, soft_wrap=True
    )
    raise typer.Exit(code)


def journal_url(database: str | None, cwd: Path | None = None) -> str:
    """The journal to open: ``database`` (already ``--database`` or
    ``$DIVALTO_JOURNAL``), else ``divalto sync``'s journal in ``cwd``.

    A value without ``://`` is a SQLite file's path. Exits with code 2, saying
    what to give, when there is none.
    """
    if database:
        return database if "://" in database else sqlite_url(database)
    folder = Path.cwd() if cwd is None else cwd
    left_by_sync = folder / SYNC_STATE_DIR / JOURNAL_FILE
    if left_by_sync.is_file():
        return sqlite_url(left_by_sync)
    fail(
        f"no journal: give --database sqlite:///PATH (or postgresql://...), set "
        f"${JOURNAL_ENV}, or run in the folder holding the "
        f"{SYNC_STATE_DIR}/{JOURNAL_FILE} that divalto sync made",
        code=2,
    )


@contextlib.contextmanager
def _operator(
    database: str | None, adapters: Adapters | None = None, failure_code: int = 1
) -> Iterator[Operator]:
    url = journal_url(database)
    try:
        client = FlowClient(url)
    except JournalUnavailable as exc:
        fail(str(exc), code=failure_code)
    store = IntakeStore(url)
    try:
        yield Operator(client, store, adapters)
    finally:
        store.close()
        client.close()


class _Stderr:
    """Standard error as it is when written to (a test runner may swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _or_exit(action: Callable[[], T]) -> T:
    try:
        return action()
    except OperatorError as exc:
        fail(str(exc), code=1)
    except DivaltoError as exc:
        fail(f"the ERP answered: {exc}", code=1)


def _compare(operator: Operator, profile: Profile) -> list[Difference]:
    """The reconciliation's differences, or exit 2 with one line saying why not."""
    try:
        return operator.reconcile()
    except AuthError as exc:
        fail(
            f"reconcile failed: the ERP refused user {profile.user} of dossier "
            f"{profile.dossier}: {exc}",
            code=2,
        )
    except (DivaltoError, OperatorError) as exc:
        fail(f"reconcile failed: {exc}", code=2)


def _recovered(executor: str, keys: list[str]) -> str:
    if not keys:
        return f"No flow of {executor} was left running: nothing queued again."
    return f"{len(keys)} flow(s) of {executor} queued again: {', '.join(keys)}"


def _correction(file: Path) -> Any:
    """The JSON of ``file`` (``-``: standard input); ``show --json``'s whole
    output gives its ``canonical`` payload. Exits 1 on a file that cannot be
    read or is not JSON, naming it and where."""
    name = "standard input" if str(file) == "-" else str(file)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {name}: {exc}", code=1)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(
            f"{name} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            code=1,
        )
    if isinstance(payload, dict) and {"key", "canonical"} <= payload.keys():
        return payload["canonical"]
    return payload


def _say(message: str) -> None:
    Console(highlight=False).print(message, markup=False, soft_wrap=True)


def _print(value: Any, as_json: bool, table: Callable[[Any, Console], None]) -> None:
    if as_json:
        typer.echo(json.dumps(plain(value), indent=2, default=str, ensure_ascii=False))
        return
    table(value, Console(highlight=False))


WIDE = 120
"""From this terminal width on, ``list`` adds the partition and executor columns."""


def _summary_table(summaries: list[FlowSummary], console: Console) -> None:
    """The flows as a table that fits the terminal.

    The key is what show, replay and correct need: it is never cut nor folded;
    the states are short words, kept whole too; the reason folds. Below
    :data:`WIDE` columns the partition and executor (in ``show`` and
    ``--json``) are left out, so that the reason keeps a readable width.
    """
    wide = console.width >= WIDE
    table = Table()
    for header, values in (
        ("key", [summary.key for summary in summaries]),
        ("status", [summary.status or "-" for summary in summaries]),
        ("engine", [summary.engine_state or "-" for summary in summaries]),
    ):
        widest = max(map(len, [header, *values]))
        table.add_column(header, no_wrap=True, min_width=widest)
    if wide:
        table.add_column("partition", overflow="fold")
        table.add_column("executor", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    for summary in summaries:
        where = [summary.partition or "-", summary.executor_id or "-"] if wide else []
        table.add_row(
            summary.key,
            summary.status or "-",
            summary.engine_state or "-",
            *where,
            summary.reason or "",
        )
    console.print(table)
    console.print(f"{len(summaries)} flow(s)")


def _detail_tables(detail: FlowDetail, console: Console) -> None:
    facts = Table("", "", show_header=False, title=detail.key)
    for label, value in (
        ("status", detail.status),
        ("engine state", detail.engine_state),
        ("partition", detail.partition),
        ("executor", detail.executor_id),
        ("documents", ", ".join(f"{k} {v}" for k, v in detail.documents.items())),
        ("parked", _parking_line(detail.parking)),
        ("created", detail.created_at),
        ("updated", detail.updated_at),
    ):
        facts.add_row(label, value or "-")
    console.print(facts)
    steps = Table("#", "step")
    steps.add_column("started", overflow="fold")
    steps.add_column("ms")
    steps.add_column("error", overflow="fold", ratio=1)
    for step in detail.steps:
        duration = "-" if step.duration_ms is None else str(step.duration_ms)
        steps.add_row(
            str(step.number),
            step.name,
            step.started_at or "-",
            duration,
            step.error or "",
        )
    console.print(steps)


def _parking_line(parking: dict[str, Any] | None) -> str | None:
    if parking is None:
        return None
    return (
        f"{parking.get('state')} at {parking.get('step')}: {parking_text(parking)} "
        f"({parking.get('suggested_action')})"
    )


def _difference_table(differences: list[Difference], console: Console) -> None:
    table = Table()
    table.add_column(
        "key", no_wrap=True, min_width=max((len(d.key) for d in differences), default=3)
    )
    for header in ("difference", "document", "intake", "ERP"):
        table.add_column(header, overflow="fold")
    for found in differences:
        table.add_row(
            found.key, found.kind, found.document, found.intake or "-", found.erp or "-"
        )
    console.print(table)
    console.print(f"{len(differences)} difference(s)")

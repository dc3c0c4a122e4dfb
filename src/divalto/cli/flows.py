"""``divalto flows``: see and steer the durable flows of a journal.

Tables for people; ``--json`` prints the same facts as JSON for scripts. The
journal is ``--database`` (or ``$DIVALTO_FLOWS_DATABASE``): a SQLite URL
(``sqlite:///path/flows.db``) or a PostgreSQL URL. A refused request (unknown
key, step or state, a flow still running) ends with one line on standard error
and exit code 1; a journal that cannot be opened, the same.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any, NoReturn, TextIO, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.errors import DivaltoError, ProfileInvalid
from divalto.flows.engine import FlowClient, JournalUnavailable, sqlite_url
from divalto.flows.intake import IntakeStore
from divalto.flows.operator import (
    Difference,
    FlowDetail,
    FlowSummary,
    Operator,
    OperatorError,
    plain,
)
from divalto.flows.worker import simulator_profile
from divalto.settings import Profile, load_profile
from divalto.telemetry import configure_logging

T = TypeVar("T")

DEFAULT_DATABASE = sqlite_url("divalto-flows.db")

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        envvar="DIVALTO_FLOWS_DATABASE",
        help="The journal: sqlite:///PATH or postgresql://...",
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
    database: DatabaseOption = DEFAULT_DATABASE,
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
    database: DatabaseOption = DEFAULT_DATABASE,
    as_json: JsonOption = False,
) -> None:
    """Show a flow: its states, ERP documents, parking, and each step's timing."""
    with _operator(database) as operator:
        detail = _or_exit(lambda: operator.show(key))
    _print(detail, as_json, _detail_tables)


@app.command()
def replay(
    key: Annotated[str, typer.Argument(help="The flow's key.")],
    database: DatabaseOption = DEFAULT_DATABASE,
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
    database: DatabaseOption = DEFAULT_DATABASE,
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
    database: DatabaseOption = DEFAULT_DATABASE,
    as_json: JsonOption = False,
) -> None:
    """Re-queue the flows a worker gone for good left running (never a live one)."""
    with _operator(database) as operator:
        keys = operator.recover(executor)
    if as_json:
        typer.echo(json.dumps(keys))
        return
    _say(f"{len(keys)} flow(s) of {executor} queued again: {', '.join(keys)}")


@app.command()
def reconcile(
    database: DatabaseOption = DEFAULT_DATABASE,
    profile: ProfileOption = None,
    simulator: SimulatorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the intake with the ERP; list every difference (exit 1 if any).

    Orders are compared by the shop's order id, refunds by their credit note.
    """
    # The ERP client logs each call; only warnings, and never on standard output.
    configure_logging(level="WARNING", stream=cast(TextIO, _Stderr()), cache=False)
    erp = Divalto(profile_or_exit(profile, simulator))
    try:
        with _operator(database, Adapters(erp)) as operator:
            differences = _or_exit(operator.reconcile)
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


@contextlib.contextmanager
def _operator(database: str, adapters: Adapters | None = None) -> Iterator[Operator]:
    try:
        client = FlowClient(database)
    except JournalUnavailable as exc:
        fail(str(exc), code=1)
    store = IntakeStore(database)
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


def _say(message: str) -> None:
    Console(highlight=False).print(message, markup=False, soft_wrap=True)


def _print(value: Any, as_json: bool, table: Callable[[Any, Console], None]) -> None:
    if as_json:
        typer.echo(json.dumps(plain(value), indent=2, default=str, ensure_ascii=False))
        return
    table(value, Console(highlight=False))


def _summary_table(summaries: list[FlowSummary], console: Console) -> None:
    table = Table("key", "status", "engine", "partition", "executor", "reason")
    for summary in summaries:
        table.add_row(
            summary.key,
            summary.status or "-",
            summary.engine_state or "-",
            summary.partition or "-",
            summary.executor_id or "-",
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
    steps = Table("#", "step", "started", "ms", "error")
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
        f"{parking.get('state')} at {parking.get('step')}: {parking.get('reason')} "
        f"({parking.get('category')}; {parking.get('suggested_action')})"
    )


def _difference_table(differences: list[Difference], console: Console) -> None:
    table = Table("key", "difference", "document", "intake", "ERP")
    for found in differences:
        table.add_row(
            found.key, found.kind, found.document, found.intake or "-", found.erp or "-"
        )
    console.print(table)
    console.print(f"{len(differences)} difference(s)")

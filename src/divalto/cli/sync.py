"""``divalto sync PATH``: run a shop's orders and refunds into the ERP.

A progress bar while the flows run, then a summary table, the report's path and
the command that lists what was parked; ``--json`` prints the summary as JSON
instead. Exit code 0 when every item ended completed, parked or rejected (with
its reason in the report), 1 when an item was lost (its flow failed or did not
end in time), 2 when the run cannot start (a bad path, a bad profile, a login
refused, a busy state directory), with one line on standard error; 130 or 143
when SIGINT or SIGTERM stopped it (the partial report is written, and the same
command resumes it).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from divalto.cli.flows import fail
from divalto.errors import ProfileInvalid
from divalto.mapping import MappingProfile, default_mapping, load_mapping
from divalto.settings import Profile, load_profile
from divalto.sources.base import ReadResult
from divalto.sync import SyncError, SyncRequest, SyncResult
from divalto.sync import sync as run_sync
from divalto.telemetry import configure_logging


class Source(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    PRESTASHOP = "prestashop"
    ONLINE_RETAIL = "online-retail"
    JSONL = "jsonl"


def sync(
    path: Annotated[
        Path, typer.Argument(help="A file, or a folder whose files are all read.")
    ],
    source: Annotated[
        Source | None,
        typer.Option(help="The shop the files come from (default: guessed per file)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            envvar="DIVALTO_PROFILE",
            help="The ERP profile; default: a simulator seeded for the input.",
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A mapping profile (TOML); default: the built-in one.", dir_okay=False
        ),
    ] = None,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            help="Where the journal, the embedded ERP and the report are kept.",
            file_okay=False,
        ),
    ] = Path(".divalto-sync"),
    journal: Annotated[
        Path | None,
        typer.Option(
            help="The journal (SQLite file); default: in the state directory.",
            dir_okay=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="The JSON report; default: report.json in the state directory.",
            dir_okay=False,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Flows run at once (distinct customers).")
    ] = 16,
    deadline: Annotated[
        float,
        typer.Option(
            min=1,
            help="Give up on the flows still running when none ended for so long (s).",
        ),
    ] = 300.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON.")
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="The least level logged, as JSON lines on stderr.")
    ] = "ERROR",
) -> None:
    """Read orders and refunds, run each through its flow, tell what became of it."""
    configure_logging(level=log_level)
    request = SyncRequest(
        path=path,
        state_dir=state_dir,
        mapping=_mapping(mapping),
        source=None if source is None else source.value,
        profile=_profile(profile),
        journal=journal,
        report=report,
        concurrency=concurrency,
        deadline=deadline,
    )
    console = Console(highlight=False)
    try:
        result = run_sync(request) if as_json else _with_progress(request, console)
    except SyncError as exc:
        fail(str(exc), code=2)
    if as_json:
        typer.echo(json.dumps(_json_summary(result), indent=2, ensure_ascii=False))
    else:
        _print_summary(result, console)
    unfinished = result.report["summary"]["unfinished"]
    if result.outcome.interrupted is not None:
        typer.echo(
            f"interrupted: {unfinished} items not finished; "
            "run the same command again to resume",
            err=True,
        )
    raise typer.Exit(result.exit_code)


def _mapping(path: Path | None) -> MappingProfile:
    if path is None:
        return default_mapping()
    try:
        return load_mapping(path)
    except ProfileInvalid as exc:
        fail(str(exc), code=2)


def _profile(name: str | None) -> Profile | None:
    if name is None:
        return None
    try:
        return load_profile(name)
    except ProfileInvalid as exc:
        fail(str(exc), code=2)


class _RateColumn(ProgressColumn):
    """Items ended per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:.1f}/s")


def _with_progress(request: SyncRequest, console: Console) -> SyncResult:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("Reading", total=None)

    started: list[bool] = []

    def on_start() -> None:
        progress.start()
        started.append(True)

    def on_read(read: ReadResult) -> None:
        orders = sum(item.key.startswith("order:") for item in read.items)
        console.print(
            f"Read {len(read.files)} file(s): {orders} order(s), "
            f"{len(read.items) - orders} refund(s), {len(read.rejections)} "
            f"rejected, {len(read.skipped)} file(s) skipped.",
            markup=False,
        )
        progress.update(task, description="Syncing", total=len(read.items))

    def on_progress(ended: int, total: int) -> None:
        progress.update(task, completed=ended, total=total)

    # The bar shows once the run may go on: a bad path or a busy state
    # directory is told alone.
    try:
        return run_sync(
            request, on_start=on_start, on_read=on_read, on_progress=on_progress
        )
    finally:
        if started:
            progress.stop()


def _json_summary(result: SyncResult) -> dict[str, Any]:
    return {
        "summary": result.report["summary"],
        "report": str(result.report_path),
        "next": result.report["next"],
        "exit_code": result.exit_code,
    }


def _print_summary(result: SyncResult, console: Console) -> None:
    summary = result.report["summary"]
    table = Table(
        "",
        "read",
        "repeats",
        "completed",
        "to resume",
        "escalated",
        "lost",
        title="Sync",
    )
    for label, key in (("orders", "orders"), ("refunds", "refunds")):
        counts = summary[key]
        table.add_row(
            label,
            *(
                str(counts[name])
                for name in (
                    "read",
                    "repeats",
                    "completed",
                    "to_resume",
                    "escalated",
                    "lost",
                )
            ),
        )
    console.print(table)
    if summary["parked_by_reason"]:
        reasons = Table("parked", "items", title="Parked, by reason")
        for reason, count in summary["parked_by_reason"].items():
            reasons.add_row(reason, str(count))
        console.print(reasons)
    made = summary["new_documents"]
    kinds = ", ".join(f"{kind} {count}" for kind, count in made.items())
    read = summary["orders"]["read"] + summary["refunds"]["read"]
    lines = []
    if read == 0:
        lines.append(f"no order or refund found in {result.report['input']['path']}")
    lines += [
        f"rejected by the reader: {summary['rejected']}",
        f"files skipped: {summary['skipped_files']}",
        f"already done: {summary['already_done']}",
    ]
    for label, key in (
        ("resumed", "resumed"),
        ("corrected and replayed", "corrected"),
        ("refunds replayed now that their order is invoiced", "retried"),
        ("changed after completion (left as done)", "changed_after_completion"),
    ):
        if summary[key]:
            lines.append(f"{label}: {summary[key]}")
    for key in result.report["changed_after_completion"]:
        lines.append(f"  changed: {key}")
    lines += [
        f"new documents: {summary['new_documents_total']}"
        + (f" ({kinds})" if kinds else ""),
        f"lost: {summary['lost']}",
    ]
    if summary["orders"]["repeats"] or summary["refunds"]["repeats"]:
        lines.append(
            "repeats: items whose key was read before in the same input; "
            "they run once, as the first"
        )
    lines.append(
        f"report: {result.report_path} (every item; rejected items and skipped "
        "files with their reasons)"
    )
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
    for command in result.report["next"]:
        console.print(f"next: {command}", markup=False, soft_wrap=True)

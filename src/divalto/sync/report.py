"""The report of a sync run: a summary for people, every detail for replay.

:func:`build_report` turns what was read and what became of it into one plain
dict, written as JSON (:func:`write_report`):

- ``summary``: orders and refunds read, completed, parked (by state and by
  reason), rejected by the reader, skipped files, already known to the
  journal, new ERP documents, lost;
- ``items``: every item with its key, kind, file, position, status, ERP
  documents and parking reason;
- ``rejections``: every item the reader refused, with its file, position,
  field, reason and raw payload, so that it can be corrected and read again;
- ``skipped``: the files that held no orders or refunds;
- ``changed_after_completion``: the keys of completed items whose input now
  reads differently (left as they are);
- ``next``: the commands that show and replay the parked items.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from divalto.flows.intake import IntakeStatus
from divalto.sources.base import ReadResult
from divalto.sync.run import ItemOutcome, SyncOutcome

__all__ = ["REPORT_VERSION", "build_report", "parked_reason", "write_report"]

REPORT_VERSION = 1

_PARKED = (IntakeStatus.TO_RESUME.value, IntakeStatus.ESCALATED.value)


def build_report(
    read: ReadResult,
    outcome: SyncOutcome,
    *,
    path: Path,
    source: str | None,
    erp: Mapping[str, Any],
    journal: Path,
    seeded: Mapping[str, int] | None,
    erp_documents: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The run's report as plain JSON-ready data (see the module docstring).

    ``erp`` says which ERP was used (``mode`` ``embedded`` or ``profile``);
    ``erp_documents`` the embedded ERP's document counts ``before`` and
    ``after`` the run, when known.
    """
    database = f"sqlite:///{journal.resolve()}"
    made = new_documents(outcome, erp_documents)
    return {
        "version": REPORT_VERSION,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(outcome.duration_s, 3),
        "input": {
            "path": str(path),
            "source": source,
            "files": [str(file) for file in read.files],
        },
        "erp": dict(erp),
        "journal": str(journal),
        "seeded": None if seeded is None else dict(seeded),
        "erp_documents": None if erp_documents is None else dict(erp_documents),
        "summary": summary(read, outcome, made),
        "items": [_item(entry) for entry in outcome.outcomes],
        "rejections": [
            {
                "file": str(rejection.origin.file),
                "position": rejection.origin.position,
                "field": rejection.field,
                "reason": rejection.reason,
                "key": rejection.key,
                "raw": rejection.raw,
            }
            for rejection in read.rejections
        ],
        "skipped": [
            {"file": str(skip.file), "reason": skip.reason} for skip in read.skipped
        ],
        "changed_after_completion": [
            entry.key for entry in outcome.outcomes if entry.changed
        ],
        "next": next_commands(outcome, database),
    }


def new_documents(
    outcome: SyncOutcome, erp_documents: Mapping[str, Mapping[str, int]] | None
) -> dict[str, int]:
    """The ERP documents this run made, per kind (none left out).

    The ERP's own counts after less before, when known (the embedded ERP);
    else what the journal says of the items whose flow ran in this run.
    """
    if erp_documents is None:
        return dict(sorted(outcome.new_documents().items()))
    before, after = erp_documents["before"], erp_documents["after"]
    return {
        kind: after.get(kind, 0) - before.get(kind, 0)
        for kind in sorted(set(before) | set(after))
        if after.get(kind, 0) != before.get(kind, 0)
    }


def summary(
    read: ReadResult, outcome: SyncOutcome, made: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The counts of the run, per kind of item and in all.

    ``made`` is the documents the run made per kind (default: the journal's
    estimate, :meth:`SyncOutcome.new_documents`).
    """
    if made is None:
        made = dict(sorted(outcome.new_documents().items()))
    runs = [entry for entry in outcome.outcomes if not entry.duplicate]
    kinds = {
        kind: _counts([o for o in outcome.outcomes if o.kind == kind])
        for kind in ("order", "refund")
    }
    parked = Counter(
        parked_reason(entry)
        for entry in outcome.outcomes
        if entry.status in _PARKED and not entry.duplicate
    )
    return {
        "orders": kinds["order"],
        "refunds": kinds["refund"],
        "parked_by_reason": dict(sorted(parked.items())),
        "rejected": len(read.rejections),
        "skipped_files": len(read.skipped),
        "already_done": sum(entry.already_done for entry in runs),
        "resumed": sum(entry.resumed for entry in runs),
        "corrected": sum(entry.corrected for entry in runs),
        "retried": sum(entry.retried for entry in runs),
        "changed_after_completion": sum(entry.changed for entry in runs),
        "new_documents": dict(made),
        "new_documents_total": sum(made.values()),
        "lost": len(outcome.lost),
        "unfinished": len(outcome.unfinished),
        "interrupted": outcome.interrupted,
    }


def _counts(outcomes: list[ItemOutcome]) -> dict[str, int]:
    """Items read, repeats of a key read before, and the others by status."""
    runs = [entry for entry in outcomes if not entry.duplicate]
    statuses = Counter(entry.status for entry in runs)
    return {
        "read": len(outcomes),
        "repeats": len(outcomes) - len(runs),
        "completed": statuses[IntakeStatus.COMPLETED.value],
        "to_resume": statuses[IntakeStatus.TO_RESUME.value],
        "escalated": statuses[IntakeStatus.ESCALATED.value],
        "cancelled": statuses[IntakeStatus.CANCELLED.value],
        "lost": sum(entry.lost for entry in runs),
    }


def parked_reason(entry: ItemOutcome) -> str:
    """``state: category/code at step``, the reason a parked item is grouped by."""
    parking = entry.parking or {}
    return (
        f"{entry.status}: {parking.get('category', '?')}/{parking.get('code', '?')}"
        f" at {parking.get('step', '?')}"
    )


def _item(entry: ItemOutcome) -> dict[str, Any]:
    return {
        "key": entry.key,
        "kind": entry.kind,
        "file": str(entry.item.origin.file),
        "position": entry.item.origin.position,
        "status": entry.status,
        "new": entry.new,
        "prior": entry.prior,
        "corrected": entry.corrected,
        "retried": entry.retried,
        "changed": entry.changed,
        "duplicate": entry.duplicate,
        "documents": entry.documents,
        "parking": entry.parking,
        "error": entry.error,
    }


def next_commands(
    outcome: SyncOutcome, database: str, program: str | None = None
) -> list[str]:
    """The operator commands that show the parked items and replay one.

    They name the journal (``--database``), so they work from any folder, and
    start with ``program`` (default: :func:`program_name`), so they run as printed.
    """
    parked = [entry for entry in outcome.outcomes if entry.status in _PARKED]
    if not parked:
        return []
    divalto = program or program_name()
    where = f"--database {shlex.quote(database)}"
    commands = [
        f"{divalto} flows list --state {state} {where}"
        for state in _PARKED
        if any(entry.status == state for entry in parked)
    ]
    first = shlex.quote(parked[0].key)
    commands.append(f"{divalto} flows show {first} {where}")
    commands.append(f"{divalto} flows replay {first} {where}")
    return commands


def program_name(
    argv0: str | None = None,
    cwd: Path | None = None,
    which: Any = shutil.which,
) -> str:
    """How to type the running ``divalto`` command so that it runs as typed.

    ``divalto`` when the shell finds this very executable under that name;
    else the path of the running one (``argv0``, default ``sys.argv[0]``),
    relative to ``cwd`` when under it (``.venv/bin/divalto``). Run as
    ``python -m divalto.cli``, the ``divalto`` script next to the interpreter,
    or that interpreter with ``-m divalto.cli`` when there is none.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    cwd = cwd or Path.cwd()
    running = Path(argv0)
    if running.name in ("__main__.py", "-m", "-c", "") or running.suffix == ".py":
        script = Path(sys.executable).parent / "divalto"
        if not script.is_file():
            python = _relative(Path(sys.executable), cwd)
            return f"{shlex.quote(python)} -m divalto.cli"
        running = script
    found = which("divalto")
    if found is not None and _same(Path(found), running):
        return "divalto"
    return shlex.quote(_relative(running, cwd))


def _same(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _relative(path: Path, cwd: Path) -> str:
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(cwd):
        relative = str(absolute.relative_to(cwd))
        return relative if os.sep in relative else f".{os.sep}{relative}"
    return str(absolute)


def write_report(report: Mapping[str, Any], path: Path) -> None:
    """Write ``report`` as indented UTF-8 JSON (Decimals and dates as text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")

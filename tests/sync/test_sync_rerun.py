"""``divalto sync`` run again: after a stop, after a fix, against a refused login.

What a new user meets on the second run of the same command: an interrupted
run resumed and told as such, a parked item corrected by fixing its file, a
completed item whose file changed told (not redone), a clean stop on Ctrl-C,
one line for a run that cannot start, and ``next:`` commands that run as
printed. Each run is a process of its own against the embedded simulator.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from divalto.sync.report import program_name
from tests.sync.test_sync_cli import (
    erp_documents,
    order,
    refund,
    report,
    run,
    write_jsonl,
)


def intake_statuses(state: Path) -> dict[str, str]:
    """The journal's intake statuses per key (empty while it does not exist)."""
    journal = state / "journal.sqlite3"
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            rows = db.execute("SELECT key, status FROM divalto_intake").fetchall()
    except sqlite3.OperationalError:  # the table is not made yet
        return {}
    return dict(rows)


def profile_config(tmp_path: Path, base_url: str) -> Path:
    config = tmp_path / "divalto.toml"
    config.write_text(
        f'[profiles.sim]\nbase_url = "{base_url}"\ndossier = "998"\nuser = "DEMO"\n',
        encoding="utf-8",
    )
    return config


def test_sigint_stops_cleanly_and_the_rerun_resumes_without_twins(
    tmp_path: Path,
) -> None:
    """Ctrl-C once the first orders completed: exit 130, one line, the partial
    report; the same command then finishes the rest, tells what it resumed,
    and the ERP holds one order per shop order."""
    orders = [order(f"70{n:02d}", "A", ("MUG01", "1", "8.50")) for n in range(30)]
    source = write_jsonl(tmp_path / "many.jsonl", *orders)
    state = tmp_path / "state"
    command = [sys.executable, "-m", "divalto.cli", "sync", str(source)]
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*command, "--state-dir", str(state), "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        limit = time.monotonic() + 60
        while time.monotonic() < limit:
            done = list(intake_statuses(state).values()).count("completed")
            if done >= 2 or process.poll() is not None:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    written = report(state)
    first = written["summary"]
    assert first["interrupted"] == "SIGINT"
    unfinished = first["unfinished"]
    assert unfinished >= 1
    assert lines[0] == (
        f"interrupted: {unfinished} items not finished; "
        "run the same command again to resume"
    )
    assert first["orders"]["completed"] + unfinished == 30
    assert f"report: {state / 'report.json'}" in stdout
    statuses = intake_statuses(state)
    ended = list(statuses.values()).count("completed")
    before = erp_documents(state)

    again = run(str(source), "--state-dir", str(state), "--json")

    assert again.returncode == 0, again.stderr
    second = report(state)["summary"]
    assert second["orders"]["completed"] == 30
    assert second["already_done"] == ended
    assert second["resumed"] == len(statuses) - ended
    after = erp_documents(state)
    assert after["order"] == 30
    assert second["new_documents"] == {
        kind: after[kind] - before[kind]
        for kind in after
        if after[kind] != before[kind]
    }
    assert second["new_documents_total"] == sum((after - before).values())


def test_parked_order_fixed_in_its_file_is_corrected_and_replayed(
    tmp_path: Path,
) -> None:
    """A negative quantity parks to_resume; with the file fixed, the rerun stores
    the new payload, replays the flow, and the ERP gets exactly one order."""
    bad = order("8001", "A", ("MUG01", "-2", "8.50"))
    good = order("8002", "B", ("MUG01", "1", "8.50"))
    source = write_jsonl(tmp_path / "fix.jsonl", bad, good)
    state = tmp_path / "state"

    first = run(str(source), "--state-dir", str(state), "--json")

    assert first.returncode == 0, first.stderr
    items = {item["key"]: item for item in report(state)["items"]}
    parked = items["order:shop:8001"]
    assert (parked["status"], parked["parking"]["step"]) == ("to_resume", "validate")
    assert erp_documents(state)["order"] == 1

    write_jsonl(source, order("8001", "A", ("MUG01", "2", "8.50")), good)
    second = run(str(source), "--state-dir", str(state))

    assert second.returncode == 0, second.stderr
    assert "corrected and replayed: 1" in second.stdout
    assert "already done: 1" in second.stdout
    written = report(state)
    items = {item["key"]: item for item in written["items"]}
    assert items["order:shop:8001"]["status"] == "completed"
    assert items["order:shop:8001"]["corrected"] is True
    assert written["summary"]["corrected"] == 1
    assert written["summary"]["new_documents"] == {
        "delivery": 1, "invoice": 1, "order": 1,
    }  # fmt: skip
    with sqlite3.connect(state / "erp.sqlite3") as db:
        refs = db.execute("SELECT PIREF FROM ENT WHERE PICOD = 2").fetchall()
    assert sorted(refs) == [("8001",), ("8002",)]


def test_completed_order_whose_file_changed_is_told_not_redone(
    tmp_path: Path,
) -> None:
    """A completed order read again with another quantity is left as it is and
    listed as changed after completion, not counted as already done."""
    source = write_jsonl(
        tmp_path / "done.jsonl", order("8101", "A", ("MUG01", "1", "8.50"))
    )
    state = tmp_path / "state"
    assert run(str(source), "--state-dir", str(state), "--json").returncode == 0
    before = erp_documents(state)

    write_jsonl(source, order("8101", "A", ("MUG01", "3", "8.50")))
    result = run(str(source), "--state-dir", str(state))

    assert result.returncode == 0, result.stderr
    assert "changed after completion (left as done): 1" in result.stdout
    assert "changed: order:shop:8101" in result.stdout
    assert "already done: 0" in result.stdout
    written = report(state)
    assert written["changed_after_completion"] == ["order:shop:8101"]
    assert written["summary"]["changed_after_completion"] == 1
    assert erp_documents(state) == before


def test_wrong_password_exits_2_before_reading(
    divalto_simulator: Any, tmp_path: Path
) -> None:
    """A profile whose password the ERP refuses: one line naming the profile and
    the user, never the password; nothing read, nothing journaled."""
    config = profile_config(tmp_path, divalto_simulator.base_url)
    source = write_jsonl(
        tmp_path / "one.jsonl", order("8201", "A", ("ALB0001", "1", "12.50"))
    )
    state = tmp_path / "state"

    result = run(
        str(source), "--state-dir", str(state), "--profile", "sim",
        env={"DIVALTO_CONFIG": str(config), "DIVALTO_SIM_PASSWORD": "not-it-4711"},
    )  # fmt: skip

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: profile sim: cannot log in as user DEMO: ")
    assert "not-it-4711" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert not (state / "journal.sqlite3").exists()
    assert not (state / "report.json").exists()


def test_unreachable_erp_exits_2_with_one_line(tmp_path: Path) -> None:
    """A profile whose ERP does not answer (a closed loopback port)."""
    with socket_port() as port:
        config = profile_config(tmp_path, f"http://127.0.0.1:{port}")
    source = write_jsonl(
        tmp_path / "one.jsonl", order("8301", "A", ("ALB0001", "1", "12.50"))
    )

    result = run(
        str(source), "--state-dir", str(tmp_path / "state"), "--profile", "sim",
        env={"DIVALTO_CONFIG": str(config), "DIVALTO_SIM_PASSWORD": "demo"},
    )  # fmt: skip

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: profile sim: cannot log in as user DEMO: ")


class socket_port:
    """A free loopback port, closed again on exit (nothing listens on it)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return int(self._socket.getsockname()[1])

    def __exit__(self, *exc_info: object) -> None:
        self._socket.close()


def test_busy_state_directory_is_refused_before_reading(tmp_path: Path) -> None:
    """Another run holds the lock: one line, no progress bar, nothing read."""
    source = write_jsonl(
        tmp_path / "one.jsonl", order("8401", "A", ("MUG01", "1", "8.50"))
    )
    state = tmp_path / "state"
    state.mkdir()
    with (state / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run(str(source), "--state-dir", str(state))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {state}: another sync is running with this state directory"
    ]
    assert result.stdout == ""


def test_empty_folder_says_nothing_was_found(tmp_path: Path) -> None:
    """A folder with no file: a plain note instead of a table of zeros only."""
    folder = tmp_path / "empty"
    folder.mkdir()

    result = run(str(folder), "--state-dir", str(tmp_path / "state"))

    assert result.returncode == 0, result.stderr
    assert f"no order or refund found in {folder}" in result.stdout
    assert f"report: {tmp_path / 'state' / 'report.json'}" in result.stdout


def test_next_commands_run_as_printed_without_the_venv(tmp_path: Path) -> None:
    """From another folder, with the venv's bin off PATH, the printed ``next:``
    command runs and lists the parked order."""
    source = write_jsonl(
        tmp_path / "prices.jsonl",
        order("8501", "A", ("MUG01", "1", "8.50")),
        order("8502", "A", ("MUG01", "1", "8.50")),
        order("8503", "A", ("MUG01", "1", "9.90")),
    )
    state = tmp_path / "state"
    env = {"PATH": "/usr/bin:/bin"}

    result = run(str(source), "--state-dir", str(state), env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    nexts = [
        line.removeprefix("next: ")
        for line in result.stdout.splitlines()
        if line.startswith("next: ")
    ]
    assert nexts[0].startswith(f"{Path(sys.executable).parent / 'divalto'} flows list")
    listed = subprocess.run(  # noqa: S602 - the command as a user pastes it
        nexts[0],
        shell=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "order:shop:8503" in listed.stdout


def test_program_name_is_the_path_unless_the_shell_finds_it(tmp_path: Path) -> None:
    """``divalto`` when PATH finds this executable, else its path (relative
    under the current folder)."""
    script = tmp_path / ".venv" / "bin" / "divalto"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()

    def found(name: str) -> str:
        return str(script)

    def missing(name: str) -> None:
        return None

    assert program_name(str(script), tmp_path, found) == "divalto"
    assert program_name(str(script), tmp_path, missing) == ".venv/bin/divalto"
    assert program_name(str(script), other, missing) == str(script)


def test_refund_waiting_for_its_order_is_replayed_once_the_order_is_done(
    tmp_path: Path,
) -> None:
    """A refund read before its order parks until the order is invoiced; the run
    that completes the order (same files, the order added) replays the refund by
    itself, and the ERP gets one credit note."""
    state, inputs = tmp_path / "state", tmp_path / "in"
    inputs.mkdir()
    refunds = write_jsonl(
        inputs / "b-refunds.jsonl", refund("R-9", "9001", "MUG01", "1")
    )
    first = run(str(inputs), "--state-dir", str(state), "--json")

    assert first.returncode == 0, first.stderr
    items = {item["key"]: item for item in report(state)["items"]}
    parking = items["refund:shop:R-9"]["parking"]
    assert (parking["code"], parking["step"]) == (
        "refund.order_not_invoiced",
        "find_invoice",
    )

    write_jsonl(inputs / "a-orders.jsonl", order("9001", "A", ("MUG01", "2", "8.50")))
    second = run(str(inputs), "--state-dir", str(state))

    assert second.returncode == 0, second.stderr
    assert "refunds replayed now that their order is invoiced: 1" in second.stdout
    written = report(state)
    items = {item["key"]: item for item in written["items"]}
    assert items["refund:shop:R-9"]["status"] == "completed"
    assert items["refund:shop:R-9"]["retried"] is True
    assert written["summary"]["retried"] == 1
    assert written["summary"]["new_documents"] == {
        "credit_note": 1, "delivery": 1, "invoice": 1, "order": 1,
    }  # fmt: skip
    assert refunds.exists()
    third = run(str(inputs), "--state-dir", str(state))
    assert "already done: 2" in third.stdout
    assert "new documents: 0" in third.stdout

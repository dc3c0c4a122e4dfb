"""``divalto flows`` as a new user meets it, over the simulator.

The engine runs in this process (:func:`launch_flows`); the commands run
through typer's runner on the same SQLite journal, as an operator's shell
would, and the replays they queue are run by that engine. What is checked:
where the journal comes from when ``--database`` is not given, a list that
never cuts the key at 80 columns, readable step errors, the wording of an
empty recovery, reconcile's exit codes, and ``flows correct`` from a parked
order to its single ERP order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from divalto.cli import app
from divalto.flows import IntakeStatus, sqlite_url
from divalto.flows.engine import prepare_journal
from divalto.testing import RunningSimulator

from .conftest import LaunchFlows, shop_order

LONG_KEY = "order:online-retail:C536365"
KEY = "order:shopify:1001"
UNKNOWN_REASON = "references missing: lines[2].ref: article 'NEW0001' not found"


@pytest.fixture(autouse=True)
def _no_journal_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default journal is under test: no variable of the machine chooses it."""
    monkeypatch.delenv("DIVALTO_JOURNAL", raising=False)
    monkeypatch.delenv("DIVALTO_FLOWS_DATABASE", raising=False)


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``flows reconcile`` configures logging, as a command may: undo it after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def flows_cli(*arguments: str, columns: int = 80) -> Result:
    """``divalto flows ARGUMENTS`` in a terminal ``columns`` wide."""
    return CliRunner().invoke(app, ["flows", *arguments], env={"COLUMNS": str(columns)})


def unknown_article_order(external_id: str = "1001", **changes: Any) -> dict[str, Any]:
    """The test order with its jacket line replaced by an article the ERP lacks."""
    order = shop_order(external_id, **changes)
    order["order"]["lines"][1] = {"ref": "NEW0001", "quantity": "2"}
    return order


def test_the_journal_is_the_option_then_the_variable_then_the_sync_journal(
    launch_flows: LaunchFlows,
    flows_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No journal anywhere: exit 2 naming what to give. ``$DIVALTO_JOURNAL`` (a
    URL or a path) is read; ``divalto sync``'s journal in the current folder is
    the fallback; ``--database`` overrides both."""
    flows = launch_flows()
    flows.flow.submit(shop_order())
    assert flows.flow.wait(KEY, timeout=30).status is IntakeStatus.COMPLETED
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    nowhere = flows_cli("list")
    monkeypatch.setenv("DIVALTO_JOURNAL", flows_database)
    from_url = flows_cli("list", "--json")
    monkeypatch.setenv("DIVALTO_JOURNAL", str(tmp_path / "flows.db"))
    from_path = flows_cli("list", "--json")
    empty = sqlite_url(tmp_path / "empty.db")
    prepare_journal(empty)
    overridden = flows_cli("list", f"--database={empty}")
    monkeypatch.delenv("DIVALTO_JOURNAL")
    (workdir / ".divalto-sync").mkdir()
    prepare_journal(sqlite_url(workdir / ".divalto-sync" / "journal.sqlite3"))
    from_sync = flows_cli("list")
    helped = flows_cli("list", "--help", columns=200)

    assert nowhere.exit_code == 2
    assert nowhere.stdout == ""
    assert nowhere.stderr == (
        "Error: no journal: give --database sqlite:///PATH (or postgresql://...), "
        "set $DIVALTO_JOURNAL, or run in the folder holding the "
        ".divalto-sync/journal.sqlite3 that divalto sync made\n"
    )
    assert from_url.exit_code == 0, from_url.output
    assert [flow["key"] for flow in json.loads(from_url.stdout)] == [KEY]
    assert from_path.exit_code == 0, from_path.output
    assert [flow["key"] for flow in json.loads(from_path.stdout)] == [KEY]
    assert overridden.exit_code == 0, overridden.output
    assert overridden.stdout.splitlines()[-1] == "0 flow(s)"
    assert from_sync.exit_code == 0, from_sync.output
    assert from_sync.stdout.splitlines()[-1] == "0 flow(s)"
    assert helped.exit_code == 0
    assert "DIVALTO_JOURNAL" in helped.stdout
    assert ".divalto-sync/journal.sqlite3" in helped.stdout


def test_at_80_columns_the_list_keeps_the_whole_key_and_folds_the_reason(
    launch_flows: LaunchFlows, flows_database: str
) -> None:
    """A parked order with a long key and a long reason: the key is whole on
    one line, every line fits in 80 columns, the reason is folded, not cut;
    the partition and executor columns come back in a wide terminal."""
    flows = launch_flows()
    flows.flow.submit(unknown_article_order("C536365", source="online-retail"))
    parked = flows.flow.wait(LONG_KEY, timeout=30)

    listed = flows_cli("list", f"--database={flows_database}")
    wide = flows_cli("list", f"--database={flows_database}", columns=170)

    assert parked.status is IntakeStatus.TO_RESUME
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line for line in lines if LONG_KEY in line] != []
    assert "…" not in listed.stdout
    # Folded, the reason's characters are all there, in order.
    reason_cells = "".join(
        line.split("│")[-2].strip() for line in lines if line.count("│") == 5
    )
    assert UNKNOWN_REASON.replace(" ", "") in reason_cells.replace(" ", "")
    assert lines[-1] == "1 flow(s)"
    assert lines[1].split("│" if "│" in lines[1] else "┃")[1:-1] == [
        " key                         ",
        " status    ",
        " engine  ",
        " reason                   ",
    ]
    # From 120 columns on, the partition and the executor are listed too.
    assert wide.exit_code == 0, wide.output
    row = [line for line in wide.stdout.splitlines() if LONG_KEY in line]
    assert [cell.strip() for cell in row[0].split("│")[1:-1]] == [
        LONG_KEY,
        "to_resume",
        "SUCCESS",
        "customer:online-retail:4401",
        "test-worker",
        "references missing: lines[2].ref: article 'NEW0001' not found",
    ]


def test_show_gives_readable_step_errors_and_the_canonical_payload(
    launch_flows: LaunchFlows, flows_database: str
) -> None:
    """The parked step's error is ``code: reason``, in the table and in JSON
    (the parking kept as data beside it); ``canonical`` is the stored order."""
    flows = launch_flows()
    flows.flow.submit(unknown_article_order())
    flows.flow.wait(KEY, timeout=30)

    table = flows_cli("show", KEY, f"--database={flows_database}", columns=250)
    shown = flows_cli("show", KEY, f"--database={flows_database}", "--json")

    assert table.exit_code == 0, table.output
    readable = f"business.references_missing: {UNKNOWN_REASON}"
    create_row = [
        line for line in table.stdout.splitlines() if "│ create_order " in line
    ]
    assert len(create_row) == 1
    assert readable in create_row[0]
    assert "{'state'" not in table.stdout
    assert f"to_resume at create_order: {readable} (fix data then replay)" in (
        table.stdout
    )
    detail = json.loads(shown.stdout)
    steps = {step["name"]: step for step in detail["steps"]}
    assert steps["create_order"]["error"] == readable
    assert steps["create_order"]["parking"] == {
        "state": "to_resume",
        "step": "create_order",
        "category": "business",
        "code": "business.references_missing",
        "reason": UNKNOWN_REASON,
        "suggested_action": "fix data then replay",
        "retries_exhausted": False,
    }
    assert (steps["validate"]["error"], steps["validate"]["parking"]) == (None, None)
    assert detail["canonical"] == unknown_article_order()


def test_recover_says_so_when_no_flow_was_left(flows_database: str) -> None:
    """An executor that left nothing running: a sentence, no dangling colon."""
    prepare_journal(flows_database)

    recovered = flows_cli("recover", "--executor", "divalto-sync", at(flows_database))

    assert recovered.exit_code == 0, recovered.output
    assert recovered.stdout == (
        "No flow of divalto-sync was left running: nothing queued again.\n"
    )


def test_reconcile_exits_0_1_or_2_and_never_shows_the_password(
    launch_flows: LaunchFlows,
    flows_database: str,
    divalto_simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """0: the ERP agrees; 1: a difference, listed; 2: a refused login or no
    journal, one line on standard error naming the user, not the password."""
    flows = launch_flows()
    flows.flow.submit(shop_order())
    flows.flow.wait(KEY, timeout=30)
    simulator = f"--simulator={divalto_simulator.base_url}"
    for setting, value in {
        "BASE_URL": divalto_simulator.base_url,
        "DOSSIER": "998",
        "USER": "DEMO",
        "PASSWORD": "not-the-password-7f3",
        "RETRY__ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(f"DIVALTO_WRONGPW_{setting}", value)

    agreed = flows_cli("reconcile", at(flows_database), simulator)
    refused = flows_cli("reconcile", at(flows_database), "--profile", "wrongpw")
    no_journal = flows_cli(
        "reconcile", "--database=sqlite:////nonexistent/flows.db", simulator
    )
    flows.store.add_document(KEY, "invoice", "FA00000009")
    differs = flows_cli("reconcile", at(flows_database), simulator, "--json")

    assert agreed.exit_code == 0, agreed.output
    assert agreed.stdout.splitlines()[-1] == "0 difference(s)"
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith(
        "Error: reconcile failed: the ERP refused user DEMO of dossier 998: "
    )
    assert "not-the-password-7f3" not in refused.output
    assert no_journal.exit_code == 2
    assert no_journal.stdout == ""
    assert no_journal.stderr == (
        "Error: no journal at sqlite:////nonexistent/flows.db: "
        "the file does not exist\n"
    )
    assert differs.exit_code == 1
    assert json.loads(differs.stdout) == [
        {
            "key": KEY,
            "kind": "missing_in_erp",
            "document": "invoice",
            "intake": "FA00000009",
            "erp": None,
        }
    ]


def at(database: str) -> str:
    """The ``--database`` option naming ``database``."""
    return f"--database={database}"


def test_correct_then_replay_completes_a_parked_order_with_one_erp_order(
    launch_flows: LaunchFlows, flows_database: str, tmp_path: Path
) -> None:
    """Parked on an unknown article; ``show --json`` saved, its line edited and
    fed to ``correct --replay``: the flow completes with one ERP order holding
    the corrected line. Refused before: another key, another customer, a file
    that is not JSON; refused after: a completed flow."""
    flows = launch_flows()
    flows.flow.submit(unknown_article_order())
    parked = flows.flow.wait(KEY, timeout=30)
    shown = json.loads(flows_cli("show", KEY, at(flows_database), "--json").stdout)
    canonical = shown["canonical"]

    other_key = tmp_path / "other-key.json"
    other_key.write_text(json.dumps({**canonical, "external_id": "1002"}))
    moved = tmp_path / "moved.json"
    moved_order = {**canonical, "customer": {**canonical["customer"], "id": "9"}}
    moved.write_text(json.dumps(moved_order))
    broken = tmp_path / "broken.json"
    broken.write_text('{"source": "shopify",\n "external_id": }')
    fixed = tmp_path / "fixed.json"
    canonical["order"]["lines"][1] = {"ref": "ALB0001", "quantity": "2"}
    fixed.write_text(json.dumps(shown, ensure_ascii=False))  # the whole output

    refused_key = flows_cli(
        "correct", KEY, "--file", str(other_key), at(flows_database)
    )
    refused_move = flows_cli("correct", KEY, "--file", str(moved), at(flows_database))
    refused_json = flows_cli("correct", KEY, "--file", str(broken), at(flows_database))
    still = flows.store.require(KEY)
    corrected = flows_cli(
        "correct", KEY, "--file", str(fixed), "--replay", at(flows_database)
    )
    record = flows.flow.wait(KEY, timeout=30)
    too_late = flows_cli("correct", KEY, "--file", str(fixed), at(flows_database))

    assert parked.status is IntakeStatus.TO_RESUME
    assert refused_key.exit_code == 1
    assert refused_key.stderr == (
        f"Error: the correction is for order:shopify:1002, not {KEY}: source and "
        "external_id must stay as they are\n"
    )
    assert refused_move.exit_code == 1
    assert refused_move.stderr == (
        f"Error: the correction of {KEY} moves it from partition "
        "customer:shopify:4401 to customer:shopify:9: a correction cannot change "
        "the customer of an order or the order of a refund\n"
    )
    assert refused_json.exit_code == 1
    assert refused_json.stderr == (
        f"Error: {broken} is not JSON: Expecting value at line 2, column 17\n"
    )
    assert still.canonical == unknown_article_order()
    assert still.status is IntakeStatus.TO_RESUME

    assert corrected.exit_code == 0, corrected.output
    assert corrected.stdout == (
        f"Correction of {KEY} stored; flow queued again from journal step 1 "
        "(validate).\n"
    )
    assert record.status is IntakeStatus.COMPLETED
    assert record.canonical == canonical
    orders = flows.control.table("ENT", PIREF="1001")
    assert [row["PREFPINO"] for row in orders] == [
        "CC00000001",
        "BL00000001",
        "FA00000001",
    ]
    invoice = flows.flow.adapters.invoices.get(record.documents["invoice"])
    assert [(line.ref, str(line.quantity)) for line in invoice.lines] == [
        ("ALB0001", "10"),
        ("ALB0001", "2"),
        ("PORT", "1"),
    ]
    assert too_late.exit_code == 1
    assert too_late.stderr == (
        f"Error: flow {KEY} is completed: only a parked flow (to_resume or "
        "escalated) can be corrected\n"
    )


def test_correct_fixes_a_bad_quantity_parked_at_validate(
    launch_flows: LaunchFlows, flows_database: str, tmp_path: Path
) -> None:
    """A negative quantity parks ``to_resume`` at validate (a contract error);
    ``correct`` alone stores the fix, ``replay`` then completes the order."""
    flows = launch_flows()
    order = shop_order()
    order["order"]["lines"][0]["quantity"] = "-3"
    flows.flow.submit(order)
    parked = flows.flow.wait(KEY, timeout=30)
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(shop_order()))

    corrected = flows_cli("correct", KEY, "--file", str(fixed), at(flows_database))
    stored = flows.store.require(KEY)
    replayed = flows_cli("replay", KEY, at(flows_database))
    record = flows.flow.wait(KEY, timeout=30)

    assert parked.status is IntakeStatus.TO_RESUME
    assert parked.parking is not None
    assert (parked.parking["step"], parked.parking["code"]) == (
        "validate",
        "contract.payload_invalid",
    )
    assert corrected.exit_code == 0, corrected.output
    assert corrected.stdout == (
        f"Correction of {KEY} stored; replay it with: divalto flows replay {KEY}\n"
    )
    assert (stored.status, stored.canonical) == (IntakeStatus.TO_RESUME, shop_order())
    assert replayed.exit_code == 0, replayed.output
    assert record.status is IntakeStatus.COMPLETED
    orders = flows.control.table("ENT", PIREF="1001")
    assert [row["PREFPINO"] for row in orders] == [
        "CC00000001",
        "BL00000001",
        "FA00000001",
    ]

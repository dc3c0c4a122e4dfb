"""``divalto sync`` end to end: files in, ERP documents out, through the CLI.

Each run, a process of its own, starts the embedded simulator on a loopback
port with its state in the test's own state directory, and the flow engine on a
journal next to it. The ERP's documents are counted in the simulator's state
file itself.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SHARED = Path("/work/shared/data")

PICOD = {2: "order", 3: "delivery", 4: "invoice", 5: "credit_note"}


def order(
    external_id: str, customer: str, *lines: tuple[str, str, str]
) -> dict[str, Any]:
    return {
        "kind": "order",
        "source": "shop",
        "external_id": external_id,
        "customer": {"id": customer, "name": f"Customer {customer}"},
        "order": {
            "lines": [
                {"ref": ref, "quantity": quantity, "unit_price": price}
                for ref, quantity, price in lines
            ]
        },
    }


def refund(external_id: str, order_id: str, ref: str, quantity: str) -> dict[str, Any]:
    return {
        "kind": "refund",
        "source": "shop",
        "external_id": external_id,
        "order_id": order_id,
        "lines": [{"ref": ref, "quantity": quantity}],
    }


def write_jsonl(path: Path, *records: dict[str, Any] | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, as a user runs it (DBOS is one per
    process, and owns the process's logging)."""
    return subprocess.run(  # noqa: S603 - our own command, our own arguments
        [sys.executable, "-m", "divalto.cli", "sync", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def run_json(path: Path, state: Path) -> tuple[int, dict[str, Any]]:
    result = run(str(path), "--state-dir", str(state), "--json")
    return result.returncode, json.loads(result.stdout)


def erp_documents(state: Path) -> Counter[str]:
    with sqlite3.connect(state / "erp.sqlite3") as db:
        rows = db.execute("SELECT PICOD, COUNT(*) FROM ENT GROUP BY PICOD").fetchall()
    return Counter({PICOD[picod]: count for picod, count in rows})


def report(state: Path) -> dict[str, Any]:
    written: dict[str, Any] = json.loads(
        (state / "report.json").read_text(encoding="utf-8")
    )
    return written


@pytest.fixture
def orders_file(tmp_path: Path) -> Path:
    """Two orders of two customers and a refund of one line of the first."""
    return write_jsonl(
        tmp_path / "orders.jsonl",
        order("1001", "A", ("MUG01", "2", "8.50"), ("TEA01", "1", "4.20")),
        order("1002", "B", ("MUG01", "3", "8.50")),
        refund("R1", "1001", "MUG01", "1"),
    )


def test_orders_and_refund_become_erp_documents(
    orders_file: Path, tmp_path: Path
) -> None:
    """Each order is ordered, delivered and invoiced; the refund is one credit note."""
    state = tmp_path / "state"

    code, summary = run_json(orders_file, state)

    assert code == 0
    assert summary["summary"]["orders"] == {
        "read": 2, "repeats": 0, "completed": 2, "to_resume": 0, "escalated": 0,
        "cancelled": 0, "lost": 0,
    }  # fmt: skip
    assert summary["summary"]["refunds"]["completed"] == 1
    assert summary["summary"]["new_documents"] == {
        "credit_note": 1, "delivery": 2, "invoice": 2, "order": 2,
    }  # fmt: skip
    assert erp_documents(state) == {
        "order": 2, "delivery": 2, "invoice": 2, "credit_note": 1,
    }  # fmt: skip


def test_second_run_creates_nothing_and_says_so(
    orders_file: Path, tmp_path: Path
) -> None:
    """The same input again finds the journal and the ERP, and makes no document."""
    state = tmp_path / "state"
    run_json(orders_file, state)
    before = erp_documents(state)

    result = run(str(orders_file), "--state-dir", str(state))

    assert result.returncode == 0
    assert erp_documents(state) == before
    assert "already done: 3" in result.stdout
    assert "new documents: 0" in result.stdout
    assert (
        report(state)["erp_documents"]["before"]
        == report(state)["erp_documents"]["after"]
    )


def test_seeded_customer_is_found_and_kept_as_the_flows_left_it(
    tmp_path: Path,
) -> None:
    """The customer is seeded as its first order states it: the upsert finds it
    (no twin, no update) until an order states a new e-mail; a second run does
    not seed it back."""
    first = order("5001", "A", ("MUG01", "1", "8.50"))
    second = order("5002", "A", ("MUG01", "1", "8.50"))
    second["customer"]["email"] = "a@example.com"
    source = write_jsonl(tmp_path / "customers.jsonl", first, second)
    state = tmp_path / "state"

    def customers() -> list[tuple[str, str, int]]:
        with sqlite3.connect(state / "erp.sqlite3") as db:
            query = "SELECT TIERS, EMAIL, VERSION FROM CLI WHERE REFEXT = 'shop:A'"
            return db.execute(query).fetchall()

    code, summary = run_json(source, state)

    assert code == 0
    assert summary["summary"]["orders"]["completed"] == 2
    assert report(state)["seeded"]["CLI"] == 1
    [(tiers, email, version)] = customers()
    assert (email, version) == ("a@example.com", 2)
    codes = {item["documents"]["customer"] for item in report(state)["items"]}
    assert codes == {tiers}

    code, _ = run_json(source, state)

    assert code == 0
    assert report(state)["seeded"]["CLI"] == 0
    assert customers() == [(tiers, "a@example.com", 2)]


def test_bad_line_is_rejected_and_the_others_go_on(tmp_path: Path) -> None:
    """A line that is not JSON is kept in the report; the good order completes."""
    source = write_jsonl(
        tmp_path / "mixed.jsonl",
        "{not json",
        order("2001", "A", ("MUG01", "1", "8.50")),
    )
    state = tmp_path / "state"

    code, summary = run_json(source, state)

    assert code == 0
    assert summary["summary"]["rejected"] == 1
    assert summary["summary"]["orders"]["completed"] == 1
    [rejection] = report(state)["rejections"]
    assert rejection["file"] == str(source)
    assert rejection["position"] == "line 1"
    assert rejection["field"] == "(line)"
    assert rejection["reason"].startswith("not JSON")
    assert rejection["raw"] == "{not json"


def test_price_the_erp_cannot_hold_parks_with_its_reason(tmp_path: Path) -> None:
    """Two prices for one customer and quantity: the ERP keeps the frequent one,
    the other parks; another customer's own price is seeded for it and agrees."""
    source = write_jsonl(
        tmp_path / "prices.jsonl",
        order("3001", "A", ("MUG01", "1", "8.50")),
        order("3002", "A", ("MUG01", "1", "8.50")),
        order("3003", "A", ("MUG01", "1", "9.90")),
        order("3004", "B", ("MUG01", "1", "9.90")),
        order("3005", "C", ("MUG01", "1", "8.50")),
    )
    state = tmp_path / "state"

    code, summary = run_json(source, state)

    assert code == 0
    assert summary["summary"]["orders"]["completed"] == 4
    assert summary["summary"]["parked_by_reason"] == {
        "escalated: business/business.price_mismatch at create_order": 1
    }
    parked = [i for i in report(state)["items"] if i["status"] == "escalated"]
    assert [i["key"] for i in parked] == ["order:shop:3003"]
    assert (
        "costs 9.90 in the shop but 8.50 in the ERP" in parked[0]["parking"]["reason"]
    )
    assert summary["next"][0].endswith(
        " flows list --state escalated --database "
        f"sqlite:///{(state / 'journal.sqlite3').resolve()}"
    )
    assert erp_documents(state)["order"] == 4
    assert report(state)["seeded"]["CLI"] == 3
    assert report(state)["seeded"]["TARIF"] == 1


def test_quantity_breaks_let_the_erp_agree(tmp_path: Path) -> None:
    """A lower price from 10 units on is seeded as a quantity break: all complete."""
    source = write_jsonl(
        tmp_path / "breaks.jsonl",
        order("4001", "A", ("MUG01", "2", "8.50")),
        order("4002", "B", ("MUG01", "12", "7.00")),
        order("4003", "C", ("MUG01", "24", "7.00")),
    )
    state = tmp_path / "state"

    code, summary = run_json(source, state)

    assert code == 0
    assert summary["summary"]["orders"]["completed"] == 3
    assert report(state)["seeded"]["TARIF"] == 2


def test_missing_path_exits_2_with_one_line(tmp_path: Path) -> None:
    """A path that does not exist stops the run before anything starts."""
    result = run(str(tmp_path / "nowhere"), "--state-dir", str(tmp_path / "s"))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'nowhere'}: no such file or folder"
    ]
    assert result.stdout == ""


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data is not here")
def test_products_file_is_reported_skipped(tmp_path: Path) -> None:
    """A folder's products file is read, holds no orders, and is named as skipped."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SHARED / "shopify/products/products_list.json", folder)
    write_jsonl(folder / "orders.jsonl", order("5001", "A", ("MUG01", "1", "8.50")))
    state = tmp_path / "state"

    code, summary = run_json(folder, state)

    assert code == 0
    assert summary["summary"]["skipped_files"] == 1
    [skip] = report(state)["skipped"]
    assert skip["file"] == str(folder / "products_list.json")
    assert summary["summary"]["orders"]["completed"] == 1


def test_report_structure(orders_file: Path, tmp_path: Path) -> None:
    """The report names every item with its origin, status and documents."""
    state = tmp_path / "state"
    run_json(orders_file, state)

    written = report(state)

    assert sorted(written) == sorted(
        [
            "version", "finished_at", "duration_s", "input", "erp", "journal",
            "seeded", "erp_documents", "summary", "items", "rejections",
            "skipped", "changed_after_completion", "next",
        ]
    )  # fmt: skip
    assert written["erp"] == {"mode": "embedded", "state": str(state / "erp.sqlite3")}
    first = written["items"][0]
    assert sorted(first) == sorted(
        ["key", "kind", "file", "position", "status", "new", "prior",
         "corrected", "retried", "changed", "duplicate", "documents", "parking",
         "error"]
    )  # fmt: skip
    assert (first["key"], first["kind"], first["position"], first["status"]) == (
        "order:shop:1001", "order", "line 1", "completed",
    )  # fmt: skip
    assert sorted(first["documents"]) == [
        "customer", "delivery", "invoice", "order",
    ]  # fmt: skip
    assert written["items"][2]["documents"]["credit_note"].startswith("AV")
    assert written["next"] == []


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data is not here")
def test_shopify_files_from_the_shared_data(tmp_path: Path) -> None:
    """Shopify's documented orders and refund: exact outcome per key."""
    state = tmp_path / "state"

    code, summary = run_json(SHARED / "shopify", state)

    assert code == 0
    counts = summary["summary"]
    assert (counts["rejected"], counts["skipped_files"]) == (2, 17)
    statuses = {
        item["key"]: item["status"]
        for item in report(state)["items"]
        if not item["duplicate"]
    }
    assert statuses == {
        "order:shopify:450789469": "completed",
        "order:shopify:1073459966": "completed",
        "order:shopify:1073459972": "completed",
        "order:shopify:1073459975": "completed",
        "order:shopify:1073459981": "completed",
        "order:shopify:1073459983": "completed",
        "refund:shopify:509562969": "completed",
    }


def test_profile_run_that_stalls_loses_items_and_exits_1(
    divalto_simulator: Any, tmp_path: Path
) -> None:
    """Against a profile's ERP (nothing seeded), an order that cannot end in time
    is reported unfinished, and the exit code says something was lost."""
    divalto_simulator.control.add_fault(
        "latency", action="integration_piece", latency_ms=6000
    )
    config = tmp_path / "divalto.toml"
    config.write_text(
        f'[profiles.sim]\nbase_url = "{divalto_simulator.base_url}"\n'
        'dossier = "998"\nuser = "DEMO"\n',
        encoding="utf-8",
    )
    source = write_jsonl(
        tmp_path / "one.jsonl", order("6001", "A", ("ALB0001", "1", "12.50"))
    )
    state = tmp_path / "state"

    result = run(
        str(source), "--state-dir", str(state), "--profile", "sim",
        "--deadline", "2", "--json",
        env={"DIVALTO_CONFIG": str(config), "DIVALTO_SIM_PASSWORD": "demo"},
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr == ""
    written = report(state)
    assert written["erp"] == {"mode": "profile", "profile": "sim"}
    assert written["seeded"] is None
    assert written["summary"]["lost"] == 1
    assert [i["status"] for i in written["items"]] == ["unfinished"]

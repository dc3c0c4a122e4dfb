"""Refunds in ``divalto worker`` and under ``divalto flows``, over the simulator.

A worker process runs both flows from a SQLite journal; this process submits
through a :class:`FlowClient` (it runs no flow) and steers through the CLI. The
refund of order 1001 is submitted before the order, parks, and is replayed by
the operator once the order is invoiced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from divalto.cli import app
from divalto.flows import Intake, IntakeStore
from divalto.flows.engine import FlowClient, prepare_journal
from divalto.flows.order_to_cash import order_to_cash
from divalto.flows.refund import CanonicalRefund, refund_to_credit_note
from divalto.testing import RunningSimulator

from .conftest import shop_order
from .test_workers import Workers, _no_proxy_for_workers  # noqa: F401

REFUND = "refund:shopify:R1"
ORDER = "order:shopify:1001"


def intakes(
    database: str,
) -> tuple[Intake, Intake, FlowClient, IntakeStore]:
    """Order and refund intakes that queue through a client: no flow runs here."""
    client, store = FlowClient(database), IntakeStore(database)

    def start_order(key: str, partition: str) -> None:
        client.start(order_to_cash, key, partition, key)

    def start_refund(key: str, partition: str) -> None:
        client.start(refund_to_credit_note, key, partition, key)

    # The intakes keep their engine for their callers only; a client starts flows.
    orders = Intake(store, None, start_order)  # type: ignore[arg-type]
    refunds = Intake(
        store,
        None,  # type: ignore[arg-type]
        start_refund,
        CanonicalRefund.model_validate,
    )
    return orders, refunds, client, store


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``flows reconcile`` configures logging, as a command may: undo it after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def flows_cli(*arguments: str) -> Any:
    """``divalto flows ARGUMENTS``: its result (exit code, output)."""
    return CliRunner().invoke(app, ["flows", *arguments])


def test_a_worker_runs_refunds_and_the_operator_replays_and_reconciles_them(
    divalto_simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Refund parked before its order; replayed by the CLI; reconciled with the ERP."""
    database = f"sqlite:///{tmp_path / 'flows.db'}"
    control = divalto_simulator.control
    prepare_journal(database)
    orders, refunds, client, store = intakes(database)
    workers = Workers(database, divalto_simulator.base_url, tmp_path)
    at = f"--database={database}"
    try:
        workers.start("refunder", concurrency=4)
        refunds.submit(
            {
                "source": "shopify",
                "external_id": "R1",
                "order_id": "1001",
                "lines": [{"ref": "ALB0001", "quantity": "2"}],
                "reason": "damaged",
            }
        )
        parked = client.wait(REFUND, timeout=60)
        shown_parked = flows_cli("show", REFUND, at, "--json")

        orders.submit(shop_order())
        assert client.wait(ORDER, timeout=60).state == "SUCCESS"
        replayed = flows_cli("replay", REFUND, at)
        after_replay = client.wait(REFUND, timeout=60)
        completed = store.require(REFUND)

        again = flows_cli("replay", REFUND, at, "--from-step", "create_credit_note")
        after_again = client.wait(REFUND, timeout=60)
        reconciled = flows_cli("reconcile", at, "--simulator", workers.base_url)

        store.add_document(REFUND, "credit_note", "AV00000009")
        wrong = flows_cli("reconcile", at, "--simulator", workers.base_url, "--json")
        assert workers.stop_all() == [0]
    finally:
        workers.stop_all()
        client.close()
        store.close()

    assert parked.state == "SUCCESS"
    assert parked.output["code"] == "refund.order_not_invoiced"
    assert shown_parked.exit_code == 0, shown_parked.output
    detail = json.loads(shown_parked.output)
    assert (detail["status"], detail["partition"], detail["queue"]) == (
        "to_resume",
        ORDER,
        "divalto-orders",
    )
    assert [step["name"] for step in detail["steps"]] == [
        "validate",
        "find_invoice",
        "park",
    ]

    assert replayed.exit_code == 0, replayed.output
    assert replayed.output == f"Flow {REFUND} queued again from journal step 2.\n"
    assert (after_replay.state, after_replay.partition, after_replay.queue) == (
        "SUCCESS",
        ORDER,
        "divalto-orders",
    )
    assert after_replay.executor_id == "refunder"
    assert completed.status.value == "completed"
    assert completed.documents == {"invoice": "FA00000001", "credit_note": "AV00000001"}

    assert again.exit_code == 0, again.output
    assert again.output == f"Flow {REFUND} queued again from journal step 3.\n"
    assert after_again.output == {
        "state": "completed",
        "invoice": "FA00000001",
        "credit_note": "AV00000001",
    }
    notes = control.table("ENT", PIREF="R1")
    assert [row["PREFPINO"] for row in notes] == ["AV00000001"]
    acknowledged = [
        entry["key"]
        for entry in map(
            json.loads, (tmp_path / "acks-refunder.jsonl").read_text().splitlines()
        )
    ]
    assert acknowledged == [ORDER, REFUND]

    assert reconciled.exit_code == 0, reconciled.output
    assert reconciled.stdout.splitlines()[-1] == "0 difference(s)"
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout) == [
        {
            "key": REFUND,
            "kind": "number_differs",
            "document": "credit_note",
            "intake": "AV00000009",
            "erp": "AV00000001",
        }
    ]

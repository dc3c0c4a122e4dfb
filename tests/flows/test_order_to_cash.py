"""The order-to-cash flow against the simulator, on a SQLite engine database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

from divalto.flows import CanonicalOrder, IntakeStatus, Submission
from divalto.models import Money
from divalto.testing import RunningSimulator, SimulatorControl

from .conftest import LaunchFlows, shop_order

KEY = "order:shopify:1001"
CREATE = "integration_piece"


def creations(control: SimulatorControl, action: str = CREATE) -> int:
    """How many calls of the business ``action`` the simulator received."""
    requests = control.requests(route="service")
    return sum(1 for entry in requests if entry.get("action") == action)


def test_an_order_runs_to_its_invoice_with_exact_numbers_and_amounts(
    launch_flows: LaunchFlows,
) -> None:
    """A new shop customer's order becomes customer, order, delivery and invoice."""
    flows = launch_flows()

    submission = flows.flow.submit(shop_order())
    record = flows.flow.wait(submission.key, timeout=30)

    assert submission == Submission(KEY, created=True)
    assert record.status is IntakeStatus.COMPLETED
    assert record.documents == {
        "customer": "C0000005",
        "order": "CC00000001",
        "delivery": "BL00000001",
        "invoice": "FA00000001",
    }
    invoice = flows.flow.adapters.invoices.get("FA00000001")
    assert [(line.ref, line.quantity, line.amount) for line in invoice.lines] == [
        ("ALB0001", Decimal("10"), Decimal("125.00")),
        ("BLO0001", Decimal("1"), Decimal("89.90")),
        ("PORT", Decimal("1"), Decimal("7.50")),
    ]
    assert (invoice.customer, invoice.your_reference) == ("C0000005", "1001")
    assert invoice.total_excluding_tax == Money.of("222.40", "EUR")
    assert invoice.total_including_tax == Money.of("266.88", "EUR")
    assert flows.sink.entries() == [
        {
            "key": KEY,
            "source": "shopify",
            "external_id": "1001",
            "documents": record.documents,
        }
    ]


def test_a_second_submission_of_a_key_returns_the_existing_flow(
    launch_flows: LaunchFlows,
) -> None:
    """Submitted again after it completed, the order is neither stored nor run again."""
    flows = launch_flows()
    flows.flow.submit(shop_order())
    first = flows.flow.wait(KEY, timeout=30)

    again = flows.flow.submit(shop_order(customer={"id": "4401", "name": "Other"}))

    assert again == Submission(KEY, created=False)
    assert flows.store.require(KEY) == first
    assert [flow.key for flow in flows.engine.flows()] == [KEY]
    assert creations(flows.control) == 1


def test_the_same_order_submitted_ten_times_at_once_makes_one_flow_and_one_order(
    launch_flows: LaunchFlows,
) -> None:
    """Ten threads submit one key: one creates it, one flow runs, one ERP order."""
    flows = launch_flows()
    barrier = threading.Barrier(10)
    submissions: list[Submission] = []

    def submit() -> None:
        barrier.wait()
        submissions.append(flows.flow.submit(shop_order()))

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = flows.flow.wait(KEY, timeout=30)

    assert sorted(s.created for s in submissions) == [False] * 9 + [True]
    assert {s.key for s in submissions} == {KEY}
    assert [flow.key for flow in flows.engine.flows()] == [KEY]
    assert record.status is IntakeStatus.COMPLETED
    orders = flows.control.table("ENT", PIREF="1001", PICOD="2")
    assert [row["PREFPINO"] for row in orders] == ["CC00000001"]
    assert creations(flows.control) == 1


def test_a_timeout_after_the_order_was_created_adopts_it_instead_of_a_twin(
    launch_flows: LaunchFlows,
) -> None:
    """The create times out after the ERP applied it: the retry finds and adopts it."""
    flows = launch_flows(service_timeout=0.5)
    flows.control.add_fault(
        "timeout_after", route="service", action=CREATE, nth=1, hang_seconds=1.5
    )

    flows.flow.submit(shop_order())
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert record.documents["order"] == "CC00000001"
    orders = flows.control.table("ENT", PIREF="1001", PICOD="2")
    assert [row["PREFPINO"] for row in orders] == ["CC00000001"]
    assert creations(flows.control) == 1


def test_an_unknown_article_parks_the_flow_and_replay_completes_it_once(
    launch_flows: LaunchFlows,
) -> None:
    """A missing article parks ``to_resume`` at create_order; seeded, replay ends it."""
    flows = launch_flows()
    order = shop_order()
    order["order"]["lines"].append({"ref": "NEW0001", "quantity": "2"})

    flows.flow.submit(order)
    parked = flows.flow.wait(KEY, timeout=30)

    assert parked.status is IntakeStatus.TO_RESUME
    assert parked.parking == {
        "state": "to_resume",
        "step": "create_order",
        "category": "business",
        "code": "business.references_missing",
        "reason": "references missing: lines[3].ref: article 'NEW0001' not found",
        "suggested_action": "fix data then replay",
        "retries_exhausted": False,
    }
    assert parked.documents == {"customer": "C0000005"}
    assert flows.control.table("ENT", PIREF="1001") == []

    flows.control.seed(
        {
            "ART": [
                {
                    "REF": "NEW0001",
                    "DES": "Carnet",
                    "FAM": "PAPETERIE",
                    "UN": "U",
                    "TVAART": "1",
                    "STFL": "2",
                    "PUB": "4.00",
                }
            ],
            "STOCK": [{"REF": "NEW0001", "DEPO": "1", "QTESTK": "50", "QTERES": "0"}],
        }
    )
    flows.flow.replay(KEY)
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert record.parking is None
    assert [row["PREFPINO"] for row in flows.control.table("ENT", PIREF="1001")] == [
        "CC00000001",
        "BL00000001",
        "FA00000001",
    ]
    assert creations(flows.control) == 1
    assert creations(flows.control, "creation_client") == 1


def test_a_worker_killed_inside_confirm_resumes_without_redoing_steps_one_to_three(
    divalto_simulator: RunningSimulator, flows_database: str, tmp_path: Path
) -> None:
    """Killed after the ERP confirmed, the restarted worker ends with one of each."""
    journal, acks = tmp_path / "journal.txt", tmp_path / "acks.jsonl"
    worker = Path(__file__).with_name("crash_worker.py")
    arguments = [
        sys.executable,
        str(worker),
        flows_database,
        divalto_simulator.base_url,
        str(journal),
        str(acks),
    ]
    environment = {**os.environ, "PYTHONPATH": str(worker.parent)}

    # The arguments are this test's own worker script and paths.
    killed = subprocess.run(  # noqa: S603
        [*arguments, "submit-and-die"], env=environment, timeout=90, check=False
    )
    restarted = subprocess.run(  # noqa: S603
        arguments, env=environment, timeout=90, check=False
    )

    assert (killed.returncode, restarted.returncode) == (9, 0)
    runs: dict[str, list[str]] = {}
    for line in journal.read_text().splitlines():
        pid, step, phase = line.split()
        if phase == "start":
            runs.setdefault(step, []).append(pid)
    first, second = runs["validate"][0], runs["deliver"][0]
    assert first != second
    assert (
        runs["validate"] == runs["upsert_customer"] == runs["create_order"] == [first]
    )
    assert runs["confirm"] == [first, second]
    control = divalto_simulator.control
    assert [r["PREFPINO"] for r in control.table("ENT", PIREF="1001", PICOD="2")] == [
        "CC00000001"
    ]
    assert [r["PREFPINO"] for r in control.table("ENT", PIREF="1001", PICOD="4")] == [
        "FA00000001"
    ]


def test_a_correction_of_the_intake_is_what_the_replay_sends(
    launch_flows: LaunchFlows,
) -> None:
    """Parked on an unknown article, corrected by an operator, replayed: the ERP
    order has the corrected line, because each step reads the intake afresh."""
    flows = launch_flows()
    order = shop_order()
    order["order"]["lines"][1] = {"ref": "NEW0001", "quantity": "2"}

    flows.flow.submit(order)
    parked = flows.flow.wait(KEY, timeout=30)
    corrected = shop_order()
    corrected["order"]["lines"][1] = {"ref": "ALB0001", "quantity": "2"}
    flows.store.correct(KEY, CanonicalOrder.model_validate(corrected))
    flows.flow.replay(KEY)
    record = flows.flow.wait(KEY, timeout=30)

    assert (parked.status, parked.parking and parked.parking["step"]) == (
        IntakeStatus.TO_RESUME,
        "create_order",
    )
    assert record.status is IntakeStatus.COMPLETED
    assert record.canonical == corrected
    invoice = flows.flow.adapters.invoices.get(record.documents["invoice"])
    assert [(line.ref, line.quantity, line.amount) for line in invoice.lines] == [
        ("ALB0001", Decimal("10"), Decimal("125.00")),
        ("ALB0001", Decimal("2"), Decimal("25.00")),
        ("PORT", Decimal("1"), Decimal("7.50")),
    ]
    assert creations(flows.control) == 1

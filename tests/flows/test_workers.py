"""Worker processes (``divalto worker``) sharing a SQLite journal, over the simulator.

The simulator runs in this test process; the workers reach it over loopback. This
process submits the orders through a :class:`FlowClient` and never runs a flow.
The serialisation checks read each step's start and end from the journal.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from divalto.cli import app
from divalto.flows import Intake, IntakeStore
from divalto.flows.engine import FlowClient, prepare_journal
from divalto.flows.order_to_cash import order_to_cash
from divalto.testing import RunningSimulator, SimulatorControl

from .conftest import shop_order

ARTICLE = {
    "REF": "CRN0001",
    "DES": "Carnet",
    "FAM": "PAPETERIE",
    "UN": "U",
    "TVAART": "1",
    "STFL": "2",
    "PUB": "4.00",
}


def seed_article(control: SimulatorControl) -> None:
    """An article with stock enough for every order of these tests."""
    control.seed(
        {
            "ART": [ARTICLE],
            "STOCK": [
                {"REF": "CRN0001", "DEPO": "1", "QTESTK": "100000", "QTERES": "0"}
            ],
        }
    )


def customer_order(customer: int, number: int) -> dict[str, Any]:
    """Order ``number`` of shop customer ``customer``: two notebooks."""
    return shop_order(
        f"{customer:02d}{number:03d}",
        customer={"id": f"77{customer:02d}", "name": f"Client {customer:02d}"},
        order={"date": "2026-01-15", "lines": [{"ref": "CRN0001", "quantity": "2"}]},
    )


class Workers:
    """``divalto worker`` processes on one journal, started and stopped by a test."""

    def __init__(self, database: str, base_url: str, directory: Path) -> None:
        self.database, self.base_url, self.directory = database, base_url, directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *executor_ids: str, concurrency: int = 8) -> None:
        """Start one worker per id and wait until each says it is ready."""
        for executor_id in executor_ids:
            self.processes[executor_id] = self._spawn(executor_id, concurrency)
        for executor_id in executor_ids:
            self._await_ready(executor_id)

    def _spawn(self, executor_id: str, concurrency: int) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "divalto.cli",
            "worker",
            f"--executor-id={executor_id}",
            f"--database={self.database}",
            f"--simulator={self.base_url}",
            f"--acks={self.directory / f'acks-{executor_id}.jsonl'}",
            f"--concurrency={concurrency}",
        ]
        out = (self.directory / f"{executor_id}.out").open("w")
        err = (self.directory / f"{executor_id}.err").open("w")
        # The command is this package's own CLI with this test's arguments.
        return subprocess.Popen(command, stdout=out, stderr=err)  # noqa: S603

    def _await_ready(self, executor_id: str) -> None:
        out = self.directory / f"{executor_id}.out"
        deadline = time.monotonic() + 60
        while not out.read_text().startswith(f"Worker {executor_id} ready"):
            errors = (self.directory / f"{executor_id}.err").read_text()
            assert self.processes[executor_id].poll() is None, errors
            assert time.monotonic() < deadline, errors
            time.sleep(0.05)

    def kill(self, executor_id: str) -> None:
        """Kill a worker for good, as a machine lost would."""
        process = self.processes.pop(executor_id)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> list[int]:
        """Stop every worker with SIGTERM; their exit codes."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in self.processes.values()]
        self.processes.clear()
        return codes


@dataclass(frozen=True)
class Interval:
    """When one step of one flow ran, for which customer, in which worker."""

    customer: str
    executor: str
    key: str
    step: str
    start: int
    end: int

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


def step_intervals(client: FlowClient, keys: list[str]) -> list[Interval]:
    """Every journaled step of the flows ``keys``, from the journal's own timing."""
    intervals = []
    for key in keys:
        info = client.get(key)
        assert info is not None
        assert info.partition
        assert info.executor_id
        for step in client.steps(key):
            assert step.started_ms is not None
            assert step.completed_ms is not None
            intervals.append(
                Interval(
                    info.partition,
                    info.executor_id,
                    key,
                    step.name,
                    step.started_ms,
                    step.completed_ms,
                )
            )
    return intervals


def same_customer_overlaps(intervals: list[Interval]) -> list[tuple[Interval, ...]]:
    """Pairs of steps of one customer that ran at the same time."""
    by_customer = sorted(intervals, key=lambda i: (i.customer, i.start, i.end))
    return [
        (first, second)
        for _, group in itertools.groupby(by_customer, key=lambda i: i.customer)
        for first, second in itertools.combinations(list(group), 2)
        if first.overlaps(second)
    ]


def cross_customer_overlaps(intervals: list[Interval]) -> set[frozenset[str]]:
    """The pairs of workers whose steps of different customers overlapped in time."""
    ordered = sorted(intervals, key=lambda i: i.start)
    pairs: set[frozenset[str]] = set()
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.start >= first.end:
                break
            if first.customer != second.customer:
                pairs.add(frozenset({first.executor, second.executor}))
    return pairs


def submitter(database: str) -> tuple[Intake, FlowClient, IntakeStore]:
    """An intake that queues flows through a client: this process runs none."""
    client, store = FlowClient(database), IntakeStore(database)

    def start(key: str, partition: str) -> None:
        client.start(order_to_cash, key, partition, key)

    # The intake keeps its engine for its callers only; a client starts the flows.
    return Intake(store, None, start), client, store  # type: ignore[arg-type]


def run_many(
    divalto_simulator: RunningSimulator,
    database: str,
    directory: Path,
    executor_ids: list[str],
    customers: int,
    per_customer: int,
    concurrency: int,
) -> None:
    """Run ``customers × per_customer`` orders on workers; assert serialisation."""
    control = divalto_simulator.control
    seed_article(control)
    customers_before = len(control.table("CLI"))
    prepare_journal(database)
    intake, client, store = submitter(database)
    workers = Workers(database, divalto_simulator.base_url, directory)
    try:
        workers.start(*executor_ids, concurrency=concurrency)
        orders = [
            customer_order(customer, number)
            for number in range(per_customer)
            for customer in range(customers)
        ]
        keys = [intake.submit(order).key for order in orders]
        ended = [client.wait(key, timeout=300).state for key in keys]
        assert workers.stop_all() == [0] * len(executor_ids)
        intervals = step_intervals(client, keys)
        statuses = {store.require(key).status.value for key in keys}
    finally:
        workers.stop_all()
        client.close()
        store.close()

    assert ended == ["SUCCESS"] * len(keys)
    assert statuses == {"completed"}
    assert same_customer_overlaps(intervals) == []
    assert {i.executor for i in intervals} == set(executor_ids)
    overlapping = cross_customer_overlaps(intervals)
    assert any(len(pair) == 2 for pair in overlapping), overlapping
    assert any(len(pair) == 1 for pair in overlapping), overlapping
    assert len(control.table("CLI")) == customers_before + customers
    references = [row["PIREF"] for row in control.table("ENT", PICOD="2")]
    assert sorted(references) == sorted(order["external_id"] for order in orders)


@pytest.fixture
def journal(tmp_path: Path) -> str:
    """A SQLite journal file of its own."""
    return f"sqlite:///{tmp_path / 'flows.db'}"


def test_two_sqlite_workers_serialise_each_customer_and_run_customers_in_parallel(
    divalto_simulator: RunningSimulator, journal: str, tmp_path: Path
) -> None:
    """200 orders of 20 customers, 2 workers: no overlap per customer, some across."""
    run_many(
        divalto_simulator,
        journal,
        tmp_path,
        ["sqlite-a", "sqlite-b"],
        customers=20,
        per_customer=10,
        concurrency=5,
    )


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def dead_worker_blocks_its_partition_until_recovered(
    divalto_simulator: RunningSimulator, database: str, directory: Path
) -> None:
    """Kill a worker inside an order's creation; its customer waits for recover."""
    control = divalto_simulator.control
    seed_article(control)
    control.add_fault(
        "timeout_after",
        route="service",
        action="integration_piece",
        nth=1,
        hang_seconds=60,
    )
    prepare_journal(database)
    intake, client, store = submitter(database)
    workers = Workers(database, divalto_simulator.base_url, directory)
    first, second, other = (
        customer_order(1, 0),
        customer_order(1, 1),
        customer_order(2, 0),
    )
    try:
        workers.start("doomed", concurrency=4)
        intake.submit(first)
        wait_for(lambda: control.table("ENT", PIREF=first["external_id"]) != [])
        workers.kill("doomed")
        workers.start("survivor", concurrency=4)
        blocked, free = intake.submit(second).key, intake.submit(other).key
        assert client.wait(free, timeout=60).state == "SUCCESS"
        time.sleep(1.0)
        stuck = [client.get(key) for key in ("order:shopify:01000", blocked)]

        recovered = CliRunner().invoke(
            app, ["flows", "recover", "--executor", "doomed", f"--database={database}"]
        )
        ended = [
            client.wait(key, timeout=60).state
            for key in ("order:shopify:01000", blocked)
        ]
    finally:
        workers.stop_all()
        client.close()
        store.close()

    assert [(info.state, info.executor_id) for info in stuck if info] == [
        ("PENDING", "doomed"),
        ("ENQUEUED", None),
    ]
    assert recovered.exit_code == 0, recovered.output
    assert recovered.output == (
        "1 flow(s) of doomed queued again: order:shopify:01000\n"
    )
    assert ended == ["SUCCESS", "SUCCESS"]
    for order in (first, second, other):
        rows = control.table("ENT", PIREF=order["external_id"], PICOD="2")
        assert len(rows) == 1, rows


def test_a_killed_sqlite_worker_blocks_its_customer_until_recovered(
    divalto_simulator: RunningSimulator, journal: str, tmp_path: Path
) -> None:
    """A worker killed mid-order blocks its customer; ``flows recover`` frees it."""
    dead_worker_blocks_its_partition_until_recovered(
        divalto_simulator, journal, tmp_path
    )


@pytest.fixture(autouse=True)
def _no_proxy_for_workers() -> Iterator[None]:
    """Workers inherit this environment: keep loopback calls off any proxy."""
    saved = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    yield
    if saved is None:
        os.environ.pop("NO_PROXY", None)
    else:
        os.environ["NO_PROXY"] = saved

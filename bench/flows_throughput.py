"""Throughput of the order-to-cash flow when every ERP call takes 50 ms.

    python bench/flows_throughput.py [--mode sqlite] [--orders 96]
        [--concurrency 16] [--latency-ms 50] [--naive-orders 8] [--polling 0.05]
        [--processes 2]
        [--sqlite-synchronous NORMAL]
    python bench/flows_throughput.py --mode postgres [--orders 96]
        [--worker-concurrency 2] [--latency-ms 50] [--postgres 127.0.0.1:5432]

Starts ``divalto simulator serve`` in a child process on a free loopback port,
seeds one article with plenty of stock, and adds a ``latency`` fault of
``--latency-ms`` to every route. Then:

1. **flows**: ``--orders`` shop orders, each of its own customer, submitted at
   once to the order-to-cash flow (engine on a fresh SQLite file, queue worker
   concurrency ``--concurrency``), timed from the first submission to the last
   flow's end, after one warm-up order has run through the started engine.
   Each order is customer, order, delivery note, invoice, stock, and
   acknowledgement; every flow must complete.
2. **naive**: ``--naive-orders`` other orders, one after the other, by a script
   that sends with bare httpx the very calls the flow made for one order (the
   same look-ups, the same writes), checking each answer.

The calls per order are counted from the simulator's request log. The limit is
what ``--concurrency`` flows waiting on the ERP could reach if nothing but the
latency took time: ``concurrency / (calls per order × latency)``.

Progress goes to standard error; the figures go to standard output as ONE JSON
line, last: ``flows_per_s``, ``limit_flows_per_s``, ``ratio_to_limit``,
``naive_flows_per_s``, ``speedup_over_naive``, the calls per order of both, and
the CPU share (1.0 = one core) of this process and of the simulator during the
flows run, which shows what holds the flows below the limit.

3. **processes**: unless ``--processes 1``, the same orders and the same total
   concurrency over ``--processes`` ``divalto worker`` processes sharing one
   SQLite journal (``--concurrency / --processes`` flows each): one Python
   process holds one core at most (its interpreter lock), and this shows what
   the machine's other cores add. Its figures carry ``_processes``.

``--mode postgres`` measures how the flows scale over worker processes instead:
the same ``--orders`` orders (each of its own customer, the same simulator
latency) run on 1, then on 4 ``divalto worker`` processes (each with queue
concurrency ``--worker-concurrency``) sharing a fresh PostgreSQL database at
``--postgres`` (user ``postgres``, trust; created and dropped by the run). This
process only submits, through a :class:`FlowClient`, and waits. Its JSON line:
``flows_per_s_1``, ``flows_per_s_4``, ``scale_4_over_1`` (target 3.5 or more),
the latency limit of each (``workers × worker concurrency / (calls per order ×
latency)``), and the CPU share of the workers, of the simulator and of the
whole machine (``machine_cpu``, in cores) during each run: a machine with fewer
cores than the work needs shows ``machine_cpu`` near its core count. The
default worker concurrency (2) keeps four workers within two cores, so that the
ratio measures how workers scale, not how many cores the machine has. ``--mode
both`` runs both and prints both sets of figures in one line.

``--polling`` is the queue's polling interval in seconds; ``--sqlite-synchronous``
the SQLite journal's ``synchronous`` mode (``NORMAL``, or ``FULL`` to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _simulator import STARTUP_SECONDS, cpu_seconds, free_port, served_simulator
from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows import (
    EngineConfig,
    FileSink,
    FlowEngine,
    Intake,
    IntakeStatus,
    IntakeStore,
    OrderToCash,
    sqlite_url,
)
from divalto.flows.engine import ENDED, FlowClient, prepare_journal
from divalto.flows.order_to_cash import order_to_cash
from divalto.settings import load_profile
from divalto.telemetry import configure_logging
from divalto.testing import SimulatorControl

SITE_BASE = "/123456/TEST1/api/v1/"
DOSSIER = "998"
ARTICLE = "BENCH01"
ORDER_DATE = "2026-01-15"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=96)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--naive-orders", type=int, default=8)
    parser.add_argument("--polling", type=float, default=0.05)
    parser.add_argument("--sqlite-synchronous", default="NORMAL")
    parser.add_argument(
        "--mode", choices=("sqlite", "postgres", "both"), default="sqlite"
    )
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="sqlite mode: also run the orders on this many worker processes "
        "(1: only in this process)",
    )
    parser.add_argument("--postgres", default="127.0.0.1:5432")
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def seed_article(control: SimulatorControl, stock: int) -> None:
    article = {
        "REF": ARTICLE,
        "DES": "Bench notebook",
        "FAM": "PAPETERIE",
        "UN": "U",
        "TVAART": "1",
        "STFL": "2",
        "PUB": "4.00",
    }
    row = {"REF": ARTICLE, "DEPO": "1", "QTESTK": str(stock), "QTERES": "0"}
    control.seed({"ART": [article], "STOCK": [row]})


def shop_order(prefix: str, number: int) -> dict[str, Any]:
    """Order ``<prefix><number>`` of shop customer ``<prefix><number>``."""
    ident = f"{prefix}{number:05d}"
    return {
        "source": "bench",
        "external_id": ident,
        "customer": {
            "id": ident,
            "name": f"Bench customer {ident}",
            "address": {
                "street": "1 rue du Banc",
                "postcode": "67000",
                "city": "Strasbourg",
                "country": "FR",
            },
            "email": "bench@example.com",
        },
        "order": {
            "date": ORDER_DATE,
            "lines": [{"ref": ARTICLE, "quantity": "1"}],
        },
    }


@dataclass
class Run:
    """One timed run: how many orders, in how long, with how many ERP calls."""

    orders: int
    seconds: float
    calls: int
    cpu_self: float = 0.0
    cpu_server: float = 0.0

    @property
    def per_s(self) -> float:
        return self.orders / self.seconds

    @property
    def calls_per_order(self) -> float:
        return self.calls / self.orders


def run_flows(
    root: str, control: SimulatorControl, server_pid: int, args: argparse.Namespace
) -> Run:
    """Submit every order at once to the flow; wait until every flow has ended."""
    with tempfile.TemporaryDirectory(prefix="divalto-bench-") as name:
        return run_flows_in(Path(name), root, control, server_pid, args)


def run_flows_in(
    directory: Path,
    root: str,
    control: SimulatorControl,
    server_pid: int,
    args: argparse.Namespace,
) -> Run:
    url = sqlite_url(directory / "flows.db")
    config = EngineConfig(
        database_url=url,
        executor_id="bench",
        worker_concurrency=args.concurrency,
        polling_interval=args.polling,
        sqlite_synchronous=args.sqlite_synchronous,
    )
    erp = Divalto(profile(root))
    engine = FlowEngine(config)
    flow = OrderToCash(
        engine, IntakeStore(url), Adapters(erp), FileSink(directory / "acks.jsonl")
    ).install()
    engine.launch()
    try:
        # One order first: the engine starts its queue's worker thread up to a
        # second after launch, and the first login and connections are made
        # here. The run then measures flows, not the process's start.
        warm_up = flow.submit(shop_order("W", 0)).key
        if flow.wait(warm_up, timeout=60).status is not IntakeStatus.COMPLETED:
            raise RuntimeError("the warm-up order did not complete")
        control.clear_requests()
        return timed_flows(flow, control, server_pid, args.orders)
    finally:
        engine.shutdown()
        flow.store.close()
        erp.close()


def timed_flows(
    flow: OrderToCash, control: SimulatorControl, server_pid: int, orders: int
) -> Run:
    cpu_before = (time.process_time(), cpu_seconds(server_pid))
    started_ms = time.time() * 1000
    keys = [flow.submit(shop_order("F", n)).key for n in range(orders)]
    ended_ms = wait_all(flow.engine, keys)
    seconds = (ended_ms - started_ms) / 1000
    cpu_self = (time.process_time() - cpu_before[0]) / seconds
    cpu_server = (cpu_seconds(server_pid) - cpu_before[1]) / seconds
    records = [flow.store.require(key) for key in keys]
    failed = [r.key for r in records if r.status is not IntakeStatus.COMPLETED]
    if failed:
        raise RuntimeError(f"flows that did not complete: {failed[:5]}")
    calls = len(control.requests())
    return Run(orders, seconds, calls, cpu_self, cpu_server)


def wait_all(engine: FlowEngine, keys: list[str]) -> float:
    """When the last flow of ``keys`` ended (epoch ms), once all have.

    One listing (without outputs) every half second: the waiter shares this
    process with the flows, and polling each flow would slow them.
    The end is the last journaled step's, in milliseconds (the engine keeps a
    flow's own timestamps in whole seconds on SQLite).
    """
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        flows = engine.flows(prefix="order:bench:F", load_output=False)
        if len(flows) == len(keys) and all(info.state in ENDED for info in flows):
            return max(float(engine.steps(key)[-1].completed_ms or 0) for key in keys)
        time.sleep(0.5)
    raise TimeoutError(f"{len(keys)} flows have not ended in 600 s")


def profile(root: str) -> Any:
    return load_profile(
        "bench",
        base_url=root + SITE_BASE,
        dossier=DOSSIER,
        user="DEMO",
        password="demo",
    )


class NaiveScript:
    """An integration script with bare httpx: one call after the other.

    It sends the calls the flow makes for one order, in the same order, and
    stops at the first answer that is not what a correct run gets.
    """

    def __init__(self, root: str, acks: Path) -> None:
        self.http = httpx.Client(base_url=root + SITE_BASE, timeout=30)
        self.acks = acks
        answer = self.post("Authent/Auth", {"user": "DEMO", "password": "demo"})
        self.token = str(answer["access_token"])

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        if answer.get("error") != 0:
            raise RuntimeError(f"{path}: {answer.get('txterr')}")
        return answer

    def read(self, recordsql: str, dictionary: str, case: str, value: str) -> Any:
        body = {
            "dhoq": dictionary,
            "recordsql": recordsql,
            "fields": "",
            "where": case,
            "where_parameters": value,
            "orderby": "",
            "having": "",
            "having_parameters": "",
            "parameters": "",
            "offset": 0,
            "count": 1,
            "infos": "",
            "access_token": self.token,
        }
        return self.post("RecordSql/Read", body)["records"]

    def action(self, name: str, data: dict[str, Any], expect: str = "0") -> Any:
        inner = {"action": {"swinfinity": name, "parameters": {"dos": DOSSIER}}}
        param = json.dumps({**inner, "data": data})
        body = {
            "action": "WEB_SERVICE_INFINITY",
            "param": param,
            "access_token": self.token,
        }
        result = json.loads(self.post("WebService/Execute", body)["result"])
        code = result["result"]["common"]["resultcode"]
        if code != expect:
            message = result["result"]["common"]["errormessage"]
            raise RuntimeError(f"{name}: resultcode {code}: {message}")
        return result["result"].get("response")

    def document(self, kind: str, number: str) -> dict[str, Any]:
        piece: dict[str, Any] = self.action(
            "etat_piece", {"ient": {"PiCod": kind, "PiNo": number}}
        )["piece"]
        return piece

    def transfer(self, piece: dict[str, Any], target: str) -> dict[str, Any]:
        header = {
            "PiCod": piece["picod"],
            "PiNo": piece["prefpino"],
            "PiCodDest": target,
            "Version": piece["version"],
        }
        transferred: dict[str, Any] = self.action("transfert_piece", {"ient": header})[
            "piece"
        ]
        return transferred

    def order(self, order: dict[str, Any]) -> None:
        """Customer, order, delivery note, invoice, stock, acknowledgement."""
        customer, reference = order["customer"], order["external_id"]
        tiers = self.customer(customer)
        self.action("etat_piece", {"ient": {"PiRef": reference, "PiCod": "2"}}, "2")
        self.read("Client", "GTRSTIERS.dhoq", "Equal_Tiers", f"tiers={tiers}")
        self.read("Article", "GTRSART.dhoq", "Equal_Ref", f"ref={ARTICLE}")
        created = self.action("integration_piece", self.order_data(tiers, reference))
        number = created["piece"]["prefpino"]
        self.document("2", number)
        delivery = self.transfer(self.document("2", number), "3")
        invoice = self.transfer(self.document("3", delivery["prefpino"]), "4")
        self.stock()
        line = {"key": reference, "invoice": invoice["prefpino"]}
        with self.acks.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")

    def customer(self, customer: dict[str, Any]) -> str:
        external = f"bench:{customer['id']}"
        self.read("Client", "GTRSTIERS.dhoq", "Equal_RefExt", f"refext={external}")
        address = customer["address"]
        data = {
            "icli": {
                "Nom": customer["name"],
                "Rue": address["street"],
                "CPostal": address["postcode"],
                "Vil": address["city"],
                "Pay": address["country"],
                "Email": customer["email"],
                "RegCod": "30J",
                "RefExt": external,
            }
        }
        tiers = str(self.action("creation_client", data)["client"]["tiers"])
        self.read("Client", "GTRSTIERS.dhoq", "Equal_Tiers", f"tiers={tiers}")
        return tiers

    def order_data(self, tiers: str, reference: str) -> dict[str, Any]:
        return {
            "ipar": {"PcePiRefCtrFl": "2"},
            "ient": {
                "PiCod": "2",
                "Tiers": tiers,
                "PiRef": reference,
                "PiDt": ORDER_DATE.replace("-", ""),
            },
            "imouvtb": [{"imouv": {"Ref": ARTICLE, "Qte": "1"}}],
        }

    def stock(self) -> None:
        demand = (
            f'<dem><action dos="{DOSSIER}" nom="INTERROGER_STOCK">'
            f"<ref>{ARTICLE}</ref><depot>*</depot></action></dem>"
        )
        body = {
            "action": "SYNCHRO_INFINITY_AGILEO",
            "param": demand,
            "access_token": self.token,
        }
        self.post("WebService/Execute", body)


def run_naive(root: str, control: SimulatorControl, orders: int) -> Run:
    """The naive script over ``orders`` orders, timed after its login."""
    with tempfile.TemporaryDirectory(prefix="divalto-bench-") as name:
        script = NaiveScript(root, Path(name) / "acks.jsonl")
        control.clear_requests()
        started = time.monotonic()
        for number in range(orders):
            script.order(shop_order("N", number))
        seconds = time.monotonic() - started
        script.http.close()
    return Run(orders, seconds, len(control.requests()))


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_logging(level="WARNING")
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    with served_simulator(port) as server:
        control = SimulatorControl(root)
        seed_article(control, stock=10 * (3 * args.orders + args.naive_orders) + 1000)
        control.add_fault("latency", latency_ms=args.latency_ms)
        if args.mode in ("sqlite", "both"):
            result.update(run_sqlite(root, control, server.pid, args))
        if args.mode in ("postgres", "both"):
            result.update(run_postgres(root, control, server.pid, args))
        control.close()
    print(json.dumps(result))
    return 0


def run_sqlite(
    root: str, control: SimulatorControl, server_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The flows in this process on SQLite, then the naive script; their figures."""
    progress(f"flows: {args.orders} orders, concurrency {args.concurrency}")
    flows = run_flows(root, control, server_pid, args)
    progress(f"flows: {flows.per_s:.2f} flows/s in {flows.seconds:.2f} s")
    progress(f"naive: {args.naive_orders} orders, one after the other")
    naive = run_naive(root, control, args.naive_orders)
    progress(f"naive: {naive.per_s:.2f} flows/s in {naive.seconds:.2f} s")
    result = figures(args, flows, naive)
    if args.processes > 1:
        result.update(run_sqlite_processes(root, control, server_pid, args, naive))
    return result


def run_sqlite_processes(
    root: str,
    control: SimulatorControl,
    server_pid: int,
    args: argparse.Namespace,
    naive: Run,
) -> dict[str, Any]:
    """The same orders and total concurrency over ``--processes`` worker
    processes sharing one SQLite journal: what a machine's cores add."""
    each = max(1, args.concurrency // args.processes)
    progress(f"flows: {args.orders} orders on {args.processes} processes x {each}")
    with tempfile.TemporaryDirectory(prefix="divalto-bench-") as name:
        url = sqlite_url(Path(name) / "flows.db")
        run = run_workers(url, root, control, server_pid, args, args.processes, each)
    progress(f"flows: {run.per_s:.2f} flows/s in {run.seconds:.2f} s")
    latency = args.latency_ms / 1000
    limit = args.processes * each / (run.calls_per_order * latency) if latency else 0
    return {
        "processes": args.processes,
        "flows_per_s_processes": round(run.per_s, 3),
        "ratio_to_limit_processes": round(run.per_s / limit, 3) if limit else None,
        "speedup_over_naive_processes": round(run.per_s / naive.per_s, 2),
        "cpu_workers_processes": round(run.cpu_workers, 2),
        "machine_cpu_processes": round(run.cpu_machine, 2),
    }


@dataclass
class WorkersRun(Run):
    """A run on worker processes: their CPU, and the whole machine's."""

    cpu_workers: float = 0.0
    cpu_machine: float = 0.0


def run_postgres(
    root: str, control: SimulatorControl, server_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The same orders on 1, then 4 worker processes over PostgreSQL; figures."""
    runs: dict[int, WorkersRun] = {}
    for count in (1, 4):
        progress(
            f"postgres: {args.orders} orders on {count} worker(s), "
            f"concurrency {args.worker_concurrency} each"
        )
        with postgres_database(args.postgres) as url:
            runs[count] = run_workers(
                url, root, control, server_pid, args, count, args.worker_concurrency
            )
        progress(
            f"postgres: {runs[count].per_s:.2f} flows/s in {runs[count].seconds:.2f} s"
        )
    one, four = runs[1], runs[4]
    latency = args.latency_ms / 1000
    per_worker = (
        args.worker_concurrency / (one.calls_per_order * latency) if latency else 0.0
    )
    return {
        "pg_orders": args.orders,
        "pg_worker_concurrency": args.worker_concurrency,
        "pg_latency_ms": args.latency_ms,
        "pg_calls_per_order": round(one.calls_per_order, 2),
        "flows_per_s_1": round(one.per_s, 3),
        "flows_per_s_4": round(four.per_s, 3),
        "limit_flows_per_s_1": round(per_worker, 3),
        "limit_flows_per_s_4": round(4 * per_worker, 3),
        "scale_4_over_1": round(four.per_s / one.per_s, 2),
        "cpu_workers_1": round(one.cpu_workers, 2),
        "cpu_workers_4": round(four.cpu_workers, 2),
        "cpu_simulator_1": round(one.cpu_server, 2),
        "cpu_simulator_4": round(four.cpu_server, 2),
        "machine_cpu_1": round(one.cpu_machine, 2),
        "machine_cpu_4": round(four.cpu_machine, 2),
        "machine_cores": os.cpu_count(),
    }


@contextmanager
def postgres_database(address: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``address``, dropped after."""
    import psycopg
    from psycopg import sql

    name = f"divalto_bench_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@{address}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@{address}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def run_workers(
    url: str,
    root: str,
    control: SimulatorControl,
    server_pid: int,
    args: argparse.Namespace,
    count: int,
    concurrency: int,
) -> WorkersRun:
    """``count`` worker processes on ``url``, each running ``concurrency`` flows at
    most; submit every order, wait for all."""
    prefix = f"W{count}-{url[:6]}-"
    prepare_journal(url)
    with tempfile.TemporaryDirectory(prefix="divalto-bench-") as name:
        directory = Path(name)
        workers = [
            spawn_worker(url, root, directory, f"bench-{count}-{n}", concurrency)
            for n in range(count)
        ]
        client, store = FlowClient(url), IntakeStore(url)
        try:
            for executor_id, process in workers:
                await_ready(directory, executor_id, process)
            # A launched engine starts its queue's worker thread within a second.
            time.sleep(1.2)
            control.clear_requests()
            pids = [process.pid for _, process in workers]
            return timed_workers(client, store, control, server_pid, pids, args, prefix)
        finally:
            for _, process in workers:
                process.send_signal(signal.SIGTERM)
            for _, process in workers:
                process.wait(timeout=60)
            client.close()
            store.close()


def spawn_worker(
    url: str, root: str, directory: Path, executor_id: str, concurrency: int
) -> tuple[str, subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "divalto.cli", "worker"]
    command += [f"--executor-id={executor_id}", f"--database={url}"]
    command += [f"--simulator={root}{SITE_BASE}"]
    command += [f"--acks={directory / f'acks-{executor_id}.jsonl'}"]
    command += [f"--concurrency={concurrency}"]
    out = (directory / f"{executor_id}.out").open("w")
    err = (directory / f"{executor_id}.err").open("w")
    environment = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    # The command is this package's own CLI with this run's arguments.
    process = subprocess.Popen(  # noqa: S603
        command, stdout=out, stderr=err, env=environment
    )
    return executor_id, process


def await_ready(
    directory: Path, executor_id: str, process: subprocess.Popen[bytes]
) -> None:
    out, err = directory / f"{executor_id}.out", directory / f"{executor_id}.err"
    deadline = time.monotonic() + STARTUP_SECONDS
    while not out.read_text().startswith(f"Worker {executor_id} ready"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"worker {executor_id} did not start:\n{err.read_text()}"
            )
        time.sleep(0.05)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy, over all cores (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def timed_workers(
    client: FlowClient,
    store: IntakeStore,
    control: SimulatorControl,
    server_pid: int,
    pids: list[int],
    args: argparse.Namespace,
    prefix: str,
) -> WorkersRun:
    def start(key: str, partition: str) -> None:
        client.start(order_to_cash, key, partition, key)

    # The intake keeps its engine for its callers only: the client queues.
    intake = Intake(store, None, start)  # type: ignore[arg-type]
    cpu_before = (
        sum(cpu_seconds(pid) for pid in pids),
        cpu_seconds(server_pid),
        machine_busy_seconds(),
    )
    started_ms = time.time() * 1000
    keys = [intake.submit(shop_order(prefix, n)).key for n in range(args.orders)]
    ended_ms = wait_all_client(client, keys, f"order:bench:{prefix}")
    seconds = (ended_ms - started_ms) / 1000
    cpu_workers = (sum(cpu_seconds(pid) for pid in pids) - cpu_before[0]) / seconds
    cpu_server = (cpu_seconds(server_pid) - cpu_before[1]) / seconds
    cpu_machine = (machine_busy_seconds() - cpu_before[2]) / seconds
    failed = [
        key for key in keys if store.require(key).status is not IntakeStatus.COMPLETED
    ]
    if failed:
        raise RuntimeError(f"flows that did not complete: {failed[:5]}")
    calls = len(control.requests())
    return WorkersRun(
        orders=args.orders,
        seconds=seconds,
        calls=calls,
        cpu_server=cpu_server,
        cpu_workers=cpu_workers,
        cpu_machine=cpu_machine,
    )


def wait_all_client(client: FlowClient, keys: list[str], prefix: str) -> float:
    """When the last flow of ``keys`` ended (epoch ms), once all have."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        flows = client.flows(prefix=prefix)
        if len(flows) == len(keys) and all(info.state in ENDED for info in flows):
            return max(float(client.steps(key)[-1].completed_ms or 0) for key in keys)
        time.sleep(0.25)
    raise TimeoutError(f"{len(keys)} flows have not ended in 600 s")


def figures(args: argparse.Namespace, flows: Run, naive: Run) -> dict[str, Any]:
    latency = args.latency_ms / 1000
    # With no latency there is no latency limit: the ratio is then left out.
    limit = args.concurrency / (flows.calls_per_order * latency) if latency else 0.0
    return {
        "orders": flows.orders,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "calls_per_order": round(flows.calls_per_order, 2),
        "flows_seconds": round(flows.seconds, 3),
        "flows_per_s": round(flows.per_s, 3),
        "limit_flows_per_s": round(limit, 3),
        "ratio_to_limit": round(flows.per_s / limit, 3) if limit else None,
        "naive_orders": naive.orders,
        "naive_calls_per_order": round(naive.calls_per_order, 2),
        "naive_flows_per_s": round(naive.per_s, 3),
        "speedup_over_naive": round(flows.per_s / naive.per_s, 2),
        "cpu_bench_process": round(flows.cpu_self, 2),
        "cpu_simulator": round(flows.cpu_server, 2),
    }


if __name__ == "__main__":
    sys.exit(main())

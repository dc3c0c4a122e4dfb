"""Throughput of the order-to-cash flow when every ERP call takes 50 ms.

    python bench/flows_throughput.py [--orders 96] [--concurrency 16]
        [--latency-ms 50] [--naive-orders 8] [--polling 0.1]

Starts ``divalto simulator serve`` in a child process on a free loopback port,
seeds one article with plenty of stock, and adds a ``latency`` fault of
``--latency-ms`` to every route. Then:

1. **flows**: ``--orders`` shop orders, each of its own customer, submitted at
   once to the order-to-cash flow (engine on a fresh SQLite file, queue worker
   concurrency ``--concurrency``), timed from the first submission to the last
   flow's end. Each order is customer, order, delivery note, invoice, stock, and
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
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows import (
    EngineConfig,
    FileSink,
    FlowEngine,
    IntakeStatus,
    IntakeStore,
    OrderToCash,
    sqlite_url,
)
from divalto.flows.engine import ENDED
from divalto.settings import load_profile
from divalto.telemetry import configure_logging
from divalto.testing import SimulatorControl

SITE_BASE = "/123456/TEST1/api/v1/"
DOSSIER = "998"
ARTICLE = "BENCH01"
STARTUP_SECONDS = 30.0
ORDER_DATE = "2026-01-15"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=96)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--naive-orders", type=int, default=8)
    parser.add_argument("--polling", type=float, default=0.1)
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_simulator(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``divalto simulator serve`` in a child process, stopped on the way out."""
    command = [sys.executable, "-m", "divalto.cli", "simulator", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as errors:
        # The command is this interpreter and constants: nothing untrusted.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            wait_until_up(process, port, errors)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def wait_until_up(process: subprocess.Popen[bytes], port: int, errors: Any) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    url = f"http://127.0.0.1:{port}/_simulator/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
            raise RuntimeError(f"the simulator exited at start:\n{text}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the simulator did not answer on port {port}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from ``/proc`` (Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


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
    )
    erp = Divalto(profile(root))
    engine = FlowEngine(config)
    flow = OrderToCash(
        engine, IntakeStore(url), Adapters(erp), FileSink(directory / "acks.jsonl")
    ).install()
    engine.launch()
    try:
        flow.adapters.products.get(ARTICLE)
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

    One listing every quarter second: each read of the engine's SQLite file
    takes its write lock, and a waiter polling each flow would slow the flows.
    The end is the last journaled step's, in milliseconds (the engine keeps a
    flow's own timestamps in whole seconds on SQLite).
    """
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        flows = engine.flows(prefix="order:bench:F")
        if len(flows) == len(keys) and all(info.state in ENDED for info in flows):
            return max(float(engine.steps(key)[-1].completed_ms or 0) for key in keys)
        time.sleep(0.25)
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
    with served_simulator(port) as server:
        control = SimulatorControl(root)
        seed_article(control, stock=10 * (args.orders + args.naive_orders) + 1000)
        control.add_fault("latency", latency_ms=args.latency_ms)
        progress(f"flows: {args.orders} orders, concurrency {args.concurrency}")
        flows = run_flows(root, control, server.pid, args)
        progress(f"flows: {flows.per_s:.2f} flows/s in {flows.seconds:.2f} s")
        progress(f"naive: {args.naive_orders} orders, one after the other")
        naive = run_naive(root, control, args.naive_orders)
        progress(f"naive: {naive.per_s:.2f} flows/s in {naive.seconds:.2f} s")
        control.close()
    print(json.dumps(figures(args, flows, naive)))
    return 0


def figures(args: argparse.Namespace, flows: Run, naive: Run) -> dict[str, Any]:
    latency = args.latency_ms / 1000
    limit = args.concurrency / (flows.calls_per_order * latency)
    return {
        "orders": flows.orders,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "calls_per_order": round(flows.calls_per_order, 2),
        "flows_seconds": round(flows.seconds, 3),
        "flows_per_s": round(flows.per_s, 3),
        "limit_flows_per_s": round(limit, 3),
        "ratio_to_limit": round(flows.per_s / limit, 3),
        "naive_orders": naive.orders,
        "naive_calls_per_order": round(naive.calls_per_order, 2),
        "naive_flows_per_s": round(naive.per_s, 3),
        "speedup_over_naive": round(flows.per_s / naive.per_s, 2),
        "cpu_bench_process": round(flows.cpu_self, 2),
        "cpu_simulator": round(flows.cpu_server, 2),
    }


if __name__ == "__main__":
    sys.exit(main())

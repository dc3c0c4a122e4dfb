"""How many requests per second the simulator sustains, over loopback.

    python bench/simulator_capacity.py [--seconds 5] [--concurrency 8]

Starts ``divalto simulator serve`` in a child process on a free loopback port, logs
in, seeds articles through the control endpoint, then drives two workloads one
after the other, each for ``--seconds`` after a short warm-up:

- ``recordsql_page_100``: a 100-record page of ``GTRSART.dhoq``/``Article``;
- ``order_create``: a one-line order through ``WEB_SERVICE_INFINITY`` /
  ``integration_piece``, each with its own "your reference".

The client is one process running asyncio with ``--concurrency`` keep-alive
HTTP/1.1 connections, each with one call in flight (see :class:`Connection`).
Every answer is checked (``error`` 0, 100 records, ``resultcode`` "0"); a wrong
answer stops the run with exit code 1. To show which
side was the bottleneck, the run also reports the CPU share (1.0 = one core) used
by the server process (read from ``/proc``, Linux only) and by the client.

Progress goes to standard error; the figures go to standard output as ONE JSON line,
last. Both the time and the request count of each workload are bounded, and the
server is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from _simulator import cpu_seconds, free_port, served_simulator

SITE_BASE = "/123456/TEST1/api/v1/"
DOSSIER = "998"
SEEDED_ARTICLES = 120
PAGE_SIZE = 100
CUSTOMER = "C0000001"
ORDERED_ARTICLE = "ALB0001"

Call = Callable[["Connection", int], Awaitable[None]]


class WrongAnswer(Exception):
    """The simulator answered something a correct run would not."""


@dataclass
class Measure:
    """One workload's figures over its measured window."""

    requests: int
    seconds: float
    server_cpu: float | None
    client_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured time per workload"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured time per workload"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="connections in flight"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=200_000,
        help="stop a workload after this many requests even before its time",
    )
    return parser.parse_args(argv)


def envelope(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise WrongAnswer(f"HTTP {response.status_code}: {response.text[:200]}")
    answer: dict[str, Any] = response.json()
    if answer.get("error") != 0:
        raise WrongAnswer(f"error {answer.get('error')}: {answer.get('txterr')}")
    return answer


def seed_articles(root: str) -> None:
    """Enough articles that the first page of 100 is full."""
    articles = [
        {"REF": f"BENCH{number:04d}", "DES": f"Bench article {number}", "PUB": "9.90"}
        for number in range(1, SEEDED_ARTICLES + 1)
    ]
    response = httpx.post(
        f"{root}/_simulator/seed", json={"dossier": DOSSIER, "ART": articles}
    )
    response.raise_for_status()


def log_in(root: str) -> str:
    response = httpx.post(
        root + SITE_BASE + "Authent/Auth", json={"user": "DEMO", "password": "demo"}
    )
    token: str = envelope(response)["access_token"]
    return token


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the answer.

    It speaks only what the bench needs: ``Content-Length`` framing both ways.
    httpx's async client was measured here at about 2 ms of client CPU per call,
    enough to make the client the bottleneck on a 2-core machine; this costs a
    tenth of that, so the figures are the server's.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` as JSON; the answer's envelope, checked for ``error`` 0."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port
            )
        payload = json.dumps(body).encode("utf-8")
        head = (
            f"POST {SITE_BASE}{path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode("ascii") + payload)
        status, length = parse_head(await self.reader.readuntil(b"\r\n\r\n"))
        data = await self.reader.readexactly(length)
        if status != 200:
            raise WrongAnswer(f"HTTP {status}: {data[:200]!r}")
        answer: dict[str, Any] = json.loads(data)
        if answer.get("error") != 0:
            raise WrongAnswer(f"error {answer.get('error')}: {answer.get('txterr')}")
        return answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def parse_head(head: bytes) -> tuple[int, int]:
    """Status and ``Content-Length`` of an HTTP/1.1 answer's head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value)
    raise WrongAnswer(f"an answer without Content-Length: {lines[0]}")


def recordsql_page(token: str) -> Call:
    body = {
        "dhoq": "GTRSART.dhoq",
        "recordsql": "Article",
        "access_token": token,
        "orderby": "Par_ID",
        "offset": "0",
        "count": str(PAGE_SIZE),
    }

    async def call(connection: Connection, number: int) -> None:
        answer = await connection.post("RecordSql/Read", body)
        if len(answer["records"]) != PAGE_SIZE:
            raise WrongAnswer(f"{len(answer['records'])} records instead of 100")

    return call


def order_param(reference: str) -> str:
    """A one-line order for the demo customer, as ``integration_piece`` takes it."""
    inner = {
        "action": {
            "swinfinity": "integration_piece",
            "parameters": {"dos": DOSSIER},
        },
        "data": {
            "ient": {"PiCod": "2", "Tiers": CUSTOMER, "PiRef": reference},
            "imouvtb": [{"imouv": {"Ref": ORDERED_ARTICLE, "Qte": "1"}}],
        },
    }
    return json.dumps(inner)


def order_creation(token: str, run: str) -> Call:
    async def call(connection: Connection, number: int) -> None:
        body = {
            "action": "WEB_SERVICE_INFINITY",
            "param": order_param(f"BENCH-{run}-{number}"),
            "access_token": token,
        }
        answer = await connection.post("WebService/Execute", body)
        common = json.loads(answer["result"])["result"]["common"]
        if common["resultcode"] != "0":
            raise WrongAnswer(f"order refused: {common['errormessage']}")

    return call


async def drive(
    port: int, call: Call, seconds: float, concurrency: int, limit: int
) -> int:
    """Run ``call`` on ``concurrency`` connections until the time or count is up."""
    deadline = time.monotonic() + seconds
    issued = 0

    async def loop() -> None:
        nonlocal issued
        connection = Connection(port)
        try:
            while time.monotonic() < deadline and issued < limit:
                issued += 1
                await call(connection, issued)
        finally:
            await connection.close()

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return issued


def measure(
    name: str,
    call: Call,
    port: int,
    server_pid: int,
    options: argparse.Namespace,
) -> Measure:
    """Warm up, then run one workload and read both sides' CPU around it."""
    concurrency, limit = options.concurrency, options.max_requests
    asyncio.run(drive(port, call, options.warmup, concurrency, limit))
    server_before = cpu_seconds(server_pid)
    client_before = time.process_time()
    started = time.monotonic()
    count = asyncio.run(drive(port, call, options.seconds, concurrency, limit))
    elapsed = time.monotonic() - started
    server_after = cpu_seconds(server_pid)
    server_cpu = None
    if server_before is not None and server_after is not None:
        server_cpu = (server_after - server_before) / elapsed
    client_cpu = (time.process_time() - client_before) / elapsed
    result = Measure(count, elapsed, server_cpu, client_cpu)
    print(
        f"{name}: {count} requests in {elapsed:.2f} s = {result.rps:.0f}/s "
        f"(server CPU {_share(server_cpu)}, client CPU {_share(client_cpu)})",
        file=sys.stderr,
    )
    return result


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    print(f"starting the simulator on {root}", file=sys.stderr)
    try:
        with served_simulator(port) as process:
            seed_articles(root)
            token = log_in(root)
            page = measure(
                "recordsql_page_100",
                recordsql_page(token),
                port,
                process.pid,
                options,
            )
            order = measure(
                "order_create",
                order_creation(token, str(port)),
                port,
                process.pid,
                options,
            )
    except (WrongAnswer, RuntimeError, OSError, httpx.HTTPError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    figures = {
        "recordsql_page_100_rps": round(page.rps, 1),
        "order_create_rps": round(order.rps, 1),
        "seconds": options.seconds,
        "concurrency": options.concurrency,
        "client": "one process, asyncio, keep-alive HTTP/1.1 connections",
        "requests": {
            "recordsql_page_100": page.requests,
            "order_create": order.requests,
        },
        "server_cpu": {
            "recordsql_page_100": _rounded(page.server_cpu),
            "order_create": _rounded(order.server_cpu),
        },
        "client_cpu": {
            "recordsql_page_100": _rounded(page.client_cpu),
            "order_create": _rounded(order.client_cpu),
        },
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

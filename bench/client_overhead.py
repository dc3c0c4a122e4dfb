"""What the SDK costs on top of bare httpx, for the same RecordSql page reads.

    python bench/client_overhead.py [--reads 2000] [--page-size 100] [--rounds 100]
                                    [--log-level INFO]

Starts ``divalto simulator serve`` in a child process on a free loopback port,
seeds enough articles for full pages, then reads the same page of
``GTRSART.dhoq``/``Article`` (``--page-size`` records) ``--reads`` times through
each client, in this one process:

- ``sdk``: :class:`divalto.Divalto` with ``records.page(query)``: the query object
  writes the body, the transport adds the token and the trace header, times the
  call, classifies the answer and logs one ``divalto.request`` event (structlog
  configured by :func:`divalto.configure_logging`, JSON lines written to
  ``os.devnull`` at ``--log-level``: at WARNING the event is dropped unrendered),
  and the page is read into records;
- ``httpx``: one ``httpx.Client`` posting the same body with the token, checking
  ``error`` is 0 and the record count.

Both read over keep-alive HTTP/1.1, one call at a time. To spread the drift and
the noise of the machine evenly, the reads are split into ``--rounds`` short
rounds, each running both clients one after the other, in alternating order;
each client is warmed up first. Every answer is checked: a wrong one stops the
run with exit code 1.

Progress goes to standard error; the figures go to standard output as ONE JSON
line, last: ``sdk_s``, ``httpx_s`` (total seconds of each side's reads) and
``ratio`` (``sdk_s / httpx_s``; the target is at most 1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from _simulator import free_port, served_simulator
from divalto import Divalto, RecordQuery, configure_logging, load_profile

SITE_BASE = "/123456/TEST1/api/v1/"
DOSSIER = "998"
WARMUP_READS = 200

Reader = Callable[[], None]


class WrongAnswer(Exception):
    """The simulator answered something a correct run would not."""


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=2000, help="reads per client")
    parser.add_argument("--page-size", type=int, default=100, help="records a page")
    parser.add_argument("--rounds", type=int, default=100, help="alternating rounds")
    parser.add_argument("--log-level", default="INFO", help="the SDK's log level")
    return parser.parse_args(argv)


@contextmanager
def simulator_process(port: int) -> Iterator[str]:
    """``divalto simulator serve`` in a child process; yields its root URL."""
    with served_simulator(port):
        yield f"http://127.0.0.1:{port}"


def seed_articles(root: str, count: int) -> None:
    """Enough articles that the first page is full."""
    articles = [
        {"REF": f"OVER{number:05d}", "DES": f"Overhead article {number}", "PUB": "4.20"}
        for number in range(1, count + 1)
    ]
    response = httpx.post(
        f"{root}/_simulator/seed", json={"dossier": DOSSIER, "ART": articles}
    )
    response.raise_for_status()


def sdk_reader(erp: Divalto, query: RecordQuery, page_size: int) -> Reader:
    def read() -> None:
        page = erp.records.page(query, count=page_size)
        if len(page.records) != page_size:
            raise WrongAnswer(f"SDK: {len(page.records)} records, not {page_size}")

    return read


def httpx_reader(
    http: httpx.Client, root: str, body: dict[str, Any], page_size: int
) -> Reader:
    url = root + SITE_BASE + "RecordSql/Read"

    def read() -> None:
        answer = http.post(url, json=body).json()
        if answer.get("error") != 0:
            raise WrongAnswer(f"httpx: error {answer.get('error')}")
        if len(answer["records"]) != page_size:
            raise WrongAnswer(f"httpx: {len(answer['records'])} records")

    return read


def log_in(http: httpx.Client, root: str) -> str:
    answer = http.post(
        root + SITE_BASE + "Authent/Auth", json={"user": "DEMO", "password": "demo"}
    ).json()
    token: str = answer["access_token"]
    return token


def timed(read: Reader, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        read()
    return time.perf_counter() - started


def compare(readers: dict[str, Reader], reads: int, rounds: int) -> dict[str, float]:
    """Total seconds of each reader over ``reads`` reads, in alternating rounds."""
    totals = dict.fromkeys(readers, 0.0)
    for read in readers.values():
        timed(read, WARMUP_READS)
    per_round = [reads // rounds + (i < reads % rounds) for i in range(rounds)]
    for number, count in enumerate(per_round):
        order = list(readers) if number % 2 == 0 else list(reversed(readers))
        for name in order:
            totals[name] += timed(readers[name], count)
        if (number + 1) % max(1, rounds // 10) == 0:
            progress = ", ".join(f"{name} {totals[name]:.2f} s" for name in totals)
            print(f"round {number + 1}/{rounds}: {progress}", file=sys.stderr)
    return totals


def run(options: argparse.Namespace) -> dict[str, Any]:
    query = RecordQuery("GTRSART.dhoq", "Article").order_by("Par_ID")
    with (
        open(os.devnull, "w") as sink,
        simulator_process(free_port()) as root,
        httpx.Client() as http,
    ):
        configure_logging(level=options.log_level, json=True, stream=sink)
        seed_articles(root, options.page_size + 20)
        profile = load_profile(
            "bench",
            base_url=root + SITE_BASE,
            dossier=DOSSIER,
            user="DEMO",
            password="demo",
        )
        body = {
            **query.body(count=options.page_size),
            "access_token": log_in(http, root),
        }
        with Divalto(profile) as erp:
            readers = {
                "sdk": sdk_reader(erp, query, options.page_size),
                "httpx": httpx_reader(http, root, body, options.page_size),
            }
            totals = compare(readers, options.reads, options.rounds)
    return {
        "reads": options.reads,
        "page_size": options.page_size,
        "log_level": options.log_level.upper(),
        "sdk_s": round(totals["sdk"], 3),
        "httpx_s": round(totals["httpx"], 3),
        "ratio": round(totals["sdk"] / totals["httpx"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    try:
        figures = run(options)
    except WrongAnswer as wrong:
        print(f"wrong answer: {wrong}", file=sys.stderr)
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stream a million RecordSql records through the paging iterator; watch memory.

The simulator runs in its own process (``divalto simulator serve``) and a second
child process loads the articles through ``POST /_simulator/seed``, in batches, so
that this process only ever reads: its peak resident memory
(``resource.getrusage``) is the client's cost of streaming, nothing else.

Usage::

    .venv/bin/python bench/stream_memory.py [--records N] [--page-size N]

Progress goes to stderr. The last line on stdout is one JSON object with
``records``, ``seconds`` (the read alone) and ``peak_rss_mb``, then the resident
memory before the read, after the first page and at the end, to show it stays
flat.
Target: peak ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from _simulator import free_port, served_simulator
from divalto.client import Divalto
from divalto.recordsql import RecordQuery
from divalto.settings import Profile
from divalto.telemetry import configure_logging

ARTICLES = RecordQuery("GTRSART.dhoq", "Article").where("Like_Ref", ref="M")
"""The seeded articles (``M0000001``...), none of the built-in ones."""


def current_rss_mb() -> float:
    """Resident memory of this process now, from ``/proc``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def simulator(port: int) -> Iterator[str]:
    """A simulator in a child process; yields its root URL once it answers."""
    with served_simulator(port):
        yield f"http://127.0.0.1:{port}"


def seed(url: str, records: int, batch: int) -> None:
    """Load ``records`` articles ``M0000001``... in batches (child process)."""
    with httpx.Client(base_url=f"{url}/_simulator/", timeout=600) as http:
        for start in range(1, records + 1, batch):
            stop = min(start + batch, records + 1)
            rows = [
                {"REF": f"M{n:07d}", "DES": f"Article {n}", "PUB": "9.99"}
                for n in range(start, stop)
            ]
            http.post("seed", json={"dossier": "998", "ART": rows}).raise_for_status()
            print(f"seeded {stop - 1:,} articles", file=sys.stderr, flush=True)


def seed_in_child(url: str, records: int, batch: int) -> None:
    script = [sys.executable, __file__, "--seed-only", url]
    subprocess.run(  # noqa: S603 - our own interpreter and script
        [*script, "--records", str(records), "--batch", str(batch)], check=True
    )


def stream(url: str, page_size: int, expected: int) -> dict[str, float | int]:
    """Read every seeded article once; return the figures."""
    profile = Profile(
        base_url=f"{url}/123456/TEST1/api/v1/",
        dossier="998",
        user="DEMO",
        password="demo",
    )
    count, after_first_page, before = 0, 0.0, current_rss_mb()
    started = time.perf_counter()
    with Divalto(profile) as erp:
        for _record in erp.records.read(ARTICLES, page_size=page_size):
            count += 1
            if count == page_size:
                after_first_page = current_rss_mb()
            if count % 100_000 == 0:
                rss = current_rss_mb()
                print(f"read {count:,} records, rss {rss:.1f} MB", file=sys.stderr)
    seconds = time.perf_counter() - started
    if count != expected:
        raise SystemExit(f"read {count} records, expected {expected}")
    return {
        "records": count,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_mb_before_read": round(before, 1),
        "rss_mb_after_first_page": round(after_first_page, 1),
        "rss_mb_at_end": round(current_rss_mb(), 1),
        "page_size": page_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--seed-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        seed(args.seed_only, args.records, args.batch)
        return
    configure_logging(level="WARNING", json=True)
    with simulator(free_port()) as url:
        seed_in_child(url, args.records, args.batch)
        figures = stream(url, args.page_size, args.records)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

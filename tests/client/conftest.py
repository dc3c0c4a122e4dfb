"""Fixtures of the client-core tests: a profile on the simulator and a fake time.

:class:`FakeTime` is the clock and the sleep a client is built with: a wait is
recorded and moves the clock, so tests measure waits exactly and never wait.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog

from divalto.client import AsyncDivalto, Divalto
from divalto.settings import Profile, load_profile
from divalto.testing import RunningSimulator
from divalto.wire import Endpoint, OperationKind

ARTICLES = {
    "dhoq": "GTRSART.dhoq",
    "recordsql": "Article",
    "fields": "REF;DES;PUB",
    "where": "Equal_Ref",
    "where_parameters": "ref=ALB0001",
    "orderby": "",
    "offset": 0,
    "count": 10,
}
"""A RecordSql body that reads article ALB0001."""

ALB0001 = {"REF": "ALB0001", "DES": "Album photo 30 x 30", "PUB": "12.50"}
ALB0001_RECORDS = [ALB0001]
"""What reading ``ARTICLES`` gives, as records."""

READ = {"kind": OperationKind.READ, "action": "GTRSART.dhoq/Article"}


class FakeTime:
    """A monotonic clock that only moves when told to or when a wait is taken."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SentRequests:
    """Every request an httpx client sent, through its event hook."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def hook(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def ahook(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def headers(self, name: str) -> list[str | None]:
        return [request.headers.get(name) for request in self.requests]

    def paths(self) -> list[str]:
        return [request.url.path.rsplit("/api/v1/", 1)[1] for request in self.requests]


def sim_profile(simulator: RunningSimulator, **settings: Any) -> Profile:
    """A profile on the simulator with quick retries; ``settings`` override."""
    base: dict[str, Any] = {
        "base_url": simulator.base_url,
        "dossier": "998",
        "user": "DEMO",
        "password": "demo",
        "retry": {"attempts": 4, "wait_initial": 0.5, "wait_jitter": 0.2},
    }
    return load_profile("sim", **{**base, **settings})


def logged(
    simulator: RunningSimulator, expected: int, **filters: Any
) -> list[dict[str, Any]]:
    """The request log entries matching ``filters``, once ``expected`` are there.

    The simulator logs a call when it ends, so a call the client gave up on
    appears a little later; this waits for it (10 s at most).
    """
    give_up = time.monotonic() + 10
    while True:
        entries = simulator.control.requests(**filters)
        if len(entries) >= expected or time.monotonic() > give_up:
            return entries
        time.sleep(0.02)


def records_of(envelope: dict[str, Any]) -> list[dict[str, str]]:
    return [row["record"] for row in envelope["records"]]


@pytest.fixture(autouse=True)
def _plain_structlog() -> Iterator[None]:
    """Each test starts and ends with structlog's default configuration."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sent() -> SentRequests:
    return SentRequests()


@pytest.fixture
def profile(divalto_simulator: RunningSimulator) -> Profile:
    return sim_profile(divalto_simulator)


@pytest.fixture
def client(
    profile: Profile, fake_time: FakeTime, sent: SentRequests
) -> Iterator[Divalto]:
    """A client on the simulator, fake time, no jitter, its requests recorded."""
    http = httpx.Client(event_hooks={"request": [sent.hook]})
    with (
        http,
        Divalto(
            profile,
            http=http,
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            draw=lambda: 0.0,
        ) as erp,
    ):
        yield erp


@pytest.fixture
async def async_client(
    profile: Profile, fake_time: FakeTime, sent: SentRequests
) -> AsyncIterator[AsyncDivalto]:
    """The async twin of ``client``."""
    http = httpx.AsyncClient(event_hooks={"request": [sent.ahook]})
    async with (
        http,
        AsyncDivalto(
            profile,
            http=http,
            clock=fake_time.clock,
            sleep=fake_time.asleep,
            draw=lambda: 0.0,
        ) as erp,
    ):
        yield erp


def read_article(erp: Divalto) -> dict[str, Any]:
    """Read ALB0001 through the transport."""
    return erp.transport.call(Endpoint.RECORDSQL, dict(ARTICLES), **READ)


async def aread_article(erp: AsyncDivalto) -> dict[str, Any]:
    return await erp.transport.call(Endpoint.RECORDSQL, dict(ARTICLES), **READ)

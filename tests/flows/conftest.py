"""Fixtures of the flow tests: a flow engine on a SQLite file, over the simulator.

DBOS is one per process: each test launches the engine on its own database file
and shuts it down at the end. The order of every test is :func:`shop_order`.
:func:`postgres_database` gives a test a PostgreSQL database of its own instead
(the test must be marked ``postgres``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows import (
    EngineConfig,
    FileSink,
    FlowEngine,
    Fulfilment,
    IntakeStore,
    OrderToCash,
    sqlite_url,
)
from divalto.settings import Profile, load_profile
from divalto.testing import RunningSimulator, SimulatorControl


def shop_order(external_id: str = "1001", **changes: Any) -> dict[str, Any]:
    """Shop order ``external_id`` of shop customer 4401: albums, a jacket, shipping."""
    order: dict[str, Any] = {
        "source": "shopify",
        "external_id": external_id,
        "customer": {
            "id": "4401",
            "name": "Brasserie Kléber",
            "address": {
                "street": "5 place Kléber",
                "postcode": "67000",
                "city": "Strasbourg",
                "country": "FR",
            },
            "email": "compta@example.com",
        },
        "order": {
            "date": "2026-01-15",
            "lines": [
                {"ref": "ALB0001", "quantity": "10"},
                {"ref": "BLO0001", "sref1": "XL", "sref2": "BLEU", "quantity": "1"},
            ],
            "shipping": "7.50",
        },
    }
    order.update(changes)
    return order


def simulator_profile(base_url: str, service_timeout: float = 10.0) -> Profile:
    """A profile of the simulator's demo tenant, retrying once, quickly."""
    return load_profile(
        "sim",
        base_url=base_url,
        dossier="998",
        user="DEMO",
        password="demo",
        timeouts={"service": service_timeout},
        retry={"attempts": 2, "wait_initial": 0.01, "wait_jitter": 0.0},
    )


@dataclass
class Flows:
    """A launched flow engine in this process, its intake, sink and simulator."""

    flow: OrderToCash
    control: SimulatorControl
    sink: FileSink

    @property
    def engine(self) -> FlowEngine:
        return self.flow.engine

    @property
    def store(self) -> IntakeStore:
        return self.flow.store


LaunchFlows = Callable[..., Flows]


@pytest.fixture
def flows_database(tmp_path: Path) -> str:
    """The URL of a fresh SQLite file for the engine and the intake."""
    return sqlite_url(tmp_path / "flows.db")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped after the test.

    The server is ``$DIVALTO_TEST_POSTGRES`` (default ``127.0.0.1:5432``), user
    ``postgres`` without a password (trust), as ``tests/conftest.py`` expects.
    """
    import psycopg
    from psycopg import sql

    address = os.environ.get("DIVALTO_TEST_POSTGRES", "127.0.0.1:5432")
    name = f"divalto_flows_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@{address}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgresql://postgres@{address}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


@pytest.fixture
def launch_flows(
    divalto_simulator: RunningSimulator, flows_database: str, tmp_path: Path
) -> Iterator[LaunchFlows]:
    """Launch the engine with a :class:`Fulfilment` and a service timeout."""
    opened: list[tuple[OrderToCash, Divalto]] = []

    def launch(
        fulfilment: Fulfilment | None = None, service_timeout: float = 10.0
    ) -> Flows:
        erp = Divalto(simulator_profile(divalto_simulator.base_url, service_timeout))
        engine = FlowEngine(
            EngineConfig(database_url=flows_database, executor_id="test-worker")
        )
        sink = FileSink(tmp_path / "acks.jsonl")
        flow = OrderToCash(
            engine,
            IntakeStore(flows_database),
            Adapters(erp),
            sink,
            fulfilment or Fulfilment(wait_initial=0.01),
            sleep=lambda seconds: None,
        ).install()
        engine.launch()
        opened.append((flow, erp))
        return Flows(flow, divalto_simulator.control, sink)

    yield launch
    for flow, erp in opened:
        flow.engine.shutdown()
        flow.store.close()
        erp.close()

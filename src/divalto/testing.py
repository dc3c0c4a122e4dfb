"""A pytest plugin, and a client for the simulator's control endpoint.

Installed with the package (entry point ``pytest11``), the plugin offers:

``divalto_simulator_server``
    one :class:`~divalto.simulator.SimulatorServer` per test session, real HTTP on
    a free loopback port.
``divalto_simulator``
    that server, reset to its seed data with no faults and an empty request log
    before each test: a :class:`RunningSimulator`, with ``base_url`` and a
    :class:`SimulatorControl` as ``control``.

:class:`SimulatorControl` also works on a simulator in another process
(``divalto simulator serve``): give it the server's root URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from divalto.simulator import SimulatorServer


class SimulatorControl:
    """Steers a running simulator through ``/_simulator``: faults, seed, log, clock."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/") + "/_simulator/", timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def add_fault(self, kind: str, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (see :class:`~divalto.simulator.FaultRule`); return it."""
        result: dict[str, Any] = self._call(
            "POST", "faults", json={"kind": kind, **rule}
        )
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The request log, filtered on any field, e.g. ``route="service"``."""
        params = {key: str(value) for key, value in filters.items()}
        result: list[dict[str, Any]] = self._call("GET", "requests", params=params)
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def seed(self, data: dict[str, Any]) -> dict[str, int]:
        """Load seed records (the shape of the bundled ``demo.json``)."""
        result: dict[str, int] = self._call("POST", "seed", json=data)["loaded"]
        return result

    def table(self, name: str, **filters: Any) -> list[dict[str, Any]]:
        """Rows of one table of the simulator's state, filtered on columns."""
        params = {key: str(value) for key, value in filters.items()}
        result: list[dict[str, Any]] = self._call(
            "GET", f"tables/{name}", params=params
        )
        return result

    def delete_rows(self, name: str, **filters: Any) -> int:
        """Delete the rows of a table matching every filter (one at least)."""
        params = {key: str(value) for key, value in filters.items()}
        result: int = self._call("DELETE", f"tables/{name}", params=params)["deleted"]
        return result

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "clock/advance", json={"seconds": seconds})

    def expire_tokens(self) -> None:
        self._call("POST", "tokens/expire")

    def webhooks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "webhooks")
        return result

    def reset(self) -> None:
        self._call("POST", "reset")

    def openapi(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "openapi.json")
        return result


@dataclass
class RunningSimulator:
    """A simulator under test: where it answers and how to steer it."""

    server: SimulatorServer
    control: SimulatorControl

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="session")
def divalto_simulator_server() -> Iterator[SimulatorServer]:
    """One simulator for the whole test session, on a free loopback port."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def divalto_simulator(
    divalto_simulator_server: SimulatorServer,
) -> Iterator[RunningSimulator]:
    """The session's simulator, reset to its seed before the test."""
    control = SimulatorControl(divalto_simulator_server.url)
    control.reset()
    try:
        yield RunningSimulator(divalto_simulator_server, control)
    finally:
        control.close()

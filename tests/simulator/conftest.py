"""Raw-wire helpers: the simulator's tests speak plain HTTP, not the SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from divalto.testing import RunningSimulator


class Wire:
    """Plain httpx calls on the simulator's Divalto routes, with a cached token."""

    def __init__(self, simulator: RunningSimulator) -> None:
        self.simulator = simulator
        self.http = httpx.Client(base_url=simulator.base_url, timeout=10)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def login(self, user: str = "DEMO", password: str = "demo") -> str:
        answer = self.post("Authent/Auth", {"user": user, "password": password})
        assert answer["error"] == 0, answer
        token: str = answer["access_token"]
        return token

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.login()
        return self._token

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(route, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def recordsql(self, dhoq: str, recordsql: str, **fields: Any) -> dict[str, Any]:
        body = {"dhoq": dhoq, "recordsql": recordsql, "access_token": self.token}
        body.update({key: str(value) for key, value in fields.items()})
        return self.post("RecordSql/Read", body)

    def service(self, action: str, param: str) -> dict[str, Any]:
        body = {"action": action, "param": param, "access_token": self.token}
        return self.post("WebService/Execute", body)

    def json_action(
        self, action: str, data: dict[str, Any], **parameters: str
    ) -> dict[str, Any]:
        """Run a ``WEB_SERVICE_INFINITY`` business action; return the inner result."""
        inner = {
            "action": {
                "swinfinity": action,
                "parameters": {"dos": "998", **parameters},
            },
            "data": data,
        }
        answer = self.service("WEB_SERVICE_INFINITY", json.dumps(inner))
        assert answer["error"] == 0, answer
        result: dict[str, Any] = json.loads(answer["result"])
        return result


@pytest.fixture
def wire(divalto_simulator: RunningSimulator) -> Iterator[Wire]:
    client = Wire(divalto_simulator)
    try:
        yield client
    finally:
        client.close()

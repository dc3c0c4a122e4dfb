"""Bad request bodies get an exact error code and txterr, never a 500 or a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire

LOGIN = {"user": "DEMO", "password": "demo"}


def envelope(error: int, txterr: str) -> dict[str, Any]:
    return {"error": error, "txterr": txterr, "infos": ""}


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which the server logged an error (a traceback, a 500)."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR
    ]
    assert errors == []


def assert_still_serving(wire: Wire) -> None:
    """A normal login still works after the bad request."""
    assert wire.post("Authent/Auth", LOGIN)["error"] == 0


RAW_BODIES = [
    pytest.param(
        "Authent/Auth",
        b'{"user": "DEMO",',
        envelope(
            1,
            "Malformed JSON body: Expecting property name enclosed in double quotes"
            " at line 1 column 17",
        ),
        id="truncated-json",
    ),
    pytest.param(
        "Authent/Auth",
        b"{'user': 'DEMO'}",
        envelope(
            1,
            "Malformed JSON body: Expecting property name enclosed in double quotes"
            " at line 1 column 2",
        ),
        id="single-quoted-json",
    ),
    pytest.param(
        "WebService/Execute",
        b'{"action": "X",\n "param": }',
        envelope(1, "Malformed JSON body: Expecting value at line 2 column 11"),
        id="json-error-on-line-2",
    ),
    pytest.param(
        "Authent/Auth",
        b"",
        envelope(1, "Request body is empty: JSON expected"),
        id="empty",
    ),
    pytest.param(
        "RecordSql/Read",
        b"  \r\n ",
        envelope(1, "Request body is empty: JSON expected"),
        id="blank",
    ),
    pytest.param(
        "Authent/Auth",
        b'["DEMO", "demo"]',
        envelope(3, "Request body must be a JSON object"),
        id="array",
    ),
    pytest.param(
        "WebService/Execute",
        b'"just a string"',
        envelope(3, "Request body must be a JSON object"),
        id="string",
    ),
    pytest.param(
        "WebHook/COMMANDE_WEB",
        b"[1, 2]",
        envelope(3, "Request body must be a JSON object"),
        id="webhook-array",
    ),
    pytest.param(
        "Authent/Auth",
        b'{"user": "D\xe9MO", "password": "demo"}',
        envelope(1, "Request body is not UTF-8: byte 0xe9 at offset 11"),
        id="latin-1-bytes",
    ),
    pytest.param(
        "Authent/Auth",
        b'{"user": "DEMO", "password": NaN}',
        envelope(1, "Malformed JSON body: NaN is not a JSON value"),
        id="nan",
    ),
    pytest.param(
        "WebHook/COMMANDE_WEB",
        b'{"total": -Infinity}',
        envelope(1, "Malformed JSON body: -Infinity is not a JSON value"),
        id="infinity",
    ),
    pytest.param(
        "WebHook/COMMANDE_WEB",
        b'{"total": 1e999}',
        envelope(1, "Malformed JSON body: number 1e999 is out of range"),
        id="huge-float",
    ),
    pytest.param(
        "Authent/Auth",
        b'{"user": ' + b"9" * 5000 + b"}",
        envelope(1, "Malformed JSON body: integer of 5000 digits is too long"),
        id="huge-integer",
    ),
    pytest.param(
        "Authent/Auth",
        b"[" * 100_000 + b"]" * 100_000,
        envelope(1, "Malformed JSON body: nested too deeply"),
        id="deep-nesting",
    ),
]


@pytest.mark.parametrize(("route", "raw", "expected"), RAW_BODIES)
def test_unusable_body_gets_its_error_and_the_simulator_keeps_serving(
    wire: Wire, route: str, raw: bytes, expected: dict[str, Any]
) -> None:
    """A body that is not one UTF-8 JSON object gets HTTP 200, an error and a txterr."""
    response = wire.http.post(
        route, content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == expected
    assert_still_serving(wire)


FIELD_PROBLEMS = [
    pytest.param(
        "Authent/Auth",
        {"user": 998, "password": "demo"},
        envelope(3, "Field 'user' must be a string"),
        id="user-number",
    ),
    pytest.param(
        "Authent/Auth",
        {"user": "DEMO", "password": ["demo"]},
        envelope(3, "Field 'password' must be a string"),
        id="password-list",
    ),
    pytest.param(
        "WebService/Execute",
        {"action": 12, "param": ""},
        envelope(3, "Field 'action' must be a string"),
        id="action-number",
    ),
    pytest.param(
        "WebService/Execute",
        {"param": ""},
        envelope(2, "Field 'action' is required"),
        id="action-missing",
    ),
    pytest.param(
        "WebService/Execute",
        {"action": "  ", "param": ""},
        envelope(2, "Field 'action' is required"),
        id="action-blank",
    ),
    pytest.param(
        "WebService/Execute",
        {"action": "WEB_SERVICE_INFINITY", "param": {"action": {}}},
        envelope(3, "Field 'param' must be a string"),
        id="param-object",
    ),
    pytest.param(
        "WebService/Execute",
        {"action": "WEB_SERVICE_INFINITY"},
        envelope(2, "Field 'param' is required"),
        id="param-missing",
    ),
]


@pytest.mark.parametrize(("route", "body", "expected"), FIELD_PROBLEMS)
def test_wrong_or_missing_field_is_named_in_txterr(
    wire: Wire, route: str, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    """A field of the wrong type is error 3, a missing one error 2, each named."""
    if route != "Authent/Auth":
        body = {**body, "access_token": wire.token}

    assert wire.post(route, body) == expected
    assert_still_serving(wire)


def test_token_that_is_not_a_string_is_error_3(wire: Wire) -> None:
    """``access_token`` given as a number is a wrong type, not a missing token."""
    body = {"action": "X", "param": "", "access_token": 12345}

    assert wire.post("WebService/Execute", body) == envelope(
        3, "Field 'access_token' must be a string"
    )


def test_utf8_byte_order_mark_is_tolerated(wire: Wire) -> None:
    """A body that starts with a UTF-8 BOM, as some .NET clients send, is read."""
    raw = b"\xef\xbb\xbf" + json.dumps(LOGIN).encode()

    response = wire.http.post("Authent/Auth", content=raw)

    assert response.json()["error"] == 0


def test_body_over_the_size_limit_is_error_4_and_one_at_the_limit_is_read() -> None:
    """``max_body_bytes`` refuses a larger body with error 4 and reads one that fits."""
    at_limit = json.dumps({"user": "DEMO", "password": "demo", "infos": "x" * 15})
    assert len(at_limit) == 64
    with (
        SimulatorServer(SimulatorSettings(max_body_bytes=64)) as server,
        httpx.Client(base_url=server.base_url) as client,
    ):
        fits = client.post("Authent/Auth", content=at_limit.encode())
        too_large = client.post("Authent/Auth", content=at_limit.encode() + b" ")
        chunked = client.post(
            "Authent/Auth", content=iter([b'{"user": "DEMO",', b" " * 100, b"}"])
        )
        after = client.post("Authent/Auth", json=LOGIN)

    assert fits.json()["error"] == 0
    assert too_large.status_code == 200
    assert too_large.json() == envelope(4, "Request body larger than 64 bytes")
    assert chunked.json() == envelope(4, "Request body larger than 64 bytes")
    assert after.json()["error"] == 0


def test_bad_input_is_logged_as_an_error_with_its_code(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The request log records a refused body with outcome ``error`` and its code."""
    wire.http.post("WebService/Execute", content=b"{oops")

    [entry] = divalto_simulator.control.requests()
    assert (entry["route"], entry["outcome"], entry["error"], entry["http_status"]) == (
        "service",
        "error",
        1,
        200,
    )


def test_bad_input_changes_no_state(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A refused webhook body records no webhook call."""
    wire.http.post("WebHook/COMMANDE_WEB", content=b'{"order": "SHOP-1"')

    assert divalto_simulator.control.webhooks() == []

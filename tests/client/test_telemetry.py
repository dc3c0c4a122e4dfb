"""Telemetry: one event per call, trace ids in context, secrets masked everywhere."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
import structlog
from pydantic import SecretStr
from structlog.testing import capture_logs

from divalto import errors
from divalto.client import Divalto
from divalto.telemetry import (
    MASK,
    configure_logging,
    current_trace_id,
    mask_secrets,
    redact,
    register_secret,
    trace,
)
from divalto.testing import RunningSimulator
from tests.client.conftest import FakeTime, read_article, sim_profile


def requests_logged(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [log for log in logs if log["event"] == "divalto.request"]


def test_each_call_logs_one_request_event_with_its_fields(
    client: Divalto,
) -> None:
    """A login and a read give two ``divalto.request`` events, nothing more."""
    with capture_logs() as logs, trace("trace-1"):
        read_article(client)

    assert requests_logged(logs) == [
        {
            "event": "divalto.request",
            "log_level": "info",
            "status": "ok",
            "endpoint": "login",
            "action": "login",
            "kind": "login",
            "duration_ms": 0.0,
            "http_status": 200,
            "retry_count": 0,
            "trace_id": "trace-1",
        },
        {
            "event": "divalto.request",
            "log_level": "info",
            "status": "ok",
            "endpoint": "recordsql",
            "action": "GTRSART.dhoq/Article",
            "kind": "read",
            "duration_ms": 0.0,
            "http_status": 200,
            "retry_count": 0,
            "trace_id": "trace-1",
        },
    ]


def test_a_failed_call_logs_its_error_category_code_and_retries(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """Four attempts on a 503 log one warning with the error and three retries."""
    client.tokens.token()
    divalto_simulator.control.add_fault("http_error", route="recordsql")

    with capture_logs() as logs, pytest.raises(errors.ServerUnavailable):
        read_article(client)

    (event,) = requests_logged(logs)
    assert {key: event[key] for key in sorted(event) if key != "trace_id"} == {
        "action": "GTRSART.dhoq/Article",
        "duration_ms": 3500.0,
        "endpoint": "recordsql",
        "erp_error": None,
        "error_category": "transient",
        "error_code": "transient.server_unavailable",
        "event": "divalto.request",
        "http_status": 503,
        "kind": "read",
        "log_level": "warning",
        "retry_count": 3,
        "status": "error",
    }
    retries = [log for log in logs if log["event"] == "divalto.retry"]
    assert [(log["attempt"], log["wait_s"]) for log in retries] == [
        (2, 0.5),
        (3, 1.0),
        (4, 2.0),
    ]


def test_a_refused_token_is_logged_with_the_erp_number(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """A token the ERP refused is logged once, with the ERP's error number."""
    client.tokens.token()
    divalto_simulator.control.expire_tokens()

    with capture_logs() as logs:
        read_article(client)

    refused = [log for log in logs if log["event"] == "divalto.token.refused"]
    assert refused == [
        {"event": "divalto.token.refused", "log_level": "info", "erp_error": 12}
    ]


def test_no_secret_reaches_the_logs_of_a_login_and_a_call(
    divalto_simulator: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logs of logins, a read and a refused login hold no password or token."""
    stream = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=stream, cache=False)
    caplog.set_level(logging.DEBUG)
    good = sim_profile(divalto_simulator, user="API_SYNC", password="sync-secret")
    bad = sim_profile(divalto_simulator, password="Wr0ng-Secret-77")

    with Divalto(good) as erp:
        read_article(erp)
        token = erp.tokens.token()
        shown = [repr(erp), repr(erp.transport), repr(erp.tokens), repr(good)]
    with Divalto(bad) as erp, pytest.raises(errors.CredentialsRejected) as refused:
        read_article(erp)
    shown += [str(refused.value), repr(refused.value), str(refused.value.to_dict())]

    logged = stream.getvalue()
    events = [json.loads(line)["event"] for line in logged.splitlines()]
    assert events.count("divalto.request") == 4
    assert "divalto.attempt" in events
    for secret in ("sync-secret", "Wr0ng-Secret-77", token):
        assert secret not in logged
        assert secret not in caplog.text
        assert all(secret not in text for text in shown)


def test_the_processor_masks_secret_keys_and_registered_values() -> None:
    """A token pasted into any field, and any key naming a secret, are masked."""
    register_secret("eyJhbGciOi.token-body.signature")
    event = {
        "event": "app.debug",
        "note": "sent eyJhbGciOi.token-body.signature to the ERP",
        "password": "hunter2!",
        "pin_password": 4321,
        "Authorization": "Bearer abc",
        "api_key": SecretStr("k"),
        "nested": {"access_token": "xyz", "items": ["eyJhbGciOi.token-body.signature"]},
        "retry_count": 2,
    }

    masked = mask_secrets(None, "debug", event)

    assert masked == {
        "event": "app.debug",
        "note": f"sent {MASK} to the ERP",
        "password": MASK,
        "pin_password": MASK,
        "Authorization": MASK,
        "api_key": MASK,
        "nested": {"access_token": MASK, "items": [MASK]},
        "retry_count": 2,
    }


def test_redact_leaves_ordinary_values_and_short_secrets_alone() -> None:
    """Values under four characters are not registered: words stay readable."""
    register_secret("ab")

    assert redact({"user": "ab", "count": 3, "password": ""}) == {
        "user": "ab",
        "count": 3,
        "password": "",
    }


def test_an_exception_logged_with_a_secret_in_its_message_is_masked() -> None:
    """A traceback rendered to JSON goes through the mask too."""
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream, cache=False)
    register_secret("tok-998877665544")

    try:
        raise ValueError("bad token tok-998877665544")
    except ValueError:
        structlog.get_logger("app").exception("app.failed")

    assert "tok-998877665544" not in stream.getvalue()
    assert MASK in stream.getvalue()


def test_levels_below_the_configured_one_are_dropped() -> None:
    """At INFO, the DEBUG attempt events are not written."""
    stream = io.StringIO()
    configure_logging(level="INFO", json=False, stream=stream, cache=False)

    structlog.get_logger("divalto").debug("divalto.attempt", attempt=1)
    structlog.get_logger("divalto").info("divalto.request", status="ok")

    assert "divalto.attempt" not in stream.getvalue()
    assert "divalto.request" in stream.getvalue()


def test_an_unknown_level_is_refused() -> None:
    """A misspelt level is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging(level="LOUD")


def test_a_trace_is_bound_for_its_block_and_restored_after() -> None:
    """Nested traces restore the outer id; outside, none is bound."""
    assert current_trace_id() is None
    with trace("outer"):
        with trace("inner"):
            assert current_trace_id() == "inner"
        assert current_trace_id() == "outer"
    assert current_trace_id() is None


async def test_tasks_inherit_the_trace_of_their_creator() -> None:
    """A task created inside a trace sees its id; one created outside does not."""

    async def seen() -> str | None:
        return current_trace_id()

    with trace() as trace_id:
        inside = await asyncio.create_task(seen())
    outside = await asyncio.create_task(seen())

    assert inside == trace_id
    assert len(trace_id) == 32
    assert outside is None

"""The transport over loopback: retries, waits, deadlines, writes, trace headers."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
import structlog.testing

from divalto import errors
from divalto.client import AsyncDivalto, Divalto
from divalto.settings import load_profile
from divalto.telemetry import trace
from divalto.testing import RunningSimulator
from divalto.transport import Transport
from divalto.wire import Endpoint, OperationKind
from tests.client.conftest import (
    ALB0001,
    ARTICLES,
    READ,
    FakeTime,
    SentRequests,
    aread_article,
    logged,
    read_article,
    records_of,
    sim_profile,
)


def recordsql_log(simulator: RunningSimulator) -> list[tuple[str, int, list[str]]]:
    return [
        (entry["outcome"], entry["error"], entry["faults"])
        for entry in simulator.control.requests(route="recordsql")
    ]


@pytest.mark.parametrize("status", [503, 502, 500])
def test_a_read_is_retried_after_a_server_error(
    client: Divalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
    status: int,
) -> None:
    """An HTTP 5xx page on a read is retried after the first backoff, then succeeds."""
    divalto_simulator.control.add_fault(
        "http_error", route="recordsql", status=status, nth=1
    )

    envelope = read_article(client)

    assert records_of(envelope) == [ALB0001]
    assert fake_time.waits == [0.5]
    assert recordsql_log(divalto_simulator) == [
        ("fault", 0, ["http_error"]),
        ("ok", 0, []),
    ]


def test_backoff_grows_exponentially_with_its_jitter(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """Waits are wait_initial doubled per retry plus the drawn share of the jitter."""
    profile = sim_profile(
        divalto_simulator,
        retry={"attempts": 4, "wait_initial": 0.5, "wait_jitter": 0.2},
    )
    divalto_simulator.control.add_fault("http_error", route="recordsql", times=3)
    with Divalto(
        profile, clock=fake_time.clock, sleep=fake_time.sleep, draw=lambda: 0.5
    ) as erp:
        envelope = read_article(erp)

    assert records_of(envelope) == [ALB0001]
    assert fake_time.waits == [0.6, 1.1, 2.1]


def test_a_rate_limit_waits_the_seconds_of_retry_after(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """HTTP 429 with ``Retry-After: 7`` waits exactly 7 seconds, then retries."""
    divalto_simulator.control.add_fault(
        "rate_limit", route="recordsql", retry_after_seconds=7, nth=1
    )

    assert records_of(read_article(client)) == [ALB0001]
    assert fake_time.waits == [7.0]


def test_a_rate_limit_waits_until_the_http_date_of_retry_after(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """A ``Retry-After`` date 3 s ahead is waited for, to its one-second precision."""
    divalto_simulator.control.add_fault(
        "rate_limit",
        route="recordsql",
        retry_after_seconds=3,
        retry_after_http_date=True,
        nth=1,
    )

    assert records_of(read_article(client)) == [ALB0001]
    (wait,) = fake_time.waits
    assert 2.0 < wait <= 3.0


def test_a_retry_after_beyond_the_deadline_is_raised_without_waiting(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """A 60 s Retry-After with a 40 s deadline raises DeadlineExceeded at once."""
    profile = sim_profile(
        divalto_simulator,
        deadline_seconds=40,
        timeouts={"write": 30, "service": 30},
        retry={},
    )
    divalto_simulator.control.add_fault(
        "rate_limit", route="recordsql", retry_after_seconds=60
    )
    with (
        Divalto(profile, clock=fake_time.clock, sleep=fake_time.sleep) as erp,
        pytest.raises(errors.DeadlineExceeded) as raised,
    ):
        read_article(erp)

    assert fake_time.waits == []
    assert raised.value.message == (
        "a retry after 60 s would pass the deadline (40.000 s left): "
        "the ERP asked to slow down (HTTP 429, retry after 60 s)"
    )
    assert isinstance(raised.value.__cause__, errors.RateLimited)
    assert raised.value.http_status == 429
    assert len(divalto_simulator.control.requests(route="recordsql")) == 1


@pytest.mark.parametrize(
    ("fault", "settings"),
    [
        ({"kind": "connection_reset"}, {}),
        ({"kind": "truncated_body"}, {}),
        ({"kind": "timeout_before", "hang_seconds": 5}, {"read": 0.3}),
        ({"kind": "latency", "latency_ms": 600}, {"read": 0.3}),
    ],
    ids=["connection_reset", "truncated_body", "timeout_before", "slow_answer"],
)
def test_a_read_is_retried_after_a_transport_failure(
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
    fault: dict[str, Any],
    settings: dict[str, float],
) -> None:
    """A reset, a cut answer or a timeout on a read is retried once and succeeds."""
    profile = sim_profile(divalto_simulator, timeouts=settings)
    divalto_simulator.control.add_fault(**fault, route="recordsql", nth=1)
    with Divalto(
        profile, clock=fake_time.clock, sleep=fake_time.sleep, draw=lambda: 0.0
    ) as erp:
        envelope = read_article(erp)

    assert records_of(envelope) == [ALB0001]
    assert fake_time.waits == [0.5]
    assert len(logged(divalto_simulator, 2, route="recordsql")) == 2


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ({"error_code": 26, "txterr": "Unknown field 'XYZ'"}, errors.QueryRejected, 26),
        (
            {"error_code": 2, "txterr": "Field 'dhoq' is required"},
            errors.RequestRejected,
            2,
        ),
        (
            {"error_code": 20, "txterr": "Not authorised"},
            errors.DictionaryNotAuthorised,
            20,
        ),
    ],
    ids=["query", "request", "dictionary"],
)
def test_contract_and_auth_errors_are_not_retried(
    client: Divalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
    fault: dict[str, Any],
    error: type[errors.DivaltoError],
    code: int,
) -> None:
    """An ERP error envelope of the contract or auth category is raised at once."""
    divalto_simulator.control.add_fault("error", route="recordsql", **fault)

    with pytest.raises(error) as raised:
        read_article(client)

    assert raised.value.erp_error == code
    assert raised.value.erp_text == fault["txterr"]
    assert fake_time.waits == []
    assert len(divalto_simulator.control.requests(route="recordsql")) == 1


def test_retries_stop_after_the_number_of_attempts(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """With four attempts, a server that keeps failing is asked four times."""
    divalto_simulator.control.add_fault("http_error", route="recordsql", status=502)

    with pytest.raises(errors.ServerUnavailable) as raised:
        read_article(client)

    assert raised.value.message == "the server failed with HTTP 502 (an HTML page)"
    assert raised.value.http_status == 502
    assert fake_time.waits == [0.5, 1.0, 2.0]
    assert len(divalto_simulator.control.requests(route="recordsql")) == 4


def test_retries_stop_before_a_wait_that_would_end_after_the_total_time(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """With 2 s of retry time, waits of 0.5 and 1 s are taken, the 2 s one is not."""
    profile = sim_profile(
        divalto_simulator,
        retry={"attempts": 10, "total_seconds": 2.0, "wait_initial": 0.5},
    )
    divalto_simulator.control.add_fault("http_error", route="recordsql")
    with (
        Divalto(
            profile, clock=fake_time.clock, sleep=fake_time.sleep, draw=lambda: 0.0
        ) as erp,
        pytest.raises(errors.ServerUnavailable),
    ):
        read_article(erp)

    assert fake_time.waits == [0.5, 1.0]
    assert len(divalto_simulator.control.requests(route="recordsql")) == 3


def test_the_deadline_counts_the_time_of_the_attempts(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """Reads answered in 15 s each shrink the timeouts, then hit the 40 s deadline."""
    profile = sim_profile(
        divalto_simulator,
        deadline_seconds=40,
        timeouts={"write": 30, "service": 30},
        retry={},
    )
    divalto_simulator.control.add_fault("http_error", route="recordsql", status=503)

    def slow_reads(response: httpx.Response) -> None:
        if response.request.url.path.endswith("RecordSql/Read"):
            fake_time.advance(15)

    http = httpx.Client(event_hooks={"response": [slow_reads]})
    with (
        http,
        Divalto(
            profile,
            http=http,
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            draw=lambda: 0.0,
        ) as erp,
        structlog.testing.capture_logs() as logs,
        pytest.raises(errors.DeadlineExceeded) as raised,
    ):
        read_article(erp)

    attempts = [log for log in logs if log["event"] == "divalto.attempt"]
    assert [log["timeout_s"] for log in attempts] == [15.0, 30.0, 24.5, 8.5]
    assert fake_time.waits == [0.5, 1.0]
    assert raised.value.message == (
        "a retry after 2 s would pass the deadline (0.000 s left): "
        "the server failed with HTTP 503 (an HTML page)"
    )


def test_an_empty_answer_is_classified_and_retried(
    client: Divalto, divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """An empty 200 answer is a ServerUnavailable that a read retries."""
    divalto_simulator.control.add_fault(
        "truncated_body", route="recordsql", truncate_ratio=0.0, nth=1
    )

    assert records_of(read_article(client)) == [ALB0001]
    assert sent.paths() == ["Authent/Auth", "RecordSql/Read", "RecordSql/Read"]


def test_the_trace_id_bound_in_the_context_is_sent_on_every_request(
    client: Divalto, sent: SentRequests
) -> None:
    """Inside ``trace("order-42")``, the login and the read both carry it."""
    with trace("order-42"):
        read_article(client)

    assert sent.headers("X-Trace-Id") == ["order-42", "order-42"]


def test_a_call_without_a_bound_trace_id_gets_a_fresh_one(
    client: Divalto, sent: SentRequests
) -> None:
    """Each call outside a trace gets its own id, shared with its login."""
    read_article(client)
    read_article(client)

    first, same, second = sent.headers("X-Trace-Id")
    assert first is not None
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert same == first
    assert second != first


def test_the_trace_header_name_is_a_profile_setting(
    divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """A profile that names another header sends the trace id under it."""
    profile = sim_profile(divalto_simulator, trace_header="X-Correlation-Id")
    http = httpx.Client(event_hooks={"request": [sent.hook]})
    with http, Divalto(profile, http=http) as erp, trace("t-1"):
        read_article(erp)

    assert sent.headers("X-Correlation-Id") == ["t-1", "t-1"]
    assert sent.headers("X-Trace-Id") == [None, None]


def test_the_token_travels_in_the_body_and_optionally_as_a_bearer(
    divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """With ``token_in_header`` the read carries the token in both places."""
    profile = sim_profile(divalto_simulator, token_in_header=True)
    http = httpx.Client(event_hooks={"request": [sent.hook]})
    with http, Divalto(profile, http=http) as erp:
        read_article(erp)
        token = erp.tokens.token()

    login, read = sent.requests
    assert "Authorization" not in login.headers
    assert read.headers["Authorization"] == f"Bearer {token}"
    assert json.loads(read.content)["access_token"] == token


def test_an_api_key_goes_in_its_header_on_its_flow_only(
    divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """A RecordSql key is sent on reads, never on the login."""
    profile = sim_profile(
        divalto_simulator,
        recordsql_api_key="rs-key-123",
        key_types={"recordsql": "DatabaseQuery"},
    )
    http = httpx.Client(event_hooks={"request": [sent.hook]})
    with http, Divalto(profile, http=http) as erp:
        read_article(erp)

    assert sent.headers("X-Api-Key") == [None, "rs-key-123"]


def _order(reference: str) -> dict[str, Any]:
    inner = {
        "action": {"swinfinity": "integration_piece", "parameters": {"dos": "998"}},
        "data": {
            "ipar": {"PcePiRefCtrFl": "2"},
            "ient": {"PiCod": "2", "Tiers": "C0000002", "PiRef": reference},
            "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "2"}}],
        },
    }
    return {"action": "WEB_SERVICE_INFINITY", "param": json.dumps(inner)}


def _lookup(erp: Divalto, reference: str) -> Any:
    def find() -> dict[str, Any] | None:
        body = {
            "dhoq": "GTRSPIECE.dhoq",
            "recordsql": "Entete",
            "fields": "PREFPINO;PIREF",
            "where": "Equal_PiRef",
            "where_parameters": f"piref={reference}",
            "offset": 0,
            "count": 2,
        }
        found = erp.transport.call(
            Endpoint.RECORDSQL,
            body,
            kind=OperationKind.READ,
            action="GTRSPIECE.dhoq/Entete",
        )
        return found if found["records"] else None

    return find


def _created(result: dict[str, Any]) -> str:
    inner = json.loads(result["result"])
    prefpino: str = inner["result"]["response"]["piece"]["prefpino"]
    return prefpino


@pytest.fixture
def quick_writes(
    divalto_simulator: RunningSimulator, fake_time: FakeTime, sent: SentRequests
) -> Iterator[Divalto]:
    """A client whose writes time out after 0.5 s."""
    profile = sim_profile(divalto_simulator, timeouts={"write": 0.5})
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


def test_a_lost_answer_to_a_create_is_found_by_reference_not_sent_again(
    quick_writes: Divalto, divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """After a timeout once the create was applied, the lookup finds the order."""
    control = divalto_simulator.control
    control.add_fault(
        "timeout_after", action="integration_piece", nth=1, hang_seconds=5
    )

    found = quick_writes.transport.call_write(
        Endpoint.SERVICE,
        _order("SHOP-77"),
        action="integration_piece",
        idempotency_key="order:shop:77",
        lookup=_lookup(quick_writes, "SHOP-77"),
    )

    assert records_of(found) == [{"PREFPINO": "CC00000001", "PIREF": "SHOP-77"}]
    assert len(control.table("ENT", PIREF="SHOP-77")) == 1
    assert len(logged(divalto_simulator, 1, action="integration_piece")) == 1
    assert len(control.requests(action="GTRSPIECE.dhoq/Entete")) == 1
    assert sent.paths() == ["Authent/Auth", "WebService/Execute", "RecordSql/Read"]
    assert sent.headers("Idempotency-Key") == [None, "order:shop:77", None]


def test_a_create_that_never_arrived_is_sent_again_with_the_same_key(
    quick_writes: Divalto, divalto_simulator: RunningSimulator, sent: SentRequests
) -> None:
    """After a timeout before the create was applied, the lookup finds nothing."""
    control = divalto_simulator.control
    control.add_fault(
        "timeout_before", action="integration_piece", nth=1, hang_seconds=5
    )

    result = quick_writes.transport.call_write(
        Endpoint.SERVICE,
        _order("SHOP-78"),
        action="integration_piece",
        idempotency_key="order:shop:78",
        lookup=_lookup(quick_writes, "SHOP-78"),
    )

    assert _created(result) == "CC00000001"
    assert len(control.table("ENT", PIREF="SHOP-78")) == 1
    assert sent.paths() == [
        "Authent/Auth",
        "WebService/Execute",
        "RecordSql/Read",
        "WebService/Execute",
    ]
    assert sent.headers("Idempotency-Key") == [
        None,
        "order:shop:78",
        None,
        "order:shop:78",
    ]


def test_a_plain_write_with_an_unknown_outcome_is_not_sent_again(
    quick_writes: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """Without an idempotency guarantee a write that timed out is raised as such."""
    control = divalto_simulator.control
    control.add_fault(
        "timeout_after", action="integration_piece", nth=1, hang_seconds=5
    )

    with pytest.raises(errors.RequestTimeout) as raised:
        quick_writes.transport.call(
            Endpoint.SERVICE,
            _order("SHOP-79"),
            kind=OperationKind.WRITE,
            action="integration_piece",
        )

    assert raised.value.outcome_unknown is True
    assert len(logged(divalto_simulator, 1, action="integration_piece")) == 1
    assert len(control.table("ENT", PIREF="SHOP-79")) == 1


def test_a_plain_write_refused_before_it_was_applied_is_sent_again(
    quick_writes: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """HTTP 503 proves the write was not applied: it is retried and applied once."""
    control = divalto_simulator.control
    control.add_fault("http_error", action="integration_piece", status=503, nth=1)

    result = quick_writes.transport.call(
        Endpoint.SERVICE,
        _order("SHOP-80"),
        kind=OperationKind.WRITE,
        action="integration_piece",
    )

    assert _created(result) == "CC00000001"
    assert fake_time.waits == [0.5]
    assert len(control.table("ENT", PIREF="SHOP-80")) == 1


def test_the_body_given_to_a_call_is_not_changed(client: Divalto) -> None:
    """The transport adds the token to a copy, never to the caller's body."""
    body = dict(ARTICLES)

    client.transport.call(Endpoint.RECORDSQL, body, **READ)

    assert body == ARTICLES


def test_a_refused_connection_is_retried_then_raised(fake_time: FakeTime) -> None:
    """No server on the port: every attempt fails to connect, nothing was sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = load_profile(
        "closed",
        base_url=f"http://127.0.0.1:{port}/api/v1/",
        dossier="998",
        user="DEMO",
        password="demo",
    )
    with (
        Transport(profile, clock=fake_time.clock, sleep=fake_time.sleep) as transport,
        pytest.raises(errors.ConnectionFailed) as raised,
    ):
        transport.call(Endpoint.RECORDSQL, dict(ARTICLES), **READ)

    assert raised.value.outcome_unknown is False
    assert raised.value.endpoint == "login"
    assert len(fake_time.waits) == 3


async def test_an_async_read_is_retried_after_a_server_error(
    async_client: AsyncDivalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
) -> None:
    """The async transport retries an HTTP 503 after the same backoff."""
    divalto_simulator.control.add_fault("http_error", route="recordsql", nth=1)

    envelope = await aread_article(async_client)

    assert records_of(envelope) == [ALB0001]
    assert fake_time.waits == [0.5]


async def test_an_async_retry_after_beyond_the_deadline_is_raised_at_once(
    async_client: AsyncDivalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
) -> None:
    """The async transport reports a 500 s Retry-After instead of waiting it."""
    divalto_simulator.control.add_fault(
        "rate_limit", route="recordsql", retry_after_seconds=500
    )

    with pytest.raises(errors.DeadlineExceeded):
        await aread_article(async_client)

    assert fake_time.waits == []


async def test_an_async_lost_create_is_found_by_reference(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """The async write looks the order up after a lost answer, and creates once."""
    control = divalto_simulator.control
    control.add_fault(
        "timeout_after", action="integration_piece", nth=1, hang_seconds=5
    )
    profile = sim_profile(divalto_simulator, timeouts={"write": 0.5})

    async with AsyncDivalto(
        profile, clock=fake_time.clock, sleep=fake_time.asleep
    ) as erp:

        async def lookup() -> dict[str, Any] | None:
            body = {**ARTICLES, "dhoq": "GTRSPIECE.dhoq", "recordsql": "Entete"}
            body.update(
                fields="PREFPINO", where="Equal_PiRef", where_parameters="piref=A-1"
            )
            found = await erp.transport.call(Endpoint.RECORDSQL, body, **READ)
            return found if found["records"] else None

        found = await erp.transport.call_write(
            Endpoint.SERVICE,
            _order("A-1"),
            action="integration_piece",
            idempotency_key="order:a:1",
            lookup=lookup,
        )

    assert records_of(found) == [{"PREFPINO": "CC00000001"}]
    assert len(control.table("ENT", PIREF="A-1")) == 1
    assert len(logged(divalto_simulator, 1, action="integration_piece")) == 1

"""Fault injection over the wire: every kind, its targeting, its draws, its rules."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from lxml import etree

from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.simulator.app import xml_result_text
from divalto.testing import RunningSimulator, SimulatorControl
from tests.simulator.conftest import Wire

WEBHOOK = "WebHook/COMMANDE_WEB"
WEBHOOK_OK = b'{"error":0,"txterr":"","result":"","infos":""}'
UNKNOWN_ACTION = 30
DROPPED = (httpx.ReadError, httpx.RemoteProtocolError)


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which the server logged an error: faults are not crashes."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR
    ]
    assert errors == []


def unknown_action(wire: Wire) -> int:
    """A service call that answers error 30 unless a fault steps in; its error."""
    body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": wire.token}
    return int(wire.post("WebService/Execute", body)["error"])


def wait_for_log(control: SimulatorControl, **filters: Any) -> list[dict[str, Any]]:
    """The request log once no matching call is still being served.

    A call that hangs is complete in the log when the hang ends, a moment after
    the client has given up.
    """
    deadline = time.monotonic() + 5
    while True:
        entries = control.requests(**filters)
        pending = [entry for entry in entries if entry["outcome"] == "pending"]
        if not pending or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def short_timeout(simulator: RunningSimulator, seconds: float) -> httpx.Client:
    timeout = httpx.Timeout(5.0, read=seconds)
    return httpx.Client(base_url=simulator.base_url, timeout=timeout)


def test_fixed_latency_delays_the_answer(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A latency rule of 300 ms delays the call by at least that, then lets it pass."""
    wire.token  # noqa: B018 - log in before the rule, so the login is not delayed
    divalto_simulator.control.add_fault("latency", latency_ms=300, route="service")

    started = time.perf_counter()
    error = unknown_action(wire)
    elapsed = time.perf_counter() - started

    assert error == UNKNOWN_ACTION
    assert elapsed >= 0.3
    [entry] = divalto_simulator.control.requests(route="service")
    assert (entry["faults"], entry["outcome"], entry["error"]) == (
        ["latency"],
        "error",
        30,
    )


def test_drawn_latency_stays_within_its_range(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A latency between 100 and 250 ms is drawn within those bounds on each call."""
    wire.token  # noqa: B018 - log in before the rule
    divalto_simulator.control.add_fault(
        "latency", latency_ms=100, latency_max_ms=250, route="service"
    )

    elapsed = []
    for _ in range(4):
        started = time.perf_counter()
        unknown_action(wire)
        elapsed.append(time.perf_counter() - started)

    durations = [e["duration_ms"] for e in divalto_simulator.control.requests()]
    assert all(0.1 <= seconds < 0.25 + 0.2 for seconds in elapsed)
    assert all(100 <= duration < 250 + 50 for duration in durations[1:])
    assert len(set(durations[1:])) > 1


def test_delayed_call_is_logged_pending_then_applied_after_the_client_left(
    divalto_simulator: RunningSimulator,
) -> None:
    """A call still in its latency shows ``pending``; it is applied once it ends."""
    control = divalto_simulator.control
    control.add_fault("latency", latency_ms=400, route="webhook")

    with (
        short_timeout(divalto_simulator, 0.1) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(WEBHOOK, json={"order": "SHOP-9"})
    [during] = control.requests()
    webhooks_during = control.webhooks()

    [after] = wait_for_log(control)
    assert (during["outcome"], during["http_status"]) == ("pending", None)
    assert webhooks_during == []
    assert (after["outcome"], after["http_status"]) == ("ok", 200)
    assert after["duration_ms"] >= 400
    assert [call["body"] for call in control.webhooks()] == [{"order": "SHOP-9"}]


def test_timeout_before_hangs_without_applying_the_call(
    divalto_simulator: RunningSimulator,
) -> None:
    """The client times out, and the webhook it carried was never recorded."""
    control = divalto_simulator.control
    control.add_fault("timeout_before", route="webhook")

    with (
        short_timeout(divalto_simulator, 0.3) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(WEBHOOK, json={"order": "SHOP-1"})

    [entry] = wait_for_log(control, route="webhook")
    assert (entry["outcome"], entry["http_status"], entry["faults"]) == (
        "fault",
        None,
        ["timeout_before"],
    )
    assert control.webhooks() == []


def test_timeout_before_with_a_short_hang_drops_the_connection(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """With ``hang_seconds=0.2`` the connection is dropped and nothing is applied."""
    divalto_simulator.control.add_fault(
        "timeout_before", route="webhook", hang_seconds=0.2
    )

    started = time.perf_counter()
    with pytest.raises(DROPPED):
        wire.http.post(WEBHOOK, json={"order": "SHOP-1"})

    assert time.perf_counter() - started >= 0.2
    assert divalto_simulator.control.webhooks() == []


def test_timeout_before_a_login_issues_no_token(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A login cut by ``timeout_before`` is logged as a fault with no answer."""
    divalto_simulator.control.add_fault("timeout_before", route="auth", hang_seconds=0)

    with pytest.raises(DROPPED):
        wire.http.post("Authent/Auth", json={"user": "DEMO", "password": "demo"})

    [entry] = wait_for_log(divalto_simulator.control)
    assert (entry["route"], entry["outcome"], entry["error"]) == ("auth", "fault", 0)


def test_timeout_after_applies_the_call_then_drops_the_connection(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The webhook is recorded, yet the client gets no answer."""
    divalto_simulator.control.add_fault(
        "timeout_after", route="webhook", hang_seconds=0.2
    )

    with pytest.raises(DROPPED):
        wire.http.post(WEBHOOK, json={"order": "SHOP-1"})

    [call] = divalto_simulator.control.webhooks()
    assert call["body"] == {"order": "SHOP-1"}
    [entry] = wait_for_log(divalto_simulator.control)
    assert (entry["outcome"], entry["http_status"], entry["action"]) == (
        "fault",
        None,
        "COMMANDE_WEB",
    )


def test_timeout_after_times_the_client_out_after_the_effect(
    divalto_simulator: RunningSimulator,
) -> None:
    """A client with a short read timeout gives up; the webhook was applied anyway."""
    divalto_simulator.control.add_fault("timeout_after", route="webhook")

    with (
        short_timeout(divalto_simulator, 0.3) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(WEBHOOK, json={"order": "SHOP-2"})

    assert [c["body"] for c in divalto_simulator.control.webhooks()] == [
        {"order": "SHOP-2"}
    ]


def test_stopping_the_server_cuts_a_hanging_call_at_once() -> None:
    """A call hanging for 30 s does not hold the server's stop, nor log an error."""
    server = SimulatorServer(SimulatorSettings(hang_seconds=30)).start()
    control = SimulatorControl(server.url)
    control.add_fault("timeout_before", route="webhook")
    failures: list[type[Exception]] = []

    def call() -> None:
        try:
            httpx.post(server.base_url + WEBHOOK, json={}, timeout=10)
        except httpx.HTTPError as exc:
            failures.append(type(exc))

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: len(control.requests()) == 1)
    control.close()
    started = time.monotonic()
    server.stop()
    stopped_in = time.monotonic() - started
    caller.join(timeout=5)

    assert stopped_in < 0.9
    assert len(failures) == 1
    assert issubclass(failures[0], DROPPED)


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (500, "500 Internal Server Error"),
        (502, "502 Bad Gateway"),
        (503, "503 Service Unavailable"),
    ],
)
def test_http_error_answers_an_html_page(
    wire: Wire, divalto_simulator: RunningSimulator, status: int, title: str
) -> None:
    """An ``http_error`` rule answers its status with an HTML page, as a proxy does."""
    divalto_simulator.control.add_fault("http_error", status=status, route="webhook")

    response = wire.http.post(WEBHOOK, json={})

    assert response.status_code == status
    assert response.headers["content-type"] == "text/html"
    assert response.text == (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
        "<p>The upstream server failed.</p></body></html>"
    )
    assert divalto_simulator.control.webhooks() == []
    [entry] = divalto_simulator.control.requests()
    assert (entry["http_status"], entry["outcome"]) == (status, "fault")


def test_rate_limit_gives_retry_after_in_seconds(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A ``rate_limit`` rule answers 429 with ``Retry-After`` in seconds."""
    divalto_simulator.control.add_fault(
        "rate_limit", retry_after_seconds=7, route="auth"
    )

    response = wire.http.post("Authent/Auth", json={"user": "DEMO", "password": "x"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.content == b""


def test_rate_limit_gives_retry_after_as_an_http_date(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """As an HTTP date, ``Retry-After`` lies about N seconds in the future."""
    divalto_simulator.control.add_fault(
        "rate_limit",
        retry_after_seconds=120,
        retry_after_http_date=True,
        route="webhook",
    )

    before = datetime.now(UTC)
    response = wire.http.post(WEBHOOK, json={})

    assert response.status_code == 429
    header = response.headers["retry-after"]
    assert header.endswith(" GMT")
    retry_at = parsedate_to_datetime(header)
    assert before + timedelta(seconds=119) <= retry_at
    assert retry_at <= datetime.now(UTC) + timedelta(seconds=121)


def test_connection_reset_gives_no_answer(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A ``connection_reset`` rule resets the connection; the call is not applied."""
    divalto_simulator.control.add_fault("connection_reset", route="webhook")

    with pytest.raises(DROPPED):
        wire.http.post(WEBHOOK, json={"order": "SHOP-1"})

    assert divalto_simulator.control.webhooks() == []
    [entry] = wait_for_log(divalto_simulator.control)
    assert (entry["outcome"], entry["http_status"], entry["faults"]) == (
        "fault",
        None,
        ["connection_reset"],
    )


def test_error_fault_answers_http_200_with_the_rule_code_and_text(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An ``error`` rule answers the envelope with its code and txterr."""
    divalto_simulator.control.add_fault(
        "error", error_code=77, txterr="Enregistrement verrouillé", route="webhook"
    )

    response = wire.http.post(WEBHOOK, json={"order": "SHOP-1"})

    assert response.status_code == 200
    assert response.json() == {
        "error": 77,
        "txterr": "Enregistrement verrouillé",
        "infos": "",
    }
    assert divalto_simulator.control.webhooks() == []


def test_error_fault_defaults_to_code_99(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Without a code, an ``error`` rule answers error 99, "Injected failure"."""
    divalto_simulator.control.add_fault("error", route="webhook")

    assert wire.post(WEBHOOK, {}) == {
        "error": 99,
        "txterr": "Injected failure",
        "infos": "",
    }


@pytest.mark.parametrize("ratio", [0.5, 0.3, 0.0])
def test_truncated_body_sends_part_of_an_applied_answer(
    wire: Wire, divalto_simulator: RunningSimulator, ratio: float
) -> None:
    """The call is applied; its 200 answer is cut to the rule's share, not JSON."""
    divalto_simulator.control.add_fault(
        "truncated_body", truncate_ratio=ratio, route="webhook"
    )

    response = wire.http.post(WEBHOOK, json={"order": "SHOP-1"})

    assert response.status_code == 200
    assert response.content == WEBHOOK_OK[: int(len(WEBHOOK_OK) * ratio)]
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert len(divalto_simulator.control.webhooks()) == 1


def test_route_rule_spares_the_other_routes(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A rule for ``auth`` hits logins and nothing else."""
    divalto_simulator.control.add_fault("error", error_code=77, route="auth")

    login = wire.http.post("Authent/Auth", json={"user": "DEMO", "password": "demo"})
    webhook = wire.post(WEBHOOK, {})

    assert login.json()["error"] == 77
    assert webhook["error"] == 0


def test_action_rule_hits_its_business_action_and_spares_recordsql(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``action="integration_piece"`` hits that JSON action only, never a RecordSql."""
    control = divalto_simulator.control
    token = wire.token
    control.add_fault("error", error_code=77, action="integration_piece")

    read = {"dhoq": "GTRSPIECE.dhoq", "recordsql": "Piece", "access_token": token}
    wire.post("RecordSql/Read", read)
    other = {"action": {"swinfinity": "creation_client", "parameters": {}}}
    hit = {"action": {"swinfinity": "integration_piece", "parameters": {}}}
    quoted = "{'action': {'swinfinity': 'INTEGRATION_PIECE'}, 'data': {}}"
    answers = [
        wire.service("WEB_SERVICE_INFINITY", json.dumps(other))["error"],
        wire.service("WEB_SERVICE_INFINITY", json.dumps(hit))["error"],
        wire.service("WEB_SERVICE_INFINITY", quoted)["error"],
    ]

    assert answers[0] != 77
    assert answers[1:] == [77, 77]
    [rule] = control.faults()
    assert (rule["matched"], rule["fired"]) == (2, 2)
    assert control.requests(route="recordsql")[0]["faults"] == []
    assert [e["action"] for e in control.requests(faults="error")] == [
        "integration_piece",
        "INTEGRATION_PIECE",
    ]


def test_action_rule_names_an_xml_demand_a_dictionary_or_a_webhook_code(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``action`` matches, case-blind, a demand, a dictionary or a webhook code."""
    control = divalto_simulator.control
    token = wire.token
    for action in ("interroger_stock", "gtrsart.dhoq", "commande_web"):
        control.add_fault("error", error_code=77, action=action)

    demand = (
        '<dem><action dos="998" nom="INTERROGER_STOCK">'
        "<ref>ALB0001</ref></action></dem>"
    )
    read = {"dhoq": "GTRSART.dhoq", "recordsql": "Article", "access_token": token}
    errors = [
        wire.service("SYNCHRO_INFINITY_AGILEO", demand)["error"],
        wire.post("RecordSql/Read", read)["error"],
        wire.post(WEBHOOK, {})["error"],
    ]

    assert errors == [77, 77, 77]
    assert [(r["matched"], r["fired"]) for r in control.faults()] == [(1, 1)] * 3


def test_nth_rule_fires_on_that_call_only(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``nth=2`` fires on the second matching call and on no other."""
    wire.token  # noqa: B018 - log in before counting
    divalto_simulator.control.add_fault("error", error_code=77, route="service", nth=2)

    assert [unknown_action(wire) for _ in range(4)] == [30, 77, 30, 30]


def test_times_bounds_how_often_a_rule_fires(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``times=2`` fires on the first two matching calls, then never again."""
    wire.token  # noqa: B018 - log in before counting
    divalto_simulator.control.add_fault(
        "error", error_code=77, route="service", times=2
    )

    assert [unknown_action(wire) for _ in range(4)] == [77, 77, 30, 30]
    [rule] = divalto_simulator.control.faults()
    assert (rule["matched"], rule["fired"]) == (4, 2)


def fired_pattern(seed: int) -> list[int]:
    """Which of 16 service calls a 50 % rule hits, on a fresh simulator."""
    with (
        SimulatorServer(SimulatorSettings(seed=seed)) as server,
        httpx.Client(base_url=server.base_url) as client,
    ):
        login = {"user": "DEMO", "password": "demo"}
        token = client.post("Authent/Auth", json=login).json()["access_token"]
        control = SimulatorControl(server.url)
        control.add_fault("error", route="service", probability=0.5)
        control.close()
        body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": token}
        return [
            int(client.post("WebService/Execute", json=body).json()["error"] == 99)
            for _ in range(16)
        ]


def test_probability_draws_repeat_under_the_same_seed() -> None:
    """Fresh simulators seeded alike fire on the same calls; another seed differs."""
    first, again, other = fired_pattern(42), fired_pattern(42), fired_pattern(43)

    assert first == again
    assert 0 < sum(first) < 16
    assert other != first


def test_reset_restarts_the_draws_from_the_seed(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """After a reset, the same rule and calls fire on the same calls again."""
    control = divalto_simulator.control

    def run() -> list[int]:
        control.add_fault("error", error_code=77, route="webhook", probability=0.5)
        return [wire.post(WEBHOOK, {})["error"] for _ in range(12)]

    first = run()
    control.reset()
    assert run() == first
    assert set(first) == {0, 77}


def test_rule_list_shows_matched_and_fired_counts(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Each listed rule carries its id, its settings and its counters."""
    control = divalto_simulator.control
    added = control.add_fault("error", error_code=77, route="webhook", nth=2)
    for _ in range(3):
        wire.http.post(WEBHOOK, json={})

    [listed] = control.faults()

    assert (added["matched"], added["fired"]) == (0, 0)
    assert listed["id"] == added["id"]
    assert (listed["matched"], listed["fired"]) == (3, 1)
    rule = listed["rule"]
    assert (rule["kind"], rule["route"], rule["nth"], rule["error_code"]) == (
        "error",
        "webhook",
        2,
        77,
    )


def test_delete_one_rule_keeps_the_others(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Deleting a rule by id leaves the other rules active."""
    control = divalto_simulator.control
    first = control.add_fault("error", error_code=71, route="webhook")
    second = control.add_fault("error", error_code=72, route="webhook")

    response = httpx.delete(f"{divalto_simulator.url}/_simulator/faults/{first['id']}")

    assert response.json() == {"removed": first["id"]}
    assert [rule["id"] for rule in control.faults()] == [second["id"]]
    assert wire.post(WEBHOOK, {})["error"] == 72


def test_delete_of_an_unknown_rule_is_404(divalto_simulator: RunningSimulator) -> None:
    """Deleting a rule id that does not exist answers 404 naming it."""
    response = httpx.delete(f"{divalto_simulator.url}/_simulator/faults/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "no fault rule 999999"}


def test_clear_removes_every_rule(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """After clearing, no rule is listed and calls pass untouched."""
    control = divalto_simulator.control
    control.add_fault("error", route="webhook")
    control.add_fault("latency", latency_ms=10)

    control.clear_faults()

    assert control.faults() == []
    assert wire.post(WEBHOOK, {})["error"] == 0


@pytest.mark.parametrize(
    ("rule", "detail"),
    [
        (
            {"kind": "error", "probability": 2},
            "probability: Input should be less than or equal to 1",
        ),
        (
            {"kind": "error", "nth": 0},
            "nth: Input should be greater than or equal to 1",
        ),
        ({"kind": "error", "color": "red"}, "color: Extra inputs are not permitted"),
        (
            {"kind": "error", "route": "soap"},
            "route: Input should be 'auth', 'recordsql', 'service' or 'webhook'",
        ),
        (
            {"kind": "http_error", "status": 200},
            "status: Input should be greater than or equal to 400",
        ),
        (
            {"kind": "error", "error_code": 0},
            "error_code: Input should be greater than or equal to 1",
        ),
        (
            {"kind": "latency", "latency_ms": 300, "latency_max_ms": 100},
            "rule: Value error, latency_max_ms must not be below latency_ms",
        ),
        (
            {"kind": "error", "nth": 2, "probability": 0.5},
            "rule: Value error, nth and probability exclude each other",
        ),
    ],
)
def test_invalid_rule_is_refused_with_400_naming_the_field(
    divalto_simulator: RunningSimulator, rule: dict[str, Any], detail: str
) -> None:
    """A rule that does not validate is 400 with a detail naming its field."""
    response = httpx.post(f"{divalto_simulator.url}/_simulator/faults", json=rule)

    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert divalto_simulator.control.faults() == []


def test_unknown_kind_is_refused_naming_the_kinds(
    divalto_simulator: RunningSimulator,
) -> None:
    """A rule of an unknown kind is 400, and the detail lists the known kinds."""
    response = httpx.post(
        f"{divalto_simulator.url}/_simulator/faults", json={"kind": "meteor"}
    )

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("kind: Input should be 'latency', 'token_expiry'")
    assert "'lying_encoding'" in detail


def test_malformed_rule_body_is_400(divalto_simulator: RunningSimulator) -> None:
    """A body that is not JSON is refused with 400, not a server error."""
    response = httpx.post(
        f"{divalto_simulator.url}/_simulator/faults", content=b"{kind: error"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON body: ")


XML_TEXT = "é€œ"


def xml_answer() -> Any:
    root = etree.Element("rep", version="1")
    etree.SubElement(root, "lib").text = XML_TEXT
    return root


@pytest.mark.parametrize(
    ("lie", "expected"),
    [
        (None, "<lib>é&#8364;&#339;</lib>"),
        ("utf-8", "<lib>Ã©â\x82¬Å\x93</lib>"),
        ("windows-1252", "<lib>é\x80\x9c</lib>"),
    ],
)
def test_xml_result_text_is_honest_latin1_or_lies_as_told(
    lie: str | None, expected: str
) -> None:
    """Honest text is ISO-8859-1 with references; a lie re-encodes under that label."""
    text = xml_result_text(xml_answer(), lie)

    assert text == (
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
        f'<rep version="1">{expected}</rep>'
    )
    assert text.encode("latin-1")


def test_honest_xml_result_round_trips_through_its_declared_encoding() -> None:
    """Parsing the honest text's bytes as declared gives the original characters."""
    text = xml_result_text(xml_answer(), None)

    parsed = etree.fromstring(text.encode("latin-1"))

    assert parsed.findtext("lib") == XML_TEXT


def test_lying_encoding_leaves_json_answers_alone(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The lie only touches XML results: a webhook answer is unchanged."""
    divalto_simulator.control.add_fault("lying_encoding", route="webhook")

    response = wire.http.post(WEBHOOK, json={})

    assert response.content == WEBHOOK_OK


def test_faults_are_counted_in_the_request_log_by_kind(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Every rule that fired on a call is named in its log entry."""
    control = divalto_simulator.control
    control.add_fault("latency", latency_ms=1, route="webhook")
    control.add_fault("error", error_code=77, route="webhook")

    wire.post(WEBHOOK, {})

    [entry] = control.requests()
    assert (entry["faults"], entry["error"], entry["outcome"]) == (
        ["latency", "error"],
        77,
        "fault",
    )

"""Hostile and odd input over the wire: exact refusals, never a 500, a consistent state.

Each test here once found a crash, a wrong answer or an unproven promise: lone
surrogates, integers longer than Python parses, quantities with absurd exponents
or too many decimals, totals beyond 28 digits, a clock moved off the calendar,
and concurrent writers on one document or one invoice.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from divalto.cli.settings_file import load_simulator_settings
from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.simulator.faults import FaultRule
from divalto.testing import RunningSimulator, SimulatorControl
from tests.simulator.conftest import Wire
from tests.simulator.test_pricing import tarif
from tests.simulator.test_xml_demands import ask, stock_lines

ORDER, DELIVERY, INVOICE, CREDIT_NOTE = "2", "3", "4", "5"
LOGIN = {"user": "DEMO", "password": "demo"}
LONE_SURROGATE = "Malformed JSON body: lone surrogate \\ud800 is not a character"


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


def envelope(error: int, txterr: str) -> dict[str, Any]:
    return {"error": error, "txterr": txterr, "infos": ""}


def raw_post(wire: Wire, route: str, text: str) -> dict[str, Any]:
    """POST a JSON text as it is written, escapes and all; the answer must be 200."""
    response = wire.http.post(
        route, content=text.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def execute(wire: Wire, param: str) -> dict[str, Any]:
    body = {
        "action": "WEB_SERVICE_INFINITY",
        "param": param,
        "access_token": wire.token,
    }
    return wire.post("WebService/Execute", body)


def inner_text(action: str, data_json: str) -> str:
    """The ``param`` of a business action whose ``data`` is written by hand."""
    return (
        f'{{"action": {{"swinfinity": "{action}", "parameters": {{"dos": "998"}}}},'
        f' "data": {data_json}}}'
    )


def result_common(answer: dict[str, Any]) -> dict[str, str]:
    assert answer["error"] == 0, answer
    found: dict[str, str] = json.loads(answer["result"])["result"]["common"]
    return found


def piece(result: dict[str, Any]) -> dict[str, Any]:
    common = result["result"]["common"]
    assert common == {"resultcode": "0", "errormessage": ""}, common
    found: dict[str, Any] = result["result"]["response"]["piece"]
    return found


def order(wire: Wire, ref: str, qte: str, **ient: str) -> dict[str, Any]:
    data = {
        "ient": {"PiCod": ORDER, "Tiers": "C0000002", **ient},
        "imouvtb": [{"imouv": {"Ref": ref, "Qte": qte}}],
    }
    return piece(wire.json_action("integration_piece", data))


# Lone surrogates: JSON may escape them, UTF-8 cannot carry them.


@pytest.mark.parametrize(
    ("route", "text"),
    [
        pytest.param(
            "Authent/Auth", '{"user": "\\ud800", "password": "x"}', id="login-user"
        ),
        pytest.param(
            "RecordSql/Read",
            '{"dhoq": "\\ud800", "recordsql": "Client"}',
            id="recordsql-dictionary",
        ),
        pytest.param(
            "RecordSql/Read",
            '{"dhoq": "GTRSTIERS.dhoq", "recordsql": "Client", "where": '
            '"Equal_Tiers", "where_parameters": "tiers=\\ud800"}',
            id="recordsql-case-value",
        ),
        pytest.param(
            "WebService/Execute",
            '{"action": "\\udc00\\ud800", "param": ""}',
            id="service-action",
        ),
    ],
)
def test_a_lone_surrogate_in_the_body_is_error_1_and_the_simulator_keeps_serving(
    wire: Wire, divalto_simulator: RunningSimulator, route: str, text: str
) -> None:
    """A ``\\ud800`` escape is refused as malformed JSON, neither stored nor echoed."""
    answer = raw_post(wire, route, text)

    expected = LONE_SURROGATE
    if "udc00" in text:
        expected = LONE_SURROGATE.replace("ud800", "udc00")
    assert answer == envelope(1, expected)
    [entry] = divalto_simulator.control.requests()
    assert (entry["outcome"], entry["error"]) == ("error", 1)
    assert wire.post("Authent/Auth", LOGIN)["error"] == 0


def test_an_escaped_surrogate_pair_is_one_character_and_passes(wire: Wire) -> None:
    """``\\ud83d\\ude00`` is a valid pair (an emoji), read as the character it names."""
    answer = raw_post(
        wire, "Authent/Auth", '{"user": "\\ud83d\\ude00", "password": "x"}'
    )

    assert answer["error"] == 10
    assert answer["txterr"] == "Authentication refused for user '\U0001f600'"


def test_a_lone_surrogate_inside_param_is_error_31_naming_it(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The inner JSON of a business action is refused the same way, changing nothing."""
    param = inner_text(
        "integration_piece",
        '{"ient": {"PiCod": "2", "Tiers": "C0000002", "PiRef": "\\ud800"},'
        ' "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "1"}}]}',
    )

    answer = execute(wire, param)

    assert answer == envelope(
        31, "Malformed JSON in 'param': lone surrogate \\ud800 is not a character"
    )
    assert divalto_simulator.control.table("ENT") == []


def test_a_lone_surrogate_in_a_business_action_name_is_error_31(wire: Wire) -> None:
    """Even where the action is named, a lone surrogate is refused before any echo."""
    param = '{"action": {"swinfinity": "\\udbff", "parameters": {"dos": "998"}}}'

    assert execute(wire, param) == envelope(
        31, "Malformed JSON in 'param': lone surrogate \\udbff is not a character"
    )


# Numbers longer than Python parses.


def test_an_integer_of_5000_digits_inside_param_is_error_31(wire: Wire) -> None:
    """Python refuses to parse such an integer; the simulator names it, no crash."""
    param = inner_text(
        "etat_piece", '{"ient": {"PiCod": 2, "PiNo": ' + "9" * 5000 + "}}"
    )

    assert execute(wire, param) == envelope(
        31, "Malformed JSON in 'param': integer of 5000 digits is too long"
    )


def test_a_version_of_5000_digits_is_refused_naming_the_field(wire: Wire) -> None:
    """A whole-number field written as 5000 digits of text is resultcode 1, no crash."""
    data = {"icli": {"Tiers": "C0000001", "Version": "9" * 5000, "Nom": "X"}}

    result = wire.json_action("modification_client", data)

    assert result["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "icli.Version: whole number expected, got 5000 digits",
    }


# Transfer quantities follow the rules of document quantities.


def test_a_transfer_quantity_with_a_huge_exponent_is_refused_naming_the_line(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``Qte`` 1e999999999 is above the quantity bound: resultcode 1, nothing moves."""
    order(wire, "CAF0001", "10")
    param = inner_text(
        "transfert_piece",
        '{"ient": {"PiCod": "2", "PiNo": "CC00000001", "PiCodDest": "3"},'
        ' "imouvtb": [{"imouv": {"EnrNo": 1, "Qte": 1e999999999}}]}',
    )

    common = result_common(execute(wire, param))

    assert common == {
        "resultcode": "1",
        "errormessage": "imouvtb[1].imouv.Qte: must be below 1000000000000",
    }
    assert divalto_simulator.control.table("ENT", PICOD=DELIVERY) == []


def test_a_transfer_quantity_with_more_decimals_than_allowed_is_refused(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A delivery of 0.00001 unit (5 decimals, 3 allowed) is refused, stock intact."""
    order(wire, "CAF0001", "10")
    data = {
        "ient": {"PiCod": ORDER, "PiNo": "CC00000001", "PiCodDest": DELIVERY},
        "imouvtb": [{"imouv": {"EnrNo": 1, "Qte": "0.00001"}}],
    }

    result = wire.json_action("transfert_piece", data)

    assert result["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "imouvtb[1].imouv.Qte: at most 3 decimals, got 0.00001",
    }
    control = divalto_simulator.control
    assert control.table("ENT", PICOD=DELIVERY) == []
    assert [row["QTETRF"] for row in control.table("MOUV")] == ["0"]
    assert control.table("STOCK", REF="CAF0001", DEPO="1")[0]["QTESTK"] == "40"


# Amounts beyond the 28 digits of Python's default decimal context.


def test_an_order_whose_total_needs_more_than_28_digits_is_computed_exactly(
    wire: Wire,
) -> None:
    """120 lines at the largest quantity and price: exact totals, not a crash."""
    big_line = {"Ref": "PORT", "Qte": "999999999999.999", "PubHt": "999999999999.99"}
    data = {
        "ient": {"PiCod": ORDER, "Tiers": "C0000002"},
        "imouvtb": [{"imouv": big_line}] * 120,
    }

    created = piece(wire.json_action("integration_piece", data))

    amount = "999999999999989000000000.00"
    assert created["lines"][0]["mtht"] == amount
    assert created["htmt"] == "119999999999998680000000000.00"
    assert created["tvamt"] == "23999999999999736000000000.00"
    assert created["ttcmt"] == "143999999999998416000000000.00"


# The control clock.


def test_moving_the_clock_off_the_calendar_is_refused_and_logins_still_work(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A clock moved off the calendar would break every route: control refuses it."""
    response = httpx.post(
        f"{divalto_simulator.url}/_simulator/clock/advance", json={"seconds": 1e300}
    )
    backwards = httpx.post(
        f"{divalto_simulator.url}/_simulator/clock/advance", json={"seconds": -1e11}
    )

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "'seconds' moves the clock out of the calendar"},
    )
    assert backwards.status_code == 400
    assert wire.post("Authent/Auth", LOGIN)["error"] == 0


# Malformed inner JSON messages.


def test_a_raw_control_character_in_param_is_named_once(wire: Wire) -> None:
    """JSON's "Invalid control character at" reads without a doubled "at"."""
    param = inner_text("etat_piece", '{"ient": {"PiRef": "a\tb"}}')

    assert execute(wire, param) == envelope(
        31, "Malformed JSON in 'param': Invalid control character at line 1 column 101"
    )


# Concurrent writers.


def run_together(count: int, call: Any) -> list[Any]:
    """Run ``call`` from ``count`` threads released at once; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def service_call(simulator: RunningSimulator, token: str, param: str) -> str:
    """One business action on its own connection; its resultcode."""
    body = {"action": "WEB_SERVICE_INFINITY", "param": param, "access_token": token}
    with httpx.Client(base_url=simulator.base_url, timeout=30) as client:
        answer = client.post("WebService/Execute", json=body).json()
    return result_common(answer)["resultcode"]


def test_twenty_concurrent_partial_deliveries_never_over_deliver(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """30 ordered, 20 threads each deliver 4: exactly 7 pass, 28 leave the stock."""
    order(wire, "CAF0001", "30")
    param = json.dumps(
        {
            "action": {"swinfinity": "transfert_piece", "parameters": {"dos": "998"}},
            "data": {
                "ient": {"PiCod": ORDER, "PiNo": "CC00000001", "PiCodDest": DELIVERY},
                "imouvtb": [{"imouv": {"EnrNo": 1, "Qte": "4"}}],
            },
        }
    )
    token = wire.token

    codes = run_together(20, lambda: service_call(divalto_simulator, token, param))

    assert sorted(codes) == ["0"] * 7 + ["3"] * 13
    control = divalto_simulator.control
    [source] = control.table("ENT", PREFPINO="CC00000001")
    assert (source["CE4"], source["VERSION"]) == ("1", 8)
    assert [row["QTETRF"] for row in control.table("MOUV", ENT_ID=1)] == ["28"]
    deliveries = control.table("ENT", PICOD=DELIVERY)
    assert [row["PREFPINO"] for row in deliveries] == [
        f"BL{n:08d}" for n in range(1, 8)
    ]
    assert control.table("STOCK", REF="CAF0001", DEPO="1")[0]["QTESTK"] == "12"
    assert len(control.requests(action="transfert_piece", resultcode="0")) == 7


def test_concurrent_credit_notes_never_exceed_the_invoice_total(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An invoice of 2 × 34.90 + VAT: of 10 racing one-unit credit notes, 2 pass."""
    invoice = piece(
        wire.json_action(
            "integration_piece",
            {
                "ient": {"PiCod": INVOICE, "Tiers": "C0000002"},
                "imouvtb": [{"imouv": {"Ref": "CAF0001", "Qte": "2"}}],
            },
        )
    )
    param = json.dumps(
        {
            "action": {"swinfinity": "integration_piece", "parameters": {"dos": "998"}},
            "data": {
                "ient": {"PiCod": CREDIT_NOTE, "PiNoOrig": invoice["prefpino"]},
                "imouvtb": [{"imouv": {"Ref": "CAF0001", "Qte": "1"}}],
            },
        }
    )
    token = wire.token

    codes = run_together(10, lambda: service_call(divalto_simulator, token, param))

    assert invoice["ttcmt"] == "83.76"
    assert sorted(codes) == ["0"] * 2 + ["3"] * 8
    notes = divalto_simulator.control.table("ENT", PICOD=CREDIT_NOTE)
    assert [row["TTCMT"] for row in notes] == ["41.88", "41.88"]


# Timeout after the effect, and the request log that proves a single creation.


def test_a_lost_answer_then_a_retry_leave_exactly_one_order(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Latency then timeout_after on the 1st order: applied once, the retry refused."""
    control = divalto_simulator.control
    wire.token  # noqa: B018 - log in before the rules
    control.add_fault("latency", action="integration_piece", latency_ms=50, nth=1)
    control.add_fault(
        "timeout_after", action="integration_piece", nth=1, hang_seconds=0.2
    )
    data = {
        "ipar": {"PcePiRefCtrFl": "2"},
        "ient": {"PiCod": ORDER, "Tiers": "C0000002", "PiRef": "SHOP-77"},
        "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "1"}}],
    }

    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        wire.json_action("integration_piece", data)
    retry = wire.json_action("integration_piece", data)

    assert retry["result"]["common"] == {
        "resultcode": "3",
        "errormessage": (
            "ient.PiRef: your reference 'SHOP-77' is already used by order CC00000001"
        ),
    }
    created = control.requests(
        action="integration_piece", reference="SHOP-77", resultcode="0"
    )
    assert [(e["outcome"], e["document"], e["faults"]) for e in created] == [
        ("fault", "CC00000001", ["latency", "timeout_after"])
    ]
    assert [row["PREFPINO"] for row in control.table("ENT", PIREF="SHOP-77")] == [
        "CC00000001"
    ]


# Fault targeting follows the handlers' reading of a request.


def test_an_action_fault_hits_the_business_action_whatever_the_case_of_its_keys(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``SwInfinity`` names the action as ``swinfinity`` does: the rule fires."""
    control = divalto_simulator.control
    wire.token  # noqa: B018 - log in before the rule
    control.add_fault("error", action="integration_piece", error_code=77)
    param = (
        '{"Action": {"SwInfinity": "integration_piece", "Parameters": {"Dos": "998"}},'
        ' "Data": {"ient": {"PiCod": "2", "Tiers": "C0000002"},'
        ' "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "1"}}]}}'
    )

    answer = execute(wire, param)

    assert answer == envelope(77, "Injected failure")
    assert control.table("ENT") == []
    [entry] = control.requests(route="service")
    assert (entry["action"], entry["outcome"], entry["faults"]) == (
        "integration_piece",
        "fault",
        ["error"],
    )


# An empty list is not "every line".


def test_a_transfer_with_an_empty_line_list_is_refused_not_a_full_delivery(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``imouvtb: []`` names no line: resultcode 1, no delivery, the stock intact."""
    order(wire, "CAF0001", "10")
    data = {
        "ient": {"PiCod": ORDER, "PiNo": "CC00000001", "PiCodDest": DELIVERY},
        "imouvtb": [],
    }

    result = wire.json_action("transfert_piece", data)

    assert result["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "imouvtb: empty list: leave it out to take every line",
    }
    control = divalto_simulator.control
    assert control.table("ENT", PICOD=DELIVERY) == []
    assert control.table("STOCK", REF="CAF0001", DEPO="1")[0]["QTESTK"] == "40"


def test_a_credit_note_with_an_empty_line_list_is_refused(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``imouvtb: []`` on a credit note does not credit the whole invoice."""
    invoice = piece(
        wire.json_action(
            "integration_piece",
            {
                "ient": {"PiCod": INVOICE, "Tiers": "C0000002"},
                "imouvtb": [{"imouv": {"Ref": "CAF0001", "Qte": "2"}}],
            },
        )
    )
    data = {"ient": {"PiCod": CREDIT_NOTE, "PiNoOrig": invoice["prefpino"]}}

    result = wire.json_action("integration_piece", {**data, "imouvtb": []})

    assert result["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "imouvtb: empty list: leave it out to take every line",
    }
    assert divalto_simulator.control.table("ENT", PICOD=CREDIT_NOTE) == []


# Faults set at start.


def webhook_errors(server: SimulatorServer, calls: int) -> list[int]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        return [
            client.post("WebHook/COMMANDE_WEB", json={}).json()["error"]
            for _ in range(calls)
        ]


def test_faults_set_at_start_fire_and_come_back_after_a_reset() -> None:
    """A rule in the settings fires on the 2nd call, and again after a reset."""
    rule = FaultRule(kind="error", route="webhook", nth=2, error_code=77)
    with SimulatorServer(SimulatorSettings(faults=(rule,))) as server:
        control = SimulatorControl(server.url)
        first = webhook_errors(server, 3)
        control.add_fault("error", route="auth", error_code=78)
        control.reset()
        again = webhook_errors(server, 3)
        listed = control.faults()
        control.close()

    assert first == again == [0, 77, 0]
    assert [(r["id"], r["rule"]["error_code"], r["matched"]) for r in listed] == [
        (3, 77, 3)
    ]


def test_a_settings_file_sets_start_faults(tmp_path: Path) -> None:
    """``[[faults]]`` in a TOML settings file: a 429 on every login from the start."""
    path = tmp_path / "tenant.toml"
    path.write_text(
        '[[faults]]\nkind = "rate_limit"\nroute = "auth"\nretry_after_seconds = 7\n',
        encoding="utf-8",
    )
    settings = load_simulator_settings(path, {})

    with (
        SimulatorServer(settings) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        answer = client.post("Authent/Auth", json=LOGIN)

    assert (answer.status_code, answer.headers["retry-after"]) == (429, "7")


# The capacity bench.


def test_the_capacity_bench_prints_its_figures_as_one_json_line_last() -> None:
    """A short run, bounded in time and count, ends with the two rates as JSON."""
    bench = Path(__file__).parents[2] / "bench" / "simulator_capacity.py"
    arguments = ["--seconds", "0.3", "--warmup", "0.1", "--max-requests", "200"]

    run = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(bench), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    last = json.loads(run.stdout.strip().splitlines()[-1])
    requests = last["requests"]
    assert sorted(requests) == ["order_create", "recordsql_page_100"]
    assert all(0 < count <= 200 for count in requests.values())
    assert last["recordsql_page_100_rps"] > 0
    assert last["order_create_rps"] > 0


def test_a_price_asked_for_minus_zero_units_shows_no_negative_zero(
    wire: Wire,
) -> None:
    """``quantite`` -0 is zero: the answer says 0.000 units for 0.00, never -0."""
    answer = tarif(wire, "C0000001", "ALB0001", quantite="-0")

    assert (answer["quantite"], answer["montant"], answer["mtht"]) == (
        "0.000",
        "0.00",
        "0.00",
    )


@pytest.mark.parametrize("ttl", [0, 10**12])
def test_a_token_life_off_the_calendar_is_refused_by_the_settings(ttl: int) -> None:
    """A life of 0 s or of 30 000 years is refused at start, not at each login."""
    with pytest.raises(ValueError, match="token_ttl_seconds"):
        SimulatorSettings(token_ttl_seconds=ttl)


def test_a_token_living_a_century_is_issued() -> None:
    """The longest life allowed still gives a token that a read accepts."""
    century = 100 * 366 * 24 * 3600
    with (
        SimulatorServer(SimulatorSettings(token_ttl_seconds=century)) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        token = client.post("Authent/Auth", json=LOGIN).json()["access_token"]
        answer = client.post(
            "RecordSql/Read",
            json={
                "access_token": token,
                "dhoq": "GTRSART.dhoq",
                "recordsql": "Article",
            },
        ).json()

    assert answer["error"] == 0


# Loading more data before a demo.


def test_seeding_a_stock_level_again_updates_it_without_naming_sub_references(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A STOCK row without SREF1/SREF2 updates the plain article's row, as seeded."""
    loaded = divalto_simulator.control.seed(
        {"dossier": "998", "STOCK": [{"REF": "ALB0001", "DEPO": "1", "QTESTK": "500"}]}
    )
    rep = ask(wire, "INTERROGER_STOCK", ref="ALB0001", depot="1")

    assert loaded["STOCK"] == 1
    rows = divalto_simulator.control.table("STOCK", REF="ALB0001", DEPO="1")
    assert [(r["STOCK_ID"], r["QTESTK"], r["QTERES"]) for r in rows] == [
        (1, "500", "20")
    ]
    assert stock_lines(rep) == [
        ("ALB0001", "", "", "1", "500.000", "20.000", "480.000")
    ]

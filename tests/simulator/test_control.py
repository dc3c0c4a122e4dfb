"""The control endpoint: health, seed, tables, clock, reset, OpenAPI, request log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire

WEBHOOK = "WebHook/COMMANDE_WEB"
EXTRA_CUSTOMERS: dict[str, Any] = {
    "dossier": "998",
    "CLI": [
        {"TIERS": "C0000900", "NOM": "Quincaillerie Extra", "VIL": "Colmar"},
        {"TIERS": "C0000901", "NOM": "Épicerie Fine", "VIL": "Metz", "CE1": "2"},
    ],
}


def control_url(simulator: RunningSimulator, path: str) -> str:
    return f"{simulator.url}/_simulator/{path}"


def unknown_action(wire: Wire) -> None:
    body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": wire.token}
    wire.post("WebService/Execute", body)


@pytest.mark.parametrize("path", ["/_simulator/health", "/"])
def test_health_answers_ok(divalto_simulator: RunningSimulator, path: str) -> None:
    """The health check (also at the root) answers ``{"status": "ok"}``."""
    response = httpx.get(divalto_simulator.url + path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_control_root_lists_its_routes(divalto_simulator: RunningSimulator) -> None:
    """``/_simulator/``, the URL the serve banner prints, answers an index."""
    response = httpx.get(control_url(divalto_simulator, ""))

    assert response.status_code == 200
    index = response.json()
    assert index["simulator"] == "Divalto infinity"
    assert index["control"]["/_simulator/requests"] == (
        f"{divalto_simulator.url}/_simulator/requests"
    )
    assert len(index["control"]) == 10


def test_seed_loads_rows_and_counts_them(divalto_simulator: RunningSimulator) -> None:
    """Seeding returns the rows loaded per table; the rows are then readable."""
    loaded = divalto_simulator.control.seed(EXTRA_CUSTOMERS)

    assert loaded["CLI"] == 2
    [row] = divalto_simulator.control.table("CLI", TIERS="C0000901")
    assert (row["DOS"], row["NOM"], row["VIL"], row["CE1"]) == (
        "998",
        "Épicerie Fine",
        "Metz",
        "2",
    )


def test_seeding_the_same_records_twice_changes_nothing(
    divalto_simulator: RunningSimulator,
) -> None:
    """A second load of the same records leaves every table exactly as it was."""
    control = divalto_simulator.control
    data = {
        **EXTRA_CUSTOMERS,
        "CLI": [{"TIERS": "C0000001", "NOM": "Client démonstration bis"}]
        + EXTRA_CUSTOMERS["CLI"],
        "TARIF": [{"REF": "ALB0001", "TIERS": "C0000900", "PUB": "9.90"}],
    }
    control.seed(data)
    once = {table: control.table(table) for table in ("CLI", "TARIF")}

    control.seed(data)

    assert {table: control.table(table) for table in ("CLI", "TARIF")} == once


def test_seed_with_an_unknown_table_is_400(divalto_simulator: RunningSimulator) -> None:
    """A seed naming a table the simulator lacks is refused, naming it."""
    response = httpx.post(
        control_url(divalto_simulator, "seed"), json={"CLI": [], "NOPE": []}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "seed refused: unknown seed tables: NOPE"}


def test_seed_with_an_unknown_column_is_400_and_loads_nothing(
    divalto_simulator: RunningSimulator,
) -> None:
    """A bad row refuses the whole seed: the good rows before it are not kept."""
    data = {
        "CLI": [
            {"TIERS": "C0000902", "NOM": "Loaded first"},
            {"TIERS": "C0000903", "NOM": "Bad", "COLOR": "red"},
        ]
    }

    response = httpx.post(control_url(divalto_simulator, "seed"), json=data)

    assert response.status_code == 400
    assert response.json() == {"detail": "seed refused: CLI[2]: unknown columns COLOR"}
    assert divalto_simulator.control.table("CLI", TIERS="C0000902") == []


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "a JSON body is required"),
        (b"[1, 2]", "seed data must be a JSON object of tables"),
        (
            b'{"CLI": [',
            "malformed JSON body: Expecting value: line 1 column 10 (char 9)",
        ),
    ],
)
def test_seed_body_that_is_not_an_object_of_tables_is_400(
    divalto_simulator: RunningSimulator, content: bytes, detail: str
) -> None:
    """An empty, non-object or malformed seed body is 400 with a detail."""
    response = httpx.post(control_url(divalto_simulator, "seed"), content=content)

    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_table_rows_are_filtered_on_columns_case_blind(
    divalto_simulator: RunningSimulator,
) -> None:
    """``tables/cli?tiers=C0000001`` returns the demo customer and only it."""
    response = httpx.get(
        control_url(divalto_simulator, "tables/cli"), params={"tiers": "C0000001"}
    )

    [row] = response.json()
    assert (row["TIERS"], row["NOM"], row["VIL"], row["DOS"]) == (
        "C0000001",
        "Client démonstration",
        "Strasbourg",
        "998",
    )


def test_table_filters_combine_and_compare_as_text(
    divalto_simulator: RunningSimulator,
) -> None:
    """Several filters must all hold; an identity compares as text too."""
    control = divalto_simulator.control
    [first] = control.table("CLI", TIERS="C0000001")

    assert control.table("CLI", CLI_ID=first["CLI_ID"], VIL="Strasbourg") == [first]
    assert control.table("CLI", CLI_ID=first["CLI_ID"], VIL="Metz") == []


def test_table_rows_come_in_identity_order(
    divalto_simulator: RunningSimulator,
) -> None:
    """A table is listed in the order of its identity column."""
    identities = [row["DEPO_ID"] for row in divalto_simulator.control.table("DEPO")]

    assert identities == sorted(identities)
    assert len(identities) >= 2


def test_table_filter_on_an_unknown_column_is_400(
    divalto_simulator: RunningSimulator,
) -> None:
    """Filtering on a column the table lacks is refused, naming the columns."""
    response = httpx.get(
        control_url(divalto_simulator, "tables/CLI"),
        params={"COLOR": "red", "NOM": "x", "ZZ": "1"},
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "unknown columns for CLI: COLOR, ZZ"}


def test_unknown_table_is_404(divalto_simulator: RunningSimulator) -> None:
    """A table the simulator lacks answers 404 naming it."""
    response = httpx.get(control_url(divalto_simulator, "tables/nope"))

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown table NOPE"}


def test_clock_advance_accumulates_and_moves_token_time(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Each advance adds to the offset, and a token issued before it runs out."""
    token = wire.token
    url = control_url(divalto_simulator, "clock/advance")

    first = httpx.post(url, json={"seconds": 1800}).json()
    second = httpx.post(url, json={"seconds": 900.5}).json()
    body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": token}

    assert (first, second) == ({"offset_seconds": 1800.0}, {"offset_seconds": 2700.5})
    assert wire.post("WebService/Execute", body)["error"] == 12


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"seconds": "soon"}', "'seconds' must be a finite number"),
        (b'{"seconds": true}', "'seconds' must be a finite number"),
        (b'{"seconds": NaN}', "'seconds' must be a finite number"),
        (b"[60]", "'seconds' must be a finite number"),
        (b"", "a JSON body is required"),
    ],
)
def test_clock_advance_refuses_what_is_not_a_number(
    divalto_simulator: RunningSimulator, content: bytes, detail: str
) -> None:
    """The clock only moves by a finite number of seconds; anything else is 400."""
    url = control_url(divalto_simulator, "clock/advance")

    response = httpx.post(url, content=content)

    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert httpx.post(url, json={"seconds": 0}).json() == {"offset_seconds": 0.0}


def test_reset_brings_everything_back_to_the_seed(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """After a reset: seeded extras gone, no faults, empty logs, real time."""
    control = divalto_simulator.control
    control.seed(EXTRA_CUSTOMERS)
    control.add_fault("latency", latency_ms=1)
    control.advance_clock(3600)
    wire.post(WEBHOOK, {"order": "SHOP-1"})

    control.reset()

    assert control.table("CLI", TIERS="C0000900") == []
    assert [row["TIERS"] for row in control.table("CLI", TIERS="C0000001")] == [
        "C0000001"
    ]
    assert control.faults() == []
    assert control.requests() == []
    assert control.webhooks() == []
    offset = httpx.post(
        control_url(divalto_simulator, "clock/advance"), json={"seconds": 0}
    )
    assert offset.json() == {"offset_seconds": 0.0}


@pytest.mark.parametrize("path", ["/openapi.json", "/_simulator/openapi.json"])
def test_openapi_description_is_served_as_json(
    divalto_simulator: RunningSimulator, path: str
) -> None:
    """The OpenAPI description answers JSON with an ``openapi`` version key."""
    response = httpx.get(divalto_simulator.url + path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["openapi"].startswith("3.")


def test_unknown_control_path_is_404(divalto_simulator: RunningSimulator) -> None:
    """A path under ``/_simulator`` that names nothing is 404."""
    assert httpx.get(control_url(divalto_simulator, "nothing")).status_code == 404


def entry_view(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (
        entry["route"],
        entry["action"],
        entry["outcome"],
        entry["token_present"],
        entry["http_status"],
        entry["faults"],
        entry["error"],
        entry["user"],
    )


def test_request_log_records_each_call(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Each call is logged with route, action, outcome, token, status, faults, error."""
    wire.post("Authent/Auth", {"user": "demo", "password": "wrong"})
    unknown_action(wire)
    wire.post(WEBHOOK + "?order=1", {})
    wire.http.post(
        "WebService/Execute",
        json={"action": "NO_SUCH_ACTION", "param": ""},
        headers={"Authorization": f"Bearer {wire.token}"},
    )

    entries = divalto_simulator.control.requests()

    assert [entry_view(entry) for entry in entries] == [
        ("auth", "login", "error", False, 200, [], 10, "demo"),
        ("auth", "login", "ok", False, 200, [], 0, "DEMO"),
        ("service", None, "error", True, 200, [], 30, "DEMO"),
        ("webhook", "COMMANDE_WEB", "ok", False, 200, [], 0, None),
        ("service", None, "error", True, 200, [], 30, "DEMO"),
    ]
    assert [entry["seq"] for entry in entries] == sorted(
        entry["seq"] for entry in entries
    )
    assert entries[2]["service_action"] == "NO_SUCH_ACTION"
    assert all(entry["duration_ms"] > 0 for entry in entries)


def test_request_log_records_injected_faults(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A faulted call is logged with outcome ``fault``, its status and its faults."""
    control = divalto_simulator.control
    control.add_fault("error", error_code=77, route="webhook", nth=1)
    control.add_fault("http_error", status=502, route="webhook", nth=2)
    wire.http.post(WEBHOOK, json={})
    wire.http.post(WEBHOOK, json={})

    assert [entry_view(entry) for entry in control.requests()] == [
        ("webhook", "COMMANDE_WEB", "fault", False, 200, ["error"], 77, None),
        ("webhook", "COMMANDE_WEB", "fault", False, 502, ["http_error"], 0, None),
    ]


def test_request_log_filters_on_fields_and_since(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Query parameters filter on any field; ``since`` keeps later entries only."""
    control = divalto_simulator.control
    unknown_action(wire)
    [login] = control.requests(route="auth")
    control.add_fault("error", route="webhook")
    wire.post(WEBHOOK, {})

    assert [e["route"] for e in control.requests(route="AUTH")] == ["auth"]
    assert [e["route"] for e in control.requests(outcome="fault")] == ["webhook"]
    assert [e["route"] for e in control.requests(since=login["seq"])] == [
        "service",
        "webhook",
    ]
    assert [e["route"] for e in control.requests(token_present="true")] == ["service"]
    assert [e["route"] for e in control.requests(faults="error")] == ["webhook"]
    assert [e["route"] for e in control.requests(error=30, user="DEMO")] == ["service"]
    assert control.requests(route="auth", outcome="fault") == []


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"colour": "red"}, "unknown request-log fields: colour"),
        ({"since": "yesterday"}, "'since' must be an integer, not 'yesterday'"),
    ],
)
def test_request_log_refuses_unknown_filters(
    divalto_simulator: RunningSimulator, params: dict[str, str], detail: str
) -> None:
    """An unknown field or a non-integer ``since`` is 400, not an empty list."""
    response = httpx.get(control_url(divalto_simulator, "requests"), params=params)

    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_clearing_the_request_log_keeps_sequence_numbers_going(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """After clearing, the log is empty and new calls get higher sequence numbers."""
    control = divalto_simulator.control
    wire.login()
    [before] = control.requests()

    control.clear_requests()
    assert control.requests() == []
    wire.login()

    [after] = control.requests()
    assert after["seq"] > before["seq"]


def test_deleting_rows_removes_exactly_the_matching_ones(
    divalto_simulator: RunningSimulator,
) -> None:
    """DELETE on a table removes the rows matching the filters and counts them."""
    control = divalto_simulator.control

    deleted = control.delete_rows("STOCK", REF="ALB0001")

    assert deleted == 2
    assert control.table("STOCK", REF="ALB0001") == []
    assert len(control.table("STOCK", REF="CAF0001")) == 1


def test_deleting_without_a_filter_is_refused(
    divalto_simulator: RunningSimulator,
) -> None:
    """A DELETE with no filter would empty the table: it is refused with 400."""
    response = httpx.delete(control_url(divalto_simulator, "tables/CLI"))

    assert response.status_code == 400
    assert response.json() == {"detail": "deleting needs at least one column filter"}
    assert len(divalto_simulator.control.table("CLI", TIERS="C0000001")) == 1

"""Divalto's routes on the simulator: both bases, case, sites, methods, webhooks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.simulator.codes import ErrorCode
from divalto.testing import RunningSimulator, SimulatorControl
from tests.simulator.conftest import Wire

LOGIN = {"user": "DEMO", "password": "demo"}
WEBHOOK_OK = {"error": 0, "txterr": "", "result": "", "infos": ""}
DOCS = Path(__file__).parents[2] / "docs" / "simulator" / "routes-and-auth.md"


@contextmanager
def simulator(**settings: Any) -> Iterator[tuple[SimulatorServer, httpx.Client]]:
    """A simulator of its own, with ``settings``, and a client on its root URL."""
    with (
        SimulatorServer(SimulatorSettings(**settings)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield server, client


def unknown_route(path: str) -> dict[str, Any]:
    return {"error": 5, "txterr": f"Unknown route {path}", "infos": ""}


@pytest.mark.parametrize(
    "route", ["Authent/Auth", "authent/AUTH", "AUTHENT/auth", "Authent/Auth/"]
)
def test_login_route_is_matched_without_regard_to_case(wire: Wire, route: str) -> None:
    """``Authent/Auth`` answers a login whatever the case of its segments."""
    answer = wire.post(route, LOGIN)

    assert answer["error"] == 0
    assert answer["access_token"].count(".") == 2


@pytest.mark.parametrize(
    "base",
    [
        "/DhsDivaltoServiceDivaApiRest/api/v1/",
        "/dhsdivaltoservicedivaapirest/API/V1/",
    ],
)
def test_on_premises_base_serves_the_same_routes(
    divalto_simulator: RunningSimulator, base: str
) -> None:
    """The on-premises base answers a login, without regard to case."""
    response = httpx.post(f"{divalto_simulator.url}{base}Authent/Auth", json=LOGIN)

    assert response.status_code == 200
    assert response.json()["error"] == 0


@pytest.mark.parametrize("route", ["WebHook/COMMANDE_WEB", "Webhook/commande_web"])
def test_webhook_route_takes_both_spellings(
    wire: Wire, divalto_simulator: RunningSimulator, route: str
) -> None:
    """``WebHook`` and ``Webhook`` both reach the webhook; the code's case is free."""
    assert wire.post(route, {"order": "SHOP-1"}) == WEBHOOK_OK

    [call] = divalto_simulator.control.webhooks()
    assert call["code"] == "COMMANDE_WEB"
    assert call["body"] == {"order": "SHOP-1"}


@pytest.mark.parametrize(
    "site",
    ["12345", "1234567", "ABCDEF", "12345A", "\u0661\u0662\u0663\u0664\u0665\u0666"],
)
def test_site_that_is_not_six_ascii_digits_is_an_unknown_route(
    divalto_simulator: RunningSimulator, site: str
) -> None:
    """A cloud site must be six ASCII digits; anything else is 404 with the envelope."""
    path = f"/{site}/TEST1/api/v1/Authent/Auth"

    response = httpx.post(divalto_simulator.url + path, json=LOGIN)

    assert response.status_code == 404
    assert response.json() == unknown_route(path)


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/123456/TEST1/api/v1/",
        "/123456/TEST1/api/v2/Authent/Auth",
        "/123456/TEST1/api/v1/Authent/Login",
        "/123456/TEST1/api/v1/WebHook/COMMANDE_WEB/extra",
        "/DhsDivaltoServiceDivaApiRest/api/v1/WebService",
    ],
)
def test_path_naming_no_route_is_404_with_the_envelope(
    divalto_simulator: RunningSimulator, path: str
) -> None:
    """A path outside the bases, or naming no route under them, is 404 error 5."""
    response = httpx.post(divalto_simulator.url + path, json=LOGIN)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == unknown_route(path)


def test_sites_and_environments_settings_restrict_the_cloud_base() -> None:
    """Only the configured sites and environments (case-blind) are served."""
    with simulator(sites=("654321",), environments=("PROD",)) as (_, client):
        served = client.post("/654321/prod/api/v1/Authent/Auth", json=LOGIN)
        other_site = client.post("/123456/PROD/api/v1/Authent/Auth", json=LOGIN)
        other_env = client.post("/654321/TEST1/api/v1/Authent/Auth", json=LOGIN)

    assert served.json()["error"] == 0
    assert other_site.status_code == 404
    assert other_site.json() == unknown_route("/123456/PROD/api/v1/Authent/Auth")
    assert other_env.status_code == 404
    assert other_env.json() == unknown_route("/654321/TEST1/api/v1/Authent/Auth")


def test_default_recordsql_route_reaches_recordsql_without_regard_to_case(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``RecordSql/Read`` in any case is the RecordSql route by default."""
    body = {"dhoq": "GTRSART.dhoq", "recordsql": "Article", "access_token": wire.token}

    response = wire.http.post("recordsql/READ", json=body)

    assert response.status_code == 200
    [entry] = divalto_simulator.control.requests(route="recordsql")
    assert entry["action"] == "GTRSART.dhoq/Article"
    assert entry["token_present"] is True


def test_configured_recordsql_route_replaces_the_default() -> None:
    """With ``recordsql_route="Query/Run"``, that path reads and the default is 404."""
    with simulator(recordsql_route="Query/Run") as (server, client):
        base = "/123456/TEST1/api/v1/"
        token = client.post(base + "Authent/Auth", json=LOGIN).json()["access_token"]
        body = {"dhoq": "GTRSART.dhoq", "recordsql": "Article", "access_token": token}
        configured = client.post(base + "query/run", json=body)
        default = client.post(base + "RecordSql/Read", json=body)
        control = SimulatorControl(server.url)
        entries = control.requests(route="recordsql")
        control.close()

    assert configured.status_code == 200
    assert [entry["action"] for entry in entries] == ["GTRSART.dhoq/Article"]
    assert default.status_code == 404
    assert default.json() == unknown_route(base + "RecordSql/Read")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_than_post_on_login_are_405(wire: Wire, method: str) -> None:
    """``Authent/Auth`` takes POST only: 405 with ``Allow`` and the envelope."""
    response = wire.http.request(method, "Authent/Auth")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {
        "error": 5,
        "txterr": f"Method {method} not allowed: use POST",
        "infos": "",
    }


def test_put_on_a_webhook_is_405_naming_get_and_post(wire: Wire) -> None:
    """A webhook takes GET and POST, and the 405 says so."""
    response = wire.http.put("WebHook/COMMANDE_WEB", json={})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["txterr"] == "Method PUT not allowed: use GET or POST"


def test_webhook_without_token_records_query_and_body(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A webhook needs no token and is recorded with its query, its body and both."""
    response = wire.http.post(
        "WebHook/COMMANDE_WEB?order=SHOP-1&shop=main&empty=",
        json={"total": "12.50", "shop": "body wins"},
    )

    assert response.json() == WEBHOOK_OK
    [call] = divalto_simulator.control.webhooks()
    assert call["code"] == "COMMANDE_WEB"
    assert call["method"] == "POST"
    assert call["query"] == {"order": "SHOP-1", "shop": "main", "empty": ""}
    assert call["body"] == {"total": "12.50", "shop": "body wins"}
    assert call["data"] == {
        "order": "SHOP-1",
        "shop": "body wins",
        "empty": "",
        "total": "12.50",
    }


def test_webhook_get_with_only_a_query_is_recorded(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A GET webhook with no body is recorded with its query parameters."""
    response = wire.http.get("WebHook/COMMANDE_WEB", params={"ref": "Cœur 1"})

    assert response.json() == WEBHOOK_OK
    [call] = divalto_simulator.control.webhooks()
    assert (call["method"], call["query"], call["body"]) == (
        "GET",
        {"ref": "Cœur 1"},
        {},
    )


def test_unknown_webhook_code_is_error_40_and_records_nothing(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An unknown code is refused with error 40 naming it, and nothing is recorded."""
    answer = wire.post("WebHook/NOT_A_CODE?x=1", {"order": "SHOP-1"})

    assert answer == {
        "error": 40,
        "txterr": "Unknown webhook code 'NOT_A_CODE'",
        "infos": "",
    }
    assert divalto_simulator.control.webhooks() == []


def test_webhook_codes_come_from_the_settings() -> None:
    """A code added in ``webhook_codes`` is served; the default one then is not."""
    with simulator(webhook_codes=("STOCK_MAJ",)) as (server, client):
        base = "/123456/TEST1/api/v1/"
        accepted = client.post(base + "WebHook/stock_maj", json={"ref": "ALB0001"})
        refused = client.post(base + "WebHook/COMMANDE_WEB", json={})
        control = SimulatorControl(server.url)
        calls = control.webhooks()
        control.close()

    assert accepted.json() == WEBHOOK_OK
    assert refused.json()["error"] == 40
    assert [(call["code"], call["body"]) for call in calls] == [
        ("STOCK_MAJ", {"ref": "ALB0001"})
    ]


def test_every_error_code_is_in_the_documented_table() -> None:
    """The routes-and-auth document lists each error code with its number."""
    rows = re.findall(
        r"^\| (\d+) \| `(\w+)` \|", DOCS.read_text(encoding="utf-8"), re.M
    )

    assert sorted((int(number), name) for number, name in rows) == sorted(
        (int(code), code.name) for code in ErrorCode
    )

"""Login and tokens: the JWT's exact shape, where a token may travel, its failures."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from divalto.simulator import Account, SimulatorServer, SimulatorSettings
from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire

DOTNET_HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
LOGIN = {"user": "DEMO", "password": "demo"}
UNKNOWN_ACTION = {
    "error": 30,
    "txterr": "Unknown service action 'NO_SUCH_ACTION'",
    "infos": "",
}
EXPIRED = {"error": 12, "txterr": "Token expired: log in again", "infos": ""}
NOT_ISSUED_HERE = {
    "error": 14,
    "txterr": "Token unknown: not issued by this server",
    "infos": "",
}


def segment(text: str) -> Any:
    """Decode one base64url JWT segment holding JSON."""
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ole_date(text: str) -> datetime:
    """Read an OLE Automation date: days since 1899-12-30, fraction = time of day."""
    return OLE_EPOCH + timedelta(days=float(text))


def call_with(wire: Wire, token: Any) -> dict[str, Any]:
    """A call that needs a token and answers error 30 when the token is good."""
    body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": token}
    return wire.post("WebService/Execute", body)


@contextmanager
def simulator(**settings: Any) -> Iterator[httpx.Client]:
    """A simulator of its own, with ``settings``; the client is on its cloud base."""
    with (
        SimulatorServer(SimulatorSettings(**settings)) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        yield client


def login_on(client: httpx.Client, user: str = "DEMO", password: str = "demo") -> str:
    answer = client.post("Authent/Auth", json={"user": user, "password": password})
    token: str = answer.json()["access_token"]
    return token


def test_login_answers_the_documented_envelope(wire: Wire) -> None:
    """A good login answers error 0, an empty txterr and infos, and a token."""
    answer = wire.post("Authent/Auth", LOGIN)

    assert list(answer) == ["error", "txterr", "access_token", "infos"]
    assert (answer["error"], answer["txterr"], answer["infos"]) == (0, "", "")


def test_token_header_names_the_long_dotnet_algorithm(wire: Wire) -> None:
    """The JWT header's ``alg`` is the .NET URI of HMAC-SHA256."""
    header = segment(wire.login().split(".")[0])

    assert header == {"alg": DOTNET_HMAC_SHA256, "typ": "JWT"}


def test_token_claims_are_exactly_the_six_documented_ones(wire: Wire) -> None:
    """Claims are ident, user, password (base64), env, domain and a string exp."""
    answer = wire.post(
        "Authent/Auth", {**LOGIN, "env": "TEST1", "domain": "divaltocloud"}
    )

    claims = segment(answer["access_token"].split(".")[1])

    assert sorted(claims) == ["domain", "env", "exp", "ident", "password", "user"]
    assert uuid.UUID(claims["ident"]).version == 4
    assert claims["user"] == "DEMO"
    assert claims["password"] == "ZGVtbw=="
    assert base64.b64decode(claims["password"]) == b"demo"
    assert (claims["env"], claims["domain"]) == ("TEST1", "divaltocloud")
    assert isinstance(claims["exp"], str)


def test_env_claim_defaults_to_the_url_environment(wire: Wire) -> None:
    """Without ``env`` in the body, the claim holds the cloud URL's environment."""
    claims = segment(wire.login().split(".")[1])

    assert (claims["env"], claims["domain"]) == ("TEST1", "divaltocloud")


def test_token_expires_45_minutes_after_login_as_an_ole_date(wire: Wire) -> None:
    """``exp`` is an OLE Automation date string, now + 45 minutes within a second."""
    before = datetime.now(UTC)
    token = wire.login()
    after = datetime.now(UTC)

    exp = segment(token.split(".")[1])["exp"]

    assert exp == f"{float(exp):.8f}"
    expires = ole_date(exp)
    assert before + timedelta(minutes=45, seconds=-1) <= expires
    assert expires <= after + timedelta(minutes=45, seconds=1)


def test_user_name_is_matched_without_regard_to_case(wire: Wire) -> None:
    """``demo`` logs in as the account ``DEMO``; the claim names the account."""
    claims = segment(wire.login("demo", "demo").split(".")[1])

    assert claims["user"] == "DEMO"


def test_second_default_account_logs_in(wire: Wire) -> None:
    """``API_SYNC`` is the other default account."""
    claims = segment(wire.login("API_SYNC", "sync-secret").split(".")[1])

    assert (claims["user"], claims["password"]) == ("API_SYNC", "c3luYy1zZWNyZXQ=")


def test_accounts_come_from_the_settings() -> None:
    """A configured account logs in with its domain; the default ones no longer do."""
    account = Account(user="SHOP", password=SecretStr("s3cret!"), domain="acme")
    with simulator(accounts=(account,)) as client:
        claims = segment(login_on(client, "SHOP", "s3cret!").split(".")[1])
        refused = client.post("Authent/Auth", json=LOGIN).json()

    assert (claims["user"], claims["domain"]) == ("SHOP", "acme")
    assert refused["error"] == 10


def test_wrong_password_is_error_10_naming_the_user_but_not_the_password(
    wire: Wire,
) -> None:
    """A refused login names the user in txterr and never echoes the password."""
    response = wire.http.post(
        "Authent/Auth", json={"user": "DEMO", "password": "Sésame-42"}
    )

    assert response.json() == {
        "error": 10,
        "access_token": "",
        "txterr": "Authentication refused for user 'DEMO'",
        "infos": "",
    }
    assert "Sésame-42" not in response.text


def test_unknown_user_is_error_10_naming_the_user(wire: Wire) -> None:
    """An account that does not exist is refused like a wrong password."""
    answer = wire.post("Authent/Auth", {"user": "NOBODY", "password": "demo"})

    assert (answer["error"], answer["txterr"]) == (
        10,
        "Authentication refused for user 'NOBODY'",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "demo"}, "user"),
        ({"user": "", "password": "demo"}, "user"),
        ({"user": None, "password": "demo"}, "user"),
        ({"user": "DEMO"}, "password"),
        ({"user": "DEMO", "password": ""}, "password"),
        ({}, "user"),
    ],
)
def test_missing_user_or_password_is_error_2_naming_the_field(
    wire: Wire, body: dict[str, Any], field: str
) -> None:
    """A login without user or password is error 2 and names the missing field."""
    assert wire.post("Authent/Auth", body) == {
        "error": 2,
        "txterr": f"Field '{field}' is required",
        "infos": "",
    }


def test_token_in_the_body_is_accepted(wire: Wire) -> None:
    """``access_token`` in the body lets a call through to its handler."""
    assert call_with(wire, wire.token) == UNKNOWN_ACTION


def test_token_as_bearer_header_is_accepted(wire: Wire) -> None:
    """``Authorization: Bearer`` carries the token when the body has none."""
    response = wire.http.post(
        "WebService/Execute",
        json={"action": "NO_SUCH_ACTION", "param": ""},
        headers={"Authorization": f"bearer {wire.token}"},
    )

    assert response.json() == UNKNOWN_ACTION


def test_bearer_header_is_refused_when_the_setting_is_off() -> None:
    """With ``bearer_header=False`` a header-only token counts as missing."""
    with simulator(bearer_header=False) as client:
        token = login_on(client)
        header_only = client.post(
            "WebService/Execute",
            json={"action": "NO_SUCH_ACTION", "param": ""},
            headers={"Authorization": f"Bearer {token}"},
        )
        in_body = client.post(
            "WebService/Execute",
            json={"action": "NO_SUCH_ACTION", "param": "", "access_token": token},
        )

    assert header_only.json() == {
        "error": 11,
        "txterr": "Token missing: access_token is required",
        "infos": "",
    }
    assert in_body.json() == UNKNOWN_ACTION


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_error_11(wire: Wire, token: str | None) -> None:
    """A call without a token (absent, empty or blank) is error 11."""
    assert call_with(wire, token) == {
        "error": 11,
        "txterr": "Token missing: access_token is required",
        "infos": "",
    }


def test_token_expires_after_45_minutes_of_simulator_time(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """At 44:59 a token still works; one second past 45 minutes it is error 12."""
    token = wire.token
    divalto_simulator.control.advance_clock(45 * 60 - 2)
    still_good = call_with(wire, token)
    divalto_simulator.control.advance_clock(3)

    assert still_good == UNKNOWN_ACTION
    assert call_with(wire, token) == EXPIRED


def test_token_ttl_setting_is_honoured() -> None:
    """``token_ttl_seconds`` sets ``exp`` and when the token stops working."""
    with simulator(token_ttl_seconds=600) as client:
        issued = datetime.now(UTC)
        token = login_on(client)
        body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": token}
        control = httpx.Client(base_url=str(client.base_url.join("/_simulator/")))
        control.post("clock/advance", json={"seconds": 601})
        expired = client.post("WebService/Execute", json=body).json()
        control.close()

    expires = ole_date(segment(token.split(".")[1])["exp"])
    assert abs(expires - (issued + timedelta(seconds=600))) < timedelta(seconds=1)
    assert expired == EXPIRED


@pytest.mark.parametrize(
    ("token", "txterr"),
    [
        ("garbage", "Token malformed: expected 3 dot-separated parts, found 1"),
        ("abc.def", "Token malformed: expected 3 dot-separated parts, found 2"),
        ("a.b.c.d", "Token malformed: expected 3 dot-separated parts, found 4"),
        ("@@@.###.$$$", "Token malformed: a part is not base64url-encoded JSON"),
        ("é.è.à", "Token malformed: a part is not base64url-encoded JSON"),
        (
            f"{encode([1])}.{encode({})}.sig",
            "Token malformed: header and claims must be JSON objects",
        ),
        (
            f"{encode({'alg': 'HS256', 'typ': 'JWT'})}.{encode({})}.sig",
            "Token malformed: unsupported algorithm",
        ),
    ],
)
def test_malformed_token_is_error_13_naming_the_problem(
    wire: Wire, token: str, txterr: str
) -> None:
    """A token that cannot be read is error 13, and txterr says what is wrong."""
    assert call_with(wire, token) == {"error": 13, "txterr": txterr, "infos": ""}


def test_token_signed_with_another_key_is_error_14() -> None:
    """A token from a simulator with another signing key has an unknown signature."""
    with simulator(signing_key=SecretStr("someone else's key")) as other:
        foreign = login_on(other)
    with simulator() as client:
        body = {"action": "NO_SUCH_ACTION", "param": "", "access_token": foreign}
        answer = client.post("WebService/Execute", json=body).json()

    assert answer == {
        "error": 14,
        "txterr": "Token unknown: signature not recognised",
        "infos": "",
    }


def test_token_issued_by_another_simulator_with_the_same_key_is_error_14(
    wire: Wire,
) -> None:
    """A well-signed token this simulator never issued is unknown."""
    with simulator() as other:
        foreign = login_on(other)

    assert call_with(wire, foreign) == NOT_ISSUED_HERE


def test_token_with_altered_claims_is_error_14(wire: Wire) -> None:
    """Changing a claim breaks the signature: the token is unknown."""
    header, claims, signature = wire.token.split(".")
    forged = encode({**segment(claims), "user": "API_SYNC"})

    assert call_with(wire, f"{header}.{forged}.{signature}") == {
        "error": 14,
        "txterr": "Token unknown: signature not recognised",
        "infos": "",
    }


def test_token_issued_before_a_reset_is_error_14(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A reset forgets every token, as a server restart would."""
    token = wire.token
    divalto_simulator.control.reset()

    assert call_with(wire, token) == NOT_ISSUED_HERE


def test_expire_tokens_control_expires_every_token_early(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``tokens/expire`` makes every token issued so far error 12; a new login works."""
    first, second = wire.login(), wire.login("API_SYNC", "sync-secret")
    divalto_simulator.control.expire_tokens()

    assert call_with(wire, first) == EXPIRED
    assert call_with(wire, second) == EXPIRED
    assert call_with(wire, wire.login()) == UNKNOWN_ACTION


def test_token_expiry_fault_expires_the_token_of_the_call_it_hits(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A ``token_expiry`` fault on the 2nd service call expires its token there."""
    token = wire.token
    divalto_simulator.control.add_fault("token_expiry", route="service", nth=2)

    answers = [call_with(wire, token) for _ in range(2)]
    fresh = wire.login()

    assert answers == [UNKNOWN_ACTION, EXPIRED]
    assert call_with(wire, fresh) == UNKNOWN_ACTION


def test_fresh_login_after_expiry_works(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """After a token expired by time, logging in again gives a working token."""
    old = wire.token
    divalto_simulator.control.advance_clock(45 * 60 + 1)
    new = wire.login()

    assert call_with(wire, old) == EXPIRED
    assert call_with(wire, new) == UNKNOWN_ACTION
    new_exp = ole_date(segment(new.split(".")[1])["exp"])
    simulated_now = datetime.now(UTC) + timedelta(seconds=45 * 60 + 1)
    assert abs(new_exp - (simulated_now + timedelta(minutes=45))) < timedelta(seconds=2)


def test_login_is_logged_with_the_user_and_never_the_password(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The request log names who logged in, and holds no password or token."""
    token = wire.login()
    call_with(wire, token)

    entries = divalto_simulator.control.requests()
    assert [(e["route"], e["user"]) for e in entries] == [
        ("auth", "DEMO"),
        ("service", "DEMO"),
    ]
    dumped = json.dumps(entries)
    assert 'demo"' not in dumped
    assert token not in dumped
    assert time.time() - entries[0]["at"] < 60

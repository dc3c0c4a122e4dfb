"""Tokens over loopback: caching, renewal, one login for many callers, replay."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from divalto import errors
from divalto.client import AsyncDivalto, Divalto
from divalto.testing import RunningSimulator
from tests.client.conftest import (
    ALB0001_RECORDS,
    FakeTime,
    aread_article,
    read_article,
    records_of,
    sim_profile,
)

TTL_MINUS_MARGIN = 45 * 60 - 60


def logins(simulator: RunningSimulator) -> int:
    return len(simulator.control.requests(route="auth"))


def in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released together; return the results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_one_token_serves_many_calls(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """Three reads share the token of one login."""
    for _ in range(3):
        read_article(client)

    assert logins(divalto_simulator) == 1
    assert [
        entry["token_present"]
        for entry in divalto_simulator.control.requests(route="recordsql")
    ] == [True, True, True]


def test_the_token_is_renewed_a_margin_before_it_expires(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """At 43 min 59 s the token is kept; at 44 min it is renewed by a new login."""
    read_article(client)
    fake_time.advance(TTL_MINUS_MARGIN - 1)
    read_article(client)
    assert logins(divalto_simulator) == 1

    fake_time.advance(1)
    read_article(client)
    assert logins(divalto_simulator) == 2


def test_ten_threads_with_an_expired_token_cause_one_login(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """Ten threads that find the token expired wait for a single new login."""
    read_article(client)
    fake_time.advance(TTL_MINUS_MARGIN + 5)
    divalto_simulator.control.clear_requests()

    results = in_threads(10, lambda: records_of(read_article(client)))

    assert results == [ALB0001_RECORDS] * 10
    assert logins(divalto_simulator) == 1
    assert len(divalto_simulator.control.requests(route="recordsql")) == 10


def test_ten_threads_refused_by_the_erp_cause_one_login(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """Ten threads whose token the ERP expired re-login once, then all replay."""
    read_article(client)
    divalto_simulator.control.expire_tokens()
    divalto_simulator.control.clear_requests()

    results = in_threads(10, lambda: records_of(read_article(client)))

    assert results == [ALB0001_RECORDS] * 10
    assert logins(divalto_simulator) == 1
    outcomes = [
        (entry["outcome"], entry["error"])
        for entry in divalto_simulator.control.requests(route="recordsql")
    ]
    assert sorted(outcomes) == [("error", 12)] * 10 + [("ok", 0)] * 10


async def test_ten_tasks_with_an_expired_token_cause_one_login(
    async_client: AsyncDivalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
) -> None:
    """Ten asyncio tasks that find the token expired wait for one new login."""
    await aread_article(async_client)
    fake_time.advance(TTL_MINUS_MARGIN + 5)
    divalto_simulator.control.clear_requests()

    results = await asyncio.gather(*(aread_article(async_client) for _ in range(10)))

    assert [records_of(result) for result in results] == [ALB0001_RECORDS] * 10
    assert logins(divalto_simulator) == 1


async def test_ten_tasks_refused_by_the_erp_cause_one_login(
    async_client: AsyncDivalto, divalto_simulator: RunningSimulator
) -> None:
    """Ten tasks whose token the ERP expired re-login once, then all replay."""
    await aread_article(async_client)
    divalto_simulator.control.expire_tokens()
    divalto_simulator.control.clear_requests()

    results = await asyncio.gather(*(aread_article(async_client) for _ in range(10)))

    assert [records_of(result) for result in results] == [ALB0001_RECORDS] * 10
    assert logins(divalto_simulator) == 1
    assert len(divalto_simulator.control.requests(route="recordsql")) == 20


def test_a_token_expired_by_the_erp_clock_is_renewed_and_the_call_replayed(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """When the ERP's clock passes 45 minutes, the read is replayed after a login."""
    read_article(client)
    divalto_simulator.control.advance_clock(45 * 60 + 1)

    assert records_of(read_article(client)) == ALB0001_RECORDS
    assert logins(divalto_simulator) == 2
    assert [
        (entry["outcome"], entry["error"])
        for entry in divalto_simulator.control.requests(route="recordsql")
    ] == [("ok", 0), ("error", 12), ("ok", 0)]


def test_the_token_expiry_fault_is_met_by_one_new_login(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """A token expired early by the ERP costs one login and one replay."""
    read_article(client)
    divalto_simulator.control.add_fault("token_expiry", route="recordsql", nth=2)
    read_article(client)
    read_article(client)

    assert logins(divalto_simulator) == 2
    assert len(divalto_simulator.control.requests(route="recordsql")) == 4


def test_a_token_refused_again_after_a_new_login_is_raised(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """Two refusals in a row: one new login, one replay, then TokenRejected."""
    divalto_simulator.control.add_fault(
        "error",
        route="recordsql",
        error_code=13,
        txterr="Token malformed: expected three parts",
    )

    with pytest.raises(errors.TokenRejected) as raised:
        read_article(client)

    assert raised.value.message == (
        "the ERP refused the token again right after a new login: "
        "Token malformed: expected three parts"
    )
    assert raised.value.erp_error == 13
    assert logins(divalto_simulator) == 2
    assert len(divalto_simulator.control.requests(route="recordsql")) == 2


def test_a_txterr_naming_the_token_is_a_refused_token(
    client: Divalto, divalto_simulator: RunningSimulator
) -> None:
    """An unlisted error number whose text names the token triggers a re-login."""
    divalto_simulator.control.add_fault(
        "error", route="recordsql", error_code=77, txterr="Jeton expiré", nth=1
    )

    assert records_of(read_article(client)) == ALB0001_RECORDS
    assert logins(divalto_simulator) == 2


def test_the_token_error_numbers_are_a_profile_setting(
    divalto_simulator: RunningSimulator,
) -> None:
    """A tenant whose number 61 means a dead session gets a re-login on it."""
    profile = sim_profile(divalto_simulator, error_codes={"token_invalid": [61]})
    divalto_simulator.control.add_fault(
        "error", route="recordsql", error_code=61, txterr="Session perdue", nth=1
    )
    with Divalto(profile) as erp:
        assert records_of(read_article(erp)) == ALB0001_RECORDS

    assert logins(divalto_simulator) == 2


def test_rejected_credentials_are_tried_once_and_name_the_user(
    divalto_simulator: RunningSimulator,
) -> None:
    """A wrong password: one login request, an error naming DEMO, not the password."""
    profile = sim_profile(divalto_simulator, password="Wrong-Pa55word")
    with Divalto(profile) as erp:
        with pytest.raises(errors.CredentialsRejected) as first:
            read_article(erp)
        with pytest.raises(errors.CredentialsRejected) as second:
            read_article(erp)

    assert first.value.message == (
        "the ERP refused the login of user 'DEMO': "
        "Authentication refused for user 'DEMO'"
    )
    assert first.value.erp_error == 10
    assert second.value.message == (
        "the login of user 'DEMO' was refused before; not tried again: "
        "fix the profile and build a new client"
    )
    for error in (first.value, second.value):
        assert "Wrong-Pa55word" not in f"{error} {error!r} {error.to_dict()}"
    assert logins(divalto_simulator) == 1
    assert divalto_simulator.control.requests(route="recordsql") == []


def test_ten_threads_with_rejected_credentials_cause_one_login(
    divalto_simulator: RunningSimulator,
) -> None:
    """Callers waiting on a refused login get the refusal, not another attempt."""
    profile = sim_profile(divalto_simulator, password="Wrong-Pa55word")
    with Divalto(profile) as erp:
        results = in_threads(10, lambda: read_article(erp))

    assert {type(result) for result in results} == {errors.CredentialsRejected}
    assert logins(divalto_simulator) == 1


def test_the_login_sends_user_password_domain_and_env(
    divalto_simulator: RunningSimulator,
) -> None:
    """The login body carries the profile's account, domain and environment."""
    profile = sim_profile(divalto_simulator, domain="divaltocloud", env="TEST1")
    with Divalto(profile) as erp:
        token = erp.tokens.token()

    claims = _claims(token)
    assert (claims["user"], claims["env"], claims["domain"]) == (
        "DEMO",
        "TEST1",
        "divaltocloud",
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    claims: dict[str, Any] = json.loads(decoded)
    return claims

"""A second pair of eyes on the client core: probes of what the other tests miss.

Each test pins one behaviour of the client's specification against the running
simulator and its faults, with exact values, from an angle the first tests did
not take: threads and tasks at once, a slow login, a proxy's page on a login
and on a write, a ``Retry-After`` date beyond the deadline, the record yielded
last deleted during a read, raw log events without the masking processor, and
profiles assembled from several sources at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from divalto import errors
from divalto.client import AsyncDivalto, Divalto
from divalto.recordsql import RecordQuery, Records
from divalto.settings import load_profile
from divalto.testing import RunningSimulator
from divalto.wire import Endpoint, OperationKind
from divalto.xmlsafe import parse_xml, repair_encoding
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


# --- tokens -----------------------------------------------------------------


async def test_ten_threads_and_ten_tasks_at_once_with_an_expired_token(
    client: Divalto,
    async_client: AsyncDivalto,
    divalto_simulator: RunningSimulator,
    fake_time: FakeTime,
) -> None:
    """A slow login met by 10 threads and 10 tasks together: one login per client."""
    read_article(client)
    await aread_article(async_client)
    fake_time.advance(TTL_MINUS_MARGIN + 1)
    divalto_simulator.control.clear_requests()
    divalto_simulator.control.add_fault("latency", route="auth", latency_ms=300)
    results: list[Any] = []
    barrier = threading.Barrier(10)

    def work() -> None:
        barrier.wait()
        results.append(records_of(read_article(client)))

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    answers = await asyncio.gather(*(aread_article(async_client) for _ in range(10)))
    for thread in threads:
        thread.join()

    assert results == [ALB0001_RECORDS] * 10
    assert [records_of(answer) for answer in answers] == [ALB0001_RECORDS] * 10
    assert logins(divalto_simulator) == 2
    assert len(divalto_simulator.control.requests(route="recordsql")) == 20


async def test_ten_tasks_with_rejected_credentials_cause_one_login(
    divalto_simulator: RunningSimulator,
) -> None:
    """Ten tasks with a wrong password: one login, ten refusals naming the user."""
    profile = sim_profile(divalto_simulator, password="N0t-The-Password")
    async with AsyncDivalto(profile) as erp:
        outcomes = await asyncio.gather(
            *(aread_article(erp) for _ in range(10)), return_exceptions=True
        )

    assert [type(outcome) for outcome in outcomes] == [errors.CredentialsRejected] * 10
    assert logins(divalto_simulator) == 1
    assert divalto_simulator.control.requests(route="recordsql") == []
    for outcome in outcomes:
        assert "'DEMO'" in str(outcome)
        assert "N0t-The-Password" not in str(outcome)
        assert "N0t-The-Password" not in repr(outcome)
        assert "N0t-The-Password" not in str(outcome.to_dict())  # type: ignore[union-attr]


def test_ten_threads_behind_a_login_that_fails_once_share_its_retry(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """The first login meets a 503; its retry serves all ten threads."""
    divalto_simulator.control.add_fault("http_error", route="auth", status=503, nth=1)
    divalto_simulator.control.add_fault("latency", route="auth", latency_ms=200)
    results: list[Any] = []
    barrier = threading.Barrier(10)

    def work() -> None:
        barrier.wait()
        results.append(records_of(read_article(client)))

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [ALB0001_RECORDS] * 10
    assert [
        entry["http_status"]
        for entry in divalto_simulator.control.requests(route="auth")
    ] == [503, 200]
    assert fake_time.waits == [0.5]


# --- transport ----------------------------------------------------------------


def test_a_proxy_page_on_the_login_is_retried(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """A 502 HTML page on the login is transient: one wait, then the call succeeds."""
    divalto_simulator.control.add_fault("http_error", route="auth", status=502, nth=1)

    assert records_of(read_article(client)) == ALB0001_RECORDS

    assert fake_time.waits == [0.5]
    assert [
        (entry["outcome"], entry["http_status"])
        for entry in divalto_simulator.control.requests(route="auth")
    ] == [("fault", 502), ("ok", 200)]


def test_a_proxy_page_on_a_plain_write_is_classified_and_not_resent(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """A 502 page leaves a write's outcome unknown: raised, named, sent once."""
    divalto_simulator.control.add_fault("http_error", route="service", status=502)
    body = {"action": "WEB_SERVICE_INFINITY", "param": "{}"}

    with pytest.raises(errors.ServerUnavailable) as raised:
        client.transport.call(
            Endpoint.SERVICE,
            body,
            kind=OperationKind.WRITE,
            action="integration_piece",
        )

    assert raised.value.message == "the server failed with HTTP 502 (an HTML page)"
    assert raised.value.http_status == 502
    assert raised.value.outcome_unknown is True
    assert fake_time.waits == []
    assert len(divalto_simulator.control.requests(route="service")) == 1


def test_a_retry_after_date_beyond_the_deadline_is_reported_not_waited(
    divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """Retry-After as an HTTP date 90 s ahead, 40 s deadline: raised at once."""
    profile = sim_profile(
        divalto_simulator,
        deadline_seconds=40,
        timeouts={"write": 30, "service": 30},
    )
    divalto_simulator.control.add_fault(
        "rate_limit",
        route="recordsql",
        retry_after_seconds=90,
        retry_after_http_date=True,
    )
    with (
        Divalto(profile, clock=fake_time.clock, sleep=fake_time.sleep) as erp,
        pytest.raises(errors.DeadlineExceeded) as raised,
    ):
        read_article(erp)

    assert fake_time.waits == []
    cause = raised.value.__cause__
    assert isinstance(cause, errors.RateLimited)
    assert cause.retry_after is not None
    assert 88 <= cause.retry_after <= 90
    assert raised.value.message.startswith("a retry after ")
    assert "would pass the deadline (40.000 s left)" in raised.value.message
    assert len(divalto_simulator.control.requests(route="recordsql")) == 1


def test_a_retry_after_date_within_the_deadline_is_waited(
    client: Divalto, divalto_simulator: RunningSimulator, fake_time: FakeTime
) -> None:
    """A date 5 s ahead on the login is waited (the date has 1 s resolution)."""
    divalto_simulator.control.add_fault(
        "rate_limit",
        route="auth",
        nth=1,
        retry_after_seconds=5,
        retry_after_http_date=True,
    )

    assert records_of(read_article(client)) == ALB0001_RECORDS

    assert len(fake_time.waits) == 1
    assert 3.0 <= fake_time.waits[0] <= 5.0
    assert logins(divalto_simulator) == 2


def test_retry_after_parses_an_rfc_date_exactly() -> None:
    """The same date, in each of the three HTTP date forms, gives the same wait."""
    now = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC
    forms = [
        email.utils.formatdate(now + 7, usegmt=True),
        "Thursday, 01-Jan-26 12:00:07 GMT",
        "Thu Jan  1 12:00:07 2026",
    ]
    assert [errors.retry_after_seconds(form, now) for form in forms] == [7.0] * 3


# --- RecordSql -------------------------------------------------------------------

BENCH = (
    RecordQuery("GTRSART.dhoq", "Article")
    .select("REF", "DES")
    .where("Like_Ref", ref="BRK")
)


def _articles(numbers: range, first_id: int) -> list[dict[str, Any]]:
    return [
        {"ART_ID": first_id + index, "REF": f"BRK{number:05d}", "DES": "x"}
        for index, number in enumerate(numbers)
    ]


def _seed(sim: RunningSimulator, rows: list[dict[str, Any]]) -> None:
    sim.control.seed({"dossier": "998", "ART": rows})


def _hide(sim: RunningSimulator, identities: list[int]) -> None:
    """Take rows out of ``BENCH``'s filter by renaming them: a deletion for it."""
    _seed(
        sim,
        [{"ART_ID": ident, "REF": f"GONE{ident}", "DES": "x"} for ident in identities],
    )


def test_deleting_the_record_last_yielded_skips_nothing(
    divalto_simulator: RunningSimulator,
) -> None:
    """The overlap record itself vanishes between two pages: nothing is lost."""
    _seed(divalto_simulator, _articles(range(1, 13), first_id=500_000))
    with Divalto(sim_profile(divalto_simulator)) as erp:
        pages = iter(erp.records.read(BENCH, page_size=5))
        seen = [next(pages)["REF"] for _ in range(5)]
        _hide(divalto_simulator, [500_004])  # BRK00005, the one just yielded
        seen += [row["REF"] for row in pages]

    assert seen == [f"BRK{n:05d}" for n in range(1, 13)]


def test_inserts_ahead_and_deletes_behind_in_one_read(
    divalto_simulator: RunningSimulator,
) -> None:
    """Both at once between two pages: each surviving record exactly once."""
    _seed(divalto_simulator, _articles(range(1, 21), first_id=600_000))
    with Divalto(sim_profile(divalto_simulator)) as erp:
        pages = iter(erp.records.read(BENCH, page_size=4))
        seen = [next(pages)["REF"] for _ in range(9)]
        _hide(divalto_simulator, [600_001, 600_002, 600_003, 600_006, 600_008])
        _seed(divalto_simulator, _articles(range(101, 104), first_id=700_000))
        seen += [row["REF"] for row in pages]

    expected = [f"BRK{n:05d}" for n in range(1, 10)]
    expected += [f"BRK{n:05d}" for n in range(10, 21) if n != 9]
    expected += ["BRK00101", "BRK00102", "BRK00103"]
    assert seen == expected
    assert len(seen) == len(set(seen))


async def test_async_paging_of_an_exact_multiple_ends(
    divalto_simulator: RunningSimulator,
) -> None:
    """12 records in pages of 2 (an exact multiple): 12 records, then the end."""
    _seed(divalto_simulator, _articles(range(1, 13), first_id=800_000))
    async with AsyncDivalto(sim_profile(divalto_simulator)) as erp:
        refs = [row["REF"] async for row in erp.records.read(BENCH, page_size=2)]

    assert refs == [f"BRK{n:05d}" for n in range(1, 13)]
    # Offsets 0, 1, 2, ..., 11: each page of two overlaps the last by one.
    assert len(divalto_simulator.control.requests(route="recordsql")) == 12


def test_an_injection_string_is_data_that_finds_only_itself(
    divalto_simulator: RunningSimulator,
) -> None:
    """A customer literally named ``x' OR '1'='1`` is the only one it finds."""
    divalto_simulator.control.seed(
        {"dossier": "998", "CLI": [{"TIERS": "C0000777", "NOM": "x' OR '1'='1"}]}
    )
    query = RecordQuery("GTRSTIERS.dhoq", "Client").select("TIERS", "NOM")
    with Divalto(sim_profile(divalto_simulator)) as erp:
        records: Records = erp.records
        injected = list(records.read(query.where("Like_Nom", nom="x' OR '1'='1")))
        anjou = list(records.read(query.where("Like_Nom", nom="L'Atelier d'Anjou")))
        wild = list(records.read(query.where("Like_Nom", nom="%' OR NOM LIKE '%")))

    assert [(r["TIERS"], r["NOM"]) for r in injected] == [("C0000777", "x' OR '1'='1")]
    assert [(r["TIERS"], r["NOM"]) for r in anjou] == [
        ("C0000002", "L'Atelier d'Anjou")
    ]
    assert wild == []


# --- XML -----------------------------------------------------------------------


def test_an_entity_bomb_behind_a_spaced_mixed_case_doctype_is_refused() -> None:
    """A bomb written ``<!doctype`` in mixed case and spaces is still refused."""
    bomb = (
        '<?xml version="1.0"?>\n<! DocType rep [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rep>&b;</rep>'
    )
    with pytest.raises(errors.ResponseInvalid) as raised:
        parse_xml(bomb, action="INTERROGER_STOCK")
    assert raised.value.message == (
        "XML answer refused: it declares a DOCTYPE or an entity"
    )


def test_euro_and_oe_survive_both_lies_and_the_truth() -> None:
    """``Bœuf 5 €`` as UTF-8 bytes, as Windows-1252 bytes and as references."""
    truth = "Bœuf 5 € é"
    utf8_lie = truth.encode("utf-8").decode("latin-1")
    cp1252_lie = truth.encode("cp1252").decode("latin-1")
    honest = "Bœuf 5 € é".replace("œ", "&#339;").replace("€", "&#8364;")
    template = '<?xml version="1.0" encoding="ISO-8859-1"?><rep><des>{}</des></rep>'

    labels = [
        parse_xml(template.format(text)).findtext("des")
        for text in (utf8_lie, cp1252_lie, honest, truth)
    ]

    assert labels == [truth] * 4
    assert repair_encoding("Crème brûlée") == "Crème brûlée"


# --- secrets -------------------------------------------------------------------


def test_raw_log_events_of_a_login_and_a_call_hold_no_secret(
    divalto_simulator: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the masking processor, no DEBUG event carries a secret at all."""
    caplog.set_level(logging.DEBUG)
    profile = sim_profile(
        divalto_simulator,
        user="API_SYNC",
        password="sync-secret",
        token_in_header=True,
        recordsql_api_key="raw-recordsql-key-99",
        key_types={"recordsql": "DatabaseQuery"},
    )
    with structlog.testing.capture_logs() as events, Divalto(profile) as erp:
        read_article(erp)
        token = erp.tokens.token()
        shown = [repr(erp), repr(erp.tokens), repr(erp.transport), repr(profile)]
        shown += [str(profile), profile.model_dump_json()]

    dumped = repr(events) + caplog.text + "".join(shown)
    assert [event["event"] for event in events if event["log_level"] == "info"] == [
        "divalto.request",
        "divalto.request",
    ]
    for secret in ("sync-secret", token, "raw-recordsql-key-99"):
        assert secret not in dumped


def test_a_wrongly_typed_password_is_not_shown_in_the_refusal(tmp_path: Path) -> None:
    """A TOML password written as a number: refused naming it, value not shown."""
    toml = tmp_path / "divalto.toml"
    toml.write_text(
        "[profiles.acme]\n"
        'base_url = "http://erp.local/api/v1/"\n'
        'dossier = "998"\nuser = "DEMO"\npassword = 987654321\n',
        encoding="utf-8",
    )
    with pytest.raises(errors.ProfileInvalid) as raised:
        load_profile("acme", toml_file=toml)

    assert raised.value.message == (
        "profile 'acme' refused: password: Input should be a valid string"
    )
    assert "987654321" not in str(raised.value)
    assert "987654321" not in repr(raised.value.__cause__)


# --- profiles --------------------------------------------------------------------


def test_a_profile_assembled_from_toml_env_dotenv_and_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nested settings merge across sources; each source wins where it should."""
    toml = tmp_path / "divalto.toml"
    toml.write_text(
        "[profiles.acme-prod]\n"
        'site = "123456"\nenv = "PROD"\ndossier = "100"\nuser = "FROM_TOML"\n'
        "[profiles.acme-prod.timeouts]\nread = 40\nwrite = 50\n"
        "[profiles.acme-prod.retry]\nattempts = 3\n",
        encoding="utf-8",
    )
    dotenv = tmp_path / "erp.env"
    dotenv.write_text(
        "DIVALTO_ACME_PROD_USER=FROM_DOTENV\nDIVALTO_ACME_PROD_RETRY__ATTEMPTS=6\n",
        encoding="utf-8",
    )
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "divalto_acme_prod_password").write_text("file-secret\n")
    monkeypatch.setenv("DIVALTO_ACME_PROD_TIMEOUTS__WRITE", "70")

    profile = load_profile(
        "acme-prod", toml_file=toml, env_file=dotenv, secrets_dir=secrets
    )

    assert profile.api_base == "https://api.divaltocloud.com/123456/PROD/api/v1/"
    assert profile.user == "FROM_DOTENV"
    assert profile.password.get_secret_value() == "file-secret"
    assert (profile.timeouts.read, profile.timeouts.write) == (40, 70)
    assert profile.retry.attempts == 6


def test_a_nested_timeout_longer_than_the_deadline_is_refused_by_name(
    tmp_path: Path,
) -> None:
    """``[profiles.x.timeouts] service = 200`` against a 120 s deadline."""
    toml = tmp_path / "divalto.toml"
    toml.write_text(
        "[profiles.x]\n"
        'host = "https://erp.acme.example"\ndossier = "1"\nuser = "U"\n'
        'password = "p-1234"\n[profiles.x.timeouts]\nservice = 200\n',
        encoding="utf-8",
    )
    with pytest.raises(errors.ProfileInvalid) as raised:
        load_profile("x", toml_file=toml)

    assert raised.value.message == (
        "profile 'x' refused: deadline_seconds (120) is shorter than "
        "timeouts.service (200)"
    )


def test_a_cloud_site_with_an_on_premises_host_is_refused_naming_both() -> None:
    with pytest.raises(errors.ProfileInvalid) as raised:
        load_profile(
            "mixed",
            site="123456",
            env="PROD",
            host="https://erp.acme.example",
            dossier="1",
            user="U",
            password="p-1234",
        )
    assert raised.value.message == (
        "profile 'mixed' refused: host (on premises) and site (cloud) are set "
        "together: give one address form"
    )


def test_a_refused_connection_stops_after_its_attempts(
    fake_time: FakeTime,
) -> None:
    """Nothing listens: waits of 1 s and 2 s, three attempts, then the error."""
    profile = load_profile(
        "closed",
        base_url="http://127.0.0.1:9/api/v1/",
        dossier="1",
        user="U",
        password="p-1234",
        retry={"attempts": 3, "wait_initial": 1, "wait_jitter": 0},
    )
    started = time.monotonic()
    with (
        Divalto(profile, clock=fake_time.clock, sleep=fake_time.sleep) as erp,
        pytest.raises(errors.ConnectionFailed) as raised,
    ):
        read_article(erp)
    assert fake_time.waits == [1.0, 2.0]
    assert raised.value.outcome_unknown is False
    assert time.monotonic() - started < 10

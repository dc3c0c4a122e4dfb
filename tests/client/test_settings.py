"""Profiles: every source, named profiles, and each refusal with its message."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from divalto.errors import ErrorCodes, ProfileInvalid
from divalto.settings import (
    ApiKeyType,
    Flow,
    Profile,
    RetryPolicy,
    ServiceActions,
    env_prefix,
    load_profile,
    profile_names,
)
from divalto.wire import Endpoint, OperationKind

ACCOUNT = {"dossier": "998", "user": "DEMO", "password": "demo"}

TOML = """
[profiles.acme-prod]
site = "123456"
env = "PROD"
dossier = "100"
user = "API_SYNC"
deadline_seconds = 90
service_api_key = "svc-key-prod"

[profiles.acme-prod.key_types]
service = "ErpGatewayApi"

[profiles.acme-prod.retry]
attempts = 6
total_seconds = 30

[profiles.acme-test]
host = "https://erp.acme.example"
dossier = "998"
user = "DEMO"
password = "demo-test"
recordsql_route = "RecordSqlV2/Read"

[profiles.acme-test.timeouts]
read = 12.5

[profiles.acme-test.actions]
json_service = "WS_JSON_ACME"
"""


@pytest.fixture(autouse=True)
def _no_divalto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables of the machine running the tests must not leak into profiles."""
    for name in list(os.environ):
        if name.upper().startswith("DIVALTO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "divalto.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


def test_the_default_profile_reads_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``DIVALTO_*`` variables, nested ones with ``__``, make the default profile."""
    for name, value in {
        "DIVALTO_SITE": "654321",
        "DIVALTO_ENV": "TEST1",
        "DIVALTO_DOSSIER": "998",
        "DIVALTO_USER": "DEMO",
        "DIVALTO_PASSWORD": "demo",
        "DIVALTO_TIMEOUTS__READ": "9",
        "DIVALTO_RETRY__ATTEMPTS": "2",
        "DIVALTO_ERROR_CODES__TOKEN_INVALID": "[12, 13]",
    }.items():
        monkeypatch.setenv(name, value)

    profile = load_profile()

    assert profile.name == "default"
    assert profile.api_base == "https://api.divaltocloud.com/654321/TEST1/api/v1/"
    assert profile.address_form == "cloud"
    assert profile.password.get_secret_value() == "demo"
    assert (profile.timeouts.read, profile.timeouts.login) == (9.0, 15.0)
    assert profile.retry.attempts == 2
    assert profile.error_codes.token_invalid == frozenset({12, 13})


def test_a_dotenv_file_is_read_when_given(tmp_path: Path) -> None:
    """A ``.env`` file with the profile's prefix gives its settings."""
    env_file = tmp_path / "erp.env"
    env_file.write_text(
        "DIVALTO_BASE_URL=http://127.0.0.1:8000/123456/TEST1/api/v1\n"
        "DIVALTO_DOSSIER=998\nDIVALTO_USER=DEMO\nDIVALTO_PASSWORD=demo\n"
        "DIVALTO_TOKEN_IN_HEADER=true\n",
        encoding="utf-8",
    )

    profile = load_profile(env_file=env_file)

    assert profile.api_base == "http://127.0.0.1:8000/123456/TEST1/api/v1/"
    assert profile.address_form == "base_url"
    assert profile.token_in_header is True


def test_two_named_profiles_live_in_one_toml_file(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``acme-prod`` and ``acme-test`` load from their own tables."""
    monkeypatch.setenv("DIVALTO_ACME_PROD_PASSWORD", "prod-secret")

    prod = load_profile("acme-prod", toml_file=toml_file)
    test = load_profile("acme-test", toml_file=toml_file)

    assert profile_names(toml_file) == ["acme-prod", "acme-test"]
    assert (prod.name, prod.api_base, prod.dossier, prod.user) == (
        "acme-prod",
        "https://api.divaltocloud.com/123456/PROD/api/v1/",
        "100",
        "API_SYNC",
    )
    assert prod.retry == RetryPolicy(attempts=6, total_seconds=30)
    assert prod.key_types == {Flow.SERVICE: ApiKeyType.ERP_GATEWAY_API}
    assert prod.api_key(Flow.SERVICE) == SecretStr("svc-key-prod")
    assert prod.password.get_secret_value() == "prod-secret"
    assert (test.name, test.api_base, test.address_form) == (
        "acme-test",
        "https://erp.acme.example/DhsDivaltoServiceDivaApiRest/api/v1/",
        "on_premises",
    )
    assert test.route(Endpoint.RECORDSQL) == "RecordSqlV2/Read"
    assert test.timeouts.for_kind(OperationKind.READ) == 12.5
    assert test.actions.json_service == "WS_JSON_ACME"
    assert test.actions.xml_service == "SYNCHRO_INFINITY_AGILEO"


def test_environment_variables_win_over_the_toml_file(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DIVALTO_ACME_TEST_TIMEOUTS__READ`` overrides the table, keeps the rest."""
    monkeypatch.setenv("DIVALTO_ACME_TEST_TIMEOUTS__READ", "4")
    monkeypatch.setenv("DIVALTO_ACME_TEST_USER", "OTHER")

    profile = load_profile("acme-test", toml_file=toml_file)

    assert (profile.timeouts.read, profile.user, profile.dossier) == (
        4.0,
        "OTHER",
        "998",
    )


def test_the_profile_name_and_file_may_come_from_the_environment(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DIVALTO_PROFILE`` and ``DIVALTO_CONFIG`` pick the profile to load."""
    monkeypatch.setenv("DIVALTO_PROFILE", "acme-test")
    monkeypatch.setenv("DIVALTO_CONFIG", str(toml_file))

    assert load_profile().name == "acme-test"


def test_secrets_come_from_a_secrets_directory(toml_file: Path, tmp_path: Path) -> None:
    """One file per secret, named like the variable, gives the password."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "divalto_acme_prod_password").write_text("from-a-file")
    (secrets / "divalto_acme_prod_service_api_key").write_text("key-from-a-file")

    profile = load_profile("acme-prod", toml_file=toml_file, secrets_dir=secrets)

    assert profile.password.get_secret_value() == "from-a-file"
    assert profile.api_key(Flow.SERVICE) == SecretStr("key-from-a-file")


def test_defaults_follow_the_protocol() -> None:
    """Token in the body, 45 minutes less 60 s, RecordSql/Read, documented actions."""
    profile = load_profile(base_url="http://erp.local/api/v1/", **ACCOUNT)

    assert (profile.token_ttl_seconds, profile.token_margin_seconds) == (2700, 60)
    assert profile.token_in_header is False
    assert [profile.route(endpoint) for endpoint in Endpoint] == [
        "Authent/Auth",
        "RecordSql/Read",
        "WebService/Execute",
    ]
    assert profile.actions == ServiceActions(
        xml_service="SYNCHRO_INFINITY_AGILEO",
        json_service="WEB_SERVICE_INFINITY",
        create_document="integration_piece",
        create_customer="creation_client",
        update_customer="modification_client",
        transfer_document="transfert_piece",
        stock_movement="mouvement_stock",
        document_state="etat_piece",
        cancel_document="annulation_piece",
    )
    assert profile.error_codes == ErrorCodes()
    assert (profile.trace_header, profile.idempotency_header) == (
        "X-Trace-Id",
        "Idempotency-Key",
    )
    assert profile.allowed_key_types == {
        Flow.RECORDSQL: {ApiKeyType.DATABASE_QUERY, ApiKeyType.ERP_GATEWAY_API},
        Flow.SERVICE: {ApiKeyType.ERP_GATEWAY, ApiKeyType.ERP_GATEWAY_API},
    }


REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {"site": "12345", "env": "PROD"},
        "site: must be six digits, got '12345'",
    ),
    (
        {"site": "123456"},
        "site is set but env is not: the cloud address needs both",
    ),
    (
        {},
        "no address: set base_url, host (on premises) or site and env (cloud)",
    ),
    (
        {"host": "https://erp.example", "site": "123456", "env": "PROD"},
        "host (on premises) and site (cloud) are set together: give one address form",
    ),
    (
        {"base_url": "ftp://erp.example/api/v1/"},
        "base_url: must be an http(s) URL with a host, got 'ftp://erp.example/api/v1/'",
    ),
    (
        {"base_url": "http://e/", "env": "PROD TEST"},
        "env: must be letters and digits only, got 'PROD TEST'",
    ),
    (
        {"base_url": "http://e/", "deadline_seconds": 10},
        "deadline_seconds (10) is shorter than timeouts.login (15)",
    ),
    (
        {"base_url": "http://e/", "deadline_seconds": 50, "timeouts": {"write": 55}},
        "deadline_seconds (50) is shorter than timeouts.write (55)",
    ),
    (
        {"base_url": "http://e/", "retry": {"total_seconds": -1}},
        "retry.total_seconds: Input should be greater than or equal to 0",
    ),
    (
        {"base_url": "http://e/", "retry": {"attempts": 0}},
        "retry.attempts: Input should be greater than or equal to 1",
    ),
    (
        {"base_url": "http://e/", "retry": {"wait_initial": 3, "wait_max": 2}},
        "retry: wait_max (2) is shorter than wait_initial (3)",
    ),
    (
        {"base_url": "http://e/", "token_margin_seconds": 2700},
        "token_margin_seconds (2700) is not shorter than token_ttl_seconds (2700)",
    ),
    (
        {"base_url": "http://e/", "service_api_key": "k-123"},
        "service_api_key is set but key_types.service is not",
    ),
    (
        {
            "base_url": "http://e/",
            "recordsql_api_key": "k-123",
            "key_types": {"recordsql": "HubApi"},
        },
        "key_types.recordsql: key type HubApi is not allowed for flow 'recordsql' "
        "(allowed: DatabaseQuery, ErpGatewayApi)",
    ),
    (
        {"base_url": "http://e/", "key_types": {"service": "Master"}},
        "key_types.service: Input should be 'DatabaseQuery', 'ErpGateway', "
        "'ErpGatewayApi' or 'HubApi'",
    ),
    (
        {"base_url": "http://e/", "timeouts": {"read": 0}},
        "timeouts.read: Input should be greater than 0",
    ),
    (
        {"base_url": "http://e/", "timeouts": {"raed": 3}},
        "timeouts.raed: Extra inputs are not permitted",
    ),
    (
        {"base_url": "http://e/", "user": "  "},
        "user: must not be blank",
    ),
]


@pytest.mark.parametrize(("settings", "problem"), REFUSALS)
def test_an_incoherent_profile_is_refused_naming_the_setting(
    settings: dict[str, Any], problem: str
) -> None:
    """Each contradiction is refused at load time with a message naming it."""
    with pytest.raises(ProfileInvalid) as raised:
        load_profile(**{**ACCOUNT, **settings})

    assert raised.value.message == f"profile 'default' refused: {problem}"


def test_an_incomplete_profile_names_every_missing_setting() -> None:
    """Without an account, the dossier, user and password are named."""
    with pytest.raises(ProfileInvalid) as raised:
        load_profile(base_url="http://e/")

    assert raised.value.message == (
        "profile 'default' refused: dossier: Field required; user: Field required; "
        "password: Field required"
    )


def test_a_refusal_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The message and its cause keep the password out, even next to a bad value."""
    monkeypatch.setenv("DIVALTO_PASSWORD", "Sup3r-Secret!")

    with pytest.raises(ProfileInvalid) as raised:
        load_profile(site="12", env="PROD", dossier="998", user="DEMO")

    assert "Sup3r-Secret!" not in str(raised.value)
    assert "Sup3r-Secret!" not in str(raised.value.__cause__)


def test_an_unknown_setting_in_the_toml_file_is_refused(tmp_path: Path) -> None:
    """A misspelt key in a profile table is named, not ignored."""
    path = tmp_path / "divalto.toml"
    path.write_text(
        textwrap.dedent(
            """
            [profiles.main]
            base_url = "http://e/"
            dosier = "998"
            """
        ),
        encoding="utf-8",
    )

    with pytest.raises(ProfileInvalid) as raised:
        load_profile("main", toml_file=path)

    assert raised.value.message == (
        f"profile 'main' refused: unknown setting(s) dosier in {str(path)!r}"
    )


def test_a_profile_missing_from_the_toml_file_is_refused(toml_file: Path) -> None:
    """Asking for a profile the file does not define names the ones it has."""
    with pytest.raises(ProfileInvalid) as raised:
        load_profile("acme-dev", toml_file=toml_file)

    assert raised.value.message == (
        f"no [profiles.acme-dev] table in {str(toml_file)!r} "
        "(profiles there: acme-prod, acme-test)"
    )


@pytest.mark.parametrize("source", ["toml_file", "env_file", "secrets_dir"])
def test_a_missing_source_is_refused(tmp_path: Path, source: str) -> None:
    """A file or directory given but absent is an error, not an empty source."""
    missing = tmp_path / "nowhere"

    with pytest.raises(ProfileInvalid) as raised:
        load_profile(**{source: missing})

    assert str(missing) in raised.value.message
    assert "does not exist" in raised.value.message


def test_secrets_are_masked_in_every_repr() -> None:
    """``repr``, ``str`` and a JSON dump of a profile show no secret."""
    profile = load_profile(
        base_url="http://e/",
        dossier="998",
        user="DEMO",
        password="Pa55-word-xyz",
        service_api_key="api-key-xyz",
        key_types={"service": "ErpGateway"},
    )

    shown = f"{profile!r} {profile} {profile.model_dump_json()}"

    assert "Pa55-word-xyz" not in shown
    assert "api-key-xyz" not in shown
    assert "password=SecretStr('**********')" in repr(profile)


def test_a_profile_cannot_be_changed_once_built() -> None:
    """Profiles are immutable: a change is a new profile."""
    profile = load_profile(base_url="http://e/", **ACCOUNT)

    with pytest.raises(ValidationError):
        profile.user = "OTHER"  # type: ignore[misc]


def test_environment_prefixes_follow_the_profile_name() -> None:
    """``default`` has ``DIVALTO_``; others add their name in upper case."""
    assert [env_prefix(name) for name in ("default", "acme-prod", "eu_1")] == [
        "DIVALTO_",
        "DIVALTO_ACME_PROD_",
        "DIVALTO_EU_1_",
    ]


def test_backoff_doubles_from_the_initial_wait_up_to_the_cap() -> None:
    """0.5, 1, 2, 4, 8, then 10 s, plus the drawn share of the jitter."""
    policy = RetryPolicy(wait_initial=0.5, wait_max=10, wait_jitter=1.0)

    assert [policy.backoff(n, 0.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 10]
    assert policy.backoff(2, 0.25) == 1.25


def test_a_profile_built_directly_checks_the_same_rules() -> None:
    """``Profile(...)`` refuses a contradiction with pydantic's error."""
    with pytest.raises(ValidationError) as raised:
        Profile(site="123456", **ACCOUNT)

    assert "site is set but env is not" in str(raised.value)

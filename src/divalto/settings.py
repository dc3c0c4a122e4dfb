"""Profiles: what the SDK must know of one tenant in one environment.

A :class:`Profile` holds the ERP's address, the account with its password, the API
keys with their type per flow, the timeouts per kind of operation, the overall
deadline of a call, the retry policy, the token's lifetime, the RecordSql route,
the service action codes and the meaning of the ERP's error numbers. What Divalto
does not document is a setting here, with our assumption as its default.

Addresses take one of three forms:

- cloud: ``site`` (six digits) and ``env`` give
  ``https://api.divaltocloud.com/{site}/{env}/api/v1/``;
- on premises: ``host`` gives ``{host}/DhsDivaltoServiceDivaApiRest/api/v1/``;
- ``base_url``: the full base as given (a simulator, a gateway). ``env`` may still
  be set: the login sends it.

:func:`load_profile` reads a named profile from, highest priority first: keyword
arguments, environment variables, a ``.env`` file, a secrets directory (one file
per setting, named like the variable), and the ``[profiles.NAME]`` table of a TOML
file. Profile ``default`` reads variables ``DIVALTO_USER``, ``DIVALTO_TIMEOUTS__READ``
...; profile ``acme-prod`` reads ``DIVALTO_ACME_PROD_USER`` ... A profile that is
incomplete or contradictory is refused there, by
:class:`~divalto.errors.ProfileInvalid` naming each faulty setting. Secrets are
``SecretStr``: masked in every ``repr``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from divalto.errors import ErrorCodes, ProfileInvalid
from divalto.wire import Endpoint, OperationKind

__all__ = [
    "ApiKeyType",
    "Flow",
    "Profile",
    "RetryPolicy",
    "ServiceActions",
    "Timeouts",
    "env_prefix",
    "load_profile",
    "profile_names",
]

CLOUD_ROOT = "https://api.divaltocloud.com"
ON_PREMISES_PATH = "DhsDivaltoServiceDivaApiRest/api/v1/"
DEFAULT_NAME = "default"

_TOML_LAYER: ContextVar[dict[str, Any] | None] = ContextVar(
    "divalto_toml_layer", default=None
)
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ApiKeyType(StrEnum):
    """Types of myDivalto API keys; their exact scopes are not public."""

    DATABASE_QUERY = "DatabaseQuery"
    ERP_GATEWAY = "ErpGateway"
    ERP_GATEWAY_API = "ErpGatewayApi"
    HUB_API = "HubApi"


class Flow(StrEnum):
    """What an API key is used for: RecordSql reads or business services."""

    RECORDSQL = "recordsql"
    SERVICE = "service"


FLOW_OF_ENDPOINT = {Endpoint.RECORDSQL: Flow.RECORDSQL, Endpoint.SERVICE: Flow.SERVICE}

_DEFAULT_ALLOWED_KEY_TYPES = {
    Flow.RECORDSQL: frozenset({ApiKeyType.DATABASE_QUERY, ApiKeyType.ERP_GATEWAY_API}),
    Flow.SERVICE: frozenset({ApiKeyType.ERP_GATEWAY, ApiKeyType.ERP_GATEWAY_API}),
}


class Timeouts(BaseModel):
    """Seconds allowed to one HTTP exchange, per kind of operation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    login: float = Field(default=15.0, gt=0)
    read: float = Field(default=30.0, gt=0)
    write: float = Field(default=60.0, gt=0)
    service: float = Field(default=60.0, gt=0)
    connect: float = Field(default=5.0, gt=0)
    """Cap on establishing a connection, whatever the kind."""

    def for_kind(self, kind: OperationKind) -> float:
        """The timeout of ``kind``."""
        seconds: float = getattr(self, kind.value)
        return seconds


class RetryPolicy(BaseModel):
    """How transient failures are retried: bounded by attempts and by total time.

    The wait before retry ``n`` (1 for the first) is
    ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + jitter)``, the jitter
    drawn uniformly in ``[0, wait_jitter]``; a server's ``Retry-After`` replaces it.
    ``total_seconds`` 0 means no retry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=4, ge=1)
    total_seconds: float = Field(default=60.0, ge=0)
    wait_initial: float = Field(default=0.5, ge=0)
    wait_max: float = Field(default=10.0, ge=0)
    wait_jitter: float = Field(default=0.5, ge=0)
    wait_exp_base: float = Field(default=2.0, ge=1)

    @model_validator(mode="after")
    def _waits_ordered(self) -> RetryPolicy:
        if self.wait_max < self.wait_initial:
            raise ValueError(
                f"wait_max ({self.wait_max:g}) is shorter than "
                f"wait_initial ({self.wait_initial:g})"
            )
        return self

    def backoff(self, retry_number: int, draw: float) -> float:
        """The wait before retry ``retry_number``; ``draw`` is uniform in [0, 1)."""
        jitter = draw * self.wait_jitter
        try:
            grown = self.wait_initial * self.wait_exp_base ** (retry_number - 1)
        except OverflowError:
            return self.wait_max
        return min(self.wait_max, grown + jitter)


class ServiceActions(BaseModel):
    """Service action codes and business action names, configured per tenant.

    Only ``SYNCHRO_INFINITY_AGILEO``, ``WEB_SERVICE_INFINITY`` and
    ``integration_piece`` appear in Divalto's documentation; the rest are ours.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    xml_service: str = "SYNCHRO_INFINITY_AGILEO"
    json_service: str = "WEB_SERVICE_INFINITY"
    create_document: str = "integration_piece"
    create_customer: str = "creation_client"
    update_customer: str = "modification_client"
    transfer_document: str = "transfert_piece"
    stock_movement: str = "mouvement_stock"
    document_state: str = "etat_piece"
    cancel_document: str = "annulation_piece"


class Profile(BaseSettings):
    """One tenant in one environment; immutable, checked as a whole when built.

    Build it with :func:`load_profile`, or directly with keyword arguments (then
    only the default profile's environment variables apply). Raises
    :class:`pydantic.ValidationError` when built directly, and
    :class:`~divalto.errors.ProfileInvalid` through :func:`load_profile`.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        env_prefix="DIVALTO_",
        env_nested_delimiter="__",
        hide_input_in_errors=True,
    )

    name: str = DEFAULT_NAME
    base_url: str | None = None
    host: str | None = None
    site: str | None = None
    env: str | None = None
    domain: str | None = None
    """Login domain of the account (the cloud sample uses ``divaltocloud``)."""
    dossier: str
    user: str
    password: SecretStr

    recordsql_api_key: SecretStr | None = None
    service_api_key: SecretStr | None = None
    key_types: dict[Flow, ApiKeyType] = Field(default_factory=dict)
    allowed_key_types: dict[Flow, frozenset[ApiKeyType]] = Field(
        default_factory=lambda: dict(_DEFAULT_ALLOWED_KEY_TYPES)
    )
    api_key_header: str = "X-Api-Key"
    """How an API key travels is not public: a header of this name, assumed."""

    timeouts: Timeouts = Timeouts()
    deadline_seconds: float = Field(default=120.0, gt=0)
    """Overall time of one call: token, attempts and waits together."""
    retry: RetryPolicy = RetryPolicy()

    token_ttl_seconds: float = Field(default=45 * 60, gt=0)
    token_margin_seconds: float = Field(default=60.0, ge=0)
    """A token is renewed this long before its lifetime ends."""
    token_in_header: bool = False
    """Also send ``Authorization: Bearer``; the token always goes in the body."""

    recordsql_route: str = "RecordSql/Read"
    actions: ServiceActions = ServiceActions()
    error_codes: ErrorCodes = ErrorCodes()
    trace_header: str = "X-Trace-Id"
    idempotency_header: str = "Idempotency-Key"
    verify_tls: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = InitSettingsSource(settings_cls, init_kwargs=_TOML_LAYER.get() or {})
        return init_settings, env_settings, dotenv_settings, file_secret_settings, toml

    @field_validator("dossier", "user", "recordsql_route")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("password")
    @classmethod
    def _password_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("site")
    @classmethod
    def _six_digits(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{6}", value):
            raise ValueError(f"must be six digits, got {value!r}")
        return value

    @field_validator("env")
    @classmethod
    def _env_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_]+", value):
            raise ValueError(f"must be letters and digits only, got {value!r}")
        return value

    @field_validator("base_url", "host")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        problems = [
            *self._address_problems(),
            *self._deadline_problems(),
            *self._token_problems(),
            *self._key_problems(),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _address_problems(self) -> Iterator[str]:
        forms = [
            label
            for label, given in (
                ("base_url", self.base_url),
                ("host (on premises)", self.host),
                ("site (cloud)", self.site),
            )
            if given
        ]
        if len(forms) > 1:
            yield f"{' and '.join(forms)} are set together: give one address form"
        elif not forms:
            yield "no address: set base_url, host (on premises) or site and env (cloud)"
        elif self.site and not self.env:
            yield "site is set but env is not: the cloud address needs both"

    def _deadline_problems(self) -> Iterator[str]:
        for kind in OperationKind:
            timeout = self.timeouts.for_kind(kind)
            if self.deadline_seconds < timeout:
                yield (
                    f"deadline_seconds ({self.deadline_seconds:g}) is shorter than "
                    f"timeouts.{kind.value} ({timeout:g})"
                )
                return

    def _token_problems(self) -> Iterator[str]:
        if self.token_margin_seconds >= self.token_ttl_seconds:
            yield (
                f"token_margin_seconds ({self.token_margin_seconds:g}) is not shorter "
                f"than token_ttl_seconds ({self.token_ttl_seconds:g})"
            )

    def _key_problems(self) -> Iterator[str]:
        for flow in Flow:
            key_type = self.key_types.get(flow)
            allowed = self.allowed_key_types.get(flow, frozenset())
            if self.api_key(flow) is not None and key_type is None:
                yield f"{flow.value}_api_key is set but key_types.{flow.value} is not"
            elif key_type is not None and key_type not in allowed:
                names = ", ".join(sorted(allowed)) or "none"
                yield (
                    f"key_types.{flow.value}: key type {key_type.value} is not "
                    f"allowed for flow '{flow.value}' (allowed: {names})"
                )

    @property
    def address_form(self) -> Literal["base_url", "on_premises", "cloud"]:
        """Which of the three address forms this profile uses."""
        if self.base_url:
            return "base_url"
        return "on_premises" if self.host else "cloud"

    @property
    def api_base(self) -> str:
        """The API base URL, ending with ``/``; routes are relative to it."""
        if self.base_url:
            return self.base_url.rstrip("/") + "/"
        if self.host:
            return f"{self.host.rstrip('/')}/{ON_PREMISES_PATH}"
        return f"{CLOUD_ROOT}/{self.site}/{self.env}/api/v1/"

    def route(self, endpoint: Endpoint) -> str:
        """The route of ``endpoint`` under :attr:`api_base`."""
        routes = {
            Endpoint.LOGIN: "Authent/Auth",
            Endpoint.RECORDSQL: self.recordsql_route.strip("/"),
            Endpoint.SERVICE: "WebService/Execute",
        }
        return routes[endpoint]

    def api_key(self, flow: Flow) -> SecretStr | None:
        """The API key used for ``flow``, or None."""
        return {
            Flow.RECORDSQL: self.recordsql_api_key,
            Flow.SERVICE: self.service_api_key,
        }[flow]


def env_prefix(name: str) -> str:
    """The environment variable prefix of profile ``name``.

    ``default`` reads ``DIVALTO_...``; ``acme-prod`` reads ``DIVALTO_ACME_PROD_...``.
    """
    if name == DEFAULT_NAME:
        return "DIVALTO_"
    return "DIVALTO_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


def load_profile(
    name: str | None = None,
    *,
    toml_file: str | Path | None = None,
    env_file: str | Path | None = None,
    secrets_dir: str | Path | None = None,
    **overrides: Any,
) -> Profile:
    """Load and check profile ``name`` from its sources (see the module docstring).

    ``name`` defaults to ``$DIVALTO_PROFILE``, then ``default``; ``toml_file`` to
    ``$DIVALTO_CONFIG``. A ``.env`` file is read only when given. ``overrides``
    win over every source. Raises :class:`~divalto.errors.ProfileInvalid`, naming
    each faulty setting, for a profile that is incomplete or contradictory, a file
    or directory that does not exist, or a TOML table with an unknown setting.
    """
    name = name or os.environ.get("DIVALTO_PROFILE") or DEFAULT_NAME
    if not _PROFILE_NAME.match(name):
        raise ProfileInvalid(f"profile name {name!r}: letters, digits, '-' and '_'")
    toml_path = toml_file or os.environ.get("DIVALTO_CONFIG") or None
    table = _toml_table(Path(toml_path), name) if toml_path else {}
    _check_exists(env_file, "env_file", name)
    _check_exists(secrets_dir, "secrets_dir", name)
    with _toml_layer(table):
        try:
            return Profile(
                _env_prefix=env_prefix(name),
                _env_file=env_file,
                _secrets_dir=secrets_dir,
                **{**overrides, "name": name},
            )
        except ValidationError as exc:
            raise ProfileInvalid(_explain(name, exc)) from exc


def profile_names(toml_file: str | Path) -> list[str]:
    """The names of the profiles a TOML file defines, sorted."""
    profiles = _read_toml(Path(toml_file)).get("profiles", {})
    return sorted(profiles) if isinstance(profiles, dict) else []


@contextmanager
def _toml_layer(table: dict[str, Any]) -> Iterator[None]:
    token = _TOML_LAYER.set(table)
    try:
        yield
    finally:
        _TOML_LAYER.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ProfileInvalid(f"TOML file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileInvalid(f"TOML file {str(path)!r} is not valid: {exc}") from exc


def _toml_table(path: Path, name: str) -> dict[str, Any]:
    profiles = _read_toml(path).get("profiles", {})
    table = profiles.get(name) if isinstance(profiles, dict) else None
    if not isinstance(table, dict):
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
        raise ProfileInvalid(
            f"no [profiles.{name}] table in {str(path)!r} "
            f"(profiles there: {known or 'none'})"
        )
    unknown = sorted(set(table) - set(Profile.model_fields) - {"name"})
    if unknown:
        raise ProfileInvalid(
            f"profile {name!r} refused: unknown setting(s) {', '.join(unknown)} "
            f"in {str(path)!r}"
        )
    return table


def _check_exists(path: str | Path | None, setting: str, name: str) -> None:
    if path is not None and not Path(path).exists():
        raise ProfileInvalid(
            f"profile {name!r} refused: {setting} {str(path)!r} does not exist"
        )


def _explain(name: str, exc: ValidationError) -> str:
    problems = [_problem(error) for error in exc.errors()]
    return f"profile {name!r} refused: " + "; ".join(problems)


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message

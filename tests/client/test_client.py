"""The facade: a profile wired to tokens, transport, RecordSql and services."""

from __future__ import annotations

from pathlib import Path

import pytest

import divalto
from divalto.client import AsyncDivalto, Divalto
from divalto.recordsql import RecordQuery
from divalto.testing import RunningSimulator
from tests.client.conftest import ALB0001, sim_profile

ALBUM = RecordQuery("GTRSART.dhoq", "Article").select("REF", "DES", "PUB")


def test_a_client_reads_records_through_its_transport(
    divalto_simulator: RunningSimulator,
) -> None:
    """``records.page`` goes through the client's transport and token."""
    with Divalto(sim_profile(divalto_simulator)) as erp:
        page = erp.records.page(ALBUM.where("Equal_Ref", ref="ALB0001"))

    assert page.records == [ALB0001]
    assert len(divalto_simulator.control.requests(route="auth")) == 1


async def test_an_async_client_reads_records_through_its_transport(
    divalto_simulator: RunningSimulator,
) -> None:
    """The async client reads the same page with one login."""
    async with AsyncDivalto(sim_profile(divalto_simulator)) as erp:
        page = await erp.records.page(ALBUM.where("Equal_Ref", ref="ALB0001"))

    assert page.records == [ALB0001]
    assert len(divalto_simulator.control.requests(route="auth")) == 1


def test_services_take_their_names_and_dossier_from_the_profile(
    divalto_simulator: RunningSimulator,
) -> None:
    """The services of a client use the profile's action codes and dossier."""
    profile = sim_profile(
        divalto_simulator, dossier="998", actions={"json_service": "WS_ACME"}
    )
    with Divalto(profile) as erp:
        assert erp.services.names is profile.actions
        assert erp.services.names.json_service == "WS_ACME"
        assert erp.services.dossier == "998"


def test_a_client_loads_its_profile_by_name(
    divalto_simulator: RunningSimulator, tmp_path: Path
) -> None:
    """``Divalto.load`` reads a named profile from a TOML file, then works."""
    path = tmp_path / "divalto.toml"
    path.write_text(
        f'[profiles.sim-test]\nbase_url = "{divalto_simulator.base_url}"\n'
        'dossier = "998"\nuser = "DEMO"\npassword = "demo"\n',
        encoding="utf-8",
    )

    with Divalto.load("sim-test", toml_file=path) as erp:
        page = erp.records.page(ALBUM.where("Equal_Ref", ref="ALB0001"))

    assert repr(erp) == "Divalto(profile='sim-test')"
    assert page.records == [ALB0001]


def test_a_closed_client_refuses_new_calls(
    divalto_simulator: RunningSimulator,
) -> None:
    """After ``close`` the connections are gone; a call raises, nothing is sent."""
    erp = Divalto(sim_profile(divalto_simulator))
    erp.close()

    with pytest.raises(RuntimeError):
        erp.records.page(ALBUM)
    assert divalto_simulator.control.requests() == []


EXPORTED = [
    "ApiKeyRejected",
    "ApiKeyType",
    "AsyncDivalto",
    "AsyncRecords",
    "AsyncServices",
    "AsyncTokenProvider",
    "AsyncTransport",
    "AuthError",
    "BusinessAction",
    "BusinessError",
    "BusinessRuleRejected",
    "Category",
    "ConnectionFailed",
    "ContractError",
    "CredentialsRejected",
    "Cursor",
    "DeadlineExceeded",
    "Demand",
    "DictionaryNotAuthorised",
    "Divalto",
    "DivaltoError",
    "DuplicateReference",
    "Endpoint",
    "ErrorCodes",
    "Flow",
    "InsufficientStock",
    "OperationKind",
    "PermissionDenied",
    "Profile",
    "ProfileInvalid",
    "QueryRejected",
    "RateLimited",
    "RecordDecodeError",
    "RecordQuery",
    "RecordSchema",
    "Records",
    "ReferenceNotFound",
    "RequestRejected",
    "RequestTimeout",
    "ResponseInvalid",
    "ResponseTruncated",
    "RetryPolicy",
    "ServerUnavailable",
    "ServiceActions",
    "Services",
    "SuggestedAction",
    "Timeouts",
    "TokenProvider",
    "TokenRejected",
    "TransientError",
    "Transport",
    "UnencodableText",
    "VersionConflict",
    "classify",
    "configure_logging",
    "load_profile",
    "profile_names",
    "trace",
]


def test_the_public_names_are_pinned_and_importable() -> None:
    """``divalto.__all__`` is exactly the public surface, and each name resolves."""
    assert divalto.__all__ == EXPORTED
    for name in EXPORTED:
        assert getattr(divalto, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = divalto.Nope  # type: ignore[attr-defined]

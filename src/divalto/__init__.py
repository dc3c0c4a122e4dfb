"""divalto-sdk: the Python SDK and connector for the Divalto infinity ERP.

The public names are importable from here: the clients (:class:`Divalto`,
:class:`AsyncDivalto`), profiles (:func:`load_profile`), the transport, tokens,
errors, RecordSql queries, business services and telemetry helpers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from divalto.auth import AsyncTokenProvider, TokenProvider
    from divalto.client import AsyncDivalto, Divalto
    from divalto.errors import (
        ApiKeyRejected,
        AuthError,
        BusinessError,
        BusinessRuleRejected,
        Category,
        ConnectionFailed,
        ContractError,
        CredentialsRejected,
        DeadlineExceeded,
        DictionaryNotAuthorised,
        DivaltoError,
        DuplicateReference,
        ErrorCodes,
        InsufficientStock,
        PermissionDenied,
        ProfileInvalid,
        QueryRejected,
        RateLimited,
        RecordDecodeError,
        ReferenceNotFound,
        RequestRejected,
        RequestTimeout,
        ResponseInvalid,
        ResponseTruncated,
        ServerUnavailable,
        SuggestedAction,
        TokenRejected,
        TransientError,
        UnencodableText,
        VersionConflict,
        classify,
    )
    from divalto.recordsql import (
        AsyncRecords,
        Cursor,
        RecordQuery,
        Records,
        RecordSchema,
    )
    from divalto.services import AsyncServices, BusinessAction, Demand, Services
    from divalto.settings import (
        ApiKeyType,
        Flow,
        Profile,
        RetryPolicy,
        ServiceActions,
        Timeouts,
        load_profile,
        profile_names,
    )
    from divalto.telemetry import configure_logging, trace
    from divalto.transport import AsyncTransport, Transport
    from divalto.wire import Endpoint, OperationKind

_HOMES = {
    "divalto.auth": ["AsyncTokenProvider", "TokenProvider"],
    "divalto.client": ["AsyncDivalto", "Divalto"],
    "divalto.errors": [
        "ApiKeyRejected",
        "AuthError",
        "BusinessError",
        "BusinessRuleRejected",
        "Category",
        "ConnectionFailed",
        "ContractError",
        "CredentialsRejected",
        "DeadlineExceeded",
        "DictionaryNotAuthorised",
        "DivaltoError",
        "DuplicateReference",
        "ErrorCodes",
        "InsufficientStock",
        "PermissionDenied",
        "ProfileInvalid",
        "QueryRejected",
        "RateLimited",
        "RecordDecodeError",
        "ReferenceNotFound",
        "RequestRejected",
        "RequestTimeout",
        "ResponseInvalid",
        "ResponseTruncated",
        "ServerUnavailable",
        "SuggestedAction",
        "TokenRejected",
        "TransientError",
        "UnencodableText",
        "VersionConflict",
        "classify",
    ],
    "divalto.recordsql": [
        "AsyncRecords",
        "Cursor",
        "RecordQuery",
        "RecordSchema",
        "Records",
    ],
    "divalto.services": ["AsyncServices", "BusinessAction", "Demand", "Services"],
    "divalto.settings": [
        "ApiKeyType",
        "Flow",
        "Profile",
        "RetryPolicy",
        "ServiceActions",
        "Timeouts",
        "load_profile",
        "profile_names",
    ],
    "divalto.telemetry": ["configure_logging", "trace"],
    "divalto.transport": ["AsyncTransport", "Transport"],
    "divalto.wire": ["Endpoint", "OperationKind"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
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


def __getattr__(name: str) -> Any:
    # Imported on first use: the simulator and the pytest plugin live in this
    # package and must not load the client side (httpx, stamina, lxml) to start.
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'divalto' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])

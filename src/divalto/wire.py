"""What the layers above the transport need of it: endpoints, operation kinds and
the call signature, sync and async.

``recordsql`` and ``services`` build request bodies and read answers; the
transport (``divalto.transport``) adds the token, the trace id, timeouts, retries
and error classification. A caller receives the answer envelope only when its
``error`` is 0; every failure arrives as a :mod:`divalto.errors` exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class Endpoint(StrEnum):
    """The ERP's routes, relative to the profile's base URL."""

    LOGIN = "login"
    RECORDSQL = "recordsql"
    SERVICE = "service"


class OperationKind(StrEnum):
    """What a call does; each kind has its own timeout in the profile."""

    LOGIN = "login"
    READ = "read"
    WRITE = "write"
    SERVICE = "service"


class Caller(Protocol):
    def call(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        kind: OperationKind,
        action: str | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` (the token is added) and return the envelope, ``error`` 0."""
        ...


class AsyncCaller(Protocol):
    async def call(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        kind: OperationKind,
        action: str | None = None,
    ) -> dict[str, Any]:
        """The async twin of :meth:`Caller.call`."""
        ...

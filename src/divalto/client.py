"""The facade: :class:`Divalto` and :class:`AsyncDivalto` wire one profile.

A client holds, for one tenant and environment:

- ``profile``: the :class:`~divalto.settings.Profile` it was built from;
- ``transport``: the :class:`~divalto.transport.Transport` (or its async twin)
  that every call goes through, and ``tokens``, its token provider;
- ``records``: RecordSql reads (:class:`~divalto.recordsql.Records`);
- ``services``: business services, XML demands and JSON business actions
  (:class:`~divalto.services.Services`), named by the profile's ``actions``.

Use it as a context manager, or call ``close()`` (``aclose()`` for the async
client) when done. Build it from a loaded profile, or with :meth:`Divalto.load`
from the profile's sources::

    with Divalto.load("acme-prod", toml_file="divalto.toml") as erp:
        page = erp.records.page(RecordQuery("GTRSART.dhoq", "Article"))
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import httpx

from divalto.recordsql import AsyncRecords, Records
from divalto.services import AsyncServices, Services
from divalto.settings import Profile, load_profile
from divalto.transport import AsyncTransport, Transport

__all__ = ["AsyncDivalto", "Divalto"]


class Divalto:
    """A client of one Divalto infinity tenant, for threads.

    ``http``, ``clock``, ``sleep`` and ``draw`` go to the
    :class:`~divalto.transport.Transport` (tests inject them). Safe to share
    between threads.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.profile = profile
        self.transport = Transport(
            profile, http=http, clock=clock, sleep=sleep, draw=draw
        )
        self.tokens = self.transport.tokens
        self.records = Records(self.transport)
        self.services = Services(
            self.transport, names=profile.actions, dossier=profile.dossier
        )

    @classmethod
    def load(cls, name: str | None = None, **sources: Any) -> Self:
        """A client for profile ``name``, read by :func:`~divalto.load_profile`.

        ``sources`` are that function's keyword arguments (``toml_file``,
        ``env_file``, ``secrets_dir``, setting overrides). Raises
        :class:`~divalto.errors.ProfileInvalid`.
        """
        return cls(load_profile(name, **sources))

    def close(self) -> None:
        """Close the connections the client opened."""
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.name!r})"


class AsyncDivalto:
    """The asyncio twin of :class:`Divalto`; use it from one event loop."""

    def __init__(
        self,
        profile: Profile,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.profile = profile
        self.transport = AsyncTransport(
            profile, http=http, clock=clock, sleep=sleep, draw=draw
        )
        self.tokens = self.transport.tokens
        self.records = AsyncRecords(self.transport)
        self.services = AsyncServices(
            self.transport, names=profile.actions, dossier=profile.dossier
        )

    @classmethod
    def load(cls, name: str | None = None, **sources: Any) -> Self:
        """An async client for profile ``name`` (see :meth:`Divalto.load`)."""
        return cls(load_profile(name, **sources))

    async def aclose(self) -> None:
        """Close the connections the client opened."""
        await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.name!r})"

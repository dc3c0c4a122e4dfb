"""Tokens: log in, keep the token, renew it once for everybody, replay once.

Divalto's login (``Authent/Auth``) takes the account's ``user`` and ``password``
(and optionally ``domain`` and ``env``) and answers an ``access_token`` that lives
45 minutes; there is no refresh call, the client logs in again. The token is a JWT
that carries the password in base64: it is as secret as the password, so it is
kept out of every ``repr``, registered with
:func:`divalto.telemetry.register_secret` and never logged.

:class:`TokenProvider` (threads) and :class:`AsyncTokenProvider` (asyncio tasks)
share one shape:

- :meth:`~TokenProvider.token` gives the cached token while more than the
  profile's safety margin is left of its lifetime, counted from when the login was
  sent; otherwise one caller logs in while the others wait for that login's token:
  ten callers meeting an expired token cause one login;
- :meth:`~TokenProvider.run` runs a call with the token and, when the ERP refuses
  the token (:class:`~divalto.errors.TokenRejected`), logs in again once and
  replays the call once; a second refusal is raised;
- rejected credentials are tried once: the :class:`~divalto.errors.CredentialsRejected`
  error names the user, never the password, and later callers get the same refusal
  without another login, so that a wrong password cannot lock the account. A new
  provider (or :meth:`~TokenProvider.reset`) tries again.

Time comes from an injectable monotonic ``clock``, so tests need no waiting.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from divalto.errors import CredentialsRejected, ResponseInvalid, TokenRejected
from divalto.settings import Profile
from divalto.telemetry import logger, register_secret
from divalto.wire import Endpoint

__all__ = ["AsyncTokenProvider", "TokenProvider", "login_body"]

T = TypeVar("T")
Login = Callable[[dict[str, Any]], dict[str, Any]]
AsyncLogin = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Clock = Callable[[], float]


def login_body(profile: Profile) -> dict[str, Any]:
    """The body of ``Authent/Auth`` for ``profile``: it holds the password."""
    body: dict[str, Any] = {
        "user": profile.user,
        "password": profile.password.get_secret_value(),
    }
    if profile.domain:
        body["domain"] = profile.domain
    if profile.env:
        body["env"] = profile.env
    body["infos"] = ""
    return body


@dataclass(frozen=True)
class _Token:
    renew_at: float
    text: str = field(repr=False)


class _TokenState:
    """What both providers share: the cached token, its clock, the refusal latch."""

    def __init__(self, profile: Profile, clock: Clock) -> None:
        self.profile = profile
        self._clock = clock
        self._current: _Token | None = None
        self._refusal: CredentialsRejected | None = None
        register_secret(profile.password)

    def reset(self) -> None:
        """Forget the token and a past refusal of the credentials."""
        self._current = None
        self._refusal = None

    def _usable(self, stale: str | None) -> str | None:
        current = self._current
        if current is None or current.text == stale:
            return None
        return current.text if self._clock() < current.renew_at else None

    def _refuse_again(self) -> None:
        if self._refusal is not None:
            raise CredentialsRejected(
                f"the login of user {self.profile.user!r} was refused before; not "
                "tried again: fix the profile and build a new client",
                endpoint=Endpoint.LOGIN.value,
                action="login",
            ) from self._refusal

    def _keep(self, envelope: dict[str, Any], sent_at: float) -> str:
        text = envelope.get("access_token")
        if not isinstance(text, str) or not text.strip():
            raise ResponseInvalid(
                "the login answer has no access_token",
                endpoint=Endpoint.LOGIN.value,
                action="login",
            )
        register_secret(text)
        lifetime = self.profile.token_ttl_seconds - self.profile.token_margin_seconds
        self._current = _Token(renew_at=sent_at + lifetime, text=text)
        logger.debug(
            "divalto.token.issued", user=self.profile.user, renew_in_s=lifetime
        )
        return text

    def _replay_refused(self, error: TokenRejected) -> TokenRejected:
        return TokenRejected(
            "the ERP refused the token again right after a new login: "
            f"{error.erp_text or error.message}",
            endpoint=error.endpoint,
            action=error.action,
            erp_error=error.erp_error,
            erp_text=error.erp_text,
            http_status=error.http_status,
            trace_id=error.trace_id,
        )

    def __repr__(self) -> str:
        state = "none" if self._current is None else "cached"
        return f"{type(self).__name__}(user={self.profile.user!r}, token={state})"


class TokenProvider(_TokenState):
    """Tokens for threads; ``login`` posts a login body and returns the envelope."""

    def __init__(
        self, profile: Profile, login: Login, *, clock: Clock = time.monotonic
    ) -> None:
        super().__init__(profile, clock)
        self._login = login
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid token, logging in if needed; raises what the login raises."""
        return self._usable(None) or self._obtain(None)

    def run(self, send: Callable[[str], T]) -> T:
        """``send(token)``; on a refused token, one new login and one replay."""
        token = self.token()
        try:
            return send(token)
        except TokenRejected as refused:
            logger.info("divalto.token.refused", erp_error=refused.erp_error)
            token = self._obtain(stale=token)
        try:
            return send(token)
        except TokenRejected as again:
            raise self._replay_refused(again) from again

    def _obtain(self, stale: str | None) -> str:
        with self._lock:
            self._refuse_again()
            usable = self._usable(stale)
            if usable is not None:
                return usable
            sent_at = self._clock()
            try:
                envelope = self._login(login_body(self.profile))
            except CredentialsRejected as refusal:
                self._refusal = refusal
                raise
            return self._keep(envelope, sent_at)


class AsyncTokenProvider(_TokenState):
    """The asyncio twin of :class:`TokenProvider`: one login at a time across tasks.

    Its lock belongs to the event loop that first waits on it: use one provider
    per loop.
    """

    def __init__(
        self, profile: Profile, login: AsyncLogin, *, clock: Clock = time.monotonic
    ) -> None:
        super().__init__(profile, clock)
        self._login = login
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid token, logging in if needed; raises what the login raises."""
        return self._usable(None) or await self._obtain(None)

    async def run(self, send: Callable[[str], Awaitable[T]]) -> T:
        """``await send(token)``; on a refused token, one new login and one replay."""
        token = await self.token()
        try:
            return await send(token)
        except TokenRejected as refused:
            logger.info("divalto.token.refused", erp_error=refused.erp_error)
            token = await self._obtain(stale=token)
        try:
            return await send(token)
        except TokenRejected as again:
            raise self._replay_refused(again) from again

    async def _obtain(self, stale: str | None) -> str:
        async with self._lock:
            self._refuse_again()
            usable = self._usable(stale)
            if usable is not None:
                return usable
            sent_at = self._clock()
            try:
                envelope = await self._login(login_body(self.profile))
            except CredentialsRejected as refusal:
                self._refusal = refusal
                raise
            return self._keep(envelope, sent_at)

"""The transport: every request to the ERP, with its token, limits and retries.

:class:`Transport` (threads) and :class:`AsyncTransport` (asyncio) have one shape
and satisfy :class:`~divalto.wire.Caller` / :class:`~divalto.wire.AsyncCaller`.
A call POSTs a JSON body to the endpoint's route under the profile's base URL,
with the token in the body (``access_token``, and ``Authorization: Bearer`` if
the profile asks), the trace id in the profile's trace header and, for a flow
with an API key, the key in the profile's key header. It returns the answer's
envelope only when its ``error`` is 0; every failure is raised as an error of
:mod:`divalto.errors`, classified by :func:`~divalto.errors.classify`.

Limits. Each HTTP exchange has the timeout of its kind of operation (login, read,
write, service), cut down to what is left of the call's overall deadline; the
deadline covers the token, every attempt and every wait. httpx times each phase
of an exchange (connect, send, each read), so a server that trickles bytes can
hold an exchange longer than its timeout.

Retries. A failure is retried only when its error is ``retryable`` (transient),
within the profile's retry policy: at most ``attempts`` attempts, and no wait that
would reach ``total_seconds`` from the start. stamina runs the loop; the wait
before each new attempt is the transport's own, through an injectable ``sleep``:
exponential with jitter, or the server's ``Retry-After`` (seconds or an HTTP
date). A wait that would pass the deadline is not taken:
:class:`~divalto.errors.DeadlineExceeded` is raised at once, from the error that
asked for it.

What may be repeated. Calls of kind ``read``, ``login`` and ``service`` (a
business service that only reads: an XML demand, a document's state) are retried
on every transient error. A call of kind ``write`` changes the ERP, so
:meth:`Transport.call` repeats it only after a failure that proves it was not
applied (no connection, HTTP 429 or 503, an ERP error envelope); after a failure
whose outcome is unknown (a timeout or a dropped connection once the request was
sent, a cut answer, a proxy's page) the error is raised.
:meth:`Transport.call_write` repeats a write under an idempotency guarantee
instead: the same ``Idempotency-Key`` header on every attempt, and after an
unknown outcome the caller's ``lookup`` reads the ERP by the document's external
reference before the write is sent again; if it finds the document, its answer is
returned and the write is not sent again.
A lookup made while the ERP is still applying the lost request can miss it: the
ERP's own uniqueness check on the reference is the second guard.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Self

import httpx
import stamina

from divalto.auth import AsyncTokenProvider, TokenProvider
from divalto.errors import (
    DeadlineExceeded,
    DivaltoError,
    ErrorContext,
    RateLimited,
    classify,
)
from divalto.settings import FLOW_OF_ENDPOINT, Profile
from divalto.telemetry import current_trace_id, logger, new_trace_id, trace
from divalto.wire import Endpoint, OperationKind

__all__ = ["AsyncLookup", "AsyncTransport", "Lookup", "Transport"]

Envelope = dict[str, Any]
Lookup = Callable[[], Envelope | None]
AsyncLookup = Callable[[], Awaitable[Envelope | None]]
Clock = Callable[[], float]
Draw = Callable[[], float]

_LOGIN = str(Endpoint.LOGIN)
_FREELY_REPEATED = frozenset(
    str(kind)
    for kind in (OperationKind.READ, OperationKind.LOGIN, OperationKind.SERVICE)
)


@dataclass(slots=True)
class _Call:
    """One call in progress: what it sends, its time limits, how it went.

    ``endpoint`` and ``kind`` are the names of the enum members: plain strings
    are cheaper to hash, and a call is on the path of every request.
    """

    endpoint: str
    kind: str
    action: str | None
    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    trace_id: str
    started: float
    deadline: float
    window_end: float
    guarded: bool
    attempts: int = 0
    next_wait: float | None = None
    outcome_unknown: bool = False
    http_status: int | None = None
    recovered: bool = False

    @property
    def context(self) -> ErrorContext:
        """Where the call is, for an error; built only when one needs it."""
        return ErrorContext(
            endpoint=self.endpoint,
            action=self.action,
            trace_id=self.trace_id,
            dictionary=_text(self.body.get("dhoq")),
            user=_text(self.body.get("user")) if self.endpoint == _LOGIN else None,
        )


def _retry_planned(call: _Call, exc: Exception) -> bool:
    """stamina's question after a failure: the transport planned a retry or not."""
    return isinstance(exc, DivaltoError) and call.next_wait is not None


class _TransportCore:
    """What both transports share: requests, retry decisions and logs; no I/O."""

    def __init__(
        self,
        profile: Profile,
        *,
        build_request: Callable[..., httpx.Request],
        clock: Clock,
        draw: Draw,
    ) -> None:
        self.profile = profile
        self._build_request = build_request
        self._clock = clock
        self._draw = draw
        self._urls = {
            str(endpoint): profile.api_base + profile.route(endpoint)
            for endpoint in Endpoint
        }
        self._timeouts = {
            str(kind): self._timeout_of(profile.timeouts.for_kind(kind))
            for kind in OperationKind
        }
        self._static_headers = self._fixed_headers()

    def _fixed_headers(self) -> dict[str, dict[str, str]]:
        """Headers of every request to each endpoint, besides httpx's own.

        httpx sets ``Content-Type: application/json`` for a JSON body.
        """
        headers: dict[str, dict[str, str]] = {}
        for endpoint in Endpoint:
            fixed: dict[str, str] = {}
            flow = FLOW_OF_ENDPOINT.get(endpoint)
            key = self.profile.api_key(flow) if flow else None
            if key is not None:
                fixed[self.profile.api_key_header] = key.get_secret_value()
            headers[str(endpoint)] = fixed
        return headers

    def _timeout_of(self, seconds: float) -> httpx.Timeout:
        return httpx.Timeout(
            seconds, connect=min(seconds, self.profile.timeouts.connect)
        )

    def _start(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        kind: OperationKind,
        action: str | None,
        idempotency_key: str | None = None,
    ) -> _Call:
        now = self._clock()
        name = str(endpoint)
        trace_id = current_trace_id() or new_trace_id()
        headers = {**self._static_headers[name], self.profile.trace_header: trace_id}
        if idempotency_key is not None:
            headers[self.profile.idempotency_header] = idempotency_key
        return _Call(
            endpoint=name,
            kind=str(kind),
            action=action,
            url=self._urls[name],
            body=body,
            headers=headers,
            trace_id=trace_id,
            started=now,
            deadline=now + self.profile.deadline_seconds,
            window_end=now + self.profile.retry.total_seconds,
            guarded=idempotency_key is not None,
        )

    def _request(self, call: _Call, token: str | None) -> httpx.Request:
        """One POST of the call: its body with the token, its headers and timeout."""
        call.attempts += 1
        timeout = self._timeout(call)
        body = call.body if token is None else {**call.body, "access_token": token}
        logger.debug(
            "divalto.attempt",
            endpoint=call.endpoint,
            action=call.action,
            attempt=call.attempts,
            timeout_s=timeout.read,
            fields=list(call.body),
            trace_id=call.trace_id,
        )
        request = self._build_request("POST", call.url, json=body, timeout=timeout)
        # One by one: httpx merges a dict of headers at several times the cost.
        for name, value in call.headers.items():
            request.headers[name] = value
        if token is not None and self.profile.token_in_header:
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def _timeout(self, call: _Call) -> httpx.Timeout:
        left = call.deadline - self._clock()
        if left <= 0:
            raise DeadlineExceeded(
                f"the deadline of {self.profile.deadline_seconds:g} s passed before "
                f"attempt {call.attempts}",
                **call.context.fields(),
            )
        usual = self._timeouts[call.kind]
        if usual.read is not None and usual.read <= left:
            return usual
        return self._timeout_of(left)

    def _envelope(self, call: _Call, response: httpx.Response) -> Envelope:
        call.http_status = response.status_code
        if response.status_code == 200:
            try:
                payload = json.loads(response.content)
            except ValueError:
                payload = None
            if isinstance(payload, dict) and payload.get("error") == 0:
                return payload
        raise classify(response, call.context, codes=self.profile.error_codes)

    def _failure(self, call: _Call, exc: httpx.HTTPError) -> DivaltoError:
        return classify(exc, call.context, codes=self.profile.error_codes)

    def _plan_retry(self, call: _Call, error: DivaltoError) -> None:
        """Decide whether ``error`` is retried and after what wait.

        Sets ``call.next_wait`` when it is; raises DeadlineExceeded, from
        ``error``, when the wait would pass the deadline.
        """
        if not self._may_repeat(call, error):
            return
        if call.attempts >= self.profile.retry.attempts:
            return
        wait = self._wait_before_retry(call, error)
        now = self._clock()
        if now + wait > call.deadline:
            raise DeadlineExceeded(
                f"a retry after {wait:g} s would pass the deadline "
                f"({max(0.0, call.deadline - now):.3f} s left): {error.message}",
                http_status=error.http_status,
                erp_error=error.erp_error,
                **call.context.fields(),
            ) from error
        if now + wait >= call.window_end:
            return
        call.next_wait = wait
        call.outcome_unknown = call.outcome_unknown or _outcome_unknown(error)

    def _may_repeat(self, call: _Call, error: DivaltoError) -> bool:
        if not error.retryable:
            return False
        if call.kind in _FREELY_REPEATED or call.guarded:
            return True
        return not _outcome_unknown(error)

    def _wait_before_retry(self, call: _Call, error: DivaltoError) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        return self.profile.retry.backoff(call.attempts, self._draw())

    def _retrying(self, call: _Call) -> Any:
        """stamina's loop over the retries, once the first attempt asked for one.

        The first attempt runs outside it: most calls succeed at once, and the
        loop's setup would cost each of them more than the rest of the transport.
        """
        policy = self.profile.retry
        # The waits are the transport's own (see the module docstring): stamina's
        # are zero so that it only counts attempts and watches the wall clock.
        return stamina.retry_context(
            on=partial(_retry_planned, call),
            attempts=policy.attempts - 1,
            timeout=policy.total_seconds,
            wait_initial=0.0,
            wait_max=0.0,
            wait_jitter=0.0,
        )

    def _take_wait(self, call: _Call) -> float:
        wait, call.next_wait = call.next_wait, None
        if wait is None:
            return 0.0
        logger.info(
            "divalto.retry",
            endpoint=call.endpoint,
            action=call.action,
            attempt=call.attempts + 1,
            wait_s=round(wait, 3),
            trace_id=call.trace_id,
        )
        return wait

    def _found(self, call: _Call, found: Envelope | None) -> Envelope | None:
        logger.info(
            "divalto.write.lookup",
            endpoint=call.endpoint,
            action=call.action,
            found=found is not None,
            trace_id=call.trace_id,
        )
        call.outcome_unknown = False
        call.recovered = found is not None
        return found

    def _finish(self, call: _Call, error: DivaltoError | None) -> None:
        fields: dict[str, Any] = {
            "endpoint": call.endpoint,
            "action": call.action,
            "kind": call.kind,
            "duration_ms": round((self._clock() - call.started) * 1000, 3),
            "http_status": call.http_status,
            "retry_count": max(0, call.attempts - 1),
            "trace_id": call.trace_id,
        }
        if call.recovered:
            fields["recovered_by_lookup"] = True
        if error is None:
            logger.info("divalto.request", status="ok", **fields)
            return
        logger.warning(
            "divalto.request",
            status="error",
            error_category=error.category.value,
            error_code=error.code,
            erp_error=error.erp_error,
            **fields,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(profile={self.profile.name!r}, "
            f"base={self.profile.api_base!r})"
        )


class Transport(_TransportCore):
    """Calls to the ERP from threads: a :class:`~divalto.wire.Caller`.

    ``http`` is an httpx client to use (its owner closes it); by default the
    transport makes and closes its own. ``clock`` (monotonic seconds), ``sleep``
    and ``draw`` (uniform in [0, 1), for the jitter) are injectable for tests.
    Safe to share between threads.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        http: httpx.Client | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Draw = random.random,
    ) -> None:
        self._owns_http = http is None
        self._http = http or httpx.Client(
            verify=profile.verify_tls, follow_redirects=False
        )
        super().__init__(
            profile, build_request=self._http.build_request, clock=clock, draw=draw
        )
        self._sleep = sleep
        self.tokens = TokenProvider(profile, self._login, clock=clock)

    def call(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        kind: OperationKind,
        action: str | None = None,
    ) -> Envelope:
        """POST ``body`` with the token; return the envelope whose ``error`` is 0.

        Raises the classified :class:`~divalto.errors.DivaltoError` of the last
        attempt, or DeadlineExceeded. ``body`` is not modified.
        """
        return self._run(self._start(endpoint, body, kind, action), None)

    def call_write(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        action: str | None,
        idempotency_key: str,
        lookup: Lookup,
        kind: OperationKind = OperationKind.WRITE,
    ) -> Envelope:
        """A write retried under an idempotency guarantee (see the module docstring).

        ``idempotency_key`` is made once per logical write by the caller and
        sent on every attempt; ``lookup`` reads the ERP by the external reference
        and returns what it found, or None. Returns the write's envelope, or what
        ``lookup`` returned when it found the document after an unknown outcome.
        """
        call = self._start(endpoint, body, kind, action, idempotency_key)
        return self._run(call, lookup)

    def _login(self, body: dict[str, Any]) -> Envelope:
        call = self._start(Endpoint.LOGIN, body, OperationKind.LOGIN, "login")
        return self._run(call, None)

    def _run(self, call: _Call, lookup: Lookup | None) -> Envelope:
        try:
            with trace(call.trace_id):
                if call.endpoint == _LOGIN:
                    envelope = self._attempts(call, None, lookup)
                else:
                    send = partial(self._attempts, call, lookup=lookup)
                    envelope = self.tokens.run(send)
        except DivaltoError as error:
            self._finish(call, error)
            raise
        self._finish(call, None)
        return envelope

    def _attempts(
        self, call: _Call, token: str | None, lookup: Lookup | None
    ) -> Envelope:
        try:
            return self._attempt(call, token, lookup)
        except DivaltoError:
            if call.next_wait is None:
                raise
        for attempt in self._retrying(call):
            with attempt:
                return self._attempt(call, token, lookup)
        raise AssertionError("unreachable: stamina yields until it raises")

    def _attempt(
        self, call: _Call, token: str | None, lookup: Lookup | None
    ) -> Envelope:
        self._pause(call)
        if lookup is not None and call.outcome_unknown:
            found = self._found(call, lookup())
            if found is not None:
                return found
        try:
            return self._exchange(call, token)
        except DivaltoError as error:
            self._plan_retry(call, error)
            raise

    def _pause(self, call: _Call) -> None:
        wait = self._take_wait(call)
        if wait > 0:
            self._sleep(wait)

    def _exchange(self, call: _Call, token: str | None) -> Envelope:
        request = self._request(call, token)
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise self._failure(call, exc) from exc
        return self._envelope(call, response)

    def close(self) -> None:
        """Close the HTTP client if the transport made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport(_TransportCore):
    """The asyncio twin of :class:`Transport`: an :class:`~divalto.wire.AsyncCaller`.

    Use it from one event loop. ``sleep`` is a coroutine function.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Draw = random.random,
    ) -> None:
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=profile.verify_tls, follow_redirects=False
        )
        super().__init__(
            profile, build_request=self._http.build_request, clock=clock, draw=draw
        )
        self._sleep = sleep
        self.tokens = AsyncTokenProvider(profile, self._login, clock=clock)

    async def call(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        kind: OperationKind,
        action: str | None = None,
    ) -> Envelope:
        """The async twin of :meth:`Transport.call`."""
        return await self._run(self._start(endpoint, body, kind, action), None)

    async def call_write(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        *,
        action: str | None,
        idempotency_key: str,
        lookup: AsyncLookup,
        kind: OperationKind = OperationKind.WRITE,
    ) -> Envelope:
        """The async twin of :meth:`Transport.call_write`; ``lookup`` is awaited."""
        call = self._start(endpoint, body, kind, action, idempotency_key)
        return await self._run(call, lookup)

    async def _login(self, body: dict[str, Any]) -> Envelope:
        call = self._start(Endpoint.LOGIN, body, OperationKind.LOGIN, "login")
        return await self._run(call, None)

    async def _run(self, call: _Call, lookup: AsyncLookup | None) -> Envelope:
        try:
            with trace(call.trace_id):
                if call.endpoint == _LOGIN:
                    envelope = await self._attempts(call, None, lookup)
                else:
                    send = partial(self._attempts, call, lookup=lookup)
                    envelope = await self.tokens.run(send)
        except DivaltoError as error:
            self._finish(call, error)
            raise
        self._finish(call, None)
        return envelope

    async def _attempts(
        self, call: _Call, token: str | None, lookup: AsyncLookup | None
    ) -> Envelope:
        try:
            return await self._attempt(call, token, lookup)
        except DivaltoError:
            if call.next_wait is None:
                raise
        async for attempt in self._retrying(call):
            with attempt:
                return await self._attempt(call, token, lookup)
        raise AssertionError("unreachable: stamina yields until it raises")

    async def _attempt(
        self, call: _Call, token: str | None, lookup: AsyncLookup | None
    ) -> Envelope:
        await self._pause(call)
        if lookup is not None and call.outcome_unknown:
            found = self._found(call, await lookup())
            if found is not None:
                return found
        try:
            return await self._exchange(call, token)
        except DivaltoError as error:
            self._plan_retry(call, error)
            raise

    async def _pause(self, call: _Call) -> None:
        wait = self._take_wait(call)
        if wait > 0:
            await self._sleep(wait)

    async def _exchange(self, call: _Call, token: str | None) -> Envelope:
        request = self._request(call, token)
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise self._failure(call, exc) from exc
        return self._envelope(call, response)

    async def aclose(self) -> None:
        """Close the HTTP client if the transport made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _outcome_unknown(error: DivaltoError) -> bool:
    return bool(getattr(error, "outcome_unknown", False))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

"""The simulator's ASGI application: Divalto's routes and the control endpoint.

Divalto routes live under a cloud base ``/{site}/{env}/api/v1/`` or the on-premises
base ``/DhsDivaltoServiceDivaApiRest/api/v1/``, matched without regard to case:
``Authent/Auth``, the RecordSql route (``RecordSql/Read`` unless configured),
``WebService/Execute`` and ``WebHook/{CODE}``. Failures are answered the way Divalto
does, with HTTP 200 and an envelope whose ``error`` is not 0 and whose ``txterr``
names the problem; injected faults are the exception, by design, and so are a path
that names no route (404) and a method a route does not take (405).

The control endpoint, under ``/_simulator/``, is not part of Divalto: it sets faults,
seeds data, moves the clock and reads the request log and the state (see ``control``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import decimal
import json
import math
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from lxml import etree

from divalto.simulator import jsonservices, recordsql, xmlservices
from divalto.simulator.codes import ErrorCode
from divalto.simulator.control import build_control_app
from divalto.simulator.faults import AFTER_EFFECT, FaultKind, FaultRule
from divalto.simulator.requestlog import LoggedRequest
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.tenant import Answer, Call, Tenant, error_answer, ok_envelope
from divalto.simulator.tokens import Claims, TokenError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ON_PREMISES_BASE = "dhsdivaltoservicedivaapirest"
AMOUNT_DIGITS = 60
"""Decimal precision of the business rules: exact for any bounded quantity and price."""
ABORT_EXTENSION = "divalto.abort"
"""Scope extension set by the simulator's server: resets the TCP connection."""

_TOKEN_ERRORS = {
    "expired": ErrorCode.TOKEN_EXPIRED,
    "malformed": ErrorCode.TOKEN_MALFORMED,
    "unknown": ErrorCode.TOKEN_UNKNOWN,
}
_DEMAND_NAME = re.compile(r"""\bnom\s*=\s*["']([^"']+)["']""")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Field names of a business action match without regard to case, so must this.
_BUSINESS_ACTION = re.compile(
    r"""swinfinity["']?\s*:\s*["']([^"']+)["']""", re.IGNORECASE
)
_ANSWERING_BEFORE = frozenset(
    {
        FaultKind.TIMEOUT_BEFORE,
        FaultKind.CONNECTION_RESET,
        FaultKind.HTTP_ERROR,
        FaultKind.RATE_LIMIT,
        FaultKind.ERROR,
    }
)


@dataclass
class Target:
    """Where a request goes: the route kind, the URL's environment, a webhook code."""

    route: str
    env: str = ""
    """The environment named by a cloud URL; empty on premises."""
    webhook_code: str = ""


def resolve(path: str, settings: SimulatorSettings) -> Target | None:
    """Match a request path to a Divalto route, or return None.

    A cloud path whose site is not six ASCII digits (or not in ``settings.sites``)
    or whose environment is not in ``settings.environments`` matches nothing.
    """
    segments = [segment for segment in path.split("/") if segment]
    lowered = [segment.lower() for segment in segments]
    if lowered[:3] == [ON_PREMISES_BASE, "api", "v1"]:
        return _route(segments[3:], "", settings)
    if len(segments) > 4 and lowered[2:4] == ["api", "v1"]:
        site, env = segments[0], segments[1]
        if _site_allowed(site, env, settings):
            return _route(segments[4:], env, settings)
    return None


def _route(rest: list[str], env: str, settings: SimulatorSettings) -> Target | None:
    tail = "/".join(rest).lower()
    if tail == "authent/auth":
        return Target("auth", env)
    if tail == "webservice/execute":
        return Target("service", env)
    if tail == settings.recordsql_route.strip("/").lower():
        return Target("recordsql", env)
    if len(rest) == 2 and rest[0].lower() == "webhook":
        return Target("webhook", env, webhook_code=rest[1])
    return None


def _site_allowed(site: str, env: str, settings: SimulatorSettings) -> bool:
    if settings.sites:
        site_ok = site in settings.sites
    else:
        site_ok = len(site) == 6 and site.isascii() and site.isdigit()
    environments = {name.upper() for name in settings.environments}
    return site_ok and (not environments or env.upper() in environments)


@dataclass
class Incoming:
    """A request on a Divalto route, once its body is read and parsed."""

    target: Target
    body: dict[str, Any]
    query: dict[str, str]
    headers: dict[str, bytes]
    method: str
    entry: LoggedRequest
    """The call's request-log entry, filled as the call goes."""
    problem: Answer | None = None
    """The answer to give instead of the call when the body cannot be used."""


class SimulatorApp:
    """The ASGI callable serving one :class:`Tenant`."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.control = build_control_app(tenant)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hangs: set[asyncio.Future[None]] = set()

    def release_hangs(self) -> None:
        """End every hang of the timeout faults now; callable from any thread.

        The server calls it before stopping, so that calls hanging on purpose do
        not hold the shutdown until uvicorn gives up and cancels them.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel_hangs)

    def _cancel_hangs(self) -> None:
        for hang in list(self._hangs):
            hang.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._loop = asyncio.get_running_loop()
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_simulator") or path in {"/openapi.json", "/"}:
            await self.control(scope, receive, send)
            return
        await self._divalto(scope, receive, send)

    async def _divalto(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = resolve(scope["path"], self.tenant.settings)
        if target is None:
            answer = error_answer(
                ErrorCode.UNKNOWN_ROUTE, f"Unknown route {scope['path']}"
            )
            await _send_json(send, answer.payload, status=404)
            return
        allowed = ("GET", "POST") if target.route == "webhook" else ("POST",)
        if scope["method"] not in allowed:
            await _send_method_not_allowed(send, scope["method"], allowed)
            return
        await self._serve(scope, receive, send, target)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, target: Target
    ) -> None:
        started = time.perf_counter()
        incoming = await self._read(scope, receive, target)
        entry = incoming.entry
        rules = self.tenant.faults.draw(target.route, _action_names(incoming))
        entry.faults = [rule.kind.value for rule in rules]
        # Logged on arrival, so that a call still delayed or hanging is visible.
        self.tenant.log.append(entry)
        try:
            if await self._before(scope, receive, send, rules, entry):
                return
            answer = incoming.problem or self._dispatch(incoming)
            await self._respond(scope, receive, send, answer, rules, entry)
        finally:
            entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            if entry.outcome == "pending":
                entry.outcome = "error"

    async def _read(self, scope: Scope, receive: Receive, target: Target) -> Incoming:
        """Read and parse the request, and open its request-log entry."""
        tenant = self.tenant
        limit = tenant.settings.max_body_bytes
        raw, too_large = await _read_body(receive, limit)
        body, problem = parse_body(
            raw, too_large, limit, empty_ok=target.route == "webhook"
        )
        headers = {
            key.decode("latin-1").lower(): value for key, value in scope["headers"]
        }
        entry = LoggedRequest(
            seq=tenant.log.next_seq(),
            at=tenant.clock.now(),
            route=target.route,
            outcome="pending",
        )
        incoming = Incoming(
            target, body, _query(scope), headers, scope["method"], entry, problem
        )
        _describe(incoming)
        return incoming

    async def _before(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rules: list[FaultRule],
        entry: LoggedRequest,
    ) -> bool:
        """Apply the faults that act before the call; True if one answered instead."""
        tenant = self.tenant
        for rule in rules:
            if rule.kind is FaultKind.LATENCY:
                await asyncio.sleep(tenant.faults.latency_seconds(rule))
            elif rule.kind is FaultKind.TOKEN_EXPIRY:
                tenant.tokens.expire_all(tenant.clock.now_datetime())
        answering = [rule for rule in rules if rule.kind in _ANSWERING_BEFORE]
        if not answering:
            return False
        entry.outcome = "fault"
        await self._answer_with_fault(scope, receive, send, answering[0], entry)
        return True

    async def _answer_with_fault(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rule: FaultRule,
        entry: LoggedRequest,
    ) -> None:
        if rule.kind is FaultKind.TIMEOUT_BEFORE:
            await self._hang_and_drop(scope, receive, rule)
        elif rule.kind is FaultKind.CONNECTION_RESET:
            _abort(scope)
        elif rule.kind is FaultKind.HTTP_ERROR:
            entry.http_status = rule.status
            await _send_html_error(send, rule.status)
        elif rule.kind is FaultKind.RATE_LIMIT:
            entry.http_status = 429
            await _send_rate_limited(send, rule, time.time())
        else:
            entry.http_status = 200
            entry.error = rule.error_code
            payload = {"error": rule.error_code, "txterr": rule.txterr, "infos": ""}
            await _send_json(send, payload)

    def _dispatch(self, incoming: Incoming) -> Answer:
        # Amounts may need more digits than the default 28 (large quantities
        # times large prices, summed over many lines): compute them exactly.
        with decimal.localcontext(prec=AMOUNT_DIGITS):
            return self._answer_call(incoming)

    def _answer_call(self, incoming: Incoming) -> Answer:
        tenant = self.tenant
        target = incoming.target
        if target.route == "auth":
            return login(tenant, incoming.body, url_env=target.env)
        if target.route == "webhook":
            return receive_webhook(
                tenant,
                target.webhook_code,
                incoming.body,
                query=incoming.query,
                method=incoming.method,
            )
        claims = self._authorise(incoming)
        if isinstance(claims, Answer):
            return claims
        incoming.entry.user = claims.user
        call = Call(
            tenant=tenant, dossier=claims.dossier, user=claims.user, body=incoming.body
        )
        if target.route == "recordsql":
            return recordsql.execute(call)
        return execute_service(call)

    def _authorise(self, incoming: Incoming) -> Claims | Answer:
        """The claims of the call's token, or the answer that refuses the call."""
        tenant = self.tenant
        token = incoming.body.get("access_token")
        if token is not None and not isinstance(token, str):
            return error_answer(
                ErrorCode.WRONG_TYPE, "Field 'access_token' must be a string"
            )
        token = _text_or_none(token)
        if token is None and tenant.settings.bearer_header:
            token = _bearer(incoming.headers)
        if not token:
            return error_answer(
                ErrorCode.TOKEN_MISSING, "Token missing: access_token is required"
            )
        try:
            return tenant.tokens.verify(token, tenant.clock.now_datetime())
        except TokenError as exc:
            return error_answer(_TOKEN_ERRORS[exc.kind], exc.message)

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: Answer,
        rules: list[FaultRule],
        entry: LoggedRequest,
    ) -> None:
        after = {rule.kind: rule for rule in rules if rule.kind in AFTER_EFFECT}
        lie = after.get(FaultKind.LYING_ENCODING)
        if answer.xml is not None:
            answer.payload["result"] = xml_result_text(
                answer.xml, lie.encoding if lie else None
            )
        _record_answer(entry, answer)
        timeout = after.get(FaultKind.TIMEOUT_AFTER)
        if timeout is not None:
            entry.outcome = "fault"
            entry.http_status = None
            await self._hang_and_drop(scope, receive, timeout)
            return
        truncated = after.get(FaultKind.TRUNCATED_BODY)
        if truncated is not None:
            entry.outcome = "fault"
            body = _dump(answer.payload)
            await _send_raw(send, body[: int(len(body) * truncated.truncate_ratio)])
            return
        await _send_json(send, answer.payload)

    async def _hang_and_drop(
        self, scope: Scope, receive: Receive, rule: FaultRule
    ) -> None:
        """Hang like a stuck server, then reset the connection.

        The hang ends early when the client gives up, so that an abandoned call
        does not hold the simulator for the whole hang, or when the server stops
        (:meth:`release_hangs`).
        """
        hang = (
            self.tenant.settings.hang_seconds
            if rule.hang_seconds is None
            else rule.hang_seconds
        )
        waiter = asyncio.ensure_future(_disconnected(receive))
        self._hangs.add(waiter)
        try:
            # A hang cut short at shutdown is the fault working, not an error.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(waiter, hang)
        finally:
            self._hangs.discard(waiter)
        _abort(scope)


def _describe(incoming: Incoming) -> None:
    """Fill what the request log knows of a call before it runs."""
    entry, body, target = incoming.entry, incoming.body, incoming.target
    token = body.get("access_token")
    entry.token_present = (isinstance(token, str) and bool(token.strip())) or (
        _bearer(incoming.headers) is not None
    )
    if target.route == "auth":
        entry.action = "login"
        entry.user = _text_or_none(body.get("user"))
    elif target.route == "webhook":
        entry.action = target.webhook_code
    elif target.route == "recordsql":
        dhoq = _text_or_none(body.get("dhoq"))
        query = _text_or_none(body.get("recordsql"))
        entry.action = f"{dhoq}/{query}" if dhoq and query else None
    else:
        entry.service_action = _text_or_none(body.get("action"))
        names = _param_names(body.get("param"))
        entry.action = names[0] if names else None


def _record_answer(entry: LoggedRequest, answer: Answer) -> None:
    entry.outcome = answer.outcome
    entry.error = _error_number(answer.payload.get("error"))
    entry.resultcode = answer.resultcode
    entry.reference = answer.reference
    entry.document = answer.document
    entry.action = answer.action or entry.action
    entry.http_status = 200


def _error_number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return int(ErrorCode.INJECTED)


def login(tenant: Tenant, body: dict[str, Any], *, url_env: str = "") -> Answer:
    """``Authent/Auth``: check the account, issue a token.

    The user name is compared without regard to case, the password exactly. The
    token's ``env`` claim is the body's ``env``, else the environment of the cloud
    URL; its ``domain`` the body's ``domain``, else the account's. A refusal names
    the user, never the password.
    """
    fields: dict[str, str] = {}
    for name in ("user", "password"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return error_answer(
                ErrorCode.WRONG_TYPE, f"Field '{name}' must be a string"
            )
        if not value:
            return error_answer(ErrorCode.MISSING_FIELD, f"Field '{name}' is required")
        fields[name] = value
    user, password = fields["user"], fields["password"]
    for account in tenant.settings.accounts:
        if (
            account.user.upper() == user.upper()
            and account.password.get_secret_value() == password
        ):
            token = tenant.tokens.issue(
                user=account.user,
                password=password,
                env=_text_or_none(body.get("env")) or url_env,
                domain=_text_or_none(body.get("domain")) or account.domain,
                dossier=account.dossier,
                now=tenant.clock.now_datetime(),
                ttl_seconds=tenant.settings.token_ttl_seconds,
            )
            return Answer(payload=ok_envelope(access_token=token), action="login")
    return Answer(
        payload={
            "error": int(ErrorCode.BAD_CREDENTIALS),
            "access_token": "",
            "txterr": f"Authentication refused for user '{user}'",
            "infos": "",
        },
        outcome="error",
        action="login",
    )


def receive_webhook(
    tenant: Tenant,
    code: str,
    body: dict[str, Any],
    *,
    query: dict[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    """``WebHook/{CODE}``: no token; the code, compared without case, is the secret.

    The call is recorded with its query parameters and its body apart, and with
    ``data``, both merged (the body wins on a shared key).
    """
    known = {name.upper(): name for name in tenant.settings.webhook_codes}
    name = known.get(code.upper())
    if name is None:
        return error_answer(ErrorCode.UNKNOWN_WEBHOOK, f"Unknown webhook code '{code}'")
    query = query or {}
    tenant.webhooks.append(
        {
            "code": name,
            "at": tenant.clock.now(),
            "method": method,
            "query": query,
            "body": body,
            "data": {**query, **body},
        }
    )
    return Answer(payload=ok_envelope(result=""), action=name)


def execute_service(call: Call) -> Answer:
    """``WebService/Execute``: route by service action to the XML or JSON family."""
    actions = call.tenant.settings.actions
    problem = _check_text_fields(call.body, ("action", "param"))
    if problem is not None:
        return problem
    action: str = call.body["action"]
    param: str = call.body["param"]
    if action.upper() == actions.xml_service.upper():
        return xmlservices.execute(call, param)
    if action.upper() == actions.json_service.upper():
        return jsonservices.execute(call, param)
    return error_answer(
        ErrorCode.UNKNOWN_SERVICE_ACTION, f"Unknown service action '{action}'"
    )


def _check_text_fields(body: dict[str, Any], names: tuple[str, ...]) -> Answer | None:
    """Refuse a missing field (``action`` may not be blank) or one that is not text."""
    for name in names:
        value = body.get(name)
        if value is None:
            return error_answer(ErrorCode.MISSING_FIELD, f"Field '{name}' is required")
        if not isinstance(value, str):
            return error_answer(
                ErrorCode.WRONG_TYPE, f"Field '{name}' must be a string"
            )
        if name == "action" and not value.strip():
            return error_answer(ErrorCode.MISSING_FIELD, f"Field '{name}' is required")
    return None


def xml_result_text(root: etree._Element, lie: str | None) -> str:
    """Write an XML answer declared ISO-8859-1, as the text the JSON string carries.

    Honest answers are really ISO-8859-1: characters outside it become character
    references. Under the lying-encoding fault the text is encoded as ``lie`` while
    the declaration still says ISO-8859-1, and read back byte per character, as a
    server that mixes up its encodings would send it.
    """
    if lie is None:
        honest = etree.tostring(root, encoding="ISO-8859-1", xml_declaration=True)
        assert isinstance(honest, bytes)
        return honest.decode("latin-1")
    declaration = "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
    text = declaration + etree.tostring(root, encoding="unicode")
    return text.encode(lie, errors="xmlcharrefreplace").decode("latin-1")


class _RefusedJson(ValueError):
    """JSON that parses but that the simulator will not take in."""


def _refuse_constant(name: str) -> Any:
    raise _RefusedJson(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedJson(f"number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > sys.get_int_max_str_digits():
        raise _RefusedJson(f"integer of {len(text)} digits is too long")
    return int(text)


def parse_body(
    raw: bytes, too_large: bool, limit: int, *, empty_ok: bool = False
) -> tuple[dict[str, Any], Answer | None]:
    """Parse a request body into a JSON object, or say why it cannot be used.

    The body must be UTF-8 (a byte-order mark is tolerated) holding one JSON
    object; ``NaN``, infinities, absurdly long integers, lone surrogates and nesting
    deeper than Python's recursion limit are refused. An empty body is refused unless
    ``empty_ok`` (webhooks, whose parameters may all be in the query).
    """
    if too_large:
        return {}, error_answer(
            ErrorCode.BODY_TOO_LARGE, f"Request body larger than {limit} bytes"
        )
    if not raw.strip():
        if empty_ok:
            return {}, None
        return {}, error_answer(
            ErrorCode.MALFORMED_REQUEST, "Request body is empty: JSON expected"
        )
    text = _utf8_text(raw)
    if isinstance(text, Answer):
        return {}, text
    body = _json_value(text)
    if isinstance(body, Answer):
        return {}, body
    surrogate = (
        jsonservices.lone_surrogate(body) if _SURROGATE_ESCAPE.search(text) else None
    )
    if surrogate:
        return {}, error_answer(
            ErrorCode.MALFORMED_REQUEST, f"Malformed JSON body: {surrogate}"
        )
    if not isinstance(body, dict):
        return {}, error_answer(
            ErrorCode.WRONG_TYPE, "Request body must be a JSON object"
        )
    return body, None


def _utf8_text(raw: bytes) -> str | Answer:
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_answer(
            ErrorCode.MALFORMED_REQUEST,
            f"Request body is not UTF-8: byte 0x{raw[exc.start]:02x}"
            f" at offset {exc.start}",
        )


def _json_value(text: str) -> Any:
    """The JSON value of ``text``, or the answer that refuses it."""
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as exc:
        reason = (
            f"{jsonservices.json_problem(exc)} at line {exc.lineno} column {exc.colno}"
        )
    except _RefusedJson as exc:
        reason = str(exc)
    except RecursionError:
        reason = "nested too deeply"
    return error_answer(ErrorCode.MALFORMED_REQUEST, f"Malformed JSON body: {reason}")


def _action_names(incoming: Incoming) -> frozenset[str]:
    """Every name a fault rule's ``action`` may use to point at this call."""
    target, body = incoming.target, incoming.body
    names: set[str] = set()
    if target.route == "webhook":
        names.add(target.webhook_code)
    elif target.route == "recordsql":
        dhoq = _text_or_none(body.get("dhoq")) or ""
        query = _text_or_none(body.get("recordsql")) or ""
        names.update({dhoq, query, f"{dhoq}/{query}"})
    elif target.route == "service":
        names.add(_text_or_none(body.get("action")) or "")
        names.update(_param_names(body.get("param")))
    elif target.route == "auth":
        names.add("login")
    return frozenset(name.lower() for name in names if name)


def _param_names(param: Any) -> list[str]:
    """The XML demand and the JSON business action named in a service ``param``."""
    if not isinstance(param, str):
        return []
    found = (pattern.search(param) for pattern in (_BUSINESS_ACTION, _DEMAND_NAME))
    return [match.group(1) for match in found if match]


def _query(scope: Scope) -> dict[str, str]:
    raw: bytes = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def _bearer(headers: dict[str, bytes]) -> str | None:
    value = headers.get("authorization", b"").decode("latin-1")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _text_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or True as second value once it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit and chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size > limit


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away."""
    while (await receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.01)


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


async def _send(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    length = (b"content-length", str(len(body)).encode("ascii"))
    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, length]}
    )
    await send({"type": "http.response.body", "body": body})


_JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")


async def _send_json(send: Send, payload: dict[str, Any], status: int = 200) -> None:
    await _send(send, status, [_JSON_TYPE], _dump(payload))


async def _send_raw(send: Send, body: bytes) -> None:
    """A well-framed 200 answer whose JSON is cut short, as a faulty proxy sends it."""
    await _send(send, 200, [_JSON_TYPE], body)


async def _send_method_not_allowed(
    send: Send, method: str, allowed: tuple[str, ...]
) -> None:
    answer = error_answer(
        ErrorCode.UNKNOWN_ROUTE,
        f"Method {method} not allowed: use {' or '.join(allowed)}",
    )
    allow = (b"allow", ", ".join(allowed).encode("ascii"))
    await _send(send, 405, [_JSON_TYPE, allow], _dump(answer.payload))


async def _send_html_error(send: Send, status: int) -> None:
    """An HTML error page, as a proxy or a web server in front of the ERP sends."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = f"{status} Error"
    body = (
        f"<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>The upstream server failed.</p></body></html>"
    ).encode("ascii")
    await _send(send, status, [(b"content-type", b"text/html")], body)


async def _send_rate_limited(send: Send, rule: FaultRule, now: float) -> None:
    if rule.retry_after_http_date:
        retry_after = formatdate(now + rule.retry_after_seconds, usegmt=True)
    else:
        retry_after = str(rule.retry_after_seconds)
    await _send(send, 429, [(b"retry-after", retry_after.encode("ascii"))], b"")


def _abort(scope: Scope) -> None:
    """Reset the connection; without the simulator's server, fail the request."""
    abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
    if abort is None:
        raise ConnectionAbortedError("connection dropped by an injected fault")
    abort()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(settings: SimulatorSettings | None = None) -> SimulatorApp:
    """Build a simulator application with its own, freshly seeded tenant."""
    return SimulatorApp(Tenant(settings or SimulatorSettings()))

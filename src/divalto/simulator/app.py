"""The simulator's ASGI application: Divalto's routes and the control endpoint.

Divalto routes live under a cloud base ``/{site}/{env}/api/v1/`` or the on-premises
base ``/DhsDivaltoServiceDivaApiRest/api/v1/``, matched without regard to case:
``Authent/Auth``, the RecordSql route (``RecordSql/Read`` unless configured),
``WebService/Execute`` and ``WebHook/{CODE}``. Failures are answered the way Divalto
does, with HTTP 200 and an envelope whose ``error`` is not 0 and whose ``txterr``
names the problem; injected faults are the exception, by design.

The control endpoint, under ``/_simulator/``, is not part of Divalto: it sets faults,
seeds data, moves the clock and reads the request log and the state (see ``control``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
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
from divalto.simulator.tokens import TokenError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ON_PREMISES_BASE = "dhsdivaltoservicedivaapirest"
ABORT_EXTENSION = "divalto.abort"
"""Scope extension set by the simulator's server: resets the TCP connection."""

_TOKEN_ERRORS = {
    "expired": ErrorCode.TOKEN_EXPIRED,
    "malformed": ErrorCode.TOKEN_MALFORMED,
    "unknown": ErrorCode.TOKEN_UNKNOWN,
}
_DEMAND_NAME = re.compile(r"""\bnom\s*=\s*["']([^"']+)["']""")
_BUSINESS_ACTION = re.compile(r"""swinfinity["']?\s*:\s*["']([^"']+)["']""")


@dataclass
class Target:
    """Where a request goes: the route kind and, for a webhook, its code."""

    route: str
    webhook_code: str = ""


def resolve(path: str, settings: SimulatorSettings) -> Target | None:
    """Match a request path to a Divalto route, or return None."""
    segments = [segment for segment in path.split("/") if segment]
    lowered = [segment.lower() for segment in segments]
    if lowered[:3] == [ON_PREMISES_BASE, "api", "v1"]:
        rest = segments[3:]
    elif len(segments) > 4 and lowered[2:4] == ["api", "v1"]:
        if not _site_allowed(segments[0], segments[1], settings):
            return None
        rest = segments[4:]
    else:
        return None
    tail = "/".join(rest).lower()
    if tail == "authent/auth":
        return Target("auth")
    if tail == settings.recordsql_route.strip("/").lower():
        return Target("recordsql")
    if tail == "webservice/execute":
        return Target("service")
    if len(rest) == 2 and rest[0].lower() == "webhook":
        return Target("webhook", webhook_code=rest[1])
    return None


def _site_allowed(site: str, env: str, settings: SimulatorSettings) -> bool:
    if settings.sites:
        if site not in settings.sites:
            return False
    elif not (len(site) == 6 and site.isdigit()):
        return False
    return not settings.environments or env.upper() in settings.environments


class SimulatorApp:
    """The ASGI callable serving one :class:`Tenant`."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.control = build_control_app(tenant)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        started = time.perf_counter()
        tenant = self.tenant
        target = resolve(scope["path"], tenant.settings)
        if target is None:
            answer = error_answer(
                ErrorCode.UNKNOWN_ROUTE, f"Unknown route {scope['path']}"
            )
            await _send_json(send, answer.payload, status=404)
            return
        method = scope["method"]
        allowed = {"GET", "POST"} if target.route == "webhook" else {"POST"}
        if method not in allowed:
            answer = error_answer(
                ErrorCode.UNKNOWN_ROUTE, f"Method {method} not allowed"
            )
            await _send_json(send, answer.payload, status=405)
            return

        raw, too_large = await _read_body(receive, tenant.settings.max_body_bytes)
        headers = {
            key.decode("latin-1").lower(): value for key, value in scope["headers"]
        }
        entry = LoggedRequest(
            seq=tenant.log.next_seq(),
            at=tenant.clock.now(),
            route=target.route,
            outcome="ok",
        )
        body, problem = _parse_body(raw, too_large, tenant.settings.max_body_bytes)
        if target.route == "webhook":
            body = {**_query(scope), **body}
        entry.token_present = (
            bool(body.get("access_token")) or _bearer(headers) is not None
        )
        names = _action_names(target, body)
        entry.service_action = (
            _text_or_none(body.get("action")) if target.route == "service" else None
        )
        entry.action = _business_name(target, body, names)

        rules = tenant.faults.draw(target.route, names)
        entry.faults = [rule.kind.value for rule in rules]
        try:
            handled = await self._before(scope, send, rules, entry)
            if handled:
                return
            answer = problem or self._dispatch(target, body, headers)
            await self._respond(scope, send, answer, rules, entry)
        finally:
            entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            tenant.log.append(entry)

    async def _before(
        self, scope: Scope, send: Send, rules: list[FaultRule], entry: LoggedRequest
    ) -> bool:
        """Apply the faults that act before the call; True if one answered instead."""
        tenant = self.tenant
        for rule in rules:
            if rule.kind is FaultKind.LATENCY:
                await asyncio.sleep(tenant.faults.latency_seconds(rule))
            elif rule.kind is FaultKind.TOKEN_EXPIRY:
                tenant.tokens.expire_all(tenant.clock.now_datetime())
        for rule in rules:
            if rule.kind in AFTER_EFFECT or rule.kind in {
                FaultKind.LATENCY,
                FaultKind.TOKEN_EXPIRY,
            }:
                continue
            entry.outcome = "fault"
            if rule.kind is FaultKind.TIMEOUT_BEFORE:
                await self._hang_and_drop(scope, rule)
            elif rule.kind is FaultKind.CONNECTION_RESET:
                _abort(scope)
            elif rule.kind is FaultKind.HTTP_ERROR:
                entry.http_status = rule.status
                await _send_html_error(send, rule.status)
            elif rule.kind is FaultKind.RATE_LIMIT:
                entry.http_status = 429
                await _send_rate_limited(send, rule, time.time())
            elif rule.kind is FaultKind.ERROR:
                entry.http_status = 200
                entry.error = rule.error_code
                payload = {"error": rule.error_code, "txterr": rule.txterr, "infos": ""}
                await _send_json(send, payload)
            return True
        return False

    def _dispatch(
        self, target: Target, body: dict[str, Any], headers: dict[str, bytes]
    ) -> Answer:
        tenant = self.tenant
        if target.route == "auth":
            return login(tenant, body)
        if target.route == "webhook":
            return receive_webhook(tenant, target.webhook_code, body)
        token = _text_or_none(body.get("access_token"))
        if token is None and tenant.settings.bearer_header:
            token = _bearer(headers)
        if not token:
            return error_answer(
                ErrorCode.TOKEN_MISSING, "Token missing: access_token is required"
            )
        try:
            claims = tenant.tokens.verify(token, tenant.clock.now_datetime())
        except TokenError as exc:
            return error_answer(_TOKEN_ERRORS[exc.kind], exc.message)
        call = Call(tenant=tenant, dossier=claims.dossier, user=claims.user, body=body)
        if target.route == "recordsql":
            return recordsql.execute(call)
        return execute_service(call)

    async def _respond(
        self,
        scope: Scope,
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
        entry.outcome = answer.outcome
        entry.error = int(answer.payload.get("error", 0) or 0)
        entry.resultcode = answer.resultcode
        entry.reference = answer.reference
        entry.document = answer.document
        entry.action = answer.action or entry.action
        entry.http_status = 200
        timeout = after.get(FaultKind.TIMEOUT_AFTER)
        if timeout is not None:
            entry.outcome = "fault"
            entry.http_status = None
            await self._hang_and_drop(scope, timeout)
            return
        truncated = after.get(FaultKind.TRUNCATED_BODY)
        if truncated is not None:
            entry.outcome = "fault"
            body = _dump(answer.payload)
            await _send_raw(send, body[: int(len(body) * truncated.truncate_ratio)])
            return
        await _send_json(send, answer.payload)

    async def _hang_and_drop(self, scope: Scope, rule: FaultRule) -> None:
        hang = (
            self.tenant.settings.hang_seconds
            if rule.hang_seconds is None
            else rule.hang_seconds
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(hang)
        _abort(scope)


def login(tenant: Tenant, body: dict[str, Any]) -> Answer:
    """``Authent/Auth``: check the account, issue a token."""
    user = body.get("user")
    password = body.get("password")
    for name, value in (("user", user), ("password", password)):
        if not isinstance(value, str) or not value:
            return error_answer(ErrorCode.MISSING_FIELD, f"Field '{name}' is required")
    assert isinstance(user, str)
    assert isinstance(password, str)
    for account in tenant.settings.accounts:
        if (
            account.user.upper() == user.upper()
            and account.password.get_secret_value() == password
        ):
            token = tenant.tokens.issue(
                user=account.user,
                password=password,
                env=_text_or_none(body.get("env")) or "",
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


def receive_webhook(tenant: Tenant, code: str, body: dict[str, Any]) -> Answer:
    """``WebHook/{CODE}``: no token; the code is the secret."""
    known = {name.upper(): name for name in tenant.settings.webhook_codes}
    if code.upper() not in known:
        return error_answer(ErrorCode.UNKNOWN_WEBHOOK, f"Unknown webhook code '{code}'")
    tenant.webhooks.append(
        {"code": known[code.upper()], "at": tenant.clock.now(), "data": body}
    )
    return Answer(payload=ok_envelope(result=""), action=known[code.upper()])


def execute_service(call: Call) -> Answer:
    """``WebService/Execute``: route by service action to the XML or JSON family."""
    actions = call.tenant.settings.actions
    action = call.body.get("action")
    param = call.body.get("param")
    if not isinstance(action, str) or not action.strip():
        return error_answer(ErrorCode.MISSING_FIELD, "Field 'action' is required")
    if not isinstance(param, str):
        return error_answer(ErrorCode.WRONG_TYPE, "Field 'param' must be a string")
    if action.upper() == actions.xml_service.upper():
        return xmlservices.execute(call, param)
    if action.upper() == actions.json_service.upper():
        return jsonservices.execute(call, param)
    return error_answer(
        ErrorCode.UNKNOWN_SERVICE_ACTION, f"Unknown service action '{action}'"
    )


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


def _parse_body(
    raw: bytes, too_large: bool, limit: int
) -> tuple[dict[str, Any], Answer | None]:
    if too_large:
        return {}, error_answer(
            ErrorCode.BODY_TOO_LARGE, f"Request body larger than {limit} bytes"
        )
    if not raw.strip():
        return {}, error_answer(
            ErrorCode.MALFORMED_REQUEST, "Request body is empty: JSON expected"
        )
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        return {}, error_answer(
            ErrorCode.MALFORMED_REQUEST, "Request body is not UTF-8"
        )
    except json.JSONDecodeError as exc:
        message = (
            f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
        return {}, error_answer(ErrorCode.MALFORMED_REQUEST, message)
    if not isinstance(body, dict):
        return {}, error_answer(
            ErrorCode.WRONG_TYPE, "Request body must be a JSON object"
        )
    return body, None


def _action_names(target: Target, body: dict[str, Any]) -> frozenset[str]:
    """Every name a fault rule's ``action`` may use to point at this call."""
    names: set[str] = set()
    if target.route == "webhook":
        names.add(target.webhook_code)
    elif target.route == "recordsql":
        dhoq = _text_or_none(body.get("dhoq")) or ""
        query = _text_or_none(body.get("recordsql")) or ""
        names.update({dhoq, query, f"{dhoq}/{query}"})
    elif target.route == "service":
        names.add(_text_or_none(body.get("action")) or "")
        param = body.get("param")
        if isinstance(param, str):
            for pattern in (_DEMAND_NAME, _BUSINESS_ACTION):
                match = pattern.search(param)
                if match:
                    names.add(match.group(1))
    elif target.route == "auth":
        names.add("login")
    return frozenset(name.lower() for name in names if name)


def _business_name(
    target: Target, body: dict[str, Any], names: frozenset[str]
) -> str | None:
    if target.route == "recordsql":
        dhoq = _text_or_none(body.get("dhoq"))
        query = _text_or_none(body.get("recordsql"))
        return f"{dhoq}/{query}" if dhoq and query else None
    if target.route == "auth":
        return "login"
    return None


def _query(scope: Scope) -> dict[str, Any]:
    raw: bytes = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1")))


def _bearer(headers: dict[str, bytes]) -> str | None:
    value = headers.get("authorization", b"").decode("latin-1")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _text_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_large = True
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), too_large


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


async def _send_json(send: Send, payload: dict[str, Any], status: int = 200) -> None:
    body = _dump(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_raw(send: Send, body: bytes) -> None:
    """A well-framed 200 answer whose JSON is cut short, as a faulty proxy sends it."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_html_error(send: Send, status: int) -> None:
    body = (
        f"<html><head><title>{status} Error</title></head>"
        f"<body><h1>{status} Error</h1><p>The upstream server failed.</p></body></html>"
    ).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_rate_limited(send: Send, rule: FaultRule, now: float) -> None:
    if rule.retry_after_http_date:
        retry_after = formatdate(now + rule.retry_after_seconds, usegmt=True)
    else:
        retry_after = str(rule.retry_after_seconds)
    body = b""
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"retry-after", retry_after.encode("ascii")),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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

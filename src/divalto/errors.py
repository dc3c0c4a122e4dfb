"""Every error the SDK raises, in one tree, each with what to do about it.

::

    DivaltoError
    ├── AuthError                   category "auth": stop and alert a person
    │   ├── CredentialsRejected     the ERP refused the user and password
    │   ├── TokenRejected           the token stayed invalid after one new login
    │   ├── ApiKeyRejected          an API key expired or revoked (HTTP 401)
    │   ├── PermissionDenied        the account may not do this (HTTP 403)
    │   └── DictionaryNotAuthorised a RecordSql dictionary not opened to the API
    ├── ContractError               category "contract": fix the mapping or the data
    │   ├── RequestRejected         the ERP found the request malformed
    │   ├── QueryRejected           unknown RecordSql, case, field or parameter
    │   ├── ResponseInvalid         an answer that breaks the protocol's shape
    │   ├── RecordDecodeError       a RecordSql value that does not fit its schema
    │   ├── UnencodableText         text the ERP's encoding cannot carry
    │   └── ProfileInvalid          a profile incomplete or contradictory, at load
    ├── BusinessError               category "business"
    │   ├── ReferenceNotFound       unknown customer, article, depot... (fix, replay)
    │   └── BusinessRuleRejected    a business check refused the document (escalate)
    │       ├── DuplicateReference  "your reference" already used
    │       ├── VersionConflict     the record changed since it was read
    │       └── InsufficientStock   not enough stock in the depot
    └── TransientError              category "transient": retried automatically
        ├── RequestTimeout          no answer in time (``outcome_unknown`` if sent)
        ├── ConnectionFailed        refused, reset, or dropped connection
        ├── ServerUnavailable       HTTP 5xx, a proxy's HTML page, an empty body
        ├── RateLimited             HTTP 429, with ``retry_after`` in seconds
        ├── ResponseTruncated       a 200 answer whose body is cut short
        └── DeadlineExceeded        the overall deadline ran out: not retried now

Each error carries its ``category``, a stable ``code`` (``"auth.credentials_rejected"``
...), whether it is ``retryable``, the ``suggested_action``, where it happened
(``endpoint``, ``action``), what the ERP said (``erp_error``/``erp_text`` from the
envelope, ``resultcode``/``errormessage`` from a business answer), the HTTP
status and the ``trace_id`` of the call. Secrets never appear in any of them: the
SDK puts none there, and a secret the ERP would echo in its text is masked.

Transient errors also say whether the request may have been applied
(``outcome_unknown``): a write is only sent again when it was not, or under an
idempotency guarantee.

Foreign exceptions (httpx, lxml, json) become these errors in one place:
:func:`classify` for a response or a transport exception.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from divalto.telemetry import mask_text


class Category(StrEnum):
    AUTH = "auth"
    CONTRACT = "contract"
    BUSINESS = "business"
    TRANSIENT = "transient"


class SuggestedAction(StrEnum):
    RETRY = "retry automatically"
    FIX_DATA_THEN_REPLAY = "fix data then replay"
    ESCALATE = "escalate"
    RETRY_LATER = "retry later"
    """A transient error outlasted the retries: replay once the ERP is back."""


class DivaltoError(Exception):
    """Base of every SDK error; see the module docstring for the tree."""

    category: ClassVar[Category]
    code: ClassVar[str] = "divalto.error"
    retryable: ClassVar[bool] = False
    suggested_action: ClassVar[SuggestedAction] = SuggestedAction.ESCALATE

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        action: str | None = None,
        erp_error: int | None = None,
        erp_text: str | None = None,
        resultcode: str | None = None,
        errormessage: str | None = None,
        http_status: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.action = action
        self.erp_error = erp_error
        self.erp_text = erp_text
        self.resultcode = resultcode
        self.errormessage = errormessage
        self.http_status = http_status
        self.trace_id = trace_id

    def __str__(self) -> str:
        where = " ".join(part for part in (self.endpoint, self.action) if part)
        return f"{self.message} [{self.code}{' at ' + where if where else ''}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"

    def to_dict(self) -> dict[str, Any]:
        """Every field, for a log line, a report or a parked flow."""
        return {
            "type": type(self).__name__,
            "category": self.category.value,
            "code": self.code,
            "retryable": self.retryable,
            "suggested_action": self.suggested_action.value,
            "message": self.message,
            "endpoint": self.endpoint,
            "action": self.action,
            "erp_error": self.erp_error,
            "erp_text": self.erp_text,
            "resultcode": self.resultcode,
            "errormessage": self.errormessage,
            "http_status": self.http_status,
            "trace_id": self.trace_id,
        }


class AuthError(DivaltoError):
    category = Category.AUTH
    code = "auth.error"


class CredentialsRejected(AuthError):
    """The ERP refused the login; the message names the user, never the password."""

    code = "auth.credentials_rejected"


class TokenRejected(AuthError):
    code = "auth.token_rejected"


class ApiKeyRejected(AuthError):
    code = "auth.api_key_rejected"


class PermissionDenied(AuthError):
    code = "auth.permission_denied"


class DictionaryNotAuthorised(AuthError):
    """A RecordSql dictionary that an administrator has not opened to the API."""

    code = "auth.dictionary_not_authorised"

    def __init__(self, message: str, *, dictionary: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.dictionary = dictionary


class ContractError(DivaltoError):
    category = Category.CONTRACT
    code = "contract.error"
    suggested_action = SuggestedAction.FIX_DATA_THEN_REPLAY


class RequestRejected(ContractError):
    code = "contract.request_rejected"


class QueryRejected(ContractError):
    code = "contract.query_rejected"


class ResponseInvalid(ContractError):
    code = "contract.response_invalid"
    suggested_action = SuggestedAction.ESCALATE


class RecordDecodeError(ContractError):
    """A RecordSql value that does not decode; names the record and the field."""

    code = "contract.record_decode"

    def __init__(
        self, message: str, *, record: str, field: str, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.record = record
        self.field = field


class UnencodableText(ContractError):
    """Text that the ERP's encoding cannot carry; names the characters and where."""

    code = "contract.unencodable_text"

    def __init__(
        self, message: str, *, field: str, characters: str, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.field = field
        self.characters = characters


class ProfileInvalid(ContractError):
    """A profile refused at load time; the message names every faulty setting."""

    code = "contract.profile_invalid"


class BusinessError(DivaltoError):
    category = Category.BUSINESS
    code = "business.error"


class ReferenceNotFound(BusinessError):
    code = "business.not_found"
    suggested_action = SuggestedAction.FIX_DATA_THEN_REPLAY


class BusinessRuleRejected(BusinessError):
    code = "business.rejected"
    suggested_action = SuggestedAction.ESCALATE


class DuplicateReference(BusinessRuleRejected):
    code = "business.duplicate_reference"


class VersionConflict(BusinessRuleRejected):
    code = "business.version_conflict"


class InsufficientStock(BusinessRuleRejected):
    code = "business.insufficient_stock"


class TransientError(DivaltoError):
    """A failure that may pass; ``outcome_unknown`` if the ERP may have applied it."""

    category = Category.TRANSIENT
    code = "transient.error"
    retryable = True
    suggested_action = SuggestedAction.RETRY

    def __init__(
        self, message: str, *, outcome_unknown: bool = False, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.outcome_unknown = outcome_unknown

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "outcome_unknown": self.outcome_unknown}


class RequestTimeout(TransientError):
    """No answer in time; ``outcome_unknown`` when the request had been sent."""

    code = "transient.timeout"

    def __init__(self, message: str, *, outcome_unknown: bool, **context: Any) -> None:
        super().__init__(message, outcome_unknown=outcome_unknown, **context)


class ConnectionFailed(TransientError):
    """Refused, reset or dropped; ``outcome_unknown`` once the request was sent."""

    code = "transient.connection"


class ServerUnavailable(TransientError):
    code = "transient.server_unavailable"


class RateLimited(TransientError):
    """HTTP 429; ``retry_after`` is the wait the server asked for, in seconds."""

    code = "transient.rate_limited"

    def __init__(
        self, message: str, *, retry_after: float | None, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ResponseTruncated(TransientError):
    code = "transient.response_truncated"


class DeadlineExceeded(TransientError):
    """The overall deadline ran out; not retried, since no time is left."""

    code = "transient.deadline_exceeded"
    retryable = False


class ErrorCodes(BaseModel):
    """What the ERP's ``error`` numbers mean; Divalto publishes no catalogue.

    The defaults are the simulator's numbers, an assumption: a tenant whose numbers
    differ sets its own in the profile. A number in none of the sets is taken as a
    failure of the ERP itself, transient and retried within bounds. ``token_text``
    is a regular expression: a ``txterr`` it finds (case-blind) means the token was
    refused, whatever the number, except on the login itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    credentials_rejected: frozenset[int] = frozenset({10})
    token_invalid: frozenset[int] = frozenset({11, 12, 13, 14})
    dictionary_not_authorised: frozenset[int] = frozenset({20})
    query_rejected: frozenset[int] = frozenset(range(21, 30))
    request_rejected: frozenset[int] = frozenset({1, 2, 3, 4, 5, 30, 31, 40})
    token_text: str = r"\b(token|jeton)\b"  # noqa: S105 - a pattern, not a secret


@dataclass(frozen=True)
class ErrorContext:
    """Where a failure happened, as errors report it; it never holds a secret.

    ``dictionary`` is the RecordSql dictionary the request named and ``user`` the
    account of a login, so that errors can name them.
    """

    endpoint: str | None = None
    action: str | None = None
    trace_id: str | None = None
    dictionary: str | None = None
    user: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "action": self.action,
            "trace_id": self.trace_id,
        }


DEFAULT_CODES = ErrorCodes()
_LOGIN = "login"
_NOT_JSON = object()


def classify(
    outcome: httpx.Response | Exception,
    context: ErrorContext | None = None,
    *,
    codes: ErrorCodes = DEFAULT_CODES,
    now: float | None = None,
) -> DivaltoError:
    """The error that a failed answer or a transport exception stands for.

    This is the one place where foreign failures become errors of the tree; the
    caller raises the result ``from`` the foreign exception. A response is read as:
    an envelope whose ``error`` is not 0, by its number (see :class:`ErrorCodes`);
    else HTTP 401, 403, 429 (with ``Retry-After``), 408, 5xx, other 3xx/4xx; else a
    2xx body that is empty, HTML, cut short or not an envelope. ``now`` (epoch
    seconds) turns a ``Retry-After`` date into a wait. A successful envelope given
    here is reported as :class:`ResponseInvalid`: it is not a failure to classify.
    """
    context = context or ErrorContext()
    if isinstance(outcome, httpx.Response):
        moment = time.time() if now is None else now
        return _from_response(outcome, context, codes, moment)
    return _from_exception(outcome, context)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay seconds or an HTTP date.

    A date in the past means no wait; a value that is neither gives None.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until(text: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def _from_response(
    response: httpx.Response, context: ErrorContext, codes: ErrorCodes, now: float
) -> DivaltoError:
    status = response.status_code
    payload = _decoded(response.content)
    if isinstance(payload, dict) and _error_number(payload) not in (None, 0):
        return _from_envelope(payload, context, codes, status)
    fields = {**context.fields(), "http_status": status}
    if status < 300:
        return _from_body(response.content, payload, fields)
    if status == 401:
        return ApiKeyRejected(
            "the ERP refused the API key (HTTP 401): expired or revoked", **fields
        )
    if status == 403:
        return PermissionDenied("the account may not do this (HTTP 403)", **fields)
    if status == 429:
        return _rate_limited(response, fields, now)
    if status == 408:
        return RequestTimeout(
            "the server gave up waiting for the request (HTTP 408)",
            outcome_unknown=False,
            **fields,
        )
    if status >= 500:
        return ServerUnavailable(
            f"the server failed with HTTP {status} ({_describe(response.content)})",
            outcome_unknown=status != 503,
            **fields,
        )
    return RequestRejected(
        f"the server refused the request with HTTP {status} "
        f"({_describe(response.content)})",
        **fields,
    )


def _rate_limited(
    response: httpx.Response, fields: dict[str, Any], now: float
) -> RateLimited:
    header = response.headers.get("Retry-After")
    wait = retry_after_seconds(header, now)
    asked = f"retry after {wait:g} s" if wait is not None else "no usable Retry-After"
    return RateLimited(
        f"the ERP asked to slow down (HTTP 429, {asked})", retry_after=wait, **fields
    )


def _from_body(content: bytes, payload: Any, fields: dict[str, Any]) -> DivaltoError:
    text = content.strip()
    if not text:
        return ServerUnavailable(
            "an empty answer instead of JSON", outcome_unknown=True, **fields
        )
    if payload is _NOT_JSON and text[:1] in (b"{", b"["):
        return ResponseTruncated(
            f"the answer's JSON is cut short after {len(content)} bytes",
            outcome_unknown=True,
            **fields,
        )
    if payload is _NOT_JSON:
        return ServerUnavailable(
            f"{_describe(content)} instead of JSON", outcome_unknown=True, **fields
        )
    if not isinstance(payload, dict) or "error" not in payload:
        return ResponseInvalid("an answer without the envelope's 'error'", **fields)
    return ResponseInvalid("a successful answer was classified as a failure", **fields)


def _from_envelope(
    payload: dict[str, Any], context: ErrorContext, codes: ErrorCodes, status: int
) -> DivaltoError:
    code = _error_number(payload)
    assert code is not None
    text = mask_text(str(payload.get("txterr") or payload.get("txterror") or ""))
    fields = {
        **context.fields(),
        "erp_error": code,
        "erp_text": text,
        "http_status": status,
    }
    on_login = context.endpoint == _LOGIN
    if code in codes.credentials_rejected:
        return CredentialsRejected(
            f"the ERP refused the login of user {context.user!r}: {text}", **fields
        )
    if code in codes.token_invalid or (
        not on_login and re.search(codes.token_text, text, re.IGNORECASE)
    ):
        return TokenRejected(f"the ERP refused the token: {text}", **fields)
    if code in codes.dictionary_not_authorised:
        name = context.dictionary or "(none named)"
        return DictionaryNotAuthorised(
            f"dictionary {name!r} is not authorised for the API: {text}",
            dictionary=name,
            **fields,
        )
    if code in codes.query_rejected:
        return QueryRejected(f"the ERP rejected the query: {text}", **fields)
    if code in codes.request_rejected:
        return RequestRejected(f"the ERP rejected the request: {text}", **fields)
    return ServerUnavailable(f"the ERP failed with error {code}: {text}", **fields)


def _from_exception(exc: Exception, context: ErrorContext) -> DivaltoError:
    fields = context.fields()
    detail = mask_text(
        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    )
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RequestTimeout(
            f"no connection in time ({detail})", outcome_unknown=False, **fields
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(
            f"no answer in time once the request was sent ({detail})",
            outcome_unknown=True,
            **fields,
        )
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return ConnectionFailed(
            f"could not connect ({detail})", outcome_unknown=False, **fields
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return RequestRejected(f"the request could not be sent ({detail})", **fields)
    if isinstance(exc, httpx.TransportError):
        return ConnectionFailed(
            f"the connection dropped once the request was sent ({detail})",
            outcome_unknown=True,
            **fields,
        )
    return ResponseInvalid(f"the answer could not be read ({detail})", **fields)


def _decoded(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return _NOT_JSON


def _error_number(payload: dict[str, Any]) -> int | None:
    """The envelope's ``error`` as a number; -1 when it is there but unreadable."""
    value = payload.get("error")
    if value is None:
        return None
    if isinstance(value, bool):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _describe(content: bytes) -> str:
    head = content.lstrip()[:200].lower()
    if not head:
        return "an empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page"
    return f"a {len(content)}-byte body"

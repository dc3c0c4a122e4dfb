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
    │   └── UnencodableText         text the ERP's encoding cannot carry
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
status and the ``trace_id`` of the call. Secrets never appear in any of them.

Foreign exceptions (httpx, lxml, json) become these errors in one place:
:func:`classify` for a response or a transport exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class Category(StrEnum):
    AUTH = "auth"
    CONTRACT = "contract"
    BUSINESS = "business"
    TRANSIENT = "transient"


class SuggestedAction(StrEnum):
    RETRY = "retry automatically"
    FIX_DATA_THEN_REPLAY = "fix data then replay"
    ESCALATE = "escalate"


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
    category = Category.TRANSIENT
    code = "transient.error"
    retryable = True
    suggested_action = SuggestedAction.RETRY


class RequestTimeout(TransientError):
    """No answer in time; ``outcome_unknown`` when the request had been sent."""

    code = "transient.timeout"

    def __init__(self, message: str, *, outcome_unknown: bool, **context: Any) -> None:
        super().__init__(message, **context)
        self.outcome_unknown = outcome_unknown


class ConnectionFailed(TransientError):
    code = "transient.connection"


class ServerUnavailable(TransientError):
    code = "transient.server_unavailable"


class RateLimited(TransientError):
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

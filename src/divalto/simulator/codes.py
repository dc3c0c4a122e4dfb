"""Technical error codes of the simulated ERP.

Divalto publishes no catalogue of ``error`` numbers: these numbers are the
simulator's own **[assumed]** choice. What matters to a client is that each failure
has a distinct, stable number and a ``txterr`` naming the problem.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """``error`` values of the envelope; 0 means success."""

    OK = 0
    MALFORMED_REQUEST = 1
    MISSING_FIELD = 2
    WRONG_TYPE = 3
    BODY_TOO_LARGE = 4
    UNKNOWN_ROUTE = 5
    BAD_CREDENTIALS = 10
    TOKEN_MISSING = 11
    TOKEN_EXPIRED = 12
    TOKEN_MALFORMED = 13
    TOKEN_UNKNOWN = 14
    DICTIONARY_NOT_AUTHORISED = 20
    UNKNOWN_DICTIONARY = 21
    UNKNOWN_RECORDSQL = 22
    UNKNOWN_WHERE_CASE = 23
    UNKNOWN_ORDERBY_CASE = 24
    UNKNOWN_HAVING_CASE = 25
    UNKNOWN_FIELD = 26
    MISSING_CASE_PARAMETER = 27
    BAD_CASE_PARAMETER = 28
    BAD_PAGING = 29
    UNKNOWN_SERVICE_ACTION = 30
    BAD_SERVICE_PARAM = 31
    UNKNOWN_WEBHOOK = 40
    INJECTED = 99

"""The simulator's request log: one entry per call on a Divalto route.

An entry is added when the call arrives and completed when it ends, so a call that
a fault delays or hangs is visible (``outcome`` ``pending``) while it lasts.

Tests read it through the control endpoint to assert what reached the ERP, for
example that exactly one order was created under a given reference.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from pydantic import BaseModel


class LoggedRequest(BaseModel):
    """What the simulator saw of one call, and how it answered."""

    seq: int
    at: float
    route: str
    service_action: str | None = None
    action: str | None = None
    outcome: str
    """``ok``, ``error`` (``error`` ≠ 0), ``rejected`` (``resultcode`` ≠ 0 or an XML
    ``<erreur>``), ``fault`` (an injected fault answered instead) or ``pending``
    (the call is still being served: delayed or hanging)."""
    http_status: int | None = None
    error: int = 0
    resultcode: str | None = None
    reference: str | None = None
    """The document's "your reference", when the call carries one."""
    document: str | None = None
    """The document number the call created or read, when there is one."""
    token_present: bool = False
    """Whether the call carried a token, in the body or as a bearer header."""
    user: str | None = None
    """The user a login names, or the user of the token that was accepted."""
    faults: list[str] = []
    duration_ms: float = 0.0


class RequestLog:
    """An append-only list of :class:`LoggedRequest`, bounded in length."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: list[LoggedRequest] = []
        self._seq = 0
        self._limit = limit
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        """Draw the sequence number of a new call (1 for the first)."""
        with self._lock:
            self._seq += 1
            return self._seq

    def append(self, entry: LoggedRequest) -> None:
        """Record a call as it arrives; beyond the length limit the oldest go."""
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def clear(self) -> None:
        """Drop every entry; sequence numbers go on from where they were."""
        with self._lock:
            self._entries.clear()

    def query(self, filters: Mapping[str, str]) -> list[LoggedRequest]:
        """Entries whose fields equal every filter (compared as text, case-blind).

        ``since=N`` keeps the entries whose ``seq`` is above N; a list field
        (``faults``) matches when it holds the value; an absent value is ``none``.
        Raises ValueError for an unknown field or a ``since`` that is not an integer.
        """
        wanted = {
            key: value.lower() for key, value in filters.items() if key != "since"
        }
        unknown = set(wanted) - set(LoggedRequest.model_fields)
        if unknown:
            raise ValueError(
                f"unknown request-log fields: {', '.join(sorted(unknown))}"
            )
        since = _since(filters.get("since"))
        with self._lock:
            entries = list(self._entries)
        return [
            entry for entry in entries if entry.seq > since and _matches(entry, wanted)
        ]


def _since(value: str | None) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"'since' must be an integer, not {value!r}") from None


def _matches(entry: LoggedRequest, wanted: Mapping[str, str]) -> bool:
    for key, value in wanted.items():
        actual = getattr(entry, key)
        if isinstance(actual, list):
            if value not in [item.lower() for item in actual]:
                return False
        elif str(actual).lower() != value:
            return False
    return True

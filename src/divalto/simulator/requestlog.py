"""The simulator's request log: one entry per call on a Divalto route.

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
    ``<erreur>``) or ``fault`` (an injected fault answered instead)."""
    http_status: int | None = None
    error: int = 0
    resultcode: str | None = None
    reference: str | None = None
    """The document's "your reference", when the call carries one."""
    document: str | None = None
    """The document number the call created or read, when there is one."""
    token_present: bool = False
    user: str | None = None
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
        with self._lock:
            self._seq += 1
            return self._seq

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(self, filters: Mapping[str, str]) -> list[LoggedRequest]:
        """Entries whose fields equal every filter (compared as text, case-blind)."""
        wanted = {key: value.lower() for key, value in filters.items()}
        with self._lock:
            entries = list(self._entries)
        return [entry for entry in entries if _matches(entry, wanted)]


def _matches(entry: LoggedRequest, wanted: Mapping[str, str]) -> bool:
    for key, value in wanted.items():
        if key == "since":
            if entry.seq <= int(value):
                return False
            continue
        actual = getattr(entry, key, None)
        if isinstance(actual, list):
            if value not in [item.lower() for item in actual]:
                return False
        elif str(actual).lower() != value:
            return False
    return True

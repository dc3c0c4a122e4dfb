"""The simulator's clock: real time plus an offset that tests may move forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time that can be shifted, so token expiry needs no waiting."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, shifted by the current offset."""
        return time.time() + self._offset

    def now_datetime(self) -> datetime:
        """The shifted time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        """Back to the real time."""
        with self._lock:
            self._offset = 0.0

    @property
    def offset(self) -> float:
        """Seconds the clock runs ahead of the real time."""
        return self._offset

"""The simulator's clock: real time plus an offset that tests may move forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

_LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


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
        """Move the clock forward (or back, with a negative value).

        Raises ValueError when the moved clock would leave the years 1970 to 8999,
        where dates and token expiries can no longer be written.
        """
        with self._lock:
            offset = self._offset + seconds
            if not 0 <= time.time() + offset < _LATEST:
                raise ValueError("'seconds' moves the clock out of the calendar")
            self._offset = offset

    def reset(self) -> None:
        """Back to the real time."""
        with self._lock:
            self._offset = 0.0

    @property
    def offset(self) -> float:
        """Seconds the clock runs ahead of the real time."""
        return self._offset

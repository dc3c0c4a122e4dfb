"""Logs and trace ids: one event per call, one trace id per unit of work, no secret.

Every call through the transport ends with one ``divalto.request`` event: the
``endpoint``, ``action`` and ``kind``, ``duration_ms``, ``status`` (``ok`` or
``error``), ``http_status``, ``retry_count``, ``trace_id`` and, on failure,
``error_category``, ``error_code`` and ``erp_error``. Other events, all dotted:
``divalto.retry`` (a wait before another attempt), ``divalto.attempt`` (DEBUG, one
per HTTP request), ``divalto.token.issued`` (DEBUG), ``divalto.token.refused``,
``divalto.write.lookup`` (an unknown outcome checked by reference).

The trace id lives in a context variable (:func:`trace`), so that every call made
inside one unit of work, in a thread or an asyncio task, sends the same id to the
ERP in a header and logs it.

Secrets are masked by type: settings hold them as ``SecretStr``, the SDK never puts
a body, a password or a token in an event, and :func:`mask_secrets`, a structlog
processor that :func:`configure_logging` installs, is the safety net: it masks the
values of keys that name a secret and every occurrence of a registered secret
(:func:`register_secret`: the password, the API keys and each token issued).
An application that configures structlog itself should add :func:`mask_secrets`
to its processors, after any that format exceptions.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import sys
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "MASK",
    "configure_logging",
    "current_trace_id",
    "logger",
    "mask_secrets",
    "mask_text",
    "new_trace_id",
    "redact",
    "register_secret",
    "trace",
]

MASK = "**********"
"""What replaces a secret, the same mask as ``SecretStr``'s."""

logger = structlog.get_logger("divalto")

_TRACE_ID: ContextVar[str | None] = ContextVar("divalto_trace_id", default=None)
_SECRET_KEY = re.compile(
    r"password|passwd|token|secret|api_?key|authorization|credential", re.IGNORECASE
)
_REGISTRY_SIZE = 64
_SHORTEST_SECRET = 4


def current_trace_id() -> str | None:
    """The trace id bound in this context, or None."""
    return _TRACE_ID.get()


def new_trace_id() -> str:
    """A fresh random trace id: 32 hexadecimal digits.

    Not a secret, so not drawn from the operating system: a draw per call must
    cost no system call.
    """
    return f"{random.getrandbits(128):032x}"


def trace(trace_id: str | None = None) -> _Trace:
    """Bind a trace id (a new one if None) for the calls made inside the block.

    ``with trace() as trace_id: ...``. The binding follows the context: threads
    started inside do not inherit it, asyncio tasks created inside do.
    """
    return _Trace(trace_id or new_trace_id())


class _Trace:
    """The context manager of :func:`trace`; a class, as it runs on every call."""

    __slots__ = ("_token", "trace_id")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self._token: Token[str | None] | None = None

    def __enter__(self) -> str:
        self._token = _TRACE_ID.set(self.trace_id)
        return self.trace_id

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _TRACE_ID.reset(self._token)


class _SecretRegistry:
    """The secret values seen by this process, most recent last, bounded.

    They are kept as one compiled alternation, longest first, so that masking a
    string costs one regular-expression pass whatever their number.
    """

    def __init__(self, size: int) -> None:
        self._values: dict[str, None] = {}
        self._size = size
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < _SHORTEST_SECRET or value in self._values:
            return
        with self._lock:
            self._values[value] = None
            while len(self._values) > self._size:
                del self._values[next(iter(self._values))]
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered)))

    @property
    def search(self) -> Callable[[str], re.Match[str] | None] | None:
        """The search of the registered secrets in a text; None when there is none."""
        pattern = self._pattern
        return None if pattern is None else pattern.search

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


_REGISTRY = _SecretRegistry(_REGISTRY_SIZE)


def register_secret(value: str | SecretStr | None) -> None:
    """Remember a secret so that :func:`mask_secrets` masks it wherever it appears.

    Values shorter than four characters are not registered: masking them would
    blank ordinary words. The registry keeps the 64 most recent values.
    """
    if value is None:
        return
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    _REGISTRY.add(text)


def mask_text(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`MASK`."""
    return _REGISTRY.scrub(text)


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked: by key name, by type, by value.

    Mappings keep their keys; a key that names a secret (``password``,
    ``access_token``, ``api_key``, ``Authorization``...) gets :data:`MASK`.
    """
    if type(value) in _PLAIN:
        return value
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        return _REGISTRY.scrub(value)
    if isinstance(value, Mapping):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


_PLAIN = frozenset({int, float, bool, type(None)})


@functools.lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _redact_item(key: Any, item: Any) -> Any:
    if isinstance(key, str) and _names_a_secret(key) and item not in (None, ""):
        return MASK
    return redact(item)


def mask_secrets(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """structlog processor: mask secrets in every field (see :func:`redact`)."""
    search = _REGISTRY.search
    for key, item in event_dict.items():
        if _names_a_secret(key):
            if item is not None and item != "":
                event_dict[key] = MASK
        elif type(item) is str:
            if search is not None and search(item):
                event_dict[key] = _REGISTRY.scrub(item)
        elif type(item) not in _PLAIN:
            event_dict[key] = redact(item)
    return event_dict


def configure_logging(
    *,
    level: str | int = "INFO",
    json: bool = True,
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """Configure structlog for an application of the SDK, with secrets masked.

    JSON lines (or a readable console format) on ``stream`` (stderr by default),
    events below ``level`` dropped at no cost. ``cache`` keeps each logger once
    built, which is faster but ignores a later reconfiguration (tests pass False).
    This changes structlog's global configuration: a library must not call it.
    """
    exceptions: structlog.typing.Processor = structlog.processors.format_exc_info
    renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer(colors=False)
    if json:
        # Frame locals could hold a password: the traceback goes without them.
        exceptions = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exceptions,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level(level)),
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=cache,
    )


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    known = logging.getLevelNamesMapping()
    if level.upper() not in known:
        raise ValueError(f"unknown log level {level!r}")
    return known[level.upper()]

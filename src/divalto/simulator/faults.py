"""Fault injection: rules that make some calls slow, fail or lie.

A rule names a fault ``kind``, which calls it applies to (a ``route`` and an
``action``, each optional) and when it fires: on the ``nth`` matching call, or with a
``probability`` (not both), at most ``times`` times. Draws come from one random
generator seeded by the simulator's ``seed``, so a run with the same rules and the
same calls fires the same faults.

``action`` matches, without regard to case, any name the call carries: the service
action (``WEB_SERVICE_INFINITY``), the business action (``integration_piece``), the
XML demand (``INTERROGER_STOCK``), the dictionary (``GTRSART.dhoq``), the RecordSql
(``Article``) or both joined by a slash (``GTRSART.dhoq/Article``), or the webhook code.

Kinds, and when they act:

==================  ======  ============================================================
kind                when    effect
==================  ======  ============================================================
latency             before  waits ``latency_ms`` (or a uniform draw up
                            to ``latency_max_ms``), then the call goes on
token_expiry        before  expires every token issued so far; the call then meets it
timeout_before      before  hangs without applying the call, then drops
                            the connection (sooner if the client gives up)
http_error          before  answers HTTP ``status`` (500, 502, 503...) with
                            an HTML page
rate_limit          before  answers 429 with ``Retry-After`` in seconds or
                            as an HTTP date
connection_reset    before  resets the TCP connection without an answer
error               before  answers HTTP 200 with ``error`` = ``error_code``
                            and ``txterr``
timeout_after       after   applies the call, then hangs and drops the connection
truncated_body      after   applies the call, then sends only part of the answer
lying_encoding      after   XML answers keep their ISO-8859-1 declaration but their text
                            is encoded as ``encoding`` (``utf-8`` or ``windows-1252``)
==================  ======  ============================================================
"""

from __future__ import annotations

import random
import threading
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultKind(StrEnum):
    """What a fault does to the calls it hits (see the table above)."""

    LATENCY = "latency"
    TOKEN_EXPIRY = "token_expiry"  # noqa: S105 - a fault name, not a secret
    TIMEOUT_BEFORE = "timeout_before"
    HTTP_ERROR = "http_error"
    RATE_LIMIT = "rate_limit"
    CONNECTION_RESET = "connection_reset"
    ERROR = "error"
    TIMEOUT_AFTER = "timeout_after"
    TRUNCATED_BODY = "truncated_body"
    LYING_ENCODING = "lying_encoding"


AFTER_EFFECT = frozenset(
    {FaultKind.TIMEOUT_AFTER, FaultKind.TRUNCATED_BODY, FaultKind.LYING_ENCODING}
)

Route = Literal["auth", "recordsql", "service", "webhook"]


class FaultRule(BaseModel):
    """One fault and the calls it applies to."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    route: Route | None = None
    action: str | None = None
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    """Chance of firing on each matching call; not combined with ``nth``."""
    nth: int | None = Field(default=None, ge=1)
    """Fire on the Nth matching call only (1 is the first), counted since added."""
    times: int | None = Field(default=None, ge=1)
    """Fire at most this many times."""

    latency_ms: float = Field(default=0.0, ge=0.0)
    latency_max_ms: float | None = Field(default=None, ge=0.0)
    status: int = Field(default=503, ge=400, le=599)
    retry_after_seconds: int = Field(default=1, ge=0)
    retry_after_http_date: bool = False
    error_code: int = Field(default=99, ge=1)
    txterr: str = "Injected failure"
    encoding: Literal["utf-8", "windows-1252"] = "utf-8"
    truncate_ratio: float = Field(default=0.5, ge=0.0, lt=1.0)
    hang_seconds: float | None = Field(default=None, ge=0.0)
    """Overrides the simulator's ``hang_seconds`` for the timeout kinds."""

    @model_validator(mode="after")
    def _consistent(self) -> FaultRule:
        if self.latency_max_ms is not None and self.latency_max_ms < self.latency_ms:
            raise ValueError("latency_max_ms must not be below latency_ms")
        if self.nth is not None and self.probability != 1.0:
            raise ValueError("nth and probability exclude each other")
        return self

    def matches(self, route: str, names: frozenset[str]) -> bool:
        """Whether a call on ``route`` carrying the (lower-case) ``names`` is hit."""
        if self.route is not None and self.route != route:
            return False
        return self.action is None or self.action.lower() in names


class FaultState(BaseModel):
    """A rule as the control endpoint shows it: with its id and its counters."""

    id: int
    rule: FaultRule
    matched: int = 0
    fired: int = 0


class FaultPlan:
    """The active rules of one simulator, and the seeded draws that fire them."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._rules: list[FaultState] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultState:
        """Activate a rule; return it with its new id."""
        with self._lock:
            state = FaultState(id=self._next_id, rule=rule)
            self._next_id += 1
            self._rules.append(state)
            return state.model_copy()

    def remove(self, rule_id: int) -> bool:
        """Drop one rule; False if there was none with that id."""
        with self._lock:
            before = len(self._rules)
            self._rules = [state for state in self._rules if state.id != rule_id]
            return len(self._rules) != before

    def clear(self, *, reseed: bool = True) -> None:
        """Drop every rule and, unless told not to, restart the draws from the seed."""
        with self._lock:
            self._rules.clear()
            if reseed:
                self._random = random.Random(self._seed)

    def rules(self) -> list[FaultState]:
        """Copies of the active rules, with their counters."""
        with self._lock:
            return [state.model_copy() for state in self._rules]

    def draw(self, route: str, names: frozenset[str]) -> list[FaultRule]:
        """Count the call against every matching rule; return the rules that fire."""
        fired: list[FaultRule] = []
        with self._lock:
            for state in self._rules:
                rule = state.rule
                if not rule.matches(route, names):
                    continue
                state.matched += 1
                if rule.times is not None and state.fired >= rule.times:
                    continue
                if rule.nth is not None:
                    hit = state.matched == rule.nth
                else:
                    hit = self._random.random() < rule.probability
                if hit:
                    state.fired += 1
                    fired.append(rule)
        return fired

    def latency_seconds(self, rule: FaultRule) -> float:
        """The delay of a latency rule: fixed, or drawn between its bounds."""
        if rule.latency_max_ms is None:
            return rule.latency_ms / 1000
        with self._lock:
            drawn = self._random.uniform(rule.latency_ms, rule.latency_max_ms)
        return drawn / 1000

"""One simulated tenant: its settings, state, clock, tokens, faults and request log.

Everything a route handler needs comes through a :class:`Tenant`, and a handler's
answer goes back as a :class:`Answer`. The ASGI application in ``app`` owns the wire;
the handlers in ``recordsql``, ``xmlservices`` and ``jsonservices`` own the Divalto
behaviour and never see HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from divalto.simulator.clock import Clock
from divalto.simulator.codes import ErrorCode
from divalto.simulator.faults import FaultPlan
from divalto.simulator.requestlog import RequestLog
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import Store
from divalto.simulator.tokens import TokenIssuer


class Tenant:
    """The whole state of one simulator; :meth:`reset` brings it back to the seed."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.tokens = TokenIssuer(settings.signing_key.get_secret_value().encode())
        self.faults = FaultPlan(settings.seed)
        self._add_start_faults()
        self.log = RequestLog()
        self.webhooks: list[dict[str, Any]] = []
        self.store = self._seeded_store()

    def _seeded_store(self) -> Store:
        store = Store()
        store.load_builtin()
        if self.settings.seed_data:
            store.load_file(self.settings.seed_data)
        return store

    def _add_start_faults(self) -> None:
        for rule in self.settings.faults:
            self.faults.add(rule.model_copy())

    def reset(self) -> None:
        """Back to the seed data, the start faults only, an empty log, the real time."""
        self.store = self._seeded_store()
        self.faults.clear()
        self._add_start_faults()
        self.log.clear()
        self.webhooks.clear()
        self.clock.reset()
        self.tokens.forget_all()


@dataclass
class Call:
    """A call on a Divalto route, as the handlers see it."""

    tenant: Tenant
    dossier: str
    user: str
    body: dict[str, Any]


@dataclass
class Answer:
    """A handler's answer, with what the request log should record of it.

    ``payload`` is the JSON envelope. For an XML demand, ``xml`` holds the answer
    tree and the application writes it into ``payload["result"]`` in the encoding
    the settings and faults ask for.
    """

    payload: dict[str, Any]
    outcome: str = "ok"
    action: str | None = None
    resultcode: str | None = None
    reference: str | None = None
    document: str | None = None
    xml: etree._Element | None = field(default=None, repr=False)


def error_answer(code: ErrorCode, txterr: str, **extra: Any) -> Answer:
    """An envelope with ``error`` ≠ 0, as Divalto answers a failed call."""
    return Answer(
        payload={"error": int(code), "txterr": txterr, "infos": "", **extra},
        outcome="error",
    )


def ok_envelope(**fields: Any) -> dict[str, Any]:
    return {"error": 0, "txterr": "", **fields, "infos": ""}

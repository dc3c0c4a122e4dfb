"""The embedded ERP: a simulator in this process whose state outlives the run.

With no profile, ``divalto sync`` runs against a simulator served on a free
loopback port (``127.0.0.1``) from a background thread. Its state is a SQLite
file in the state directory (``erp.sqlite3``), made and loaded with the
simulator's seed data on the first run, then kept: a second run of the same
input finds the customers, orders and invoices of the first, as the journal
next to it does, and creates nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from divalto.flows.worker import SIMULATOR_DOSSIER, simulator_profile
from divalto.settings import Profile
from divalto.simulator import SimulatorServer
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import Store

__all__ = ["ERP_FILE", "EmbeddedErp"]

ERP_FILE = "erp.sqlite3"
"""The embedded ERP's state, in the state directory."""

_KINDS = {
    number: kind
    for kind, number in SimulatorSettings().document_types.model_dump().items()
    if isinstance(number, int)
}


class EmbeddedErp:
    """A simulator serving on loopback, its state in ``state_dir``/``erp.sqlite3``.

    Use it as a context manager; :attr:`profile` is the client profile of its
    demo account. Raises RuntimeError when the server does not start.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / ERP_FILE
        self._server: SimulatorServer | None = None
        self._store: Store | None = None

    def start(self) -> EmbeddedErp:
        """Open (or make and seed) the state file, then serve it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        store = Store(self.path)
        if store.created:
            store.load_builtin()
        server = SimulatorServer()
        server.tenant.store = store
        self._store, self._server = store, server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the state file."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def base_url(self) -> str:
        return self._running().base_url

    @property
    def profile(self) -> Profile:
        """The profile of the simulator's demo account (dossier 998)."""
        return simulator_profile(self.base_url)

    def seed(self, records: dict[str, Any]) -> dict[str, int]:
        """Load seed records (see :mod:`divalto.sync.seeding`); rows per table.

        A stock row already in the ERP is left as it is: its level is the
        outcome of the deliveries made so far, which a second run must not undo.
        """
        store = self._store_open()
        held = {
            (row["REF"], row["SREF1"], row["SREF2"], row["DEPO"])
            for row in store.read(
                "SELECT REF, SREF1, SREF2, DEPO FROM STOCK WHERE DOS = ?",
                (SIMULATOR_DOSSIER,),
            )
        }
        stock = [
            row
            for row in records.get("STOCK", [])
            if (row["REF"], row.get("SREF1", ""), row.get("SREF2", ""), row["DEPO"])
            not in held
        ]
        customers = {
            row["TIERS"]
            for row in store.read(
                "SELECT TIERS FROM CLI WHERE DOS = ?", (SIMULATOR_DOSSIER,)
            )
        }
        # A customer already in the ERP keeps what the flows made of it.
        fresh = [row for row in records.get("CLI", []) if row["TIERS"] not in customers]
        data = {**records, "STOCK": stock, "dossier": SIMULATOR_DOSSIER}
        if "CLI" in records:
            data["CLI"] = fresh
        return store.load(data)

    def customer_code(self, reference: str) -> str:
        """The code of the customer with external reference ``reference``.

        The code it has, else a new one drawn as the ERP numbers the customers
        it creates (the prefix and the next free number of its counter), for a
        customer seeded before the flows run.
        """
        store = self._store_open()
        found = store.read(
            "SELECT TIERS FROM CLI WHERE DOS = ? AND REFEXT = ? "
            "ORDER BY CLI_ID LIMIT 1",
            (SIMULATOR_DOSSIER, reference),
        )
        if found:
            return str(found[0]["TIERS"])
        settings = self._running().tenant.settings
        prefix, digits = settings.customer_code_prefix, settings.customer_code_digits
        with store.transaction() as db:
            while True:
                number = store.next_number(db, SIMULATOR_DOSSIER, "CLI.TIERS")
                code = f"{prefix}{number:0{digits}d}"
                taken = db.execute(
                    "SELECT 1 FROM CLI WHERE DOS = ? AND TIERS = ?",
                    (SIMULATOR_DOSSIER, code),
                ).fetchone()
                if taken is None:
                    return code

    def documents(self) -> Counter[str]:
        """How many documents the ERP holds, per kind (``order``, ``invoice``...)."""
        rows = self._store_open().read(
            "SELECT PICOD, COUNT(*) AS N FROM ENT WHERE DOS = ? GROUP BY PICOD",
            (SIMULATOR_DOSSIER,),
        )
        return Counter(
            {_KINDS.get(row["PICOD"], str(row["PICOD"])): row["N"] for row in rows}
        )

    def _running(self) -> SimulatorServer:
        if self._server is None:
            raise RuntimeError("the embedded ERP is not started")
        return self._server

    def _store_open(self) -> Store:
        if self._store is None:
            raise RuntimeError("the embedded ERP is not started")
        return self._store

    def __enter__(self) -> EmbeddedErp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

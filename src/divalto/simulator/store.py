"""The simulator's state: one SQLite database per simulator, in memory or a file.

Tables and columns carry Divalto's names (``CLI``, ``ART``, ``ENT``, ``MOUV``...,
upper case), so that RecordSql answers read like the real thing. Every value that
Divalto sends as text is stored as text: codes, dates as ``YYYYMMDD``, amounts and
quantities as decimal strings, computed with :class:`~decimal.Decimal` in Python.
Every table has its identity column ``<TABLE>_ID`` and a ``DOS`` column (the
dossier, Divalto's word for the company).

The store is used from the server's event loop and, in tests, from other threads:
every access goes through :meth:`Store.transaction` or :meth:`Store.read`, which hold
one re-entrant lock.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE CLI (
    CLI_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, TIERS TEXT NOT NULL,
    NOM TEXT NOT NULL, RUE TEXT NOT NULL DEFAULT '', CPOSTAL TEXT NOT NULL DEFAULT '',
    VIL TEXT NOT NULL DEFAULT '', PAY TEXT NOT NULL DEFAULT '',
    TEL TEXT NOT NULL DEFAULT '', EMAIL TEXT NOT NULL DEFAULT '',
    TVANO TEXT NOT NULL DEFAULT '', REGCOD TEXT NOT NULL DEFAULT '',
    TARCOD TEXT NOT NULL DEFAULT '', REMCOD TEXT NOT NULL DEFAULT '',
    DEV TEXT NOT NULL DEFAULT 'EUR', CE1 TEXT NOT NULL DEFAULT '3',
    REFEXT TEXT NOT NULL DEFAULT '', VERSION INTEGER NOT NULL DEFAULT 1,
    UNIQUE (DOS, TIERS)
);
CREATE INDEX CLI_REFEXT ON CLI (DOS, REFEXT);
CREATE TABLE ART (
    ART_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, REF TEXT NOT NULL,
    DES TEXT NOT NULL, FAM TEXT NOT NULL DEFAULT '', UN TEXT NOT NULL DEFAULT 'U',
    TVAART TEXT NOT NULL DEFAULT '1', STFL TEXT NOT NULL DEFAULT '2',
    SREFFL TEXT NOT NULL DEFAULT '1', PUB TEXT NOT NULL DEFAULT '0',
    UNIQUE (DOS, REF)
);
CREATE TABLE SART (
    SART_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, REF TEXT NOT NULL,
    SREF1 TEXT NOT NULL, SREF2 TEXT NOT NULL DEFAULT '',
    UNIQUE (DOS, REF, SREF1, SREF2)
);
CREATE TABLE DEPO (
    DEPO_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, DEPO TEXT NOT NULL,
    LIB TEXT NOT NULL DEFAULT '', UNIQUE (DOS, DEPO)
);
CREATE TABLE STOCK (
    STOCK_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, REF TEXT NOT NULL,
    SREF1 TEXT NOT NULL DEFAULT '', SREF2 TEXT NOT NULL DEFAULT '',
    DEPO TEXT NOT NULL, QTESTK TEXT NOT NULL DEFAULT '0',
    QTERES TEXT NOT NULL DEFAULT '0',
    UNIQUE (DOS, REF, SREF1, SREF2, DEPO)
);
CREATE TABLE TVA (
    TVA_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, TVACOD TEXT NOT NULL,
    TAUX TEXT NOT NULL, LIB TEXT NOT NULL DEFAULT '', UNIQUE (DOS, TVACOD)
);
CREATE TABLE REG (
    REG_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, REGCOD TEXT NOT NULL,
    LIB TEXT NOT NULL DEFAULT '', NBJ TEXT NOT NULL DEFAULT '0',
    UNIQUE (DOS, REGCOD)
);
CREATE TABLE TARIF (
    TARIF_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL,
    TARCOD TEXT NOT NULL DEFAULT '', TIERS TEXT NOT NULL DEFAULT '',
    REF TEXT NOT NULL, QTEMIN TEXT NOT NULL DEFAULT '0', PUB TEXT NOT NULL,
    PRIO INTEGER NOT NULL DEFAULT 0, DTDEB TEXT NOT NULL DEFAULT '',
    DTFIN TEXT NOT NULL DEFAULT ''
);
CREATE TABLE REMISE (
    REMISE_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL,
    TIERS TEXT NOT NULL DEFAULT '', REMCOD TEXT NOT NULL DEFAULT '',
    REF TEXT NOT NULL DEFAULT '', FAM TEXT NOT NULL DEFAULT '',
    REM1 TEXT NOT NULL DEFAULT '0', REM2 TEXT NOT NULL DEFAULT '0',
    REM3 TEXT NOT NULL DEFAULT '0', PRIO INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE ENT (
    ENT_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, ETB TEXT NOT NULL DEFAULT '',
    PICOD INTEGER NOT NULL, PINO TEXT NOT NULL, PREFPINO TEXT NOT NULL,
    TIERS TEXT NOT NULL, PIDT TEXT NOT NULL, PIREF TEXT NOT NULL DEFAULT '',
    CE4 TEXT NOT NULL DEFAULT '1', DEV TEXT NOT NULL DEFAULT 'EUR',
    DEPO TEXT NOT NULL DEFAULT '1', REGCOD TEXT NOT NULL DEFAULT '',
    HTMT TEXT NOT NULL DEFAULT '0', TVAMT TEXT NOT NULL DEFAULT '0',
    TTCMT TEXT NOT NULL DEFAULT '0', ORIG_ENT_ID INTEGER,
    VERSION INTEGER NOT NULL DEFAULT 1,
    UNIQUE (DOS, PICOD, PINO)
);
CREATE INDEX ENT_PIREF ON ENT (DOS, PIREF);
CREATE INDEX ENT_ORIG ON ENT (ORIG_ENT_ID);
CREATE TABLE MOUV (
    MOUV_ID INTEGER PRIMARY KEY, DOS TEXT NOT NULL, ENT_ID INTEGER NOT NULL,
    PICOD INTEGER NOT NULL, PINO TEXT NOT NULL, ENRNO INTEGER NOT NULL,
    REF TEXT NOT NULL, SREF1 TEXT NOT NULL DEFAULT '', SREF2 TEXT NOT NULL DEFAULT '',
    DES TEXT NOT NULL DEFAULT '', DEPO TEXT NOT NULL DEFAULT '1',
    QTE TEXT NOT NULL, PUB TEXT NOT NULL, REM1 TEXT NOT NULL DEFAULT '0',
    REM2 TEXT NOT NULL DEFAULT '0', REM3 TEXT NOT NULL DEFAULT '0',
    PUNET TEXT NOT NULL, MTHT TEXT NOT NULL, TVACOD TEXT NOT NULL,
    QTETRF TEXT NOT NULL DEFAULT '0', ORIG_MOUV_ID INTEGER
);
CREATE INDEX MOUV_ENT ON MOUV (ENT_ID);
CREATE TABLE COUNTER (
    DOS TEXT NOT NULL, NAME TEXT NOT NULL, VALUE INTEGER NOT NULL,
    PRIMARY KEY (DOS, NAME)
);
"""

TABLES = (
    "CLI",
    "ART",
    "SART",
    "DEPO",
    "STOCK",
    "TVA",
    "REG",
    "TARIF",
    "REMISE",
    "ENT",
    "MOUV",
)
"""Tables that seed data may fill, in an order that respects their references."""


Row = dict[str, Any]


class Store:
    """The SQLite state of one simulated tenant.

    In memory by default. With ``path``, the state lives in that SQLite file and
    outlasts the process (the embedded ERP of ``divalto sync`` keeps it between
    runs): the tables are made when the file has none, and :attr:`created` says
    so, so that the caller knows whether to load the seed data.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        known = self._db.execute("SELECT name FROM sqlite_master WHERE name = 'ENT'")
        self.created = known.fetchone() is None
        if self.created:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database (a file-backed store's state stays in its file)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and commit on success, roll everything back on error."""
        with self._lock:
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    def read(
        self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> list[Row]:
        """Run one SELECT and return its rows as dictionaries."""
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params)]

    def insert(self, db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row inside an open transaction; return its identity."""
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", row)  # noqa: S608 - table and column names come from our own code
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def next_number(self, db: sqlite3.Connection, dossier: str, name: str) -> int:
        """Draw the next value of a per-dossier counter (document numbering)."""
        db.execute(
            "INSERT INTO COUNTER (DOS, NAME, VALUE) VALUES (?, ?, 0) "
            "ON CONFLICT (DOS, NAME) DO NOTHING",
            (dossier, name),
        )
        db.execute(
            "UPDATE COUNTER SET VALUE = VALUE + 1 WHERE DOS = ? AND NAME = ?",
            (dossier, name),
        )
        (value,) = db.execute(
            "SELECT VALUE FROM COUNTER WHERE DOS = ? AND NAME = ?", (dossier, name)
        ).fetchone()
        return int(value)

    def load(self, data: Mapping[str, Any]) -> dict[str, int]:
        """Load seed records: ``{"dossier": "998", "CLI": [{...}], "ART": [...]}``.

        Rows without ``DOS`` take the file's ``dossier``, rows without ``SREF1`` or
        ``SREF2`` (``SART``, ``STOCK``) empty sub-references. A row that names its
        ``<TABLE>_ID``, or whose natural key (``TIERS`` for ``CLI``, ``REF`` for
        ``ART``...) already exists, updates that row and keeps its identity; in the
        tables without a natural key (``TARIF``, ``REMISE``, ``MOUV``) a row equal to
        an existing one is skipped. So loading the same file twice changes nothing.
        Returns the count of rows given per table.
        """
        dossier = str(data.get("dossier", "998"))
        unknown = set(data) - {"dossier", *TABLES}
        if unknown:
            raise ValueError(f"unknown seed tables: {', '.join(sorted(unknown))}")
        counts: dict[str, int] = {}
        with self.transaction() as db:
            for table in TABLES:
                rows = data.get(table, [])
                known = {info[1] for info in db.execute(f"PRAGMA table_info({table})")}
                for position, row in enumerate(rows, start=1):
                    values = {key: _as_text(value) for key, value in row.items()}
                    values.setdefault("DOS", dossier)
                    strangers = sorted(set(values) - known)
                    if strangers:
                        names = ", ".join(strangers)
                        raise ValueError(
                            f"{table}[{position}]: unknown columns {names}"
                        )
                    _upsert(db, table, values)
                counts[table] = len(rows)
        return counts

    def load_builtin(self) -> None:
        """Load the demo dossier and the bundled Northwind catalogue."""
        seed = resources.files("divalto.simulator") / "seed"
        self.load(json.loads((seed / "demo.json").read_text(encoding="utf-8")))
        self.load(northwind_seed(Path(str(seed))))

    def load_file(self, path: str | Path) -> dict[str, int]:
        """Load a seed file in the JSON shape that :meth:`load` takes."""
        return self.load(json.loads(Path(path).read_text(encoding="utf-8")))


NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "CLI": ("DOS", "TIERS"),
    "ART": ("DOS", "REF"),
    "SART": ("DOS", "REF", "SREF1", "SREF2"),
    "DEPO": ("DOS", "DEPO"),
    "STOCK": ("DOS", "REF", "SREF1", "SREF2", "DEPO"),
    "TVA": ("DOS", "TVACOD"),
    "REG": ("DOS", "REGCOD"),
    "ENT": ("DOS", "PICOD", "PINO"),
}


KEY_DEFAULTS = {"SREF1": "", "SREF2": ""}
"""Natural-key columns a seed row may leave out: their schema default applies."""


def _upsert(db: sqlite3.Connection, table: str, values: dict[str, Any]) -> None:
    """Insert a seed row, or update the row it names, keeping the identity."""
    identity = f"{table}_ID"
    if identity not in values:
        for column in NATURAL_KEYS.get(table, ()):
            if column in KEY_DEFAULTS:
                values.setdefault(column, KEY_DEFAULTS[column])
    columns = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - table from TABLES, columns checked against the schema
    if identity in values:
        key: tuple[str, ...] = (identity,)
    elif table in NATURAL_KEYS and set(NATURAL_KEYS[table]) <= set(values):
        key = NATURAL_KEYS[table]
    else:
        where = " AND ".join(f"{name} IS :{name}" for name in values)
        if db.execute(f"SELECT 1 FROM {table} WHERE {where}", values).fetchone():  # noqa: S608 - as above
            return
        db.execute(insert, values)
        return
    updates = ", ".join(
        f"{name} = excluded.{name}" for name in values if name not in key
    )
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    db.execute(f"{insert} ON CONFLICT ({', '.join(key)}) {action}", values)


def _as_text(value: Any) -> Any:
    """Store numbers as Divalto does, as text; keep identities as integers."""
    if isinstance(value, bool):
        return "2" if value else "1"
    if isinstance(value, float):
        return str(Decimal(str(value)))
    if isinstance(value, Decimal):
        return str(value)
    return value


NORTHWIND_STOCK_DEPOT = "1"


def northwind_seed(folder: Path) -> dict[str, Any]:
    """Turn the bundled Northwind CSV files into seed records for dossier 998.

    Articles are ``NW`` + the product id on three digits, their family the category
    name, their base price the Northwind unit price and their stock in depot ``1``
    the units in stock. Customers get the codes ``C0000101`` onwards, in file order,
    with the Northwind customer id as external reference.
    """
    with (folder / "northwind_categories.csv").open(encoding="utf-8") as handle:
        families = {
            row["category_id"]: row["category_name"] for row in csv.DictReader(handle)
        }
    articles: list[Row] = []
    stock: list[Row] = []
    with (folder / "northwind_products.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ref = f"NW{int(row['product_id']):03d}"
            articles.append(
                {
                    "REF": ref,
                    "DES": row["product_name"],
                    "FAM": families.get(row["category_id"], "").upper()[:10],
                    "UN": "U",
                    "TVAART": "2",
                    "PUB": str(Decimal(row["unit_price"]).quantize(Decimal("0.01"))),
                }
            )
            stock.append(
                {
                    "REF": ref,
                    "DEPO": NORTHWIND_STOCK_DEPOT,
                    "QTESTK": row["units_in_stock"],
                }
            )
    customers: list[Row] = []
    with (folder / "northwind_customers.csv").open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=101):
            customers.append(
                {
                    "TIERS": f"C{number:07d}",
                    "NOM": row["company_name"],
                    "RUE": row["address"],
                    "CPOSTAL": row["postal_code"],
                    "VIL": row["city"],
                    "PAY": row["country"],
                    "TEL": row["phone"],
                    "REGCOD": "30J",
                    "REFEXT": f"northwind:{row['customer_id']}",
                }
            )
    return {"dossier": "998", "CLI": customers, "ART": articles, "STOCK": stock}

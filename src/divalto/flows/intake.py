"""The intake: every incoming order or refund, stored under its key before it runs.

An order is kept in our own table (``divalto_intake``, in the engine's database:
the same SQLite file or PostgreSQL database, a separate table) under its business
key ``order:<source>:<external id>``: the payload as received (``raw``), its
canonical form (``canonical``, which an operator may correct), its status, the
ERP documents made for it, why it is parked, and when each changed. A refund is
kept the same way under ``refund:<source>:<refund id>``.

The key is the table's primary key: a second submission of the same key, one
after the other or at the same moment from many threads or processes, inserts
nothing and starts nothing; it returns the existing flow.

Statuses: ``received`` (stored, flow not yet queued), ``queued``, ``completed``,
``to_resume`` (parked: fix the data, then replay), ``escalated`` (parked: a person
decides), ``cancelled``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from divalto.flows.engine import FlowEngine

__all__ = [
    "Admissible",
    "CanonicalOrder",
    "Intake",
    "IntakeRecord",
    "IntakeStatus",
    "IntakeStore",
    "Submission",
]


class IntakeStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    COMPLETED = "completed"
    TO_RESUME = "to_resume"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"


class CanonicalOrder(BaseModel):
    """A shop's order in the connector's own shape, whatever the shop.

    ``customer`` is a :class:`~divalto.validation.ShopCustomer` payload and
    ``order`` an :class:`~divalto.validation.OrderRequest` payload without its
    ``customer`` and ``your_reference`` (the flow sets them). Both are checked by
    the flow's first step, not here: a faulty order is stored, then parked with
    every problem named, so that an operator can correct it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    external_id: str = Field(min_length=1, pattern=r"^\S+$")
    customer: dict[str, Any]
    order: dict[str, Any]

    @property
    def key(self) -> str:
        """The business key: ``order:<source>:<external id>``."""
        return f"order:{self.source}:{self.external_id}"

    @property
    def partition(self) -> str:
        """The customer's key: the flows of one customer run one at a time."""
        return f"customer:{self.source}:{self.customer.get('id', '')}"


class Admissible(Protocol):
    """A canonical item the intake can store: its key, its partition, its JSON."""

    @property
    def key(self) -> str: ...

    @property
    def partition(self) -> str: ...

    def model_dump_json(self) -> str: ...


@dataclass(frozen=True)
class IntakeRecord:
    """One stored submission, as read from the table."""

    key: str
    partition: str
    raw: Any
    canonical: dict[str, Any]
    status: IntakeStatus
    documents: dict[str, str]
    parking: dict[str, Any] | None
    created_at: str
    updated_at: str

    @property
    def kind(self) -> str:
        """What the record holds: ``order`` or ``refund``, its key's first part."""
        return self.key.partition(":")[0]

    def order(self) -> CanonicalOrder:
        """The canonical order, as last stored (corrections included)."""
        return CanonicalOrder.model_validate(self.canonical)


@dataclass(frozen=True)
class Submission:
    """What a submission did: the flow's key, and whether this call created it."""

    key: str
    created: bool


_METADATA = sa.MetaData()
_TABLE = sa.Table(
    "divalto_intake",
    _METADATA,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("partition_key", sa.String(300), nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("canonical", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("documents", sa.Text, nullable=False),
    sa.Column("parking", sa.Text, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)


class IntakeStore:
    """The intake table, in the database at ``url`` (SQLAlchemy URL).

    The table is created when missing. ``clock`` gives the timestamps (UTC).
    """

    def __init__(
        self, url: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = _engine_for(url)
        self._clock = clock
        _METADATA.create_all(self._engine)

    def close(self) -> None:
        """Release the store's connections."""
        self._engine.dispose()

    def admit(self, order: Admissible, raw: Any) -> bool:
        """Store ``order`` under its key unless the key is there; True if stored."""
        now = self._now()
        row = {
            "key": order.key,
            "partition_key": order.partition,
            "raw": json.dumps(raw, default=str, ensure_ascii=False),
            "canonical": order.model_dump_json(),
            "status": IntakeStatus.RECEIVED.value,
            "documents": "{}",
            "parking": None,
            "created_at": now,
            "updated_at": now,
        }
        # RETURNING says whether the row went in: the insert's row count is not
        # reliable on every driver (psycopg 3 reports -1 for an insert).
        statement = _insert_if_absent(self._engine, row).returning(_TABLE.c.key)
        with self._engine.begin() as connection:
            inserted = connection.execute(statement).first()
        return inserted is not None

    def get(self, key: str) -> IntakeRecord | None:
        """The record of ``key``, or None."""
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(_TABLE).where(_TABLE.c.key == key)
            ).first()
        return None if row is None else _record(row._mapping)

    def require(self, key: str) -> IntakeRecord:
        """The record of ``key``; raises KeyError when there is none."""
        record = self.get(key)
        if record is None:
            raise KeyError(f"no intake record under {key!r}")
        return record

    def records(self, status: IntakeStatus | None = None) -> list[IntakeRecord]:
        """Every record, oldest first, in ``status`` if given."""
        query = sa.select(_TABLE).order_by(_TABLE.c.created_at, _TABLE.c.key)
        if status is not None:
            query = query.where(_TABLE.c.status == status.value)
        with self._engine.connect() as connection:
            return [_record(row._mapping) for row in connection.execute(query)]

    def statuses(self) -> dict[str, str]:
        """Every key's status, in one query: cheaper than :meth:`records` for
        watching many flows end."""
        query = sa.select(_TABLE.c.key, _TABLE.c.status)
        with self._engine.connect() as connection:
            return dict(connection.execute(query).tuples().all())

    def set_status(
        self, key: str, status: IntakeStatus, parking: dict[str, Any] | None = None
    ) -> None:
        """Record the status of ``key`` and why it is parked (None: not parked)."""
        self._update(
            key,
            status=status.value,
            parking=None if parking is None else json.dumps(parking, default=str),
        )

    def mark_queued(self, key: str) -> None:
        """Move ``key`` from ``received`` to ``queued``; any later status stays."""
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.key == key)
                .where(_TABLE.c.status == IntakeStatus.RECEIVED.value)
                .values(status=IntakeStatus.QUEUED.value, updated_at=self._now())
            )

    def add_document(self, key: str, kind: str, number: str) -> None:
        """Note that the ERP document ``kind`` of ``key`` is ``number``."""
        with self._engine.begin() as connection:
            current = connection.execute(
                sa.select(_TABLE.c.documents).where(_TABLE.c.key == key)
            ).scalar_one()
            documents = {**json.loads(current), kind: number}
            connection.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.key == key)
                .values(documents=json.dumps(documents), updated_at=self._now())
            )

    def correct(self, key: str, item: Admissible) -> None:
        """Replace the canonical order or refund of ``key`` (a correction).

        Raises ValueError when ``item`` has another key: a correction cannot
        move an item to another business key.
        """
        if item.key != key:
            raise ValueError(f"a correction of {key!r} cannot carry {item.key!r}")
        self._update(key, canonical=item.model_dump_json())

    def _update(self, key: str, **values: Any) -> None:
        with self._engine.begin() as connection:
            done = connection.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.key == key)
                .values(**values, updated_at=self._now())
            )
        if done.rowcount != 1:
            raise KeyError(f"no intake record under {key!r}")

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="microseconds")


class Intake:
    """Submissions: store the order, then start its flow, once per key.

    ``parse`` turns a payload into its canonical item (default: an order).

    ``start(key, partition)`` queues the flow of a stored order; it is called
    by the submission that stored it, and again by a later submission that finds
    the record still ``received`` (its first submitter died between storing and
    queueing), which the engine's one-flow-per-key rule makes harmless.
    """

    def __init__(
        self,
        store: IntakeStore,
        engine: FlowEngine,
        start: Callable[[str, str], None],
        parse: Callable[[Any], Admissible] = CanonicalOrder.model_validate,
    ) -> None:
        self.store = store
        self.engine = engine
        self._start = start
        self._parse = parse

    def submit(
        self, order: Admissible | Mapping[str, Any], raw: Any = None
    ) -> Submission:
        """Store ``order`` and start its flow; the same key again creates nothing.

        ``raw`` is the payload as the source sent it (default: ``order``).
        Raises pydantic's ValidationError when ``order`` lacks its source, its
        external id, its customer or its order part (or what ``parse`` needs).
        """
        canonical = self._parse(order)
        created = self.store.admit(canonical, order if raw is None else raw)
        record = self.store.require(canonical.key)
        if created or record.status is IntakeStatus.RECEIVED:
            self._start(record.key, record.partition)
            self.store.mark_queued(record.key)
        return Submission(canonical.key, created)


def _engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite:"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        # As the journal's (see divalto.flows.engine.sqlite_engine): in WAL mode,
        # no sync of the file at each commit, which would cost more than the step.
        sa.event.listen(engine, "connect", _sqlite_normal_sync)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_normal_sync(connection: Any, record: Any) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _insert_if_absent(engine: sa.Engine, row: dict[str, Any]) -> sa.Insert:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_TABLE).values(row).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(_TABLE).values(row).on_conflict_do_nothing()


def _record(row: Any) -> IntakeRecord:
    parking = row["parking"]
    return IntakeRecord(
        key=row["key"],
        partition=row["partition_key"],
        raw=json.loads(row["raw"]),
        canonical=json.loads(row["canonical"]),
        status=IntakeStatus(row["status"]),
        documents=json.loads(row["documents"]),
        parking=None if parking is None else json.loads(parking),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )

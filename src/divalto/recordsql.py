"""RecordSql, Divalto's read API: immutable queries, safe paging, typed records.

A RecordSql is a named, compiled query inside a dictionary file (``.dhoq``): a
caller never sends SQL. It names the output fields and, by name only, a WHERE, an
ORDERBY and a HAVING case with their parameters. :class:`RecordQuery` holds all
of that as an immutable value and writes the request body; application code
never writes a ``where`` or ``fields`` string.

Parameter values travel as ``name=value`` pairs separated by ``;``, and the ERP
reads a value as the inside of a SQL string literal. So :func:`escape_value`
doubles every quote and every separator: ``L'Atelier d'Anjou`` matches itself and
``x' OR '1'='1`` matches nothing.

Paging (:meth:`Records.read`, :meth:`AsyncRecords.read`) reads in identity order
(``TABLE_ID``, ascending) with offset pages that overlap by one record, and
yields only records whose identity is above the last one yielded. The guarantee:

- no record is yielded twice;
- no record that exists from the start to the end of the read is skipped, even
  when records are inserted or deleted meanwhile: when the overlap record is no
  longer first in its page, records before it were deleted, and the reader steps
  back a page until the page starts at or before the last identity yielded;
- a record inserted during the read is yielded if its identity is above the last
  one yielded when its page is read (new identities are, the ERP numbers them
  upwards); one inserted below it is not;
- each record is as it was when its page was read: a record updated meanwhile
  is seen in its state at that moment, never twice.

The limits: it needs an ORDERBY case that sorts by identity alone (``Par_ID``
unless configured) and the identity among the fields; each page costs the ERP a
scan up to its offset; a table where more than a page of records is inserted
below the cursor between two pages makes progress slower, not wrong. The end of
the data is a short page; ``nbrecord`` is not trusted to be a total. The page
size must not exceed what the ERP accepts: an ERP that silently cut a page down
would look like the end of the data.

A read can resume: :attr:`RecordPages.cursor` is the position after the last
record yielded, a small value that :meth:`Cursor.dumps` turns into text.

Records are dictionaries of strings. :class:`RecordSchema` decodes them into
typed objects with :func:`text`, :func:`integer`, :func:`decimal`,
:func:`yyyymmdd`, :func:`flag` (``1`` no, ``2`` yes) and :func:`optional`, and
names the record and the field when a value does not decode.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, overload

from divalto.errors import RecordDecodeError, ResponseInvalid
from divalto.wire import AsyncCaller, Caller, Endpoint, OperationKind
from divalto.xmlsafe import refuse_unencodable

__all__ = [
    "AsyncRecordPages",
    "AsyncRecords",
    "Case",
    "Column",
    "Cursor",
    "IdentityOrder",
    "Record",
    "RecordPage",
    "RecordPages",
    "RecordQuery",
    "RecordSchema",
    "Records",
    "decimal",
    "escape_value",
    "flag",
    "integer",
    "optional",
    "text",
    "yyyymmdd",
]

Record = dict[str, str]
"""One record as the ERP sends it: upper-case field names, text values."""

Value = str | int | Decimal | date
"""What a case parameter may hold; numbers and dates are written as Divalto does."""

T = TypeVar("T")
M = TypeVar("M")
C = TypeVar("C", bound="Caller | AsyncCaller")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_INTEGER = re.compile(r"[+-]?\d+")
DEFAULT_SEPARATOR = ";"
DEFAULT_PAGE_SIZE = 1000


def _checked_name(name: str, what: str) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"{what} {name!r} is not a valid name")
    return name


def escape_value(value: str, separator: str = DEFAULT_SEPARATOR) -> str:
    """Write ``value`` as the inside of a SQL literal, safe between separators.

    Quotes are doubled (``'`` → ``''``) and so is the pair separator
    (``;`` → ``;;``), which the ERP reads back as one.
    """
    return value.replace("'", "''").replace(separator, separator * 2)


def _value_text(value: Value) -> str:
    if isinstance(value, bool):
        raise TypeError("a flag is not a case parameter: pass '1' or '2'")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        raise TypeError("a case parameter takes a date, not a datetime")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


@dataclass(frozen=True)
class Case:
    """A named WHERE or HAVING case and its parameters, in the order given."""

    name: str
    parameters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, parameters: Mapping[str, Value]) -> Case:
        """Check the names and write the values as text; raises ValueError."""
        pairs = tuple(
            (_checked_name(key, "Case parameter"), _value_text(value))
            for key, value in parameters.items()
        )
        return cls(_checked_name(name, "Case"), pairs)

    def encoded(self, separator: str) -> str:
        """``name=value`` pairs joined by ``separator``, values escaped."""
        return separator.join(
            f"{key}={escape_value(value, separator)}" for key, value in self.parameters
        )


@dataclass(frozen=True)
class RecordQuery:
    """One RecordSql read, as an immutable value; each method returns a new one.

    ``RecordQuery("GTRSTIERS.dhoq", "Client").where("Like_Nom", nom="L'At")``
    asks for the customers whose name starts with ``L'At``. Names are checked
    when given (letters, digits, ``_``, one ``.`` for a ``TABLE.FIELD``) and
    raise ``ValueError``; the ERP checks that they exist.
    """

    dictionary: str
    recordsql: str
    fields: tuple[str, ...] = ()
    where_case: Case | None = None
    orderby: str | None = None
    having_case: Case | None = None
    parameters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.dictionary.strip() or not self.recordsql.strip():
            raise ValueError("a RecordQuery needs a dictionary and a RecordSql name")

    def select(self, *fields: str) -> RecordQuery:
        """Only these output fields (all fields when none is given)."""
        names = tuple(_checked_name(name, "Field") for name in fields)
        return replace(self, fields=tuple(dict.fromkeys(names)))

    def where(self, case: str, /, **parameters: Value) -> RecordQuery:
        """Filter with the WHERE case ``case`` and its parameters."""
        return replace(self, where_case=Case.of(case, parameters))

    def order_by(self, case: str | None) -> RecordQuery:
        """Sort with the ORDERBY case ``case`` (``None``: the ERP's default)."""
        name = None if case is None else _checked_name(case, "ORDERBY case")
        return replace(self, orderby=name)

    def having(self, case: str, /, **parameters: Value) -> RecordQuery:
        """Filter computed fields with the HAVING case ``case``."""
        return replace(self, having_case=Case.of(case, parameters))

    def with_parameters(self, parameters: Mapping[str, Value]) -> RecordQuery:
        """Context parameters, ``TABLE.FIELD`` → value (``{"MZ.DOS": "998"}``)."""
        pairs = tuple(
            (_checked_name(key, "Parameter"), _value_text(value))
            for key, value in parameters.items()
        )
        return replace(self, parameters=pairs)

    @property
    def label(self) -> str:
        """``DICTIONARY/RecordSql``, as logs and errors name the query."""
        return f"{self.dictionary}/{self.recordsql}"

    def values(self) -> Iterator[tuple[str, str]]:
        """Every parameter value sent, with where it goes (``where_parameters.nom``)."""
        for place, pairs in (
            ("where_parameters", self.where_case),
            ("having_parameters", self.having_case),
        ):
            for key, value in pairs.parameters if pairs else ():
                yield f"{place}.{key}", value
        for key, value in self.parameters:
            yield f"parameters.{key}", value

    def body(
        self,
        *,
        offset: int = 0,
        count: int = DEFAULT_PAGE_SIZE,
        separator: str = DEFAULT_SEPARATOR,
    ) -> dict[str, Any]:
        """The request body of one page, without the token (the transport adds it)."""
        if offset < 0 or count < 1:
            raise ValueError(f"bad page bounds: offset={offset}, count={count}")
        where, having = self.where_case, self.having_case
        return {
            "dhoq": self.dictionary,
            "recordsql": self.recordsql,
            "fields": separator.join(self.fields),
            "where": where.name if where else "",
            "where_parameters": where.encoded(separator) if where else "",
            "orderby": self.orderby or "",
            "having": having.name if having else "",
            "having_parameters": having.encoded(separator) if having else "",
            "parameters": separator.join(
                f"{key}={escape_value(value, separator)}"
                for key, value in self.parameters
            ),
            "offset": offset,
            "count": count,
            "infos": "",
        }

    def fingerprint(self) -> str:
        """A short digest of everything but the page bounds; cursors carry it."""
        shape = self.body(offset=0, count=1)
        del shape["offset"], shape["count"]
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode("utf-8"))
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class IdentityOrder:
    """How a reader pages in identity order: the ORDERBY case and the field.

    Defaults follow the catalogue: every RecordSql has ``Par_ID`` and sends its
    identity as ``TABLE_ID``. A tenant whose dictionaries differ sets these.
    """

    orderby: str = "Par_ID"
    identity_field: str = "TABLE_ID"


@dataclass(frozen=True)
class RecordPage:
    """One page of records; ``is_last`` when it is shorter than asked."""

    records: list[Record]
    tablename: str
    offset: int
    count: int

    @property
    def is_last(self) -> bool:
        return len(self.records) < self.count


def _records(envelope: Mapping[str, Any], label: str) -> list[Record]:
    """The records of an answer, unwrapped from ``{"record": {...}}``."""
    rows = envelope.get("records", [])
    if not isinstance(rows, list):
        raise ResponseInvalid(f"'records' of {label} is not a list", action=label)
    # The usual answer in one pass; the slow loop below only names a bad row.
    try:
        records: list[Record] = [row["record"] for row in rows]
    except (TypeError, KeyError):
        records = []
    if len(records) == len(rows) and all(type(record) is dict for record in records):
        return records
    for index, row in enumerate(rows):
        record = row.get("record") if isinstance(row, dict) else None
        if not isinstance(record, dict):
            raise ResponseInvalid(
                f"Row {index} of {label} is not {{'record': {{...}}}}", action=label
            )
    return [row["record"] for row in rows]


def _page(
    envelope: Mapping[str, Any], query: RecordQuery, body: dict[str, Any]
) -> RecordPage:
    return RecordPage(
        records=_records(envelope, query.label),
        tablename=str(envelope.get("tablename", "")),
        offset=int(body["offset"]),
        count=int(body["count"]),
    )


@dataclass(frozen=True)
class Cursor:
    """Where a read stands: after the record ``after``, found at ``position - 1``.

    ``position`` is only a hint (records may have moved since); ``after`` is the
    identity that decides what comes next. ``query`` is the query's fingerprint:
    a cursor resumes only the query it came from.
    """

    query: str
    position: int = 0
    after: int | None = None

    def dumps(self) -> str:
        """Compact JSON text, to store and give back to :meth:`loads`."""
        return json.dumps(
            {"query": self.query, "position": self.position, "after": self.after},
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> Cursor:
        """Read a cursor that :meth:`dumps` wrote; raises ValueError otherwise."""
        try:
            data = json.loads(text)
            cursor = cls(str(data["query"]), int(data["position"]), data["after"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a RecordSql cursor: {text!r}") from exc
        if cursor.position < 0 or not isinstance(cursor.after, int | None):
            raise ValueError(f"not a RecordSql cursor: {text!r}")
        return cursor


class _Walk:
    """The paging state machine shared by the sync and async readers.

    It writes each page's body, takes each answer and says which of its records
    are new; it never calls the ERP itself.
    """

    def __init__(
        self,
        query: RecordQuery,
        *,
        page_size: int,
        order: IdentityOrder,
        separator: str,
        start: Cursor | None,
    ) -> None:
        if page_size < 2:
            raise ValueError("page_size must be at least 2: pages overlap by one")
        self.query = _identity_ordered(query, order)
        self.page_size = page_size
        self.identity_field = order.identity_field
        self.separator = separator
        self.fingerprint = query.fingerprint()
        self.position, self.after = _starting_point(start, self.fingerprint)
        self.done = False
        self._page_length: int | None = None
        self.rewind()

    def request(self) -> dict[str, Any]:
        return self.query.body(
            offset=self.offset, count=self.page_size, separator=self.separator
        )

    def rewind(self) -> None:
        """Ask next for the page holding the last record yielded, as a check."""
        if not self.done:
            self.offset = max(self.position - 1, 0) if self.after is not None else 0
        self._page_length = None

    def take(self, envelope: Mapping[str, Any]) -> list[tuple[int, int, Record]]:
        """The new records of a page as (position, identity, record), in order."""
        records = _records(envelope, self.query.label)
        identities = self._identities(records)
        if self._gap_before(identities):
            # Records before the cursor were deleted: step back and look again.
            self.offset = max(self.offset - self.page_size, 0)
            return []
        self._page_length = len(records)
        after = self.after
        return [
            (self.offset + index, identity, record)
            for index, (identity, record) in enumerate(
                zip(identities, records, strict=True)
            )
            if after is None or identity > after
        ]

    def finish_page(self) -> None:
        """Every new record of the page was yielded: move on, or end on a short one."""
        length, self._page_length = self._page_length, None
        if length is None:
            return
        if length < self.page_size:
            self.done = True
        else:
            self.offset += length - 1

    def _gap_before(self, identities: list[int]) -> bool:
        """Whether records between the cursor and this page may be missing."""
        if self.after is None or self.offset == 0:
            return False
        return not identities or identities[0] > self.after

    def mark(self, position: int, identity: int) -> None:
        self.position, self.after = position + 1, identity

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.fingerprint, self.position, self.after)

    def _identities(self, records: list[Record]) -> list[int]:
        identities: list[int] = []
        for record in records:
            identity = _identity(record, self.identity_field, self.query.label)
            if identities and identity <= identities[-1]:
                raise ResponseInvalid(
                    f"{self.query.label} records are not in {self.identity_field} "
                    f"order: {identity} after {identities[-1]}",
                    action=self.query.label,
                )
            identities.append(identity)
        return identities


def _identity(record: Record, name: str, label: str) -> int:
    value = record.get(name)
    if value is None or _INTEGER.fullmatch(str(value).strip()) is None:
        raise ResponseInvalid(
            f"A {label} record has no integer {name}: {value!r}", action=label
        )
    return int(value)


def _identity_ordered(query: RecordQuery, order: IdentityOrder) -> RecordQuery:
    if query.orderby not in (None, order.orderby):
        raise ValueError(
            f"paging reads in identity order ({order.orderby}); {query.label} asks "
            f"for {query.orderby}: read pages with Records.page instead"
        )
    query = query.order_by(order.orderby)
    if query.fields and order.identity_field not in query.fields:
        query = query.select(*query.fields, order.identity_field)
    return query


def _starting_point(start: Cursor | None, fingerprint: str) -> tuple[int, int | None]:
    if start is None:
        return 0, None
    if start.query != fingerprint:
        raise ValueError("this cursor belongs to another query")
    return start.position, start.after


class RecordPages(Generic[T]):
    """The records of a query, page after page, as an iterator.

    Iterating again, after a ``break``, continues after the last record yielded
    (the page is asked for again). :attr:`cursor` is that position. Raises what
    the caller raises (:mod:`divalto.errors`),
    :class:`~divalto.errors.ResponseInvalid` for an answer without identities in
    order, and the schema's
    :class:`~divalto.errors.RecordDecodeError`.
    """

    def __init__(self, caller: Caller, walk: _Walk, convert: Callable[[Record], T]):
        self._caller = caller
        self._walk = walk
        self._convert = convert

    @property
    def cursor(self) -> Cursor:
        """The position after the last record yielded, to resume from."""
        return self._walk.cursor

    @property
    def query(self) -> RecordQuery:
        """The query as sent: identity order, identity field added if needed."""
        return self._walk.query

    def __iter__(self) -> Iterator[T]:
        walk = self._walk
        walk.rewind()
        while not walk.done:
            envelope = self._caller.call(
                Endpoint.RECORDSQL,
                walk.request(),
                kind=OperationKind.READ,
                action=walk.query.label,
            )
            for position, identity, record in walk.take(envelope):
                item = self._convert(record)
                walk.mark(position, identity)
                yield item
            walk.finish_page()


class AsyncRecordPages(Generic[T]):
    """The async twin of :class:`RecordPages`: ``async for record in pages``."""

    def __init__(
        self, caller: AsyncCaller, walk: _Walk, convert: Callable[[Record], T]
    ):
        self._caller = caller
        self._walk = walk
        self._convert = convert

    @property
    def cursor(self) -> Cursor:
        """The position after the last record yielded, to resume from."""
        return self._walk.cursor

    @property
    def query(self) -> RecordQuery:
        """The query as sent: identity order, identity field added if needed."""
        return self._walk.query

    async def __aiter__(self) -> AsyncIterator[T]:
        walk = self._walk
        walk.rewind()
        while not walk.done:
            envelope = await self._caller.call(
                Endpoint.RECORDSQL,
                walk.request(),
                kind=OperationKind.READ,
                action=walk.query.label,
            )
            for position, identity, record in walk.take(envelope):
                item = self._convert(record)
                walk.mark(position, identity)
                yield item
            walk.finish_page()


Decoder = Callable[[str], T]
"""Turns one text value into a typed one; raises ValueError saying what is wrong."""


def text(value: str) -> str:
    """The text as sent, trailing spaces included."""
    return value


def integer(value: str) -> int:
    """An integer such as ``"42"`` or ``"-3"``."""
    if _INTEGER.fullmatch(value.strip()) is None:
        raise ValueError("is not an integer")
    return int(value)


def decimal(value: str) -> Decimal:
    """A decimal number with a point, such as ``"12.50"``; never a float."""
    if _DECIMAL.fullmatch(value.strip()) is None:
        raise ValueError("is not a decimal number with a point")
    return Decimal(value.strip())


def yyyymmdd(value: str) -> date:
    """A date written ``YYYYMMDD``, such as ``"20250131"``."""
    if not (len(value) == 8 and value.isascii() and value.isdigit()):
        raise ValueError("is not a YYYYMMDD date")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise ValueError("is not a valid YYYYMMDD date") from exc


def flag(value: str) -> bool:
    """A Divalto yes/no flag: ``"2"`` is yes, ``"1"`` is no, anything else fails."""
    if value == "2":
        return True
    if value == "1":
        return False
    raise ValueError("is not a flag (1 = no, 2 = yes)")


def optional(decoder: Decoder[T]) -> Decoder[T | None]:
    """``decoder``, except that an empty or blank value decodes to ``None``."""

    def decode(value: str) -> T | None:
        return None if not value.strip() else decoder(value)

    decode.__name__ = f"optional_{getattr(decoder, '__name__', 'value')}"
    return decode


@dataclass(frozen=True)
class Column:
    """Where an attribute comes from: a record field and its decoder."""

    field: str
    decode: Decoder[Any] = text


class RecordSchema(Generic[M]):
    """Declares how records become objects of type ``M``.

    ``RecordSchema(Article, ref=Column("REF"), price=Column("PUB", decimal))``
    calls ``Article(ref=..., price=...)`` with decoded values; a plain string is
    a :func:`text` column. A missing field or a value its decoder refuses raises
    :class:`~divalto.errors.RecordDecodeError` naming the record by its
    identity and the field; errors raised by ``model`` itself are its own.
    """

    def __init__(
        self,
        model: Callable[..., M],
        /,
        identity_field: str = "TABLE_ID",
        **columns: Column | str,
    ) -> None:
        self.model = model
        self.identity_field = identity_field
        self.columns = {
            name: column if isinstance(column, Column) else Column(column)
            for name, column in columns.items()
        }

    @property
    def fields(self) -> tuple[str, ...]:
        """The record fields the schema reads, to select only those."""
        return tuple(dict.fromkeys(column.field for column in self.columns.values()))

    def decode(self, record: Mapping[str, str]) -> M:
        """One object from one record; raises RecordDecodeError."""
        return self.model(
            **{
                name: self._value(record, column)
                for name, column in self.columns.items()
            }
        )

    def _value(self, record: Mapping[str, str], column: Column) -> Any:
        raw = record.get(column.field)
        if not isinstance(raw, str):
            problem = "is missing" if raw is None else f"is not text: {raw!r}"
            raise self._error(record, column.field, problem)
        try:
            return column.decode(raw)
        except ValueError as exc:
            raise self._error(record, column.field, f"{raw!r} {exc}") from exc

    def _error(
        self, record: Mapping[str, str], name: str, problem: str
    ) -> RecordDecodeError:
        identity = str(record.get(self.identity_field, "?"))
        return RecordDecodeError(
            f"Record {self.identity_field}={identity}: field {name} {problem}",
            record=identity,
            field=name,
        )


def _schema_query(query: RecordQuery, schema: RecordSchema[Any] | None) -> RecordQuery:
    if schema is None or query.fields:
        return query
    return query.select(*schema.fields, schema.identity_field)


def _same(record: Record) -> Record:
    return record


class _RecordsBase(Generic[C]):
    """What the sync and async readers share: settings and request checks."""

    def __init__(
        self,
        caller: C,
        *,
        order: IdentityOrder | None = None,
        separator: str = DEFAULT_SEPARATOR,
        encoding: str = "windows-1252",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.caller = caller
        self.order = order or IdentityOrder()
        self.separator = separator
        self.encoding = encoding
        self.page_size = page_size

    def _checked(self, query: RecordQuery) -> RecordQuery:
        for place, value in query.values():
            refuse_unencodable(
                value, field=place, encoding=self.encoding, action=query.label
            )
        return query

    def _walk(
        self,
        query: RecordQuery,
        schema: RecordSchema[Any] | None,
        page_size: int | None,
        start: Cursor | None,
    ) -> _Walk:
        return _Walk(
            self._checked(_schema_query(query, schema)),
            page_size=page_size or self.page_size,
            order=self.order,
            separator=self.separator,
            start=start,
        )

    def _body(
        self, query: RecordQuery, offset: int, count: int | None
    ) -> dict[str, Any]:
        return self._checked(query).body(
            offset=offset, count=count or self.page_size, separator=self.separator
        )


class Records(_RecordsBase[Caller]):
    """RecordSql reads through a :class:`~divalto.wire.Caller`.

    ``encoding`` is the ERP's text encoding: a parameter value it cannot carry
    is refused before sending (:class:`~divalto.errors.UnencodableText`).
    ``separator`` is the ``name=value`` pair separator, ``order`` how to page.
    """

    def page(
        self, query: RecordQuery, *, offset: int = 0, count: int | None = None
    ) -> RecordPage:
        """One page, in the query's own order; raises what the caller raises."""
        body = self._body(query, offset, count)
        envelope = self.caller.call(
            Endpoint.RECORDSQL, body, kind=OperationKind.READ, action=query.label
        )
        return _page(envelope, query, body)

    @overload
    def read(
        self,
        query: RecordQuery,
        *,
        page_size: int | None = ...,
        start: Cursor | None = ...,
    ) -> RecordPages[Record]: ...

    @overload
    def read(
        self,
        query: RecordQuery,
        schema: RecordSchema[M],
        *,
        page_size: int | None = ...,
        start: Cursor | None = ...,
    ) -> RecordPages[M]: ...

    def read(
        self,
        query: RecordQuery,
        schema: RecordSchema[Any] | None = None,
        *,
        page_size: int | None = None,
        start: Cursor | None = None,
    ) -> RecordPages[Any]:
        """Every record of ``query``, paged safely (see the module docstring).

        With a ``schema``, yields decoded objects and, if the query selects no
        fields, selects the schema's. ``start`` resumes from a cursor of the same
        query. Raises ValueError for a query ordered other than by identity.
        """
        walk = self._walk(query, schema, page_size, start)
        return RecordPages(self.caller, walk, schema.decode if schema else _same)

    def first(self, query: RecordQuery) -> Record | None:
        """The first record of ``query`` in its own order, or None."""
        records = self.page(query, count=1).records
        return records[0] if records else None


class AsyncRecords(_RecordsBase[AsyncCaller]):
    """The async twin of :class:`Records`, over an async caller."""

    async def page(
        self, query: RecordQuery, *, offset: int = 0, count: int | None = None
    ) -> RecordPage:
        """One page, in the query's own order; raises what the caller raises."""
        body = self._body(query, offset, count)
        envelope = await self.caller.call(
            Endpoint.RECORDSQL, body, kind=OperationKind.READ, action=query.label
        )
        return _page(envelope, query, body)

    @overload
    def read(
        self,
        query: RecordQuery,
        *,
        page_size: int | None = ...,
        start: Cursor | None = ...,
    ) -> AsyncRecordPages[Record]: ...

    @overload
    def read(
        self,
        query: RecordQuery,
        schema: RecordSchema[M],
        *,
        page_size: int | None = ...,
        start: Cursor | None = ...,
    ) -> AsyncRecordPages[M]: ...

    def read(
        self,
        query: RecordQuery,
        schema: RecordSchema[Any] | None = None,
        *,
        page_size: int | None = None,
        start: Cursor | None = None,
    ) -> AsyncRecordPages[Any]:
        """Every record of ``query``, paged safely: ``async for`` over the result."""
        walk = self._walk(query, schema, page_size, start)
        return AsyncRecordPages(self.caller, walk, schema.decode if schema else _same)

    async def first(self, query: RecordQuery) -> Record | None:
        """The first record of ``query`` in its own order, or None."""
        records = (await self.page(query, count=1)).records
        return records[0] if records else None

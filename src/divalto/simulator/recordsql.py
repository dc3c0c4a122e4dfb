"""RecordSql reads: the read route, over the dictionaries of ``catalogue``.

A read names a dictionary (``dhoq``) and one of its RecordSql, the output
``fields``, and, by name only, a WHERE, an ORDERBY and a HAVING case with their
parameters; ``offset`` and ``count`` cut a page. It never carries SQL. The first
read of a given shape compiles one SQLite statement, kept for the next reads of
that shape; each read then binds its parameters and runs that statement.

The sharp edges, all written down in ``docs/simulator/recordsql.md``:

- every table read is limited to the caller's dossier, taken from the token; the
  ``parameters`` field (``MZ.DOS=998``) is checked for its shape and then ignored;
- a case parameter's value is the inside of a SQL string literal, as an ERP
  pasting it into SQL text would see it: ``''`` is one quote and a lone quote is
  refused. The value is then bound, never pasted;
- ``where_parameters`` pairs are separated by ``settings.parameter_separator``, and
  a doubled separator inside a value stands for one separator;
- every value sent is text, an absent one (a join that found nothing) is ``""``;
- the default order, and the end of every ORDERBY, is the table's identity.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from divalto.simulator.catalogue import (
    CATALOGUE,
    SQL_FUNCTIONS,
    Case,
    Dictionary,
    Ordering,
    Parameter,
    ParameterKind,
    RecordSql,
    sort_indexes,
)
from divalto.simulator.codes import ErrorCode
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import Store
from divalto.simulator.tenant import Answer, Call, Tenant, error_answer, ok_envelope

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_FIELD_SEPARATORS = re.compile(r"[;,]")
_LONGEST_NUMBER = 18
"""Digits of the longest page bound or integer parameter: it fits SQLite's 64 bits."""
_PLAN_CACHE_SIZE = 4096
_LONGEST_PATTERN = 1000
"""SQLite refuses far longer LIKE patterns; no Divalto field comes near this."""

Fold = Callable[[str], str]


class RecordSqlError(Exception):
    """A refused read: the ``error`` code and the ``txterr`` to answer with."""

    def __init__(self, code: ErrorCode, txterr: str) -> None:
        super().__init__(txterr)
        self.code = code
        self.txterr = txterr


def execute(call: Call) -> Answer:
    """Answer one read for the caller's dossier; every failure is an envelope."""
    tenant = call.tenant
    try:
        request = read_request(call.body, tenant.settings)
        planner = planner_for(tenant)
        plan = planner.plan(request)
        bound = planner.bind(plan, request, call.dossier)
        records = fetch_records(tenant.store, plan, bound)
    except RecordSqlError as exc:
        return error_answer(exc.code, exc.txterr)

    payload = ok_envelope(
        tablename=plan.tablename, nbrecord=len(records), records=records
    )
    return Answer(payload=payload, action=plan.action)


@dataclass(frozen=True)
class ReadRequest:
    """The fields of a read, with blanks emptied and the page bounds checked."""

    dhoq: str
    recordsql: str
    fields: str
    where: str
    where_parameters: str
    orderby: str
    having: str
    having_parameters: str
    offset: int
    count: int

    @property
    def shape(self) -> tuple[str, ...]:
        """What the compiled statement depends on; the values are bound later."""
        return (
            self.dhoq,
            self.recordsql,
            self.fields,
            self.where,
            self.orderby,
            self.having,
        )


def read_request(body: Mapping[str, Any], settings: SimulatorSettings) -> ReadRequest:
    """Read and check the request fields.

    Raises :class:`RecordSqlError`: MISSING_FIELD without ``dhoq`` or
    ``recordsql``, WRONG_TYPE for a field that is not a string, MALFORMED_REQUEST
    for ``parameters`` that are not ``TABLE.FIELD=value`` pairs, BAD_PAGING for
    page bounds that are not non-negative integers or a ``count`` out of range.
    """
    separator = settings.parameter_separator or ";"
    _check_context(_text(body, "parameters"), separator)
    return ReadRequest(
        dhoq=_required(body, "dhoq"),
        recordsql=_required(body, "recordsql"),
        fields=_text(body, "fields"),
        where=_text(body, "where").strip(),
        where_parameters=_text(body, "where_parameters"),
        orderby=_text(body, "orderby").strip(),
        having=_text(body, "having").strip(),
        having_parameters=_text(body, "having_parameters"),
        offset=_page_bound(body, "offset", 0),
        count=_count(body, settings),
    )


def _text(body: Mapping[str, Any], name: str) -> str:
    """A text field; absent, null or blank (Divalto's ``" "``) reads as empty."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordSqlError(ErrorCode.WRONG_TYPE, f"Field '{name}' must be a string")
    return value if value.strip() else ""


def _required(body: Mapping[str, Any], name: str) -> str:
    value = _text(body, name).strip()
    if not value:
        raise RecordSqlError(ErrorCode.MISSING_FIELD, f"Field '{name}' is required")
    return value


def _page_bound(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number = None
    if isinstance(value, int | str) and not isinstance(value, bool):
        number = _integer(str(value))
    if number is None:
        raise RecordSqlError(
            ErrorCode.BAD_PAGING,
            f"Field '{name}' must be a non-negative integer, got {_shown(value)}",
        )
    return number


def _shown(value: Any) -> str:
    """A value as a txterr quotes it, cut short when long."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clipped(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _count(body: Mapping[str, Any], settings: SimulatorSettings) -> int:
    maximum = settings.recordsql_max_count
    count = _page_bound(body, "count", min(settings.recordsql_default_count, maximum))
    if count > maximum and settings.recordsql_clamp_count:
        return maximum
    if not 1 <= count <= maximum:
        raise RecordSqlError(
            ErrorCode.BAD_PAGING,
            f"Field 'count' must be between 1 and {maximum}, got {count}",
        )
    return count


def _check_context(text: str, separator: str) -> None:
    """``parameters`` must be ``TABLE.FIELD=value`` pairs; their values are unused."""
    for pair in split_pairs(text, separator):
        name, equals, _ = pair.partition("=")
        table, dot, column = name.strip().partition(".")
        if not (equals and dot and table and column):
            raise RecordSqlError(
                ErrorCode.MALFORMED_REQUEST,
                f"Field 'parameters': '{pair}' is not a TABLE.FIELD=value pair",
            )


def split_pairs(text: str, separator: str) -> list[str]:
    """Split on ``separator``; a doubled separator stays in the text, once.

    Blank pairs are dropped. ``a=x;;y;b=z`` gives ``["a=x;y", "b=z"]``, and
    ``a=x;;;b=z`` gives ``["a=x;", "b=z"]``: doubles are read from the left.
    """
    doubled = separator * 2
    return [
        run.replace(doubled, separator)
        for run in _pair_pattern(separator).findall(text)
        if run.strip()
    ]


@functools.cache
def _pair_pattern(separator: str) -> re.Pattern[str]:
    """A pair, made of doubled separators and other characters, then its end."""
    quoted = re.escape(separator)
    return re.compile(
        f"((?:{quoted}{quoted}|(?!{quoted}).)*)(?:{quoted}|\\Z)", re.DOTALL
    )


@dataclass(frozen=True)
class Plan:
    """A compiled read: the statement, and the cases whose parameters it binds."""

    sql: str
    names: tuple[str, ...]
    tablename: str
    action: str
    scope: str | None
    where: Case | None
    having: Case | None


@dataclass(frozen=True)
class View:
    """A RecordSql's output fields as its wire names, after ``field_renames``."""

    label: str
    fields: tuple[tuple[str, str], ...]
    by_name: Mapping[str, tuple[str, str]]


class Planner:
    """Compiles reads against the catalogue for one :class:`SimulatorSettings`.

    Compiled plans are kept per request shape; a planner never sees values.
    """

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.fold: Fold = str if settings.recordsql_case_sensitive_names else str.upper
        self.separator = settings.parameter_separator or ";"
        self._dictionaries = {self.fold(item.name): item for item in CATALOGUE}
        self._authorised = {self.fold(n) for n in settings.authorised_dictionaries}
        self._renames = {
            self.fold(label): renames
            for label, renames in settings.field_renames.items()
        }
        self._plans: dict[tuple[str, ...], Plan] = {}

    def plan(self, request: ReadRequest) -> Plan:
        """The compiled plan of the request's shape; raises :class:`RecordSqlError`."""
        plan = self._plans.get(request.shape)
        if plan is None:
            plan = self._compile(request)
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[request.shape] = plan
        return plan

    def _compile(self, request: ReadRequest) -> Plan:
        dictionary = self._dictionary(request.dhoq)
        query = self._recordsql(dictionary, request.recordsql)
        view = self._view(query, f"{dictionary.name}/{query.name}")
        fields = self._select(view, request.fields)
        where = self._case(query.where, request.where, "WHERE", view.label)
        ordering = self._ordering(query.orderby, request.orderby, view.label)
        having = self._case(query.having, request.having, "HAVING", view.label)
        return Plan(
            sql=render(query, fields, where, ordering, having),
            names=tuple(name for name, _ in fields),
            tablename=query.table,
            action=view.label,
            scope=query.scope.value if query.scope else None,
            where=where,
            having=having,
        )

    def _dictionary(self, name: str) -> Dictionary:
        dictionary = self._dictionaries.get(self.fold(name))
        if dictionary is None:
            raise RecordSqlError(
                ErrorCode.UNKNOWN_DICTIONARY, f"Unknown dictionary '{name}'"
            )
        if self.fold(dictionary.name) not in self._authorised:
            raise RecordSqlError(
                ErrorCode.DICTIONARY_NOT_AUTHORISED,
                f"Dictionary '{dictionary.name}' is not authorised for the API",
            )
        return dictionary

    def _recordsql(self, dictionary: Dictionary, name: str) -> RecordSql:
        for query in dictionary.recordsqls:
            if self.fold(query.name) == self.fold(name):
                return query
        raise RecordSqlError(
            ErrorCode.UNKNOWN_RECORDSQL,
            f"Unknown RecordSql '{name}' in dictionary '{dictionary.name}'",
        )

    def _view(self, query: RecordSql, label: str) -> View:
        """Apply ``field_renames``; refuse a rename of a missing field, or a clash."""
        renames = {
            self.fold(old): (old, new)
            for old, new in self._renames.get(self.fold(label), {}).items()
        }
        fields = tuple(
            (renames.pop(self.fold(field.name), ("", field.name))[1], field.expression)
            for field in query.fields
        )
        by_name = {self.fold(name): (name, sql) for name, sql in fields}
        problem = _rename_problem(renames, len(by_name) < len(fields))
        if problem:
            raise RecordSqlError(
                ErrorCode.UNKNOWN_FIELD,
                f"Setting field_renames for '{label}' {problem}",
            )
        return View(label, fields, by_name)

    def _select(self, view: View, text: str) -> tuple[tuple[str, str], ...]:
        names = [name.strip() for name in _FIELD_SEPARATORS.split(text)]
        names = [name for name in names if name]
        if not names or "*" in names:
            return view.fields
        chosen: dict[str, tuple[str, str]] = {}
        for name in names:
            field = view.by_name.get(self.fold(name))
            if field is None:
                raise RecordSqlError(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Unknown field '{name}' for RecordSql '{view.label}'",
                )
            chosen[field[0]] = field
        return tuple(chosen.values())

    def _case(
        self, cases: tuple[Case, ...], name: str, kind: str, label: str
    ) -> Case | None:
        if not name:
            return None
        for case in cases:
            if self.fold(case.name) == self.fold(name):
                return case
        code = (
            ErrorCode.UNKNOWN_WHERE_CASE
            if kind == "WHERE"
            else ErrorCode.UNKNOWN_HAVING_CASE
        )
        raise RecordSqlError(
            code, f"Unknown {kind} case '{name}' for RecordSql '{label}'"
        )

    def _ordering(
        self, orderings: tuple[Ordering, ...], name: str, label: str
    ) -> Ordering | None:
        if not name:
            return None
        for ordering in orderings:
            if self.fold(ordering.name) == self.fold(name):
                return ordering
        raise RecordSqlError(
            ErrorCode.UNKNOWN_ORDERBY_CASE,
            f"Unknown ORDERBY case '{name}' for RecordSql '{label}'",
        )

    def bind(self, plan: Plan, request: ReadRequest, dossier: str) -> dict[str, Any]:
        """The statement's parameters: dossier, page, and the cases' values.

        Raises :class:`RecordSqlError`: MISSING_CASE_PARAMETER when a case's
        parameter is not given, BAD_CASE_PARAMETER when a pair or a value is
        malformed (no ``=``, given twice, an unbalanced quote, not a number).
        """
        values: dict[str, Any] = {
            "dos": dossier,
            "scope": plan.scope,
            "offset": request.offset,
            "count": request.count,
        }
        if plan.where is not None:
            given = self._given(plan.where, "WHERE", request.where_parameters)
            values.update(_case_values(plan.where, "WHERE", "w_", given))
        if plan.having is not None:
            given = self._given(plan.having, "HAVING", request.having_parameters)
            values.update(_case_values(plan.having, "HAVING", "h_", given))
        return values

    def _given(self, case: Case, kind: str, text: str) -> dict[str, str]:
        """The values sent for the case's parameters; pairs naming none are ignored."""
        given: dict[str, str] = {}
        for pair in split_pairs(text, self.separator):
            name, equals, value = pair.partition("=")
            name = name.strip()
            if not (equals and name):
                raise _bad_parameter(kind, case, f"'{pair}' is not a name=value pair")
            if self.fold(name) in given:
                raise _bad_parameter(kind, case, f"parameter '{name}' given twice")
            given[self.fold(name)] = value
        return {
            parameter.name: given[self.fold(parameter.name)]
            for parameter in case.parameters
            if self.fold(parameter.name) in given
        }


def _rename_problem(unused: Mapping[str, tuple[str, str]], clash: bool) -> str:
    if unused:
        old, _ = next(iter(unused.values()))
        return f"renames unknown field '{old}'"
    if clash:
        return "gives two fields the same name"
    return ""


def _bad_parameter(kind: str, case: Case, problem: str) -> RecordSqlError:
    return RecordSqlError(
        ErrorCode.BAD_CASE_PARAMETER, f"{kind} case '{case.name}': {problem}"
    )


def _case_values(
    case: Case, kind: str, prefix: str, given: Mapping[str, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for parameter in case.parameters:
        raw = given.get(parameter.name)
        if raw is None:
            raise RecordSqlError(
                ErrorCode.MISSING_CASE_PARAMETER,
                f"{kind} case '{case.name}' needs parameter '{parameter.name}'",
            )
        values[prefix + parameter.name] = _value(parameter, raw, kind, case)
    return values


def _value(parameter: Parameter, raw: str, kind: str, case: Case) -> Any:
    """The bound value of one parameter, read as the inside of a SQL literal."""
    problem = f"parameter '{parameter.name}'"
    pieces = raw.split("''")
    if any("'" in piece for piece in pieces):
        raise _bad_parameter(
            kind, case, f"{problem}: unbalanced quote (write a quote as '')"
        )
    value = "'".join(pieces)
    if parameter.kind is ParameterKind.PATTERN:
        if len(value) > _LONGEST_PATTERN:
            raise _bad_parameter(
                kind, case, f"{problem}: pattern longer than {_LONGEST_PATTERN}"
            )
        return value if "%" in value else value + "%"
    if parameter.kind is ParameterKind.INTEGER:
        number = _integer(value)
        if number is None:
            raise _bad_parameter(
                kind, case, f"{problem}: '{_clipped(value)}' is not an integer"
            )
        return number
    if parameter.kind is ParameterKind.DECIMAL:
        return _decimal_text(value, kind, case, problem)
    return value


def _integer(text: str) -> int | None:
    """A non-negative integer that SQLite can bind, or None."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _LONGEST_NUMBER:
        return None
    return int(digits)


def _decimal_text(value: str, kind: str, case: Case, problem: str) -> str:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise _bad_parameter(
            kind, case, f"{problem}: '{_clipped(value)}' is not a decimal number"
        )
    return str(number)


def render(
    query: RecordSql,
    fields: tuple[tuple[str, str], ...],
    where: Case | None,
    ordering: Ordering | None,
    having: Case | None,
) -> str:
    """The SELECT of a read; values stay as ``:name`` parameters.

    When the cases and the sort only use the main table, the page is cut from the
    main table alone and joined afterwards: rows skipped by ``offset`` then cost
    no join look-ups, which keeps deep pages cheap.
    """
    columns = ", ".join(
        f"COALESCE(CAST({sql} AS TEXT), '') AS {_quoted(name)}" for name, sql in fields
    )
    conditions = _conditions(query, where, having)
    keys = [*(ordering.keys if ordering else ()), query.identity]
    filters = "WHERE " + " AND ".join(f"({condition})" for condition in conditions)
    order = f"ORDER BY {', '.join(keys)}"
    page = "LIMIT :count OFFSET :offset"
    joins = [
        f"LEFT JOIN {join.table} ON {join.table}.DOS = {query.table}.DOS AND {join.on}"
        for join in query.joins
    ]
    select = f"SELECT {columns} FROM"
    if _uses_joins(query, [*conditions, *keys]):
        return " ".join([select, query.table, *joins, filters, order, page])

    ids = f"SELECT {query.identity} AS PAGE_ID FROM {query.table}"  # noqa: S608 - catalogue names only
    return " ".join(
        [
            f"{select} ({ids} {filters} {order} {page}) AS PAGE",
            f"JOIN {query.table} ON {query.identity} = PAGE.PAGE_ID",
            *joins,
            order,
        ]
    )


def _conditions(query: RecordSql, where: Case | None, having: Case | None) -> list[str]:
    """The dossier, the scope, then the cases' predicates with their placeholders."""
    conditions = [f"{query.table}.DOS = :dos"]
    if query.scope is not None:
        conditions.append(f"{query.table}.{query.scope.column} = :scope")
    if where is not None:
        conditions.append(_placeholders(where.predicate, "w_"))
    if having is not None:
        conditions.append(_placeholders(having.predicate, "h_"))
    return conditions


def _uses_joins(query: RecordSql, clauses: list[str]) -> bool:
    return any(
        re.search(rf"\b{join.table}\.", clause)
        for join in query.joins
        for clause in clauses
    )


def _placeholders(predicate: str, prefix: str) -> str:
    return _PLACEHOLDER.sub(lambda match: f":{prefix}{match.group(1)}", predicate)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch_records(
    store: Store, plan: Plan, parameters: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Run a compiled read on ``store``; each row wrapped as ``{"record": ...}``."""
    if store not in _prepared:
        _prepare(store)
    names = plan.names
    # The store lends its connection only inside a transaction. A plain tuple
    # cursor skips the sqlite3.Row objects of Store.read, a third of a page's cost.
    with store.transaction() as db:
        cursor = db.cursor()
        cursor.row_factory = None
        return [
            {"record": dict(zip(names, row, strict=True))}
            for row in cursor.execute(plan.sql, parameters)
        ]


_prepared: weakref.WeakSet[Store] = weakref.WeakSet()
_planners: weakref.WeakKeyDictionary[Tenant, Planner] = weakref.WeakKeyDictionary()


def _prepare(store: Store) -> None:
    """Give a store the SQL functions and the sort indexes the catalogue needs."""
    with store.transaction() as db:
        for name, (arity, function) in SQL_FUNCTIONS.items():
            db.create_function(name, arity, function, deterministic=True)
        for table, columns in sort_indexes():
            db.execute(
                f"CREATE INDEX IF NOT EXISTS RS_{table}_{'_'.join(columns)} "
                f"ON {table} ({', '.join(columns)})"
            )
    _prepared.add(store)


def planner_for(tenant: Tenant) -> Planner:
    """The tenant's planner, rebuilt if its settings object was replaced."""
    planner = _planners.get(tenant)
    if planner is None or planner.settings is not tenant.settings:
        planner = _planners[tenant] = Planner(tenant.settings)
    return planner

"""The dictionaries the simulated ERP can read through RecordSql.

In Divalto, a dictionary (a ``.dhoq`` file) holds named RecordSql: compiled queries
over one table and the tables it joins. A caller never sends SQL. It names the
RecordSql, the output fields it wants, and one of the query's predefined cases:

- a WHERE case, a predicate with named parameters (``Equal_Tiers`` with ``tiers``);
- an ORDERBY case, a sort (``Par_Code``); every sort ends with the table's identity,
  so that it is total and stable for offset paging;
- a HAVING case, a filter on the computed output fields (``Disponible_Min``).

This module only declares them. Predicates are SQL over the store's tables, named
by table (``CLI.TIERS``), with ``{name}`` where a parameter goes; joins must follow
a unique key so that they never multiply rows, and each join also matches the
dossier. ``recordsql`` compiles these declarations and binds the parameters.

Quantities and amounts are text in the store. Comparing or subtracting them goes
through :data:`SQL_FUNCTIONS`, which compute with :class:`~decimal.Decimal`, never
with floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any


class ParameterKind(Enum):
    """How a case parameter's text is read before it is bound."""

    TEXT = "text"
    """Compared as it is."""
    PATTERN = "pattern"
    """A LIKE pattern; without ``%`` it is a prefix (a ``%`` is appended)."""
    INTEGER = "integer"
    """Digits only: identities and document types."""
    DECIMAL = "decimal"
    """A decimal number with ``.`` as the decimal point."""


@dataclass(frozen=True)
class Parameter:
    """A named parameter of a WHERE or HAVING case."""

    name: str
    kind: ParameterKind = ParameterKind.TEXT


@dataclass(frozen=True)
class Case:
    """A named WHERE or HAVING case: a SQL predicate with ``{name}`` parameters."""

    name: str
    predicate: str
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class Ordering:
    """A named ORDERBY case; the table's identity is always appended to ``keys``."""

    name: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Join:
    """A LEFT JOIN of ``table`` on ``on``, inside the main table's dossier."""

    table: str
    on: str


@dataclass(frozen=True)
class Scope:
    """A fixed equality that every row of a RecordSql meets, e.g. ``CE1 = '3'``."""

    column: str
    value: str


@dataclass(frozen=True)
class Field:
    """An output field: its name on the wire and the SQL that computes it."""

    name: str
    expression: str


@dataclass(frozen=True, eq=False)
class RecordSql:
    """A named query over ``table``, limited to the rows that meet ``scope``."""

    name: str
    table: str
    fields: tuple[Field, ...]
    where: tuple[Case, ...]
    orderby: tuple[Ordering, ...]
    having: tuple[Case, ...] = ()
    joins: tuple[Join, ...] = ()
    scope: Scope | None = None

    @property
    def identity(self) -> str:
        """The identity column, ``<TABLE>.<TABLE>_ID``."""
        return f"{self.table}.{self.table}_ID"


@dataclass(frozen=True, eq=False)
class Dictionary:
    """A ``.dhoq`` file: a name and the RecordSql it holds."""

    name: str
    recordsqls: tuple[RecordSql, ...]


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _decimal_difference(left: Any, right: Any) -> str | None:
    minuend, subtrahend = _decimal(left), _decimal(right)
    if minuend is None or subtrahend is None:
        return None
    return str(minuend - subtrahend)


def _decimal_compare(left: Any, right: Any) -> int | None:
    first, second = _decimal(left), _decimal(right)
    if first is None or second is None:
        return None
    return (first > second) - (first < second)


SQL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "DEC_SUB": (2, _decimal_difference),
    "DEC_CMP": (2, _decimal_compare),
}
"""SQL functions the predicates use: name → (argument count, implementation).

``DEC_SUB(a, b)`` is ``a - b`` as decimal text; ``DEC_CMP(a, b)`` is -1, 0 or 1.
Both answer NULL when a value is not a number, so bad data never fails a read.
"""


def own_fields(table: str, columns: str) -> tuple[Field, ...]:
    """``TABLE_ID``, ``<TABLE>_ID``, ``DOS``, then the listed columns of ``table``."""
    identity = f"{table}.{table}_ID"
    return (
        Field("TABLE_ID", identity),
        Field(f"{table}_ID", identity),
        Field("DOS", f"{table}.DOS"),
        *(Field(column, f"{table}.{column}") for column in columns.split()),
    )


def joined_fields(table: str, columns: str) -> tuple[Field, ...]:
    """Columns of a joined table, named ``TABLE_FIELD`` as Divalto names them."""
    return tuple(
        Field(f"{table}_{column}", f"{table}.{column}") for column in columns.split()
    )


def equal(name: str, *pairs: tuple[str, Parameter]) -> Case:
    """A case where each column equals its parameter."""
    predicate = " AND ".join(f"{column} = {{{param.name}}}" for column, param in pairs)
    return Case(name, predicate, tuple(param for _, param in pairs))


def like(name: str, column: str, parameter: str) -> Case:
    """A case where ``column`` matches a LIKE pattern (a prefix without ``%``)."""
    return Case(
        name,
        f"{column} LIKE {{{parameter}}}",
        (Parameter(parameter, ParameterKind.PATTERN),),
    )


def between(name: str, column: str, kind: ParameterKind = ParameterKind.TEXT) -> Case:
    """A case where ``column`` lies between ``from`` and ``to``, both included."""
    return Case(
        name,
        f"{column} BETWEEN {{from}} AND {{to}}",
        (Parameter("from", kind), Parameter("to", kind)),
    )


def at_least(name: str, expression: str, parameter: str) -> Case:
    """A case where the decimal ``expression`` is at least the parameter."""
    return Case(
        name,
        f"DEC_CMP({expression}, {{{parameter}}}) >= 0",
        (Parameter(parameter, ParameterKind.DECIMAL),),
    )


def positive(name: str, expression: str) -> Case:
    """A case where the decimal ``expression`` is above zero."""
    return Case(name, f"DEC_CMP({expression}, '0') > 0")


def text(name: str) -> Parameter:
    return Parameter(name)


def integer(name: str) -> Parameter:
    return Parameter(name, ParameterKind.INTEGER)


def by_identity(table: str) -> Case:
    """``ID``: the row whose identity is ``id``."""
    return equal("ID", (f"{table}.{table}_ID", integer("id")))


# Third parties: CLI holds every kind, told apart by CE1 (3 customer, 4 supplier).
_TIERS_COLUMNS = (
    "TIERS NOM RUE CPOSTAL VIL PAY TEL EMAIL TVANO REGCOD TARCOD REMCOD DEV CE1 "
    "REFEXT VERSION"
)


def third_parties(name: str, ce1: str) -> RecordSql:
    """Third parties of one kind (``CE1``), with their payment terms' label."""
    return RecordSql(
        name=name,
        table="CLI",
        scope=Scope("CE1", ce1),
        joins=(Join("REG", "REG.REGCOD = CLI.REGCOD"),),
        fields=(*own_fields("CLI", _TIERS_COLUMNS), *joined_fields("REG", "LIB")),
        where=(
            equal("PK", ("CLI.TIERS", text("tiers"))),
            by_identity("CLI"),
            equal("Equal_Tiers", ("CLI.TIERS", text("tiers"))),
            like("Like_Tiers", "CLI.TIERS", "tiers"),
            between("Between_Tiers", "CLI.TIERS"),
            like("Like_Nom", "CLI.NOM", "nom"),
            equal("Equal_Email", ("CLI.EMAIL", text("email"))),
            equal("Equal_RefExt", ("CLI.REFEXT", text("refext"))),
        ),
        orderby=(
            Ordering("Par_ID", ()),
            Ordering("Par_Code", ("CLI.TIERS",)),
            Ordering("Par_Libelle", ("CLI.NOM",)),
            Ordering("Par_Ville", ("CLI.VIL", "CLI.NOM")),
        ),
    )


ARTICLE = RecordSql(
    name="Article",
    table="ART",
    joins=(Join("TVA", "TVA.TVACOD = ART.TVAART"),),
    fields=(
        *own_fields("ART", "REF DES FAM UN TVAART STFL SREFFL PUB"),
        *joined_fields("TVA", "TAUX"),
    ),
    where=(
        equal("PK", ("ART.REF", text("ref"))),
        by_identity("ART"),
        equal("Equal_Ref", ("ART.REF", text("ref"))),
        like("Like_Ref", "ART.REF", "ref"),
        between("Between_Ref", "ART.REF"),
        equal("Equal_Fam", ("ART.FAM", text("fam"))),
        like("Like_Des", "ART.DES", "des"),
    ),
    orderby=(
        Ordering("Par_ID", ()),
        Ordering("Par_Code", ("ART.REF",)),
        Ordering("Par_Libelle", ("ART.DES",)),
        Ordering("Par_Famille", ("ART.FAM", "ART.REF")),
    ),
)

SUB_REFERENCE = RecordSql(
    name="SousRef",
    table="SART",
    joins=(Join("ART", "ART.REF = SART.REF"),),
    fields=(*own_fields("SART", "REF SREF1 SREF2"), *joined_fields("ART", "DES")),
    where=(
        equal(
            "PK",
            ("SART.REF", text("ref")),
            ("SART.SREF1", text("sref1")),
            ("SART.SREF2", text("sref2")),
        ),
        by_identity("SART"),
        equal("Equal_Ref", ("SART.REF", text("ref"))),
    ),
    orderby=(
        Ordering("Par_ID", ()),
        Ordering("Par_Code", ("SART.REF", "SART.SREF1", "SART.SREF2")),
    ),
)

_AVAILABLE = "DEC_SUB(STOCK.QTESTK, STOCK.QTERES)"

STOCK = RecordSql(
    name="Stock",
    table="STOCK",
    joins=(
        Join("ART", "ART.REF = STOCK.REF"),
        Join("DEPO", "DEPO.DEPO = STOCK.DEPO"),
    ),
    fields=(
        *own_fields("STOCK", "REF SREF1 SREF2 DEPO QTESTK QTERES"),
        Field("QTEDISPO", _AVAILABLE),
        *joined_fields("ART", "DES"),
        *joined_fields("DEPO", "LIB"),
    ),
    where=(
        equal(
            "PK",
            ("STOCK.REF", text("ref")),
            ("STOCK.SREF1", text("sref1")),
            ("STOCK.SREF2", text("sref2")),
            ("STOCK.DEPO", text("depo")),
        ),
        by_identity("STOCK"),
        equal("Equal_Ref", ("STOCK.REF", text("ref"))),
        like("Like_Ref", "STOCK.REF", "ref"),
        equal("Equal_Depo", ("STOCK.DEPO", text("depo"))),
        equal(
            "Equal_Ref_Depo", ("STOCK.REF", text("ref")), ("STOCK.DEPO", text("depo"))
        ),
        equal(
            "Equal_Ref_Sref",
            ("STOCK.REF", text("ref")),
            ("STOCK.SREF1", text("sref1")),
            ("STOCK.SREF2", text("sref2")),
        ),
    ),
    orderby=(
        Ordering("Par_ID", ()),
        Ordering("Par_Ref", ("STOCK.REF", "STOCK.SREF1", "STOCK.SREF2", "STOCK.DEPO")),
        Ordering(
            "Par_Depot", ("STOCK.DEPO", "STOCK.REF", "STOCK.SREF1", "STOCK.SREF2")
        ),
    ),
    having=(
        positive("Stock_Positif", "STOCK.QTESTK"),
        positive("Disponible_Positif", _AVAILABLE),
        at_least("Disponible_Min", _AVAILABLE, "qte"),
    ),
)

_PICOD = integer("picod")

HEADER = RecordSql(
    name="Entete",
    table="ENT",
    joins=(Join("CLI", "CLI.TIERS = ENT.TIERS"),),
    fields=(
        *own_fields(
            "ENT",
            "ETB PICOD PINO PREFPINO TIERS PIDT PIREF CE4 DEV DEPO REGCOD HTMT TVAMT "
            "TTCMT ORIG_ENT_ID VERSION",
        ),
        *joined_fields("CLI", "NOM"),
    ),
    where=(
        equal("PK", ("ENT.PICOD", _PICOD), ("ENT.PINO", text("pino"))),
        by_identity("ENT"),
        equal("Equal_Piece", ("ENT.PICOD", _PICOD), ("ENT.PINO", text("pino"))),
        equal("Equal_PrefPiNo", ("ENT.PREFPINO", text("prefpino"))),
        equal("Equal_PiRef", ("ENT.PIREF", text("piref"))),
        equal("Equal_Tiers", ("ENT.TIERS", text("tiers"))),
        equal("Equal_Tiers_PiCod", ("ENT.TIERS", text("tiers")), ("ENT.PICOD", _PICOD)),
        equal("Equal_PiCod", ("ENT.PICOD", _PICOD)),
        equal("Equal_Ce4", ("ENT.CE4", text("ce4"))),
        equal("Equal_Origine", ("ENT.ORIG_ENT_ID", integer("id"))),
        between("Between_PiDt", "ENT.PIDT"),
    ),
    orderby=(
        Ordering("Par_ID", ()),
        Ordering("Par_Piece", ("ENT.PICOD", "ENT.PINO")),
        Ordering("Par_Date", ("ENT.PIDT",)),
        Ordering("Par_Tiers", ("ENT.TIERS", "ENT.PIDT")),
    ),
    having=(at_least("Montant_Min", "ENT.HTMT", "mt"),),
)

LINE = RecordSql(
    name="Mouvement",
    table="MOUV",
    joins=(Join("ENT", "ENT.ENT_ID = MOUV.ENT_ID"),),
    fields=(
        *own_fields(
            "MOUV",
            "ENT_ID PICOD PINO ENRNO REF SREF1 SREF2 DES DEPO QTE PUB REM1 REM2 REM3 "
            "PUNET MTHT TVACOD QTETRF ORIG_MOUV_ID",
        ),
        *joined_fields("ENT", "TIERS PIREF PIDT"),
    ),
    where=(
        equal(
            "PK",
            ("MOUV.PICOD", _PICOD),
            ("MOUV.PINO", text("pino")),
            ("MOUV.ENRNO", integer("enrno")),
        ),
        by_identity("MOUV"),
        equal("Equal_Ent_ID", ("MOUV.ENT_ID", integer("ent_id"))),
        equal("Equal_Piece", ("MOUV.PICOD", _PICOD), ("MOUV.PINO", text("pino"))),
        equal("Equal_PiRef", ("ENT.PIREF", text("piref"))),
        equal("Equal_Ref", ("MOUV.REF", text("ref"))),
    ),
    orderby=(
        Ordering("Par_ID", ()),
        Ordering("Par_Ligne", ("MOUV.ENT_ID", "MOUV.ENRNO")),
        Ordering("Par_Piece", ("MOUV.PICOD", "MOUV.PINO", "MOUV.ENRNO")),
    ),
    having=(positive("Reliquat_Positif", "DEC_SUB(MOUV.QTE, MOUV.QTETRF)"),),
)

CATALOGUE: tuple[Dictionary, ...] = (
    Dictionary("GTRSTIERS.dhoq", (third_parties("Client", "3"),)),
    Dictionary("GTRSART.dhoq", (ARTICLE, SUB_REFERENCE)),
    Dictionary("GTRSSTOCK.dhoq", (STOCK,)),
    Dictionary("GTRSPIECE.dhoq", (HEADER, LINE)),
    Dictionary("GTRSFOU.dhoq", (third_parties("Fournisseur", "4"),)),
)
"""Every dictionary the simulator knows; which ones are readable is a setting."""


def sort_indexes() -> list[tuple[str, tuple[str, ...]]]:
    """Indexes ``(table, columns)`` that serve every ORDERBY in dossier order.

    Each is ``DOS``, the scope's column, then the ordering's keys. SQLite keeps
    the identity after the last column of an index, so a page is read in order
    without sorting the table, which keeps deep pages of large tables cheap. Keys
    computed from another table cannot be indexed and are skipped.
    """
    indexes: dict[tuple[str, tuple[str, ...]], None] = {}
    for dictionary in CATALOGUE:
        for query in dictionary.recordsqls:
            for ordering in query.orderby:
                columns = [key.partition(".") for key in ordering.keys]
                if all(table == query.table and dot for table, dot, _ in columns):
                    scope = (query.scope.column,) if query.scope else ()
                    key = ("DOS", *scope, *(column for _, _, column in columns))
                    indexes[(query.table, key)] = None
    return list(indexes)

"""Reading the ``data`` of a JSON business action, and refusing it with a resultcode.

A business action answers a problem with a ``resultcode`` (protocol section 5.2):
``"1"`` the request does not conform (a field missing or mistyped, text the ERP's
encoding cannot carry), ``"2"`` an object it names does not exist, ``"3"`` a
business check refused it. Handlers read a request through :class:`Group`, which
records every problem in one :class:`Problems` and goes on reading, so that one
answer names all the problems of a request, each prefixed by the path of its field
as the request wrote it: ``ient.Tiers``, ``imouvtb[2].imouv.Ref`` (items of a list
are counted from 1).

Field names match without regard to case (``PiCod``, ``picod``); a JSON ``null``
counts as an absent field; surrounding blanks of a text are dropped. Unknown fields
are ignored.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import Row, Store

NOT_CONFORMING = "1"
NOT_FOUND = "2"
REFUSED = "3"

_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{8}")
_LONGEST_INTEGER = 18
"""Digits of the longest whole number a field takes: it fits a 64-bit integer."""


class Rejection(Exception):
    """A business action refused, with its ``resultcode`` and ``errormessage``."""

    def __init__(self, resultcode: str, message: str) -> None:
        super().__init__(message)
        self.resultcode = resultcode
        self.message = message


class Problems:
    """Every problem found in one request, so that one answer names them all."""

    def __init__(self) -> None:
        self._found: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return bool(self._found)

    def add(self, resultcode: str, where: str, text: str) -> None:
        """Record a problem; ``where`` is the field's path, or empty."""
        self._found.append((resultcode, f"{where}: {text}" if where else text))

    def raise_if_any(self) -> None:
        """Raise one :class:`Rejection` naming every problem recorded so far.

        Its resultcode is the lowest among the problems: a request that does not
        conform is answered as such even when it also names unknown objects.
        """
        if self._found:
            resultcode = min(code for code, _ in self._found)
            raise Rejection(resultcode, "; ".join(text for _, text in self._found))


@dataclass(frozen=True)
class ActionContext:
    """What a business action works with: an open transaction and its dossier."""

    db: sqlite3.Connection
    store: Store
    settings: SimulatorSettings
    dossier: str
    etb: str
    today: date

    def one(self, sql: str, *params: Any) -> Row | None:
        """The first row of a query, as a dictionary, or None."""
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, *params: Any) -> list[Row]:
        """Every row of a query, as dictionaries."""
        return [dict(row) for row in self.db.execute(sql, params)]

    def exists(self, table: str, column: str, value: str) -> bool:
        """Whether the dossier has a ``table`` row whose ``column`` is ``value``."""
        sql = f"SELECT 1 FROM {table} WHERE DOS = ? AND {column} = ?"  # noqa: S608 - names come from our code
        return self.one(sql, self.dossier, value) is not None


@dataclass
class ActionResult:
    """A business action's success: its ``response`` and what the log records."""

    response: dict[str, Any]
    document: str | None = None
    reference: str | None = None


class Group:
    """One object of a request (``ient``, ``imouvtb[1].imouv``), read field by field.

    Each reader returns a typed value. When the field is missing, mistyped or not
    representable, it records the problem under the field's path and returns a
    neutral value (an empty text, None), so that reading goes on.
    """

    def __init__(
        self, path: str, fields: Mapping[str, Any], problems: Problems, encoding: str
    ) -> None:
        self.path = path
        self.problems = problems
        self.encoding = encoding
        self._fields = {str(name).lower(): value for name, value in fields.items()}

    def where(self, name: str) -> str:
        """The path of one of this group's fields."""
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str) -> Any:
        """The field's JSON value, None when absent."""
        return self._fields.get(name.lower())

    def fields(self) -> dict[str, Any]:
        """The group's fields, by lower-case name."""
        return dict(self._fields)

    def has(self, name: str) -> bool:
        """Whether the field is present, not null and not blank."""
        value = self.raw(name)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def problem(self, resultcode: str, name: str, text: str) -> None:
        """Record a problem about one of this group's fields."""
        self.problems.add(resultcode, self.where(name), text)

    def text(self, name: str, *, required: bool = False) -> str:
        """A text field (a JSON string or integer); empty when absent or wrong."""
        value = self.raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            self.problem(NOT_CONFORMING, name, f"text expected, got {kind(value)}")
            return ""
        text = (value or "").strip()
        if not text and required:
            self.problem(NOT_CONFORMING, name, "is required")
        bad = unencodable(text, self.encoding)
        if bad:
            self.problem(
                NOT_CONFORMING,
                name,
                f"characters not representable in {self.encoding}: {bad}",
            )
            return ""
        return text

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        """A decimal number, written as a JSON number or as text (``"12.50"``)."""
        if not self.has(name):
            if required:
                self.problem(NOT_CONFORMING, name, "is required")
            return None
        value = self.raw(name)
        number = to_decimal(value)
        if number is None:
            self.problem(
                NOT_CONFORMING, name, f"decimal number expected, got {show(value)}"
            )
        return number

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """A whole number at least 0, written as a JSON integer or as digits.

        At most 18 digits: a longer one is recorded as a problem.
        """
        text = self.text(name, required=required)
        if not text:
            return None
        if not _INTEGER.fullmatch(text):
            self.problem(NOT_CONFORMING, name, f"whole number expected, got '{text}'")
            return None
        if len(text) > _LONGEST_INTEGER:
            self.problem(
                NOT_CONFORMING, name, f"whole number expected, got {len(text)} digits"
            )
            return None
        return int(text)

    def date(self, name: str, default: date) -> date:
        """A date written ``YYYYMMDD``; ``default`` when absent or wrong."""
        text = self.text(name)
        if not text:
            return default
        try:
            if _DATE.fullmatch(text):
                return datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            pass
        self.problem(NOT_CONFORMING, name, f"date YYYYMMDD expected, got '{text}'")
        return default

    def group(self, name: str, *, required: bool = False) -> Group:
        """A nested object; an empty group when absent or not an object."""
        value = self.raw(name)
        if isinstance(value, dict):
            return Group(self.where(name), value, self.problems, self.encoding)
        if value is None:
            if required:
                self.problem(NOT_CONFORMING, name, "is required")
        else:
            self.problem(NOT_CONFORMING, name, f"object expected, got {kind(value)}")
        return Group(self.where(name), {}, self.problems, self.encoding)

    def size(self, name: str) -> int:
        """How many items a list field holds (a single object counts as one)."""
        value = self.raw(name)
        if value is None:
            return 0
        return len(value) if isinstance(value, list) else 1

    def items(self, name: str, item: str) -> Iterator[tuple[int, Group]]:
        """The items of a ``<item>tb: [{<item>: {...}}]`` list, numbered from 1.

        A single ``{<item>: {...}}`` object is taken as a list of one. Malformed
        items are recorded as problems, in their turn, and left out; the others
        keep their number.
        """
        value = self.raw(name)
        if value is None:
            return
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            self.problem(
                NOT_CONFORMING, name, f"list of {{'{item}': {{...}}}} expected"
            )
            return
        for number, element in enumerate(value, start=1):
            path = f"{self.where(name)}[{number}]"
            inner = _member(element, item)
            if isinstance(inner, dict):
                yield (
                    number,
                    Group(f"{path}.{item}", inner, self.problems, self.encoding),
                )
            else:
                self.problems.add(
                    NOT_CONFORMING, path, f"object {{'{item}': {{...}}}} expected"
                )


def _member(element: Any, name: str) -> Any:
    if not isinstance(element, dict):
        return None
    lowered = {str(key).lower(): value for key, value in element.items()}
    return lowered.get(name.lower())


def to_decimal(value: Any) -> Decimal | None:
    """A finite decimal from a JSON number or a plain decimal text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def unencodable(text: str, encoding: str) -> str:
    """The characters of ``text`` that ``encoding`` cannot carry, quoted, or ''."""
    bad: list[str] = []
    for character in dict.fromkeys(text):
        try:
            character.encode(encoding)
        except UnicodeEncodeError:
            bad.append(f"'{character}' (U+{ord(character):04X})")
    return ", ".join(bad)


def kind(value: Any) -> str:
    """The JSON kind of a value, for messages: ``an object``, ``a list``..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "text"
    return "a number"


def show(value: Any) -> str:
    """A value as a message quotes it: text in quotes, other kinds by name."""
    return f"'{value}'" if isinstance(value, str) else kind(value)

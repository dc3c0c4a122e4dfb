"""What a source reader gives back: items, rejections, skipped files, a catalogue.

A reader turns a shop's export (a file, or every file of a folder) into the
connector's canonical orders and refunds. Nothing read is ever dropped in
silence: each item becomes an :class:`Item`, or a :class:`Rejection` that names
its file, its position, the field and the reason (and keeps the raw payload, so
that it can be corrected and replayed); a file that holds no orders or refunds
becomes a :class:`Skip`. The :class:`Catalogue` lists the articles, customers
and stock the input refers to, so that an empty ERP (the simulator) can be
seeded for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund

__all__ = [
    "ArticleSeen",
    "Catalogue",
    "Item",
    "Origin",
    "ReadResult",
    "Rejection",
    "Skip",
]


@dataclass(frozen=True)
class Origin:
    """Where something was read: the file and a position a person can find.

    ``position`` reads like ``line 12``, ``orders[3]`` or
    ``invoice 536365 (lines 2-8)``.
    """

    file: Path
    position: str

    def __str__(self) -> str:
        return f"{self.file.name}, {self.position}"


@dataclass(frozen=True)
class Item:
    """One order or refund, in canonical form, with the payload it came from."""

    origin: Origin
    canonical: CanonicalOrder | CanonicalRefund
    raw: Any
    """The source's own object (or its CSV rows as dicts). JSON numbers with
    decimals are read as Decimal, so that no amount passes through a float:
    serialise with ``default=str``, as the intake does."""

    @property
    def key(self) -> str:
        return self.canonical.key


@dataclass(frozen=True)
class Rejection:
    """An item that cannot become an order or a refund, and why.

    ``field`` is the source's own field path (``line_items[2].quantity``,
    ``Quantity``); ``key`` is the business key when the item got far enough to
    have one.
    """

    origin: Origin
    field: str
    reason: str
    raw: Any
    key: str | None = None


@dataclass(frozen=True)
class Skip:
    """A file read but holding no orders or refunds (products, customers...)."""

    file: Path
    reason: str


@dataclass
class ArticleSeen:
    """An article the input refers to, and what it says about it."""

    ref: str
    label: str = ""
    prices: Counter[Decimal] = field(default_factory=Counter)
    """Net unit prices excluding tax seen on order lines, with how often."""
    gross_prices: Counter[Decimal] = field(default_factory=Counter)
    """Unit prices before the shop's own discounts (the list price), with how often."""
    vat_rates: Counter[Decimal] = field(default_factory=Counter)
    sub_references: set[tuple[str, str]] = field(default_factory=set)
    quantity: Decimal = Decimal(0)
    """Total quantity ordered over the input (to seed enough stock)."""
    first_date: date | None = None


@dataclass
class Catalogue:
    """What the input refers to: articles, and stock levels when a file says."""

    articles: dict[str, ArticleSeen] = field(default_factory=dict)
    stock: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    """(ref, depot) to the quantity an inventory file states."""

    def article(self, ref: str) -> ArticleSeen:
        """The entry of ``ref``, created empty when first seen."""
        seen = self.articles.get(ref)
        if seen is None:
            seen = self.articles[ref] = ArticleSeen(ref)
        return seen


@dataclass
class ReadResult:
    """Everything read from a path, in file order then position order."""

    files: list[Path] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    catalogue: Catalogue = field(default_factory=Catalogue)

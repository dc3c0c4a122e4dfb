"""Prices and discounts (placeholder: the real engine replaces this module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from divalto.simulator.settings import SimulatorSettings

Row = dict[str, Any]


@dataclass(frozen=True)
class LinePrice:
    """The price of one line: gross unit price, cascaded discounts, net, amount."""

    gross: Decimal
    discounts: tuple[Decimal, Decimal, Decimal]
    net: Decimal
    amount: Decimal
    source: str


def price_line(
    rows: Any,
    settings: SimulatorSettings,
    dossier: str,
    customer: Row,
    article: Row,
    quantity: Decimal,
    on: date,
) -> LinePrice:
    """Price ``quantity`` of ``article`` for ``customer`` on the date ``on``.

    ``rows`` is an open ``sqlite3.Connection`` on the store (inside a transaction).
    """
    gross = Decimal(article["PUB"])
    amount = (gross * quantity).quantize(Decimal("0.01"))
    zero = Decimal(0)
    return LinePrice(gross, (zero, zero, zero), gross, amount, "article")

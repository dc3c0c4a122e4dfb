"""Stock: levels per depot and stock movements."""

from __future__ import annotations

from decimal import Decimal

from divalto.adapters._common import Adapter, decimal_of, exact_number
from divalto.models import StockLevel, StockMovement
from divalto.services import BusinessAction
from divalto.validation import PayloadInvalid, Problem

__all__ = ["Stock"]


class Stock(Adapter):
    """Stock levels (``INTERROGER_STOCK``) and movements (the stock movement action)."""

    def levels(
        self, ref: str, *, depot: str = "*", sref1: str = "", sref2: str = ""
    ) -> list[StockLevel]:
        """Stock of ``ref`` in ``depot`` (``"*"``: every depot), one level per
        depot and variant, zeros where nothing is stored.

        Raises ReferenceNotFound for an unknown article, depot or sub-reference.
        """
        answer = self.services.stock(
            ref, depot=depot, sref1=sref1 or None, sref2=sref2 or None
        )
        return [
            StockLevel(
                ref=level.ref,
                sref1=level.sref1 or "",
                sref2=level.sref2 or "",
                depot=level.depot,
                physical=level.physical,
                reserved=level.reserved,
                available=level.available,
            )
            for level in answer.levels
        ]

    def move(
        self,
        ref: str,
        quantity: Decimal,
        *,
        entry: bool,
        reason: str,
        depot: str | None = None,
        sref1: str = "",
        sref2: str = "",
    ) -> StockMovement:
        """Put ``quantity`` into stock (``entry``) or take it out, for ``reason``.

        Raises PayloadInvalid for a quantity not above 0 (or a float, or beyond
        the ERP's decimals and size) or an empty reason,
        InsufficientStock for an exit beyond the physical stock,
        BusinessRuleRejected for an article that is not stock-managed.
        """
        self._check(quantity, reason)
        wire, names = self.mapping.wire, self.mapping.wire.request
        data = {
            names["ref"]: ref,
            names["sref1"]: sref1,
            names["sref2"]: sref2,
            names["depot"]: depot or self.mapping.default_depot,
            names["quantity"]: quantity,
            names["direction"]: wire.entry if entry else wire.exit,
            names["reason"]: reason,
        }
        response = self.run(BusinessAction.STOCK_MOVEMENT, {self.group("stock"): data})
        return self._movement(response.get(self.group("stock_answer")) or {})

    def _check(self, quantity: Decimal, reason: str) -> None:
        problems = []
        number = exact_number(quantity)
        if number is None or not number > 0:
            problems.append(
                Problem("quantity", f"must be a decimal above 0: {quantity}")
            )
        elif precision := self.precision_problem(number):
            problems.append(Problem("quantity", precision))
        if not reason.strip():
            problems.append(Problem("reason", "is required"))
        if problems:
            raise PayloadInvalid("stock movement", problems)

    def _movement(self, raw: dict[str, str]) -> StockMovement:
        keys = self.mapping.wire.stock_response
        return StockMovement(
            ref=raw[keys["ref"]],
            sref1=raw.get(keys["sref1"]) or "",
            sref2=raw.get(keys["sref2"]) or "",
            depot=raw[keys["depot"]],
            entry=raw[keys["direction"]].upper() == self.mapping.wire.entry,
            quantity=decimal_of(raw[keys["quantity"]], "quantity"),
            reason=raw[keys["reason"]],
            physical_before=decimal_of(raw[keys["before"]], "stock before"),
            physical_after=decimal_of(raw[keys["after"]], "stock after"),
        )

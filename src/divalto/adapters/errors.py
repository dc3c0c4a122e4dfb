"""Errors the adapters add to :mod:`divalto.errors`, each a leaf of its tree.

::

    ReferenceNotFound
    └── ReferencesMissing     every reference a write needs that does not exist
    BusinessRuleRejected
    ├── PriceMismatch         the shop's price is not the ERP's price
    └── CreditLimitExceeded   a credit note beyond what the invoice has left
    VersionConflict
    └── UpdateConflict        another writer changed the same field differently
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from divalto.errors import BusinessRuleRejected, ReferenceNotFound, VersionConflict

__all__ = [
    "CreditLimitExceeded",
    "FieldConflict",
    "MissingReference",
    "PriceDifference",
    "PriceMismatch",
    "ReferencesMissing",
    "UpdateConflict",
]


@dataclass(frozen=True)
class MissingReference:
    """One missing reference: where the payload names it, what it is, its value."""

    path: str
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} '{self.value}' not found"


class ReferencesMissing(ReferenceNotFound):
    """A write refused before sending: ``missing`` lists every absent reference."""

    code = "business.references_missing"

    def __init__(self, missing: list[MissingReference], **context: Any) -> None:
        text = "; ".join(str(item) for item in missing)
        super().__init__(f"references missing: {text}", **context)
        self.missing = missing


@dataclass(frozen=True)
class PriceDifference:
    """A line whose price in the shop differs from the ERP's price simulation."""

    path: str
    ref: str
    shop: Decimal
    erp: Decimal
    erp_gross: Decimal
    erp_discounts: tuple[Decimal, ...]

    def __str__(self) -> str:
        rates = " + ".join(f"{rate}%" for rate in self.erp_discounts if rate)
        # The ERP's terms are worth stating only when a discount made its price.
        terms = f" ({self.erp_gross} less {rates})" if rates else ""
        return (
            f"{self.path}: article '{self.ref}' costs {self.shop} in the shop "
            f"but {self.erp} in the ERP{terms}"
        )


class PriceMismatch(BusinessRuleRejected):
    """Prices that changed between the shop and the ERP; nothing was created."""

    code = "business.price_mismatch"

    def __init__(self, differences: list[PriceDifference], **context: Any) -> None:
        text = "; ".join(str(item) for item in differences)
        super().__init__(f"prices differ from the ERP's: {text}", **context)
        self.differences = differences


class CreditLimitExceeded(BusinessRuleRejected):
    """A credit note whose total would exceed what remains creditable."""

    code = "business.credit_limit_exceeded"

    def __init__(
        self, message: str, *, remaining: Decimal, asked: Decimal, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.remaining = remaining
        self.asked = asked


@dataclass(frozen=True)
class FieldConflict:
    """A field both writers changed: its value when read, theirs, and ours."""

    field: str
    base: str
    theirs: str
    ours: str

    def __str__(self) -> str:
        return (
            f"{self.field}: was '{self.base}', now '{self.theirs}', "
            f"we would write '{self.ours}'"
        )


class UpdateConflict(VersionConflict):
    """A stale update whose fields another writer changed differently."""

    code = "business.update_conflict"

    def __init__(self, what: str, conflicts: list[FieldConflict], **context: Any):
        text = "; ".join(str(item) for item in conflicts)
        super().__init__(f"conflicting update of {what}: {text}", **context)
        self.conflicts = conflicts

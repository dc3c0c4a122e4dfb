"""Typed business models that stay the same whatever Divalto version is behind.

These are what integrators read and write: a :class:`Customer`, a :class:`Product`,
a :class:`StockLevel`, an :class:`Order` with its :class:`DocumentLine` items, a
:class:`DeliveryNote`, an :class:`Invoice`, a :class:`CreditNote`, and
:class:`Money`. No Divalto field name appears here: the mapping profile
(:mod:`divalto.mapping`) turns the ERP's records into these models and back, so a
renamed field is a profile change, never a model change.

Every model is frozen. Amounts, prices and quantities are :class:`~decimal.Decimal`;
a ``float`` is refused wherever a number is expected, since money must never pass
through binary floating point.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Address",
    "Availability",
    "CreditNote",
    "Customer",
    "DeliveryNote",
    "Document",
    "DocumentKind",
    "DocumentLine",
    "DocumentRef",
    "DocumentState",
    "Exact",
    "Invoice",
    "LineAvailability",
    "Money",
    "Order",
    "Product",
    "Quote",
    "StockLevel",
    "StockMovement",
    "SubReference",
    "TaxLine",
]


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("a float cannot hold money or quantities exactly: give text")
    return value


Exact = Annotated[Decimal, BeforeValidator(_no_float)]
"""A decimal that refuses floats; text, integers and Decimal are accepted."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Money(_Frozen):
    """An amount in a currency; adding two amounts of different currencies fails.

    ``Money("12.50", "EUR")`` is also accepted positionally through :meth:`of`.
    """

    amount: Exact
    currency: str = Field(min_length=3, max_length=3)

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        """Build from a decimal or its text; raises ValidationError on a float."""
        return cls(amount=amount, currency=currency)

    def __add__(self, other: Money) -> Money:
        return Money(amount=self.amount + self._same(other), currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(amount=self.amount - self._same(other), currency=self.currency)

    def _same(self, other: Money) -> Decimal:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")
        return other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Address(_Frozen):
    """A postal address; every part may be empty."""

    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""


class Customer(_Frozen):
    """A customer as the ERP holds it; ``version`` counts its changes."""

    code: str
    name: str
    addresses: tuple[Address, ...] = ()
    email: str = ""
    phone: str = ""
    vat_number: str = ""
    payment_term: str = ""
    payment_term_label: str = ""
    price_family: str = ""
    discount_family: str = ""
    currency: str = ""
    external_references: tuple[str, ...] = ()
    version: int = 1

    @property
    def address(self) -> Address:
        """The main address (the first), or an empty one."""
        return self.addresses[0] if self.addresses else Address()


class SubReference(_Frozen):
    """A variant of an article: Divalto's two sub-references (size, colour...)."""

    sref1: str
    sref2: str = ""


class Product(_Frozen):
    """An article; ``sub_references`` lists its variants when it has some."""

    ref: str
    label: str
    family: str = ""
    unit: str = ""
    vat_code: str = ""
    vat_rate: Exact | None = None
    stock_managed: bool = False
    has_sub_references: bool = False
    sub_references: tuple[SubReference, ...] = ()
    base_price: Exact | None = None


class StockLevel(_Frozen):
    """Stock of one article (and variant) in one depot; available may be negative."""

    ref: str
    sref1: str = ""
    sref2: str = ""
    depot: str
    physical: Exact
    reserved: Exact
    available: Exact


class StockMovement(_Frozen):
    """A stock entry or exit as the ERP applied it, with stock before and after."""

    ref: str
    sref1: str = ""
    sref2: str = ""
    depot: str
    entry: bool
    quantity: Exact
    reason: str
    physical_before: Exact
    physical_after: Exact


class LineAvailability(_Frozen):
    """Whether one line can be served from its depot; ``missing`` is 0 when it can."""

    line: int
    ref: str
    sref1: str = ""
    sref2: str = ""
    depot: str
    requested: Exact
    available: Exact

    @property
    def missing(self) -> Decimal:
        return max(Decimal(0), self.requested - max(self.available, Decimal(0)))

    @property
    def complete(self) -> bool:
        return self.missing == 0


class Availability(_Frozen):
    """Availability of every line of an order, line by line."""

    lines: tuple[LineAvailability, ...]

    @property
    def complete(self) -> bool:
        """True when every line can be served in full."""
        return all(line.complete for line in self.lines)

    @property
    def short_lines(self) -> tuple[LineAvailability, ...]:
        return tuple(line for line in self.lines if not line.complete)


class DocumentKind(StrEnum):
    """The kinds of sales document; the profile gives each its ``PiCod``."""

    QUOTE = "quote"
    ORDER = "order"
    DELIVERY = "delivery"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class DocumentState(StrEnum):
    """A document's life state; the profile maps the ERP's codes to these."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    MODEL = "model"
    PROVISIONAL = "provisional"
    EXPIRED = "expired"
    ARCHIVED = "archived"


class DocumentRef(_Frozen):
    """Another document named by its kind and number (``CC00000001``)."""

    kind: DocumentKind
    number: str


class TaxLine(_Frozen):
    """VAT of one VAT code on a document."""

    vat_code: str
    rate: Exact
    base: Exact
    amount: Exact


class DocumentLine(_Frozen):
    """A line of a document; ``transferred`` is how much went into later documents."""

    number: int
    ref: str
    sref1: str = ""
    sref2: str = ""
    label: str = ""
    depot: str = ""
    quantity: Exact
    transferred: Exact = Decimal(0)
    gross_price: Exact
    discounts: tuple[Exact, ...] = ()
    net_price: Exact
    amount: Exact
    vat_code: str = ""

    @property
    def remaining(self) -> Decimal:
        """What may still be transferred: quantity less what was transferred."""
        return self.quantity - self.transferred


class Document(_Frozen):
    """What every sales document has; see the subclasses for each kind."""

    kind: DocumentKind
    number: str
    state: DocumentState
    version: int
    customer: str
    date: date
    your_reference: str = ""
    currency: str
    depot: str = ""
    payment_term: str = ""
    total_excluding_tax: Money
    total_vat: Money
    total_including_tax: Money
    taxes: tuple[TaxLine, ...] = ()
    lines: tuple[DocumentLine, ...] = ()
    origin: DocumentRef | None = None
    transferred_into: tuple[DocumentRef, ...] = ()

    def line(self, number: int) -> DocumentLine:
        """The line numbered ``number``; raises KeyError when there is none."""
        for line in self.lines:
            if line.number == number:
                return line
        raise KeyError(f"{self.number} has no line {number}")

    @property
    def ref(self) -> DocumentRef:
        return DocumentRef(kind=self.kind, number=self.number)


class Quote(Document):
    """A quote: it may become an order."""


class Order(Document):
    """An order: delivered in one or several delivery notes, or invoiced."""


class DeliveryNote(Document):
    """A delivery note: it took its lines out of stock."""


class Invoice(Document):
    """An invoice; ``credited`` is the total of its credit notes, tax included."""

    credit_notes: tuple[DocumentRef, ...] = ()
    credited: Money | None = None

    @property
    def creditable(self) -> Money:
        """What may still be credited: the total less what was credited."""
        if self.credited is None:
            return self.total_including_tax
        return self.total_including_tax - self.credited


class CreditNote(Document):
    """A credit note; ``origin`` is the invoice it corrects."""


DOCUMENT_CLASSES: dict[DocumentKind, type[Document]] = {
    DocumentKind.QUOTE: Quote,
    DocumentKind.ORDER: Order,
    DocumentKind.DELIVERY: DeliveryNote,
    DocumentKind.INVOICE: Invoice,
    DocumentKind.CREDIT_NOTE: CreditNote,
}
"""The model of each document kind."""

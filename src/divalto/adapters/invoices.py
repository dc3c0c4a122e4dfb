"""Invoices and credit notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from divalto.adapters.errors import CreditLimitExceeded
from divalto.adapters.orders import Transfers
from divalto.models import (
    CreditNote,
    DeliveryNote,
    Document,
    DocumentKind,
    DocumentLine,
    Invoice,
    Order,
)
from divalto.services import BusinessAction

__all__ = ["Invoices"]

_ZERO = Decimal(0)

Lines = list[tuple[DocumentLine, Decimal]]
"""Lines of a credit note: each invoice line (as credited) and its quantity."""


class Invoices(Transfers):
    """Invoices made from a delivery note or an order, and their credit notes.

    A credit note is computed here before it is sent, as the ERP computes it
    (line amounts rounded, VAT per code rounded), so that it is refused before any
    call when its total would exceed what the invoice has left to credit. The
    credit note that completes an invoice carries the rounding remainder: the
    credits then add up to the invoice's total to the cent.
    """

    def get(self, number: str) -> Invoice:
        """The invoice ``number``, with its credit notes and credited total."""
        return self.read(DocumentKind.INVOICE, number, Invoice)

    def get_credit_note(self, number: str) -> CreditNote:
        """The credit note ``number``."""
        return self.read(DocumentKind.CREDIT_NOTE, number, CreditNote)

    def from_delivery(self, number: str, *, on: date | None = None) -> Invoice:
        """Invoice all that remains of the delivery note ``number``."""
        note = self.read(DocumentKind.DELIVERY, number, DeliveryNote)
        return self._invoice(self.transfer(note, DocumentKind.INVOICE, on=on))

    def from_order(self, number: str, *, on: date | None = None) -> Invoice:
        """Invoice all that remains of the order ``number``, shipping it at once."""
        order = self.read(DocumentKind.ORDER, number, Order)
        return self._invoice(self.transfer(order, DocumentKind.INVOICE, on=on))

    def credit_note(
        self,
        invoice_number: str,
        quantities: Mapping[int, Decimal] | None = None,
        *,
        reference: str = "",
        on: date | None = None,
    ) -> CreditNote:
        """Credit ``quantities`` of the invoice's lines (all that is left if None).

        Lines are credited at the invoiced prices and discounts. ``reference``
        (a refund's id) is kept unique by the ERP: crediting it again raises
        DuplicateReference, and an answer lost after sending is recovered by
        looking the note up by it. The note that completes the invoice takes the
        rounding remainder: a line of the ``rounding`` article when earlier notes
        left a cent, one unit a few cents lower when their VAT rounding took
        more than the invoice had. Raises PayloadInvalid for a quantity that is a
        float, negative or on no line, and :class:`CreditLimitExceeded` before
        sending when a line would be credited beyond its invoiced quantity or
        the total beyond what remains creditable.
        """
        invoice = self.get(invoice_number)
        left = self._left_to_credit(invoice)
        wanted = left
        if quantities is not None:
            wanted = self.checked_quantities(
                quantities,
                lines=list(left),
                what=f"invoice {invoice.number}",
                allow_zero=True,
            )
        self._check_quantities(invoice, wanted, left)
        completes = all(wanted.get(n, _ZERO) == q for n, q in left.items())
        lines = [(invoice.line(n), q) for n, q in wanted.items() if q > 0]
        lines = self._fitted(invoice, lines, completes)
        total = self._total(invoice, lines)
        remaining = invoice.creditable.amount
        if total > remaining:
            raise self._beyond(invoice, remaining, total)
        adjustment = remaining - total if completes else _ZERO
        data = self._data(invoice, lines, adjustment, reference, on)
        note = self._created(data, reference)
        assert isinstance(note, CreditNote)
        return note

    def _created(self, data: Mapping[str, Any], reference: str) -> Document:
        if reference:
            return self.create_document(DocumentKind.CREDIT_NOTE, reference, data)
        return self.piece(self.run(BusinessAction.CREATE_DOCUMENT, data))

    def _fitted(self, invoice: Invoice, lines: Lines, completes: bool) -> Lines:
        """The lines of a note that completes the invoice, lowered by what the
        earlier notes' rounding took beyond the invoice's total, if they did.

        Only rounding is absorbed: at most a cent per line and VAT code of each
        note; beyond that the note is left as it is, to be refused.
        """
        excess = self._total(invoice, lines) - invoice.creditable.amount
        notes = len(invoice.credit_notes) + 1
        slack = self.mapping.rounding.cent * notes * (len(lines) + len(invoice.taxes))
        if not completes or not _ZERO < excess <= slack:
            return lines
        return self._lowered(lines, excess)

    def _lowered(self, lines: Lines, excess: Decimal) -> Lines:
        """One unit (or less) of the dearest line priced ``excess`` lower, at least.

        Its net amount falls by ``excess`` and its VAT cannot rise, so the total
        falls by ``excess`` or more; the rounding line makes up the rest.
        """
        index = max(range(len(lines)), key=lambda i: lines[i][0].net_price)
        line, quantity = lines[index]
        unit = min(quantity, Decimal(1))
        rounding = self.mapping.rounding
        amount = rounding.amount(line.net_price * unit) - excess
        price = (amount / unit).quantize(rounding.cent, rounding=ROUND_FLOOR)
        if price < 0:
            return lines
        cheaper = line.model_copy(
            update={"gross_price": price, "discounts": (), "net_price": price}
        )
        rest = [(line, quantity - unit)] if quantity > unit else []
        return [*lines[:index], *rest, (cheaper, unit), *lines[index + 1 :]]

    def _invoice(self, document: Any) -> Invoice:
        assert isinstance(document, Invoice)
        return document

    def _left_to_credit(self, invoice: Invoice) -> dict[int, Decimal]:
        """Per invoice line, the quantity its credit notes have not yet taken."""
        left = {line.number: line.quantity for line in invoice.lines}
        for ref in invoice.credit_notes:
            credited = self.get_credit_note(ref.number)
            for line in credited.lines:
                self._take(invoice.lines, left, line)
        return left

    @staticmethod
    def _take(
        lines: Sequence[DocumentLine], left: dict[int, Decimal], credited: DocumentLine
    ) -> None:
        """Count a credited line against the invoice lines it credits.

        First the lines of the same article at the same net price, then, for
        what remains (a unit credited lower by a last note), any line of the
        same article.
        """
        quantity = credited.quantity
        article = (credited.ref, credited.sref1, credited.sref2)
        same_price = [line for line in lines if line.net_price == credited.net_price]
        for candidates in (same_price, lines):
            for line in candidates:
                if (line.ref, line.sref1, line.sref2) == article and quantity > 0:
                    taken = min(quantity, left[line.number])
                    left[line.number] -= taken
                    quantity -= taken

    def _check_quantities(
        self,
        invoice: Invoice,
        wanted: Mapping[int, Decimal],
        left: Mapping[int, Decimal],
    ) -> None:
        for number, quantity in wanted.items():
            if quantity > left[number]:
                raise CreditLimitExceeded(
                    f"line {number} of invoice {invoice.number} has {left[number]} "
                    f"left to credit, asked {quantity}",
                    remaining=left[number],
                    asked=quantity,
                )
        if not any(quantity > 0 for quantity in wanted.values()):
            raise self._beyond(invoice, invoice.creditable.amount, _ZERO)

    def _beyond(
        self, invoice: Invoice, remaining: Decimal, asked: Decimal
    ) -> CreditLimitExceeded:
        return CreditLimitExceeded(
            f"credit note beyond invoice {invoice.number}: "
            f"total {invoice.total_including_tax.amount}, "
            f"{remaining} left to credit, asked {asked}",
            remaining=remaining,
            asked=asked,
        )

    def _total(self, invoice: Invoice, lines: Lines) -> Decimal:
        """The credit note's total including tax, computed as the ERP computes it."""
        rates = {tax.vat_code: tax.rate for tax in invoice.taxes}
        bases: dict[str, Decimal] = {}
        for line, quantity in lines:
            amount = self.mapping.rounding.amount(line.net_price * quantity)
            bases[line.vat_code] = bases.get(line.vat_code, _ZERO) + amount
        vat = sum(
            (
                self.mapping.rounding.amount(base * rates[code] / 100)
                for code, base in bases.items()
            ),
            _ZERO,
        )
        return sum(bases.values(), _ZERO) + vat

    def _data(
        self,
        invoice: Invoice,
        lines: Lines,
        adjustment: Decimal,
        reference: str,
        on: date | None,
    ) -> dict[str, Any]:
        header: dict[str, Any] = {
            self.req("kind"): self.mapping.picod(DocumentKind.CREDIT_NOTE),
            self.req("origin"): invoice.number,
        }
        if reference:
            header[self.req("your_reference")] = reference
        if on is not None:
            header[self.req("date")] = on
        items = [self._line(line, quantity) for line, quantity in lines]
        rates = [self._rates(n, line) for n, (line, _) in enumerate(lines, start=1)]
        if adjustment > 0:
            items.append(self._rounding_line(adjustment))
            rates.append(self._rates(len(items), None))
        data: dict[str, Any] = {
            self.group("header"): header,
            self.group("lines"): [{self.group("line"): item} for item in items],
            self.group("line_discounts"): [
                {self.group("line_discount"): item} for item in rates
            ],
        }
        if reference:
            on_flag = self.mapping.wire.unique_reference_on
            data[self.group("parameters")] = {self.req("unique_reference"): on_flag}
        return data

    def _line(self, line: DocumentLine, quantity: Decimal) -> dict[str, Any]:
        fields = {
            self.req("ref"): line.ref,
            self.req("sref1"): line.sref1,
            self.req("sref2"): line.sref2,
            self.req("quantity"): quantity,
            self.req("gross_price"): line.gross_price,
            self.req("vat_code"): line.vat_code,
            self.req("depot"): line.depot,
        }
        return {key: value for key, value in fields.items() if value != ""}

    def _rounding_line(self, amount: Decimal) -> dict[str, Any]:
        return {
            self.req("ref"): self.mapping.articles.rounding,
            self.req("quantity"): Decimal(1),
            self.req("gross_price"): amount,
            self.req("vat_code"): self.mapping.vat.exempt_code,
        }

    def _rates(self, number: int, line: DocumentLine | None) -> dict[str, Any]:
        rates: dict[str, Any] = {self.req("line_number"): str(number)}
        for position, rate in enumerate(line.discounts if line else (), start=1):
            rates[self.req(f"discount{position}")] = rate
        return rates

"""Orders (and quotes): create after checks, read, confirm, cancel, deliver."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from divalto.adapters._common import Adapter
from divalto.adapters.errors import (
    MissingReference,
    PriceDifference,
    PriceMismatch,
    ReferencesMissing,
)
from divalto.adapters.products import Products
from divalto.client import Divalto
from divalto.errors import ReferenceNotFound, VersionConflict
from divalto.mapping import MappingProfile
from divalto.models import (
    DeliveryNote,
    Document,
    DocumentKind,
    DocumentState,
    Order,
    Product,
    Quote,
)
from divalto.recordsql import Record
from divalto.services import BusinessAction, PriceOptions, PriceQuote
from divalto.validation import OrderLineRequest, OrderRequest, validate_order

__all__ = ["Orders", "Transfers"]

D = TypeVar("D", bound=Document)


class Transfers(Adapter):
    """Transfers of a document into a later one (``transfert_piece``)."""

    def transfer(
        self,
        source: Document,
        target: DocumentKind,
        quantities: Mapping[int, Decimal] | None = None,
        on: date | None = None,
    ) -> Document:
        """Copy ``source`` (as read: its version is checked) into a ``target``.

        ``quantities`` maps line numbers to how much of each; without it, all
        that remains of every line. Raises PayloadInvalid, before any call, for a
        quantity that is a float, not above 0, too precise or on no line of
        ``source``; VersionConflict when ``source`` changed since it was read,
        BusinessRuleRejected for a transfer the ERP refuses (state, quantities),
        InsufficientStock for a delivery.
        """
        if quantities is not None:
            quantities = self.checked_quantities(
                quantities,
                lines=[line.number for line in source.lines],
                what=f"{source.kind.value.replace('_', ' ')} {source.number}",
            )
        header: dict[str, Any] = {
            self.req("kind"): self.mapping.picod(source.kind),
            self.req("number"): source.number,
            self.req("target_kind"): self.mapping.picod(target),
            self.req("version"): str(source.version),
        }
        if on is not None:
            header[self.req("date")] = on
        data: dict[str, Any] = {self.group("header"): header}
        if quantities is not None:
            data[self.group("lines")] = [
                {
                    self.group("line"): {
                        self.req("line_number"): str(number),
                        self.req("quantity"): quantity,
                    }
                }
                for number, quantity in quantities.items()
            ]
        return self.piece(self.run(BusinessAction.TRANSFER_DOCUMENT, data))

    def read(self, kind: DocumentKind, number: str, model: type[D]) -> D:
        """A document of ``kind``, typed; raises ReferenceNotFound."""
        document = self.document(kind, number)
        assert isinstance(document, model)
        return document


class Orders(Transfers):
    """Sales orders and quotes.

    Before anything is written, :meth:`create` checks the payload
    (PayloadInvalid), every reference it names (ReferencesMissing, all at once),
    and every price the shop stated against the ERP's price simulation
    (PriceMismatch). The shop's order id travels as "your reference" with the
    ERP's uniqueness check on: a second order with it is refused
    (DuplicateReference), even when a step is re-run after a crash.
    """

    def __init__(self, client: Divalto, mapping: MappingProfile) -> None:
        super().__init__(client, mapping)
        self._products = Products(client, mapping)

    def create(
        self,
        request: OrderRequest | Mapping[str, Any],
        *,
        kind: DocumentKind = DocumentKind.ORDER,
    ) -> Order | Quote:
        """Create the order (or quote) after every check; return it as created.

        Lines are sent at the prices that were checked, so that the ERP cannot
        price them otherwise at the order's date. An answer lost after sending is
        recovered by looking the order up by its reference, never by sending a
        second order. Raises ValueError for a ``kind`` other than an order or a
        quote, before any call.
        """
        if kind not in (DocumentKind.ORDER, DocumentKind.QUOTE):
            raise ValueError(f"create makes an order or a quote, not {kind.value}")
        checked = validate_order(request, self.mapping)
        articles = self.check_references(checked)
        quotes = self.check_prices(checked, articles)
        data = self._data(checked, kind, quotes)
        created = self.create_document(kind, checked.your_reference, data)
        assert isinstance(created, Order | Quote)
        return created

    def get(self, number: str) -> Order:
        """The order ``number`` (``CC00000001`` or its ``PiNo``)."""
        return self.read(DocumentKind.ORDER, number, Order)

    def get_quote(self, number: str) -> Quote:
        """The quote ``number``."""
        return self.read(DocumentKind.QUOTE, number, Quote)

    def find_by_reference(self, reference: str) -> Order | None:
        """The order carrying "your reference" ``reference``, or None."""
        found = self.find_document(DocumentKind.ORDER, reference)
        assert found is None or isinstance(found, Order)
        return found

    def confirm(self, quote_number: str) -> Order:
        """The order a quote becomes; confirming again returns that same order.

        A quote already wholly transferred is not transferred again: the order
        it became is read and returned as it stands now.
        """
        quote = self.get_quote(quote_number)
        done = self._confirmed(quote)
        if done is not None:
            return done
        try:
            order = self.transfer(quote, DocumentKind.ORDER)
        except VersionConflict:
            # Another writer moved the quote since it was read: when that
            # writer confirmed it, its order is ours too.
            done = self._confirmed(self.get_quote(quote_number))
            if done is None:
                raise
            return done
        assert isinstance(order, Order)
        return order

    def _confirmed(self, quote: Quote) -> Order | None:
        """The order ``quote`` became, once it is wholly transferred into one."""
        made = [ref for ref in quote.transferred_into if ref.kind is DocumentKind.ORDER]
        if made and all(line.remaining == 0 for line in quote.lines):
            return self.get(made[0].number)
        return None

    def cancel(self, number: str) -> Order:
        """Cancel an order nothing of which was transferred; again: a no-op.

        Raises BusinessRuleRejected when part of it was delivered or invoiced.
        """
        order = self.get(number)
        if order.state is DocumentState.CANCELLED:
            return order
        header = {
            self.req("kind"): self.mapping.picod(DocumentKind.ORDER),
            self.req("number"): order.number,
            self.req("version"): str(order.version),
        }
        data = {self.group("header"): header}
        try:
            cancelled = self.piece(self.run(BusinessAction.CANCEL_DOCUMENT, data))
        except VersionConflict:
            # Another writer changed the order since it was read: when that
            # writer cancelled it, the cancellation asked for has happened.
            current = self.get(number)
            if current.state is not DocumentState.CANCELLED:
                raise
            return current
        assert isinstance(cancelled, Order)
        return cancelled

    def deliver(
        self,
        number: str,
        quantities: Mapping[int, Decimal] | None = None,
        *,
        on: date | None = None,
    ) -> DeliveryNote:
        """A delivery note for the order, for ``quantities`` per line or all left.

        The order stays active until every line is delivered, then becomes
        transferred. Raises InsufficientStock naming each short place.
        """
        note = self.transfer(self.get(number), DocumentKind.DELIVERY, quantities, on)
        assert isinstance(note, DeliveryNote)
        return note

    def check_references(self, request: OrderRequest) -> dict[str, Product]:
        """Every article the order names, once each reference is known to exist.

        Checks the customer, its payment term, the articles, their variants and
        VAT codes, and the depots; raises :class:`ReferencesMissing` listing all
        that are missing.
        """
        missing: list[MissingReference] = []
        self._check_customer(request, missing)
        articles = self._check_articles(request, missing)
        self._check_depots(request, articles, missing)
        if missing:
            raise ReferencesMissing(missing)
        return articles

    def check_prices(
        self, request: OrderRequest, articles: Mapping[str, Product] | None = None
    ) -> dict[int, PriceQuote]:
        """Compare each price the shop stated with ``INTERROGER_TARIF``.

        A line's stated net is its ``unit_price``, or its gross price (stated, else
        the ERP's) less its stated ``discounts`` in cascade, rounded as the
        mapping says. Returns the ERP's price of each line that states one, by
        line number; raises :class:`PriceMismatch` listing every line off by more
        than the mapping's ``price_tolerance``. The ERP prices at today's date.
        Lines of the same article, sub-references and quantity are asked once.
        """
        asked: dict[tuple[str, str, str, Decimal], PriceQuote] = {}
        quotes: dict[int, PriceQuote] = {}
        for number, line in enumerate(request.lines, start=1):
            if line.unit_price is None and not _states_terms(line):
                continue
            same = (line.ref, line.sref1, line.sref2, line.quantity)
            if same not in asked:
                asked[same] = self._quote(request.customer, line)
            quotes[number] = asked[same]
        differences = [
            difference
            for number, line in enumerate(request.lines, start=1)
            if number in quotes
            and (difference := self._difference(number, line, quotes[number]))
        ]
        if differences:
            raise PriceMismatch(differences)
        return quotes

    def _quote(self, customer: str, line: OrderLineRequest) -> PriceQuote:
        options = PriceOptions(
            quantity=line.quantity, sref1=line.sref1 or None, sref2=line.sref2 or None
        )
        return self.services.price(customer, line.ref, options)

    def _difference(
        self, number: int, line: OrderLineRequest, quote: PriceQuote
    ) -> PriceDifference | None:
        stated = self._stated_net(line, quote.gross)
        if abs(quote.net - stated) <= self.mapping.price_tolerance:
            return None
        return PriceDifference(
            path=f"lines[{number}]",
            ref=line.ref,
            shop=stated,
            erp=quote.net,
            erp_gross=quote.gross,
            erp_discounts=quote.discounts,
        )

    def _stated_net(self, line: OrderLineRequest, erp_gross: Decimal) -> Decimal:
        if line.unit_price is not None:
            return line.unit_price
        gross = line.gross_price if line.gross_price is not None else erp_gross
        return self.mapping.rounding.net(gross, line.discounts)

    @staticmethod
    def _pinned(line: OrderLineRequest, quote: PriceQuote | None) -> OrderLineRequest:
        """The line at the gross price and discounts that were checked."""
        if quote is None:
            return line
        gross = quote.gross if line.gross_price is None else line.gross_price
        discounts = line.discounts if _states_terms(line) else quote.discounts
        return line.model_copy(update={"gross_price": gross, "discounts": discounts})

    def _check_customer(
        self, request: OrderRequest, missing: list[MissingReference]
    ) -> None:
        query = self.where("customers", "by_code", request.customer)
        record = self.records.first(query)
        if record is None:
            missing.append(MissingReference("customer", "customer", request.customer))
            return
        term = request.payment_term or self.field(record, "customers", "payment_term")
        if term and not self._term_known(record, request):
            missing.append(MissingReference("payment_term", "payment term", term))

    def _term_known(self, record: Record, request: OrderRequest) -> bool:
        if request.payment_term:
            return request.payment_term in self.mapping.payment_terms
        return bool(self.field(record, "customers", "payment_term_label"))

    def _check_articles(
        self, request: OrderRequest, missing: list[MissingReference]
    ) -> dict[str, Product]:
        articles: dict[str, Product] = {}
        for path, line in self._all_lines(request):
            product = articles.get(line.ref) or self._products.find(line.ref)
            if product is None:
                missing.append(MissingReference(f"{path}.ref", "article", line.ref))
                continue
            articles[line.ref] = product
            missing.extend(self._article_problems(path, line, product))
        return articles

    def _article_problems(
        self, path: str, line: OrderLineRequest, product: Product
    ) -> Iterator[MissingReference]:
        if product.vat_rate is None and line.vat_rate is None:
            yield MissingReference(f"{path}.ref", "VAT code", product.vat_code)
        pairs = {(sub.sref1, sub.sref2) for sub in product.sub_references}
        wanted = (line.sref1, line.sref2)
        if (product.has_sub_references or any(wanted)) and wanted not in pairs:
            variant = "/".join(part for part in wanted if part) or "(none)"
            yield MissingReference(f"{path}.sref1", "sub-reference", variant)

    def _check_depots(
        self,
        request: OrderRequest,
        articles: Mapping[str, Product],
        missing: list[MissingReference],
    ) -> None:
        # A depot is asked about through a stock demand on an article: one of
        # the order's, else the shipping article, so that a depot is checked
        # even when every article of the order is unknown.
        probe = next(iter(articles), self.mapping.articles.shipping)
        seen: dict[str, bool] = {}
        for path, depot in self._places(request).items():
            if depot not in seen:
                seen[depot] = self._depot_exists(probe, articles.get(probe), depot)
            if not seen[depot]:
                missing.append(MissingReference(path, "depot", depot))

    def _places(self, request: OrderRequest) -> dict[str, str]:
        places = {"depot": request.depot} if request.depot else {}
        for path, line in self._all_lines(request):
            if line.depot:
                places.setdefault(f"{path}.depot", line.depot)
        return places

    def _depot_exists(self, ref: str, product: Product | None, depot: str) -> bool:
        """Whether the ERP knows ``depot``; an unknown probe leaves it to the ERP."""
        variant = (
            product.sub_references[0] if product and product.sub_references else None
        )
        try:
            self.services.stock(
                ref,
                depot=depot,
                sref1=variant.sref1 if variant else None,
                sref2=variant.sref2 if variant else None,
            )
        except ReferenceNotFound as exc:
            if exc.resultcode == self.mapping.wire.depot_missing_code:
                return False
            if product is None:
                return True
            raise
        return True

    def _all_lines(
        self, request: OrderRequest
    ) -> Iterator[tuple[str, OrderLineRequest]]:
        for number, line in enumerate(request.lines, start=1):
            yield f"lines[{number}]", line
        for name, article in self._extras(request):
            yield name, OrderLineRequest(ref=article, quantity=Decimal(1))

    def _extras(self, request: OrderRequest) -> Iterator[tuple[str, str]]:
        articles = self.mapping.articles
        if request.shipping:
            yield "shipping", articles.shipping
        if request.charges:
            yield "charges", articles.charges

    def _data(
        self,
        request: OrderRequest,
        kind: DocumentKind,
        quotes: Mapping[int, PriceQuote],
    ) -> dict[str, Any]:
        header: dict[str, Any] = {
            self.req("kind"): self.mapping.picod(kind),
            self.req("customer"): request.customer,
            self.req("your_reference"): request.your_reference,
            self.req("date"): request.date,
            self.req("depot"): request.depot,
            self.req("currency"): request.currency,
            self.req("payment_term"): request.payment_term,
        }
        lines, discounts = self._lines(request, quotes)
        data: dict[str, Any] = {
            self.group("parameters"): {
                self.req("unique_reference"): self.mapping.wire.unique_reference_on
            },
            self.group("header"): {k: v for k, v in header.items() if v is not None},
            self.group("lines"): lines,
        }
        if discounts:
            data[self.group("line_discounts")] = discounts
        return data

    def _lines(
        self, request: OrderRequest, quotes: Mapping[int, PriceQuote]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines, discounts = [], []
        priced = [
            self._pinned(line, quotes.get(number))
            for number, line in enumerate(request.lines, start=1)
        ]
        stated = [*priced, *self._extra_lines(request)]
        for number, line in enumerate(stated, start=1):
            lines.append({self.group("line"): self._line(line)})
            if line.discounts or (line.gross_price is not None):
                discounts.append(
                    {self.group("line_discount"): self._rates(number, line)}
                )
        return lines, discounts

    def _extra_lines(self, request: OrderRequest) -> Iterator[OrderLineRequest]:
        amounts = {"shipping": request.shipping, "charges": request.charges}
        for name, article in self._extras(request):
            yield OrderLineRequest(
                ref=article, quantity=Decimal(1), gross_price=amounts[name]
            )

    def _line(self, line: OrderLineRequest) -> dict[str, Any]:
        vat = (
            self.mapping.vat.code_for(line.vat_rate)
            if line.vat_rate is not None
            else None
        )
        fields: dict[str, Any] = {
            self.req("ref"): line.ref,
            self.req("sref1"): line.sref1 or None,
            self.req("sref2"): line.sref2 or None,
            self.req("quantity"): line.quantity,
            self.req("depot"): line.depot,
            self.req("gross_price"): line.gross_price,
            self.req("vat_code"): vat,
            self.req("label"): line.label,
        }
        return {key: value for key, value in fields.items() if value is not None}

    def _rates(self, number: int, line: OrderLineRequest) -> dict[str, Any]:
        rates = {self.req("line_number"): str(number)}
        for position, rate in enumerate(line.discounts or (Decimal(0),), start=1):
            rates[self.req(f"discount{position}")] = str(rate)
        return rates


def _states_terms(line: OrderLineRequest) -> bool:
    """Whether the shop stated its own gross price or discounts for the line."""
    return line.gross_price is not None or bool(line.discounts)

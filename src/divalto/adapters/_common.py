"""What every adapter shares: the client's callers, the mapping, document decoding."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from divalto.client import Divalto
from divalto.errors import (
    DuplicateReference,
    ReferenceNotFound,
    ResponseInvalid,
    TransientError,
)
from divalto.mapping import MappingProfile
from divalto.models import (
    DOCUMENT_CLASSES,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentRef,
    Money,
    TaxLine,
)
from divalto.recordsql import Record, RecordQuery, Records
from divalto.services import BusinessAction, Services
from divalto.validation import PayloadInvalid, Problem
from divalto.wire import OperationKind

READS = frozenset({BusinessAction.DOCUMENT_STATE})


class Adapter:
    """Base of the adapters: RecordSql reads and business services of one client.

    The services are named by the mapping profile (its ``actions``), not by the
    client's profile, so that one mapping file describes the whole tenant.
    """

    def __init__(self, client: Divalto, mapping: MappingProfile) -> None:
        self.mapping = mapping
        self.records = Records(client.transport, encoding=mapping.encoding)
        self.services = Services(
            client.transport,
            names=mapping.actions,
            dossier=client.profile.dossier,
            encoding=mapping.encoding,
        )

    def query(self, purpose: str) -> RecordQuery:
        """The RecordSql of ``purpose`` selecting every mapped field."""
        spec = self.mapping.recordsql[purpose]
        return RecordQuery(spec.dictionary, spec.recordsql).select(
            *spec.fields.values()
        )

    def where(self, purpose: str, case: str, value: str) -> RecordQuery:
        """The RecordSql of ``purpose`` filtered by its WHERE case ``case``."""
        ref = self.mapping.recordsql[purpose].where[case]
        return self.query(purpose).where(ref.case, **{ref.parameter: value})

    def field(self, record: Record, purpose: str, attribute: str) -> str:
        """The value of a model attribute in a record; ResponseInvalid if absent."""
        name = self.mapping.recordsql[purpose].fields[attribute]
        try:
            return record[name]
        except KeyError:
            raise ResponseInvalid(
                f"{purpose}: the record has no field {name!r} ({attribute})"
            ) from None

    def run(self, action: BusinessAction, data: Mapping[str, Any]) -> dict[str, Any]:
        """Run a business action under the mapping's name for it."""
        name = getattr(self.mapping.actions, action.value)
        kind = OperationKind.SERVICE if action in READS else OperationKind.WRITE
        return self.services.action(name, data, kind=kind)

    def group(self, name: str) -> str:
        return self.mapping.wire.groups[name]

    def req(self, name: str) -> str:
        return self.mapping.wire.request[name]

    def piece(self, response: Mapping[str, Any], group: str = "piece") -> Document:
        """The document of an action's response, as its model."""
        raw = response.get(self.group(group))
        if not isinstance(raw, Mapping):
            raise ResponseInvalid(f"the answer holds no '{self.group(group)}'")
        return decode_document(raw, self.mapping)

    def state_request(self, kind: DocumentKind, number: str) -> dict[str, Any]:
        """``etat_piece`` data naming a document by kind and number."""
        return {
            self.group("header"): {
                self.req("kind"): self.mapping.picod(kind),
                self.req("number"): number,
            }
        }

    def document(self, kind: DocumentKind, number: str) -> Document:
        """A document as it stands now; raises ReferenceNotFound."""
        response = self.run(
            BusinessAction.DOCUMENT_STATE, self.state_request(kind, number)
        )
        return self.piece(response)

    def find_document(self, kind: DocumentKind, reference: str) -> Document | None:
        """The oldest document of ``kind`` whose "your reference" is ``reference``."""
        header = {
            self.req("your_reference"): reference,
            self.req("kind"): self.mapping.picod(kind),
        }
        try:
            response = self.run(
                BusinessAction.DOCUMENT_STATE, {self.group("header"): header}
            )
        except ReferenceNotFound:
            return None
        return self.piece(response)

    def create_document(
        self, kind: DocumentKind, reference: str, data: Mapping[str, Any]
    ) -> Document:
        """Create a document that carries a unique ``reference``, exactly once.

        When the answer is lost after the request was sent (a timeout, a cut
        connection, a proxy's page), the document is looked up by its reference:
        found, it is returned; not found, the request is sent once more, and a
        refusal of that second request as a duplicate means the first one landed
        meanwhile, so the document is looked up again and returned.
        """

        def write() -> Document:
            return self.piece(self.run(BusinessAction.CREATE_DOCUMENT, data))

        return settled(write, lambda: self.find_document(kind, reference))

    def checked_quantities(
        self,
        quantities: Mapping[int, Any],
        *,
        lines: Sequence[int] | None = None,
        what: str = "",
        allow_zero: bool = False,
    ) -> dict[int, Decimal]:
        """Quantities per line number, checked; raises PayloadInvalid naming each.

        A quantity must be a Decimal, an integer or decimal text (never a float),
        above 0 (or 0 with ``allow_zero``), within the mapping's decimals and
        limit; with ``lines``, its line must be one of them (``what`` names the
        document in that message).
        """
        checked: dict[int, Decimal] = {}
        problems: list[Problem] = []
        for number, value in quantities.items():
            problem = self._quantity_problem(value, allow_zero)
            if problem is None and lines is not None and number not in lines:
                problem = f"{what} has no line {number}"
            if problem is None:
                checked[number] = Decimal(str(value))
            else:
                problems.append(Problem(f"quantities[{number}]", problem))
        if problems:
            raise PayloadInvalid("quantities", problems)
        return checked

    def _quantity_problem(self, value: Any, allow_zero: bool) -> str | None:
        if isinstance(value, float):
            return "a float cannot hold a quantity exactly: give a Decimal"
        number = exact_number(value)
        if number is None:
            return f"is not a number: {value!r}"
        if number < 0 or (number == 0 and not allow_zero):
            floor = "0 or above" if allow_zero else "above 0"
            return f"must be {floor}, got {value}"
        return self.precision_problem(number)

    def precision_problem(self, quantity: Decimal) -> str | None:
        """What the ERP would refuse in a quantity's decimals or size, or None."""
        rounding = self.mapping.rounding
        if _places(quantity) > rounding.quantity_decimals:
            return f"at most {rounding.quantity_decimals} decimals, got {quantity}"
        if quantity >= rounding.quantity_limit:
            return f"must be below {rounding.quantity_limit:f}, got {quantity}"
        return None


def exact_number(value: Any) -> Decimal | None:
    """A finite Decimal from a Decimal, an integer or text; None otherwise."""
    if isinstance(value, float | bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


T = TypeVar("T")


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def settled(write: Callable[[], T], lookup: Callable[[], T | None]) -> T:
    """``write``, made safe to repeat when its outcome is unknown.

    After a transient failure that may have been applied, ``lookup`` looks for
    what ``write`` makes; what it finds is returned, else ``write`` runs once more.
    A duplicate refusal of that second write means the first landed: ``lookup``'s
    find is returned. Other failures are raised.
    """
    try:
        return write()
    except TransientError as exc:
        if not exc.outcome_unknown:
            raise
    found = lookup()
    if found is not None:
        return found
    try:
        return write()
    except DuplicateReference:
        found = lookup()
        if found is None:
            raise
        return found


def decimal_of(value: Any, what: str) -> Decimal:
    """A decimal from the ERP's text; ResponseInvalid names ``what`` otherwise."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ResponseInvalid(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ResponseInvalid(f"{what} is not a number: {value!r}")
    return number


def date_of(value: Any, what: str) -> date:
    try:
        return datetime.strptime(str(value), "%Y%m%d").date()
    except ValueError:
        raise ResponseInvalid(f"{what} is not a YYYYMMDD date: {value!r}") from None


def _ref(raw: Any, mapping: MappingProfile) -> DocumentRef:
    keys = mapping.wire.piece
    return DocumentRef(
        kind=mapping.kind_of(str(raw[keys["kind"]])), number=str(raw[keys["number"]])
    )


def _line(raw: Mapping[str, Any], mapping: MappingProfile) -> DocumentLine:
    keys = mapping.wire.line

    def number(name: str) -> Decimal:
        return decimal_of(raw.get(keys[name]), f"line {name}")

    discounts = tuple(
        number(name)
        for name in ("discount1", "discount2", "discount3")
        if raw.get(keys[name]) not in (None, "")
    )
    return DocumentLine(
        number=int(raw[keys["number"]]),
        ref=str(raw[keys["ref"]]),
        sref1=str(raw.get(keys["sref1"]) or ""),
        sref2=str(raw.get(keys["sref2"]) or ""),
        label=str(raw.get(keys["label"]) or ""),
        depot=str(raw.get(keys["depot"]) or ""),
        quantity=number("quantity"),
        transferred=number("transferred"),
        gross_price=number("gross_price"),
        discounts=discounts,
        net_price=number("net_price"),
        amount=number("amount"),
        vat_code=str(raw.get(keys["vat_code"]) or ""),
    )


def _tax(raw: Mapping[str, Any], mapping: MappingProfile) -> TaxLine:
    keys = mapping.wire.tax
    return TaxLine(
        vat_code=str(raw[keys["vat_code"]]),
        rate=decimal_of(raw[keys["rate"]], "VAT rate"),
        base=decimal_of(raw[keys["base"]], "VAT base"),
        amount=decimal_of(raw[keys["amount"]], "VAT amount"),
    )


def decode_document(raw: Mapping[str, Any], mapping: MappingProfile) -> Document:
    """A document of an action's answer as its model; raises ResponseInvalid."""
    try:
        return _decoded(raw, mapping)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ResponseInvalid):
            raise
        raise ResponseInvalid(f"a document that cannot be read: {exc!r}") from exc


def _decoded(raw: Mapping[str, Any], mapping: MappingProfile) -> Document:
    keys = mapping.wire.piece
    kind = mapping.kind_of(str(raw[keys["kind"]]))
    currency = str(raw[keys["currency"]])

    def money(name: str) -> Money:
        return Money(amount=decimal_of(raw[keys[name]], name), currency=currency)

    fields: dict[str, Any] = {
        "kind": kind,
        "number": str(raw[keys["number"]]),
        "state": mapping.states[str(raw[keys["state"]])],
        "version": int(raw[keys["version"]]),
        "customer": str(raw[keys["customer"]]),
        "date": date_of(raw[keys["date"]], "document date"),
        "your_reference": str(raw.get(keys["your_reference"]) or ""),
        "currency": currency,
        "depot": str(raw.get(keys["depot"]) or ""),
        "payment_term": str(raw.get(keys["payment_term"]) or ""),
        "total_excluding_tax": money("total_excluding_tax"),
        "total_vat": money("total_vat"),
        "total_including_tax": money("total_including_tax"),
        "taxes": tuple(_tax(tax, mapping) for tax in raw.get(keys["taxes"]) or ()),
        "lines": tuple(_line(line, mapping) for line in raw.get(keys["lines"]) or ()),
        "origin": _ref(raw[keys["origin"]], mapping)
        if raw.get(keys["origin"])
        else None,
        "transferred_into": tuple(
            _ref(item, mapping) for item in raw.get(keys["transferred_into"]) or ()
        ),
    }
    if kind is DocumentKind.INVOICE:
        fields["credit_notes"] = tuple(
            _ref(item, mapping) for item in raw.get(keys["credit_notes"]) or ()
        )
        fields["credited"] = money("credited") if keys["credited"] in raw else None
    return DOCUMENT_CLASSES[kind](**fields)

"""Commercial documents of the simulated ERP, and the stock they move.

A document is an ``ENT`` header with ``MOUV`` lines. ``PiCod`` is its type (quote,
order, delivery note, invoice, credit note; the codes are settings, see
:class:`~divalto.simulator.settings.DocumentTypes`), ``PiNo`` its number, counted
per dossier and type and zero-padded, ``PrefPiNo`` the type's prefix followed by the
number (``CC00000001``). ``PiRef`` is the customer's "your reference". ``CE4`` is
the header's state: 1 active, 2 suspended, 9 transferred. A line's ``QTETRF``
counts what was transferred from it into later documents, and ``ORIG_ENT_ID`` /
``ORIG_MOUV_ID`` link a document and its lines to their source; a credit note's
source is the invoice it corrects. ``VERSION`` grows by one with each change, so
that a caller can tell that what it read is stale.

The business actions of this module, each taking an open transaction and the
request's ``data``, returning an :class:`ActionResult` or raising a
:class:`Rejection`: :func:`create_document`, :func:`transfer_document`,
:func:`cancel_document`, :func:`document_state` and :func:`move_stock`. Their
requests are described in ``docs/simulator/json-actions.md`` and their rules in
``docs/simulator/business-rules.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from divalto.simulator.actiondata import (
    NOT_CONFORMING,
    NOT_FOUND,
    REFUSED,
    ActionContext,
    ActionResult,
    Group,
    Problems,
    Rejection,
)
from divalto.simulator.pricing import (
    SREF_REQUIRED,
    cascade,
    price_line,
    round_price,
    stored_decimal,
    sub_reference_problem,
    vat_rate,
)
from divalto.simulator.settings import DocumentTypes
from divalto.simulator.store import Row

KIND_LABELS = {
    "quote": "quote",
    "order": "order",
    "delivery": "delivery note",
    "invoice": "invoice",
    "credit_note": "credit note",
}
CHAIN = ("quote", "order", "delivery", "invoice")
"""Transfers go forward along this chain, possibly skipping steps."""
STATES = {
    "1": "active",
    "2": "suspended",
    "4": "model",
    "7": "provisional",
    "8": "expired",
    "9": "transferred",
    "A": "archived",
}
ACTIVE = "1"
TRANSFERRED = "9"
STOCK_MANAGED = "2"
YES = "2"
NO = "1"
CENT = Decimal("0.01")
LARGEST = Decimal("1e12")
"""Quantities and prices must stay below this [assumed]: ERP fields are bounded."""
ZERO = Decimal(0)
LINE_VIEW: tuple[str, ...] = ("REF", "SREF1", "SREF2", "DES", "DEPO", "QTE")
LINE_VIEW += ("QTETRF", "PUB", "REM1", "REM2", "REM3", "PUNET", "MTHT", "TVACOD")
"""``MOUV`` columns a document's view shows for each line, in lower case."""


@dataclass(frozen=True)
class Header:
    """A new document's header, before it has a number."""

    kind: str
    tiers: str
    pidt: date
    piref: str
    depo: str
    dev: str
    regcod: str
    etb: str
    origin: Row | None = None


@dataclass
class LineRequest:
    """A line as an ``integration_piece`` asks for it, before pricing."""

    article: Row
    sref1: str
    sref2: str
    des: str
    depo: str
    qte: Decimal
    tvacod: str
    gross: Decimal | None
    discounts: tuple[Decimal, Decimal, Decimal] | None = None


@dataclass(frozen=True)
class Line:
    """A priced line, ready to be written."""

    ref: str
    sref1: str
    sref2: str
    des: str
    depo: str
    qte: Decimal
    tvacod: str
    gross: Decimal
    discounts: tuple[Decimal, Decimal, Decimal]
    net: Decimal
    amount: Decimal
    stock_managed: bool
    origin_id: int | None = None


@dataclass(frozen=True)
class Tax:
    """The VAT of one code on a document: base, rate, amount."""

    code: str
    rate: Decimal
    base: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Totals:
    """A document's totals: HT, VAT per code and in all, TTC."""

    ht: Decimal
    taxes: tuple[Tax, ...]
    tva: Decimal
    ttc: Decimal


@dataclass(frozen=True)
class StockKey:
    """Where a quantity of stock lies: article, sub-references, depot."""

    ref: str
    sref1: str
    sref2: str
    depo: str

    def article(self) -> str:
        """The article as messages name it, with its sub-references if any."""
        subs = "/".join(part for part in (self.sref1, self.sref2) if part)
        return f"article '{self.ref}'" + (f" ({subs})" if subs else "")


@dataclass(frozen=True)
class Asked:
    """A line of a transfer request: which source line, and how much of it."""

    group: Group
    enrno: int
    qte: Decimal | None


# Business actions.


def create_document(ctx: ActionContext, data: Group) -> ActionResult:
    """``integration_piece``: create a quote, order, delivery note, invoice or credit.

    Prices come from the pricing engine unless a line sets ``PubHt`` or
    ``imouvcliretb`` sets its discounts. A delivery note or an invoice takes its
    stock-managed articles out of stock; a credit note references its invoice by
    ``ient.PiNoOrig`` and, without lines, credits every line of it. Raises
    :class:`Rejection` naming every problem of the request.
    """
    header, customer = read_header(ctx, data)
    requests = read_lines(ctx, data, header)
    read_line_discounts(data, requests)
    unique = read_unique_flag(ctx, data)
    data.problems.raise_if_any()

    lines = [price(ctx, header, customer, request) for request in requests]
    if not lines and header.origin is not None:
        lines = [copy_line(ctx, row, qte(row)) for row in lines_of(ctx, header.origin)]
    problems = data.problems
    if unique:
        check_your_reference(ctx, header, problems)
    document_totals = totals(ctx, ((line.tvacod, line.amount) for line in lines))
    if header.origin is not None:
        check_creditable(ctx, header.origin, document_totals.ttc, problems)
    problems.raise_if_any()

    entry = write_document(ctx, header, lines, document_totals)
    if takes_stock(header.kind, None):
        take_out(ctx, lines, problems)
    problems.raise_if_any()
    if header.origin is not None:
        touch(ctx, header.origin)
    return ActionResult(
        {"piece": piece_view(ctx, entry)},
        document=entry["PREFPINO"],
        reference=entry["PIREF"] or None,
    )


def transfer_document(ctx: ActionContext, data: Group) -> ActionResult:
    """``transfert_piece``: copy lines of a document into a new one of a later type.

    Without ``imouvtb`` every line's remaining quantity is transferred; with it,
    only the lines it names (``EnrNo``), each for its ``Qte`` or, without one, for
    what remains of it. The source's lines count what was transferred
    (``QTETRF``); the source becomes transferred (``CE4`` 9) once nothing remains.
    A delivery note, or an invoice made from anything but a delivery note, takes
    stock out. Raises :class:`Rejection`.
    """
    ient = data.group("ient", required=True)
    source = read_document(ctx, ient)
    target = read_kind(ctx, ient, "PiCodDest", required=True)
    pidt = ient.date("PiDt", ctx.today)
    version = ient.integer("Version")
    asked = read_transfer_lines(ctx, data)
    problems = data.problems
    problems.raise_if_any()

    check_version(ctx, source, version, problems)
    check_transferable(ctx, source, target, problems)
    plan = plan_transfer(ctx, source, asked, problems)
    problems.raise_if_any()

    header = Header(
        kind=target,
        tiers=source["TIERS"],
        pidt=pidt,
        piref=source["PIREF"],
        depo=source["DEPO"],
        dev=source["DEV"],
        regcod=source["REGCOD"],
        etb=source["ETB"],
        origin=source,
    )
    lines = [copy_line(ctx, row, quantity) for row, quantity in plan]
    entry = write_document(
        ctx, header, lines, totals(ctx, ((line.tvacod, line.amount) for line in lines))
    )
    record_transfer(ctx, source, plan)
    if takes_stock(target, kind_of_row(ctx, source)):
        take_out(ctx, lines, problems)
    problems.raise_if_any()
    return ActionResult(
        {
            "piece": piece_view(ctx, entry),
            "source": state_view(ctx, reread(ctx, source)),
        },
        document=entry["PREFPINO"],
        reference=source["PIREF"] or None,
    )


def cancel_document(ctx: ActionContext, data: Group) -> ActionResult:
    """``annulation_piece``: cancel a quote or an order the caller read at ``Version``.

    The document's ``CE4`` becomes ``settings.cancelled_state``. Refused (resultcode
    3) for another type, a stale version, a document that is not active or one
    with lines already transferred. Raises :class:`Rejection`.
    """
    ient = data.group("ient", required=True)
    document = read_document(ctx, ient)
    version = ient.integer("Version", required=True)
    problems = data.problems
    problems.raise_if_any()

    name = document_name(ctx, document)
    if kind_of_row(ctx, document) not in ("quote", "order"):
        problems.add(
            REFUSED, "", f"{name} cannot be cancelled: only a quote or an order can"
        )
    check_version(ctx, document, version, problems)
    if document["CE4"] != ACTIVE:
        problems.add(REFUSED, "", f"{name} cannot be cancelled: {state(document)}")
    elif any(stored(row, "QTETRF", "MOUV") for row in lines_of(ctx, document)):
        problems.add(
            REFUSED, "", f"{name} cannot be cancelled: part of it was transferred"
        )
    problems.raise_if_any()

    ctx.db.execute(
        "UPDATE ENT SET CE4 = ?, VERSION = VERSION + 1 WHERE ENT_ID = ?",
        (ctx.settings.cancelled_state, document["ENT_ID"]),
    )
    return ActionResult(
        {"piece": piece_view(ctx, document)},
        document=document["PREFPINO"],
        reference=document["PIREF"] or None,
    )


def document_state(ctx: ActionContext, data: Group) -> ActionResult:
    """``etat_piece``: a document's header, totals, lines and what came of it.

    The document is named by ``PiCod`` and ``PiNo`` (its number or its PrefPiNo),
    or by ``PiRef``, with an optional ``PiCod``; several documents may share a
    reference (a transfer copies it), and the oldest one is answered. Raises
    :class:`Rejection` when the request names no document or an unknown one.
    """
    ient = data.group("ient", required=True)
    if ient.has("PiNo") or not ient.has("PiRef"):
        document = read_document(ctx, ient)
    else:
        document = read_by_reference(ctx, ient)
    data.problems.raise_if_any()
    return ActionResult(
        {"piece": piece_view(ctx, document)},
        document=document["PREFPINO"],
        reference=document["PIREF"] or None,
    )


def move_stock(ctx: ActionContext, data: Group) -> ActionResult:
    """``mouvement_stock``: an entry (``Sens`` E) or an exit (S) of physical stock.

    Only stock-managed articles move; an exit beyond the physical stock is refused
    (resultcode 3). The reason (``Motif``) is required and echoed; the simulator
    keeps no journal of movements. Raises :class:`Rejection`.
    """
    movement = data.group("istock", required=True)
    article = read_article(ctx, movement)
    sref1, sref2 = movement.text("Sref1"), movement.text("Sref2")
    if article:
        check_sub_reference(ctx, movement, article, sref1, sref2)
    depo = movement.text("Depo") or ctx.settings.default_depot
    check_depot(ctx, movement, depo)
    quantity = read_quantity(ctx, movement, "Qte")
    direction = read_direction(movement)
    reason = movement.text("Motif", required=True)
    problems = data.problems
    problems.raise_if_any()

    if article["STFL"] != STOCK_MANAGED:
        movement.problem(REFUSED, "Ref", f"article '{article['REF']}' is not stocked")
        problems.raise_if_any()
    key = StockKey(article["REF"], sref1, sref2, depo)
    before = stock_quantity(ctx, key)
    if direction == "E":
        put_in(ctx, key, quantity)
    else:
        withdraw(ctx, key, quantity, problems)
    problems.raise_if_any()
    movement_view = {"sens": direction, "qte": quantity_text(quantity)}
    movement_view["motif"] = reason
    return ActionResult({"stock": stock_view(ctx, key, before, movement_view)})


# Reading a request.


def read_header(ctx: ActionContext, data: Group) -> tuple[Header, Row]:
    """The ``ient`` group of an ``integration_piece``, and the customer's row."""
    ient = data.group("ient", required=True)
    kind = read_kind(ctx, ient, "PiCod", required=True)
    invoice = read_credited_invoice(ctx, ient, kind)
    customer = read_customer(ctx, ient, kind, invoice)
    depo = ient.text("Depo") or ctx.settings.default_depot
    check_depot(ctx, ient, depo)
    header = Header(
        kind=kind,
        tiers=customer.get("TIERS", ""),
        pidt=ient.date("PiDt", ctx.today),
        piref=ient.text("PiRef"),
        depo=depo,
        dev=read_currency(ctx, ient, customer),
        regcod=read_payment_term(ctx, ient, customer),
        etb=ctx.etb,
        origin=invoice,
    )
    return header, customer


def read_kind(ctx: ActionContext, group: Group, name: str, *, required: bool) -> str:
    """A document type field (``PiCod``), as a kind name; empty when unknown."""
    text = group.text(name, required=required)
    if not text:
        return ""
    kind = kind_of(ctx.settings.document_types, text)
    if kind is None:
        group.problem(NOT_CONFORMING, name, f"unknown document type '{text}'")
    return kind or ""


def read_credited_invoice(ctx: ActionContext, ient: Group, kind: str) -> Row | None:
    """The invoice a credit note corrects (``PiNoOrig``: its PiNo or PrefPiNo)."""
    if kind != "credit_note":
        if ient.has("PiNoOrig"):
            ient.problem(
                NOT_CONFORMING, "PiNoOrig", "only a credit note references an invoice"
            )
        return None
    number = ient.text("PiNoOrig", required=True)
    if not number:
        return None
    invoice = find_document(ctx, "invoice", number)
    if invoice is None:
        ient.problem(NOT_FOUND, "PiNoOrig", f"invoice '{number}' not found")
    return invoice


def read_customer(
    ctx: ActionContext, ient: Group, kind: str, invoice: Row | None
) -> Row:
    """The customer (``Tiers``); a credit note defaults to its invoice's."""
    tiers = ient.text("Tiers", required=kind != "credit_note")
    if not tiers and invoice is not None:
        tiers = invoice["TIERS"]
    if not tiers:
        return {}
    customer = find_customer(ctx, tiers)
    if customer is None:
        ient.problem(NOT_FOUND, "Tiers", f"customer '{tiers}' not found")
        return {}
    if invoice is not None and invoice["TIERS"] != tiers:
        ient.problem(
            REFUSED,
            "Tiers",
            f"customer '{tiers}' is not the customer of invoice "
            f"{invoice['PREFPINO']} ('{invoice['TIERS']}')",
        )
    return customer


def read_currency(ctx: ActionContext, ient: Group, customer: Row) -> str:
    """``Dev``, or the customer's currency; it must be one the dossier knows."""
    dev = ient.text("Dev") or customer.get("DEV", "")
    if dev and dev not in ctx.settings.currencies:
        ient.problem(NOT_FOUND, "Dev", f"currency '{dev}' not found")
    return str(dev)


def read_payment_term(ctx: ActionContext, ient: Group, customer: Row) -> str:
    """``RegCod``, or the customer's payment term."""
    regcod = ient.text("RegCod")
    if regcod and not ctx.exists("REG", "REGCOD", regcod):
        ient.problem(NOT_FOUND, "RegCod", f"payment term '{regcod}' not found")
    return regcod or str(customer.get("REGCOD", ""))


def read_unique_flag(ctx: ActionContext, data: Group) -> bool:
    """``ipar.PcePiRefCtrFl``: whether "your reference" must be unique per type."""
    ipar = data.group("ipar")
    flag = ipar.text("PcePiRefCtrFl")
    if not flag:
        return ctx.settings.your_reference_unique_by_default
    if flag not in (YES, NO):
        ipar.problem(
            NOT_CONFORMING,
            "PcePiRefCtrFl",
            f"'1' (no) or '2' (yes) expected, got '{flag}'",
        )
    return flag == YES


def read_lines(ctx: ActionContext, data: Group, header: Header) -> list[LineRequest]:
    """The ``imouvtb`` lines; only a credit note may have none."""
    if header.kind == "credit_note":
        check_not_empty(data, "imouvtb")
    elif data.size("imouvtb") == 0:
        data.problem(NOT_CONFORMING, "imouvtb", "at least one line is required")
    return [
        read_line(ctx, group, header) for _, group in data.items("imouvtb", "imouv")
    ]


def read_line(ctx: ActionContext, line: Group, header: Header) -> LineRequest:
    """One ``imouv`` line: article, sub-references, quantity, depot, VAT, price."""
    article = read_article(ctx, line)
    sref1, sref2 = line.text("Sref1"), line.text("Sref2")
    if article:
        check_sub_reference(ctx, line, article, sref1, sref2)
    depo = line.text("Depo")
    if depo:
        check_depot(ctx, line, depo)
    return LineRequest(
        article=article,
        sref1=sref1,
        sref2=sref2,
        des=line.text("Des") or article.get("DES", ""),
        depo=depo or header.depo,
        qte=read_quantity(ctx, line, "Qte"),
        tvacod=read_vat_code(ctx, line, article),
        gross=read_price(line, "PubHt"),
    )


def read_line_discounts(data: Group, lines: list[LineRequest]) -> None:
    """``imouvcliretb``: discounts set on lines (``EnrNo``), overriding the engine's."""
    by_number = dict(enumerate(lines, start=1))
    for _, group in data.items("imouvcliretb", "imouvclire"):
        number = group.integer("EnrNo", required=True)
        rates = (
            read_rate(group, "Rem1"),
            read_rate(group, "Rem2"),
            read_rate(group, "Rem3"),
        )
        line = by_number.get(number or 0)
        if number is None:
            continue
        if line is None:
            group.problem(NOT_FOUND, "EnrNo", f"line {number} not found in imouvtb")
        elif line.discounts is not None:
            group.problem(NOT_CONFORMING, "EnrNo", f"line {number} has two discounts")
        else:
            line.discounts = rates


def read_transfer_lines(ctx: ActionContext, data: Group) -> list[Asked]:
    """The lines a transfer names: ``EnrNo`` and an optional ``Qte``.

    A ``Qte`` follows the rules of :func:`read_quantity`.
    """
    check_not_empty(data, "imouvtb")
    asked: list[Asked] = []
    for _, group in data.items("imouvtb", "imouv"):
        enrno = group.integer("EnrNo", required=True)
        quantity = group.decimal("Qte")
        if quantity is not None:
            check_quantity(ctx, group, "Qte", quantity)
        if enrno is not None:
            asked.append(Asked(group, enrno, quantity))
    return asked


def check_not_empty(data: Group, name: str) -> None:
    """Refuse a list sent empty: leaving it out is how a request takes every line.

    An empty list is more likely a caller's bug than a wish for everything.
    """
    if data.raw(name) == []:
        data.problem(
            NOT_CONFORMING, name, "empty list: leave it out to take every line"
        )


def read_document(ctx: ActionContext, ient: Group) -> Row:
    """The document named by ``PiCod`` and ``PiNo``; empty when it is not found."""
    kind = read_kind(ctx, ient, "PiCod", required=True)
    number = ient.text("PiNo", required=True)
    if not kind or not number:
        return {}
    document = find_document(ctx, kind, number)
    if document is None:
        ient.problem(NOT_FOUND, "PiNo", f"{KIND_LABELS[kind]} '{number}' not found")
        return {}
    return document


def read_by_reference(ctx: ActionContext, ient: Group) -> Row:
    """The oldest document with the ``PiRef``, of type ``PiCod`` when given."""
    kind = read_kind(ctx, ient, "PiCod", required=False)
    piref = ient.text("PiRef", required=True)
    if not piref or (ient.has("PiCod") and not kind):
        return {}
    sql = "SELECT * FROM ENT WHERE DOS = ? AND PIREF = ?"
    params: list[Any] = [ctx.dossier, piref]
    if kind:
        sql += " AND PICOD = ?"
        params.append(kind_codes(ctx.settings.document_types)[kind])
    document = ctx.one(sql + " ORDER BY ENT_ID LIMIT 1", *params)
    if document is None:
        what = KIND_LABELS[kind] if kind else "document"
        ient.problem(NOT_FOUND, "PiRef", f"no {what} with your reference '{piref}'")
        return {}
    return document


def read_article(ctx: ActionContext, group: Group) -> Row:
    """The article of ``Ref``; empty when missing or unknown."""
    ref = group.text("Ref", required=True)
    if not ref:
        return {}
    article = ctx.one("SELECT * FROM ART WHERE DOS = ? AND REF = ?", ctx.dossier, ref)
    if article is None:
        group.problem(NOT_FOUND, "Ref", f"article '{ref}' not found")
        return {}
    return article


def read_vat_code(ctx: ActionContext, line: Group, article: Row) -> str:
    """``TvaCod``, or the article's VAT code; it must exist."""
    code = line.text("TvaCod")
    if code and vat_rate(ctx.db, ctx.dossier, code) is None:
        line.problem(NOT_FOUND, "TvaCod", f"VAT code '{code}' not found")
    if code or not article:
        return code
    code = str(article["TVAART"])
    if vat_rate(ctx.db, ctx.dossier, code) is None:
        line.problem(
            NOT_FOUND,
            "Ref",
            f"VAT code '{code}' of article '{article['REF']}' not found",
        )
    return code


def read_quantity(ctx: ActionContext, group: Group, name: str) -> Decimal:
    """A required quantity: a decimal above 0, with at most the allowed decimals."""
    quantity = group.decimal(name, required=True)
    if quantity is None:
        return ZERO
    check_quantity(ctx, group, name, quantity)
    return quantity


def check_quantity(
    ctx: ActionContext, group: Group, name: str, quantity: Decimal
) -> None:
    """Record a problem unless 0 < quantity < LARGEST, with the allowed decimals."""
    allowed = ctx.settings.quantity_decimals
    if quantity <= 0:
        group.problem(NOT_CONFORMING, name, f"must be greater than 0, got {quantity}")
    elif quantity >= LARGEST:
        group.problem(NOT_CONFORMING, name, f"must be below {LARGEST:f}")
    elif decimals(quantity) > allowed:
        group.problem(
            NOT_CONFORMING, name, f"at most {allowed} decimals, got {quantity}"
        )


def read_price(group: Group, name: str) -> Decimal | None:
    """An optional unit price: a decimal at least 0."""
    value = group.decimal(name)
    if value is not None and not ZERO <= value < LARGEST:
        group.problem(NOT_CONFORMING, name, f"must be at least 0 and below {LARGEST:f}")
    return value


def read_rate(group: Group, name: str) -> Decimal:
    """A discount rate in percent, from 0 to 100; 0 when absent."""
    rate = group.decimal(name)
    if rate is None:
        return ZERO
    if not ZERO <= rate <= 100:
        group.problem(NOT_CONFORMING, name, f"must be between 0 and 100, got {rate}")
    return rate


def read_direction(group: Group) -> str:
    """``Sens``: ``E`` for an entry, ``S`` for an exit."""
    direction = group.text("Sens", required=True).upper()
    if direction and direction not in ("E", "S"):
        group.problem(
            NOT_CONFORMING,
            "Sens",
            f"'E' (entry) or 'S' (exit) expected, got '{direction}'",
        )
    return direction


def check_depot(ctx: ActionContext, group: Group, depo: str) -> None:
    """Record a problem on ``Depo`` when the depot does not exist."""
    if not ctx.exists("DEPO", "DEPO", depo):
        group.problem(NOT_FOUND, "Depo", f"depot '{depo}' not found")


def check_sub_reference(
    ctx: ActionContext, group: Group, article: Row, sref1: str, sref2: str
) -> None:
    """Record a problem on ``Sref1`` when the pair does not fit the article.

    The texts are Divalto's own (see the pricing module): a missing sub-reference
    is a request that does not conform, an unknown one an object not found.
    """
    text = sub_reference_problem(ctx.db, ctx.dossier, article, sref1, sref2)
    if text is None:
        return
    if text == SREF_REQUIRED:
        group.problem(NOT_CONFORMING, "Sref1", f"{text} for article '{article['REF']}'")
        return
    pair = "/".join((sref1, sref2))
    group.problem(NOT_FOUND, "Sref1", f"{text}: '{pair}' of article '{article['REF']}'")


# Business checks.


def check_your_reference(
    ctx: ActionContext, header: Header, problems: Problems
) -> None:
    """Refuse a "your reference" already used by a document of the same type."""
    if not header.piref:
        return
    twin = ctx.one(
        "SELECT PREFPINO FROM ENT WHERE DOS = ? AND PICOD = ? AND PIREF = ? "
        "ORDER BY ENT_ID LIMIT 1",
        ctx.dossier,
        kind_codes(ctx.settings.document_types)[header.kind],
        header.piref,
    )
    if twin is not None:
        problems.add(
            REFUSED,
            "ient.PiRef",
            f"your reference '{header.piref}' is already used by "
            f"{KIND_LABELS[header.kind]} {twin['PREFPINO']}",
        )


def check_creditable(
    ctx: ActionContext, invoice: Row, asked: Decimal, problems: Problems
) -> None:
    """Refuse a credit note that would credit more than the invoice's total."""
    total = stored(invoice, "TTCMT", "ENT")
    credited = credited_total(ctx, invoice)
    if credited + asked > total:
        problems.add(
            REFUSED,
            "",
            f"credit note exceeds invoice {invoice['PREFPINO']}: total {money(total)}, "
            f"already credited {money(credited)}, asked {money(asked)}",
        )


def check_version(
    ctx: ActionContext, document: Row, version: int | None, problems: Problems
) -> None:
    """Refuse a change made on a stale read of the document."""
    current = int(document["VERSION"])
    if version is not None and version != current:
        problems.add(
            REFUSED,
            "",
            f"version conflict on {document_name(ctx, document)}: "
            f"current version {current}, given {version}",
        )


def check_transferable(
    ctx: ActionContext, source: Row, target: str, problems: Problems
) -> None:
    """Refuse a transfer backwards, sideways, or from a document not active."""
    kind = kind_of_row(ctx, source)
    name = document_name(ctx, source)
    if (
        kind not in CHAIN
        or target not in CHAIN
        or CHAIN.index(target) <= CHAIN.index(kind)
    ):
        problems.add(
            REFUSED,
            "ient.PiCodDest",
            f"{name} cannot be transferred into a new {KIND_LABELS[target]}",
        )
    if source["CE4"] != ACTIVE:
        problems.add(REFUSED, "", f"{name} cannot be transferred: {state(source)}")


def plan_transfer(
    ctx: ActionContext, source: Row, asked: list[Asked], problems: Problems
) -> list[tuple[Row, Decimal]]:
    """Which source lines a transfer takes, and how much of each."""
    lines = lines_of(ctx, source)
    if not asked:
        plan = [(row, remaining(row)) for row in lines if remaining(row) > 0]
        if not plan and source["CE4"] == ACTIVE:
            problems.add(REFUSED, "", f"{document_name(ctx, source)} has nothing left")
        return plan
    by_number = {int(row["ENRNO"]): row for row in lines}
    plan = []
    for request in asked:
        row = by_number.pop(request.enrno, None)
        if row is None:
            request.group.problem(
                NOT_FOUND,
                "EnrNo",
                f"line {request.enrno} not found in {document_name(ctx, source)} "
                "or named twice",
            )
            continue
        quantity = _transferred_quantity(ctx, source, row, request)
        if quantity is not None:
            plan.append((row, quantity))
    return plan


def _transferred_quantity(
    ctx: ActionContext, source: Row, row: Row, request: Asked
) -> Decimal | None:
    left = remaining(row)
    wanted = left if request.qte is None else request.qte
    where = f"line {request.enrno} of {document_name(ctx, source)}"
    if left <= 0:
        request.group.problem(REFUSED, "EnrNo", f"{where} has nothing left")
    elif wanted > left:
        request.group.problem(
            REFUSED,
            "Qte",
            f"{where} has {quantity_text(left)} left, asked {quantity_text(wanted)}",
        )
    elif wanted > 0:
        return wanted
    return None


# Pricing and totals.


def price(
    ctx: ActionContext, header: Header, customer: Row, request: LineRequest
) -> Line:
    """Price a requested line with the engine, then apply the request's overrides.

    A ``PubHt`` replaces the gross price, explicit discounts replace the engine's;
    the net price and the amount are then computed and rounded as the engine does.
    """
    settings = ctx.settings
    computed = price_line(
        ctx.db,
        settings,
        ctx.dossier,
        customer,
        request.article,
        request.qte,
        header.pidt,
    )
    gross = computed.gross if request.gross is None else request.gross
    discounts = computed.discounts if request.discounts is None else request.discounts
    net, amount = computed.net, computed.amount
    if request.gross is not None or request.discounts is not None:
        net = round_price(cascade(gross, discounts), settings)
        amount = round_price(net * request.qte, settings)
    return Line(
        ref=request.article["REF"],
        sref1=request.sref1,
        sref2=request.sref2,
        des=request.des,
        depo=request.depo,
        qte=request.qte,
        tvacod=request.tvacod,
        gross=gross,
        discounts=discounts,
        net=net,
        amount=amount,
        stock_managed=request.article["STFL"] == STOCK_MANAGED,
    )


def copy_line(ctx: ActionContext, row: Row, quantity: Decimal) -> Line:
    """A line copied from an existing one, for ``quantity`` at the same net price.

    A copy of the whole quantity keeps the amount; a part is priced again.
    """
    net = stored(row, "PUNET", "MOUV")
    amount = stored(row, "MTHT", "MOUV")
    if quantity != qte(row):
        amount = round_price(net * quantity, ctx.settings)
    article = ctx.one(
        "SELECT STFL FROM ART WHERE DOS = ? AND REF = ?", ctx.dossier, row["REF"]
    )
    return Line(
        ref=row["REF"],
        sref1=row["SREF1"],
        sref2=row["SREF2"],
        des=row["DES"],
        depo=row["DEPO"],
        qte=quantity,
        tvacod=row["TVACOD"],
        gross=stored(row, "PUB", "MOUV"),
        discounts=(
            stored(row, "REM1", "MOUV"),
            stored(row, "REM2", "MOUV"),
            stored(row, "REM3", "MOUV"),
        ),
        net=net,
        amount=amount,
        stock_managed=article is not None and article["STFL"] == STOCK_MANAGED,
        origin_id=int(row["MOUV_ID"]),
    )


def totals(ctx: ActionContext, amounts: Iterable[tuple[str, Decimal]]) -> Totals:
    """HT, VAT per code (base × rate, rounded to the cent per code) and TTC."""
    bases: dict[str, Decimal] = {}
    for code, amount in amounts:
        bases[code] = bases.get(code, ZERO) + amount
    taxes = tuple(_tax(ctx, code, base) for code, base in sorted(bases.items()))
    ht = sum(bases.values(), ZERO)
    tva = sum((tax.amount for tax in taxes), ZERO)
    return Totals(ht=ht, taxes=taxes, tva=tva, ttc=ht + tva)


def _tax(ctx: ActionContext, code: str, base: Decimal) -> Tax:
    rate = vat_rate(ctx.db, ctx.dossier, code)
    if rate is None:
        raise Rejection(NOT_FOUND, f"VAT code '{code}' not found")
    amount = (base * rate / 100).quantize(CENT, rounding=ctx.settings.rounding)
    return Tax(code=code, rate=rate, base=base, amount=amount)


# Writing.


def write_document(
    ctx: ActionContext, header: Header, lines: list[Line], sums: Totals
) -> Row:
    """Number and insert a document with its lines; return its ``ENT`` row."""
    types = ctx.settings.document_types
    picod = kind_codes(types)[header.kind]
    number = ctx.store.next_number(ctx.db, ctx.dossier, f"PINO.{picod}")
    pino = str(number).zfill(types.number_width)
    entry = {
        "DOS": ctx.dossier,
        "ETB": header.etb,
        "PICOD": picod,
        "PINO": pino,
        "PREFPINO": types.prefixes.get(header.kind, "") + pino,
        "TIERS": header.tiers,
        "PIDT": header.pidt.isoformat().replace("-", ""),
        "PIREF": header.piref,
        "CE4": ACTIVE,
        "DEV": header.dev,
        "DEPO": header.depo,
        "REGCOD": header.regcod,
        "HTMT": money(sums.ht),
        "TVAMT": money(sums.tva),
        "TTCMT": money(sums.ttc),
        "ORIG_ENT_ID": None if header.origin is None else header.origin["ENT_ID"],
        "VERSION": 1,
    }
    entry["ENT_ID"] = ctx.store.insert(ctx.db, "ENT", entry)
    for enrno, line in enumerate(lines, start=1):
        ctx.store.insert(ctx.db, "MOUV", _line_row(entry, enrno, line))
    return entry


def _line_row(entry: Row, enrno: int, line: Line) -> Row:
    return {
        "DOS": entry["DOS"],
        "ENT_ID": entry["ENT_ID"],
        "PICOD": entry["PICOD"],
        "PINO": entry["PINO"],
        "ENRNO": enrno,
        "REF": line.ref,
        "SREF1": line.sref1,
        "SREF2": line.sref2,
        "DES": line.des,
        "DEPO": line.depo,
        "QTE": quantity_text(line.qte),
        "PUB": amount_text(line.gross),
        "REM1": amount_text(line.discounts[0]),
        "REM2": amount_text(line.discounts[1]),
        "REM3": amount_text(line.discounts[2]),
        "PUNET": amount_text(line.net),
        "MTHT": amount_text(line.amount),
        "TVACOD": line.tvacod,
        "QTETRF": "0",
        "ORIG_MOUV_ID": line.origin_id,
    }


def record_transfer(
    ctx: ActionContext, source: Row, plan: list[tuple[Row, Decimal]]
) -> None:
    """Count the transferred quantities on the source; mark it when nothing remains."""
    for row, quantity in plan:
        done = stored(row, "QTETRF", "MOUV") + quantity
        ctx.db.execute(
            "UPDATE MOUV SET QTETRF = ? WHERE MOUV_ID = ?",
            (quantity_text(done), row["MOUV_ID"]),
        )
    left = any(remaining(row) > 0 for row in lines_of(ctx, source))
    ctx.db.execute(
        "UPDATE ENT SET CE4 = ?, VERSION = VERSION + 1 WHERE ENT_ID = ?",
        (ACTIVE if left else TRANSFERRED, source["ENT_ID"]),
    )


def touch(ctx: ActionContext, document: Row) -> None:
    """Count one more change on a document (its ``VERSION``)."""
    ctx.db.execute(
        "UPDATE ENT SET VERSION = VERSION + 1 WHERE ENT_ID = ?", (document["ENT_ID"],)
    )


# Stock.


def takes_stock(kind: str, source_kind: str | None) -> bool:
    """Whether a new document of ``kind`` takes its goods out of stock.

    A delivery note does; an invoice does unless it comes from a delivery note,
    which already did.
    """
    return kind == "delivery" or (kind == "invoice" and source_kind != "delivery")


def take_out(ctx: ActionContext, lines: list[Line], problems: Problems) -> None:
    """Take the stock-managed lines out of stock; record every shortage."""
    wanted: dict[StockKey, Decimal] = {}
    for line in lines:
        if line.stock_managed:
            key = StockKey(line.ref, line.sref1, line.sref2, line.depo)
            wanted[key] = wanted.get(key, ZERO) + line.qte
    for key, quantity in wanted.items():
        withdraw(ctx, key, quantity, problems)


def withdraw(
    ctx: ActionContext, key: StockKey, quantity: Decimal, problems: Problems
) -> None:
    """Take ``quantity`` out of the physical stock, or record the shortage."""
    available = stock_quantity(ctx, key)
    if quantity > available:
        problems.add(
            REFUSED,
            "",
            f"not enough stock of {key.article()} in depot '{key.depo}': "
            f"asked {quantity_text(quantity)}, available {quantity_text(available)}",
        )
        return
    _set_stock(ctx, key, available - quantity)


def put_in(ctx: ActionContext, key: StockKey, quantity: Decimal) -> None:
    """Add ``quantity`` to the physical stock, creating its row if needed."""
    _set_stock(ctx, key, stock_quantity(ctx, key) + quantity)


def stock_quantity(ctx: ActionContext, key: StockKey) -> Decimal:
    """The physical stock (``QTESTK``) at a place; 0 where there is no row."""
    row = _stock_row(ctx, key)
    return ZERO if row is None else stored(row, "QTESTK", "STOCK")


def stock_view(
    ctx: ActionContext, key: StockKey, before: Decimal, movement: dict[str, str]
) -> dict[str, str]:
    """A stock movement as its response shows it: place, movement, stock after."""
    return {
        "ref": key.ref,
        "sref1": key.sref1,
        "sref2": key.sref2,
        "depo": key.depo,
        **movement,
        "qtestk_before": quantity_text(before),
        "qtestk": quantity_text(stock_quantity(ctx, key)),
    }


def _stock_row(ctx: ActionContext, key: StockKey) -> Row | None:
    return ctx.one(
        "SELECT * FROM STOCK WHERE DOS = ? AND REF = ? AND SREF1 = ? AND SREF2 = ? "
        "AND DEPO = ?",
        ctx.dossier,
        key.ref,
        key.sref1,
        key.sref2,
        key.depo,
    )


def _set_stock(ctx: ActionContext, key: StockKey, quantity: Decimal) -> None:
    row = _stock_row(ctx, key)
    if row is None:
        ctx.store.insert(
            ctx.db,
            "STOCK",
            {
                "DOS": ctx.dossier,
                "REF": key.ref,
                "SREF1": key.sref1,
                "SREF2": key.sref2,
                "DEPO": key.depo,
                "QTESTK": quantity_text(quantity),
            },
        )
        return
    ctx.db.execute(
        "UPDATE STOCK SET QTESTK = ? WHERE STOCK_ID = ?",
        (quantity_text(quantity), row["STOCK_ID"]),
    )


# Views: what the responses say of a document.


def piece_view(ctx: ActionContext, document: Row) -> dict[str, Any]:
    """A document as the responses show it: header, totals, taxes, lines, links."""
    entry = reread(ctx, document)
    lines = lines_of(ctx, entry)
    sums = totals(ctx, ((row["TVACOD"], stored(row, "MTHT", "MOUV")) for row in lines))
    view = {
        **state_view(ctx, entry),
        "etb": entry["ETB"],
        "tiers": entry["TIERS"],
        "pidt": entry["PIDT"],
        "piref": entry["PIREF"],
        "dev": entry["DEV"],
        "depo": entry["DEPO"],
        "regcod": entry["REGCOD"],
        "htmt": entry["HTMT"],
        "tvamt": entry["TVAMT"],
        "ttcmt": entry["TTCMT"],
        "taxes": [_tax_view(tax) for tax in sums.taxes],
        "lines": [_line_view(row) for row in lines],
        "origin": _origin_view(ctx, entry),
        "transferred_into": [
            short_view(ctx, row)
            for row in _children(ctx, entry)
            if kind_of_row(ctx, row) != "credit_note"
        ],
    }
    if kind_of_row(ctx, entry) == "invoice":
        view["credit_notes"] = [
            short_view(ctx, row)
            for row in _children(ctx, entry)
            if kind_of_row(ctx, row) == "credit_note"
        ]
        view["credited"] = money(credited_total(ctx, entry))
    return view


def short_view(ctx: ActionContext, document: Row) -> dict[str, str]:
    """A document's identity: type, number and prefixed number."""
    return {
        "picod": str(document["PICOD"]),
        "pino": document["PINO"],
        "prefpino": document["PREFPINO"],
    }


def state_view(ctx: ActionContext, document: Row) -> dict[str, str]:
    """A document's identity with its state and version."""
    return {
        **short_view(ctx, document),
        "ce4": document["CE4"],
        "version": str(document["VERSION"]),
    }


def _origin_view(ctx: ActionContext, entry: Row) -> dict[str, str] | None:
    if entry["ORIG_ENT_ID"] is None:
        return None
    origin = ctx.one("SELECT * FROM ENT WHERE ENT_ID = ?", entry["ORIG_ENT_ID"])
    return None if origin is None else short_view(ctx, origin)


def _children(ctx: ActionContext, entry: Row) -> list[Row]:
    return ctx.all(
        "SELECT * FROM ENT WHERE ORIG_ENT_ID = ? ORDER BY ENT_ID", entry["ENT_ID"]
    )


def _tax_view(tax: Tax) -> dict[str, str]:
    return {
        "tvacod": tax.code,
        "taux": amount_text(tax.rate),
        "base": money(tax.base),
        "tvamt": money(tax.amount),
    }


def _line_view(row: Row) -> dict[str, str]:
    return {
        "enrno": str(row["ENRNO"]),
        **{name.lower(): row[name] for name in LINE_VIEW},
    }


# Look-ups and small helpers.


def kind_codes(types: DocumentTypes) -> dict[str, int]:
    """``PiCod`` per document kind."""
    return {
        "quote": types.quote,
        "order": types.order,
        "delivery": types.delivery,
        "invoice": types.invoice,
        "credit_note": types.credit_note,
    }


def kind_of(types: DocumentTypes, picod: str | int) -> str | None:
    """The kind of a ``PiCod`` (as digits or a number), or None."""
    text = str(picod)
    if not text.isascii() or not text.isdigit():
        return None
    kinds = {code: kind for kind, code in kind_codes(types).items()}
    return kinds.get(int(text))


def kind_of_row(ctx: ActionContext, document: Row) -> str:
    """The kind of a stored document; empty for a type no longer configured."""
    return kind_of(ctx.settings.document_types, document["PICOD"]) or ""


def document_name(ctx: ActionContext, document: Row) -> str:
    """A document as messages name it: ``order CC00000001``."""
    label = KIND_LABELS.get(kind_of_row(ctx, document), "document")
    return f"{label} {document['PREFPINO']}"


def state(document: Row) -> str:
    """A document's state, for messages: ``its state is '9' (transferred)``."""
    code = document["CE4"]
    return f"its state is '{code}' ({STATES.get(code, 'unknown')})"


def find_document(ctx: ActionContext, kind: str, number: str) -> Row | None:
    """The document of ``kind`` whose PiNo or PrefPiNo is ``number``."""
    return ctx.one(
        "SELECT * FROM ENT WHERE DOS = ? AND PICOD = ? AND (PINO = ? OR PREFPINO = ?)",
        ctx.dossier,
        kind_codes(ctx.settings.document_types)[kind],
        number,
        number,
    )


def find_customer(ctx: ActionContext, tiers: str) -> Row | None:
    """The customer whose code is ``tiers``."""
    return ctx.one("SELECT * FROM CLI WHERE DOS = ? AND TIERS = ?", ctx.dossier, tiers)


def reread(ctx: ActionContext, document: Row) -> Row:
    """A document's header as it is now."""
    current = ctx.one("SELECT * FROM ENT WHERE ENT_ID = ?", document["ENT_ID"])
    return document if current is None else current


def lines_of(ctx: ActionContext, document: Row) -> list[Row]:
    """A document's lines, in order."""
    return ctx.all(
        "SELECT * FROM MOUV WHERE ENT_ID = ? ORDER BY ENRNO", document["ENT_ID"]
    )


def credited_total(ctx: ActionContext, invoice: Row) -> Decimal:
    """The TTC of every credit note against an invoice."""
    notes = ctx.all(
        "SELECT TTCMT, ENT_ID FROM ENT WHERE DOS = ? AND PICOD = ? AND ORIG_ENT_ID = ?",
        ctx.dossier,
        ctx.settings.document_types.credit_note,
        invoice["ENT_ID"],
    )
    return sum((stored(note, "TTCMT", "ENT") for note in notes), ZERO)


def qte(row: Row) -> Decimal:
    """A line's quantity."""
    return stored(row, "QTE", "MOUV")


def remaining(row: Row) -> Decimal:
    """What a line has left to transfer."""
    return qte(row) - stored(row, "QTETRF", "MOUV")


def stored(row: Row, column: str, table: str) -> Decimal:
    """A stored decimal; raises ``PricingError`` naming the cell when it is not."""
    return stored_decimal(row, column, table)


def decimals(value: Decimal) -> int:
    """How many decimals a number is written with."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def money(value: Decimal) -> str:
    """An amount written with two decimals."""
    return str(value.quantize(CENT))


def amount_text(value: Decimal) -> str:
    """A price, rate or amount written with two decimals at least."""
    return money(value) if decimals(value) <= 2 else format(value.normalize(), "f")


def quantity_text(value: Decimal) -> str:
    """A quantity written without useless zeros: ``2``, ``2.5``."""
    return format(value.normalize(), "f")

"""XML demands (protocol section 5.1): a ``<dem>`` in ``param``, a ``<rep>`` back.

The service action ``settings.actions.xml_service`` carries a document such as
``<dem><action dos="998" nom="INTERROGER_STOCK"><ref>ALB0001</ref></action></dem>``.
The demand's parameters are the children of ``<action>``. The answer is a tree
rooted at ``<rep version="1">`` that starts with the echo
``<action dos="998" nom="interroger_stock"/>``; the application writes it into the
envelope's ``result``, declared ISO-8859-1.

Two kinds of failure, answered differently:

- a demand that cannot be read (malformed XML, a DOCTYPE, no ``<action>``, another
  dossier, an unknown demand or parameter, a missing or malformed parameter) gets
  an envelope error ``BAD_SERVICE_PARAM`` whose ``txterr`` names the problem;
- a demand that reads well but names something that does not exist gets
  ``error`` 0 and ``<erreur code="...">text</erreur>`` under ``<rep>``, with
  Divalto's documented French text where there is one.

The tags of the answers, the ``<erreur>`` element and its codes are assumptions
written down in ``docs/simulator/xml-demands.md``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

from lxml import etree

from divalto.simulator import pricing
from divalto.simulator.codes import ErrorCode
from divalto.simulator.pricing import PricingError
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.tenant import Answer, Call, error_answer, ok_envelope

Row = dict[str, Any]
Element = etree._Element

STOCK = "INTERROGER_STOCK"
TARIF = "INTERROGER_TARIF"
PARAMETERS: dict[str, frozenset[str]] = {
    STOCK: frozenset({"ref", "sref1", "sref2", "depot"}),
    TARIF: frozenset(
        {"tiers", "ref", "sref1", "sref2", "depot", "marche", "prix", "quantite"}
    ),
}
"""The parameters each demand accepts; any other child of ``<action>`` is refused."""

ERRORS: dict[str, str] = {
    "TIERS": "Tiers inexistant",
    "ARTICLE": "Article inexistant",
    "DEPOT": "Dépôt inexistant",
    "SREF_OBLIGATOIRE": pricing.SREF_REQUIRED,
    "SREF_INEXISTANTE": pricing.SREF_UNKNOWN,
}
"""``<erreur>`` codes and Divalto's documented texts."""

ALL_DEPOTS = "*"
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_QUANTITY = re.compile(r"-?\d{1,12}(?:[.,](\d+))?")


class DemandUnreadable(Exception):
    """The demand cannot be read; its message becomes the envelope's ``txterr``."""


class Refusal(Exception):
    """The demand names something that does not exist: an ``<erreur>`` answer."""

    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(text or ERRORS[code])
        self.code = code
        self.text = text or ERRORS[code]


@dataclass(frozen=True)
class Demand:
    """A demand read from ``param``: its upper-case name, dossier and parameters."""

    name: str
    dossier: str
    params: dict[str, str]


@dataclass
class DemandContext:
    """What a demand handler works with: the open store and the demand."""

    db: sqlite3.Connection
    settings: SimulatorSettings
    demand: Demand
    today: date

    @property
    def dossier(self) -> str:
        return self.demand.dossier

    def optional(self, name: str) -> str:
        """A parameter's text, stripped; empty when absent."""
        return self.demand.params.get(name, "")

    def required(self, name: str) -> str:
        """A parameter's text; raises :class:`DemandUnreadable` if absent or empty."""
        value = self.optional(name)
        if not value:
            raise DemandUnreadable(
                f"Demand {self.demand.name}: parameter <{name}> is required"
            )
        return value

    def customer(self, tiers: str) -> Row:
        """The ``CLI`` row of ``tiers``; raises :class:`Refusal` ``TIERS``."""
        return self._one("CLI", "TIERS", tiers, "TIERS")

    def article(self, ref: str) -> Row:
        """The ``ART`` row of ``ref``; raises :class:`Refusal` ``ARTICLE``."""
        return self._one("ART", "REF", ref, "ARTICLE")

    def depots(self, code: str) -> list[str]:
        """Depot codes asked for: all for ``*`` or empty; raises ``DEPOT``."""
        if code in {"", ALL_DEPOTS}:
            rows = self._select("DEPO", "DEPO", None)
            return sorted(row["DEPO"] for row in rows)
        return [self._one("DEPO", "DEPO", code, "DEPOT")["DEPO"]]

    def answer(self) -> Element:
        """A ``<rep>`` root holding the demand's echo."""
        return answer_root(self.demand)

    def _one(self, table: str, column: str, value: str, refusal: str) -> Row:
        rows = self._select(table, column, value)
        if not rows:
            raise Refusal(refusal)
        return rows[0]

    def _select(self, table: str, column: str, value: str | None) -> list[Row]:
        sql = f"SELECT * FROM {table} WHERE DOS = ?"  # noqa: S608 - our own names
        params: tuple[str, ...] = (self.dossier,)
        if value is not None:
            sql, params = f"{sql} AND {column} = ?", (self.dossier, value)
        return [dict(row) for row in self.db.execute(sql, params)]


Handler = Callable[[DemandContext], Element]


def execute(call: Call, param: str) -> Answer:
    """Answer one XML demand for the caller's dossier (see the module docstring)."""
    try:
        demand = read_demand(param, call.dossier)
    except DemandUnreadable as exc:
        return error_answer(ErrorCode.BAD_SERVICE_PARAM, str(exc))
    tenant = call.tenant
    try:
        with tenant.store.transaction() as db:
            context = DemandContext(
                db, tenant.settings, demand, tenant.clock.now_datetime().date()
            )
            root = HANDLERS[demand.name](context)
    except DemandUnreadable as exc:
        answer = error_answer(ErrorCode.BAD_SERVICE_PARAM, str(exc))
        answer.action = demand.name
        return answer
    except Refusal as exc:
        return _refused(demand, exc)
    except PricingError as exc:
        return _refused(demand, Refusal("DONNEES", str(exc)))
    return Answer(payload=ok_envelope(result=""), xml=root, action=demand.name)


def read_demand(param: str, dossier: str) -> Demand:
    """Parse ``param`` and check it is one demand of ``dossier`` we know.

    Raises :class:`DemandUnreadable` naming the problem.
    """
    action = _action_element(parse_hardened(param))
    name = _attribute(action, "nom").upper()
    if name not in PARAMETERS:
        raise DemandUnreadable(f"Unknown demand '{name}'")
    dos = _attribute(action, "dos")
    if dos != dossier:
        raise DemandUnreadable(
            f"Demand for dossier '{dos}' refused: this account works in dossier "
            f"'{dossier}'"
        )
    return Demand(name, dos, _parameters(action, name))


def parse_hardened(param: str) -> Element:
    """Parse a demand with no DTD, no entity, no network and no huge tree.

    Any DOCTYPE is refused before parsing, so an entity bomb or an external
    entity is never looked at. Raises :class:`DemandUnreadable`.
    """
    if not param.strip():
        raise DemandUnreadable("Parameter 'param' is empty: an XML <dem> is expected")
    if _DOCTYPE.search(param):
        raise DemandUnreadable("DOCTYPE refused in param: a demand may not hold a DTD")
    try:
        data = param.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DemandUnreadable("Parameter 'param' is not valid Unicode") from exc
    try:
        return etree.fromstring(data, _hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise DemandUnreadable(f"Malformed XML in param: {exc.msg}") from exc


def _hardened_parser() -> etree.XMLParser:
    # The text came out of a JSON string: its own encoding declaration is moot.
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _action_element(root: Element) -> Element:
    if root.tag != "dem":
        raise DemandUnreadable(f"Root element of param must be <dem>, not <{root.tag}>")
    actions = root.findall("action")
    if not actions:
        raise DemandUnreadable("Missing <action> element in <dem>")
    if len(actions) > 1:
        raise DemandUnreadable(f"One <action> per <dem> expected, found {len(actions)}")
    return actions[0]


def _attribute(action: Element, name: str) -> str:
    value = (action.get(name) or "").strip()
    if not value:
        raise DemandUnreadable(f"Attribute '{name}' of <action> is required")
    return value


def _parameters(action: Element, name: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for child in action:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag not in PARAMETERS[name]:
            raise DemandUnreadable(f"Unknown parameter <{tag}> in demand {name}")
        if tag in params:
            raise DemandUnreadable(f"Parameter <{tag}> given twice in demand {name}")
        if len(child):
            raise DemandUnreadable(f"Parameter <{tag}> must hold text, not elements")
        params[tag] = (child.text or "").strip()
    return params


def answer_root(demand: Demand) -> Element:
    """``<rep version="1">`` with the echo of the demand, its name in lower case."""
    root = etree.Element("rep", {"version": "1"})
    echo = {"dos": demand.dossier, "nom": demand.name.lower()}
    etree.SubElement(root, "action", echo)
    return root


def _refused(demand: Demand, refusal: Refusal) -> Answer:
    root = answer_root(demand)
    _text(root, "erreur", refusal.text).set("code", refusal.code)
    return Answer(
        payload=ok_envelope(result=""),
        xml=root,
        action=demand.name,
        outcome="rejected",
    )


def interroger_stock(context: DemandContext) -> Element:
    """``INTERROGER_STOCK``: one ``<ligne>`` per depot and sub-reference."""
    ref = context.required("ref")
    sref1, sref2 = context.optional("sref1"), context.optional("sref2")
    article = context.article(ref)
    depots = context.depots(context.optional("depot"))
    variants = _variants(context, article, sref1, sref2)
    levels = _stock_levels(context, ref)

    root = context.answer()
    _add_article(root, article)
    for depot in depots:
        for variant in variants:
            level = levels.get((*variant, depot))
            _add_stock_line(root, context.settings, ref, depot, variant, level)
    return root


def _variants(
    context: DemandContext, article: Row, sref1: str, sref2: str
) -> list[tuple[str, str]]:
    """The sub-reference pairs asked for; a plain article has only ``("", "")``."""
    if article["SREFFL"] != "2":
        if sref1 or sref2:
            raise Refusal("SREF_INEXISTANTE")
        return [("", "")]
    pairs = context.db.execute(
        "SELECT SREF1, SREF2 FROM SART WHERE DOS = ? AND REF = ? "
        "AND (? = '' OR SREF1 = ?) AND (? = '' OR SREF2 = ?) ORDER BY SREF1, SREF2",
        (context.dossier, article["REF"], sref1, sref1, sref2, sref2),
    ).fetchall()
    if not pairs and (sref1 or sref2):
        raise Refusal("SREF_INEXISTANTE")
    return [(pair[0], pair[1]) for pair in pairs]


def _stock_levels(
    context: DemandContext, ref: str
) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    rows = context.db.execute(
        "SELECT * FROM STOCK WHERE DOS = ? AND REF = ?", (context.dossier, ref)
    )
    levels = {}
    for row in map(dict, rows):
        physical = pricing.stored_decimal(row, "QTESTK", "STOCK")
        reserved = pricing.stored_decimal(row, "QTERES", "STOCK")
        levels[row["SREF1"], row["SREF2"], row["DEPO"]] = (physical, reserved)
    return levels


def _add_stock_line(
    root: Element,
    settings: SimulatorSettings,
    ref: str,
    depot: str,
    variant: tuple[str, str],
    level: tuple[Decimal, Decimal] | None,
) -> None:
    physical, reserved = level or (Decimal(0), Decimal(0))
    line = etree.SubElement(root, "ligne")
    for tag, text in (("ref", ref), ("sref1", variant[0]), ("sref2", variant[1])):
        _text(line, tag, text)
    _text(line, "depot", depot)
    _text(line, "stock", quantity_text(physical, settings))
    _text(line, "reserve", quantity_text(reserved, settings))
    _text(line, "disponible", quantity_text(physical - reserved, settings))


def interroger_tarif(context: DemandContext) -> Element:
    """``INTERROGER_TARIF``: the price of a line, as ``integration_piece`` sets it."""
    tiers, ref = context.required("tiers"), context.required("ref")
    quantity = parse_quantity(context.optional("quantite"), context.settings)
    basis = _price_basis(context.optional("prix"))
    customer = context.customer(tiers)
    article = context.article(ref)
    context.depots(context.optional("depot"))
    _check_sub_reference(context, article)
    line = pricing.price_line(
        context.db,
        context.settings,
        context.dossier,
        customer,
        article,
        quantity,
        context.today,
    )
    rate = _vat_rate(context, article)

    root = context.answer()
    _add_article(root, article)
    tarif = etree.SubElement(root, "tarif")
    _add_request(tarif, context, quantity, basis)
    _add_price(tarif, context.settings, line, rate, basis)
    _text(tarif, "tvacod", article["TVAART"])
    _text(tarif, "tvataux", decimal_text(rate, 2))
    _text(tarif, "origine_prix", line.source)
    _text(tarif, "origine_remise", line.discount_source)
    return root


def _check_sub_reference(context: DemandContext, article: Row) -> None:
    problem = pricing.sub_reference_problem(
        context.db,
        context.dossier,
        article,
        context.optional("sref1"),
        context.optional("sref2"),
    )
    if problem == pricing.SREF_REQUIRED:
        raise Refusal("SREF_OBLIGATOIRE")
    if problem is not None:
        raise Refusal("SREF_INEXISTANTE")


def _vat_rate(context: DemandContext, article: Row) -> Decimal:
    rate = pricing.vat_rate(context.db, context.dossier, article["TVAART"])
    if rate is None:
        text = f"VAT code '{article['TVAART']}' of article {article['REF']} not in TVA"
        raise Refusal("TVA", text)
    return rate


def _add_request(
    tarif: Element, context: DemandContext, quantity: Decimal, basis: str
) -> None:
    for tag in ("tiers", "ref", "sref1", "sref2", "depot"):
        _text(tarif, tag, context.optional(tag))
    _text(tarif, "quantite", quantity_text(quantity, context.settings))
    _text(tarif, "prix", basis)


def _add_price(
    tarif: Element,
    settings: SimulatorSettings,
    line: pricing.LinePrice,
    rate: Decimal,
    basis: str,
) -> None:
    places = settings.price_decimals
    gross, net, amount = line.gross, line.net, line.amount
    if basis == "2":
        gross, net, amount = (
            pricing.including_tax(value, rate, settings)
            for value in (gross, net, amount)
        )
    _text(tarif, "pub", decimal_text(gross, places))
    for number, discount in enumerate(line.discounts, start=1):
        _text(tarif, f"rem{number}", decimal_text(discount, 2))
    _text(tarif, "punet", decimal_text(net, places))
    _text(tarif, "montant", decimal_text(amount, places))
    _text(tarif, "mtht", decimal_text(line.amount, places))


def parse_quantity(text: str, settings: SimulatorSettings) -> Decimal:
    """``quantite`` with a point or a comma; 1 when empty.

    Raises :class:`DemandUnreadable` for anything but a plain decimal number with
    at most 12 integer digits and ``settings.quantity_decimals`` decimals.
    """
    if not text:
        return Decimal(1)
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise DemandUnreadable(f"Parameter <quantite> is not a number: '{text}'")
    decimals = match.group(1) or ""
    if len(decimals) > settings.quantity_decimals:
        raise DemandUnreadable(
            f"Parameter <quantite> has more than {settings.quantity_decimals} "
            f"decimals: '{text}'"
        )
    quantity = Decimal(text.replace(",", "."))
    # "-0" is zero: no answer should show a negative zero.
    return quantity if quantity else Decimal(0)


def _price_basis(text: str) -> str:
    if text in {"", "1"}:
        return "1"
    if text == "2":
        return "2"
    raise DemandUnreadable(
        f"Parameter <prix> must be 1 (excluding tax) or 2 (including tax): '{text}'"
    )


def quantity_text(value: Decimal, settings: SimulatorSettings) -> str:
    """A quantity with exactly ``quantity_decimals`` decimals and a point."""
    step = Decimal(1).scaleb(-settings.quantity_decimals)
    # Enough digits for any stored quantity: the default 28 would refuse to
    # write a stock of 10**26 with its decimals.
    digits = max(28, value.adjusted() + settings.quantity_decimals + 2)
    with localcontext(prec=digits):
        return f"{value.quantize(step, rounding=settings.rounding):f}"


def decimal_text(value: Decimal, places: int) -> str:
    """``value`` with at least ``places`` decimals, never rounded, with a point."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -places:
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{value:f}"


def _add_article(root: Element, article: Row) -> None:
    element = etree.SubElement(root, "article")
    _text(element, "ref", article["REF"])
    _text(element, "des", article["DES"])
    _text(element, "un", article["UN"])


def _text(parent: Element, tag: str, text: str) -> Element:
    element = etree.SubElement(parent, tag)
    # Stored text may hold control characters that XML 1.0 cannot carry at all.
    element.text = _NOT_XML.sub("?", text)
    return element


HANDLERS: dict[str, Handler] = {STOCK: interroger_stock, TARIF: interroger_tarif}
"""The handler of each demand name."""

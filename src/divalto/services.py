"""Business services on ``WebService/Execute``: XML demands and JSON business actions.

Every call names a *service action*, a code configured per environment, and
carries its request as a string in ``param``. Two families exist:

- **XML demands** (service action ``SYNCHRO_INFINITY_AGILEO`` by default): a
  ``<dem><action dos=".." nom="INTERROGER_STOCK">...</action></dem>`` document,
  answered by a ``<rep>`` document inside the envelope's ``result``. Demands are
  built with lxml, never by joining strings; answers are parsed by
  :func:`divalto.xmlsafe.parse_xml`, which refuses DTDs and repairs an encoding
  declaration that lies. A refusal comes as ``<erreur code="..">text</erreur>``.
- **JSON business actions** (service action ``WEB_SERVICE_INFINITY`` by
  default): ``{"action": {"swinfinity": name, "parameters": {...}}, "data": ...}``
  in ``param``, answered by a JSON ``result`` whose ``common.resultcode`` is
  ``"0"`` on success.

Service action codes and business action names are never written here: they
come from the profile (:class:`ActionNames`). Text the ERP's encoding cannot
carry is refused before anything is sent, naming the field and the characters.

Refusals become :mod:`divalto.errors`: resultcode ``"1"`` →
:class:`~divalto.errors.RequestRejected`, ``"2"`` →
:class:`~divalto.errors.ReferenceNotFound`, ``"3"`` →
:class:`~divalto.errors.BusinessRuleRejected` or the more precise leaf its
message names (:data:`RULE_MESSAGES`); XML ``<erreur>`` texts map through
:data:`XML_ERRORS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from lxml import etree

from divalto import errors
from divalto.wire import AsyncCaller, Caller, Endpoint, OperationKind
from divalto.xmlsafe import parse_xml, refuse_unencodable

__all__ = [
    "RULE_MESSAGES",
    "XML_ERRORS",
    "ActionNames",
    "ArticleInfo",
    "AsyncServices",
    "BusinessAction",
    "Demand",
    "PriceOptions",
    "PriceQuote",
    "Services",
    "StockAnswer",
    "StockLevel",
    "parse_decimal",
]

Element = etree._Element
C = TypeVar("C", bound="Caller | AsyncCaller")

STOCK_DEMAND = "INTERROGER_STOCK"
PRICE_DEMAND = "INTERROGER_TARIF"


class ActionNames(Protocol):
    """The names a profile gives to service actions and business actions."""

    @property
    def xml_service(self) -> str: ...
    @property
    def json_service(self) -> str: ...
    @property
    def create_document(self) -> str: ...
    @property
    def create_customer(self) -> str: ...
    @property
    def update_customer(self) -> str: ...
    @property
    def transfer_document(self) -> str: ...
    @property
    def stock_movement(self) -> str: ...
    @property
    def document_state(self) -> str: ...
    @property
    def cancel_document(self) -> str: ...


class BusinessAction(StrEnum):
    """What a business action does; the profile gives each its name.

    The value is the attribute of :class:`ActionNames` holding the name.
    """

    CREATE_DOCUMENT = "create_document"
    CREATE_CUSTOMER = "create_customer"
    UPDATE_CUSTOMER = "update_customer"
    TRANSFER_DOCUMENT = "transfer_document"
    STOCK_MOVEMENT = "stock_movement"
    DOCUMENT_STATE = "document_state"
    CANCEL_DOCUMENT = "cancel_document"

    @property
    def kind(self) -> OperationKind:
        """Reading a state is not a write: it may be retried freely."""
        if self is BusinessAction.DOCUMENT_STATE:
            return OperationKind.SERVICE
        return OperationKind.WRITE


XML_ERRORS: Mapping[str, type[errors.DivaltoError]] = {
    "tiers inexistant": errors.ReferenceNotFound,
    "article inexistant": errors.ReferenceNotFound,
    "dépôt inexistant": errors.ReferenceNotFound,
    "sous référence inexistante": errors.ReferenceNotFound,
    "sous-réf obligatoire": errors.RequestRejected,
}
"""Divalto's documented ``<erreur>`` texts (lower case) → the error they raise.

Any other text raises :class:`~divalto.errors.BusinessRuleRejected`: a person
should read it.
"""

RulePatterns = Sequence[tuple[re.Pattern[str], type[errors.BusinessRuleRejected]]]

RULE_MESSAGES: RulePatterns = (
    (re.compile(r"already used|already exists", re.I), errors.DuplicateReference),
    (re.compile(r"version conflict", re.I), errors.VersionConflict),
    (
        re.compile(r"not enough stock|insufficient stock", re.I),
        errors.InsufficientStock,
    ),
)
"""Patterns of a resultcode ``"3"`` message → the precise refusal they mean.

The defaults match the simulator's English messages; a tenant whose ERP words
them otherwise passes its own patterns to :class:`Services`.
"""

_RESULTCODE_ERRORS: Mapping[str, type[errors.DivaltoError]] = {
    "1": errors.RequestRejected,
    "2": errors.ReferenceNotFound,
    "3": errors.BusinessRuleRejected,
}
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


def parse_decimal(value: str, *, field: str, **context: Any) -> Decimal:
    """A decimal written with a point or a comma (``"12,50"``, ``"12.50"``).

    Raises :class:`~divalto.errors.ResponseInvalid` naming ``field`` for anything
    else, thousands separators included.
    """
    stripped = value.strip()
    if _DECIMAL.fullmatch(stripped) is None:
        raise errors.ResponseInvalid(
            f"<{field}> is not a decimal number: {value!r}", **context
        )
    return Decimal(stripped.replace(",", "."))


def _scalar_text(value: Any, path: str) -> str:
    """A value of a demand or of action data, written as Divalto reads it."""
    if isinstance(value, bool):
        return "2" if value else "1"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        raise TypeError(f"{path}: a datetime has no Divalto form, pass a date")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, str | int):
        return str(value)
    raise TypeError(f"{path}: {type(value).__name__} is not a Divalto value")


@dataclass(frozen=True)
class Demand:
    """One XML demand: its name and its parameters, in order, as text.

    ``user`` or ``mobuser`` set the confidentiality context of the answer.
    """

    name: str
    parameters: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    mobuser: str | None = None

    @classmethod
    def of(cls, name: str, /, **parameters: Any) -> Demand:
        """A demand from keyword parameters; ``None`` values are left out."""
        pairs = tuple(
            (key, _scalar_text(value, f"{name}.{key}"))
            for key, value in parameters.items()
            if value is not None
        )
        return cls(name, pairs)

    def to_xml(self, dossier: str, *, encoding: str) -> str:
        """The ``<dem>`` document, as text for ``param``.

        Raises :class:`~divalto.errors.UnencodableText` for a value that
        ``encoding`` or XML itself cannot carry, naming the parameter.
        """
        root = etree.Element("dem")
        attributes = {"dos": dossier, "nom": self.name}
        for key in ("user", "mobuser"):
            value = getattr(self, key)
            if value is not None:
                attributes[key] = value
        action = etree.SubElement(root, "action")
        for key, value in attributes.items():
            _checked(value, f"{self.name}@{key}", encoding)
            action.set(key, value)
        for key, value in self.parameters:
            element = etree.SubElement(action, key)
            element.text = _checked(value, f"{self.name}.{key}", encoding)
        return etree.tostring(root, encoding="unicode")


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _checked(value: str, field: str, encoding: str) -> str:
    refuse_unencodable(value, field=field, encoding=encoding)
    bad = "".join(dict.fromkeys(_NOT_XML.findall(value)))
    if bad:
        named = ", ".join(f"U+{ord(char):04X}" for char in bad)
        raise errors.UnencodableText(
            f"Text of '{field}' holds characters XML cannot carry: {named}",
            field=field,
            characters=bad,
        )
    return value


class _Answer:
    """Reads a ``<rep>`` answer: required and optional texts, decimals, lists."""

    def __init__(self, root: Element, demand: str) -> None:
        self.root = root
        self.demand = demand

    def invalid(self, message: str) -> errors.ResponseInvalid:
        return errors.ResponseInvalid(
            f"{self.demand} answer: {message}",
            endpoint=Endpoint.SERVICE.value,
            action=self.demand,
        )

    def required(self, parent: Element, tag: str) -> str:
        element = parent.find(tag)
        if element is None:
            raise self.invalid(f"<{tag}> is missing under <{parent.tag}>")
        return element.text or ""

    def optional(self, parent: Element, tag: str) -> str | None:
        element = parent.find(tag)
        return None if element is None else element.text or ""

    def decimal(self, parent: Element, tag: str) -> Decimal:
        return parse_decimal(
            self.required(parent, tag),
            field=tag,
            endpoint=Endpoint.SERVICE.value,
            action=self.demand,
        )

    def optional_decimal(self, parent: Element, tag: str) -> Decimal | None:
        if parent.find(tag) is None:
            return None
        return self.decimal(parent, tag)

    def child(self, parent: Element, tag: str) -> Element:
        element = parent.find(tag)
        if element is None:
            raise self.invalid(f"<{tag}> is missing under <{parent.tag}>")
        return element


def _raise_for_erreur(root: Element, demand: str) -> None:
    refusals = root.findall("erreur")
    if not refusals:
        return
    first = refusals[0]
    text = (first.text or "").strip()
    kind = XML_ERRORS.get(text.lower(), errors.BusinessRuleRejected)
    codes = ", ".join(
        f"{(item.text or '').strip()} (code {item.get('code', '?')})"
        for item in refusals
    )
    raise kind(
        f"{demand} refused: {codes}",
        endpoint=Endpoint.SERVICE.value,
        action=demand,
        errormessage=text,
        resultcode=first.get("code"),
    )


def read_answer(result: Any, demand: str) -> Element:
    """The ``<rep>`` root of a demand's answer, after its ``<erreur>`` check.

    Raises :class:`~divalto.errors.ResponseInvalid` for a result that is not an
    XML ``<rep>`` answering ``demand``, and the mapped error for an ``<erreur>``.
    """
    context: dict[str, Any] = {"endpoint": Endpoint.SERVICE.value, "action": demand}
    if not isinstance(result, str):
        raise errors.ResponseInvalid(f"{demand}: 'result' is not a string", **context)
    root = parse_xml(result, **context)
    if root.tag != "rep":
        raise errors.ResponseInvalid(
            f"{demand}: answer root is <{root.tag}>, not <rep>", **context
        )
    echo = root.find("action")
    if echo is not None and (echo.get("nom") or "").upper() != demand.upper():
        raise errors.ResponseInvalid(
            f"{demand}: the answer is for demand {echo.get('nom')!r}", **context
        )
    _raise_for_erreur(root, demand)
    return root


@dataclass(frozen=True)
class ArticleInfo:
    """The article an answer is about: reference, label and unit."""

    ref: str
    label: str | None
    unit: str | None


@dataclass(frozen=True)
class StockLevel:
    """Stock of one article (and sub-reference) in one depot."""

    depot: str
    ref: str
    sref1: str | None
    sref2: str | None
    physical: Decimal
    reserved: Decimal
    available: Decimal


@dataclass(frozen=True)
class StockAnswer:
    """``INTERROGER_STOCK``: the article and one level per depot and variant."""

    article: ArticleInfo | None
    levels: list[StockLevel]


@dataclass(frozen=True)
class PriceQuote:
    """``INTERROGER_TARIF``: a line's price as a document would set it.

    ``gross`` is the unit price before discounts, ``discounts`` the cascaded
    percentages in order, ``net`` the unit price after them, ``amount`` the line
    amount (``quantity`` × ``net``), all on the basis asked (excluding or
    including tax); ``amount_excluding_tax`` is always excluding tax.
    """

    article: ArticleInfo | None
    gross: Decimal
    discounts: tuple[Decimal, ...]
    net: Decimal
    amount: Decimal
    amount_excluding_tax: Decimal | None
    quantity: Decimal | None
    vat_code: str | None
    vat_rate: Decimal | None


def _article(reader: _Answer) -> ArticleInfo | None:
    element = reader.root.find("article")
    if element is None:
        return None
    return ArticleInfo(
        ref=reader.required(element, "ref"),
        label=reader.optional(element, "des"),
        unit=reader.optional(element, "un"),
    )


def stock_answer(root: Element, demand: str = STOCK_DEMAND) -> StockAnswer:
    """Type an ``INTERROGER_STOCK`` answer; raises ResponseInvalid when incomplete."""
    reader = _Answer(root, demand)
    levels = [
        StockLevel(
            depot=reader.required(line, "depot"),
            ref=reader.required(line, "ref"),
            sref1=reader.optional(line, "sref1"),
            sref2=reader.optional(line, "sref2"),
            physical=reader.decimal(line, "stock"),
            reserved=reader.decimal(line, "reserve"),
            available=reader.decimal(line, "disponible"),
        )
        for line in root.findall("ligne")
    ]
    return StockAnswer(article=_article(reader), levels=levels)


def price_quote(root: Element, demand: str = PRICE_DEMAND) -> PriceQuote:
    """Type an ``INTERROGER_TARIF`` answer; raises ResponseInvalid when incomplete."""
    reader = _Answer(root, demand)
    tarif = reader.child(root, "tarif")
    discounts = tuple(
        reader.decimal(tarif, tag)
        for tag in ("rem1", "rem2", "rem3")
        if tarif.find(tag) is not None
    )
    return PriceQuote(
        article=_article(reader),
        gross=reader.decimal(tarif, "pub"),
        discounts=discounts,
        net=reader.decimal(tarif, "punet"),
        amount=reader.decimal(tarif, "montant"),
        amount_excluding_tax=reader.optional_decimal(tarif, "mtht"),
        quantity=reader.optional_decimal(tarif, "quantite"),
        vat_code=reader.optional(tarif, "tvacod"),
        vat_rate=reader.optional_decimal(tarif, "tvataux"),
    )


def _prepared(value: Any, path: str, encoding: str) -> Any:
    """A JSON-ready copy of action data, every text checked against ``encoding``.

    Decimals and dates become Divalto text, ``True``/``False`` the flags ``"2"``
    and ``"1"``; floats are refused (money is never a float). Raises
    :class:`~divalto.errors.UnencodableText` naming the field's path
    (``data.imouvtb[1].imouv.des``, items counted from 1) and TypeError.
    """
    if isinstance(value, Mapping):
        return {
            str(key): _prepared(item, f"{path}.{key}" if path else str(key), encoding)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            _prepared(item, f"{path}[{number}]", encoding)
            for number, item in enumerate(value, start=1)
        ]
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    text = _scalar_text(value, path)
    refuse_unencodable(text, field=path, encoding=encoding)
    return text


def read_action_result(
    result: Any, action: str, rules: RulePatterns = RULE_MESSAGES
) -> dict[str, Any]:
    """The ``response`` of a business action's answer, once its resultcode is 0.

    Raises the error of a non-zero resultcode (see the module docstring) and
    :class:`~divalto.errors.ResponseInvalid` for a result without the shape
    ``{"result": {"common": {"resultcode": ..}, "response": {..}}}``.
    """
    context: dict[str, Any] = {"endpoint": Endpoint.SERVICE.value, "action": action}
    try:
        payload = json.loads(result) if isinstance(result, str) else result
        outcome = payload["result"]
        common = outcome["common"]
        resultcode = str(common["resultcode"]).strip()
        message = str(common.get("errormessage") or "")
    except (ValueError, TypeError, KeyError) as exc:
        raise errors.ResponseInvalid(
            f"{action}: 'result' is not a business answer ({exc!r})", **context
        ) from exc
    if resultcode == "0":
        response = outcome.get("response") or {}
        if not isinstance(response, dict):
            raise errors.ResponseInvalid(
                f"{action}: 'response' is not an object", **context
            )
        return response
    raise _refusal(resultcode, message, rules, context)


def _refusal(
    resultcode: str, message: str, rules: RulePatterns, context: dict[str, Any]
) -> errors.DivaltoError:
    kind = _RESULTCODE_ERRORS.get(resultcode)
    if kind is None:
        return errors.ResponseInvalid(
            f"{context['action']}: unknown resultcode {resultcode!r}: {message}",
            **context,
        )
    if resultcode == "3":
        kind = next(
            (leaf for pattern, leaf in rules if pattern.search(message)),
            kind,
        )
    return kind(
        f"{context['action']} refused (resultcode {resultcode}): {message}",
        resultcode=resultcode,
        errormessage=message,
        **context,
    )


class _ServicesBase(Generic[C]):
    """Request building shared by :class:`Services` and :class:`AsyncServices`."""

    def __init__(
        self,
        caller: C,
        *,
        names: ActionNames,
        dossier: str,
        encoding: str = "windows-1252",
        rule_messages: RulePatterns = RULE_MESSAGES,
    ) -> None:
        self.caller = caller
        self.names = names
        self.dossier = dossier
        self.encoding = encoding
        self.rule_messages = rule_messages

    def _demand_body(self, demand: Demand) -> dict[str, Any]:
        param = demand.to_xml(self.dossier, encoding=self.encoding)
        return {"action": self.names.xml_service, "param": param}

    def _action_body(
        self, name: str, data: Mapping[str, Any], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        inner = {
            "action": {
                "swinfinity": name,
                "parameters": {"dos": self.dossier, **parameters},
            },
            "data": data,
        }
        param = json.dumps(_prepared(inner, "", self.encoding), ensure_ascii=False)
        return {"action": self.names.json_service, "param": param}

    @staticmethod
    def _stock_demand(
        ref: str, depot: str, sref1: str | None, sref2: str | None
    ) -> Demand:
        return Demand.of(STOCK_DEMAND, ref=ref, sref1=sref1, sref2=sref2, depot=depot)

    @staticmethod
    def _price_demand(tiers: str, ref: str, options: PriceOptions) -> Demand:
        return Demand.of(
            PRICE_DEMAND,
            tiers=tiers,
            ref=ref,
            sref1=options.sref1,
            sref2=options.sref2,
            depot=options.depot,
            marche=options.market,
            prix="2" if options.including_tax else "1",
            quantite=options.quantity,
        )

    def _parameters(self, etb: str | None) -> dict[str, str]:
        return {} if etb is None else {"etb": etb}


@dataclass(frozen=True)
class PriceOptions:
    """The optional inputs of a price simulation (``INTERROGER_TARIF``)."""

    quantity: Decimal | int | None = None
    depot: str | None = None
    sref1: str | None = None
    sref2: str | None = None
    market: str | None = None
    including_tax: bool = False


class Services(_ServicesBase[Caller]):
    """Business services through a :class:`~divalto.wire.Caller`.

    ``names`` gives the service action codes and business action names (the
    profile's ``actions``), ``dossier`` the company the calls act on,
    ``encoding`` the ERP's text encoding and ``rule_messages`` how refusals
    are told apart. Every method raises what the caller raises, the
    errors of a refusal (see the module docstring),
    :class:`~divalto.errors.UnencodableText` before sending, and
    :class:`~divalto.errors.ResponseInvalid` for an answer it cannot read.
    """

    def demand(self, demand: Demand) -> Element:
        """Send one XML demand; return its ``<rep>`` root."""
        envelope = self.caller.call(
            Endpoint.SERVICE,
            self._demand_body(demand),
            kind=OperationKind.SERVICE,
            action=demand.name,
        )
        return read_answer(envelope.get("result"), demand.name)

    def stock(
        self,
        ref: str,
        *,
        depot: str = "*",
        sref1: str | None = None,
        sref2: str | None = None,
    ) -> StockAnswer:
        """Stock of ``ref`` per depot (``"*"``: every depot)."""
        return stock_answer(self.demand(self._stock_demand(ref, depot, sref1, sref2)))

    def price(
        self, tiers: str, ref: str, options: PriceOptions | None = None
    ) -> PriceQuote:
        """The price ``tiers`` would pay for ``ref``, without creating anything."""
        demand = self._price_demand(tiers, ref, options or PriceOptions())
        return price_quote(self.demand(demand))

    def action(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        etb: str | None = None,
        kind: OperationKind = OperationKind.WRITE,
    ) -> dict[str, Any]:
        """Run the business action ``name`` on ``data``; return its ``response``."""
        body = self._action_body(name, data, self._parameters(etb))
        envelope = self.caller.call(Endpoint.SERVICE, body, kind=kind, action=name)
        return read_action_result(envelope.get("result"), name, self.rule_messages)

    def run(
        self,
        business: BusinessAction,
        data: Mapping[str, Any],
        *,
        etb: str | None = None,
    ) -> dict[str, Any]:
        """Run a known business action under the name the profile gives it."""
        name = getattr(self.names, business.value)
        return self.action(name, data, etb=etb, kind=business.kind)


class AsyncServices(_ServicesBase[AsyncCaller]):
    """The async twin of :class:`Services`, over an async caller."""

    async def demand(self, demand: Demand) -> Element:
        """Send one XML demand; return its ``<rep>`` root."""
        envelope = await self.caller.call(
            Endpoint.SERVICE,
            self._demand_body(demand),
            kind=OperationKind.SERVICE,
            action=demand.name,
        )
        return read_answer(envelope.get("result"), demand.name)

    async def stock(
        self,
        ref: str,
        *,
        depot: str = "*",
        sref1: str | None = None,
        sref2: str | None = None,
    ) -> StockAnswer:
        """Stock of ``ref`` per depot (``"*"``: every depot)."""
        demand = self._stock_demand(ref, depot, sref1, sref2)
        return stock_answer(await self.demand(demand))

    async def price(
        self, tiers: str, ref: str, options: PriceOptions | None = None
    ) -> PriceQuote:
        """The price ``tiers`` would pay for ``ref``, without creating anything."""
        demand = self._price_demand(tiers, ref, options or PriceOptions())
        return price_quote(await self.demand(demand))

    async def action(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        etb: str | None = None,
        kind: OperationKind = OperationKind.WRITE,
    ) -> dict[str, Any]:
        """Run the business action ``name`` on ``data``; return its ``response``."""
        body = self._action_body(name, data, self._parameters(etb))
        envelope = await self.caller.call(
            Endpoint.SERVICE, body, kind=kind, action=name
        )
        return read_action_result(envelope.get("result"), name, self.rule_messages)

    async def run(
        self,
        business: BusinessAction,
        data: Mapping[str, Any],
        *,
        etb: str | None = None,
    ) -> dict[str, Any]:
        """Run a known business action under the name the profile gives it."""
        name = getattr(self.names, business.value)
        return await self.action(name, data, etb=etb, kind=business.kind)

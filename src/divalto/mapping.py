"""Mapping profiles: how one tenant's Divalto spells what the models mean.

A mapping profile is a TOML file, one per tenant. It names, for the adapters:

- ``[recordsql.<purpose>]``: the dictionary (``.dhoq``) and RecordSql to read,
  the WHERE and ORDERBY **cases** by purpose (``by_code`` → ``Equal_Tiers`` with
  parameter ``tiers``), and the output **field** holding each model attribute;
- ``[actions]``: the service action codes and business action names;
- ``[document_types]``: the ``PiCod`` (Divalto's document type code) of each
  document kind, and ``[states]`` what each ``CE4`` state code means;
- ``[articles]``: the articles that carry shipping, charges, discounts and the
  rounding remainder of a last credit note;
- ``[vat]``: the VAT code of each rate a shop sends, and the zero-rate code;
- ``[rounding]``: decimals and rounding mode of prices and amounts;
- ``[customer_codes]``: how a shop customer becomes a Divalto customer code and
  external reference;
- ``[wire]``: the names of the business actions' groups and fields, request and
  response (defaults are the simulator's, every one may be overridden).

:func:`default_mapping` is the bundled profile that matches the simulator;
:func:`load_mapping` reads a tenant's file. A profile that is incomplete or refers
to something it does not define is refused at load time by :class:`MappingInvalid`,
naming every faulty entry by its path (``recordsql.customers.fields.name: is
missing``).
"""

from __future__ import annotations

import codecs
import decimal
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from divalto.errors import ProfileInvalid
from divalto.models import DocumentKind, DocumentState
from divalto.settings import ServiceActions

__all__ = [
    "REQUIRED",
    "ActionMap",
    "Articles",
    "CaseRef",
    "CustomerCodes",
    "MappingInvalid",
    "MappingProfile",
    "RecordSqlMap",
    "Rounding",
    "VatMap",
    "WireNames",
    "default_mapping",
    "load_mapping",
]

REQUIRED: dict[str, dict[str, Sequence[str]]] = {
    "customers": {
        "where": ("by_code", "by_external_reference"),
        "fields": [
            "code",
            "name",
            "street",
            "postcode",
            "city",
            "country",
            "email",
            "phone",
            "vat_number",
            "payment_term",
            "payment_term_label",
            "price_family",
            "discount_family",
            "currency",
            "external_reference",
            "version",
        ],
    },
    "products": {
        "where": ("by_code", "by_family"),
        "fields": [
            "ref",
            "label",
            "family",
            "unit",
            "vat_code",
            "vat_rate",
            "stock_managed",
            "has_sub_references",
            "base_price",
        ],
    },
    "sub_references": {
        "where": ("by_ref",),
        "fields": ("ref", "sref1", "sref2"),
    },
}
"""What the adapters need of each RecordSql: WHERE purposes and model fields."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseRef(_Strict):
    """A WHERE case by name, and the name of its one parameter."""

    case: str
    parameter: str


class RecordSqlMap(_Strict):
    """One RecordSql: where it lives, its cases by purpose, its fields by attribute."""

    dictionary: str
    recordsql: str
    where: dict[str, CaseRef] = Field(default_factory=dict)
    orderby: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)

    def field(self, attribute: str) -> str:
        """The wire name of a model attribute; KeyError if the profile lacks it."""
        return self.fields[attribute]


class ActionMap(ServiceActions):
    """Service action codes and business action names, as a profile's are."""


class Articles(_Strict):
    """Articles that carry what a shop order has beside its products."""

    shipping: str = Field(min_length=1)
    charges: str = Field(min_length=1)
    discount: str = Field(min_length=1)
    rounding: str = Field(min_length=1)
    without_sku: dict[str, str] = Field(default_factory=dict)
    """Per source, the article code of a shop line that has no SKU: a template
    over the line's ``{id}`` (its variant's id, else its product's) and
    ``{product_id}``, e.g. ``"WC{id}"``. A source absent here rejects such a line.
    """


class VatMap(_Strict):
    """VAT codes: the code of each rate (``"20.00"`` → ``"1"``) and the zero rate's."""

    codes: dict[str, str]
    exempt_code: str

    def code_for(self, rate: Decimal) -> str | None:
        """The VAT code of ``rate`` (any number of decimals), or None."""
        for text, code in self.codes.items():
            if Decimal(text) == rate:
                return code
        return None


class Rounding(_Strict):
    """How the ERP rounds net prices and amounts (a :mod:`decimal` mode name), and
    the quantities it takes: ``quantity_decimals`` places, below ``quantity_limit``.
    """

    decimals: int = Field(default=2, ge=0, le=6)
    mode: str = "ROUND_HALF_UP"
    quantity_decimals: int = Field(default=3, ge=0, le=6)
    quantity_limit: Decimal = Field(default=Decimal("1e12"), gt=0)

    def amount(self, value: Decimal) -> Decimal:
        """``value`` rounded as the ERP rounds prices and amounts."""
        return value.quantize(self.cent, rounding=self.mode)

    @property
    def cent(self) -> Decimal:
        """The smallest amount: ``0.01`` with two decimals."""
        return Decimal(1).scaleb(-self.decimals)

    def net(self, gross: Decimal, discounts: Sequence[Decimal]) -> Decimal:
        """A gross price less cascaded percentage discounts, rounded as the ERP."""
        for rate in discounts:
            gross *= 1 - rate / 100
        return self.amount(gross)


class CustomerCodes(_Strict):
    """How a shop customer becomes a Divalto customer.

    ``strategy`` ``"erp"`` lets the ERP number new customers; ``"template"`` builds
    the code from ``template`` (``"W{id:0>7}"``, fields ``source`` and ``id``).
    ``external_reference`` is always built from its template, and is what finds
    the customer again.
    """

    strategy: Literal["erp", "template"] = "erp"
    template: str = ""
    external_reference: str = "{source}:{id}"
    default_payment_term: str = ""


def _names(text: str) -> dict[str, str]:
    return dict(pair.split("=") for pair in text.split())


WIRE_DEFAULTS: dict[str, dict[str, str]] = {
    "groups": _names(
        "parameters=ipar header=ient lines=imouvtb line=imouv "
        "line_discounts=imouvcliretb line_discount=imouvclire customer=icli "
        "stock=istock piece=piece source=source client=client stock_answer=stock"
    ),
    "request": _names(
        "kind=PiCod number=PiNo target_kind=PiCodDest customer=Tiers date=PiDt "
        "your_reference=PiRef unique_reference=PcePiRefCtrFl depot=Depo "
        "currency=Dev payment_term=RegCod origin=PiNoOrig version=Version "
        "ref=Ref sref1=Sref1 sref2=Sref2 quantity=Qte gross_price=PubHt "
        "vat_code=TvaCod label=Des line_number=EnrNo discount1=Rem1 "
        "discount2=Rem2 discount3=Rem3 direction=Sens reason=Motif"
    ),
    "client": _names(
        "code=Tiers name=Nom street=Rue postcode=CPostal city=Vil country=Pay "
        "phone=Tel email=Email vat_number=TvaNo payment_term=RegCod "
        "price_family=TarCod discount_family=RemCod currency=Dev "
        "external_reference=RefExt version=Version"
    ),
    "client_response": _names(
        "code=tiers name=nom street=rue postcode=cpostal city=vil country=pay "
        "phone=tel email=email vat_number=tvano payment_term=regcod "
        "price_family=tarcod discount_family=remcod currency=dev "
        "external_reference=refext version=version"
    ),
    "piece": _names(
        "kind=picod number=prefpino state=ce4 version=version customer=tiers "
        "date=pidt your_reference=piref currency=dev depot=depo "
        "payment_term=regcod total_excluding_tax=htmt total_vat=tvamt "
        "total_including_tax=ttcmt taxes=taxes lines=lines origin=origin "
        "transferred_into=transferred_into credit_notes=credit_notes "
        "credited=credited"
    ),
    "line": _names(
        "number=enrno ref=ref sref1=sref1 sref2=sref2 label=des depot=depo "
        "quantity=qte transferred=qtetrf gross_price=pub discount1=rem1 "
        "discount2=rem2 discount3=rem3 net_price=punet amount=mtht "
        "vat_code=tvacod"
    ),
    "tax": _names("vat_code=tvacod rate=taux base=base amount=tvamt"),
    "stock_response": _names(
        "ref=ref sref1=sref1 sref2=sref2 depot=depo direction=sens "
        "quantity=qte reason=motif before=qtestk_before after=qtestk"
    ),
}
"""The simulator's names of every ``[wire]`` table, which a tenant overrides."""


class WireNames(_Strict):
    """Names of the business actions' groups and fields; defaults: the simulator.

    ``request`` maps a logical name to the field a request writes
    (``customer`` → ``Tiers``), ``groups`` the data groups (``header`` →
    ``ient``), ``piece``/``line``/``tax`` the keys of a document in an answer,
    ``client`` and ``client_response`` the customer fields of a request and of an
    answer, ``stock_response`` the keys of a stock movement's answer. A profile
    names only what its ERP spells otherwise: every name it leaves out keeps its
    default (:data:`WIRE_DEFAULTS`).
    """

    groups: dict[str, str] = Field(default_factory=lambda: {**WIRE_DEFAULTS["groups"]})
    request: dict[str, str] = Field(
        default_factory=lambda: {**WIRE_DEFAULTS["request"]}
    )
    client: dict[str, str] = Field(default_factory=lambda: {**WIRE_DEFAULTS["client"]})
    client_response: dict[str, str] = Field(
        default_factory=lambda: {**WIRE_DEFAULTS["client_response"]}
    )
    piece: dict[str, str] = Field(default_factory=lambda: {**WIRE_DEFAULTS["piece"]})
    line: dict[str, str] = Field(default_factory=lambda: {**WIRE_DEFAULTS["line"]})
    tax: dict[str, str] = Field(default_factory=lambda: {**WIRE_DEFAULTS["tax"]})
    stock_response: dict[str, str] = Field(
        default_factory=lambda: {**WIRE_DEFAULTS["stock_response"]}
    )
    unique_reference_on: str = "2"
    depot_missing_code: str = "DEPOT"
    """The ``<erreur code>`` of a stock demand naming an unknown depot."""
    entry: str = "E"
    exit: str = "S"

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, given: Any) -> Any:
        if not isinstance(given, Mapping):
            return given
        merged = dict(given)
        for table, defaults in WIRE_DEFAULTS.items():
            if isinstance(given.get(table), Mapping):
                merged[table] = {**defaults, **given[table]}
        return merged

    def unknown_names(self) -> Iterator[str]:
        """Every name no adapter reads: a misspelt override."""
        for table, defaults in WIRE_DEFAULTS.items():
            for name in getattr(self, table):
                if name not in defaults:
                    yield f"wire.{table}.{name}: is not a name the adapters use"


class MappingProfile(_Strict):
    """One tenant's mapping; build it with :func:`load_mapping`."""

    name: str
    encoding: str = "windows-1252"
    currencies: tuple[str, ...] = ("EUR",)
    default_currency: str = "EUR"
    default_depot: str = "1"
    payment_terms: tuple[str, ...] = ()
    recordsql: dict[str, RecordSqlMap]
    actions: ActionMap = ActionMap()
    document_types: dict[DocumentKind, str]
    states: dict[str, DocumentState]
    articles: Articles
    vat: VatMap
    rounding: Rounding = Rounding()
    customer_codes: CustomerCodes = CustomerCodes()
    price_tolerance: Decimal = Field(default=Decimal("0.00"), ge=0)
    wire: WireNames = WireNames()

    @model_validator(mode="after")
    def _complete(self) -> MappingProfile:
        problems = list(self.problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> Iterator[str]:
        """Every entry that is missing or refers to something undefined."""
        yield from self._recordsql_problems()
        yield from self._document_problems()
        yield from self._vat_problems()
        yield from self._reference_problems()
        yield from self._customer_code_problems()
        yield from self.wire.unknown_names()

    def _recordsql_problems(self) -> Iterator[str]:
        for purpose, needs in REQUIRED.items():
            query = self.recordsql.get(purpose)
            if query is None:
                yield f"recordsql.{purpose}: is missing"
                continue
            for section in ("where", "fields"):
                defined = getattr(query, section)
                for name in needs[section]:
                    if name not in defined:
                        yield f"recordsql.{purpose}.{section}.{name}: is missing"

    def _document_problems(self) -> Iterator[str]:
        for kind in DocumentKind:
            if kind not in self.document_types:
                yield f"document_types.{kind.value}: is missing"
        codes = list(self.document_types.values())
        if len(set(codes)) < len(codes):
            yield f"document_types: two kinds share one code ({', '.join(codes)})"
        for state in (DocumentState.ACTIVE, DocumentState.CANCELLED):
            if state not in self.states.values():
                yield f"states: no code means '{state.value}'"
        if DocumentState.TRANSFERRED not in self.states.values():
            yield "states: no code means 'transferred'"

    def _reference_problems(self) -> Iterator[str]:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            yield f"encoding: '{self.encoding}' is not an encoding Python knows"
        if self.default_currency not in self.currencies:
            yield f"default_currency: '{self.default_currency}' is not in currencies"
        term = self.customer_codes.default_payment_term
        if term and term not in self.payment_terms:
            yield (
                f"customer_codes.default_payment_term: '{term}' is not in payment_terms"
            )
        if self.rounding.mode not in _ROUNDING_MODES:
            yield f"rounding.mode: '{self.rounding.mode}' is not a decimal mode"

    def _vat_problems(self) -> Iterator[str]:
        seen: set[Decimal] = set()
        for text in self.vat.codes:
            if not _RATE.fullmatch(text):
                yield f"vat.codes.{text}: is not a rate in percent"
                continue
            if Decimal(text) in seen:
                yield f"vat.codes: rate {text} is given twice"
            seen.add(Decimal(text))
        exempt = self.vat.exempt_code
        rate = next((t for t, code in self.vat.codes.items() if code == exempt), "")
        if not rate:
            yield f"vat.exempt_code: '{exempt}' is not a code of vat.codes"
        elif _RATE.fullmatch(rate) and Decimal(rate) != 0:
            yield (
                f"vat.exempt_code: '{exempt}' is the code of rate {rate}, "
                "not of a zero rate"
            )

    def _customer_code_problems(self) -> Iterator[str]:
        codes = self.customer_codes
        path = "customer_codes.external_reference"
        if "{id" not in codes.external_reference:
            yield (
                f"{path}: must use {{id}}, or every shop customer would share "
                "one reference"
            )
        else:
            yield from _unfillable(path, codes.external_reference)
        if codes.strategy != "template":
            return
        if "{id" not in codes.template:
            yield "customer_codes.template: must use {id} with strategy 'template'"
        else:
            yield from _unfillable("customer_codes.template", codes.template)

    def picod(self, kind: DocumentKind) -> str:
        """The ``PiCod`` of a document kind."""
        return self.document_types[kind]

    def kind_of(self, picod: str) -> DocumentKind:
        """The document kind of a ``PiCod``; raises KeyError for an unknown one."""
        for kind, code in self.document_types.items():
            if code == picod:
                return kind
        raise KeyError(f"no document kind has PiCod {picod!r}")

    def state_code(self, state: DocumentState) -> str:
        """The ``CE4`` code of a state (the first, if several codes mean it)."""
        return next(code for code, value in self.states.items() if value is state)


_ROUNDING_MODES = frozenset(name for name in dir(decimal) if name.startswith("ROUND_"))

_RATE = re.compile(r"\d+(\.\d+)?")


def _unfillable(path: str, template: str) -> Iterator[str]:
    """A template that a shop's ``source`` and ``id`` cannot fill, named."""
    try:
        template.format(source="shop", id="1")
    except (KeyError, IndexError, ValueError) as exc:
        yield (
            f"{path}: '{template}' cannot be filled with source and id "
            f"({type(exc).__name__}: {exc})"
        )


class MappingInvalid(ProfileInvalid):
    """A mapping profile refused at load time; names every faulty entry."""

    code = "contract.mapping_invalid"

    def __init__(self, message: str, *, problems: list[str], **context: Any) -> None:
        super().__init__(message, **context)
        self.problems = problems


def _problem(error: Mapping[str, Any]) -> list[str]:
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"])
    if error["type"] == "value_error" and not where:
        return list(message.removeprefix("Value error, ").split("; "))
    if error["type"] == "missing":
        message = "is missing"
    return [f"{where}: {message}" if where else message]


def parse_mapping(table: Mapping[str, Any], source: str) -> MappingProfile:
    """Build a profile from a decoded TOML table; raises MappingInvalid."""
    try:
        return MappingProfile.model_validate(dict(table))
    except ValidationError as exc:
        problems = [text for error in exc.errors() for text in _problem(error)]
        raise MappingInvalid(
            f"mapping profile {source} refused: {'; '.join(problems)}",
            problems=problems,
        ) from exc


def load_mapping(path: str | Path) -> MappingProfile:
    """Read and check a tenant's mapping profile; raises MappingInvalid.

    A file that does not exist or is not TOML is refused the same way, naming the
    file.
    """
    source = str(path)
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte order mark.
        table = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise MappingInvalid(
            f"mapping profile {source} unreadable: {problem}", problems=[problem]
        ) from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingInvalid(
            f"mapping profile {source} unreadable: {exc}", problems=[str(exc)]
        ) from exc
    return parse_mapping(table, source)


def default_mapping() -> MappingProfile:
    """The bundled profile ``default``, which matches the simulator's defaults."""
    text = (
        resources.files("divalto.mappings")
        .joinpath("default.toml")
        .read_text(encoding="utf-8")
    )
    return parse_mapping(tomllib.loads(text), "default")

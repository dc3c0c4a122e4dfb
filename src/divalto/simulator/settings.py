"""Settings of the simulator.

Every behaviour that ``divalto-protocol.md`` marks **[assumed]** is a field here, with
the assumption as its default, so that a test or an integrator can make the simulator
behave like a particular tenant without touching its code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from divalto.simulator.faults import FaultRule

Rounding = Literal[
    "ROUND_HALF_UP",
    "ROUND_HALF_EVEN",
    "ROUND_HALF_DOWN",
    "ROUND_UP",
    "ROUND_DOWN",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_05UP",
]
"""Names of the :mod:`decimal` rounding modes, which are also their values."""


LONGEST_TOKEN_TTL = 100 * 366 * 24 * 3600
"""A century: beyond it, a token's expiry would leave the calendar."""


class Account(BaseModel):
    """An ERP account that may log in through ``Authent/Auth``."""

    model_config = ConfigDict(frozen=True)

    user: str
    password: SecretStr
    domain: str = "divaltocloud"
    dossier: str = "998"


class ActionNames(BaseModel):
    """Service action codes and business action names.

    Service action codes are configured per environment in a real tenant. Only
    ``SYNCHRO_INFINITY_AGILEO``, ``WEB_SERVICE_INFINITY`` and ``integration_piece``
    appear in Divalto's documentation; every other name is our assumption.
    """

    model_config = ConfigDict(frozen=True)

    xml_service: str = "SYNCHRO_INFINITY_AGILEO"
    json_service: str = "WEB_SERVICE_INFINITY"
    create_document: str = "integration_piece"
    create_customer: str = "creation_client"
    update_customer: str = "modification_client"
    transfer_document: str = "transfert_piece"
    stock_movement: str = "mouvement_stock"
    document_state: str = "etat_piece"
    cancel_document: str = "annulation_piece"


class DocumentTypes(BaseModel):
    """``PiCod`` values per document kind, and the prefix of each numbering.

    The codes are not public; 1 quote, 2 order, 3 delivery note, 4 invoice and
    5 credit note is our assumption.
    """

    model_config = ConfigDict(frozen=True)

    quote: int = 1
    order: int = 2
    delivery: int = 3
    invoice: int = 4
    credit_note: int = 5
    prefixes: dict[str, str] = Field(
        default_factory=lambda: {
            "quote": "DV",
            "order": "CC",
            "delivery": "BL",
            "invoice": "FA",
            "credit_note": "AV",
        }
    )
    number_width: int = 8


class SimulatorSettings(BaseModel):
    """How one simulated Divalto infinity tenant behaves.

    ``token_ttl_seconds`` is documented (45 minutes); the rest of the defaults are
    assumptions written down in ``divalto-protocol.md``.
    """

    model_config = ConfigDict(frozen=True)

    accounts: tuple[Account, ...] = (
        Account(user="DEMO", password=SecretStr("demo")),
        Account(user="API_SYNC", password=SecretStr("sync-secret")),
    )
    sites: tuple[str, ...] = ()
    """Cloud site numbers accepted in the URL; empty accepts any six-digit site."""
    environments: tuple[str, ...] = ()
    """Environment codes accepted in the URL; empty accepts any."""

    token_ttl_seconds: int = Field(default=45 * 60, ge=1, le=LONGEST_TOKEN_TTL)
    signing_key: SecretStr = SecretStr("divalto-simulator-signing-key")
    bearer_header: bool = True
    """Whether ``Authorization: Bearer`` is accepted besides the body field."""

    recordsql_route: str = "RecordSql/Read"
    authorised_dictionaries: tuple[str, ...] = (
        "GTRSTIERS.dhoq",
        "GTRSART.dhoq",
        "GTRSSTOCK.dhoq",
        "GTRSPIECE.dhoq",
    )
    field_renames: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per RecordSql (``DICT.dhoq/RecordSql``): output field name → name sent.

    Lets a test imitate a Divalto version whose dictionaries spell fields
    differently, without a code change on either side.
    """
    parameter_separator: str = ";"
    """Separates ``where_parameters`` pairs; doubled inside a value to mean itself."""
    recordsql_default_count: int = 10000
    """Page size of a RecordSql read that sends no ``count``."""
    recordsql_max_count: int = 10000
    """Largest ``count`` a RecordSql read accepts; Divalto's own limit is not public."""
    recordsql_clamp_count: bool = False
    """Whether a larger ``count`` is cut down to the maximum instead of refused."""
    recordsql_case_sensitive_names: bool = False
    """Whether RecordSql, case, parameter and field names must match in case."""

    actions: ActionNames = ActionNames()
    document_types: DocumentTypes = DocumentTypes()
    your_reference_unique_by_default: bool = False
    """Whether ``PcePiRefCtrFl`` is on when an ``integration_piece`` omits it."""
    text_encoding: str = "windows-1252"
    """Encoding of the ERP's text fields: text it cannot carry is refused."""
    currencies: tuple[str, ...] = ("EUR", "CHF", "GBP", "USD")
    """Currency codes the dossier knows (``Dev``)."""
    default_depot: str = "1"
    """Depot of a document whose header names none."""
    customer_code_prefix: str = "C"
    customer_code_digits: int = 7
    """A customer created without a code gets the prefix and the next free number."""
    unique_customer_external_reference: bool = True
    """Whether two customers may share a non-empty external reference (``REFEXT``)."""
    cancelled_state: str = "2"
    """``CE4`` of a cancelled quote or order (2 is Divalto's "suspended")."""

    price_decimals: int = Field(default=2, ge=0, le=6)
    """Decimals of net unit prices and line amounts."""
    rounding: Rounding = "ROUND_HALF_UP"
    """How prices and amounts are rounded to ``price_decimals``."""
    quantity_decimals: int = Field(default=3, ge=0, le=6)
    """Decimals of quantities in XML answers; a demand may not ask for more."""

    webhook_codes: tuple[str, ...] = ("COMMANDE_WEB",)
    """Codes accepted on ``WebHook/{CODE}``; the code is the webhook's only secret."""

    max_body_bytes: int = 2 * 1024 * 1024
    hang_seconds: float = 30.0
    """How long a request hangs under the timeout faults before the server gives up."""

    seed: int = 0
    """Seed of the random draws of fault injection."""
    faults: tuple[FaultRule, ...] = ()
    """Fault rules active from the start, and again after each reset."""
    seed_data: str | None = None
    """Path of an extra seed file (JSON) loaded after the built-in data."""

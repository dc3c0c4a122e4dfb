"""Settings of the simulator.

Every behaviour that ``divalto-protocol.md`` marks **[assumed]** is a field here, with
the assumption as its default, so that a test or an integrator can make the simulator
behave like a particular tenant without touching its code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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

    token_ttl_seconds: int = 45 * 60
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

    actions: ActionNames = ActionNames()
    document_types: DocumentTypes = DocumentTypes()
    your_reference_unique_by_default: bool = False
    """Whether ``PcePiRefCtrFl`` is on when an ``integration_piece`` omits it."""

    webhook_codes: tuple[str, ...] = ("COMMANDE_WEB",)
    """Codes accepted on ``WebHook/{CODE}``; the code is the webhook's only secret."""

    max_body_bytes: int = 2 * 1024 * 1024
    hang_seconds: float = 30.0
    """How long a request hangs under the timeout faults before the server gives up."""

    seed: int = 0
    """Seed of the random draws of fault injection."""
    seed_data: str | None = None
    """Path of an extra seed file (JSON) loaded after the built-in data."""

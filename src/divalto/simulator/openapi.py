"""The simulator's OpenAPI 3.1 description, served at ``/openapi.json``.

Divalto publishes no machine-readable description of its web APIs; this one is
written from ``divalto-protocol.md`` and from what the simulator does, so that its
routes can be imported into Postman or any OpenAPI tool.

Divalto's routes are relative to an API base, given as two servers: the cloud form
``{root}/{site}/{env}/api/v1`` (``site`` and ``env`` are server variables, limited to
the configured sites and environments when there are some) and the on-premises form
``{root}/DhsDivaltoServiceDivaApiRest/api/v1``. The control endpoint, which is not
Divalto's, has its own server: the simulator's root.

Sharp edges: Divalto answers a failed call with HTTP 200 and ``error`` ≠ 0, so the
200 responses describe a success envelope *or* an error envelope; business results
(``result``) are strings holding XML or JSON, described in prose, not in a schema.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from divalto.simulator.faults import FaultRule, FaultState
from divalto.simulator.requestlog import LoggedRequest
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import TABLES

DEFAULT_ROOT_URL = "http://127.0.0.1:8000"
DEFAULT_SITE = "123456"
DEFAULT_ENV = "TEST1"
ON_PREMISES_PATH = "/DhsDivaltoServiceDivaApiRest/api/v1"
REF_TEMPLATE = "#/components/schemas/{model}"

_UNUSED = (
    "Unused fields may be empty or a single space, as Divalto's samples send them."
)
_DESCRIPTION = (
    "A stateful imitation of Divalto infinity's web APIs, with fault injection. "
    "Failures are answered as Divalto does: HTTP 200 with `error` not 0 and a "
    "`txterr`. Routes are matched without regard to case. The `control` "
    "operations steer the simulator and are not part of Divalto."
)


# Request bodies of Divalto's routes.

PageBound = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^\s*\d*\s*$")]
"""A page bound: a number, or digits in a string; blank means the default."""


class LoginRequest(BaseModel):
    """Body of ``Authent/Auth``."""

    model_config = ConfigDict(title="LoginRequest")

    user: str = Field(description="An ERP account.", examples=["DEMO"])
    password: str = Field(
        description="Its password.",
        examples=["demo"],
        json_schema_extra={"format": "password"},
    )
    domain: str = Field(default="", description="Account domain.")
    env: str = Field(default="", description="Environment code.")
    infos: str = Field(default="", description="Reserved; send it empty.")


class RecordSqlRequest(BaseModel):
    """Body of a RecordSql read: a named query of a dictionary, by WHERE case."""

    model_config = ConfigDict(title="RecordSqlRequest")

    dhoq: str = Field(description="Dictionary file.", examples=["GTRSART.dhoq"])
    recordsql: str = Field(description="RecordSql name.", examples=["Article"])
    access_token: str = Field(
        default="", description="Token from Authent/Auth (or a bearer header)."
    )
    parameters: str = Field(
        default="",
        description="`TABLE.FIELD=value` pairs separated by `;`, e.g. `MZ.DOS=998`.",
    )
    fields: str = Field(
        default="",
        description="Output fields separated by `;`; empty or `*` for all. "
        "Joined fields are written `TABLE_FIELD`.",
    )
    where: str = Field(
        default="",
        description="Name of a predefined WHERE case (`Equal_Ref`, `Like_Ref`...), "
        "never free SQL.",
        examples=["Equal_Ref"],
    )
    where_parameters: str = Field(
        default="",
        description="`name=value` pairs for the WHERE case, separated by `;`.",
        examples=["ref=ALB0001"],
    )
    offset: PageBound = Field(
        default=0, description="First row, 0-based (a number or digits)."
    )
    count: PageBound = Field(
        default="",
        description="Page size (a number or digits); empty for the default size.",
    )
    orderby: str = Field(
        default="", description="Name of an ORDERBY case.", examples=["Par_Code"]
    )
    having: str = Field(default="", description="Name of a HAVING case.")
    having_parameters: str = Field(
        default="", description="`name=value` pairs for the HAVING case."
    )
    infos: str = Field(default="", description="Reserved.")


class ServiceRequest(BaseModel):
    """Body of ``WebService/Execute``: a service action and its parameter string."""

    model_config = ConfigDict(title="ServiceRequest")

    action: str = Field(
        description="Service action code: the XML demand family or the JSON family.",
        examples=["WEB_SERVICE_INFINITY"],
    )
    param: str = Field(
        description="An XML `<dem>` document or a JSON text, as a string."
    )
    access_token: str = Field(
        default="", description="Token from Authent/Auth (or a bearer header)."
    )


# Response envelopes of Divalto's routes.


class ErrorEnvelope(BaseModel):
    """What every Divalto route answers on failure: ``error`` ≠ 0 and a text."""

    error: int = Field(description="0 on success, otherwise a technical error code.")
    txterr: str = Field(description="What went wrong; empty on success.")
    infos: str = ""


class LoginResponse(ErrorEnvelope):
    """A successful login: the token lives 45 minutes unless configured otherwise."""

    access_token: str


class RecordSqlRow(BaseModel):
    """One row: upper-case field names, every value a string."""

    record: dict[str, str]


class RecordSqlPage(ErrorEnvelope):
    """One page of a RecordSql read; a short page means the end of the data."""

    tablename: str
    nbrecord: int = Field(description="Rows in this page.")
    records: list[RecordSqlRow]


class ServiceResponse(ErrorEnvelope):
    """A business service's answer: ``result`` is a string holding XML or JSON."""

    result: str


# Bodies of the control endpoint.


class ClockAdvance(BaseModel):
    """Moves the simulator's clock (a negative value moves it back)."""

    seconds: float


class Health(BaseModel):
    status: Literal["ok"]


class Detail(BaseModel):
    """A refused control call: what was wrong with it."""

    detail: str


class Removed(BaseModel):
    removed: int | Literal["all"]


class Loaded(BaseModel):
    """Rows loaded per table."""

    loaded: dict[str, int]


class ClockOffset(BaseModel):
    offset_seconds: float


class Expired(BaseModel):
    expired: Literal["all"]


class ResetDone(BaseModel):
    reset: bool


class WebhookCall(BaseModel):
    """A call received on ``WebHook/{CODE}``: query parameters and body merged."""

    code: str
    at: float
    data: dict[str, Any]


_MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    (LoginRequest, "validation"),
    (RecordSqlRequest, "validation"),
    (ServiceRequest, "validation"),
    (ErrorEnvelope, "serialization"),
    (LoginResponse, "serialization"),
    (RecordSqlPage, "serialization"),
    (ServiceResponse, "serialization"),
    (FaultRule, "validation"),
    (FaultState, "serialization"),
    (LoggedRequest, "serialization"),
    (ClockAdvance, "validation"),
    (Health, "serialization"),
    (Detail, "serialization"),
    (Removed, "serialization"),
    (Loaded, "serialization"),
    (ClockOffset, "serialization"),
    (Expired, "serialization"),
    (ResetDone, "serialization"),
    (WebhookCall, "serialization"),
)


def openapi_document(
    settings: SimulatorSettings, *, root_url: str = DEFAULT_ROOT_URL
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a simulator with these settings.

    ``root_url`` is where the simulator answers (``http://127.0.0.1:8000`` unless
    given); the RecordSql route, the service action codes, the sites, environments
    and webhook codes come from ``settings``.
    """
    root = root_url.rstrip("/")
    schemas = component_schemas()
    schemas["SeedData"] = _seed_schema()
    paths = {**divalto_paths(settings), **control_paths(root)}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Divalto infinity simulator",
            "version": "1",
            "description": _DESCRIPTION,
        },
        "servers": divalto_servers(settings, root),
        "tags": [
            {"name": "divalto", "description": "Divalto infinity's web API routes."},
            {"name": "control", "description": "The simulator's control endpoint."},
        ],
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if settings.bearer_header:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
    return document


def component_schemas() -> dict[str, Any]:
    """JSON schemas of every body model, keyed by model name."""
    _, top = models_json_schema(_MODELS, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def divalto_servers(settings: SimulatorSettings, root: str) -> list[dict[str, Any]]:
    """The cloud-form API base with its ``site`` and ``env``, then on premises."""
    site = _variable(settings.sites, DEFAULT_SITE, "Six-digit cloud site number.")
    env = _variable(settings.environments, DEFAULT_ENV, "Environment code.")
    return [
        {
            "url": root + "/{site}/{env}/api/v1",
            "description": "Cloud form of the API base.",
            "variables": {"site": site, "env": env},
        },
        {"url": root + ON_PREMISES_PATH, "description": "On-premises form."},
    ]


def _variable(allowed: tuple[str, ...], default: str, text: str) -> dict[str, Any]:
    if not allowed:
        return {"default": default, "description": text}
    return {"default": allowed[0], "enum": list(allowed), "description": text}


def divalto_paths(settings: SimulatorSettings) -> dict[str, Any]:
    """Path items of Divalto's routes, relative to the API base."""
    recordsql_path = "/" + settings.recordsql_route.strip("/")
    return {
        "/Authent/Auth": {"post": _login_operation()},
        recordsql_path: {"post": _recordsql_operation(settings)},
        "/WebService/Execute": {"post": _service_operation(settings)},
        "/WebHook/{code}": _webhook_item(settings),
    }


def _divalto_operation(
    operation_id: str, summary: str, body: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    return {
        "tags": ["divalto"],
        "operationId": operation_id,
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": body}},
        "responses": {
            "200": _json_response("The answer, or an error envelope.", answer),
            "404": _json_response("Unknown route.", _ref("ErrorEnvelope")),
            "default": {
                "description": "An injected fault: an HTML error page, 429 with "
                "Retry-After, or no answer at all."
            },
        },
    }


def _login_operation() -> dict[str, Any]:
    body = {
        "schema": _ref("LoginRequest"),
        "example": {"user": "DEMO", "password": "demo", "domain": "divaltocloud"},
    }
    answer = {"anyOf": [_ref("LoginResponse"), _ref("ErrorEnvelope")]}
    return _divalto_operation("login", "Log in and receive a token", body, answer)


def _recordsql_operation(settings: SimulatorSettings) -> dict[str, Any]:
    body = {
        "schema": _ref("RecordSqlRequest"),
        "example": {
            "dhoq": "GTRSART.dhoq",
            "recordsql": "Article",
            "access_token": "<token>",
            "where": "Equal_Ref",
            "where_parameters": "ref=ALB0001",
            "offset": "0",
            "count": "100",
        },
    }
    answer = {"anyOf": [_ref("RecordSqlPage"), _ref("ErrorEnvelope")]}
    operation = _divalto_operation(
        "readRecordSql", "Read a page of a RecordSql", body, answer
    )
    dictionaries = ", ".join(settings.authorised_dictionaries) or "none"
    beyond = "cut down to it" if settings.recordsql_clamp_count else "refused"
    operation["description"] = (
        f"Dictionaries authorised for the API: {dictionaries}. A read without "
        f"`count` gets {settings.recordsql_default_count} rows at most; a `count` "
        f"above {settings.recordsql_max_count} is {beyond}. {_UNUSED}"
    )
    return _with_bearer(operation, settings)


def _service_operation(settings: SimulatorSettings) -> dict[str, Any]:
    actions = settings.actions
    demand = (
        '<dem><action dos="998" nom="INTERROGER_STOCK">'
        "<ref>ALB0001</ref><depot>*</depot></action></dem>"
    )
    body = {
        "schema": _ref("ServiceRequest"),
        "examples": {
            "xmlDemand": {
                "summary": "An XML demand",
                "value": {
                    "action": actions.xml_service,
                    "param": demand,
                    "access_token": "<token>",
                },
            },
            "jsonAction": {
                "summary": "A JSON business action",
                "value": {
                    "action": actions.json_service,
                    "param": _json_action_example(settings),
                    "access_token": "<token>",
                },
            },
        },
    }
    answer = {"anyOf": [_ref("ServiceResponse"), _ref("ErrorEnvelope")]}
    operation = _divalto_operation(
        "executeService", "Run a business service", body, answer
    )
    operation["description"] = (
        f"`{actions.xml_service}` carries XML demands (`<dem>`, answered by an XML "
        f"`<rep>` declared ISO-8859-1); `{actions.json_service}` carries JSON "
        f"business actions such as `{actions.create_document}`, answered by a JSON "
        'text whose `result.common.resultcode` is `"0"` on success.'
    )
    return _with_bearer(operation, settings)


def _json_action_example(settings: SimulatorSettings) -> str:
    inner = {
        "action": {
            "swinfinity": settings.actions.create_document,
            "parameters": {"dos": "998"},
        },
        "data": {
            "ient": {
                "PiCod": str(settings.document_types.order),
                "Tiers": "C0000001",
                "PiRef": "SHOP-1001",
            },
            "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "2"}}],
        },
    }
    return json.dumps(inner)


def _with_bearer(
    operation: dict[str, Any], settings: SimulatorSettings
) -> dict[str, Any]:
    if settings.bearer_header:
        # The body's access_token is the default; the bearer header is an option.
        operation["security"] = [{}, {"bearer": []}]
    return operation


def _webhook_item(settings: SimulatorSettings) -> dict[str, Any]:
    codes = settings.webhook_codes
    code = {
        "name": "code",
        "in": "path",
        "required": True,
        "description": "The webhook's code, its only secret. Unknown codes are "
        "answered with an error envelope.",
        "schema": {"type": "string"},
        "example": codes[0] if codes else "COMMANDE_WEB",
    }
    answer = _json_response(
        "Received, or an error envelope.",
        {"anyOf": [_ref("ServiceResponse"), _ref("ErrorEnvelope")]},
    )

    def operation(method: str) -> dict[str, Any]:
        return {
            "tags": ["divalto"],
            "operationId": f"receiveWebhook{method}",
            "summary": "Call an inbound webhook (no token)",
            "parameters": [_free_query("params", "Any `k=v` query parameters.")],
            "responses": {"200": answer},
        }

    post = operation("Post")
    post["requestBody"] = {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return {"parameters": [code], "get": operation("Get"), "post": post}


def control_paths(root: str) -> dict[str, Any]:
    """Path items of the control endpoint, each with the simulator's root server."""
    items: dict[str, Any] = {
        "/_simulator/health": {
            "get": _control("health", "Is the simulator up", _ref("Health"))
        },
        "/_simulator/faults": _faults_item(),
        "/_simulator/faults/{rule_id}": _fault_item(),
        "/_simulator/requests": _requests_item(),
        "/_simulator/seed": {"post": _seed_operation()},
        "/_simulator/tables/{table}": {"get": _table_operation()},
        "/_simulator/clock/advance": {"post": _clock_operation()},
        "/_simulator/tokens/expire": {
            "post": _control("expireTokens", "Expire every token", _ref("Expired"))
        },
        "/_simulator/webhooks": {
            "get": _control(
                "listWebhookCalls",
                "The webhook calls received",
                _array(_ref("WebhookCall")),
            )
        },
        "/_simulator/reset": {
            "post": _control(
                "reset",
                "Back to the seed, the start faults, empty log",
                _ref("ResetDone"),
            )
        },
        "/_simulator/openapi.json": {
            "get": _control("openapi", "This document", {"type": "object"})
        },
    }
    server = [{"url": root, "description": "The simulator's root."}]
    return {path: {"servers": server, **item} for path, item in items.items()}


def _control(
    operation_id: str, summary: str, answer: dict[str, Any], status: str = "200"
) -> dict[str, Any]:
    return {
        "tags": ["control"],
        "operationId": operation_id,
        "summary": summary,
        "responses": {status: _json_response("Done.", answer)},
    }


def _with_body(
    operation: dict[str, Any], schema: dict[str, Any], *refusals: str
) -> dict[str, Any]:
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": schema}},
    }
    for status in refusals:
        operation["responses"][status] = _json_response("Refused.", _ref("Detail"))
    return operation


def _faults_item() -> dict[str, Any]:
    add = _control("addFault", "Add a fault rule", _ref("FaultState"), "201")
    return {
        "get": _control("listFaults", "The fault rules", _array(_ref("FaultState"))),
        "post": _with_body(add, _ref("FaultRule"), "400"),
        "delete": _control("clearFaults", "Remove every rule", _ref("Removed")),
    }


def _fault_item() -> dict[str, Any]:
    remove = _control("removeFault", "Remove one rule", _ref("Removed"))
    remove["responses"]["404"] = _json_response("No such rule.", _ref("Detail"))
    rule_id = {
        "name": "rule_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    return {"parameters": [rule_id], "delete": remove}


def _requests_item() -> dict[str, Any]:
    listing = _control(
        "listRequests", "The request log, filtered", _array(_ref("LoggedRequest"))
    )
    filters = [
        _query("route", {"enum": ["auth", "recordsql", "service", "webhook"]}),
        _query("service_action", {"type": "string"}),
        _query("action", {"type": "string"}),
        _query("outcome", {"enum": ["ok", "error", "rejected", "fault"]}),
        _query("reference", {"type": "string"}),
        _query("document", {"type": "string"}),
        _query("resultcode", {"type": "string"}),
        _query("since", {"type": "integer"}, "Only entries whose seq is above."),
    ]
    listing["parameters"] = filters
    return {
        "get": listing,
        "delete": _control("clearRequests", "Empty the request log", _ref("Removed")),
    }


def _seed_operation() -> dict[str, Any]:
    seed = _control("seed", "Load seed records", _ref("Loaded"))
    return _with_body(seed, _ref("SeedData"), "400")


def _table_operation() -> dict[str, Any]:
    operation = _control(
        "readTable", "Rows of a table, filtered on columns", _array({"type": "object"})
    )
    operation["parameters"] = [
        {
            "name": "table",
            "in": "path",
            "required": True,
            "schema": {"enum": list(TABLES)},
        },
        _free_query("columns", "Column filters, e.g. `DOS=998&PIREF=SHOP-1`."),
    ]
    operation["responses"]["400"] = _json_response("Unknown column.", _ref("Detail"))
    operation["responses"]["404"] = _json_response("Unknown table.", _ref("Detail"))
    return operation


def _clock_operation() -> dict[str, Any]:
    advance = _control("advanceClock", "Move the clock", _ref("ClockOffset"))
    return _with_body(advance, _ref("ClockAdvance"), "400")


def _seed_schema() -> dict[str, Any]:
    row = {
        "type": "object",
        "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
    }
    tables = {table: {"type": "array", "items": row} for table in TABLES}
    return {
        "title": "SeedData",
        "description": "Seed records per table; rows without DOS take `dossier`.",
        "type": "object",
        "properties": {"dossier": {"type": "string", "default": "998"}, **tables},
        "additionalProperties": False,
    }


def _query(name: str, schema: dict[str, Any], text: str = "") -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    if text:
        parameter["description"] = text
    return parameter


def _free_query(name: str, text: str) -> dict[str, Any]:
    """Query parameters whose names are free: one exploded object."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text,
        "style": "form",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    }


def _json_response(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}

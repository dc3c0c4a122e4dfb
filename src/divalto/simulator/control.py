"""The control endpoint, under ``/_simulator/``: what tests and demos use to steer.

It is not part of Divalto and shares nothing with its routes. JSON in, JSON out:

====================================  ===============================================
``GET  /_simulator/``                 an index of these routes, as full URLs
``GET  /_simulator/health``           ``{"status": "ok"}``
``GET  /_simulator/faults``           the rules, with their ``matched``/``fired`` counts
``POST /_simulator/faults``           add a rule (a :class:`FaultRule`); returns it
``DELETE /_simulator/faults``         remove every rule
``DELETE /_simulator/faults/{id}``    remove one rule
``GET  /_simulator/requests``         the request log; query parameters filter on
                                      any field (``route``, ``action``, ``outcome``,
                                      ``reference``...) and ``since`` on ``seq``
``DELETE /_simulator/requests``       empty the request log
``POST /_simulator/seed``             load seed records (the shape of ``demo.json``);
                                      loading the same records twice changes nothing
``GET  /_simulator/tables/{TABLE}``   rows of a table; query parameters filter on
                                      columns (``?DOS=998&PIREF=SHOP-1``)
``DELETE /_simulator/tables/{TABLE}`` delete the rows matching the filters (one at
                                      least); returns ``{"deleted": N}``
``POST /_simulator/clock/advance``    ``{"seconds": N}`` moves the clock forward
                                      (400 if it would leave the years 1970-8999)
``POST /_simulator/tokens/expire``    expires every token issued so far
``GET  /_simulator/webhooks``         the webhook calls received
``POST /_simulator/reset``            back to the seed, the start faults, empty log
``GET  /_simulator/openapi.json``     the OpenAPI description (also ``/openapi.json``)
====================================  ===============================================

A request the endpoint cannot use (malformed JSON, an invalid fault rule, an unknown
table column or log field) gets HTTP 400 and ``{"detail": "..."}`` naming the
problem; an unknown table or fault rule id gets 404.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from divalto.simulator.faults import FaultRule
from divalto.simulator.openapi import openapi_document
from divalto.simulator.store import TABLES
from divalto.simulator.tenant import Tenant


class BadControlRequest(Exception):
    """A control request that cannot be used; answered 400 with its ``detail``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def build_control_app(tenant: Tenant) -> Starlette:
    """The Starlette application behind ``/_simulator``, bound to one tenant."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def list_faults(request: Request) -> Response:
        return JSONResponse(
            [state.model_dump(mode="json") for state in tenant.faults.rules()]
        )

    async def add_fault(request: Request) -> Response:
        try:
            rule = FaultRule.model_validate(await _json(request))
        except ValidationError as exc:
            raise BadControlRequest(_validation_detail(exc)) from exc
        return JSONResponse(
            tenant.faults.add(rule).model_dump(mode="json"), status_code=201
        )

    async def clear_faults(request: Request) -> Response:
        tenant.faults.clear()
        return JSONResponse({"removed": "all"})

    async def remove_fault(request: Request) -> Response:
        rule_id = int(request.path_params["rule_id"])
        if not tenant.faults.remove(rule_id):
            return JSONResponse({"detail": f"no fault rule {rule_id}"}, status_code=404)
        return JSONResponse({"removed": rule_id})

    async def list_requests(request: Request) -> Response:
        try:
            entries = tenant.log.query(dict(request.query_params))
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from exc
        return JSONResponse([entry.model_dump(mode="json") for entry in entries])

    async def clear_requests(request: Request) -> Response:
        tenant.log.clear()
        return JSONResponse({"removed": "all"})

    async def seed(request: Request) -> Response:
        data = await _json(request)
        if not isinstance(data, dict):
            raise BadControlRequest("seed data must be a JSON object of tables")
        try:
            counts = tenant.store.load(data)
        except (ValueError, TypeError, AttributeError, sqlite3.Error) as exc:
            raise BadControlRequest(f"seed refused: {exc}") from exc
        return JSONResponse({"loaded": counts})

    async def table(request: Request) -> Response:
        name = request.path_params["table"].upper()
        if name not in TABLES:
            return JSONResponse({"detail": f"unknown table {name}"}, status_code=404)
        filters = {key.upper(): value for key, value in request.query_params.items()}
        if request.method == "DELETE":
            return JSONResponse({"deleted": _delete_rows(tenant, name, filters)})
        return JSONResponse(_table_rows(tenant, name, filters))

    async def advance_clock(request: Request) -> Response:
        body = await _json(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
        ):
            raise BadControlRequest("'seconds' must be a finite number")
        try:
            tenant.clock.advance(float(seconds))
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from exc
        return JSONResponse({"offset_seconds": tenant.clock.offset})

    async def expire_tokens(request: Request) -> Response:
        tenant.tokens.expire_all(tenant.clock.now_datetime())
        return JSONResponse({"expired": "all"})

    async def webhooks(request: Request) -> Response:
        return JSONResponse(tenant.webhooks)

    async def reset(request: Request) -> Response:
        tenant.reset()
        return JSONResponse({"reset": True})

    async def index(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "simulator": "Divalto infinity",
                "control": {
                    path: f"{root}{path}"
                    for path in (
                        "/_simulator/health",
                        "/_simulator/faults",
                        "/_simulator/requests",
                        "/_simulator/seed",
                        "/_simulator/tables/{TABLE}",
                        "/_simulator/clock/advance",
                        "/_simulator/tokens/expire",
                        "/_simulator/webhooks",
                        "/_simulator/reset",
                        "/_simulator/openapi.json",
                    )
                },
            }
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(
            openapi_document(tenant.settings, root_url=str(request.base_url))
        )

    routes = [
        Route("/_simulator/", index, methods=["GET"]),
        Route("/_simulator/health", health),
        Route("/_simulator/faults", list_faults, methods=["GET"]),
        Route("/_simulator/faults", add_fault, methods=["POST"]),
        Route("/_simulator/faults", clear_faults, methods=["DELETE"]),
        Route("/_simulator/faults/{rule_id:int}", remove_fault, methods=["DELETE"]),
        Route("/_simulator/requests", list_requests, methods=["GET"]),
        Route("/_simulator/requests", clear_requests, methods=["DELETE"]),
        Route("/_simulator/seed", seed, methods=["POST"]),
        Route("/_simulator/tables/{table}", table, methods=["GET", "DELETE"]),
        Route("/_simulator/clock/advance", advance_clock, methods=["POST"]),
        Route("/_simulator/tokens/expire", expire_tokens, methods=["POST"]),
        Route("/_simulator/webhooks", webhooks, methods=["GET"]),
        Route("/_simulator/reset", reset, methods=["POST"]),
        Route("/_simulator/openapi.json", openapi, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/", health, methods=["GET"]),
    ]
    return Starlette(
        routes=routes, exception_handlers={BadControlRequest: _bad_request}
    )


def _table_rows(tenant: Tenant, name: str, filters: dict[str, str]) -> list[Any]:
    """Rows of a known table, filtered on its columns compared as text."""
    sql = f"SELECT * FROM {name}{_where(tenant, name, filters)}"  # noqa: S608 - table and columns checked
    return tenant.store.read(sql + f" ORDER BY {name}_ID", filters)


def _delete_rows(tenant: Tenant, name: str, filters: dict[str, str]) -> int:
    """Delete the rows of a known table that match every filter; at least one."""
    if not filters:
        raise BadControlRequest("deleting needs at least one column filter")
    sql = f"DELETE FROM {name}{_where(tenant, name, filters)}"  # noqa: S608 - table and columns checked
    with tenant.store.transaction() as db:
        return db.execute(sql, filters).rowcount


def _where(tenant: Tenant, name: str, filters: dict[str, str]) -> str:
    columns = {row["name"] for row in tenant.store.read(f"PRAGMA table_info({name})")}
    unknown = set(filters) - columns
    if unknown:
        raise BadControlRequest(
            f"unknown columns for {name}: {', '.join(sorted(unknown))}"
        )
    where = " AND ".join(f"CAST({column} AS TEXT) = :{column}" for column in filters)
    return f" WHERE {where}" if where else ""


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        raise BadControlRequest("a JSON body is required")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadControlRequest(f"malformed JSON body: {exc}") from exc


def _validation_detail(exc: ValidationError) -> str:
    """One line per problem, each naming the field: ``probability: Input should...``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'rule'}: {error['msg']}"
        for error in exc.errors()
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, BadControlRequest) else str(exc)
    return JSONResponse({"detail": detail}, status_code=400)

"""Customers of the simulated ERP: creation and update by JSON business actions.

A customer is a ``CLI`` row; ``Tiers`` is its code (``C`` and seven digits unless
configured otherwise), ``REGCOD`` its payment term, ``TARCOD`` its price family,
``REMCOD`` its discount family, ``REFEXT`` the reference another system knows it
by. ``VERSION`` grows by one with each update, and an update must name the version
it was based on, so that two writers cannot silently overwrite each other.

Requests carry one ``icli`` group whose fields are named like the columns, in
Divalto's casing (``Nom``, ``CPostal``, ``TvaNo``, ``RefExt``...); see
``docs/simulator/json-actions.md``.
"""

from __future__ import annotations

import re

from divalto.simulator.actiondata import (
    NOT_CONFORMING,
    NOT_FOUND,
    REFUSED,
    ActionContext,
    ActionResult,
    Group,
    Problems,
)
from divalto.simulator.documents import find_customer
from divalto.simulator.store import Row

FIELDS = {
    "Nom": "NOM",
    "Rue": "RUE",
    "CPostal": "CPOSTAL",
    "Vil": "VIL",
    "Pay": "PAY",
    "Tel": "TEL",
    "Email": "EMAIL",
    "TvaNo": "TVANO",
    "RegCod": "REGCOD",
    "TarCod": "TARCOD",
    "RemCod": "REMCOD",
    "Dev": "DEV",
    "RefExt": "REFEXT",
}
"""Request field name → ``CLI`` column, for every field a caller may set."""
LOOKUPS = {
    "RegCod": ("REG", "REGCOD", "payment term"),
    "TarCod": ("TARIF", "TARCOD", "price family"),
    "RemCod": ("REMISE", "REMCOD", "discount family"),
}
"""Fields whose value must exist: the table and column holding it, and its name.

The simulator keeps no table of price or discount families: a family exists when
a price list or discount entry uses it.
"""
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create_customer(ctx: ActionContext, data: Group) -> ActionResult:
    """``creation_client``: add a customer, with the next free code unless given.

    ``Nom`` is required. Refused (resultcode 3) when the code exists, or when the
    external reference is another customer's and the settings want it unique.
    Raises :class:`~divalto.simulator.actiondata.Rejection`.
    """
    icli = data.group("icli", required=True)
    tiers = icli.text("Tiers")
    values = read_fields(ctx, icli, creating=True)
    problems = data.problems
    problems.raise_if_any()

    if tiers and find_customer(ctx, tiers) is not None:
        icli.problem(REFUSED, "Tiers", f"customer '{tiers}' already exists")
    check_external_reference(ctx, values.get("REFEXT", ""), tiers, problems)
    problems.raise_if_any()

    row = {"DOS": ctx.dossier, "TIERS": tiers or next_code(ctx), **values}
    ctx.store.insert(ctx.db, "CLI", {key: value for key, value in row.items() if value})
    customer = find_customer(ctx, row["TIERS"])
    return ActionResult({"client": customer_view(customer or row)})


def update_customer(ctx: ActionContext, data: Group) -> ActionResult:
    """``modification_client``: change the fields a request names, at ``Version``.

    ``Tiers`` and ``Version`` are required; only the fields present change (an
    empty text clears one). A stale version is a conflict (resultcode 3) naming
    the current and the given versions. Raises
    :class:`~divalto.simulator.actiondata.Rejection`.
    """
    icli = data.group("icli", required=True)
    tiers = icli.text("Tiers", required=True)
    version = icli.integer("Version", required=True)
    values = read_fields(ctx, icli, creating=False)
    customer = (find_customer(ctx, tiers) if tiers else None) or {}
    if tiers and not customer:
        icli.problem(NOT_FOUND, "Tiers", f"customer '{tiers}' not found")
    problems = data.problems
    if not values and not problems:
        problems.add(NOT_CONFORMING, "icli", "no field to change")
    problems.raise_if_any()

    current = int(customer["VERSION"])
    if version != current:
        problems.add(
            REFUSED,
            "",
            f"version conflict on customer '{tiers}': current version {current}, "
            f"given {version}",
        )
    check_external_reference(ctx, values.get("REFEXT", ""), tiers, problems)
    problems.raise_if_any()

    assignments = ", ".join(f"{column} = ?" for column in values)
    ctx.db.execute(
        f"UPDATE CLI SET {assignments}, VERSION = VERSION + 1 WHERE CLI_ID = ?",  # noqa: S608 - columns come from FIELDS
        (*values.values(), customer["CLI_ID"]),
    )
    updated = find_customer(ctx, tiers)
    return ActionResult({"client": customer_view(updated or customer)})


def read_fields(ctx: ActionContext, icli: Group, *, creating: bool) -> dict[str, str]:
    """The ``CLI`` columns a request sets, checked; on update, only those present."""
    values: dict[str, str] = {}
    for name, column in FIELDS.items():
        if creating or icli.raw(name) is not None:
            values[column] = icli.text(name, required=name == "Nom")
    email = values.get("EMAIL", "")
    if email and not _EMAIL.fullmatch(email):
        icli.problem(NOT_CONFORMING, "Email", f"'{email}' is not an e-mail address")
    for name, (table, column, what) in LOOKUPS.items():
        value = values.get(FIELDS[name], "")
        if value and not ctx.exists(table, column, value):
            icli.problem(NOT_FOUND, name, f"{what} '{value}' not found")
    currency = values.get("DEV", "")
    if currency and currency not in ctx.settings.currencies:
        icli.problem(NOT_FOUND, "Dev", f"currency '{currency}' not found")
    return values


def check_external_reference(
    ctx: ActionContext, refext: str, tiers: str, problems: Problems
) -> None:
    """Refuse another customer's external reference, when the settings say so."""
    if not refext or not ctx.settings.unique_customer_external_reference:
        return
    twin = ctx.one(
        "SELECT TIERS FROM CLI WHERE DOS = ? AND REFEXT = ? AND TIERS != ? "
        "ORDER BY CLI_ID LIMIT 1",
        ctx.dossier,
        refext,
        tiers,
    )
    if twin is not None:
        problems.add(
            REFUSED,
            "icli.RefExt",
            f"external reference '{refext}' is already used by customer "
            f"'{twin['TIERS']}'",
        )


def next_code(ctx: ActionContext) -> str:
    """The next free customer code: the prefix and a counter, skipping codes taken."""
    prefix = ctx.settings.customer_code_prefix
    digits = ctx.settings.customer_code_digits
    while True:
        number = ctx.store.next_number(ctx.db, ctx.dossier, "CLI.TIERS")
        code = f"{prefix}{number:0{digits}d}"
        if find_customer(ctx, code) is None:
            return code


def customer_view(customer: Row) -> dict[str, str]:
    """A customer as responses show it: lower-case column names, text values."""
    columns = ("TIERS", *FIELDS.values(), "CE1", "VERSION")
    return {column.lower(): str(customer.get(column, "")) for column in columns}

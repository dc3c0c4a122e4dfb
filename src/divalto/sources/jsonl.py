"""Canonical JSON Lines: the connector's own orders and refunds, one per line.

Each line is ``{"kind": "order", …CanonicalOrder fields}`` or ``{"kind":
"refund", …CanonicalRefund fields}``; without ``kind``, a line with
``order_id`` is a refund and one with ``order`` an order. Blank lines are
ignored. A line that is not JSON, or whose fields do not fit, is rejected
naming its line number and the field (pydantic's location).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from divalto.flows.intake import CanonicalOrder
from divalto.flows.refund import CanonicalRefund
from divalto.sources._common import Run
from divalto.sources.base import Item, Origin

__all__ = ["looks_like_jsonl", "read_jsonl"]


def looks_like_jsonl(first_line: str) -> bool:
    """Whether a first line is a whole canonical object."""
    try:
        data = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(data, dict) and (
        "kind" in data or {"source", "external_id"} <= set(data)
    )


def read_jsonl(run: Run, file: Path) -> None:
    """Read a canonical JSON Lines file into ``run``, line by line."""
    with file.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                _line(run, Origin(file, f"line {number}"), text)


def _line(run: Run, origin: Origin, text: str) -> None:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        run.reject(origin, "(line)", f"not JSON: {exc}", text.rstrip("\n"))
        return
    if not isinstance(raw, dict):
        run.reject(origin, "(line)", "a JSON object expected", raw)
        return
    fields = dict(raw)
    kind = fields.pop("kind", None)
    if kind is None:
        kind = "refund" if "order_id" in fields else "order"
    model: type[CanonicalOrder] | type[CanonicalRefund]
    if kind == "order":
        model = CanonicalOrder
    elif kind == "refund":
        model = CanonicalRefund
    else:
        run.reject(origin, "kind", f"'order' or 'refund' expected, got {kind!r}", raw)
        return
    try:
        canonical = model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(line)"
        run.reject(origin, where, _message(error), raw, _key(kind, fields))
        return
    if isinstance(canonical, CanonicalOrder) and _has_currency_problem(run, canonical):
        currency = canonical.order.get("currency")
        accepted = ", ".join(run.mapping.currencies)
        reason = f"currency '{currency}' is not accepted (accepted: {accepted})"
        run.reject(origin, "order.currency", reason, raw, canonical.key)
        return
    run.result.items.append(Item(origin, canonical, raw))
    if isinstance(canonical, CanonicalOrder):
        run.note_articles(canonical.order)


def _has_currency_problem(run: Run, order: CanonicalOrder) -> bool:
    currency = order.order.get("currency")
    return bool(currency) and currency not in run.mapping.currencies


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    return str(error["msg"])


def _key(kind: str, fields: dict[str, Any]) -> str | None:
    if fields.get("source") and fields.get("external_id"):
        return f"{kind}:{fields['source']}:{fields['external_id']}"
    return None

"""JSON business actions, carried by the ``WEB_SERVICE_INFINITY`` service action.

The envelope's ``param`` is a string holding JSON (protocol section 5.2)::

    {"action": {"swinfinity": "<business action>",
                "parameters": {"dos": "998", "etb": ""}},
     "data": {...}}

Divalto's own samples write it with single quotes, so strings may be quoted either
way (:func:`loads_lenient`). The envelope's ``result`` is again a JSON string::

    {"label": "infinity", "codeScript": "<business action>",
     "result": {"common": {"resultcode": "0", "errormessage": ""},
                "response": {...}}}

A ``param`` that is not a JSON object naming its business action is a technical
failure: ``error`` = :attr:`ErrorCode.BAD_SERVICE_PARAM` and a ``txterr``. Anything
else is answered with a ``resultcode`` (see ``actiondata``): an unknown business
action, a missing ``dos`` or one that is not the caller's dossier are ``"1"``; a
stored number that is not one (bad seed data) is ``"3"``, naming the cell. Every
action runs in one store transaction: a refused action changes nothing.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_right
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from divalto.simulator import customers, documents
from divalto.simulator.actiondata import (
    NOT_CONFORMING,
    REFUSED,
    ActionContext,
    ActionResult,
    Group,
    Problems,
    Rejection,
)
from divalto.simulator.codes import ErrorCode
from divalto.simulator.pricing import PricingError
from divalto.simulator.settings import ActionNames
from divalto.simulator.tenant import Answer, Call, error_answer, ok_envelope

Handler = Callable[[ActionContext, Group], ActionResult]

_NEXT_QUOTE = re.compile(r"[\"']")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL)
_SINGLE_QUOTED_PARTS = re.compile(r'\\.|"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ParamError(ValueError):
    """``param`` is not the JSON text of a business action; the message says why."""


def execute(call: Call, param: str) -> Answer:
    """Run the business action that ``param`` names, for the caller's dossier."""
    try:
        inner = loads_lenient(param)
        action = business_action(inner)
    except ParamError as exc:
        return error_answer(ErrorCode.BAD_SERVICE_PARAM, str(exc))
    reference = your_reference(inner)
    try:
        result = _run(call, action, inner)
    except Rejection as exc:
        return result_answer(action, exc.resultcode, exc.message, {}, reference)
    except PricingError as exc:
        message = f"stored data is not valid: {exc}"
        return result_answer(action, REFUSED, message, {}, reference)
    return result_answer(
        action,
        "0",
        "",
        result.response,
        reference or result.reference,
        result.document,
    )


def _run(call: Call, action: str, inner: dict[str, Any]) -> ActionResult:
    settings = call.tenant.settings
    handler = handlers(settings.actions).get(action.lower())
    if handler is None:
        raise Rejection(
            NOT_CONFORMING, f"action.swinfinity: unknown business action '{action}'"
        )
    problems = Problems()
    encoding = settings.text_encoding
    fields = _lower_keys(inner)
    envelope = Group("action", fields["action"], problems, encoding)
    parameters = envelope.group("parameters", required=True)
    dossier = parameters.text("dos", required=True)
    etb = parameters.text("etb")
    checked = Group("", fields, problems, encoding).group("data", required=True)
    data = Group("", checked.fields(), problems, encoding)
    problems.raise_if_any()
    if dossier != call.dossier:
        raise Rejection(
            NOT_CONFORMING,
            f"action.parameters.dos: dossier '{dossier}' is not the dossier of user "
            f"'{call.user}' ('{call.dossier}')",
        )
    with call.tenant.store.transaction() as db:
        context = ActionContext(
            db=db,
            store=call.tenant.store,
            settings=settings,
            dossier=dossier,
            etb=etb,
            today=call.tenant.clock.now_datetime().date(),
        )
        return handler(context, data)


def handlers(actions: ActionNames) -> dict[str, Handler]:
    """The business actions the simulator runs, by lower-case name."""
    table: dict[str, Handler] = {
        actions.create_document: documents.create_document,
        actions.transfer_document: documents.transfer_document,
        actions.cancel_document: documents.cancel_document,
        actions.document_state: documents.document_state,
        actions.stock_movement: documents.move_stock,
        actions.create_customer: customers.create_customer,
        actions.update_customer: customers.update_customer,
    }
    return {name.lower(): handler for name, handler in table.items()}


def result_answer(
    action: str,
    resultcode: str,
    message: str,
    response: dict[str, Any],
    reference: str | None = None,
    document: str | None = None,
) -> Answer:
    """The envelope of a business action's answer, with what the log records."""
    result = {
        "label": "infinity",
        "codeScript": action,
        "result": {
            "common": {"resultcode": resultcode, "errormessage": message},
            "response": response,
        },
    }
    return Answer(
        payload=ok_envelope(result=json.dumps(result, ensure_ascii=False)),
        outcome="ok" if resultcode == "0" else "rejected",
        action=action,
        resultcode=resultcode,
        reference=reference,
        document=document,
    )


def business_action(inner: Any) -> str:
    """The business action's name; raises :class:`ParamError` when there is none."""
    if not isinstance(inner, dict):
        raise ParamError("'param' must hold a JSON object")
    action = _lower_keys(inner).get("action")
    name = _lower_keys(action).get("swinfinity") if isinstance(action, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ParamError("'param' must name its business action in action.swinfinity")
    return name.strip()


def your_reference(inner: dict[str, Any]) -> str | None:
    """The ``data.ient.PiRef`` a request carries, for the request log."""
    data = _lower_keys(inner).get("data")
    header = _lower_keys(data).get("ient") if isinstance(data, dict) else None
    value = _lower_keys(header).get("piref") if isinstance(header, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def _lower_keys(value: dict[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): item for key, item in value.items()}


def loads_lenient(text: str) -> Any:
    """Parse JSON whose strings may be written with single quotes.

    Single-quoted strings may hold ``\\'`` and bare double quotes; every other
    escape means what it means in JSON. Numbers with a fraction become
    :class:`~decimal.Decimal`; ``NaN``, ``Infinity``, integers longer than Python
    reads and lone surrogates (``\\udc00``) are refused. Raises
    :class:`ParamError` naming the problem and its line and column in ``text``.
    """
    converted, anchors = double_quoted(text)
    try:
        value = json.loads(
            converted,
            parse_float=Decimal,
            parse_int=_bounded_int,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        line, column = _line_column(text, _original(anchors, exc.pos))
        raise ParamError(
            f"Malformed JSON in 'param': {json_problem(exc)}"
            f" at line {line} column {column}"
        ) from exc
    except RecursionError as exc:
        raise ParamError("Malformed JSON in 'param': nested too deeply") from exc
    surrogate = lone_surrogate(value) if _SURROGATE_ESCAPE.search(text) else None
    if surrogate:
        raise ParamError(f"Malformed JSON in 'param': {surrogate}")
    return value


def json_problem(exc: json.JSONDecodeError) -> str:
    """The decoder's message, without the dangling "at" some of them end with."""
    return exc.msg.removesuffix(" at")


def lone_surrogate(value: Any) -> str | None:
    """Name the first lone surrogate in the keys and texts of a parsed JSON value.

    JSON may escape half of a surrogate pair (``\\ud800``), which no UTF-8 text
    can carry: such a text could be neither stored nor answered.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return f"lone surrogate \\u{ord(found.group()):04x} is not a character"
        elif isinstance(item, dict):
            pending.extend(reversed([part for pair in item.items() for part in pair]))
        elif isinstance(item, list):
            pending.extend(reversed(item))
    return None


def double_quoted(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Rewrite single-quoted strings as JSON strings; the rest is left alone.

    Also returns anchors, pairs of (offset in the result, offset in ``text``) at
    each rewritten string, so that an error's position can be traced back.
    """
    parts: list[str] = []
    anchors = [(0, 0)]
    written = position = 0
    while (match := _NEXT_QUOTE.search(text, position)) is not None:
        start = match.start()
        parts.append(text[position:start])
        written += start - position
        pattern = _DOUBLE_QUOTED if match.group() == '"' else _SINGLE_QUOTED
        string = pattern.match(text, start)
        if string is None:
            line, column = _line_column(text, start)
            raise ParamError(
                "Malformed JSON in 'param': unterminated string starting at "
                f"line {line} column {column}"
            )
        piece = string.group()
        if match.group() == "'":
            anchors.append((written, start))
            piece = '"' + _SINGLE_QUOTED_PARTS.sub(_requote, piece[1:-1]) + '"'
        parts.append(piece)
        written += len(piece)
        position = string.end()
        anchors.append((written, position))
    parts.append(text[position:])
    return "".join(parts), anchors


def _requote(match: re.Match[str]) -> str:
    part = match.group()
    if part == '"':
        return '\\"'
    return "'" if part == "\\'" else part


def _original(anchors: list[tuple[int, int]], position: int) -> int:
    index = bisect_right([written for written, _ in anchors], position) - 1
    written, original = anchors[index]
    return original + position - written


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def _refuse_constant(name: str) -> Any:
    raise ParamError(f"Malformed JSON in 'param': {name} is not a number JSON allows")


def _bounded_int(text: str) -> int:
    if len(text) > sys.get_int_max_str_digits():
        raise ParamError(
            f"Malformed JSON in 'param': integer of {len(text)} digits is too long"
        )
    return int(text)

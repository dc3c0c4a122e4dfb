"""XML demands (placeholder)."""

from __future__ import annotations

from divalto.simulator.codes import ErrorCode
from divalto.simulator.tenant import Answer, Call, error_answer


def execute(call: Call, param: str) -> Answer:
    return error_answer(ErrorCode.BAD_SERVICE_PARAM, "XML demands not available yet")

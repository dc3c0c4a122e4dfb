"""RecordSql reads (placeholder until the catalogue lands)."""

from __future__ import annotations

from divalto.simulator.codes import ErrorCode
from divalto.simulator.tenant import Answer, Call, error_answer


def execute(call: Call) -> Answer:
    return error_answer(ErrorCode.UNKNOWN_DICTIONARY, "RecordSql not available yet")

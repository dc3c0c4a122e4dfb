"""The simulator's OpenAPI description (placeholder)."""

from __future__ import annotations

from typing import Any

from divalto.simulator.settings import SimulatorSettings


def openapi_document(settings: SimulatorSettings) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Divalto infinity simulator", "version": "1"},
    }

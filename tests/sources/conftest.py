"""The shared real test data, found once for every source test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _shared_data() -> Path | None:
    named = os.environ.get("DIVALTO_SHARED_DATA")
    if named:
        return Path(named) if (Path(named) / "SOURCES.md").is_file() else None
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data"
        if (candidate / "SOURCES.md").is_file():
            return candidate
    fixed = Path("/work/shared/data")
    return fixed if (fixed / "SOURCES.md").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public shop exports (``shared/data``), or the test skips."""
    found = _shared_data()
    if found is None:
        pytest.skip(
            "shared test data not found: set DIVALTO_SHARED_DATA to the folder "
            "holding SOURCES.md"
        )
    return found

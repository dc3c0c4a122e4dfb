"""Test-suite wide settings: the PostgreSQL switch.

Tests marked ``postgres`` need a PostgreSQL server at ``DIVALTO_TEST_POSTGRES``
(default ``127.0.0.1:5432``). Where none answers they are skipped and the run says
so plainly at the end; with ``DIVALTO_REQUIRE_POSTGRES=1`` (as in CI) they fail
instead of being skipped.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_ADDRESS = os.environ.get("DIVALTO_TEST_POSTGRES", "127.0.0.1:5432")
_skipped_for_postgres: list[str] = []


def postgres_answers() -> bool:
    host, _, port = POSTGRES_ADDRESS.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") is None or postgres_answers():
        return
    reason = f"PostgreSQL does not answer at {POSTGRES_ADDRESS}"
    if os.environ.get("DIVALTO_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}, and DIVALTO_REQUIRE_POSTGRES=1 requires it")
    _skipped_for_postgres.append(item.nodeid)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_for_postgres:
        terminalreporter.write_line(
            f"NOTE: {len(_skipped_for_postgres)} PostgreSQL tests were NOT run: "
            f"no PostgreSQL server answers at {POSTGRES_ADDRESS}.",
            yellow=True,
            bold=True,
        )

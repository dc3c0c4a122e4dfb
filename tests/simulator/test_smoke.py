"""The simulator starts, answers a login over loopback, and resets between tests."""

from __future__ import annotations

from tests.simulator.conftest import Wire


def test_login_returns_a_token_over_loopback(wire: Wire) -> None:
    """A demo account logs in and receives a three-part token."""
    assert wire.login().count(".") == 2

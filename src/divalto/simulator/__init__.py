"""A stateful imitation of Divalto infinity's web APIs, with fault injection.

Start one in this process with :class:`SimulatorServer` (real HTTP on a loopback
port), steer it with :class:`SimulatorControl`, or run ``divalto simulator serve``.
What it imitates, and which of its behaviours are assumptions, is written in
``docs/simulator/README.md``.
"""

from divalto.simulator.app import SimulatorApp, create_app
from divalto.simulator.faults import FaultKind, FaultRule
from divalto.simulator.server import SimulatorServer
from divalto.simulator.settings import (
    Account,
    ActionNames,
    DocumentTypes,
    SimulatorSettings,
)

__all__ = [
    "Account",
    "ActionNames",
    "DocumentTypes",
    "FaultKind",
    "FaultRule",
    "SimulatorApp",
    "SimulatorServer",
    "SimulatorSettings",
    "create_app",
]

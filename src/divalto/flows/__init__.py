"""Durable flows: intake, the order-to-cash flow, and the engine behind them.

::

    from divalto.flows import EngineConfig, FlowEngine, FileSink, IntakeStore
    from divalto.flows import OrderToCash, sqlite_url

    url = sqlite_url("flows.db")
    engine = FlowEngine(EngineConfig(database_url=url, executor_id="worker-1"))
    flow = OrderToCash(engine, IntakeStore(url), Adapters(erp), FileSink(path))
    flow.install()
    engine.launch()
    flow.submit({"source": "shopify", "external_id": "1001", ...})

The engine (DBOS Transact) is only reached through :mod:`divalto.flows.engine`.
"""

from __future__ import annotations

from divalto.flows.engine import (
    EngineConfig,
    FlowEngine,
    FlowInfo,
    StepRecord,
    sqlite_url,
)
from divalto.flows.intake import (
    CanonicalOrder,
    Intake,
    IntakeRecord,
    IntakeStatus,
    IntakeStore,
    Submission,
)
from divalto.flows.order_to_cash import (
    STEPS,
    AcknowledgementSink,
    FileSink,
    FlowParked,
    Fulfilment,
    OrderToCash,
)

__all__ = [
    "STEPS",
    "AcknowledgementSink",
    "CanonicalOrder",
    "EngineConfig",
    "FileSink",
    "FlowEngine",
    "FlowInfo",
    "FlowParked",
    "Fulfilment",
    "Intake",
    "IntakeRecord",
    "IntakeStatus",
    "IntakeStore",
    "OrderToCash",
    "StepRecord",
    "Submission",
    "sqlite_url",
]

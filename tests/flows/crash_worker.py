"""A flow worker in its own process, for the crash test.

``python crash_worker.py DB_URL BASE_URL JOURNAL ACKS [submit-and-die]``: with
``submit-and-die`` it submits the order and dies by ``os._exit`` right after the
ERP answered the confirm step; without it, it recovers its pending flow at launch
and waits for it to end. Every step attempt is written to ``JOURNAL``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import shop_order, simulator_profile  # type: ignore[import-not-found]
from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.flows import (
    EngineConfig,
    FileSink,
    FlowEngine,
    Fulfilment,
    IntakeStore,
    OrderToCash,
)

KEY = "order:shopify:1001"


def main(database: str, base_url: str, journal: str, acks: str, mode: str) -> int:
    def on_step(step: str, phase: str) -> None:
        with Path(journal).open("a", encoding="utf-8") as file:
            file.write(f"{os.getpid()} {step} {phase}\n")
        if mode == "submit-and-die" and (step, phase) == ("confirm", "done"):
            os._exit(9)

    erp = Divalto(simulator_profile(base_url))
    engine = FlowEngine(EngineConfig(database_url=database, executor_id="crasher"))
    flow = OrderToCash(
        engine,
        IntakeStore(database),
        Adapters(erp),
        FileSink(Path(acks)),
        Fulfilment(create_as="quote"),
        on_step=on_step,
    ).install()
    engine.launch()
    if mode == "submit-and-die":
        flow.submit(shop_order())
    record = flow.wait(KEY, timeout=60)
    engine.shutdown()
    return 0 if record.status == "completed" else 1


if __name__ == "__main__":
    database, base_url, journal, acks, *mode = sys.argv[1:]
    sys.exit(main(database, base_url, journal, acks, mode[0] if mode else ""))

"""``divalto sync``: shop orders and refunds into Divalto documents, in one run.

::

    from divalto.mapping import default_mapping
    from divalto.sync import SyncRequest, sync

    request = SyncRequest(Path("examples"), Path(".divalto-sync"), default_mapping())
    result = sync(request)
    result.report["summary"]      # completed, parked by reason, rejected, lost...
    result.exit_code              # 0 unless an item was lost

A run reads a file or a folder (:mod:`divalto.sources`), seeds the embedded ERP
for it when no profile is given (:mod:`divalto.sync.seeding`,
:mod:`divalto.sync.embedded`), runs each item through its durable flow on a
local journal (:mod:`divalto.sync.run`) and writes a JSON report
(:mod:`divalto.sync.report`). See ``docs/sync.md``.
"""

from __future__ import annotations

from divalto.sync.embedded import EmbeddedErp
from divalto.sync.job import SyncError, SyncRequest, SyncResult, sync
from divalto.sync.run import ItemOutcome, SyncOptions, SyncOutcome, SyncRun
from divalto.sync.seeding import PriceSteps, price_steps, seed_records

__all__ = [
    "EmbeddedErp",
    "ItemOutcome",
    "PriceSteps",
    "SyncError",
    "SyncOptions",
    "SyncOutcome",
    "SyncRequest",
    "SyncResult",
    "SyncRun",
    "price_steps",
    "seed_records",
    "sync",
]

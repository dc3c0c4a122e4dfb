"""The same flows on a PostgreSQL journal: each test has a database of its own.

The order-to-cash tests of :mod:`tests.flows.test_order_to_cash` run here again
with ``flows_database`` a PostgreSQL URL (the happy path in this process, the
kill inside ``confirm`` in worker subprocesses), so that the one code is proven
on both journals. Then four ``divalto worker`` processes share the database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from divalto.testing import RunningSimulator

from .test_order_to_cash import (  # noqa: F401 - collected here again
    test_a_worker_killed_inside_confirm_resumes_without_redoing_steps_one_to_three,
    test_an_order_runs_to_its_invoice_with_exact_numbers_and_amounts,
)
from .test_workers import (  # noqa: F401 - the fixture applies here too
    _no_proxy_for_workers,
    dead_worker_blocks_its_partition_until_recovered,
    run_many,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def flows_database(postgres_database: str) -> str:
    """The journal and intake of the imported tests: a fresh PostgreSQL database."""
    return postgres_database


def test_four_postgres_workers_serialise_each_customer_and_run_customers_in_parallel(
    divalto_simulator: RunningSimulator, postgres_database: str, tmp_path: Path
) -> None:
    """200 orders of 20 customers on 4 workers: no overlap per customer, overlap
    across customers and across workers, every flow completed, one ERP order each."""
    run_many(
        divalto_simulator,
        postgres_database,
        tmp_path,
        ["pg-a", "pg-b", "pg-c", "pg-d"],
        customers=20,
        per_customer=10,
        concurrency=5,
    )


def test_a_killed_postgres_worker_blocks_its_customer_until_recovered(
    divalto_simulator: RunningSimulator, postgres_database: str, tmp_path: Path
) -> None:
    """A worker killed mid-order blocks its customer; ``flows recover`` frees it."""
    dead_worker_blocks_its_partition_until_recovered(
        divalto_simulator, postgres_database, tmp_path
    )

"""How the order-to-cash flow routes errors: retry, park to resume, escalate.

The client's profile tries every call twice (see ``simulator_profile``), and the
flow tries each step three times (``Fulfilment``): a fault must outlast the
transport's retries to reach the step's.
"""

from __future__ import annotations

from typing import Any

from divalto.flows import IntakeStatus

from .conftest import Flows, LaunchFlows, shop_order

KEY = "order:shopify:1001"
CREATE = "integration_piece"
STOCK = "INTERROGER_STOCK"


def journal(flows: Flows) -> list[tuple[str, str]]:
    """Record every step attempt of the flow as ``(step, phase)``, in order."""
    entries: list[tuple[str, str]] = []
    flows.flow.on_step = lambda step, phase: entries.append((step, phase))
    return entries


def calls(flows: Flows, action: str) -> list[dict[str, Any]]:
    """The calls of ``action`` that reached the simulator, in order."""
    return flows.control.requests(route="service", action=action)


def test_a_transient_read_failure_is_retried_inside_the_step_then_succeeds(
    launch_flows: LaunchFlows,
) -> None:
    """Two 503s outlast the transport's two tries; the step's second try succeeds."""
    flows = launch_flows()
    steps = journal(flows)
    flows.control.add_fault("http_error", route="service", action=STOCK, times=2)

    flows.flow.submit(shop_order())
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    stock_calls = calls(flows, STOCK)
    assert [(c["outcome"], c["http_status"]) for c in stock_calls] == [
        ("fault", 503),
        ("fault", 503),
        ("ok", 200),
        ("ok", 200),
    ]
    assert [phase for step, phase in steps if step == "sync_stock"] == [
        "start",
        "start",
        "done",
    ]
    assert len(calls(flows, CREATE)) == 1


def test_a_reset_connection_on_a_read_is_retried_by_the_transport_alone(
    launch_flows: LaunchFlows,
) -> None:
    """One reset stock demand is sent again by the transport; the step runs once."""
    flows = launch_flows()
    steps = journal(flows)
    flows.control.add_fault("connection_reset", route="service", action=STOCK, nth=1)

    flows.flow.submit(shop_order())
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert [c["outcome"] for c in calls(flows, STOCK)] == ["fault", "ok", "ok"]
    assert [phase for step, phase in steps if step == "sync_stock"] == [
        "start",
        "done",
    ]


def test_a_create_whose_outcome_is_unknown_is_looked_up_then_sent_once(
    launch_flows: LaunchFlows,
) -> None:
    """A create that hung is not resent blindly: looked up first, sent once more."""
    flows = launch_flows(service_timeout=0.5)
    steps = journal(flows)
    flows.control.add_fault(
        "timeout_before", route="service", action=CREATE, nth=1, hang_seconds=1.5
    )

    flows.flow.submit(shop_order())
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert record.documents["order"] == "CC00000001"
    assert [c["outcome"] for c in calls(flows, CREATE)] == ["fault", "ok"]
    lookups = [c for c in calls(flows, "etat_piece") if c.get("reference") == "1001"]
    assert [c["outcome"] for c in lookups].count("rejected") == 2
    assert [phase for step, phase in steps if step == "create_order"] == [
        "start",
        "done",
    ]
    orders = flows.control.table("ENT", PIREF="1001", PICOD="2")
    assert [row["PREFPINO"] for row in orders] == ["CC00000001"]


def test_retries_exhausted_park_the_flow_to_resume_and_replay_completes_it(
    launch_flows: LaunchFlows,
) -> None:
    """Stock reads failing for good park at sync_stock; once healed, replay ends it."""
    flows = launch_flows()
    steps = journal(flows)
    flows.control.add_fault("http_error", route="service", action=STOCK)

    flows.flow.submit(shop_order())
    parked = flows.flow.wait(KEY, timeout=30)

    assert parked.status is IntakeStatus.TO_RESUME
    assert parked.parking == {
        "state": "to_resume",
        "step": "sync_stock",
        "category": "transient",
        "code": "transient.server_unavailable",
        "reason": "the server failed with HTTP 503 (an HTML page)",
        "suggested_action": "retry later",
        "retries_exhausted": True,
    }
    assert len(calls(flows, STOCK)) == 3 * 2
    assert [step for step, phase in steps if phase == "start"][-3:] == [
        "sync_stock"
    ] * 3
    assert parked.documents["invoice"] == "FA00000001"

    flows.control.clear_faults()
    flows.flow.replay(KEY)
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.COMPLETED
    assert len(calls(flows, CREATE)) == 1
    assert len(calls(flows, "transfert_piece")) == 2


def test_a_blocking_business_error_parks_the_flow_escalated(
    launch_flows: LaunchFlows,
) -> None:
    """A shop price the ERP does not agree with is escalated, nothing created."""
    flows = launch_flows()
    order = shop_order()
    order["order"]["lines"][0]["unit_price"] = "11.00"

    flows.flow.submit(order)
    record = flows.flow.wait(KEY, timeout=30)

    assert record.status is IntakeStatus.ESCALATED
    assert record.parking == {
        "state": "escalated",
        "step": "create_order",
        "category": "business",
        "code": "business.price_mismatch",
        "reason": "prices differ from the ERP's: lines[1]: article 'ALB0001' "
        "costs 11.00 in the shop but 12.50 in the ERP",
        "suggested_action": "escalate",
        "retries_exhausted": False,
    }
    assert record.documents == {"customer": "C0000005"}
    assert calls(flows, CREATE) == []


def test_a_parked_flow_frees_its_customer_partition_for_the_next_order(
    launch_flows: LaunchFlows,
) -> None:
    """Order 1001 parks on an unknown article; 1002 of the same customer completes."""
    flows = launch_flows()
    broken = shop_order("1001")
    broken["order"]["lines"].append({"ref": "NEW0001", "quantity": "2"})

    first = flows.flow.submit(broken)
    second = flows.flow.submit(shop_order("1002"))
    completed = flows.flow.wait(second.key, timeout=30)
    parked = flows.store.require(first.key)

    assert parked.partition == completed.partition == "customer:shopify:4401"
    assert parked.status is IntakeStatus.TO_RESUME
    assert completed.status is IntakeStatus.COMPLETED
    assert completed.documents == {
        "customer": "C0000005",
        "order": "CC00000001",
        "delivery": "BL00000001",
        "invoice": "FA00000001",
    }
    engine_states = {info.key: info.state for info in flows.engine.flows()}
    assert engine_states == {first.key: "SUCCESS", second.key: "SUCCESS"}

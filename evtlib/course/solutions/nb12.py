"""Solutions to notebook 12's exercises (related styles)."""

from __future__ import annotations

from typing import Any

from ..styles import shipping_labels, unique_usernames


def ex1() -> int:
    """Read the count from the run itself."""
    return shipping_labels(False, down=(100, 400)).counts["failed callbacks"]


def ex2() -> int:
    """Widen the gap until the view has caught up before the second check."""
    gap = 1
    while unique_usernames("event", gap=gap + 1).counts["accepted"] == 2:
        gap += 1
    return gap


def ex3() -> Any:
    """A pure fold: a new dict per event; unknown event types leave the state as it is."""

    def available(state: dict[str, int], event: Any) -> dict[str, int]:
        if event.type not in ("StockReceived", "StockReserved", "StockReleased"):
            return state
        sku, qty = event.data["sku"], event.data["qty"]
        change = -qty if event.type == "StockReserved" else qty
        return {**state, sku: state.get(sku, 0) + change}

    return available


def near_miss_ex3() -> Any:
    """Right numbers, but the state is changed in place: a snapshot changes with it."""

    def available(state: dict[str, int], event: Any) -> dict[str, int]:
        if event.type not in ("StockReceived", "StockReserved", "StockReleased"):
            return state
        sku, qty = event.data["sku"], event.data["qty"]
        state[sku] = state.get(sku, 0) + (-qty if event.type == "StockReserved" else qty)
        return state

    return available


def ex4() -> Any:
    """Load, decide, save with the loaded version; on a conflict load again (up to 5 tries)."""
    from ...patterns.event_store import ConcurrencyError
    from ..styles import decide_order

    def handle(orders: Any, order_id: str, command: str, data: Any = None) -> int:
        for attempt in range(5):
            order = orders.load(order_id)
            try:
                return orders.save(order, decide_order(order.state, command, data))
            except ConcurrencyError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return handle


def near_miss_ex4() -> Any:
    """One retry only: right until rivals win twice in a row."""
    from ...patterns.event_store import ConcurrencyError
    from ..styles import decide_order

    def handle(orders: Any, order_id: str, command: str, data: Any = None) -> int:
        order = orders.load(order_id)
        try:
            return orders.save(order, decide_order(order.state, command, data))
        except ConcurrencyError:
            order = orders.load(order_id)
            return orders.save(order, decide_order(order.state, command, data))

    return handle

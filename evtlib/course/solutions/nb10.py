"""Solutions to notebook 10's exercises (sagas)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...patterns.saga import FailurePlan
from ...patterns.saga.scenarios import run_order


def ex1() -> list[str]:
    """Stock then coupon succeeded; they are undone newest first."""
    return ["coupon", "stock"]


def ex2() -> int:
    """One first try and three retries: the fourth failure in a row is the last straw."""
    n = 1
    while (
        run_order(failures=[FailurePlan("shipping", times=n)]).sagas[0].state != "needs-attention"
    ):
        n += 1
    return n


def ex3() -> set[str]:
    """Only the naive twin leaves the stock reserved after a declined card."""
    return {"naive"}


Reaction = Callable[[dict[str, Any], Any], list[tuple[str, dict[str, Any]]]]


def ex4() -> Reaction:
    """Skip seen event ids; reserve or refuse; release exactly what the order reserved."""

    def inventory(state: dict[str, Any], event: Any) -> list[tuple[str, dict[str, Any]]]:
        seen = state.setdefault("seen", set())
        if event.id in seen:
            return []  # a duplicate delivery: already handled
        seen.add(event.id)
        order = event.data["order_id"]
        if event.type == "OrderPlaced":
            qty = event.data["qty"]
            if qty > state["stock"]:
                return [("StockReservationFailed", {})]
            state["stock"] -= qty
            state["reserved"][order] = qty
            return [("StockReserved", {})]
        if event.type == "PaymentFailed":  # the compensation
            state["stock"] += state["reserved"].pop(order, 0)
            return [("StockReleased", {})]
        return []

    return inventory


def near_miss_ex4() -> Reaction:
    """No event ids kept: a duplicate PaymentFailed releases the units twice."""

    def inventory(state: dict[str, Any], event: Any) -> list[tuple[str, dict[str, Any]]]:
        order = event.data["order_id"]
        if event.type == "OrderPlaced":
            if order in state["reserved"]:
                return []
            qty = event.data["qty"]
            if qty > state["stock"]:
                return [("StockReservationFailed", {})]
            state["stock"] -= qty
            state["reserved"][order] = qty
            return [("StockReserved", {})]
        if event.type == "PaymentFailed":
            state["stock"] += event.data["qty"]
            state["reserved"].pop(order, None)
            return [("StockReleased", {})]
        return []

    return inventory

"""Solutions to notebook 05's exercises (eventual consistency)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...events import Event
from ..scenarios import lag_summary, shop


def ex1() -> Callable[[dict[str, Any], Event], dict[str, Any]]:
    """A pure fold: a new dict from the old state and one event."""

    def largest(state: dict[str, Any], event: Event) -> dict[str, Any]:
        return {
            "orders": state.get("orders", 0) + 1,
            "largest": max(state.get("largest", 0), event.data["total"]),
        }

    return largest


def ex2() -> int:
    """Try 1, 2, 3... consumers until p99 consistency lag is under 200 ms."""
    n = 1
    while lag_summary(shop(consumers=n, rate=120, service_ms=15))["p99 consistency lag ms"] >= 200:
        n += 1
    return n


def ex3() -> float:
    """Utilisation reaches 1 at rate * service_ms / 1000 = 1."""
    return 1000 / 15


def ex4() -> Callable[[dict[str, Any], Event], dict[str, Any]]:
    """Count each event id once: the ids already folded live in the state."""

    def count_once(state: dict[str, Any], event: Event) -> dict[str, Any]:
        seen = state.get("seen", frozenset())
        if event.id in seen:
            return state
        return {
            "orders": state.get("orders", 0) + 1,
            "revenue": state.get("revenue", 0) + event.data["total"],
            "seen": seen | {event.id},
        }

    return count_once


def near_miss_ex4() -> Callable[[dict[str, Any], Event], dict[str, Any]]:
    """Only the last id is remembered: a copy that comes after other events is counted again."""

    def count_once(state: dict[str, Any], event: Event) -> dict[str, Any]:
        if state.get("last") == event.id:
            return state
        return {
            "orders": state.get("orders", 0) + 1,
            "revenue": state.get("revenue", 0) + event.data["total"],
            "last": event.id,
        }

    return count_once

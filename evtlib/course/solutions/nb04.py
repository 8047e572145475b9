"""Solutions to notebook 04's exercises (eventual consistency)."""

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

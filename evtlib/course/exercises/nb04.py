"""Exercises of notebook 04, eventual consistency: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from functools import reduce
from typing import Any

from ...events import Event
from ..helpers import check
from ..scenarios import lag_summary, shop

__all__ = ["check_ex1", "check_ex2", "check_ex3", "sample_orders"]


def sample_orders() -> list[Event]:
    """Five ``OrderPlaced`` events (totals 30, 12, 45, 8, 5) to try a fold on."""
    totals = [30, 12, 45, 8, 5]
    return [
        Event(
            id=f"evt-{i:06d}",
            type="OrderPlaced",
            time=float(10 * i),
            source="shop",
            key=f"order-{i}",
            data={"order_id": f"order-{i}", "total": t},
        )
        for i, t in enumerate(totals, start=1)
    ]


def _fold_ok(fold: Any) -> bool:
    events = sample_orders()
    if reduce(fold, events, {}) != {"orders": 5, "largest": 45}:
        return False
    # A fold depends on nothing but its inputs: a shorter history gives its own answer.
    return reduce(fold, events[:2], {}) == {"orders": 2, "largest": 30}


def check_ex1(answer: Any) -> bool:
    """A fold ``fold(state, event) -> state`` counting orders and keeping the largest total."""
    return check(
        "ex1",
        answer,
        hint=(
            "a function of (state, event) that returns a new dict with 'orders' (a count) and "
            "'largest' (the biggest event.data['total'] so far), like add_order; start from {} "
            "with state.get(...). Try it: functools.reduce(fold, sample_orders(), {})."
        ),
        test=lambda f: callable(f) and _fold_ok(f),
    )


def _fewest_consumers(rate: float, service_ms: float, p99_ms: float) -> int:
    for n in range(1, 9):
        if (
            lag_summary(shop(consumers=n, rate=rate, service_ms=service_ms))[
                "p99 consistency lag ms"
            ]
            < p99_ms
        ):
            return n
    return 9


def check_ex2(answer: Any) -> bool:
    """The fewest analytics consumers keeping p99 consistency lag under 200 ms at 120 orders/s."""
    return check(
        "ex2",
        answer,
        _fewest_consumers(120.0, 15.0, 200.0),
        hint=(
            "an int: try lag_summary(shop(consumers=n, rate=120, service_ms=15)) for n = 1, 2, 3... "
            "and read 'p99 consistency lag ms'."
        ),
    )


def check_ex3(answer: Any) -> bool:
    """The arrival rate (orders/s) above which one consumer at 15 ms per order cannot keep up."""
    return check(
        "ex3",
        answer,
        hint=(
            "a number of orders per second: one consumer handles at most 1000 / service_ms "
            "orders a second."
        ),
        test=lambda a: abs(float(a) - 1000.0 / 15.0) <= 2.0,
    )

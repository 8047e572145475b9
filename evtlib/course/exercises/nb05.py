"""Exercises of notebook 05, eventual consistency: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from functools import reduce
from typing import Any

from ...events import Event
from ..helpers import check
from ..scenarios import lag_summary, shop
from ..scenarios.build_check import build_check
from ..scenarios.builds_04_07 import fold_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "sample_orders", "check_ex4"]


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


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: a dashboard fold that counts each order once although the relay republishes some."""
    return build_check(
        "ex4",
        answer,
        run_one=fold_schedule,
        what="every order counted exactly once",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in count_once(state, event): return a new dict with 'orders' and 'revenue' (like "
                "add_order), counting each event.id once; then set answer = count_once."
            ),
            "wrong": (
                "a function fold(state, event) -> new state; the same event (same event.id) may arrive "
                "twice, at a new offset: keep the ids already folded in the state."
            ),
            "extra": (
                "an order was counted twice: the relay published the same event (same event.id) again, at "
                "a new offset, so the read model's own offset check does not see it. Keep every id folded "
                "so far in the state (e.g. a frozenset under 'seen') and return the state unchanged for an "
                "id already there; the last id alone is not enough, other events can come in between."
            ),
            "missing": (
                "an order was never counted: comparing times or offsets skips events, because the two "
                "partitions interleave and a later event can be folded first. Compare event ids."
            ),
            "error": (
                "your fold raised or returned something that is not a dict: start from state.get(..., 0) "
                "and return a new dict."
            ),
            "near": "almost: look at the first breaking schedule's timeline for an event handled twice.",
        },
    )

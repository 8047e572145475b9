"""Solutions to notebook 13's exercises (on a real broker)."""

from __future__ import annotations

from collections.abc import Callable

from ...events import Event


def ex1() -> str:
    """Topic, group, partition, joined by dots."""
    return "orders.billing.2"


def ex2() -> int:
    """Five deliveries are the first one plus four returns."""
    return 5 - 1


def ex3() -> Callable[[Event], bool]:
    """Good means a number above 0 as the total; anything else can never be charged."""

    def valid(event: Event) -> bool:
        total = event.data.get("total")
        return isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0

    return valid


def near_miss_ex3() -> Callable[[Event], bool]:
    """Checks the type of the total but forgets that 0 and negative totals never pass."""

    def valid(event: Event) -> bool:
        return isinstance(event.data.get("total"), (int, float))

    return valid

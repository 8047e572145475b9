"""Solutions to the exercises of notebook 02 (producers, consumers, broker)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ex1", "ex2", "ex3", "ex4", "ex5"]


def ex1() -> int:
    """Three groups each handle all 100 events once: 3 x 100."""
    return 300


def ex2() -> int:
    """Analytics has 6 members for 4 partitions: 2 sit idle (email and shipping use all theirs)."""
    return 2


def ex3() -> Callable[[str, dict], str]:
    """Key by the order: its events share a partition; different orders spread out."""
    return lambda type, data: data["order_id"]


def ex4() -> str:
    """``earliest``: the log keeps the past, so a new group can replay it."""
    return "earliest"


def ex5() -> int:
    """At t=120 ms orders placed at t<=70 ms (15 of them) have expired: the 15 from t=75 ms remain."""
    return 15

"""Solutions to notebook 09's exercises (sagas)."""

from __future__ import annotations

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

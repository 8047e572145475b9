"""Exercises of notebook 09, sagas: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.saga import FailurePlan
from ...patterns.saga.scenarios import MODES, run_order
from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "check_ex3"]


def check_ex1(answer: Any) -> bool:
    """The order in which the checkout saga's compensations run when payment is declined."""
    return check(
        "ex1",
        answer,
        hint=(
            "a list of step names, first undone first. Which steps had succeeded before "
            "the payment failed, and in which order does a saga undo them?"
        ),
        test=lambda a: list(a) == ["coupon", "stock"],
    )


def _fewest_shipping_failures() -> int:
    n = 1
    while (
        run_order(failures=[FailurePlan("shipping", times=n)]).sagas[0].state != "needs-attention"
    ):
        n += 1
    return n


def check_ex2(answer: Any) -> bool:
    """The fewest shipping failures in a row after which the order saga gives up."""
    return check(
        "ex2",
        answer,
        _fewest_shipping_failures(),
        hint=(
            "an int: try run_order(failures=[FailurePlan('shipping', times=n)]) for n = 1, 2, 3... "
            "and read .sagas[0].state; the step has retries=3."
        ),
    )


def _half_done_modes() -> set[str]:
    out = set()
    for mode in MODES:
        if "half-done" in run_order(mode, failures=[FailurePlan("payment")]).outcomes():
            out.add(mode)
    return out


def check_ex3(answer: Any) -> bool:
    """The modes that leave a half-done order when the payment is declined."""
    return check(
        "ex3",
        answer,
        hint=(
            "a set of mode names out of 'orchestration', 'choreography', 'naive': run "
            "run_order(mode, failures=[FailurePlan('payment')]) and read .outcomes()."
        ),
        test=lambda a: set(a) == _half_done_modes(),
    )

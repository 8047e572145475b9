"""Exercises of notebook 10, sagas: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.saga import FailurePlan
from ...patterns.saga.scenarios import MODES, run_order
from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.sagas import inventory_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4"]


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


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: the inventory service of a choreographed saga, under ``schedules`` fault schedules."""
    return build_check(
        "ex4",
        answer,
        run_one=inventory_schedule,
        what="units conserved, never oversold, every order shipped, refused or released",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in inventory(state, event), then set answer = inventory. It returns the"
                " events to publish, as a list of (type, data) pairs: [] for none."
            ),
            "wrong": (
                "on OrderPlaced reserve the units (or refuse); on PaymentFailed undo exactly"
                " that reservation, once; and a duplicate delivery must change nothing."
            ),
            "stuck": (
                "an order never ended: answer OrderPlaced with ('StockReserved', {}) or"
                " ('StockReservationFailed', {}), and PaymentFailed with ('StockReleased', {})."
            ),
            "kept": (
                "a declined order still holds its units: the compensation is missing. On"
                " PaymentFailed, give back what that order reserved and forget its reservation."
            ),
            "units": (
                "units appeared or vanished: a reservation or a release was applied twice. The"
                " network delivers some events twice (the same event.id): remember the ids you"
                " handled in state and skip them; release what was reserved, not event.data['qty']."
            ),
            "oversold": "the stock went below 0: refuse an order whose qty is more than the stock.",
            "error": (
                "your inventory raised or returned something else than a list of (type, data)"
                " pairs; state['stock'] stays an int, state['reserved'] a dict order_id -> qty."
            ),
            "near": "almost: look at the first breaking schedule's timeline.",
        },
    )

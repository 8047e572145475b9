"""Exercises of notebook 04, delivery guarantees: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...metrics import lag_series
from ..helpers import check
from ..scenarios import billing_crash, charge_tally, consumer_outage
from ..scenarios.build_check import build_check
from ..scenarios.builds_04_07 import billing_schedule
from ..scenarios.delivery import SETUPS

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4"]


def check_ex1(answer: Any) -> bool:
    """How many orders are charged twice when billing commits only every 10 charges?"""
    expected = charge_tally(billing_crash("at-least-once", commit_every=10))["charged twice"]
    return check(
        "ex1",
        answer,
        expected,
        hint=(
            "run billing_crash('at-least-once', commit_every=10) and look at "
            "charge_tally(...)['charged twice']: everything handled since the last commit "
            "is handled again."
        ),
    )


def check_ex2(answer: Any) -> bool:
    """Which setup of the back-pressure comparison lost orders without the producer being told?"""
    return check(
        "ex2",
        answer,
        "rabbitmq drop-head",
        hint=(
            f"one of {', '.join(repr(s) for s in SETUPS)} (a str). Look at the bars: which setup"
            " accepted every order (nothing refused) and yet shipped fewer than 100? A refusal"
            " (a nack, an exception) tells the producer; a drop does not."
        ),
    )


def check_ex3(answer: Any) -> bool:
    """The peak consumer lag when shipping is down for 1000 ms instead of 600 ms."""
    run = consumer_outage(down_for=1000.0)
    expected = max(lag_series(run.group, step=10.0).total)
    return check(
        "ex3",
        answer,
        expected,
        hint=(
            "run consumer_outage(down_for=1000) and take max(lag_series(run.group, step=10).total), "
            "an int: roughly the orders that arrived while it was down."
        ),
    )


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: ``start_billing(broker, charge)`` returns billing's Consumer; crash it 200 ways."""
    return build_check(
        "ex4",
        answer,
        run_one=billing_schedule,
        what="no order lost and at most 2 orders charged twice per crash",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in start_billing(broker, charge): return Consumer(broker, 'billing', 'orders', "
                "charge, service_time=10, delivery=..., commit_every=...), then set answer = start_billing."
            ),
            "wrong": (
                "start_billing must return the Consumer it makes, with charge as its handler; choose "
                "delivery= and commit_every= so that a crash neither loses an order nor charges many twice."
            ),
            "missing": (
                "an order was never charged. A commit before the work (at-most-once) marks the order being "
                "charged as done; if billing dies mid-charge nobody charges it. Commit after the work."
            ),
            "extra": (
                "too many orders charged twice after one crash: billing redoes everything it handled since "
                "its last commit. Commit more often (a smaller commit_every)."
            ),
            "error": (
                "start_billing must return a Consumer: return Consumer(broker, 'billing', 'orders', charge, ...)."
            ),
            "near": "almost: look at the first breaking schedule's timeline, around the crash.",
        },
    )

"""Exercises of notebook 03, delivery guarantees: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...metrics import lag_series
from ..helpers import check
from ..scenarios import billing_crash, charge_tally, consumer_outage

__all__ = ["check_ex1", "check_ex2", "check_ex3"]


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
    """Which buffer policy loses orders without the producer ever hearing of it?"""
    return check(
        "ex2",
        answer,
        "drop-oldest",
        hint=(
            "one of 'block', 'reject', 'drop-oldest' (a str). 'reject' tells the producer "
            "(it gets an error); which one does not?"
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

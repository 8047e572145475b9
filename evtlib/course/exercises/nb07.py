"""Exercises of notebook 07, idempotent consumer: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.idempotent_scenarios import retention_demo
from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "check_ex3", "RETENTIONS"]

#: The retention times (ms) exercise 2 chooses from.
RETENTIONS = (100, 250, 500, 1000)


def check_ex1(answer: Any) -> bool:
    """Which store recognises a redriven (republished) event as a duplicate?"""
    return check(
        "ex1",
        answer,
        "id-set",
        hint=(
            "'id-set' or 'position' (a str). A redrive puts the same event id at a new "
            "offset: which store compares ids, and which compares offsets?"
        ),
    )


def _shortest_safe_retention() -> float:
    return min(r for r in RETENTIONS if not retention_demo(r, 500).duplicate_applied)


def check_ex2(answer: Any) -> bool:
    """The shortest retention of :data:`RETENTIONS` that stops a duplicate arriving after 500 ms."""
    return check(
        "ex2",
        answer,
        test=lambda a: float(a) == _shortest_safe_retention(),
        hint=(
            "a number of ms, one of 100, 250, 500, 1000: run retention_demo(keep, 500) for each "
            "and look at .duplicate_applied (False means charged once)."
        ),
    )


def check_ex3(answer: Any) -> bool:
    """At which crash point does the non-atomic consumer charge twice?"""
    return check(
        "ex3",
        answer,
        "after-effect",
        hint=(
            "one of 'before-effect', 'after-effect', 'after-commit' (a str): the crash must "
            "fall after the charge was committed and before the processed row was."
        ),
    )

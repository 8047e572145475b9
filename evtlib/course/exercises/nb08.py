"""Exercises of notebook 08, dead-letter queue: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.dlq_scenarios import head_of_line, retry_storm
from ...patterns.retry import JITTERS, RetryPolicy
from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "check_ex3"]


def check_ex1(answer: Any) -> bool:
    """The total wait of ``RetryPolicy(5, exponential, base=100, no jitter)`` before giving up."""
    expected = sum(RetryPolicy(5, backoff="exponential", base=100, jitter="none").delays())
    return check(
        "ex1",
        answer,
        expected,
        hint=(
            "a number of ms: 5 attempts means 4 waits, 100 ms doubling each time; "
            "sum(policy.delays()) adds them up."
        ),
    )


def check_ex2(answer: Any) -> bool:
    """Orders handled when orders 5, 20 and 35 are poison and billing dead-letters."""
    return check(
        "ex2",
        answer,
        test=lambda a: a == head_of_line(dead_letter=True, poison=(5, 20, 35)).handled,
        hint=(
            "an int: run head_of_line(dead_letter=True, poison=(5, 20, 35)) and read .handled. "
            "Every order that is not poison gets through."
        ),
    )


def _soonest_with_40_clients() -> str:
    return min(JITTERS, key=lambda j: retry_storm(j, clients=40).finished_at)


def check_ex3(answer: Any) -> bool:
    """The jitter that serves the last of 40 clients soonest."""
    return check(
        "ex3",
        answer,
        test=lambda a: a == _soonest_with_40_clients(),
        hint=(
            "one of 'none', 'full', 'equal' (a str): compare retry_storm(j, clients=40).finished_at "
            "for the three. Is it the same winner as with 20 clients?"
        ),
    )

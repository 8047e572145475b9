"""Exercises of notebook 09, dead-letter queue: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.dlq_scenarios import head_of_line, retry_storm
from ...patterns.retry import JITTERS, RetryPolicy
from ...patterns.retry_topics import retry_topics_run
from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.dead_letters import retry_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4", "check_ex5", "EX5_FAILURES"]


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


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: the dead-letter decision ``decide(error, attempt)``, under ``schedules`` fault schedules."""
    return build_check(
        "ex4",
        answer,
        run_one=retry_schedule,
        what=(
            "nothing blocked, every order that can succeed handled, every poison order"
            " dead-lettered within 5 s"
        ),
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in decide(error, attempt), then set answer = decide. It returns the wait"
                " in ms before the next try, or None to dead-letter the order now."
            ),
            "wrong": (
                "retry what can come back (a timeout, a service that is down), with waits that"
                " grow; give up on what never will, and on everything after a few attempts."
            ),
            "gave-up": (
                "an order that would have succeeded was dead-lettered: your retries ended before"
                " the failure did. Timeouts pass after up to 3 tries, and the payment service"
                " can be down for up to 800 ms: let the waits grow (exponential backoff) so a"
                " few attempts cover that."
            ),
            "blocked": (
                "a poison order (PoisonError: it never succeeds) still blocks its partition at"
                " the end: retrying for ever is the head-of-line blocking of this notebook."
                " Return None at some point (or at once for errors no retry can fix)."
            ),
            "slow": (
                "a poison order held its partition for more than 5 s: every order behind it"
                " waited that long. Give up sooner (fewer attempts or a cap on the waits), or"
                " dead-letter errors no retry can fix at once."
            ),
            "error": (
                "decide must return a number of ms (>= 0) or None, and must not raise:"
                " try it on decide(TimeoutError('t'), 1) first."
            ),
            "near": "almost: look at the first breaking schedule's timeline.",
        },
    )


#: Exercise 5: order-2's and order-3's OrderPlaced each fail once.
EX5_FAILURES = {("order-2", "OrderPlaced"): 1, ("order-3", "OrderPlaced"): 1}


def _out_of_order() -> set[str]:
    return set(retry_topics_run("retry-topics", failures=EX5_FAILURES).overtaken)


def check_ex5(answer: Any) -> bool:
    """The orders handled out of order with retry topics when order-2 and order-3 fail once."""
    return check(
        "ex5",
        answer,
        test=lambda a: (
            isinstance(a, (set, list, tuple))
            and len(set(a)) == len(a)
            and set(a) == _out_of_order()
        ),
        hint=(
            "a set of order ids, such as {'order-1'}: run retry_topics_run('retry-topics', "
            "failures=EX5_FAILURES) and read .overtaken. A retried event is overtaken only if "
            "its order has a later event behind it: which orders do?"
        ),
    )

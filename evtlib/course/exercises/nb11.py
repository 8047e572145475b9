"""Exercises of notebook 11, putting it together: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..chaos import INVARIANTS, run_schedule
from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.whole_shop import fulfilment_schedule, order_chain

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4", "PATTERNS"]

#: The invariant each pattern protects (exercise 1).
PATTERNS = {
    "events lost": "outbox",
    "effects duplicated": "idempotent consumer",
    "sagas half-done": "saga",
    "events vanished": "dead-letter queue",
}


def _norm(text: Any) -> str:
    return str(text).strip().lower().replace("-", " ").replace("transactional ", "")


def check_ex1(answer: Any) -> bool:
    """Which pattern keeps each invariant at zero?"""
    return check(
        "ex1",
        answer,
        hint=(
            "a dict with the keys "
            + ", ".join(repr(k) for k in INVARIANTS)
            + " and, as values, one of 'outbox', 'idempotent consumer', 'dead-letter queue', 'saga'."
        ),
        test=lambda a: (
            {k: _norm(v) for k, v in dict(a).items()} == {k: _norm(v) for k, v in PATTERNS.items()}
        ),
    )


def _first_duplicate(start: int = 0) -> int:
    seed = start
    while run_schedule(seed, patterns=False).counts["effects duplicated"] == 0:
        seed += 1
    return seed


def check_ex2(answer: Any) -> bool:
    """The first seed (from 0) whose schedule makes the naive twins fulfil an order twice."""
    return check(
        "ex2",
        answer,
        _first_duplicate(),
        hint=(
            "an int: run run_schedule(seed, patterns=False) for seed = 0, 1, 2... and read "
            ".counts['effects duplicated']; random_schedule(seed).describe() tells you why."
        ),
    )


def check_ex3(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: fulfilment's handling ``fulfil(event, seen, start_saga)``, under ``schedules`` schedules."""
    return build_check(
        "ex3",
        answer,
        run_one=fulfilment_schedule,
        what="no order fulfilled twice, none vanished, none half done",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in fulfil(event, seen, start_saga), then set answer = fulfil. seen is a set"
                " that lasts between deliveries; start_saga(event) starts the order's saga, or"
                " raises when it cannot (yet)."
            ),
            "wrong": (
                "two things: a delivery seen before must not start a second saga, and a failure"
                " must reach the consumer (raise), which retries and then dead-letters."
            ),
            "duplicated": (
                "an order's saga started twice: the relay publishes some events twice and the"
                " network duplicates deliveries. Remember event.id in seen and skip it the"
                " second time."
            ),
            "vanished": (
                "an order got neither a saga nor a dead letter: its failure did not reach the"
                " consumer, or its id was remembered before its saga started, so the retry was"
                " skipped. Let start_saga's exception through, and add event.id to seen only"
                " after start_saga returned."
            ),
            "error": "your fulfil raised something unexpected: try it on one event first.",
            "near": "almost: look at the first breaking schedule's timeline.",
        },
    )


def check_ex4(answer: Any) -> bool:
    """How many distinct messages carry order-000001's correlation id in schedule 17?"""
    chain = order_chain(run_schedule(17), "order-000001")
    distinct, on_logs = len(chain.events), sum(chain.copies.values())
    hint = (
        "an int: chain = order_chain(run_schedule(17), 'order-000001') finds them by"
        " correlation id; count each event id once."
    )
    if answer == on_logs and on_logs != distinct:
        hint = (
            "you counted a copy as a message of its own: an event can be on a log more than"
            " once (the relay published it again after a crash, or a participant answered a"
            " duplicated command again), always with the same id. Count distinct ids: that is"
            " how a consumer, and a tracing tool, see it."
        )
    return check("ex4", answer, distinct, hint=hint)

"""Exercises of notebook 06, benefits, trade-offs and failure modes: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..helpers import check
from ..scenarios import lag_spiral, retry_storm
from ..scenarios.build_check import build_check
from ..scenarios.builds_04_07 import retry_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "PATTERNS", "check_ex4"]

#: The failure modes of exercise 1 and the notebook of the pattern that answers each.
PATTERNS = {
    "dual write": 7,
    "duplicates": 8,
    "poison message": 9,
    "retry storm": 9,
    "half-finished order across services": 10,
}


def check_ex1(answer: Any) -> bool:
    """Map each failure mode to the notebook number (7-10) of the pattern that answers it."""
    return check(
        "ex1",
        answer,
        hint=(
            "a dict with the keys " + ", ".join(repr(k) for k in PATTERNS) + " and notebook "
            "numbers as values: 7 outbox, 8 idempotent consumer, 9 dead-letter queue "
            "(with retries and backoff), 10 saga."
        ),
        test=lambda a: {k: int(v) for k, v in dict(a).items()} == PATTERNS,
    )


def _most_retriers() -> int:
    n = 1
    while len(retry_storm(consumers=n + 1).info["provider"].down) == 1:
        n += 1
    return n


def check_ex2(answer: Any) -> bool:
    """The most billing consumers whose in-step retries the provider survives."""
    return check(
        "ex2",
        answer,
        _most_retriers(),
        hint=(
            "an int: run retry_storm(consumers=n) for n = 1, 2, 3... and look at "
            "len(run.info['provider'].down): 1 means the only outage was the first one. "
            "Compare with the provider's capacity."
        ),
    )


def _longest_pause() -> float:
    pause = 50.0
    while lag_spiral(pause + 50.0).info["gave_up"] == 0:
        pause += 50.0
    return pause


def check_ex3(answer: Any) -> bool:
    """The longest pause (a multiple of 50 ms) after which billing gives up on no order."""
    return check(
        "ex3",
        answer,
        _longest_pause(),
        hint=(
            "a number of ms: try lag_spiral(pause) for pause = 50, 100, 150... and read "
            "run.info['gave_up']; the answer is the last pause where it is 0."
        ),
    )


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: ``wait_ms(attempt, rng)``, a retry policy that ends the retry storm."""
    return build_check(
        "ex4",
        answer,
        run_one=retry_schedule,
        what="no retry storm and every order charged within 4 s",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in wait_ms(attempt, rng): the ms to wait before trying a failed payment again "
                "(attempt is 1 after the first failure, 2 after the second...); then set answer = wait_ms."
            ),
            "wrong": "a function wait_ms(attempt, rng) returning a number of ms >= 0.",
            "storm": (
                "the consumers failed at the same moment, and your waits bring them back at the same moment: "
                "the same attempt gives the same wait. Spread them with jitter drawn from rng, for example "
                "rng.uniform(0, backoff) (full jitter), where backoff grows with attempt."
            ),
            "missing": (
                "orders were still not charged after 4 s: the waits are too long. Cap the backoff "
                "(for example at 2,000 ms)."
            ),
            "error": "wait_ms must return a finite number of ms >= 0 (a float), for every attempt.",
            "near": "almost: look at the first breaking schedule's failed calls.",
        },
    )

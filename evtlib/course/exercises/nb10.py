"""Exercises of notebook 10, putting it together: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..chaos import INVARIANTS, run_schedule
from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "PATTERNS"]

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

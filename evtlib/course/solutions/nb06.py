"""Solutions to notebook 06's exercises (benefits, trade-offs and failure modes)."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..scenarios import lag_spiral, retry_storm


def ex1() -> dict[str, int]:
    """Outbox for the dual write, idempotence for duplicates, DLQ and backoff, saga."""
    return {
        "dual write": 7,
        "duplicates": 8,
        "poison message": 9,
        "retry storm": 9,
        "half-finished order across services": 10,
    }


def ex2() -> int:
    """Grow the number of consumers until the provider falls over a second time."""
    n = 1
    while len(retry_storm(consumers=n + 1).info["provider"].down) == 1:
        n += 1
    return n


def ex3() -> float:
    """Grow the pause in 50 ms steps until billing starts giving up."""
    pause = 50.0
    while lag_spiral(pause + 50.0).info["gave_up"] == 0:
        pause += 50.0
    return pause


def ex4() -> Callable[[int, random.Random], float]:
    """Capped exponential backoff with full jitter (AWS architecture blog, 2015)."""

    def wait_ms(attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(2000.0, 100.0 * 2 ** (attempt - 1)))

    return wait_ms


def near_miss_ex4() -> Callable[[int, random.Random], float]:
    """Capped exponential backoff without jitter: consumers that failed together stay in step."""

    def wait_ms(attempt: int, rng: random.Random) -> float:
        return min(2000.0, 100.0 * 2 ** (attempt - 1))

    return wait_ms

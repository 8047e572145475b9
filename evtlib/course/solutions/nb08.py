"""Solutions to notebook 08's exercises (dead-letter queue)."""

from __future__ import annotations

from ...patterns.dlq_scenarios import head_of_line, retry_storm
from ...patterns.retry import RetryPolicy


def ex1() -> float:
    """100 + 200 + 400 + 800 ms: four waits between five attempts."""
    return sum(RetryPolicy(5, backoff="exponential", base=100, jitter="none").delays())


def ex2() -> int:
    """All 37 orders that are not poison."""
    return head_of_line(dead_letter=True, poison=(5, 20, 35)).handled


def ex3() -> str:
    """With more clients, full jitter's wider spread wins over equal jitter."""
    return min(("none", "full", "equal"), key=lambda j: retry_storm(j, clients=40).finished_at)

"""Solutions to notebook 09's exercises (dead-letter queue)."""

from __future__ import annotations

from collections.abc import Callable

from ...patterns.dlq_scenarios import head_of_line, retry_storm
from ...patterns.retry import RetryPolicy
from ...patterns.retry_topics import retry_topics_run


def ex1() -> float:
    """100 + 200 + 400 + 800 ms: four waits between five attempts."""
    return sum(RetryPolicy(5, backoff="exponential", base=100, jitter="none").delays())


def ex2() -> int:
    """All 37 orders that are not poison."""
    return head_of_line(dead_letter=True, poison=(5, 20, 35)).handled


def ex3() -> str:
    """With more clients, full jitter's wider spread wins over equal jitter."""
    return min(("none", "full", "equal"), key=lambda j: retry_storm(j, clients=40).finished_at)


def ex4() -> Callable[[BaseException, int], float | None]:
    """Retry what can pass, with exponential backoff; dead-letter the rest, and after 6 attempts."""

    def decide(error: BaseException, attempt: int) -> float | None:
        if not isinstance(error, (TimeoutError, ConnectionError)):
            return None  # a PoisonError: no retry will fix it
        if attempt >= 6:
            return None
        return 100.0 * 2 ** (attempt - 1)  # 100, 200, 400, 800, 1600 ms

    return decide


def near_miss_ex4() -> Callable[[BaseException, int], float | None]:
    """Four attempts 100 ms apart: too short for an outage of up to 800 ms."""

    def decide(error: BaseException, attempt: int) -> float | None:
        return None if attempt >= 4 else 100.0

    return decide


def ex5() -> set[str]:
    """Only order-2: it has a later event (its OrderCancelled) to overtake the retried one; order-3 has none."""
    failures = {("order-2", "OrderPlaced"): 1, ("order-3", "OrderPlaced"): 1}
    return set(retry_topics_run("retry-topics", failures=failures).overtaken)

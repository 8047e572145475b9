"""Solutions to notebook 11's exercises (putting it together)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..chaos import run_schedule
from ..scenarios.whole_shop import order_chain


def ex1() -> dict[str, str]:
    """Outbox: nothing lost; idempotence: nothing twice; saga: nothing half; DLQ: nothing vanishes."""
    return {
        "events lost": "outbox",
        "effects duplicated": "idempotent consumer",
        "sagas half-done": "saga",
        "events vanished": "dead-letter queue",
    }


def ex2() -> int:
    """Walk the seeds until a network duplicate starts a second saga."""
    seed = 0
    while run_schedule(seed, patterns=False).counts["effects duplicated"] == 0:
        seed += 1
    return seed


def ex3() -> Callable[..., None]:
    """Skip ids seen; start the saga; remember the id only once it started; let failures through."""

    def fulfil(event: Any, seen: set[str], start_saga: Callable[[Any], Any]) -> None:
        if event.id in seen:
            return  # a duplicate: this order's saga already started
        start_saga(event)  # raises for now or for ever: the consumer retries, then dead-letters
        seen.add(event.id)

    return fulfil


def ex4() -> int:
    """Every message of the order's story carries its correlation id; count each id once."""
    return len(order_chain(run_schedule(17), "order-000001").events)


def near_miss_ex3() -> Callable[..., None]:
    """The id remembered before the saga started: a retried transient order is skipped."""

    def fulfil(event: Any, seen: set[str], start_saga: Callable[[Any], Any]) -> None:
        if event.id in seen:
            return
        seen.add(event.id)
        start_saga(event)

    return fulfil

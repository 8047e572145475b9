"""Exercises of notebook 12, on a real broker: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..helpers import check

__all__ = ["check_ex1", "check_ex2"]


def check_ex1(answer: Any) -> bool:
    """The queue that holds partition 2 of topic ``orders`` for group ``billing``."""
    from ...adapters.rabbitmq import queue_name

    return check(
        "ex1",
        answer,
        queue_name("orders", "billing", 2),
        hint=(
            "a str: one queue per group and partition, named topic.group.partition "
            "(look at broker.groups['totals'].queues() above)."
        ),
    )


def check_ex2(answer: Any) -> bool:
    """The x-delivery-limit of the queues of a DeadLetterConsumer with max_attempts=5."""
    from ...adapters.rabbitmq import delivery_limit

    return check(
        "ex2",
        answer,
        delivery_limit(5),
        hint=(
            "an int: RabbitMQ dead-letters a message returned MORE than x-delivery-limit "
            "times; with max_attempts=3 the queue above had x-delivery-limit 2."
        ),
    )

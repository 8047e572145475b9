"""Exercises of notebook 13, on a real broker: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "check_ex3"]


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


def check_ex3(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: a poison-message guard ``valid(event) -> bool`` for billing on a quorum queue."""
    from ..scenarios.build_check import build_check
    from ..scenarios.real_broker import guard_schedule

    return build_check(
        "ex3",
        answer,
        run_one=guard_schedule,
        what="every good order charged, every poison order dead-lettered at once",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in valid(event), then set answer = valid. It returns True for an order"
                " that billing can charge (a retry may still be needed) and False for one it"
                " never can: that one is dead-lettered at once, without a retry."
            ),
            "wrong": (
                "look at what makes billing's charge raise for good: a missing total, a total"
                " that is not a number, a total that is not above 0. Everything else is good."
            ),
            "retried": (
                "a poison order got past your guard: billing tried it 5 times (each one a"
                " delivery the quorum queue counts) before it was dead-lettered. Which of the"
                " poison shapes does your guard still let through?"
            ),
            "rejected-good": (
                "your guard dead-lettered an order that could be charged. A timeout is not"
                " poison: it passes after a retry. Reject only what no retry can fix."
            ),
            "error": (
                "valid must return True or False and must not raise: read event.data with"
                " .get(), since a poison order may lack its total."
            ),
            "near": "almost: look at the first breaking schedule's timeline.",
        },
    )

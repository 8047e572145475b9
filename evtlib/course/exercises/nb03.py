"""Exercises of notebook 03, brokers compared: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ..helpers import check
from ..scenarios.brokers import PROFILES_COMPARED, poison, timeout_run

__all__ = ["check_ex1", "check_ex2", "check_ex3"]


def check_ex1(answer: Any) -> bool:
    """Which profiles can give a new subscription the orders published before it existed?"""
    return check(
        "ex1",
        answer,
        ["kafka"],
        hint=(
            f"a list of profile names from {list(PROFILES_COMPARED)}. Look at the late subscriber"
            " bars: which broker keeps a log that a new group can read from its start (and with"
            " which setting)? A queue only gets what is published after it exists."
        ),
    )


def check_ex2(answer: Any) -> bool:
    """Service Bus, defaults, a message that always fails: how many deliveries before it is dead-lettered?"""
    expected = poison("service-bus")["deliveries of the poison order"]
    return check(
        "ex2",
        answer,
        expected,
        hint=(
            "an int: the Service Bus subscription setting MaxDeliveryCount (see the table to keep,"
            " or evtlib.profiles.PROFILES['service-bus'].settings). Each delivery counts, the"
            " first one too."
        ),
    )


def check_ex3(answer: Any) -> bool:
    """RabbitMQ, prefetch 3: how many messages does consumer_timeout send back when one handling hangs?"""
    expected = timeout_run("rabbitmq").counts["redelivered"]
    return check(
        "ex3",
        answer,
        expected,
        hint=(
            "an int. Up to RabbitMQ 4.2, consumer_timeout closes the consumer's channel: every"
            " message delivered on that channel and not yet acknowledged goes back to the queue,"
            " not only the one that hung. How many can a member with prefetch 3 hold?"
        ),
    )

"""Exercises of notebook 03, brokers compared: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ..helpers import check
from ..scenarios.brokers import PROFILES_COMPARED, order_schedule, poison, timeout_run
from ..scenarios.build_check import build_check

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4"]


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


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: ``settings_for(profile)`` keeps every order's events in order, 200 schedules."""
    return build_check(
        "ex4",
        answer,
        run_one=order_schedule,
        what="every order's three events handled in order",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "write settings_for(profile): return a dict of that broker's own settings (names as"
                " in the table to keep), e.g. {} where nothing is needed; then answer = settings_for."
            ),
            "wrong": (
                "settings_for(profile) must return a dict for each of 'kafka', 'rabbitmq', 'sqs-fifo'"
                " and 'service-bus'. Which setting keeps one key's messages in order on each?"
            ),
            "reordered": (
                "an order was handled out of order: on RabbitMQ and Service Bus competing consumers"
                " take messages one by one unless a setting says otherwise (section 3's table names"
                " it). Kafka and SQS FIFO need nothing: the key already picks a partition or a"
                " message group."
            ),
            "error": (
                "settings_for must return a dict (possibly empty) of settings the profile has, for"
                " every profile it is asked about."
            ),
            "near": (
                "almost: the broken schedules are all on one profile. Look at the first one's"
                " timeline: which broker still lets two consumers take one order's events?"
            ),
        },
    )

"""Solutions to notebook 04's exercises (delivery guarantees)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...consumer import Consumer
from ...events import Event
from ...metrics import lag_series
from ..scenarios import billing_crash, charge_tally, consumer_outage


def ex1() -> int:
    """Everything handled since the last commit is handled again: count the doubles."""
    return charge_tally(billing_crash("at-least-once", commit_every=10))["charged twice"]


def ex2() -> str:
    """A full RabbitMQ queue with ``x-overflow="drop-head"`` (the default) drops its oldest
    message, and the publish still succeeds: the producer is never told."""
    return "rabbitmq drop-head"


def ex3() -> int:
    """The lag peaks just before shipping comes back."""
    run = consumer_outage(down_for=1000.0)
    return max(lag_series(run.group, step=10.0).total)


def ex4() -> Callable[[Any, Callable[[Event], None]], Consumer]:
    """At-least-once (commit after the charge), committing after every charge."""

    def start_billing(broker: Any, charge: Callable[[Event], None]) -> Consumer:
        return Consumer(
            broker,
            "billing",
            "orders",
            charge,
            service_time=10,
            delivery="at-least-once",
            commit_every=1,
        )

    return start_billing


def near_miss_ex4() -> Callable[[Any, Callable[[Event], None]], Consumer]:
    """At-least-once, but committing every 5 charges: some crashes redo 3 or 4 orders."""

    def start_billing(broker: Any, charge: Callable[[Event], None]) -> Consumer:
        return Consumer(broker, "billing", "orders", charge, service_time=10, commit_every=5)

    return start_billing

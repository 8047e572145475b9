"""Exercises of notebook 06, transactional outbox: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...broker import Broker
from ...patterns.outbox import OrderService, OutboxRelay
from ...patterns.outbox_scenarios import run_outbox_scenario
from ...sim import Simulation
from ..helpers import check

__all__ = ["check_ex1", "check_ex2", "check_ex3", "rows_left_after_cleanup"]


def check_ex1(answer: Any) -> bool:
    """At which crash point does the outbox publish an event twice?"""
    return check(
        "ex1",
        answer,
        "relay-after-publish",
        hint=(
            "one of 'before-commit', 'after-commit', 'relay-after-publish', 'relay-after-mark' "
            "(a str). Which crash leaves a row published but with sent_at still NULL?"
        ),
    )


def check_ex2(answer: Any) -> bool:
    """How many duplicates when the relay crashes after publishing on its 1st, 2nd and 3rd row?"""
    return check(
        "ex2",
        answer,
        test=lambda a: a == _duplicates_of_three_relay_crashes(),
        hint=(
            "an int: run run_outbox_scenario(0, crash_points={'relay-after-publish': [1, 2, 3]}) "
            "and read .duplicates. Each such crash leaves one row published but not marked."
        ),
    )


def _duplicates_of_three_relay_crashes() -> int:
    return run_outbox_scenario(
        0, crash_points={"relay-after-publish": [1, 2, 3]}, n_orders=8
    ).duplicates


def rows_left_after_cleanup() -> int:
    """The scenario of exercise 3: 5 orders, one poll of 3 rows, then ``cleanup(0)`` at 100 ms."""
    sim = Simulation(seed=1)
    broker = Broker(sim)
    broker.create_topic("orders")
    service = OrderService(sim)
    relay = OutboxRelay(sim, service.db, broker, "orders", batch_size=3, start=False)
    for _ in range(5):
        service.place_order("ada", 10)
    relay.poll()
    sim.run(until=100)
    relay.cleanup(retention_ms=0)
    return len(service.outbox())


def check_ex3(answer: Any) -> bool:
    """How many rows are left in the outbox after the clean-up of exercise 3?"""
    return check(
        "ex3",
        answer,
        test=lambda a: a == rows_left_after_cleanup(),
        hint=(
            "an int: count len(service.outbox()) after relay.cleanup(retention_ms=0). "
            "The clean-up deletes only rows that were sent; how many did one poll of "
            "batch_size=3 send?"
        ),
    )

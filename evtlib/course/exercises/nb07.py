"""Exercises of notebook 07, transactional outbox: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...broker import Broker
from ...patterns.outbox import OrderService, OutboxRelay
from ...patterns.outbox_scenarios import run_outbox_scenario
from ...sim import Simulation
from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.builds_04_07 import relay_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "rows_left_after_cleanup", "check_ex4"]


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


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: ``relay_once(conn, publish, now)``, one poll of the outbox relay, under relay crashes."""
    return build_check(
        "ex4",
        answer,
        run_one=relay_schedule,
        what="every saved order's event published, in outbox seq order, again only after a crash",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in relay_once(conn, publish, now): read the unsent rows (SELECT seq, payload FROM "
                "outbox WHERE sent_at IS NULL ORDER BY seq), publish(payload) each one and mark it sent "
                "(UPDATE outbox SET sent_at = ? WHERE seq = ?); then set answer = relay_once."
            ),
            "wrong": "a function relay_once(conn, publish, now) that publishes unsent outbox rows.",
            "missing": (
                "a saved order's event was never published: the relay died after marking its row sent and "
                "before publishing it. Publish first, then mark; a crash in between publishes it again, "
                "which idempotent consumers make harmless."
            ),
            "order": (
                "publish the unsent rows in the order of the outbox sequence (ORDER BY seq); with one "
                "writer, as here, that is commit order."
            ),
            "extra": (
                "an event went out again with no crash in between: mark each row sent (sent_at = now) right "
                "after publishing it, so the next poll skips it."
            ),
            "error": (
                "relay_once raised: the outbox columns are seq, id, payload, sent_at...; do not catch the "
                "exception publish raises when the relay dies."
            ),
            "near": "almost: look at the first breaking schedule's timeline around the relay's crash.",
        },
    )

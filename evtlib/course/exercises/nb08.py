"""Exercises of notebook 08, idempotent consumer: each ``check_exN(answer)`` prints and never raises."""

from __future__ import annotations

from typing import Any

from ...patterns.idempotent_scenarios import retention_demo
from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.duplicate_sources import MINUTE, resend
from ..scenarios.idempotency import billing_schedule

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4", "check_ex5", "RETENTIONS"]

#: The retention times (ms) exercise 2 chooses from.
RETENTIONS = (100, 250, 500, 1000)


def check_ex1(answer: Any) -> bool:
    """Which store recognises a redriven (republished) event as a duplicate?"""
    return check(
        "ex1",
        answer,
        "id-set",
        hint=(
            "'id-set' or 'position' (a str). A redrive puts the same event id at a new "
            "offset: which store compares ids, and which compares offsets?"
        ),
    )


def _shortest_safe_retention() -> float:
    return min(r for r in RETENTIONS if not retention_demo(r, 500).duplicate_applied)


def check_ex2(answer: Any) -> bool:
    """The shortest retention of :data:`RETENTIONS` that stops a duplicate arriving after 500 ms."""
    return check(
        "ex2",
        answer,
        test=lambda a: float(a) == _shortest_safe_retention(),
        hint=(
            "a number of ms, one of 100, 250, 500, 1000: run retention_demo(keep, 500) for each "
            "and look at .duplicate_applied (False means charged once)."
        ),
    )


def check_ex3(answer: Any) -> bool:
    """At which crash point does the non-atomic consumer charge twice?"""
    return check(
        "ex3",
        answer,
        "after-effect",
        hint=(
            "one of 'before-effect', 'after-effect', 'after-commit' (a str): the crash must "
            "fall after the charge was committed and before the processed row was."
        ),
    )


def _run_handler(handler: Any, seed: int, trace: bool) -> Any:
    return billing_schedule(handler, seed, trace)


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: an idempotent ``handler(conn, event)``, run under ``schedules`` fault schedules."""
    return build_check(
        "ex4",
        answer,
        run_one=_run_handler,
        what="every order charged exactly once",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in charge_once(conn, event), then set answer = charge_once. The processed"
                " table is there for you to remember what billing did, in the same transaction"
                " as the charge."
            ),
            "wrong": (
                "a duplicate (same event.id) must change nothing: remember each id in the"
                " processed table, through conn, and skip an id you find there."
            ),
            "extra": (
                "a duplicate (a redelivery, a network copy, a republish: the same event.id)"
                " was charged again. Insert event.id into processed and skip the event when"
                " it is already there; compare ids, not offsets or keys."
            ),
            "missing": (
                "an order was skipped although it was never charged: when billing crashes"
                " inside the transaction, the database rolls back the charge, but not what you"
                " kept outside it. Remember ids in the processed table through conn, not in"
                " Python memory, so the id rolls back with the charge."
            ),
            "error": (
                "your handler raised an exception on a delivery: run it on one event first."
                " The processed table has one column, event_id (its primary key)."
            ),
            "near": "almost: look at the first breaking schedule's timeline.",
        },
    )


def check_ex5(answer: Any) -> bool:
    """Charges for an order whose event SQS FIFO receives again 6 minutes after the first send."""
    return check(
        "ex5",
        answer,
        test=lambda a: a == resend("sqs-fifo", 6 * MINUTE, orders=1),
        hint=(
            "an int: SQS FIFO drops a deduplication id seen in the last 5 minutes, and only then. "
            "resend('sqs-fifo', 6 * 60_000, orders=1) counts the charges (from "
            "evtlib.course.scenarios.duplicate_sources); compare a resend after 4 minutes."
        ),
    )

"""Exercises of notebook 12, related styles: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..helpers import check
from ..scenarios.build_check import build_check
from ..scenarios.related_styles import handler_schedule, projection_schedule
from ..styles import shipping_labels, unique_usernames

__all__ = ["check_ex1", "check_ex2", "check_ex3", "check_ex4"]


def check_ex1(answer: Any) -> bool:
    """How many call-backs fail when the order service is down from 100 to 400 ms?"""
    return check(
        "ex1",
        answer,
        shipping_labels(False, down=(100, 400)).counts["failed callbacks"],
        hint=(
            "an int: run shipping_labels(False, down=(100, 400)) and read "
            ".counts['failed callbacks'] (shipping retries every 50 ms while it is down)."
        ),
    )


def _widest_gap() -> int:
    gap = 1
    while unique_usernames("event", gap=gap + 1).counts["accepted"] == 2:
        gap += 1
    return gap


def check_ex2(answer: Any) -> bool:
    """The largest whole number of ms between two sign-ups at which both still get 'ada'."""
    return check(
        "ex2",
        answer,
        _widest_gap(),
        hint=(
            "an int: try unique_usernames('event', gap=g) for g = 1, 2, 3... and read "
            ".counts['accepted']; 2 means the name was taken twice."
        ),
    )


def check_ex3(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: a projection ``fold(state, event)``, over ``schedules`` random event histories."""
    return build_check(
        "ex3",
        answer,
        run_one=projection_schedule,
        what="the view, every snapshot and every replay agree with the log",
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in available(state, event), then set answer = available. It returns the"
                " new state: units available per sku."
            ),
            "wrong": (
                "received adds the qty to its sku, reserved subtracts it, released adds it back;"
                " any other event type leaves the state as it is."
            ),
            "error": (
                "your fold raised on an event. A view meets event types it does not use (a"
                " PriceChanged has no qty): return the state unchanged for those."
            ),
            "mutated": (
                "your fold changed the state it was given, so a snapshot taken earlier changed"
                " too. Return a new dict ({**state, sku: ...}) and leave the old one alone."
            ),
            "replay": "replaying the log from {} gave another state: the fold must depend only on state and event.",
            "near": "almost: look at the first breaking history's timeline.",
        },
    )


def check_ex4(answer: Any, *, schedules: int = 200, draw: bool = True) -> bool:
    """Build: a command handler with optimistic concurrency, against racing writers."""
    return build_check(
        "ex4",
        answer,
        run_one=handler_schedule,
        what=("every event decided on the order as it was, each command applied once or refused"),
        schedules=schedules,
        draw=draw,
        hints={
            "none": (
                "fill in handle(orders, order_id, command, data), then set answer = handle. Load"
                " the order, decide, save with the version you loaded; on a ConcurrencyError,"
                " load again and decide again."
            ),
            "wrong": (
                "load (orders.load), decide (decide_order(order.state, command, data)), save"
                " (orders.save(order, changes)); catch ConcurrencyError and go round again, a"
                " few times."
            ),
            "stale": (
                "your save did not check the version (check=False appends whatever the stream"
                " holds now), so an event was decided on an order that had changed. Save with"
                " the version you loaded: the default."
            ),
            "gave-up": (
                "a ConcurrencyError means another writer appended first: load the order again,"
                " decide again on what it is now, and save again. Rivals may win more than once:"
                " retry up to 5 times."
            ),
            "lost": (
                "the command was never saved although the order allowed it: after a conflict,"
                " load the order again (a fresh orders.load) before deciding and saving again."
            ),
            "silent": (
                "when the order refuses the command, decide_order raises CommandRejected: let it"
                " through (do not catch it), so the caller knows. And after a conflict, load"
                " again: the fresh state may refuse what the stale one allowed."
            ),
            "twice": "save the command's events once: stop the loop when a save succeeds (return).",
            "error": (
                "your handler raised. Use orders.load and orders.save (orders.execute is the"
                " loop you are writing, so it is switched off here) and catch only"
                " ConcurrencyError."
            ),
            "near": "almost: it fails only when rivals win twice in a row; retry more than once.",
        },
    )

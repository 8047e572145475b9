"""Exercises of notebook 11, related styles: checks print, never raise."""

from __future__ import annotations

from typing import Any

from ..helpers import check
from ..styles import shipping_labels, unique_usernames

__all__ = ["check_ex1", "check_ex2"]


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

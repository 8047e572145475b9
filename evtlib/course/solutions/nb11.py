"""Solutions to notebook 11's exercises (related styles)."""

from __future__ import annotations

from ..styles import shipping_labels, unique_usernames


def ex1() -> int:
    """Read the count from the run itself."""
    return shipping_labels(False, down=(100, 400)).counts["failed callbacks"]


def ex2() -> int:
    """Widen the gap until the view has caught up before the second check."""
    gap = 1
    while unique_usernames("event", gap=gap + 1).counts["accepted"] == 2:
        gap += 1
    return gap

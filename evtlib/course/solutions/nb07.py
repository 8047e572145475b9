"""Solutions to notebook 07's exercises (idempotent consumer)."""

from __future__ import annotations

from ...patterns.idempotent_scenarios import retention_demo


def ex1() -> str:
    """Only the event id is the same in a republished copy; the offset is new."""
    return "id-set"


def ex2() -> float:
    """Ids must outlive the duplicate: 500 ms is kept until (not before) the duplicate arrives."""
    return min(r for r in (100, 250, 500, 1000) if not retention_demo(r, 500).duplicate_applied)


def ex3() -> str:
    """Between the charge's transaction and the processed row's: the row is missing."""
    return "after-effect"

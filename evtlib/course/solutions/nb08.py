"""Solutions to notebook 08's exercises (idempotent consumer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...patterns import charge_customer
from ...patterns.idempotent_scenarios import retention_demo
from ..scenarios.duplicate_sources import MINUTE, resend


def ex1() -> str:
    """Only the event id is the same in a republished copy; the offset is new."""
    return "id-set"


def ex2() -> float:
    """Ids must outlive the duplicate: 500 ms is kept until (not before) the duplicate arrives."""
    return min(r for r in (100, 250, 500, 1000) if not retention_demo(r, 500).duplicate_applied)


def ex3() -> str:
    """Between the charge's transaction and the processed row's: the row is missing."""
    return "after-effect"


def ex4() -> Callable[[Any, Any], None]:
    """The processed row and the charge in the caller's one transaction: both or neither."""

    def charge_once(conn: Any, event: Any) -> None:
        seen = conn.execute("SELECT 1 FROM processed WHERE event_id = ?", (event.id,))
        if seen.fetchone() is not None:
            return
        conn.execute("INSERT INTO processed (event_id) VALUES (?)", (event.id,))
        charge_customer(conn, event)

    return charge_once


def near_miss_ex4() -> Callable[[Any, Any], None]:
    """Ids kept in Python memory: a crash inside the transaction rolls the charge back, not the id."""
    seen: set[str] = set()

    def charge_once(conn: Any, event: Any) -> None:
        if event.id in seen:
            return
        seen.add(event.id)
        charge_customer(conn, event)

    return charge_once


def ex5() -> int:
    """Twice: 6 minutes is past SQS FIFO's 5-minute deduplication interval."""
    return resend("sqs-fifo", 6 * MINUTE, orders=1)

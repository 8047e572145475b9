"""Solutions to notebook 07's exercises (transactional outbox)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ...broker import Broker
from ...patterns.outbox import OrderService, OutboxRelay
from ...patterns.outbox_scenarios import run_outbox_scenario
from ...sim import Simulation


def ex1() -> str:
    """Published, then the relay died before writing ``sent_at``: it publishes the row again."""
    return "relay-after-publish"


def ex2() -> int:
    """One duplicate per crash between publish and mark."""
    return run_outbox_scenario(
        0, crash_points={"relay-after-publish": [1, 2, 3]}, n_orders=8
    ).duplicates


def ex3() -> int:
    """The two unsent rows stay: clean-up never deletes what was not published."""
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


def ex4() -> Callable[[sqlite3.Connection, Callable[[str], None], float], None]:
    """Unsent rows in seq order: publish, then mark sent (a crash in between republishes)."""

    def relay_once(conn: sqlite3.Connection, publish: Callable[[str], None], now: float) -> None:
        rows = conn.execute(
            "SELECT seq, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq"
        ).fetchall()
        for seq, payload in rows:
            publish(payload)
            conn.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (now, seq))

    return relay_once


def near_miss_ex4() -> Callable[[sqlite3.Connection, Callable[[str], None], float], None]:
    """Mark first, publish after: a crash in between loses the event (at-most-once)."""

    def relay_once(conn: sqlite3.Connection, publish: Callable[[str], None], now: float) -> None:
        rows = conn.execute(
            "SELECT seq, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq"
        ).fetchall()
        for seq, payload in rows:
            conn.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (now, seq))
            publish(payload)

    return relay_once

"""Delivery guarantees (notebook 04): a crash under each mode, slowness, an outage, back-pressure."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Exponential, Rate
from ...faults import crash, pause
from ...producer import Producer
from ...sim import Simulation
from .base import Run, key_of, make_order

__all__ = [
    "billing_crash",
    "charge_tally",
    "slow_email",
    "consumer_outage",
    "backpressure",
]


def billing_crash(
    delivery: Literal["at-least-once", "at-most-once"] = "at-least-once",
    *,
    seed: int = 1,
    orders: int = 20,
    rate: float = 100.0,
    service_ms: float = 10.0,
    crash_at: float = 85.0,
    restart_after: float = 50.0,
    commit_every: int = 5,
) -> Run:
    """Billing charges one card per ``OrderPlaced`` and crashes once, mid-work.

    The shop publishes ``orders`` orders at ``rate`` a second; billing takes
    ``service_ms`` per charge and commits every ``commit_every`` charges (or
    when it catches up).  It crashes at ``crash_at`` ms and restarts
    ``restart_after`` ms later.  ``effects`` are the orders charged, in
    order: the same crash loses one under ``"at-most-once"`` and charges
    some twice under ``"at-least-once"``.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    charged: list[str] = []
    billing = Consumer(
        broker,
        "billing",
        "orders",
        lambda e: charged.append(key_of(e)),
        service_time=service_ms,
        delivery=delivery,
        commit_every=commit_every,
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), count=orders, make=make_order)
    crash(sim, billing, at=crash_at, restart_after=restart_after)
    sim.run()
    return Run(sim, broker, shop_, (billing,), tuple(charged))


def charge_tally(run: Run) -> dict[str, int]:
    """How many orders were charged once, more than once, and never."""
    counts = Counter(run.effects)
    out = {"charged once": 0, "charged twice": 0, "never charged": 0}
    for event in run.producer.emitted:
        n = counts.get(key_of(event), 0)
        if n == 0:
            out["never charged"] += 1
        elif n == 1:
            out["charged once"] += 1
        else:
            out["charged twice"] += 1
    return out


def slow_email(*, seed: int = 27, orders: int = 12, ack_timeout: float = 40.0) -> Run:
    """The e-mail service sometimes takes longer than its ``ack_timeout``.

    Sending takes 15 ms on average (exponential: mostly quick, now and then
    slow).  A delivery not acknowledged within ``ack_timeout`` ms is given up
    and delivered again, while the slow first attempt still finishes: the
    customer gets the e-mail twice.  ``effects`` are the orders e-mailed.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    sent: list[str] = []
    email = Consumer(
        broker,
        "email",
        "orders",
        lambda e: sent.append(key_of(e)),
        service_time=Exponential(15.0),
        ack_timeout=ack_timeout,
    )
    shop_ = Producer(broker, "shop", "orders", Rate(20.0), count=orders, make=make_order)
    sim.run()
    return Run(sim, broker, shop_, (email,), tuple(sent))


def consumer_outage(
    *,
    seed: int = 3,
    rate: float = 50.0,
    service_ms: float = 5.0,
    down_at: float = 500.0,
    down_for: float = 600.0,
    until: float = 2000.0,
) -> Run:
    """Shipping is down for ``down_for`` ms; orders wait in the broker meanwhile.

    Orders arrive at ``rate`` a second until ``until`` ms.  Shipping crashes
    at ``down_at`` and restarts ``down_for`` ms later, then works through the
    backlog faster than orders arrive (``service_ms`` per order).
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    shipped: list[str] = []
    shipping = Consumer(
        broker, "shipping", "orders", lambda e: shipped.append(key_of(e)), service_time=service_ms
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), until=until, make=make_order)
    crash(sim, shipping, at=down_at, restart_after=down_for)
    sim.run()
    return Run(sim, broker, shop_, (shipping,), tuple(shipped))


def backpressure(
    policy: Literal["block", "reject", "drop-oldest"] = "block",
    *,
    seed: int = 3,
    capacity: int = 10,
    orders: int = 100,
    rate: float = 50.0,
    pause_at: float = 500.0,
    pause_for: float = 600.0,
) -> Run:
    """A bounded buffer (``capacity`` waiting events) meets a paused consumer.

    Shipping pauses at ``pause_at`` for ``pause_for`` ms while the shop keeps
    publishing ``orders`` orders at ``rate`` a second.  The topic's
    ``policy`` decides what a full buffer does: ``"block"`` makes the shop
    wait, ``"reject"`` refuses orders, ``"drop-oldest"`` discards waiting
    ones.  ``info`` has ``published``, ``rejected``, ``dropped``,
    ``handled`` and ``blocked_ms``.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", capacity=capacity, policy=policy)
    shipped: list[str] = []
    shipping = Consumer(
        broker, "shipping", "orders", lambda e: shipped.append(key_of(e)), service_time=5.0
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), count=orders, make=make_order)
    pause(sim, shipping, at=pause_at, duration=pause_for)
    sim.run()
    stats = shipping.group.stats()
    info = {
        "published": shop_.published,
        "rejected": shop_.rejected,
        "dropped": stats["dropped"],
        "handled": stats["handled"],
        "blocked_ms": shop_.blocked_ms,
        "finished_at": sim.now,
    }
    return Run(sim, broker, shop_, (shipping,), tuple(shipped), info)

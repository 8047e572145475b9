"""Checks for the exercises of notebook 02 (producers, consumers, broker).

Exercise 3 runs a small seeded simulation with the learner's key function:
three events per order, a topic of three partitions and a group of three
consumers with random service times, then checks per-order order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Schedule, Uniform
from ...producer import Producer
from ...sim import Simulation
from ..helpers import check

__all__ = [
    "LIFECYCLE",
    "key_order_report",
    "check_ex1",
    "check_ex2",
    "check_ex3",
    "check_ex4",
    "check_ex5",
]

#: Exercise 3: what happens to every order, in this order.
LIFECYCLE = ("OrderPlaced", "OrderPaid", "OrderShipped")


def check_ex1(answer: Any) -> bool:
    """4 partitions, 100 events; groups email (1), shipping (3), analytics (6): handled in total?"""
    return check(
        "ex1",
        answer,
        expected=300,
        hint="Every group gets every event (fan-out); inside a group each event is handled "
        "by one member only (competing consumers). Count groups, not consumers.",
    )


def check_ex2(answer: Any) -> bool:
    """Same set-up: how many consumers own no partition at all?"""
    return check(
        "ex2",
        answer,
        expected=2,
        hint="Inside one group a partition has exactly one owner. A group with more members "
        "than partitions leaves some members idle. Look at each group separately.",
    )


def key_order_report(key: Callable[[str, dict], str | None], *, seed: int = 3) -> dict[str, Any]:
    """Run 8 orders x :data:`LIFECYCLE` with ``key(type, data)`` as the partition key.

    Returns ``{"out_of_order": [order ids handled out of order], "partitions_used": n}``.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders", partitions=3)
    # Each order's three events are published back to back, 1 ms apart.
    steps = [(i, t) for i in range(1, 9) for t in LIFECYCLE]

    def make(i: int, rng: Any) -> tuple[str, str | None, dict]:
        order, type_ = steps[i - 1]
        data = {"order_id": f"order-{order}", "customer_id": f"customer-{order % 4}"}
        return type_, key(type_, dict(data)), data

    Producer(broker, "order-service", "orders", Schedule(range(len(steps))), make=make)
    seen: dict[str, list[str]] = {}
    for n in range(3):
        Consumer(
            broker,
            f"shipping-{n + 1}",
            "orders",
            lambda e: seen.setdefault(e.data["order_id"], []).append(e.type),
            group="shipping",
            service_time=Uniform(1, 20),
        )
    sim.run()
    bad = [o for o, types in seen.items() if tuple(types) != LIFECYCLE]
    used = sum(1 for end in broker.end_offsets("orders") if end)
    return {"out_of_order": sorted(bad), "partitions_used": used}


def check_ex3(answer: Any) -> bool:
    """``answer(type, data) -> key``: keeps each order's events in order *and* spreads the load."""
    hint = (
        "Answer with a function key(type, data) returning the partition key. Events with the "
        "same key share a partition, and a partition keeps its order. Which field names the "
        "thing whose events must stay in order?"
    )
    report: dict[str, Any] | None = None
    if callable(answer):
        try:
            report = key_order_report(answer)
        except Exception as exc:  # the learner's function failed: a hint, not a traceback
            hint += f" Running it raised {type(exc).__name__}: {exc}."
            report = {"out_of_order": ["(not run)"], "partitions_used": 0}
        else:
            if report["out_of_order"]:
                hint += f" These orders were handled out of order: {report['out_of_order']}."
            elif report["partitions_used"] < 3:
                hint += (
                    f" Order holds, but only {report['partitions_used']} of 3 partitions got "
                    "events, so some consumers of the group sit idle."
                )
    elif answer is not None:
        hint += " Answer with a function, not a value."
        report = {"out_of_order": ["(not run)"], "partitions_used": 0}
    return check(
        "ex3",
        report,
        hint=hint,
        test=lambda r: not r["out_of_order"] and r["partitions_used"] == 3,
    )


def check_ex4(answer: Any) -> bool:
    """Which ``start=`` makes a new group also read the orders placed before it existed?"""
    return check(
        "ex4",
        answer,
        expected="earliest",
        hint="A new group starts either at the beginning of each partition's log or at its "
        "end. Answer with the string you would pass as broker.group(..., start=...).",
    )


def check_ex5(answer: Any) -> bool:
    """Retention 50 ms, an ``audit`` group joins at t=120 ms from ``earliest``: how many of 30?"""
    from ..scenarios.partitions import retention_run

    return check(
        "ex5",
        answer,
        expected=retention_run(retention=50, join_at=120).info["handled"],
        hint="an int: at t=120 ms the log keeps only orders younger than 50 ms; 'earliest' is the"
        " oldest one still kept (orders arrive every 5 ms from t=0). You can run"
        " retention_run(retention=50, join_at=120) and read .info.",
    )

"""Notebook 13 (on a real broker): explorers on the simulated counterparts of what it runs.

Notebook 13 runs on a live RabbitMQ, where a slider would wait for the
network.  Its explorers turn the same knobs on the simulated brokers, whose
profiles carry RabbitMQ's and Kafka's own defaults:

* :func:`delivery_limit_run`: a quorum queue (profile ``"rabbitmq"``) with a
  handler that fails some of the time; ``x-delivery-limit`` decides how many
  messages the broker dead-letters.
* :func:`guard_schedule`: the build exercise, a poison-message guard for
  billing on a quorum queue, run under fault schedules.
* :func:`retention_run`: a log (profile ``"kafka"``, as RabbitMQ streams are
  one) with a retention time and a group that joins late with
  ``start="earliest"``: what it can still read.

Both are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...events import Event
from ...sim import Simulation

__all__ = [
    "delivery_limit_run",
    "draw_delivery_limit_run",
    "retention_run",
    "draw_retention_run",
    "guard_schedule",
    "PaymentTimeout",
]

MESSAGES = 40


def delivery_limit_run(limit: int = 20, failure_rate: float = 0.5, seed: int = 0) -> dict[str, int]:
    """40 messages on a simulated quorum queue whose handler fails with ``failure_rate``.

    Returns the counts: ``handled``, ``dead-lettered`` (past ``x-delivery-limit``)
    and ``redelivered`` (deliveries after a failure).
    """
    checks.integer("limit", limit, min=1, max=100)
    checks.probability("failure_rate", failure_rate)
    sim = Simulation(seed, trace=False)
    broker = Broker(sim, profile="rabbitmq", settings={"x-delivery-limit": limit})
    broker.create_topic("orders")
    rng = sim.rng_for("handler")

    def charge(event: Event) -> None:
        if rng.random() < failure_rate:
            raise RuntimeError("the payment provider timed out")

    Consumer(broker, "billing", "orders", charge, service_time=2, retry_delay=0)
    for i in range(MESSAGES):
        sim.schedule(
            i * 5.0, broker.publish, "orders", Event(id=f"e{i}", type="OrderPlaced", time=i * 5.0)
        )
    sim.run()
    stats = broker.groups["billing"].stats()
    return {
        "handled": int(stats["handled_first"]),
        "dead-lettered": int(stats["dead_lettered"]),
        "redelivered": int(stats["redelivered"]),
    }


def draw_delivery_limit_run(counts: dict[str, int], ax: Any = None) -> Any:
    """The messages' fates, as bars."""
    from ...viz.patterns import draw_tallies

    return draw_tallies(
        {"quorum queue (simulated)": counts},
        ax,
        order=("handled", "dead-lettered", "redelivered"),
        ylabel="messages",
        title=f"{MESSAGES} messages, a handler that fails some of the time",
    )


def retention_run(retention_s: float = 10.0, late_by_s: float = 5.0) -> dict[str, int]:
    """A log with ``retention_s`` seconds of retention; one event a second for 30 s.

    A group joins ``late_by_s`` seconds after the last event, with
    ``start="earliest"``.  Returns ``published``, ``read`` (what the late group
    handled) and ``expired`` (deleted by retention before it came).
    """
    checks.number("retention_s", retention_s, above=0)
    checks.number("late_by_s", late_by_s, min=0)
    sim = Simulation(0, trace=False)
    broker = Broker(sim)
    broker.create_topic("page-views", retention=retention_s * 1000.0)
    for i in range(30):
        sim.schedule(
            i * 1000.0,
            broker.publish,
            "page-views",
            Event(id=f"v{i}", type="PageViewed", time=i * 1000.0),
        )
    join_at = 29_000.0 + late_by_s * 1000.0

    def join() -> None:
        broker.group("late", start="earliest")
        Consumer(broker, "late", "page-views", group="late")

    sim.schedule(join_at, join)
    sim.run()
    stats = broker.groups["late"].stats()
    return {
        "published": 30,
        "read": int(stats["handled"]),
        "expired": 30 - int(stats["handled"]),
    }


def draw_retention_run(counts: dict[str, int], ax: Any = None) -> Any:
    """What a late group could still read, as bars."""
    from ...viz.patterns import draw_tallies

    return draw_tallies(
        {"late group, start='earliest'": counts},
        ax,
        order=("published", "read", "expired"),
        ylabel="events",
        title="a late group reading a log from its start",
    )


# -- the build exercise: a poison-message guard on a quorum queue ---------------------


class PaymentTimeout(RuntimeError):
    """The payment provider did not answer in time: a retry may well succeed."""


def _charge(event: Event, timeouts: dict[str, int], charged: list[str]) -> None:
    total = event.data["total"]  # KeyError for an order without a total
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        raise TypeError(f"total must be a number, got {total!r}")
    if total <= 0:
        raise ValueError(f"total must be > 0, got {total!r}")
    if timeouts.get(event.id, 0) > 0:  # the provider is slow for this order, a few times
        timeouts[event.id] -= 1
        raise PaymentTimeout("the payment provider did not answer in time")
    charged.append(event.id)


def guard_schedule(valid: Any, seed: int, trace: bool = False) -> Any:
    """One seeded run of billing on a simulated quorum queue, ``valid(event)`` as its guard.

    Twelve orders, some of them poison (no total, a total that is not a
    number, a total <= 0); the payment provider times out on some orders, up
    to twice each.
    Billing is a :class:`~evtlib.patterns.DeadLetterConsumer`: a guard that
    says False dead-letters the order at once; a failure is retried up to 5
    times.  Returns the first invariant broken, as a
    :class:`~evtlib.course.scenarios.build_check.Breach`, or None.
    """
    from ...patterns import DeadLetterConsumer, RetryPolicy
    from .build_check import Breach

    sim = Simulation(seed, trace=trace)
    broker = Broker(sim, profile="rabbitmq")
    broker.create_topic("orders")
    broker.create_topic("orders.dlq")
    rng = sim.rng_for("orders")
    timeouts: dict[str, int] = {}
    charged: list[str] = []
    billing = DeadLetterConsumer(
        broker,
        "billing",
        "orders",
        lambda e: _charge(e, timeouts, charged),
        policy=RetryPolicy(5, backoff="fixed", base=10.0, jitter="none"),
        dlq="orders.dlq",
        validator=valid,
        service_time=2,
    )
    poison: set[str] = set()
    for i in range(12):
        kind = rng.choice(("ok", "ok", "ok", "ok", "missing", "text", "zero", "negative"))
        data: dict[str, Any] = {"order_id": f"order-{i}"}
        if kind == "ok":
            data["total"] = rng.randint(1, 90)
        elif kind == "text":
            data["total"] = "twelve"
        elif kind == "zero":
            data["total"] = 0
        elif kind == "negative":
            data["total"] = -rng.randint(1, 90)
        event = Event(
            id=f"evt-{i:03d}", type="OrderPlaced", time=i * 5.0, key=f"order-{i}", data=data
        )
        if kind != "ok":
            poison.add(event.id)
        timeouts[event.id] = rng.choice((0, 0, 1, 2))
        sim.schedule(i * 5.0, broker.publish, "orders", event)
    sim.run()
    tr = sim.trace if trace else None
    letters = {r.event.id: r for r in billing.dead_letters}
    for eid in sorted(set(letters) - poison):
        return Breach(
            seed,
            "no good order dead-lettered",
            "rejected-good",
            f"{eid} could be charged but was dead-lettered ({letters[eid].reason})",
            tr,
        )
    for eid in sorted(poison):
        record = letters.get(eid)
        if record is None:
            return Breach(
                seed,
                "every poison order dead-lettered",
                "missing",
                f"{eid} was never dead-lettered",
                tr,
            )
        if record.reason != "rejected":
            return Breach(
                seed,
                "a poison order goes at once",
                "retried",
                f"{eid} was tried {record.attempts} times before it was dead-lettered",
                tr,
            )
    for i in range(12):
        eid = f"evt-{i:03d}"
        if eid not in poison and eid not in charged:
            return Breach(
                seed, "every good order charged", "missing", f"{eid} was never charged", tr
            )
    return None

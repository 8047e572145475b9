"""The idempotent consumer's demonstrations: retention, and a sweep of fault schedules.

:func:`retention_demo` shows a late duplicate slipping past a store that
forgot its id; :func:`idempotent_sweep` runs every variant in
:data:`SWEEP_TWINS` under many random fault schedules and tallies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from .. import checks
from ..broker import Broker, NetworkFaults
from ..distributions import Uniform
from ..events import Event
from ..faults import crash
from ..sim import Simulation
from .idempotent import (
    IDEMPOTENT_CRASH_POINTS,
    LEDGER_SCHEMA,
    IdempotentConsumer,
    NaiveConsumer,
    charge_customer,
    ledger,
)
from .idempotent_stores import (
    MemoryIdStore,
    ProcessedStore,
    SqliteIdStore,
    SqlitePositionStore,
    check_retention,
)

__all__ = ["RetentionDemo", "retention_demo", "idempotent_sweep", "SWEEP_TWINS"]


@dataclass(frozen=True)
class RetentionDemo:
    """What :func:`retention_demo` found: was the late duplicate applied again?"""

    retention_ms: float
    redelivered_after_ms: float
    applied: int
    skipped: int
    charged: float
    expected: float
    trace: tuple[str, ...]

    @property
    def duplicate_applied(self) -> bool:
        return self.charged != self.expected


def retention_demo(
    retention_ms: float, redelivered_after_ms: float, seed: int = 0
) -> RetentionDemo:
    """One order, charged by an idempotent consumer, then delivered again later.

    The same ``OrderPlaced`` event is published again ``redelivered_after_ms``
    ms after the first time (as an outbox relay does after a crash, or a
    redrive from a dead-letter queue).  The store forgets ids older than
    ``retention_ms``: with a retention shorter than the redelivery window
    the id is gone and the customer is charged twice.
    """
    retention = check_retention(retention_ms)
    if retention is None:
        raise ValueError("retention_ms must be a number of ms >= 0, got None")
    if (
        isinstance(redelivered_after_ms, bool)
        or not isinstance(redelivered_after_ms, (int, float))
        or not redelivered_after_ms > 0
    ):
        raise ValueError(
            f"redelivered_after_ms must be a number of ms > 0, got {redelivered_after_ms!r}"
        )
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("orders")
    store = SqliteIdStore(schema=LEDGER_SCHEMA, retention_ms=retention)
    billing = IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    event = Event(
        id=sim.next_id("evt"),
        type="OrderPlaced",
        time=0.0,
        source="orders",
        key="order-000001",
        data={"order_id": "order-000001", "customer": "ada", "total": 30},
    )
    broker.publish("orders", event, actor="relay")
    # The relay publishes the same event again (say, after a crash before marking it sent).
    sim.schedule(redelivered_after_ms, partial(broker.publish, actor="relay"), "orders", event)
    sim.run()
    charged = ledger(store)["balances"].get("ada", 0)
    return RetentionDemo(
        retention_ms=retention,
        redelivered_after_ms=float(redelivered_after_ms),
        applied=billing.applied,
        skipped=billing.skipped,
        charged=charged,
        expected=30,
        trace=tuple(r.sentence() for r in sim.trace),
    )


#: The variants :func:`idempotent_sweep` compares.
SWEEP_TWINS = ("naive", "id-set", "position", "memory", "id-set non-atomic")


def _sweep_store(twin: str) -> ProcessedStore:
    if twin == "memory":
        return MemoryIdStore()
    if twin == "position":
        return SqlitePositionStore(schema=LEDGER_SCHEMA)
    return SqliteIdStore(schema=LEDGER_SCHEMA)


def _schedule_run(seed: int, twin: str, n_events: int = 6) -> dict[str, Any]:
    """One random fault schedule for one twin: what it charged vs. what it should have."""
    sim = Simulation(seed, trace=False)
    rng = sim.rng_for("fault-schedule")
    republish = rng.random() < 0.5
    faults = NetworkFaults(duplicate=rng.choice((0.0, 0.2)), drop=rng.choice((0.0, 0.1)))
    broker = Broker(sim, latency=Uniform(1, 5), faults=faults)
    broker.create_topic("orders", partitions=2)
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("billing", session_timeout=0)
    plan = {
        p: [v for v in range(1, n_events + 1) if rng.random() < 0.15]
        for p in IDEMPOTENT_CRASH_POINTS
    }
    store = _sweep_store(twin)
    kwargs: dict[str, Any] = {"service_time": Uniform(1, 10), "crash_at": plan}
    if rng.random() < 0.3:
        kwargs["ack_timeout"] = 9.0
    if twin == "naive":
        consumer: IdempotentConsumer | NaiveConsumer = NaiveConsumer(
            broker, "billing", "orders", charge_customer, store, **kwargs
        )
    else:
        consumer = IdempotentConsumer(
            broker,
            "billing",
            "orders",
            charge_customer,
            store,
            atomic=twin != "id-set non-atomic",
            **kwargs,
        )
    events = []
    t = 0.0
    for i in range(1, n_events + 1):
        t += rng.choice((5, 20, 60))
        e = Event(
            id=f"evt-{i:06d}",
            type="OrderPlaced",
            time=t,
            source="orders",
            key=f"order-{i:06d}",
            data={"order_id": f"order-{i:06d}", "customer": f"c{i % 3}", "total": 10 * i},
        )
        events.append(e)
        sim.schedule_at(t, broker.publish, "orders", e)
        if republish and rng.random() < 0.4:
            sim.schedule_at(t + rng.choice((1, 30, 200)), broker.publish, "orders", e)
    if rng.random() < 0.5:
        crash(sim, consumer, at=rng.uniform(0, t), restart_after=rng.choice((10, 100)))
    sim.run(until=t + 5000)
    state = ledger(store)
    expected: dict[str, float] = {}
    for e in events:
        expected[e.data["customer"]] = expected.get(e.data["customer"], 0) + e.data["total"]
    got_charges = sorted(state["charges"])
    want = sorted(e.id for e in events)
    extra = len(got_charges) - len(set(got_charges)) + len(set(got_charges) - set(want))
    missing = len(set(want) - set(got_charges))
    return {
        "ok": state["balances"] == expected and got_charges == want,
        "extra_charges": extra,
        "missing_charges": missing,
        "republish": republish,
        "crashed": consumer.epoch > 0,
        "finished": consumer.group.lag() == 0,
    }


def idempotent_sweep(n_schedules: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Tally every consumer variant over ``n_schedules`` random fault schedules.

    Each schedule (seeds ``seed..``) mixes network duplicates and drops, ack
    timeouts, crash points, a consumer crash and, on about half of them,
    the same event published twice (as an outbox relay does).  Returns
    ``{"schedules": n, "<variant>": {"failed_schedules",
    "failed_with_republish", "failed_with_crash", "extra_charges",
    "missing_charges", "unfinished"}, ...}``.  The ``memory`` variant's ids
    die with its process, so it fails where the consumer crashed.
    """
    checks.integer("n_schedules", n_schedules, min=1)
    keys = (
        "failed_schedules",
        "failed_with_republish",
        "failed_with_crash",
        "extra_charges",
        "missing_charges",
        "unfinished",
    )
    tallies: dict[str, Any] = {"schedules": n_schedules}
    for twin in SWEEP_TWINS:
        t = tallies[twin] = dict.fromkeys(keys, 0)
        for i in range(n_schedules):
            r = _schedule_run(seed + i, twin)
            t["failed_schedules"] += not r["ok"]
            t["failed_with_republish"] += (not r["ok"]) and r["republish"]
            t["failed_with_crash"] += (not r["ok"]) and r["crashed"]
            t["extra_charges"] += r["extra_charges"]
            t["missing_charges"] += r["missing_charges"]
            t["unfinished"] += not r["finished"]
    return tallies

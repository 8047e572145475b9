"""Notebook 08 (idempotent consumer): explorers and the build exercise's fault sweep.

* :func:`republish_run`: five orders, billing idempotent on an id-set or a
  position store, the relay publishing one order again later; what each
  customer was charged (explorer: store, retention, republish delay).
* :func:`variant_sweep`: the consumer variants through a few random fault
  schedules whose fault rates are the knobs (explorer).
* :func:`billing_schedule`: one seeded fault schedule around a learner's
  ``handler(conn, event)``, checking that every order is charged exactly
  once (the build exercise of notebook 08, via
  :func:`~evtlib.course.scenarios.build_check.build_check`).

All are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ... import checks
from ...broker import Broker, NetworkFaults
from ...consumer import Consumer, Delivery
from ...distributions import Uniform
from ...events import Event
from ...faults import crash
from ...patterns import (
    LEDGER_SCHEMA,
    IdempotentConsumer,
    NaiveConsumer,
    SqliteIdStore,
    SqlitePositionStore,
    charge_customer,
    ledger,
)
from ...patterns.crashes import SimulatedCrash
from ...patterns.sqlite import transaction
from ...sim import URGENT, Simulation
from .build_check import Breach

__all__ = [
    "ORDERS",
    "RepublishRun",
    "republish_run",
    "draw_republish_run",
    "VARIANTS",
    "variant_sweep",
    "draw_variant_sweep",
    "BUILD_SCHEMA",
    "billing_schedule",
]

#: The five orders of notebook 08: (customer, total).
ORDERS = (("ada", 30), ("bob", 20), ("ada", 15), ("cy", 40), ("bob", 25))


def _order_event(
    i: int, customer: str, total: float, t: float, prefix: str = "evt", **extra: Any
) -> Event:
    return Event(
        id=f"{prefix}-{i:06d}",
        type="OrderPlaced",
        time=t,
        source="orders",
        key=f"order-{i:06d}",
        data={"order_id": f"order-{i:06d}", "customer": customer, "total": total, **extra},
    )


@dataclass(frozen=True)
class RepublishRun:
    """What :func:`republish_run` found: each customer's charge against what is due."""

    store: str
    retention_ms: float | None
    republish_after_ms: float
    charged: dict[str, float]
    expected: dict[str, float]
    applied: int
    skipped: int
    forgotten: int

    @property
    def extra(self) -> float:
        return sum(self.charged.values()) - sum(self.expected.values())


def republish_run(
    store: str = "id-set", retention_ms: float = 1000, republish_after_ms: float = 200
) -> RepublishRun:
    """Five orders 40 ms apart; the relay publishes ada's second order again later.

    ``store`` is ``"id-set"`` (a processed table that forgets ids older than
    ``retention_ms``) or ``"position"`` (one position per partition, no
    retention).  The republished copy is the same event at a new offset,
    ``republish_after_ms`` after the original.
    """
    checks.one_of("store", store, ("id-set", "position"))
    checks.number("retention_ms", retention_ms, min=0)
    checks.number("republish_after_ms", republish_after_ms, min=0)
    sim = Simulation(seed=7, trace=False)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders")
    chosen = (
        SqliteIdStore(schema=LEDGER_SCHEMA, retention_ms=retention_ms)
        if store == "id-set"
        else SqlitePositionStore(schema=LEDGER_SCHEMA)
    )
    billing = IdempotentConsumer(broker, "billing", "orders", charge_customer, chosen)
    expected: dict[str, float] = {}
    for i, (customer, total) in enumerate(ORDERS, start=1):
        t = 10.0 + 40 * (i - 1)
        event = _order_event(i, customer, total, t)
        sim.schedule_at(t, partial(broker.publish, actor="relay"), "orders", event)
        if i == 3:
            sim.schedule_at(
                t + republish_after_ms, partial(broker.publish, actor="relay"), "orders", event
            )
        expected[customer] = expected.get(customer, 0) + total
    sim.run()
    return RepublishRun(
        store=store,
        retention_ms=float(retention_ms) if store == "id-set" else None,
        republish_after_ms=float(republish_after_ms),
        charged=ledger(chosen)["balances"],
        expected=dict(sorted(expected.items())),
        applied=billing.applied,
        skipped=billing.skipped,
        forgotten=getattr(chosen, "forgotten", 0),
    )


def draw_republish_run(run: RepublishRun, ax: Any = None) -> Any:
    """Charged vs due per customer, as grouped bars; the title says the verdict."""
    from ...viz.patterns import draw_tallies

    keep = "" if run.retention_ms is None else f", ids kept {run.retention_ms:g} ms"
    verdict = "charged once" if run.extra == 0 else f"{run.extra:g} charged too much"
    return draw_tallies(
        {"what the orders say": run.expected, f"charged ({run.store})": run.charged},
        ax,
        ylabel="charged",
        title=f"{run.store}{keep}, republished after {run.republish_after_ms:g} ms: {verdict}",
    )


#: The variants :func:`variant_sweep` compares.
VARIANTS = ("naive", "id-set", "position", "id-set non-atomic")


def _variant_schedule(
    seed: int, variant: str, *, republish: float, duplicate: float, crashes: float
) -> dict[str, int]:
    sim = Simulation(seed, trace=False)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim, latency=Uniform(1, 5), faults=NetworkFaults(duplicate=duplicate))
    broker.create_topic("orders", partitions=2)
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("billing", session_timeout=0)
    plan = {
        p: [v for v in range(1, 7) if rng.random() < crashes]
        for p in ("before-effect", "after-effect", "after-commit")
    }
    store = (
        SqlitePositionStore(schema=LEDGER_SCHEMA)
        if variant == "position"
        else SqliteIdStore(schema=LEDGER_SCHEMA)
    )
    kwargs: dict[str, Any] = {"service_time": Uniform(1, 10), "crash_at": plan}
    if variant == "naive":
        NaiveConsumer(broker, "billing", "orders", charge_customer, store, **kwargs)
    else:
        atomic = variant != "id-set non-atomic"
        IdempotentConsumer(
            broker, "billing", "orders", charge_customer, store, atomic=atomic, **kwargs
        )
    want, t = [], 0.0
    for i in range(1, 7):
        t += rng.choice((5, 20, 60))
        e = _order_event(i, f"c{i % 3}", 10 * i, t)
        want.append(e.id)
        sim.schedule_at(t, broker.publish, "orders", e)
        if rng.random() < republish:
            sim.schedule_at(t + rng.choice((1, 30, 200)), broker.publish, "orders", e)
    sim.run(until=t + 3000)
    got = Counter(ledger(store)["charges"])
    extra = sum(n - 1 for n in got.values() if n > 1)
    missing = sum(1 for e in want if e not in got)
    return {
        "failed schedules": int(extra > 0 or missing > 0),
        "extra charges": extra,
        "missing charges": missing,
    }


def variant_sweep(
    republish: float = 0.3,
    duplicate: float = 0.1,
    crashes: float = 0.15,
    seed: int = 0,
    schedules: int = 12,
) -> dict[str, dict[str, int]]:
    """Each of :data:`VARIANTS` through ``schedules`` random fault schedules.

    The knobs are fault rates: ``republish`` (the share of orders the relay
    publishes twice), ``duplicate`` (the network delivers twice), ``crashes``
    (the chance of each crash point firing on each visit).  Returns
    ``{variant: {"failed schedules", "extra charges", "missing charges"}}``.
    """
    for name, value in (("republish", republish), ("duplicate", duplicate), ("crashes", crashes)):
        checks.probability(name, value)
    checks.integer("seed", seed, min=0)
    checks.integer("schedules", schedules, min=1)
    out: dict[str, dict[str, int]] = {}
    for variant in VARIANTS:
        tally: Counter[str] = Counter()
        for s in range(seed, seed + schedules):
            tally.update(
                _variant_schedule(
                    s, variant, republish=republish, duplicate=duplicate, crashes=crashes
                )
            )
        out[variant] = {
            k: tally[k] for k in ("failed schedules", "extra charges", "missing charges")
        }
    return out


def draw_variant_sweep(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """Grouped bars: failed schedules, extra and missing charges per variant."""
    from ...viz.patterns import draw_tallies

    return draw_tallies(
        tallies,
        ax,
        order=("failed schedules", "extra charges", "missing charges"),
        ylabel="count",
        title="random fault schedules: who charged a customer wrongly",
    )


# ---------------------------------------------------------------- the build exercise

#: The learner's database: the ledger of notebook 08 and an empty ``processed`` table.
BUILD_SCHEMA = LEDGER_SCHEMA + "CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY);"


@dataclass
class _Faults:
    inside: set[int] = field(default_factory=set)  # crash before the transaction commits
    after: set[int] = field(default_factory=set)  # crash after it commits, before the offset
    fired: set[tuple[str, int]] = field(default_factory=set)


class _LearnerBilling(Consumer):
    """Billing running ``handler(conn, event)`` in one transaction per delivery, with crashes."""

    def __init__(
        self, broker: Broker, handler: Callable[..., Any], db: sqlite3.Connection, faults: _Faults
    ) -> None:
        self.fn = handler
        self.db = db
        self.faults = faults
        self.error: BaseException | None = None
        super().__init__(broker, "billing", "orders", None, service_time=Uniform(1, 10))

    def _crash(self, where: str, delivery: Delivery) -> None:
        sim = self.sim
        sim.trace.record(
            sim.now,
            "crash-point",
            self.name,
            delivery.event.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            where,
        )
        sim.schedule(0, self._go_down, priority=URGENT)
        raise SimulatedCrash(where, 1)

    def _go_down(self) -> None:
        if self.alive:
            crash(self.sim, self, at=self.sim.now, restart_after=40)

    def process(self, delivery: Delivery) -> None:
        n = int(delivery.event.data["n"])
        f = self.faults
        with transaction(self.db):
            try:
                self.fn(self.db, delivery.event)
            except Exception as exc:
                if self.error is None:
                    self.error = exc
                raise
            if n in f.inside and ("inside", n) not in f.fired:
                f.fired.add(("inside", n))
                self._crash("inside the transaction", delivery)
        if n in f.after and ("after", n) not in f.fired:
            f.fired.add(("after", n))
            self._crash("after the commit", delivery)


def billing_schedule(handler: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """One fault schedule around ``handler(conn, event)``: is every order charged once?

    Six orders (ids unique to the schedule); the network may deliver twice,
    the relay may publish an order again, billing may crash inside its
    transaction (rolled back) or after it (redelivered).  Returns the first
    broken invariant as a :class:`~evtlib.course.scenarios.build_check.Breach`,
    or ``None``.
    """
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(
        sim, latency=Uniform(1, 5), faults=NetworkFaults(duplicate=rng.choice((0.0, 0.2)))
    )
    broker.create_topic("orders", partitions=2)
    db = sqlite3.connect(":memory:", isolation_level=None)
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("billing", session_timeout=0)
    db.executescript(BUILD_SCHEMA)
    faults = _Faults(
        inside={i for i in range(1, 7) if rng.random() < 0.04},
        after={i for i in range(1, 7) if rng.random() < 0.1},
    )
    billing = _LearnerBilling(broker, handler, db, faults)
    want, t = [], 0.0
    republish = rng.random() < 0.5
    for i in range(1, 7):
        t += rng.choice((5, 20, 60))
        e = _order_event(i, f"c{i % 3}", 10 * i, t, prefix=f"s{seed}-evt", n=i)
        want.append(e.id)
        sim.schedule_at(t, partial(broker.publish, actor="relay"), "orders", e)
        if republish and rng.random() < 0.4:
            sim.schedule_at(
                t + rng.choice((1, 30, 200)), partial(broker.publish, actor="relay"), "orders", e
            )
    sim.run(until=t + 2000)
    invariant = "every order charged exactly once"
    keep = sim.trace if trace else None
    if billing.error is not None:
        err = billing.error
        return Breach(
            seed, invariant, "error", f"the handler raised {type(err).__name__}: {err}", keep
        )
    got = Counter(r[0] for r in db.execute("SELECT event_id FROM charges"))
    for eid in want:
        if got[eid] > 1:
            return Breach(seed, invariant, "extra", f"{eid} was charged {got[eid]} times", keep)
        if got[eid] == 0:
            return Breach(seed, invariant, "missing", f"{eid} was never charged", keep)
    return None

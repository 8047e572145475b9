"""Fault schedules for the build exercises of notebooks 04-07.

Each ``*_schedule(answer, seed, trace)`` builds one small seeded run around
the learner's code, checks the invariants from what really happened, and
returns the first one broken as a
:class:`~evtlib.course.scenarios.build_check.Breach` (``None`` if all held).
:func:`~evtlib.course.scenarios.build_check.build_check` runs about 200 of
them and shows the first breaking schedule's timeline.

* 04, :func:`billing_schedule`: ``start_billing(broker, charge)`` returns the
  billing :class:`~evtlib.Consumer` (its handler and its commit choice);
  billing crashes once or twice.  Invariants: every order charged; a crash
  charges at most :data:`DOUBLE_CHARGES_PER_CRASH` orders a second time.
* 05, :func:`fold_schedule`: a read model's ``fold(state, event)``; the relay
  publishes some orders twice (same event id, a new offset).  Invariant: at
  the end the view counts each order once.
* 06, :func:`retry_schedule`: ``wait_ms(attempt, rng)``, the wait before a
  failed payment is tried again, for billing consumers that failed together
  while the payment provider was down.  Invariants: no retry storm (the
  provider falls over only the first time); every order charged by the end.
* 07, :func:`relay_schedule`: ``relay_once(conn, publish, now)``, one poll of
  an outbox relay; the relay dies before or after some publications.
  Invariants: every saved order's event published; first publications in
  the outbox's seq order (commit order with one writer, as here); an event published again only after a relay crash.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ...broker import Broker, partition_for
from ...consumer import Consumer
from ...distributions import Rate, Schedule, Uniform
from ...events import Event
from ...faults import crash
from ...patterns.outbox import OrderService
from ...producer import Producer
from ...readmodel import ReadModel
from ...sim import Simulation
from .base import key_of, make_order
from .build_check import Breach
from .failure_modes import PaymentProvider

__all__ = [
    "DOUBLE_CHARGES_PER_CRASH",
    "billing_schedule",
    "fold_schedule",
    "retry_schedule",
    "relay_schedule",
    "RelayCrash",
]

#: The business accepts at most this many orders charged twice per billing crash.
DOUBLE_CHARGES_PER_CRASH = 2


# --------------------------------------------------------------------------- 03


def billing_schedule(
    start_billing: Callable[..., Any], seed: int, trace: bool = False
) -> Breach | None:
    """20 orders at 100 a second; the billing consumer ``start_billing(broker, charge)`` crashes."""
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    charged: list[str] = []

    def charge(event: Event) -> None:
        charged.append(key_of(event))

    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("billing", session_timeout=0)
    billing = start_billing(broker, charge)
    keep = sim.trace if trace else None
    if not isinstance(billing, Consumer):
        return Breach(
            seed,
            "start_billing returns the Consumer",
            "error",
            f"start_billing returned {type(billing).__name__}, not a Consumer",
            keep,
        )
    shop = Producer(broker, "shop", "orders", Rate(100.0), count=20, make=make_order)
    crashes = rng.choice((1, 1, 2))
    at = sorted(rng.uniform(15, 190) for _ in range(crashes))
    if crashes == 2 and at[1] - at[0] < 60:
        at[1] = at[0] + 60  # the second crash after the restart
    for t in at:
        crash(sim, billing, at=t, restart_after=rng.choice((20, 50)))
    sim.run()
    keep = sim.trace if trace else None
    counts = Counter(charged)
    missing = [key_of(e) for e in shop.emitted if counts[key_of(e)] == 0]
    if missing:
        return Breach(
            seed, "every order charged", "missing", f"{missing[0]} was never charged", keep
        )
    twice = sorted((k for k, n in counts.items() if n > 1), key=lambda k: int(k.split("-")[1]))
    if len(twice) > DOUBLE_CHARGES_PER_CRASH * crashes:
        return Breach(
            seed,
            f"at most {DOUBLE_CHARGES_PER_CRASH} orders charged twice per crash",
            "extra",
            f"{len(twice)} orders charged twice ({', '.join(twice)}) after {crashes} crash(es)",
            keep,
        )
    return None


# --------------------------------------------------------------------------- 04


def fold_schedule(
    fold: Callable[[Any, Event], Any], seed: int, trace: bool = False
) -> Breach | None:
    """12 orders into 2 partitions; some are published again by the relay (same id, later)."""
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim, latency=Uniform(1, 5))
    broker.create_topic("orders", partitions=2)
    view = ReadModel(broker, "dashboard", "orders", fold, service_time=Uniform(1, 6))
    t, totals = 0.0, {}
    again = rng.random() < 0.7
    for i in range(1, 13):
        t += rng.choice((2, 5, 20))
        _, key, data = make_order(i, None)
        e = Event(
            id=f"s{seed}-evt-{i:03d}",
            type="OrderPlaced",
            time=t,
            source="relay",
            key=key,
            data=data,
        )
        totals[e.id] = data["total"]
        sim.schedule_at(t, _publish, broker, e)
        if again and rng.random() < 0.3:  # a relay crash between publishing and marking
            sim.schedule_at(t + rng.choice((1, 40, 150)), _publish, broker, e)
    sim.run()
    keep = sim.trace if trace else None
    state = view.state
    want = {"orders": len(totals), "revenue": sum(totals.values())}
    if not isinstance(state, dict):
        return Breach(seed, "the view is a dict", "error", f"the fold returned {state!r}", keep)
    got = {k: state.get(k) for k in want}
    if got == want:
        return None
    kind = "extra" if (got["orders"] or 0) > want["orders"] else "missing"
    return Breach(
        seed,
        "the view counts each order once",
        kind,
        f"the view says {got}, the log holds {want}",
        keep,
    )


def _publish(broker: Broker, event: Event) -> None:
    broker.publish("orders", event, actor="relay")


# --------------------------------------------------------------------------- 05


class _PolicyBilling(Consumer):
    """A billing consumer that waits ``wait_ms(attempt, rng)`` before trying a failed payment again."""

    def __init__(
        self,
        broker: Broker,
        name: str,
        provider: PaymentProvider,
        wait_ms: Callable[..., Any],
        rng: Any,
    ) -> None:
        self.wait_ms = wait_ms
        self.rng = rng
        self.bad_wait: Any = None
        super().__init__(
            broker, name, "orders", provider.charge, group="billing", service_time=Uniform(4.0, 8.0)
        )

    def retry_after(self, delivery: Any, error: BaseException) -> float:
        wait = self.wait_ms(delivery.attempt, self.rng)
        if (
            isinstance(wait, bool)
            or not isinstance(wait, (int, float))
            or not 0 <= wait < float("inf")
        ):
            self.bad_wait = wait
            return 1e12  # park it: the check reports the bad wait
        return float(wait)


@lru_cache(maxsize=16)
def _keys_per_partition(partitions: int, per: int) -> tuple[tuple[str, ...], ...]:
    """``per`` order keys for each of ``partitions`` partitions (an even flash sale)."""
    keys: list[list[str]] = [[] for _ in range(partitions)]
    n = 0
    while min(len(k) for k in keys) < per:
        n += 1
        key = f"order-{n}"
        keys[partition_for(key, partitions)].append(key)
    return tuple(tuple(k[:per]) for k in keys)


def retry_schedule(wait_ms: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """6-9 billing consumers fail together while the provider is down (200-500 ms), then retry."""
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    consumers = rng.choice((6, 7, 8, 9))
    down = rng.choice((200, 300, 400, 500))
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", partitions=consumers)
    provider = PaymentProvider(sim, down_from=0.0, down_until=down, capacity=5)
    members = [
        _PolicyBilling(broker, f"billing-{i + 1}", provider, wait_ms, sim.rng_for(f"retry-{i + 1}"))
        for i in range(consumers)
    ]
    orders = 3 * consumers
    keys = _keys_per_partition(consumers, 3)

    def make(i: int, _rng: Any) -> tuple[str, str, dict[str, Any]]:
        key = keys[(i - 1) % consumers][(i - 1) // consumers]
        return "OrderPlaced", key, {"order_id": key, "total": 10 + (i * 7) % 90}

    Producer(broker, "shop", "orders", Schedule([0.0] * orders), count=orders, make=make)
    sim.run(until=4000)
    keep = sim.trace if trace else None
    bad = [m.bad_wait for m in members if m.bad_wait is not None]
    if bad:
        return Breach(
            seed, "a wait is a number of ms >= 0", "error", f"wait_ms returned {bad[0]!r}", keep
        )
    if len(provider.down) > 1:
        t = provider.down[1][0]
        return Breach(
            seed,
            "no retry storm: the provider falls over only the first time",
            "storm",
            f"{consumers} consumers' retries knocked it over again at t={t:g} ms ({len(provider.down) - 1} more outages)",
            keep,
        )
    handled = members[0].group.stats()["handled"]
    if handled < orders:
        return Breach(
            seed,
            "every order charged within 4 s",
            "missing",
            f"only {handled} of {orders} orders charged by 4 s",
            keep,
        )
    return None


# --------------------------------------------------------------------------- 06


@dataclass
class _RelayState:
    alive: bool = True
    crashes: int = 0
    calls: int = 0
    error: Exception | None = None


class RelayCrash(Exception):
    """Raised inside ``publish`` when the schedule kills the relay (the learner's code must not catch it)."""


def relay_schedule(relay_once: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """6 orders into the outbox; a relay polling every 50 ms runs ``relay_once`` and dies now and then."""
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    service = OrderService(sim)
    state = _RelayState()
    before = {k for k in range(1, 13) if rng.random() < 0.08}  # the k-th publish call crashes first
    after = {k for k in range(1, 13) if rng.random() < 0.08} - before  # ... or right after

    def publish(payload: str) -> None:
        state.calls += 1
        k = state.calls
        if k in before:
            raise RelayCrash(f"the relay died before publishing (call {k})")
        broker.publish("orders", Event.from_json(payload), actor="relay")
        if k in after:
            raise RelayCrash(f"the relay died right after publishing (call {k})")

    def poll() -> None:
        if not state.alive:
            return
        try:
            relay_once(service.db, publish, sim.now)
        except RelayCrash as died:
            state.alive = False
            state.crashes += 1
            sim.trace.record(sim.now, "crashed", "relay", detail=str(died))
            sim.schedule(30, restart)
        except Exception as exc:  # the learner's code failed
            if state.error is None:
                state.error = exc

    def restart() -> None:
        state.alive = True
        sim.trace.record(sim.now, "restarted", "relay")

    t = 0.0
    for _ in range(6):
        t += rng.choice((5, 30, 80))
        sim.schedule_at(t, service.place_order, "ada", 10)
    for k in range(1, 25):
        sim.schedule_at(50.0 * k, poll)
    sim.run()
    keep = sim.trace if trace else None
    if state.error is not None:
        err = state.error
        return Breach(
            seed, "the relay runs", "error", f"relay_once raised {type(err).__name__}: {err}", keep
        )
    saved = [row[0] for row in service.db.execute("SELECT id FROM outbox ORDER BY seq")]
    published = [e.id for e in broker.events("orders")]
    counts = Counter(published)
    for eid in saved:
        if counts[eid] == 0:
            return Breach(
                seed,
                "every saved order's event is published",
                "missing",
                f"{eid} was never published",
                keep,
            )
    firsts = list(dict.fromkeys(published))
    if firsts != saved:
        return Breach(
            seed,
            "first publications in seq order",
            "order",
            f"published {', '.join(firsts)}",
            keep,
        )
    worst = max(counts.values())
    if worst > 1 + state.crashes:
        eid = max(counts, key=lambda e: counts[e])
        return Breach(
            seed,
            "an event is published again only after a relay crash",
            "extra",
            f"{eid} was published {worst} times with {state.crashes} crash(es)",
            keep,
        )
    return None

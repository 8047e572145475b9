"""A chaos experiment: the whole shop, all four patterns, many random fault schedules.

The shop of the course, end to end, small enough to run a thousand times:

    order service --(outbox + relay)--> orders --> fulfilment --> order saga
                                                  (idempotent,     (stock, payment,
                                                   dead-letter)     shipping)

* The **order service** saves each order; with the patterns it writes the
  ``OrderPlaced`` event to an outbox in the same SQLite transaction and an
  :class:`~evtlib.patterns.OutboxRelay` publishes it (the naive twin:
  :class:`~evtlib.patterns.DualWriteService`, commit then publish).
* **Fulfilment** reads ``orders`` and starts one order saga per order.  With
  the patterns it is idempotent (an id-set, :class:`~evtlib.patterns.MemoryIdStore`)
  and retries with backoff, then dead-letters (a
  :class:`~evtlib.patterns.DeadLetterConsumer`); the naive twin starts a
  saga for every delivery and logs-and-forgets an order it cannot handle.
* The **order saga** (:func:`~evtlib.patterns.saga.scenarios.order_saga`)
  is orchestrated with compensation (:class:`~evtlib.patterns.SagaOrchestrator`);
  the naive twin (:class:`~evtlib.patterns.NaiveSequence`) stops at the first failure.

A :class:`FaultSchedule`, drawn from one seed, decides everything that goes
wrong in one run: crashes of the order service and the relay at named
points, network duplicates and delays, a crash of the fulfilment consumer,
malformed orders (poison) and orders that fail a few times (transient),
declined cards, and steps or compensations of the saga that fail.  The same
schedule runs through the patterns and through the naive twins.

Four invariants are checked after each run, from what really happened (the
database, the broker's logs, the shop's ledger), not from what a component
believes (see :data:`INVARIANTS`).  :func:`chaos_experiment` tallies them
over many schedules: with the patterns every count is 0.

Simplification, stated: fulfilment's "start a saga" and its processed-id
insert happen in one simulation step, as if in one transaction (in a real
system the saga's first log record and the processed id are written in one
database transaction).  Nothing here prints or plots; :mod:`evtlib.viz`
draws the results.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker, NetworkFaults
from ..consumer import Consumer, Delivery
from ..events import Event, thaw
from ..faults import crash
from ..outcome import Outcome
from ..patterns.crashes import CrashPlan, SimulatedCrash
from ..patterns.dlq import DeadLetterConsumer, DeadLetterQueue
from ..patterns.idempotent_stores import MemoryIdStore
from ..patterns.outbox import OUTBOX_CRASH_POINTS, DualWriteService, OrderService, OutboxRelay
from ..patterns.retry import RetryPolicy
from ..patterns.saga import FailurePlan, NaiveSequence, SagaInstance, SagaOrchestrator
from ..patterns.saga.scenarios import Shop, classify, order_saga
from ..patterns.sqlite import connect
from ..sim import Simulation

__all__ = [
    "INVARIANTS",
    "FaultSchedule",
    "random_schedule",
    "ShopRun",
    "run_schedule",
    "ChaosResult",
    "chaos_experiment",
    "Fulfilment",
    "NaiveFulfilment",
]

#: What must never happen, counted per run:
#:
#: * ``events lost``: an order saved in the database whose ``OrderPlaced``
#:   never reached the broker;
#: * ``effects duplicated``: an order fulfilled more than once (a second
#:   saga: a second reservation and a second charge);
#: * ``sagas half-done``: a saga whose effects are neither complete nor fully
#:   compensated, and that nobody was told about (``needs-attention`` is a
#:   visible state, not a half-done one);
#: * ``events vanished``: an event on the broker that fulfilment moved past
#:   without acting on it and without dead-lettering it.
INVARIANTS = ("events lost", "effects duplicated", "sagas half-done", "events vanished")

_TOPIC = "orders"
_DLQ = "orders.dlq"


# -- the fault schedule --------------------------------------------------------------


class Order(NamedTuple):
    """One order of a schedule: when, by whom, and what is wrong with it."""

    time: float
    customer: str
    total: int
    card: str  # "ok" or "declined"
    fault: str  # "ok", "poison" (never valid) or "transient"
    fails: int  # how many tries a transient order fails


@dataclass(frozen=True)
class FaultSchedule:
    """Everything that goes wrong in one run, drawn from one seed.

    ``orders`` are placed at their times; ``service_crashes`` and
    ``relay_crashes`` map a crash point to the visits that crash (see
    :class:`~evtlib.patterns.CrashPlan`); ``duplicate`` and ``delay`` are the
    network's probabilities for every delivery; ``consumer_crash`` is
    ``(at, down_for)`` for fulfilment, or None; ``saga_failures`` are the
    saga's :class:`~evtlib.patterns.FailurePlan` s.
    """

    seed: int
    orders: tuple[Order, ...]
    service_crashes: dict[str, list[int]] = field(default_factory=dict)
    relay_crashes: dict[str, list[int]] = field(default_factory=dict)
    duplicate: float = 0.0
    delay: float = 0.0
    consumer_crash: tuple[float, float] | None = None
    saga_failures: tuple[FailurePlan, ...] = ()

    def describe(self) -> str:
        """One line a person can read: what this schedule does."""
        parts = [f"{len(self.orders)} orders"]
        odd = Counter(o.fault for o in self.orders if o.fault != "ok")
        parts += [f"{n} {kind}" for kind, n in sorted(odd.items())]
        declined = sum(o.card == "declined" for o in self.orders)
        if declined:
            parts.append(f"{declined} declined")
        for who, plan in (("service", self.service_crashes), ("relay", self.relay_crashes)):
            for point, visits in plan.items():
                parts.append(f"{who} crash at {point} #{','.join(map(str, visits))}")
        if self.duplicate:
            parts.append(f"dup {self.duplicate:g}")
        if self.delay:
            parts.append(f"delay {self.delay:g}")
        if self.consumer_crash:
            parts.append(f"fulfilment down at {self.consumer_crash[0]:g} ms")
        for p in self.saga_failures:
            what = f"{p.step} {'compensation' if p.compensation else 'action'}"
            parts.append(f"{what} fails x{p.times}")
        return "; ".join(parts)


def random_schedule(seed: int, *, orders: int = 3) -> FaultSchedule:
    """A random :class:`FaultSchedule` from ``seed``: tiny, so a thousand run in seconds."""
    checks.integer("seed", seed)
    checks.integer("orders", orders, min=1)
    rng = random.Random(f"chaos/{seed}")
    t = 0.0
    placed = []
    for i in range(orders):
        t += rng.choice((5.0, 20.0, 60.0))
        r = rng.random()
        fault = "poison" if r < 0.1 else ("transient" if r < 0.3 else "ok")
        placed.append(
            Order(
                time=t,
                customer=f"customer-{i % 2 + 1}",
                total=10 + rng.randrange(90),
                card="declined" if rng.random() < 0.15 else "ok",
                fault=fault,
                fails=rng.randint(1, 4) if fault == "transient" else 0,
            )
        )

    def visits(rate: float) -> list[int]:
        return [v for v in range(1, orders + 1) if rng.random() < rate]

    service = {p: visits(0.15) for p in OUTBOX_CRASH_POINTS[:2]}
    relay = {p: visits(0.15) for p in OUTBOX_CRASH_POINTS[2:]}
    saga: list[FailurePlan] = []
    for step, compensation in (
        ("stock", False),
        ("stock", True),
        ("payment", False),
        ("shipping", False),
    ):
        if rng.random() < 0.2:
            saga.append(FailurePlan(step, times=rng.randint(1, 5), compensation=compensation))
    return FaultSchedule(
        seed=seed,
        orders=tuple(placed),
        service_crashes={p: v for p, v in service.items() if v},
        relay_crashes={p: v for p, v in relay.items() if v},
        duplicate=rng.choice((0.0, 0.0, 0.2)),
        delay=rng.choice((0.0, 0.0, 0.1)),
        consumer_crash=(round(rng.uniform(0.0, t), 1), rng.choice((10.0, 200.0)))
        if rng.random() < 0.3
        else None,
        saga_failures=tuple(saga),
    )


# -- fulfilment: the consumer that starts the sagas ---------------------------------


class _OrderInvalid(ValueError):
    """Raised when an order cannot be fulfilled (poison: it never will be)."""


class _TryAgain(RuntimeError):
    """Raised when fulfilling an order fails for now (a transient failure)."""


def _saga_data(event: Event, order: Order, tries: Counter[str]) -> dict[str, Any]:
    """The order's saga data, or an exception: poison always, transient for a while."""
    data = thaw(event.data)
    tries[event.id] += 1
    if order.fault == "poison":
        raise _OrderInvalid(f"{data['order_id']}: no shipping address")
    if order.fault == "transient" and tries[event.id] <= order.fails:
        raise _TryAgain(f"{data['order_id']}: address service timed out (try {tries[event.id]})")
    return {
        "order_id": data["order_id"],
        "customer": data["customer"],
        "qty": 1,
        "total": data["total"],
        "card": order.card,
    }


class Fulfilment(DeadLetterConsumer):
    """The patterns' fulfilment: idempotent (an id-set store) and dead-lettering.

    A :class:`~evtlib.patterns.DeadLetterConsumer` whose handler applies
    ``start(event)`` through :meth:`MemoryIdStore.apply
    <evtlib.patterns.MemoryIdStore.apply>`: the event id and the effect are
    recorded together, so a duplicate delivery (a network duplicate, a relay
    that published twice) is skipped.  A failure is retried with backoff and
    then dead-lettered to ``orders.dlq``.
    """

    def __init__(
        self,
        broker: Broker,
        start: Callable[[Event], Any],
        *,
        policy: RetryPolicy | None = None,
        name: str = "fulfilment",
    ) -> None:
        checks.function("start", start, "event -> saga")
        # The fulfilment database: its processed ids survive a crash (durable).
        self.store = MemoryIdStore(durable=True)
        self.start_saga = start
        self.applied = 0
        self.skipped = 0
        self._delivery: Delivery | None = None
        policy = policy or RetryPolicy(3, backoff="exponential", base=20.0, jitter="full")
        super().__init__(broker, name, _TOPIC, self._start_once, policy=policy, dlq=_DLQ)

    def process(self, delivery: Delivery) -> Outcome | None:
        self._delivery = delivery  # the store keys on the delivery's event id
        return super().process(delivery)

    def _start_once(self, event: Event) -> None:
        assert self._delivery is not None
        done = self.store.apply(
            self.group.name, self._delivery, lambda _state, e: self.start_saga(e), now=self.sim.now
        )
        if done:
            self.applied += 1
        else:
            self.skipped += 1


class NaiveFulfilment(Consumer):
    """The naive twin: starts a saga for every delivery; logs and forgets a failure.

    ``except Exception: log`` is the anti-pattern: the offset is committed
    and the order is gone without a trace but a line in :attr:`swallowed`.
    """

    def __init__(
        self, broker: Broker, start: Callable[[Event], Any], *, name: str = "fulfilment"
    ) -> None:
        checks.function("start", start, "event -> saga")
        self.start_saga = start
        self.applied = 0
        self.swallowed: list[str] = []
        super().__init__(broker, name, _TOPIC, self._start)

    def _start(self, event: Event) -> None:
        try:
            self.start_saga(event)
        except Exception as exc:  # the anti-pattern, on purpose: see the class docstring
            self.swallowed.append(f"{event.id}: {exc}")
            return
        self.applied += 1


# -- one run -------------------------------------------------------------------------


class ShopRun(NamedTuple):
    """One schedule through the whole shop: the system, and what the invariants found."""

    schedule: FaultSchedule
    patterns: bool
    sim: Simulation
    broker: Broker
    service: OrderService | DualWriteService
    fulfilment: Fulfilment | NaiveFulfilment
    shop: Shop
    sagas: list[SagaInstance]
    counts: dict[str, int]
    details: dict[str, int]

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return not any(self.counts.values())


def run_schedule(
    schedule: FaultSchedule | int,
    *,
    patterns: bool = True,
    trace: bool = False,
    stock: int = 100,
    db: sqlite3.Connection | None = None,
) -> ShopRun:
    """Run one fault schedule (or the seed of one) through the shop; check the invariants.

    ``patterns=True`` runs outbox, idempotent + dead-letter fulfilment and
    the compensating saga; ``False`` their naive twins.  ``trace=True``
    records the trace (for pictures; slower).  ``db`` is the order service's
    database (default: a new in-memory one); a given one is emptied first,
    so a long experiment can reuse one connection instead of creating a
    schema per run.
    """
    if not isinstance(schedule, FaultSchedule):
        schedule = random_schedule(schedule)
    s = schedule
    sim = Simulation(s.seed, trace=trace)
    faults = NetworkFaults(duplicate=s.duplicate, delay=s.delay, extra=1500.0)
    broker = Broker(sim, latency=1.0, faults=faults if faults.active else None)
    broker.create_topic(_TOPIC)
    broker.create_topic(_DLQ)
    # Crashes are noticed at once here (session_timeout=0, a simplification that keeps
    # every schedule within a second): Kafka's default session.timeout.ms is 45 s, and
    # notebook 04 shows what the wait costs.
    broker.group("fulfilment", session_timeout=0)
    shop = Shop(stock)
    definition = order_saga(shop, retries=3)
    definition.participants(broker, failures=s.saga_failures)
    sagas: list[SagaInstance] = []
    coordinator = (SagaOrchestrator if patterns else NaiveSequence)(broker, definition)
    tries: Counter[str] = Counter()
    # The service numbers its orders order-000001, order-000002... in the order placed;
    # what the schedule says about each (poison, declined card) is looked up by that id.
    plan = {f"order-{i + 1:06d}": o for i, o in enumerate(s.orders)}

    def start(event: Event) -> None:
        data = _saga_data(event, plan[event.data["order_id"]], tries)
        sagas.append(coordinator.start(data, cause=event))

    if db is None:
        db = connect()
    else:
        for table in ("orders", "outbox"):  # a reused database starts empty
            if db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone():
                db.execute(f"DELETE FROM {table}")
    service_plan = CrashPlan(s.service_crashes, allowed=OUTBOX_CRASH_POINTS)
    relay = None
    service: OrderService | DualWriteService
    fulfilment: Fulfilment | NaiveFulfilment
    if patterns:
        service = OrderService(sim, db, crash_at=service_plan)
        relay_plan = CrashPlan(s.relay_crashes, allowed=OUTBOX_CRASH_POINTS)
        relay = OutboxRelay(
            sim, service.db, broker, _TOPIC, poll_interval=20.0, crash_at=relay_plan
        )
        fulfilment = Fulfilment(broker, start)
    else:
        service = DualWriteService(sim, broker, _TOPIC, db, crash_at=service_plan)
        fulfilment = NaiveFulfilment(broker, start)

    def place(o: Order) -> None:
        try:
            service.place_order(o.customer, o.total)
        except SimulatedCrash:
            pass  # the client gets no answer; whatever was committed stays

    for o in s.orders:
        sim.schedule_at(o.time, place, o)
    if s.consumer_crash is not None:
        at, down_for = s.consumer_crash
        crash(sim, fulfilment, at=at, restart_after=down_for)
    last = s.orders[-1].time
    sim.run(until=last)
    if relay is not None:
        while relay.pending() or not relay.alive:  # drain the outbox; crashes only delay it
            sim.run(until=sim.now + relay.poll_interval)
        relay.stop()
    sim.run()
    counts, details = _check(s, broker, service, fulfilment, shop, sagas, definition)
    return ShopRun(s, patterns, sim, broker, service, fulfilment, shop, sagas, counts, details)


def _check(
    s: FaultSchedule,
    broker: Broker,
    service: OrderService | DualWriteService,
    fulfilment: Fulfilment | NaiveFulfilment,
    shop: Shop,
    sagas: list[SagaInstance],
    definition: Any,
) -> tuple[dict[str, int], dict[str, int]]:
    committed = [row["id"] for row in service.orders()]
    events = broker.events(_TOPIC)
    published_orders = {e.data["order_id"] for e in events}
    sagas_per_order = Counter(sg.data["order_id"] for sg in sagas)
    dead = {r.event.id for r in DeadLetterQueue(broker, _DLQ).list()}
    waiting = sum(st.lag for st in fulfilment.group.states.values())
    vanished = 0
    for e in dict((e.id, e) for e in events).values():
        order_id = e.data["order_id"]
        if order_id not in sagas_per_order and e.id not in dead:
            vanished += 1
    vanished = max(0, vanished - waiting)
    outcomes: Counter[str] = Counter()
    for sg in sagas:
        effects = [(step, phase) for sid, step, phase in shop.ledger if sid == sg.id]
        outcomes[classify(definition, effects, sg.state == "needs-attention")] += 1
    counts = {
        "events lost": sum(1 for oid in committed if oid not in published_orders),
        "effects duplicated": sum(n - 1 for n in sagas_per_order.values()),
        "sagas half-done": outcomes["half-done"],
        "events vanished": vanished,
    }
    details = {
        "orders placed": len(s.orders),
        "orders saved": len(committed),
        "events published": len(events),
        "sagas": len(sagas),
        "completed": outcomes["completed"],
        "rolled back": outcomes["rolled back"],
        "needs-attention": outcomes["needs-attention"],
        "dead-lettered": len(dead),
    }
    return counts, details


# -- many runs -----------------------------------------------------------------------


class ChaosResult(NamedTuple):
    """What :func:`chaos_experiment` found: invariant tallies for the patterns and the naive twins.

    ``pattern`` and ``naive`` are ``{invariant: total count}`` over every
    schedule (see :data:`INVARIANTS`); ``*_details`` add up what happened
    (sagas completed, rolled back, needing attention, dead-lettered...);
    ``*_failed`` list the seeds of the schedules that broke an invariant.
    """

    schedules: int
    pattern: dict[str, int]
    naive: dict[str, int]
    pattern_details: dict[str, int]
    naive_details: dict[str, int]
    pattern_failed: list[int]
    naive_failed: list[int]


def _identity(items: Iterable[int], total: int | None = None, desc: str | None = None):
    return iter(items)


def chaos_experiment(
    n: int = 1000,
    *,
    seed: int = 0,
    orders: int = 3,
    progress: Callable[..., Iterator[int]] | None = None,
) -> ChaosResult:
    """Run ``n`` random fault schedules through the patterns and the naive twins.

    Schedule ``i`` is :func:`random_schedule` ``(seed + i)``; the same
    schedule runs through both.  ``progress`` wraps the loop, for example
    :func:`evtlib.viz.progress` for a bar in a live notebook (this module
    draws nothing itself).  A few thousand runs take a few seconds.
    """
    checks.integer("n", n, min=1)
    wrap = progress or _identity
    tallies = {kind: dict.fromkeys(INVARIANTS, 0) for kind in ("pattern", "naive")}
    details: dict[str, Counter[str]] = {"pattern": Counter(), "naive": Counter()}
    failed: dict[str, list[int]] = {"pattern": [], "naive": []}
    db = connect()  # one in-memory database, emptied before each run
    for i in wrap(range(n), total=n, desc="fault schedules"):
        schedule = random_schedule(seed + i, orders=orders)
        for kind in ("pattern", "naive"):
            run = run_schedule(schedule, patterns=kind == "pattern", db=db)
            for k, v in run.counts.items():
                tallies[kind][k] += v
            details[kind].update(run.details)
            if not run.ok:
                failed[kind].append(schedule.seed)
    return ChaosResult(
        n,
        tallies["pattern"],
        tallies["naive"],
        dict(details["pattern"]),
        dict(details["naive"]),
        failed["pattern"],
        failed["naive"],
    )

"""Notebook 11 (putting it together): explorers and the build exercise's fault sweep.

* :func:`chaos_run`: one fault schedule (its seed is the knob) through the
  whole shop, with the patterns or their naive twins, traced for a timeline.
* :func:`rated_chaos`: a few schedules whose fault rates are the knobs,
  through both; the invariants tallied (explorer).
* :func:`order_chain`: one order's messages across services, found by the
  correlation id every message of its story carries (observability).
* :func:`fulfilment_schedule`: one chaos schedule in which fulfilment's
  handling is the learner's ``fulfil(event, seen, start_saga)`` (the build
  exercise: the weakest link of the shop, written by the learner).

All are pure and seeded; each explorer run stays small (a few schedules of
three orders), because the whole shop is the heaviest simulation of the course.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker, NetworkFaults
from ...events import Event, thaw
from ...faults import crash
from ...patterns import DeadLetterQueue, OrderService, OutboxRelay, SagaOrchestrator
from ...patterns.crashes import CrashPlan, SimulatedCrash
from ...patterns.outbox import OUTBOX_CRASH_POINTS
from ...patterns.saga import FailurePlan, SagaInstance
from ...patterns.saga.scenarios import Shop, classify, order_saga
from ...sim import Simulation
from ..chaos import INVARIANTS, FaultSchedule, Fulfilment, Order, ShopRun, run_schedule
from .build_check import Breach

__all__ = [
    "chaos_run",
    "draw_chaos_run",
    "rated_schedule",
    "rated_chaos",
    "draw_rated_chaos",
    "fulfilment_schedule",
    "OrderChain",
    "order_chain",
    "draw_order_chain",
    "follow_order",
]


def chaos_run(seed: int = 11, patterns: bool = True) -> ShopRun:
    """Schedule ``seed`` of the chaos experiment through the shop, traced."""
    checks.integer("seed", seed, min=0)
    checks.boolean("patterns", patterns)
    return run_schedule(seed, patterns=patterns, trace=True)


def draw_chaos_run(run: ShopRun, ax: Any = None) -> Any:
    """The run's timeline; the title says which invariants broke."""
    from ...viz import draw_timeline

    broken = ", ".join(f"{k} {v}" for k, v in run.counts.items() if v) or "every invariant held"
    who = "patterns" if run.patterns else "naive twins"
    return draw_timeline(
        run.sim.trace,
        ax,
        hide=("committed", "joined", "rebalanced", "marked-sent", "outbox-written"),
        max_events=25,
        title=f"schedule {run.schedule.seed}, {who}: {broken}",
    )


def rated_schedule(
    seed: int,
    *,
    crashes: float = 0.15,
    duplicate: float = 0.2,
    faulty: float = 0.3,
    declined: float = 0.15,
    orders: int = 3,
) -> FaultSchedule:
    """A :class:`~evtlib.course.chaos.FaultSchedule` with chosen fault rates.

    ``crashes``: the chance of each crash point of the service and the relay
    firing on each visit (and of a fulfilment crash); ``duplicate``: the
    network's duplicate rate; ``faulty``: the share of orders that are
    poison (a third of them) or transient; ``declined``: declined cards.
    """
    rng = random.Random(f"nb11-rated/{seed}")
    t, placed = 0.0, []
    for i in range(orders):
        t += rng.choice((5.0, 20.0, 60.0))
        r = rng.random()
        fault = "poison" if r < faulty / 3 else ("transient" if r < faulty else "ok")
        placed.append(
            Order(
                time=t,
                customer=f"customer-{i % 2 + 1}",
                total=10 + rng.randrange(90),
                card="declined" if rng.random() < declined else "ok",
                fault=fault,
                fails=rng.randint(1, 4) if fault == "transient" else 0,
            )
        )

    def visits() -> list[int]:
        return [v for v in range(1, orders + 1) if rng.random() < crashes]

    service = {p: visits() for p in OUTBOX_CRASH_POINTS[:2]}
    relay = {p: visits() for p in OUTBOX_CRASH_POINTS[2:]}
    saga = [
        FailurePlan(step, times=rng.randint(1, 5), compensation=comp)
        for step, comp in (("stock", False), ("stock", True), ("payment", False))
        if rng.random() < crashes
    ]
    return FaultSchedule(
        seed=seed,
        orders=tuple(placed),
        service_crashes={p: v for p, v in service.items() if v},
        relay_crashes={p: v for p, v in relay.items() if v},
        duplicate=duplicate,
        consumer_crash=(round(rng.uniform(0.0, t), 1), 100.0) if rng.random() < crashes else None,
        saga_failures=tuple(saga),
    )


def rated_chaos(
    crashes: float = 0.15,
    duplicate: float = 0.2,
    faulty: float = 0.3,
    declined: float = 0.15,
    seed: int = 0,
    schedules: int = 15,
) -> dict[str, dict[str, int]]:
    """``schedules`` rated schedules through the patterns and the naive twins.

    Returns ``{"naive": {invariant: count}, "patterns": {...}}``.
    """
    for name, value in (
        ("crashes", crashes),
        ("duplicate", duplicate),
        ("faulty", faulty),
        ("declined", declined),
    ):
        checks.probability(name, value)
    checks.integer("seed", seed, min=0)
    checks.integer("schedules", schedules, min=1, max=100)
    tallies = {kind: dict.fromkeys(INVARIANTS, 0) for kind in ("naive", "patterns")}
    for i in range(seed, seed + schedules):
        s = rated_schedule(
            i, crashes=crashes, duplicate=duplicate, faulty=faulty, declined=declined
        )
        for kind in tallies:
            for k, v in run_schedule(s, patterns=kind == "patterns").counts.items():
                tallies[kind][k] += v
    return tallies


def draw_rated_chaos(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """Invariants broken, naive twins vs patterns."""
    from ...viz import draw_outcomes

    return draw_outcomes(
        tallies["naive"],
        tallies["patterns"],
        labels=("naive twins", "patterns"),
        ax=ax,
        order=INVARIANTS,
        unit="times",
        title="random fault schedules at these rates: invariants broken",
    )


# ---------------------------------------------------------------- one order, followed


class OrderChain(NamedTuple):
    """One order's story: every message that carries its correlation id.

    ``events`` are the distinct messages (by id) in the order they were
    sent; ``copies`` says how many times each is on the logs (a relay that
    published again, a participant answering a command it had seen);
    ``sagas`` the sagas the order started (normally one) and ``dead`` whether
    it was dead-lettered.
    """

    order_id: str
    correlation_id: str
    events: list[Event]
    copies: dict[str, int]
    sagas: list[SagaInstance]
    dead: bool

    def services(self) -> list[str]:
        """The services that sent a message about the order, in the order they first did."""
        return list(dict.fromkeys(e.source for e in self.events))

    def notes(self) -> dict[str, str]:
        """A line for the picture under the ``OrderPlaced``: what fulfilment did with it."""
        first = self.events[0].id
        did = [f"fulfilment started {s.id}" for s in self.sagas]
        if self.dead:
            did.append("fulfilment dead-lettered it")
        return {first: "; ".join(did)} if did else {}


def order_chain(run: ShopRun, order_id: str) -> OrderChain:
    """Follow ``order_id`` through a run of the shop by correlation id, as a tracing tool does.

    The order's ``OrderPlaced`` starts the story (its correlation id is its
    own id); the saga fulfilment starts copies that correlation id onto every
    command, and each reply onto its own (``Event.reaction``).  So one query,
    "every message with this correlation id", finds the order on every topic.
    """
    checks.instance("run", run, ShopRun)
    placed = {e.data["order_id"]: e for e in run.broker.events("orders") if e.type == "OrderPlaced"}
    if order_id not in placed:
        raise ValueError(
            f"order_id must be an order published in this run, got {order_id!r};"
            f" published: {sorted(placed)}"
        )
    correlation = placed[order_id].correlation_id
    seen: dict[str, Event] = {}
    copies: Counter[str] = Counter()
    for topic in run.broker.topics:
        if topic == "orders.dlq":
            continue  # a dead letter is the same event again, not a new message
        for e in run.broker.events(topic):
            if e.correlation_id == correlation:
                seen.setdefault(e.id, e)
                copies[e.id] += 1
    events = sorted(seen.values(), key=lambda e: (e.time, e.id))
    dead = any(e.correlation_id == correlation for e in run.broker.events("orders.dlq"))
    sagas = [s for s in run.sagas if s.correlation_id == correlation]
    return OrderChain(order_id, str(correlation), events, dict(copies), sagas, dead)


def follow_order(seed: int = 11, order: int = 3) -> OrderChain:
    """Order number ``order`` of chaos schedule ``seed``, followed by correlation id (explorer).

    Orders are numbered from 1 in the order placed.  One the order service
    crashed before committing was never saved: it has no story to follow,
    and comes back with no events (the picture says so).
    """
    checks.integer("seed", seed, min=0)
    checks.integer("order", order, min=1)
    run = run_schedule(seed)
    placed = len(run.schedule.orders)
    if order > placed:
        raise ValueError(
            f"order must be 1..{placed} (schedule {seed} places {placed}), got {order}"
        )
    order_id = f"order-{order:06d}"
    if order_id not in {e.data["order_id"] for e in run.broker.events("orders")}:
        return OrderChain(order_id, "", [], {}, [], False)
    return order_chain(run, order_id)


def draw_order_chain(chain: OrderChain, ax: Any = None) -> Any:
    """The order's messages as a swimlane, one lane per service (see :func:`~evtlib.viz.system.draw_causal_chain`)."""
    from ...viz.system import draw_causal_chain

    if not chain.events:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 1.6), layout="constrained")
        ax.set_axis_off()
        ax.text(
            0.0,
            0.5,
            f"{chain.order_id} was never saved (the service crashed before its commit):"
            " no event, nothing to follow",
            fontsize=10,
            va="center",
        )
        ax.set_title(f"{chain.order_id}: no story", loc="left", fontsize=10)
        return ax
    return draw_causal_chain(
        chain.events,
        ax,
        copies=chain.copies,
        notes=chain.notes(),
        title=f"{chain.order_id}: every message with correlation_id {chain.correlation_id},"
        " in the order sent",
    )


# ---------------------------------------------------------------- the build exercise


class _OrderInvalid(ValueError):
    """Poison: the order can never be fulfilled."""


class _TryAgain(RuntimeError):
    """Transient: fulfilling the order fails for now."""


class _LearnerFulfilment(Fulfilment):
    """The patterns' fulfilment (retries with backoff, then dead-letters), the learner's handling."""

    def __init__(
        self, broker: Broker, start: Callable[[Event], Any], fulfil: Callable[..., Any]
    ) -> None:
        self.fulfil = fulfil
        self.seen: set[str] = set()
        super().__init__(broker, start)

    def _start_once(self, event: Event) -> None:
        self.fulfil(event, self.seen, self.start_saga)


def fulfilment_schedule(
    fulfil: Callable[..., Any], seed: int, trace: bool = False
) -> Breach | None:
    """Chaos schedule ``seed`` with fulfilment's handling written by the learner.

    The outbox and the saga are in place; fulfilment retries with backoff
    and dead-letters (a :class:`~evtlib.course.chaos.Fulfilment`), and for
    each delivery calls ``fulfil(event, seen, start_saga)``: ``seen`` is a
    set kept across deliveries, ``start_saga(event)`` starts the order's saga
    or raises (a poison order always, a transient one for a few tries).
    Invariants: an order's saga is started at most once (``effects
    duplicated``) and no event is passed over without a saga or a dead
    letter (``events vanished``); the other two are kept by the outbox and
    the saga.
    """
    from ..chaos import random_schedule

    s = random_schedule(seed)
    sim = Simulation(s.seed, trace=trace)
    faults = NetworkFaults(duplicate=s.duplicate, delay=s.delay, extra=1500.0)
    broker = Broker(sim, latency=1.0, faults=faults if faults.active else None)
    broker.create_topic("orders")
    broker.create_topic("orders.dlq")
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("fulfilment", session_timeout=0)
    shop = Shop(100)
    definition = order_saga(shop, retries=3)
    definition.participants(broker, failures=s.saga_failures)
    orchestrator = SagaOrchestrator(broker, definition)
    sagas: list[SagaInstance] = []
    tries: Counter[str] = Counter()
    plan = {f"order-{i + 1:06d}": o for i, o in enumerate(s.orders)}

    def start_saga(event: Event) -> SagaInstance:
        data = thaw(event.data)
        order = plan[data["order_id"]]
        tries[event.id] += 1
        if order.fault == "poison":
            raise _OrderInvalid(f"{data['order_id']}: no shipping address")
        if order.fault == "transient" and tries[event.id] <= order.fails:
            raise _TryAgain(
                f"{data['order_id']}: address service timed out (try {tries[event.id]})"
            )
        saga = orchestrator.start(
            {
                "order_id": data["order_id"],
                "customer": data["customer"],
                "qty": 1,
                "total": data["total"],
                "card": order.card,
            },
            cause=event,
        )
        sagas.append(saga)
        return saga

    service = OrderService(sim, crash_at=CrashPlan(s.service_crashes, allowed=OUTBOX_CRASH_POINTS))
    relay = OutboxRelay(
        sim,
        service.db,
        broker,
        "orders",
        poll_interval=20.0,
        crash_at=CrashPlan(s.relay_crashes, allowed=OUTBOX_CRASH_POINTS),
    )
    fulfilment = _LearnerFulfilment(broker, start_saga, fulfil)

    def place(o: Order) -> None:
        try:
            service.place_order(o.customer, o.total)
        except SimulatedCrash:
            pass

    for o in s.orders:
        sim.schedule_at(o.time, place, o)
    if s.consumer_crash is not None:
        at, down_for = s.consumer_crash
        crash(sim, fulfilment, at=at, restart_after=down_for)
    sim.run(until=s.orders[-1].time)
    while relay.pending() or not relay.alive:
        sim.run(until=sim.now + relay.poll_interval)
    relay.stop()
    sim.run(until=sim.now + 20_000)
    keep = sim.trace if trace else None
    events = broker.events("orders")
    per_order = Counter(sg.data["order_id"] for sg in sagas)
    for order_id, n in per_order.items():
        if n > 1:
            return Breach(
                seed,
                "effects duplicated",
                "duplicated",
                f"{order_id}'s saga was started {n} times (two reservations, two charges)",
                keep,
            )
    dead = {r.event.id for r in DeadLetterQueue(broker, "orders.dlq").list()}
    for e in {e.id: e for e in events}.values():
        if e.data["order_id"] not in per_order and e.id not in dead:
            why = plan[e.data["order_id"]].fault
            return Breach(
                seed,
                "events vanished",
                "vanished",
                f"{e.data['order_id']} ({why}) has no saga and no dead letter",
                keep,
            )
    for sg in sagas:
        effects = [(step, phase) for sid, step, phase in shop.ledger if sid == sg.id]
        if classify(definition, effects, sg.state == "needs-attention") == "half-done":
            return Breach(seed, "sagas half-done", "half-done", f"{sg.id} is half done", keep)
    return None

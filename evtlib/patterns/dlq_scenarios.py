"""Scenarios for the dead-letter queue and retry lessons: they run, and return data.

* :func:`head_of_line`: one poison event in an ordered partition, with the
  naive consumer (retry forever: the partition blocks, lag climbs) or with a
  :class:`~evtlib.patterns.dlq.DeadLetterConsumer` (dead-letter, move on).
* :func:`retry_storm`: many clients fail together against a shared
  :class:`FlakyService` and retry with or without jitter; the calls per time
  bucket show the storm.
* :func:`dlq_sweep`: many random fault schedules (poison events, transient
  failures) through both consumers, tallied.

Each function builds its own seeded :class:`~evtlib.sim.Simulation`, so the
same arguments give the same numbers; nothing is printed or plotted here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker
from ..consumer import Consumer
from ..distributions import Rate, Schedule
from ..errors import EvtlibError
from ..events import Event
from ..metrics import LagSeries, lag_series
from ..producer import Producer
from ..sim import Scheduler, Simulation
from .dlq import DeadLetterConsumer, DeadLetterQueue, conservation
from .retry import JITTERS, RetryPolicy

__all__ = [
    "PoisonError",
    "ServiceUnavailable",
    "FlakyService",
    "HeadOfLine",
    "head_of_line",
    "StormBucket",
    "StormResult",
    "retry_storm",
    "SweepTally",
    "SweepResult",
    "dlq_sweep",
]


class PoisonError(EvtlibError):
    """Raised by the scenarios' handlers for an event that can never be handled."""


class ServiceUnavailable(EvtlibError):
    """Raised by :class:`FlakyService` when it is down or over its capacity."""


# -- head-of-line blocking -----------------------------------------------------


class HeadOfLine(NamedTuple):
    """What :func:`head_of_line` returns: the run, and the lag it produced."""

    sim: Simulation
    broker: Broker
    consumer: Consumer
    lag: LagSeries
    published: int
    handled: int
    dead_lettered: int
    stuck: int


def head_of_line(
    dead_letter: bool,
    *,
    seed: int = 0,
    events: int = 40,
    rate: float = 20.0,
    poison: Sequence[int] = (5,),
    policy: RetryPolicy | None = None,
    retry_delay: float = 100.0,
    until: float | None = None,
    step: float = 50.0,
) -> HeadOfLine:
    """One ordered partition, ``events`` orders at ``rate`` per second, some of them poison.

    ``poison`` lists which events (1-based) always fail.  With
    ``dead_letter=False`` the naive consumer retries every ``retry_delay`` ms
    forever: everything behind the poison event waits and the lag climbs.
    With ``dead_letter=True`` a :class:`DeadLetterConsumer` with ``policy``
    gives up after a few attempts and the lag falls back to zero.  Runs until
    ``until`` ms (default: two seconds after the last event).
    """
    checks.integer("events", events, min=1)
    bad = set(poison)
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("orders", 1)
    broker.create_topic("orders.dlq", 1)

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        return "OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "poison": i in bad}

    Producer(broker, "shop", "orders", Rate(rate), make=make, count=events)

    def handle(event: Event) -> None:
        if event.data["poison"]:
            raise PoisonError(f"{event.key} cannot be billed")

    consumer: Consumer
    if dead_letter:
        consumer = DeadLetterConsumer(
            broker,
            "billing",
            "orders",
            handle,
            policy=policy or RetryPolicy(3, backoff="exponential", base=100, jitter="none"),
        )
    else:
        consumer = Consumer(broker, "billing", "orders", handle, retry_delay=retry_delay)
    end = until if until is not None else (events - 1) * 1000.0 / rate + 2000.0
    sim.run(until=end)
    group = consumer.group
    lag = lag_series(group, step=step)
    handled = sum(st.handled for st in group.states.values())
    dead = len(consumer.dead_letters) if isinstance(consumer, DeadLetterConsumer) else 0
    published = sum(len(st.partition.log) for st in group.states.values())
    return HeadOfLine(sim, broker, consumer, lag, published, handled, dead, group.lag())


# -- retry storm -----------------------------------------------------------------


class FlakyService:
    """A shared dependency that is down for a while, then serves ``capacity`` calls per window.

    :meth:`call` succeeds, or raises :class:`ServiceUnavailable` when the
    service is down (``down_until`` ms) or has already served ``capacity``
    calls in the current ``window`` of ms (it sheds load).  Every call is
    written to the trace as ``called`` and kept in :attr:`calls`.
    """

    def __init__(
        self,
        sim: Simulation,
        name: str = "pricing",
        *,
        capacity: int = 5,
        window: float = 100.0,
        down_until: float = 250.0,
    ) -> None:
        checks.instance("sim", sim, Scheduler, "Simulation or another runner")
        checks.integer("capacity", capacity, min=1)
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
            raise ValueError(f"window must be > 0 ms, got {window!r}")
        if not isinstance(down_until, (int, float)) or not down_until >= 0:
            raise ValueError(f"down_until must be >= 0 ms, got {down_until!r}")
        self.sim = sim
        self.name = sim.register_name(name, "service")
        self.capacity = capacity
        self.window = float(window)
        self.down_until = float(down_until)
        #: ``(time, caller, outcome)`` for every call; outcome is ok, down or overloaded.
        self.calls: list[tuple[float, str, str]] = []
        self._window_index = -1
        self._served = 0

    def call(self, caller: str, event_id: str | None = None) -> None:
        """Serve one call from ``caller`` now, or raise :class:`ServiceUnavailable`."""
        now = self.sim.now
        index = int(now // self.window)
        if index != self._window_index:
            self._window_index, self._served = index, 0
        if now < self.down_until:
            outcome = "down"
        elif self._served >= self.capacity:
            outcome = "overloaded"
        else:
            outcome = "ok"
            self._served += 1
        self.calls.append((now, caller, outcome))
        self.sim.trace.record(now, "called", caller, event_id, detail=f"{self.name}: {outcome}")
        if outcome == "down":
            raise ServiceUnavailable(f"{self.name} is down until t={self.down_until:g} ms")
        if outcome == "overloaded":
            raise ServiceUnavailable(
                f"{self.name} is overloaded: {self.capacity} calls per {self.window:g} ms"
            )

    def __repr__(self) -> str:
        ok = sum(1 for c in self.calls if c[2] == "ok")
        return (
            f"<FlakyService {self.name} capacity={self.capacity}/{self.window:g}ms"
            f" down_until={self.down_until:g}ms calls={len(self.calls)} ok={ok}>"
        )


class StormBucket(NamedTuple):
    """Calls to the service in ``[start, start + width)`` ms."""

    start: float
    attempts: int
    retries: int
    ok: int
    failed: int


class StormResult(NamedTuple):
    """What :func:`retry_storm` returns: per-bucket counts and their summary."""

    jitter: str
    buckets: list[StormBucket]
    peak: int
    peak_retries: int
    attempts: int
    succeeded: int
    dead_lettered: int
    finished_at: float
    sim: Simulation
    service: FlakyService


def retry_storm(
    jitter: str = "none",
    *,
    clients: int = 20,
    seed: int = 0,
    policy: RetryPolicy | None = None,
    capacity: int = 5,
    window: float = 100.0,
    down_until: float = 250.0,
    bucket: float = 10.0,
) -> StormResult:
    """``clients`` services react to one event at once and call a :class:`FlakyService`.

    One ``PriceListPublished`` event fans out to ``clients`` consumer groups
    (one :class:`DeadLetterConsumer` each), so every client calls the
    service at t=0, while it is down.  They retry with ``policy`` (default:
    8 attempts, exponential backoff from 100 ms, capped at 10 s) using
    ``jitter``.  Without jitter they come back in step, every time, and the
    service (``capacity`` calls per ``window`` ms) sheds most of each burst;
    with jitter their retries spread out.

    The first attempts are simultaneous by construction, whatever the jitter;
    ``peak_retries`` (the most retries in one ``bucket`` ms) is the number to
    compare, ``peak`` counts every call.  ``buckets`` is ready to plot.
    """
    if jitter not in JITTERS:
        raise ValueError(f"jitter must be one of {JITTERS}, got {jitter!r}")
    checks.integer("clients", clients, min=1)
    if isinstance(bucket, bool) or not isinstance(bucket, (int, float)) or not bucket > 0:
        raise ValueError(f"bucket must be > 0 ms, got {bucket!r}")
    base = policy or RetryPolicy(8, backoff="exponential", base=100.0, cap=10_000.0)
    pol = RetryPolicy(base.max_attempts, base.backoff, base.base, base.cap, jitter)
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("prices", 1)
    broker.create_topic("prices.dlq", 1)
    service = FlakyService(sim, capacity=capacity, window=window, down_until=down_until)
    names = [f"client-{i:02d}" for i in range(1, clients + 1)]
    consumers = []
    for name in names:

        def call(event: Event, name: str = name) -> None:
            service.call(name, event.id)

        consumers.append(DeadLetterConsumer(broker, name, "prices", call, policy=pol))
    Producer(broker, "catalog", "prices", Schedule([0.0]), make=_price_list)
    sim.run()

    first: dict[tuple[float, str], bool] = {}
    for rec in sim.trace.filter(kind=("delivered", "redelivered"), actor=names):
        first.setdefault((rec.time, rec.actor), rec.kind == "delivered")
    n = int(max((c[0] for c in service.calls), default=0.0) // bucket) + 1
    attempts, retries, ok, failed = [0] * n, [0] * n, [0] * n, [0] * n
    for time, caller, outcome in service.calls:
        i = int(time // bucket)
        attempts[i] += 1
        if not first.get((time, caller), False):
            retries[i] += 1
        if outcome == "ok":
            ok[i] += 1
        else:
            failed[i] += 1
    buckets = [StormBucket(i * bucket, attempts[i], retries[i], ok[i], failed[i]) for i in range(n)]
    return StormResult(
        jitter=jitter,
        buckets=buckets,
        peak=max(attempts),
        peak_retries=max(retries),
        attempts=len(service.calls),
        succeeded=sum(c.succeeded for c in consumers),
        dead_lettered=sum(len(c.dead_letters) for c in consumers),
        finished_at=max((c[0] for c in service.calls), default=0.0),
        sim=sim,
        service=service,
    )


def _price_list(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
    return "PriceListPublished", "price-list", {"version": i}


# -- a sweep over random fault schedules ---------------------------------------


@dataclass(frozen=True)
class SweepTally:
    """Totals over every schedule of a :func:`dlq_sweep`, for one consumer kind.

    ``stuck_events``: published but neither handled nor dead-lettered at the
    end.  ``blocked_partitions``: partitions with lag > 0 at the end (summed
    over schedules); ``schedules_blocked``: schedules with at least one.
    ``vanished``: committed but neither handled nor dead-lettered (must be 0).
    ``recovered_by_redrive``: dead-lettered events handled after one redrive
    (transient failures that outlived the retries).
    """

    kind: str
    schedules: int
    published: int
    handled: int
    dead_lettered: int
    stuck_events: int
    blocked_partitions: int
    schedules_blocked: int
    lag_at_end: int
    vanished: int
    recovered_by_redrive: int


class SweepResult(NamedTuple):
    """What :func:`dlq_sweep` returns: the same schedules through both consumers."""

    schedules: int
    poison_events: int
    transient_events: int
    naive: SweepTally
    pattern: SweepTally


def _schedule(rng: random.Random) -> tuple[int, list[tuple[float, str, str, int]]]:
    partitions = rng.randint(1, 4)
    n = rng.randint(5, 40)
    p_poison = rng.uniform(0.0, 0.15)
    p_transient = rng.uniform(0.0, 0.3)
    times = sorted(round(rng.uniform(0.0, 3000.0), 1) for _ in range(n))
    plan = []
    for t in times:
        key = f"order-{rng.randint(1, 12)}"
        r = rng.random()
        if r < p_poison:
            plan.append((t, key, "poison", 0))
        elif r < p_poison + p_transient:
            plan.append((t, key, "transient", rng.randint(1, 5)))
        else:
            plan.append((t, key, "ok", 0))
    return partitions, plan


def _run_one(
    partitions: int,
    plan: list[tuple[float, str, str, int]],
    *,
    pattern: bool,
    seed: int,
    horizon: float,
    policy: RetryPolicy,
) -> dict[str, int]:
    sim = Simulation(seed, trace=False)
    broker = Broker(sim)
    broker.create_topic("orders", partitions)
    broker.create_topic("orders.dlq", 1)
    tries: dict[str, int] = {}
    handled_ids: set[str] = set()

    def handle(event: Event) -> None:
        n = tries[event.id] = tries.get(event.id, 0) + 1
        fault = event.data["fault"]
        if fault == "poison":
            raise PoisonError(f"{event.id} can never be handled")
        if fault == "transient" and n <= event.data["fails"]:
            raise TimeoutError(f"{event.id} timed out (try {n})")
        handled_ids.add(event.id)

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        _, key, fault, fails = plan[i - 1]
        return "OrderPlaced", key, {"fault": fault, "fails": fails}

    Producer(broker, "shop", "orders", Schedule([p[0] for p in plan]), make=make)
    consumer: Consumer
    if pattern:
        consumer = DeadLetterConsumer(broker, "billing", "orders", handle, policy=policy)
    else:
        consumer = Consumer(broker, "billing", "orders", handle, retry_delay=100.0)
    sim.run(until=horizon)
    group = consumer.group
    out = {
        "published": len(plan),
        "blocked_partitions": sum(1 for st in group.states.values() if st.lag > 0),
        "lag_at_end": group.lag(),
        "recovered_by_redrive": 0,
    }
    if pattern:
        book = conservation(broker, "billing")
        out.update(
            handled=book.handled,
            dead_lettered=book.dead_lettered,
            stuck_events=book.in_flight + book.waiting,
            vanished=book.vanished,
        )
        # Redrive once, as if the on-call engineer waited out the transient faults.
        before = set(handled_ids)
        DeadLetterQueue(broker, "orders.dlq").redrive(rate=100.0)
        sim.run()
        out["recovered_by_redrive"] = len(handled_ids - before)
    else:
        out.update(
            handled=len(handled_ids),
            dead_lettered=0,
            stuck_events=len(plan) - len(handled_ids),
            vanished=sum(st.committed for st in group.states.values()) - len(handled_ids),
        )
    return out


def dlq_sweep(
    schedules: int = 1000,
    *,
    seed: int = 0,
    horizon: float = 30_000.0,
    policy: RetryPolicy | None = None,
) -> SweepResult:
    """Run ``schedules`` random fault schedules through the naive consumer and the pattern.

    Each schedule has 1-4 partitions and 5-40 orders over 12 keys published
    in the first 3 s; some are *poison* (always fail) and some *transient*
    (fail their first 1-5 tries).  The naive consumer retries every 100 ms
    forever; the :class:`DeadLetterConsumer` uses ``policy`` (default: 3
    attempts, exponential backoff from 50 ms, full jitter).  Both run until
    ``horizon`` ms; then the pattern's dead-letter queue is redriven once.
    """
    checks.integer("schedules", schedules, min=1)
    if not isinstance(horizon, (int, float)) or not horizon > 3000:
        raise ValueError(f"horizon must be > 3000 ms (the publishing window), got {horizon!r}")
    policy = policy or RetryPolicy(3, backoff="exponential", base=50.0, jitter="full")
    keys = (
        "published",
        "handled",
        "dead_lettered",
        "stuck_events",
        "blocked_partitions",
        "lag_at_end",
        "vanished",
        "recovered_by_redrive",
    )
    totals = {
        kind: dict.fromkeys(keys + ("schedules_blocked",), 0) for kind in ("naive", "pattern")
    }
    poison = transient = 0
    for i in range(schedules):
        partitions, plan = _schedule(random.Random(f"{seed}/fault-sweep/{i}"))
        poison += sum(1 for p in plan if p[2] == "poison")
        transient += sum(1 for p in plan if p[2] == "transient")
        for kind in ("naive", "pattern"):
            row = _run_one(
                partitions,
                plan,
                pattern=kind == "pattern",
                seed=seed + i,
                horizon=horizon,
                policy=policy,
            )
            t = totals[kind]
            for k in keys:
                t[k] += row[k]
            t["schedules_blocked"] += row["blocked_partitions"] > 0
    tallies = {kind: SweepTally(kind=kind, schedules=schedules, **t) for kind, t in totals.items()}
    return SweepResult(schedules, poison, transient, tallies["naive"], tallies["pattern"])

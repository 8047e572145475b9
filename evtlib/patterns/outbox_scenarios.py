"""The outbox's scenarios: each twin under crash schedules, counted.

:func:`run_outbox_scenario` places orders under one seeded crash schedule
and returns an :class:`Outcome` counted from the database and the topic;
:func:`crash_sweep` crashes each twin once at each point;
:func:`outbox_sweep` tallies many random schedules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import checks
from ..broker import Broker
from ..events import Event
from ..sim import Simulation
from .crashes import CrashPlan, SimulatedCrash
from .outbox import (
    DUAL_WRITE_ORDERS,
    OUTBOX_CRASH_POINTS,
    TWINS,
    DualWriteService,
    OrderService,
    OutboxRelay,
)

__all__ = ["Outcome", "run_outbox_scenario", "crash_sweep", "outbox_sweep", "sweep"]


def _order_id(event: Event) -> str:
    # The outbox keys each event by its order (the aggregate id).
    if event.key is None:
        raise ValueError(f"an order event must be keyed by its order id, got {event!r}")
    return event.key


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float))


@dataclass(frozen=True)
class Outcome:
    """What one outbox (or dual-write) scenario did, counted from the database and the topic.

    ``lost``: orders committed whose event was never published.  ``invented``:
    events published for orders that were rolled back.  ``duplicates``:
    publications beyond the first of an event.  ``ok`` means nothing was
    lost or invented (duplicates are allowed: consumers de-duplicate).
    ``in_seq_order``: first publications came in the order of the outbox
    sequence, which is commit order here (one writer); with concurrent
    writers it need not be.
    """

    twin: str
    seed: int
    attempted: int
    committed: int
    published: int
    lost: int
    invented: int
    duplicates: int
    crashes: tuple[tuple[str, int], ...] = ()
    lost_orders: tuple[str, ...] = ()
    invented_orders: tuple[str, ...] = ()
    in_seq_order: bool = True
    trace_kinds: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def rolled_back(self) -> int:
        """Orders whose transaction never committed."""
        return self.attempted - self.committed

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.invented == 0


def _twin(pattern: bool, order: str) -> str:
    if order not in DUAL_WRITE_ORDERS:
        raise ValueError(f"order must be one of {DUAL_WRITE_ORDERS}, got {order!r}")
    return "outbox" if pattern else f"dual-write {order}"


def _run(seed: int, twin: str, plan: CrashPlan, n_orders: int, trace: bool = True) -> Outcome:
    sim = Simulation(seed, trace=trace)
    broker = Broker(sim)
    broker.create_topic("orders")
    rng = sim.rng_for("orders-client")
    service: OrderService | DualWriteService
    relay = None
    if twin == "outbox":
        service = OrderService(sim, crash_at=plan)
        relay = OutboxRelay(sim, service.db, broker, "orders", poll_interval=100, crash_at=plan)
    else:
        order = twin.removeprefix("dual-write ")
        service = DualWriteService(sim, broker, "orders", order=order, crash_at=plan)

    def place(i: int) -> None:
        try:
            service.place_order(f"customer-{i % 3 + 1}", 10 + rng.randrange(90))
        except SimulatedCrash:
            pass  # the client gets no answer; the trace shows the crash

    t = 0.0
    for i in range(n_orders):
        t += rng.choice((10, 30, 70, 150))
        sim.schedule_at(t, place, i)
    sim.run(until=t)
    if relay is not None:
        # Let the relay drain the table (its crashes only delay it).
        while relay.pending() or not relay.alive:
            sim.run(until=sim.now + relay.poll_interval)
        relay.stop()
    sim.run()

    committed = {row[0] for row in service.db.execute("SELECT id FROM orders")}
    events = broker.events("orders")
    published_keys = [_order_id(e) for e in events]
    first_seen = list(dict.fromkeys(published_keys))
    lost = sorted(committed - set(published_keys))
    invented = sorted(set(published_keys) - committed)
    # Order ids grow with the outbox seq here (one writer: seq, order id and commit
    # all follow the one clock), so first publications in seq order means sorted ids.
    in_order = first_seen == sorted(first_seen)
    return Outcome(
        twin=twin,
        seed=seed,
        attempted=n_orders,
        committed=len(committed),
        published=len(events),
        lost=len(lost),
        invented=len(invented),
        duplicates=len(events) - len({e.id for e in events}),
        crashes=tuple(plan.fired),
        lost_orders=tuple(lost),
        invented_orders=tuple(invented),
        in_seq_order=in_order,
        trace_kinds=sim.trace.counts(),
    )


def _check_n_orders(n_orders: Any) -> None:
    checks.integer("n_orders", n_orders, min=1)


def run_outbox_scenario(
    seed: int,
    pattern: bool = True,
    crash_points: str | Iterable[str] | Mapping[str, int | Iterable[int]] | None = None,
    n_orders: int = 8,
    *,
    order: str = "db-first",
    crash_rate: float = 0.1,
    trace: bool = True,
) -> Outcome:
    """Place ``n_orders`` orders under a random crash schedule and count what happened.

    ``pattern=True`` runs :class:`OrderService` + :class:`OutboxRelay`;
    ``False`` runs :class:`DualWriteService` in the given ``order``.
    ``crash_points`` (default: all of :data:`OUTBOX_CRASH_POINTS`) are the
    points the schedule draws from: each visit of each point crashes with
    probability ``crash_rate``, drawn from ``seed``.  ``crash_points`` may
    also be an explicit mapping ``{point: [visits]}``.  Same seed, same outcome.
    """
    checks.integer("seed", seed)
    _check_n_orders(n_orders)
    if not (_number(crash_rate) and 0 <= crash_rate < 1):
        raise ValueError(f"crash_rate must be a probability in [0, 1), got {crash_rate!r}")
    twin = _twin(pattern, order)
    if crash_points is None:
        crash_points = OUTBOX_CRASH_POINTS
    if isinstance(crash_points, str):
        crash_points = (crash_points,)
    if isinstance(crash_points, Mapping):
        plan = CrashPlan(crash_points, allowed=OUTBOX_CRASH_POINTS, param="crash_points")
    else:
        points = list(crash_points)
        CrashPlan(points, allowed=OUTBOX_CRASH_POINTS, param="crash_points")  # validates
        rng = Simulation(seed).rng_for("fault-schedule")
        visits: dict[str, list[int]] = {}
        for point in points:
            visits[point] = [v for v in range(1, n_orders + 1) if rng.random() < crash_rate]
        plan = CrashPlan(visits, allowed=OUTBOX_CRASH_POINTS, param="crash_points")
    return _run(seed, twin, plan, n_orders, trace)


def crash_sweep(n_orders: int = 3, visit: int = 2) -> list[Outcome]:
    """One crash at each point, for each twin: a table of what each crash does.

    For every twin in :data:`TWINS` and every point it visits, run
    ``n_orders`` orders with a single crash at that point's ``visit``-th
    visit.  Returns one :class:`Outcome` per (twin, point), in order.
    """
    _check_n_orders(n_orders)
    if isinstance(visit, bool) or not isinstance(visit, int) or not 1 <= visit <= n_orders:
        raise ValueError(f"visit must be an int in 1..n_orders ({n_orders}), got {visit!r}")
    out = []
    for twin in TWINS:
        points = OUTBOX_CRASH_POINTS if twin == "outbox" else OUTBOX_CRASH_POINTS[:2]
        for point in points:
            plan = CrashPlan({point: visit}, allowed=OUTBOX_CRASH_POINTS)
            out.append(_run(0, twin, plan, n_orders))
    return out


def outbox_sweep(n_schedules: int = 1000, seed: int = 0, n_orders: int = 8) -> dict[str, Any]:
    """Tally every twin over ``n_schedules`` random crash schedules (seeds ``seed..``).

    Returns ``{"schedules": n, "<twin>": {"failed_schedules", "lost",
    "invented", "duplicates", "crashes", "out_of_order"}, ...}``: the
    naive twins fail on a share of schedules, the outbox on none (its
    duplicates are expected and handled by idempotent consumers).
    """
    checks.integer("n_schedules", n_schedules, min=1)
    tallies: dict[str, Any] = {"schedules": n_schedules}
    keys = ("failed_schedules", "lost", "invented", "duplicates", "crashes", "out_of_order")
    for twin in TWINS:
        tallies[twin] = dict.fromkeys(keys, 0)
    for i in range(n_schedules):
        for twin in TWINS:
            o = run_outbox_scenario(
                seed + i,
                pattern=twin == "outbox",
                order=twin.removeprefix("dual-write ") if twin != "outbox" else "db-first",
                n_orders=n_orders,
                trace=False,
            )
            t = tallies[twin]
            t["failed_schedules"] += not o.ok
            t["lost"] += o.lost
            t["invented"] += o.invented
            t["duplicates"] += o.duplicates
            t["crashes"] += len(o.crashes)
            t["out_of_order"] += not o.in_seq_order
    return tallies


#: The closing note's name for :func:`outbox_sweep`.
sweep = outbox_sweep

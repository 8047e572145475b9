"""Explorers of notebook 07, the transactional outbox: the poll interval, and how often processes die.

* :func:`relay_delay` runs the outbox shop with a relay polling every
  ``poll_interval`` ms; :func:`draw_relay_delay` draws billing's consistency
  lag, titled with the polls it took.  Knobs: the poll interval, the batch size.
* :func:`poll_interval_costs` runs :func:`relay_delay` at several poll
  intervals and counts what polling costs: the delay from commit to publish
  (median and worst), the polls, and how many found nothing;
  :func:`draw_poll_interval_costs` draws it.  A log-tailing relay (change data
  capture, e.g. Debezium) is not simulated: it has no poll interval and no
  empty polls, and needs access to the database's log instead.
* :func:`crash_rate_sweep` runs the dual write (both orders of writing) and
  the outbox on the same random crash schedules at a chosen crash rate;
  :func:`draw_crash_rate_sweep` draws what each lost, invented and published
  twice.  Knobs: the crash rate, the orders per schedule.

Pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...metrics import percentiles
from ...patterns.outbox import TWINS, OrderService, OutboxRelay
from ...patterns.outbox_scenarios import run_outbox_scenario
from ...sim import Simulation
from ...trace import Trace

__all__ = [
    "RelayRun",
    "relay_delay",
    "draw_relay_delay",
    "poll_interval_costs",
    "draw_poll_interval_costs",
    "crash_rate_sweep",
    "draw_crash_rate_sweep",
]


@dataclass(frozen=True)
class RelayRun:
    """What :func:`relay_delay` leaves behind: the run, its relay, billing and a few numbers."""

    sim: Simulation
    broker: Broker
    relay: OutboxRelay
    consumer: Consumer
    info: Mapping[str, Any] = field(default_factory=dict)
    effects: tuple[str, ...] = ()

    @property
    def trace(self) -> Trace:
        """The simulation's trace."""
        return self.sim.trace

    def __repr__(self) -> str:
        return f"<RelayRun polls={self.relay.polls} published={self.relay.published} info={dict(self.info)}>"


def relay_delay(
    *,
    poll_interval: float = 100.0,
    batch_size: int = 10,
    orders: int = 40,
    every_ms: float = 25.0,
    drain: bool = True,
) -> RelayRun:
    """``orders`` orders, one every ``every_ms``, published by a relay polling every ``poll_interval``.

    The relay publishes at most ``batch_size`` rows per poll.  Billing
    (5 ms per event) reads the topic; its consistency lag runs from the
    order being placed to billing handling its event.  ``info`` has
    ``polls`` and ``p99`` (ms).  ``drain=False`` stops the relay one poll
    interval after the last order (enough when a poll takes every waiting
    row), so its polls count only the time orders arrive.
    """
    checks.number("poll_interval", poll_interval, above=0)
    checks.integer("batch_size", batch_size, min=1)
    checks.integer("orders", orders, min=1, max=500)
    sim = Simulation(seed=1)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders")
    service = OrderService(sim)
    last = 10 + every_ms * (orders - 1)
    relay = OutboxRelay(
        sim,
        service.db,
        broker,
        "orders",
        poll_interval=poll_interval,
        batch_size=batch_size,
        until=last + max(270.0, 3 * poll_interval * max(1, orders // batch_size))
        if drain
        else last + poll_interval,
    )
    billing = Consumer(broker, "billing", "orders", service_time=5)
    for i in range(orders):
        sim.schedule_at(10 + every_ms * i, service.place_order, "ada", 10)
    sim.run()
    info = {"polls": relay.polls, "p99": round(percentiles(billing.lags)[99], 1)}
    return RelayRun(sim, broker, relay, billing, info)


def draw_relay_delay(run: RelayRun, ax: Any = None) -> Any:
    """Billing's consistency lag under :func:`relay_delay`, titled with polls and p99."""
    from ...viz import draw_consistency_lag

    return draw_consistency_lag(
        run.consumer,
        ax=ax,
        title=f"{run.info['polls']} polls; p99 from order to billing {run.info['p99']:g} ms",
    )


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


def poll_interval_costs(
    intervals: tuple[float, ...] = (10.0, 25.0, 50.0, 100.0, 200.0),
    *,
    orders: int = 40,
    every_ms: float = 25.0,
) -> list[dict[str, float]]:
    """What polling costs at each of ``intervals``: one row per poll interval.

    Each row: ``poll every (ms)``, ``median delay (ms)`` and ``max delay (ms)``
    from an order's commit (its outbox row written) to its event's first
    publication, ``polls`` (each one a query on the order database) and
    ``empty polls`` (queries that found nothing), counted while the orders
    arrive.  ``orders`` orders, one every ``every_ms``, as in
    :func:`relay_delay`, with no batch limit.
    """
    if not intervals:
        raise ValueError("intervals must name at least one poll interval, got an empty tuple")
    rows = []
    for interval in intervals:
        run = relay_delay(
            poll_interval=interval, orders=orders, every_ms=every_ms, batch_size=500, drain=False
        )
        written: dict[str, float] = {}
        delays: list[float] = []
        for r in run.trace:
            if r.kind == "outbox-written" and r.event_id is not None:
                written[r.event_id] = r.time
            elif r.kind == "published" and r.event_id in written:
                delays.append(r.time - written.pop(r.event_id))
        rows.append(
            {
                "poll every (ms)": float(interval),
                "median delay (ms)": _median(delays),
                "max delay (ms)": max(delays),
                "polls": run.relay.polls,
                "empty polls": run.relay.empty_polls,
            }
        )
    return rows


def draw_poll_interval_costs(rows: list[dict[str, float]], ax: Any = None) -> Any:
    """Delay (median, worst) and polls against the poll interval; return the Figure.

    Left: the delay from commit to publish, with the line "one poll
    interval" for reference.  Right: polls and empty polls as bars (hatched
    for the empty ones), each with its number.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows must hold at least one row of poll_interval_costs")
    if ax is None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    else:
        left, right = ax
        fig = left.figure
    xs = [r["poll every (ms)"] for r in rows]
    left.plot(xs, [r["max delay (ms)"] for r in rows], "s-", label="worst delay")
    left.plot(xs, [r["median delay (ms)"] for r in rows], "o-", label="median delay")
    left.plot(xs, xs, ls=":", color="#555555", label="one poll interval")
    left.set_xlabel("the relay polls every (ms)")
    left.set_ylabel("commit to publish (ms)")
    left.legend(loc="upper left")
    left.set_title("polling delays every event", loc="left")
    pos = list(range(len(rows)))
    polls = right.bar(
        [p - 0.2 for p in pos], [r["polls"] for r in rows], 0.4, label="polls (queries)"
    )
    empty = right.bar(
        [p + 0.2 for p in pos],
        [r["empty polls"] for r in rows],
        0.4,
        hatch="//",
        edgecolor="white",
        label="polls that found nothing",
    )
    for bars in (polls, empty):
        right.bar_label(bars, fontsize=10, padding=2)
    right.set_xticks(pos, [f"{x:g}" for x in xs])
    right.set_xlabel("the relay polls every (ms)")
    right.set_ylabel("queries on the order database")
    right.margins(y=0.15)
    right.legend(loc="upper right")
    right.set_title("and costs a query per poll", loc="left")
    return fig


def crash_rate_sweep(
    *, crash_rate: float = 0.1, n_orders: int = 8, schedules: int = 15
) -> dict[str, dict[str, int]]:
    """Each twin on ``schedules`` random crash schedules (seeds 0..) at ``crash_rate`` per visit.

    Returns ``{twin: {"schedules with a loss or invention", "events lost",
    "events invented", "events published twice"}}``.
    """
    checks.probability("crash_rate", crash_rate)
    checks.integer("n_orders", n_orders, min=1, max=50)
    checks.integer("schedules", schedules, min=1, max=500)
    out: dict[str, dict[str, int]] = {}
    for twin in TWINS:
        tally = {
            "schedules with a loss or invention": 0,
            "events lost": 0,
            "events invented": 0,
            "events published twice": 0,
        }
        for seed in range(schedules):
            o = run_outbox_scenario(
                seed,
                pattern=twin == "outbox",
                order=twin.removeprefix("dual-write ") if twin != "outbox" else "db-first",
                n_orders=n_orders,
                crash_rate=crash_rate,
                trace=False,
            )
            tally["schedules with a loss or invention"] += not o.ok
            tally["events lost"] += o.lost
            tally["events invented"] += o.invented
            tally["events published twice"] += o.duplicates
        out[twin] = tally
    return out


def draw_crash_rate_sweep(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """The tallies of :func:`crash_rate_sweep` as grouped bars."""
    from ...viz import draw_tallies

    return draw_tallies(
        tallies, ax=ax, ylabel="count", title="the same random crash schedules, each twin"
    )

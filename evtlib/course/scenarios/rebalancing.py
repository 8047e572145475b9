"""Rebalancing a Kafka consumer group: which partitions stop, and for how long.

A shop publishes orders to a 6-partition topic; three billing consumers
share it (one group).  A fourth joins mid-stream, and later one of the first
three crashes.  The same run under Kafka's two rebalance protocols
(``partition.assignment.strategy``):

* ``"eager"`` (what Kafka's default ``[RangeAssignor,
  CooperativeStickyAssignor]`` does): at every rebalance every member
  revokes all its partitions, and nothing flows until the last member has
  rejoined at its next poll (after the handling it is busy with);
* ``"cooperative-sticky"``: members keep their partitions; only those that
  move stop, from the first round to the second.

Either way the crashed member's partitions stop until the group notices:
``session.timeout.ms`` after its last heartbeat.  The group here asks for
6 s, the least a Kafka broker allows by default
(``group.min.session.timeout.ms``); Kafka's default is 45 s.

    eager = rebalancing_run("eager")
    cooperative = rebalancing_run("cooperative-sticky")
    draw_rebalancing([eager, cooperative])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Rate, Uniform
from ...faults import crash
from ...group import STRATEGIES, Group
from ...producer import Producer
from ...sim import Simulation
from .base import make_order

__all__ = [
    "RebalanceRun",
    "rebalancing_run",
    "stopped_ms",
    "draw_stopped_partitions",
    "draw_rebalancing",
]

#: The causes a stop is drawn under, by the start of its ``why``.
CRASH = "owner crashed: waiting for the session timeout"
REBALANCE = "revoked by a rebalance"


class RebalanceRun(NamedTuple):
    """One run: the strategy, what happened when, and every partition's stopped intervals."""

    strategy: str
    sim: Simulation
    broker: Broker
    group: Group
    #: ``{"orders[0]": [(start, end, why), ...], ...}``: when each partition did not flow.
    stopped: dict[str, list[tuple[float, float, str]]]
    joined_at: float
    crashed_at: float
    noticed_at: float | None
    end: float


def rebalancing_run(
    strategy: str = "eager",
    *,
    seed: int = 7,
    rate: float = 5.0,
    until: float = 16_000.0,
    join_at: float = 3_000.0,
    crash_at: float = 7_000.0,
    session_timeout: float = 6_000.0,
) -> RebalanceRun:
    """Three billing members, a fourth joining at ``join_at``, the second crashing at ``crash_at``.

    Orders arrive at ``rate`` a second until ``until`` ms; billing takes 100
    to 900 ms per order (a card payment), so a member is usually busy when a
    rebalance begins.  ``session_timeout`` (ms) is the group's; the crash is
    noticed ``session_timeout`` after the crashed member's last heartbeat
    (every 3 s, Kafka's ``heartbeat.interval.ms``).
    """
    checks.one_of("strategy", strategy, STRATEGIES)
    checks.number("rate", rate, above=0)
    checks.number("until", until, above=0)
    checks.ms("join_at", join_at)
    checks.ms("crash_at", crash_at)
    checks.ms("session_timeout", session_timeout, positive=True)
    sim = Simulation(seed)
    broker = Broker(sim, settings={"partition.assignment.strategy": strategy}, latency=1.0)
    broker.create_topic("orders", 6)
    # Kafka's default session.timeout.ms is 45 s; 6 s is the least a broker allows by
    # default (group.min.session.timeout.ms), which keeps the picture short.
    group = broker.group("billing", session_timeout=session_timeout)
    members = [
        Consumer(broker, f"billing-{i}", "orders", group="billing", service_time=Uniform(100, 900))
        for i in (1, 2, 3)
    ]
    late = Consumer(
        broker,
        "billing-4",
        "orders",
        group="billing",
        service_time=Uniform(100, 900),
        start=False,
    )
    sim.schedule_at(join_at, late.start)
    crash(sim, members[1], at=crash_at)
    Producer(broker, "shop", "orders", Rate(rate), until=until, make=make_order)
    sim.run()
    noticed = [r.time for r in sim.trace.filter(kind="left", actor="billing-2")]
    stopped: dict[str, list[tuple[float, float, str]]] = {str(tp): [] for tp in group.states}
    for s in group.stops:
        stopped[s.partition].append((s.start, sim.now if s.end is None else s.end, s.why))
    return RebalanceRun(
        strategy,
        sim,
        broker,
        group,
        stopped,
        join_at,
        crash_at,
        noticed[0] if noticed else None,
        sim.now,
    )


def cause(why: str) -> str:
    """The cause a stop is counted and drawn under: a crash, or a rebalance's revocation."""
    return CRASH if "crashed" in why else REBALANCE


def stopped_ms(run: RebalanceRun) -> dict[str, float]:
    """Partition-milliseconds stopped in ``run``, per cause (rounded to 0.1 ms)."""
    out = {CRASH: 0.0, REBALANCE: 0.0}
    for spans in run.stopped.values():
        for start, end, why in spans:
            out[cause(why)] += end - start
    return {k: round(v, 1) for k, v in out.items()}


_STYLE = {  # colour, hatch: two encodings, and a legend naming each
    CRASH: ("#882255", "////"),  # Tol muted wine
    REBALANCE: ("#DDCC77", "...."),  # Tol muted sand
}


def draw_stopped_partitions(
    run: RebalanceRun, ax: Any = None, title: str | None = None, *, legend: bool = True
) -> Any:
    """One row per partition, a bar for each time it stopped, labelled with how long.

    Dashed lines mark when billing-4 joined, billing-2 crashed and the group
    noticed.  Drawn on ``ax`` (a new figure if None); returns the Axes.
    """
    import matplotlib.pyplot as plt

    from ...viz.describe import note
    from ...viz.style import TOL_MUTED

    if ax is None:
        _, ax = plt.subplots(figsize=(9.0, 3.4), layout="constrained")
    names = list(run.stopped)
    span = run.end or 1.0
    for row, name in enumerate(names):
        for start, end, why in run.stopped[name]:
            c = cause(why)
            colour, hatch = _STYLE[c]
            width = max(end - start, span * 0.003)  # a very short stop stays visible
            ax.broken_barh(
                [(start, width)],
                (row - 0.35, 0.7),
                facecolors=colour,
                edgecolor="#333333",
                hatch=hatch,
                linewidth=0.6,
            )
            length = end - start
            text = f"{length / 1000:.1f} s" if length >= 1000 else f"{length:.0f} ms"
            ax.text(end + span * 0.006, row, text, va="center", fontsize=8)
    marks = [(run.joined_at, "billing-4 joins"), (run.crashed_at, "billing-2 crashes")]
    if run.noticed_at is not None:
        marks.append((run.noticed_at, "group notices"))
    for t, label in marks:
        ax.axvline(t, color=TOL_MUTED["indigo"], linestyle="--", linewidth=1)
        ax.text(t, -0.75, f" {label}", fontsize=8, va="center")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -1.2)  # the first partition on top, the marks' labels above it
    ax.set_xlim(0, span * 1.08)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("partition")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        ax.legend(
            handles=legend_handles(),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncols=2,
            fontsize=8,
            frameon=False,
        )
    totals = stopped_ms(run)
    ax.set_title(
        title
        or f"{run.strategy}: {totals[REBALANCE] / 1000:.1f} s stopped by rebalances,"
        f" {totals[CRASH] / 1000:.1f} s by the crash (partition-seconds)",
        loc="left",
        fontsize=10,
    )
    stops = sum(len(v) for v in run.stopped.values())
    note(
        ax,
        f"Which partitions of orders stopped under {run.strategy} rebalancing, and for how long:"
        f" {stops} stops, {totals[REBALANCE] / 1000:.1f} partition-seconds revoked by rebalances"
        f" and {totals[CRASH] / 1000:.1f} waiting for the crashed member's session timeout.",
    )
    return ax


def draw_rebalancing(runs: Sequence[RebalanceRun]) -> Any:
    """The runs one above the other on one time axis (eager first, say); returns the Figure."""
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("runs must hold at least one RebalanceRun, got an empty sequence")
    fig, axes = plt.subplots(
        len(runs), 1, figsize=(9.0, 0.4 + 2.9 * len(runs)), sharex=True, layout="constrained"
    )
    axes = [axes] if len(runs) == 1 else list(axes)
    for ax, run in zip(axes, runs, strict=True):
        draw_stopped_partitions(run, ax=ax, legend=False)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    fig.legend(
        handles=legend_handles(), loc="outside lower center", ncols=2, fontsize=8, frameon=False
    )
    return fig


def legend_handles() -> list[Any]:
    """The legend's entries: each cause with its colour and its hatch."""
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=colour, hatch=hatch, edgecolor="#333333", label=name)
        for name, (colour, hatch) in _STYLE.items()
    ]

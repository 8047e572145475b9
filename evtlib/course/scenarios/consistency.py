"""Eventual consistency (notebook 05): the shop under load, and its lag.

* :func:`shop` runs the shop for a while and :func:`lag_summary` reads its lag.
* :func:`load_curve` measures the p99 consistency lag of one consumer against
  its utilisation, over several seeds, and :func:`mm1_time_in_system` gives
  queueing theory's answer for the same quantity (:func:`draw_load_curve`
  puts both on one chart).
* :func:`backlog_growth` shows that above utilisation 1 the backlog grows
  with the length of the busy period, without bound
  (:func:`draw_backlog_growth`).

Pure and seeded: the same arguments give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Constant, Exponential, Poisson
from ...producer import Producer
from ...sim import Simulation
from .base import Run, make_order

__all__ = [
    "shop",
    "lag_summary",
    "mm1_time_in_system",
    "LoadCurve",
    "load_curve",
    "draw_load_curve",
    "load_explorer",
    "BacklogGrowth",
    "backlog_growth",
    "draw_backlog_growth",
]

#: The service-time distributions :func:`shop` offers (both with mean ``service_ms``).
SERVICES = ("exponential", "constant")


def shop(
    seed: int = 4,
    *,
    consumers: int = 1,
    rate: float = 50.0,
    service_ms: float = 15.0,
    duration_ms: float = 3000.0,
    partitions: int = 4,
    service: str = "exponential",
    latency_ms: float = 0.0,
) -> Run:
    """The shop under load: ``rate`` orders a second for ``duration_ms`` ms.

    Orders arrive at random (Poisson) into ``partitions`` partitions; the
    analytics group has ``consumers`` members, each taking ``service_ms`` ms
    per order on average: exponentially distributed (``service=
    "exponential"``, the default) or always the same (``"constant"``).  One
    consumer keeps up while ``rate * service_ms / 1000`` (its utilisation)
    is below 1; above, the lag grows for as long as the load lasts.  The run
    continues until the backlog is gone.

    ``latency_ms`` is the simulated network's one-way latency; it is 0 by
    default, so that an order's time in the system is its wait plus its
    handling, as in queueing theory (with 1 ms, every fetch of one order
    would add 1 ms to the handling, and one consumer's capacity would be
    ``1000 / (service_ms + 1)`` orders a second instead of ``1000 / service_ms``).
    """
    checks.integer("consumers", consumers, min=1)
    checks.number("rate", rate, above=0)
    checks.number("service_ms", service_ms, above=0)
    checks.one_of("service", service, SERVICES)
    checks.number("latency_ms", latency_ms, min=0)
    sim = Simulation(seed=seed, trace=False)
    broker = Broker(sim, latency=latency_ms)
    broker.create_topic("orders", partitions=partitions)
    members = tuple(
        Consumer(
            broker,
            f"analytics-{i + 1}",
            "orders",
            group="analytics",
            service_time=Exponential(service_ms)
            if service == "exponential"
            else Constant(service_ms),
        )
        for i in range(consumers)
    )
    shop_ = Producer(broker, "shop", "orders", Poisson(rate), until=duration_ms, make=make_order)
    sim.run()
    return Run(sim, broker, shop_, members)


def lag_summary(run: Run) -> dict[str, float]:
    """Worst consumer lag (events) and consistency-lag percentiles (ms) of a run's group."""
    from ...metrics import lag_series, percentiles

    series = lag_series(run.group, step=10.0)
    lags = [x for c in run.consumers for x in c.lags]
    p = percentiles(lags, (50, 99))
    return {
        "orders": run.producer.published,
        "max consumer lag": max(series.total),
        "p50 consistency lag ms": round(p[50], 1),
        "p99 consistency lag ms": round(p[99], 1),
        "caught up at ms": round(run.sim.now, 1),
    }


def mm1_time_in_system(
    utilisation: float, service_ms: float, percentile: float | None = None
) -> float:
    """Queueing theory's time in system (wait + service, ms) of an M/M/1 queue, first come first served.

    M/M/1: arrivals at random (Poisson, rate lambda), one server, service
    times exponential with mean ``service_ms`` (rate mu), served in arrival
    order.  With ``utilisation`` rho = lambda / mu below 1, the time an
    arrival spends in the system is exponentially distributed with mean
    ``W = 1 / (mu - lambda) = service_ms / (1 - rho)``.  ``percentile=None``
    returns that mean; ``percentile=99`` returns ``W * ln(100 / (100 - 99))``
    (about 4.6 W).  At rho >= 1 there is no steady state: ``math.inf``.
    """
    checks.number("utilisation", utilisation, min=0)
    checks.number("service_ms", service_ms, above=0)
    if percentile is not None:
        checks.number("percentile", percentile, min=0, max=100)
        if percentile == 100:
            raise ValueError(
                "percentile must be below 100 (the exponential has no maximum), got 100"
            )
    if utilisation >= 1:
        return math.inf
    mean = service_ms / (1.0 - utilisation)
    if percentile is None:
        return mean
    return mean * math.log(100.0 / (100.0 - percentile))


@dataclass(frozen=True)
class LoadCurve:
    """What :func:`load_curve` measured: p99 consistency lag per utilisation and seed.

    ``p99[i][j]`` is the p99 (ms) at ``utilisations[i]`` with ``seeds[j]``.
    """

    utilisations: tuple[float, ...]
    seeds: tuple[int, ...]
    p99: tuple[tuple[float, ...], ...]
    service_ms: float
    window_ms: float
    service: str

    def median(self) -> tuple[float, ...]:
        """The median over the seeds of the p99, per utilisation."""
        return tuple(_median(row) for row in self.p99)

    def mm1(self) -> tuple[float, ...]:
        """M/M/1's p99 time in system at each utilisation (ms)."""
        return tuple(mm1_time_in_system(u, self.service_ms, 99) for u in self.utilisations)

    def table(self) -> list[dict[str, float]]:
        """One row per utilisation: the median and range of the p99 over seeds, and M/M/1's."""
        return [
            {
                "utilisation": u,
                "p99 ms (median)": round(m, 1),
                "min": round(min(row), 1),
                "max": round(max(row), 1),
                "M/M/1 p99 ms": round(t, 1),
            }
            for u, row, m, t in zip(
                self.utilisations, self.p99, self.median(), self.mm1(), strict=True
            )
        ]


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def load_curve(
    utilisations: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
    service_ms: float = 15.0,
    window_ms: float = 6000.0,
    service: str = "exponential",
) -> LoadCurve:
    """The p99 consistency lag of one consumer at each utilisation, for each seed.

    Every run is :func:`shop` with one partition and one consumer, so events
    are handled in arrival order: orders arrive at random (Poisson) at
    ``utilisation * 1000 / service_ms`` a second for ``window_ms / (1 -
    utilisation)`` ms (a queue near utilisation 1 needs longer to show its
    tail: 12 s at 0.5, 60 s at 0.9 by default), and each takes
    ``service_ms`` on average (exponential by default: then the consumer is
    an M/M/1 queue, with no network latency).  The p99 is over every order
    of the run.  A run starts with an empty queue, so near utilisation 1 the
    measured p99 stays below the steady-state theory.
    """
    us = tuple(float(checks.number("utilisations", u, above=0, max=0.99)) for u in utilisations)
    if not us:
        raise ValueError("utilisations must name at least one utilisation, got an empty list")
    seed_list = tuple(checks.integer("seeds", s, min=0) for s in seeds)
    if not seed_list:
        raise ValueError("seeds must name at least one seed, got an empty list")
    checks.number("window_ms", window_ms, above=0)
    from ...metrics import percentiles

    rows = []
    for u in us:
        row = []
        for seed in seed_list:
            run = shop(
                seed,
                rate=u * 1000.0 / service_ms,
                service_ms=service_ms,
                duration_ms=window_ms / (1.0 - u),
                partitions=1,
                service=service,
            )
            row.append(round(percentiles(list(run.consumer.lags), (99,))[99], 1))
        rows.append(tuple(row))
    return LoadCurve(us, seed_list, tuple(rows), float(service_ms), float(window_ms), service)


def load_explorer(*, seed: int = 1, service: str = "exponential") -> LoadCurve:
    """:func:`load_curve` with one seed, for an explorer: how much is luck, and what constant service changes."""
    return load_curve(seeds=(seed,), service=service)


def draw_load_curve(curve: LoadCurve, ax: Any = None) -> Any:
    """p99 consistency lag against utilisation: a mark per seed, their median, and M/M/1's curve."""
    import matplotlib.pyplot as plt

    from ...viz.describe import note
    from ...viz.style import PALETTE

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    us = curve.utilisations
    xs = [u for u, row in zip(us, curve.p99, strict=True) for _ in row]
    ys = [y for row in curve.p99 for y in row]
    n = len(curve.seeds)
    if n > 1:
        ax.scatter(
            xs,
            ys,
            s=22,
            marker="o",
            color=PALETTE[0],
            alpha=0.45,
            lw=0,
            label=f"simulated: one mark per seed ({n} seeds)",
        )
    ax.plot(
        us,
        curve.median(),
        color=PALETTE[0],
        lw=2.0,
        marker="s",
        ms=5,
        label=f"simulated: median of the {n} seeds"
        if n > 1
        else f"simulated: seed {curve.seeds[0]}",
    )
    grid = [i / 200 for i in range(0, 195)]
    theory = [mm1_time_in_system(u, curve.service_ms, 99) for u in grid]
    ax.plot(
        grid,
        theory,
        color=PALETTE[1],
        lw=1.8,
        ls="--",
        label="M/M/1 theory (exponential service): p99 = ln(100) x S / (1 - utilisation)",
    )
    ax.axvline(1.0, color="#555555", lw=1.0, ls=":")
    # The same scale whatever the seeds: the data, or the theory at the highest utilisation.
    top = max(*ys, mm1_time_in_system(max(us), curve.service_ms, 99)) * 1.15
    ax.annotate(
        "utilisation 1: capacity",
        xy=(1.0, top * 0.03),
        xytext=(-4, 0),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=10,
        color="#555555",
    )
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, top)
    ax.set_xlabel("utilisation of the consumer (arrival rate x mean service time)")
    ax.set_ylabel("p99 consistency lag (ms)")
    ax.legend(loc="upper left", fontsize=10)
    ax.set_title(
        f"one consumer, {curve.service} service of {curve.service_ms:g} ms on average,"
        f" runs of {curve.window_ms / 1000:g} s / (1 - utilisation)",
        loc="left",
        y=1.0,
    )
    note(
        ax,
        "p99 consistency lag against utilisation: a mark per seed, the median line, and the"
        " M/M/1 curve; gentle at low utilisation, steep as it nears 1",
    )
    return ax


@dataclass(frozen=True)
class BacklogGrowth:
    """What :func:`backlog_growth` measured: ``peaks[u][i]`` is the peak lag at utilisation ``u``
    when orders keep coming for ``windows_ms[i]``."""

    windows_ms: tuple[float, ...]
    peaks: dict[float, tuple[int, ...]]
    service_ms: float

    def expected(self, utilisation: float) -> tuple[float, ...]:
        """Above utilisation 1, the backlog expected when the orders stop: (rate - capacity) x time."""
        capacity = 1000.0 / self.service_ms  # orders a second
        rate = utilisation * capacity
        return tuple(max(0.0, rate - capacity) * w / 1000.0 for w in self.windows_ms)


def backlog_growth(
    utilisations: Sequence[float] = (0.5, 0.9, 1.2),
    windows_ms: Sequence[float] = (3000.0, 6000.0, 12_000.0, 24_000.0),
    *,
    seed: int = 4,
    service_ms: float = 15.0,
) -> BacklogGrowth:
    """The most events ever waiting (peak consumer lag), per utilisation and load duration.

    One consumer, one partition, exponential service of ``service_ms``; the
    shop sends orders for each of ``windows_ms`` in turn.  Below
    utilisation 1 the peak levels off as the window grows; above 1 it grows
    in proportion to the window, by about ``rate - 1000 / service_ms``
    events a second: there is no bound.
    """
    from ...metrics import lag_series

    us = tuple(float(checks.number("utilisations", u, above=0, max=3)) for u in utilisations)
    ws = tuple(float(checks.number("windows_ms", w, above=0)) for w in windows_ms)
    if not us or not ws:
        raise ValueError(
            f"utilisations and windows_ms must each name at least one value, got {us!r} and {ws!r}"
        )
    peaks: dict[float, tuple[int, ...]] = {}
    for u in us:
        row = []
        for w in ws:
            run = shop(
                seed,
                rate=u * 1000.0 / service_ms,
                service_ms=service_ms,
                duration_ms=w,
                partitions=1,
            )
            row.append(max(lag_series(run.group, step=10.0).total))
        peaks[u] = tuple(row)
    return BacklogGrowth(ws, peaks, float(service_ms))


def draw_backlog_growth(growth: BacklogGrowth, ax: Any = None) -> Any:
    """Peak backlog against how long the load lasts, a line per utilisation; above 1, the expected growth."""
    import matplotlib.pyplot as plt

    from ...viz.describe import note
    from ...viz.style import PALETTE

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.0), layout="constrained")
    seconds = [w / 1000 for w in growth.windows_ms]
    markers = ("o", "s", "^", "D", "v")
    styles = ("-", "--", "-.", ":")
    for n, (u, peaks) in enumerate(growth.peaks.items()):
        color = PALETTE[n % len(PALETTE)]
        ax.plot(
            seconds,
            peaks,
            color=color,
            marker=markers[n % len(markers)],
            ls=styles[n % len(styles)],
            lw=2.0,
            label=f"utilisation {u:g}: peak {peaks[-1]} after {seconds[-1]:g} s",
        )
        if u > 1:
            ax.plot(
                [0.0, *seconds],
                [0.0, *growth.expected(u)],
                color=color,
                lw=1.0,
                ls=":",
                label=f"utilisation {u:g}, expected: (rate - capacity) x time",
            )
    top = max(max(p) for p in growth.peaks.values())
    ax.set_xlim(0, max(seconds) * 1.05)
    ax.set_ylim(0, top * 1.12)
    ax.set_xticks(seconds)
    ax.set_xlabel("how long the orders keep coming (s)")
    ax.set_ylabel("peak consumer lag (events)")
    ax.legend(loc="upper left", fontsize=10)
    ax.set_title("the most events ever waiting, as the busy period gets longer", loc="left", y=1.0)
    note(
        ax,
        "Peak consumer lag against the length of the busy period, one line per utilisation;"
        " below 1 the lines level off, above 1 the line keeps rising with the window",
    )
    return ax

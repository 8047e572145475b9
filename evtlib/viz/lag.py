"""Lag charts: how far behind the readers are, and how long an event takes to land.

Two kinds of lag, two pictures:

* :func:`draw_consistency_lag`: for each event a consumer (or read model)
  handled, how long after it happened it took effect (a dot), with the
  p50/p95/p99 lines.  This is "eventual" in eventual consistency, measured.
* :func:`draw_consumer_lag`: for a consumer group, how many events are
  published but not yet committed, over time: a thin line per partition and
  a thick one for the total.  Burrow and Kafka's tools show the same number.

:func:`compare` puts two scenarios side by side on one y axis (one consumer
vs three, say), so the difference is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..broker import Group
from ..consumer import Consumer
from ..metrics import LagSeries, lag_series, percentiles
from .describe import note
from .style import first_seen_colors

__all__ = ["draw_consistency_lag", "draw_consumer_lag", "compare"]

_QS = (50, 95, 99)
#: Each consumer or group of a chart also gets its own marker / line style (not colour alone).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
_LINESTYLES = ("-", "--", "-.", ":")
_Q_STYLE = {50: ":", 95: "--", 99: "-."}


def _as_list(x: Any, types: tuple[type, ...]) -> list:
    if isinstance(x, types):
        return [x]
    items = list(x)
    for item in items:
        if not isinstance(item, types):
            names = " or ".join(t.__name__ for t in types)
            raise TypeError(f"expected {names} (or a list of them), got {item!r}")
    return items


def _time_locator() -> Any:
    """Ticks for a time axis: at most seven steps (each label is a text to render)."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10])


def _target_line(ax: Any, target: float | None, unit: str) -> None:
    if target is not None:
        ax.axhline(target, color="#C62828", lw=1.2, ls="-", alpha=0.8, zorder=1)
        ax.annotate(
            f"target {target:g}{unit}",
            xy=(1.0, target),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=10,
            color="#C62828",
        )


def draw_consistency_lag(
    consumers: Consumer | Iterable[Consumer],
    ax: Any = None,
    target: float | None = None,
    *,
    title: str | None = None,
) -> Any:
    """Consistency lag of every handled event over time, with p50/p95/p99; return the Axes.

    Parameters
    ----------
    consumers:
        A :class:`~evtlib.Consumer` or :class:`~evtlib.ReadModel`, or a list
        of them (each gets its own colour; the percentile lines are per consumer).
    ax:
        Axes to draw on (default: a new figure).
    target:
        A lag target in ms (an SLO), drawn as a red line.

    x is when the event was handled, y how long after the event's time that
    was (ms).  A duplicate handled twice is two dots: each is an effect.
    """
    import matplotlib.pyplot as plt

    items = _as_list(consumers, (Consumer,))
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    color_for = first_seen_colors()
    for n, c in enumerate(items):
        color = color_for(c.name)
        xs, ys = list(c.handled_at), list(c.lags)
        label = f"{c.name}: {len(ys)} handled"
        if ys:
            ps = percentiles(ys, _QS)
            label += ", " + ", ".join(f"p{q} {ps[q]:.0f}" for q in _QS) + " ms"
            for q in _QS:
                ax.axhline(ps[q], color=color, ls=_Q_STYLE[q], lw=1.0, alpha=0.9)
                if len(items) > 1:
                    continue  # several consumers: the legend names the lines
                ax.annotate(
                    f"p{q}",
                    xy=(1.0, ps[q]),
                    xycoords=("axes fraction", "data"),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=10,
                    color=color,
                )
        marker = _MARKERS[n % len(_MARKERS)] if len(items) > 1 else "o"
        ax.scatter(xs, ys, s=9, color=color, alpha=0.55, lw=0, marker=marker, label=label)
    _target_line(ax, target, " ms")
    ax.set_xlabel("handled at (simulated ms)")
    ax.set_ylabel("consistency lag (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=10, markerscale=2.5)
    ax.xaxis.set_major_locator(_time_locator())
    ax.set_title(title or "how long each event took to take effect", loc="left", y=1.0)
    names = ", ".join(c.name for c in items)
    note(ax, f"Consistency lag of {names}: a dot per handled event, with p50, p95 and p99 lines")
    return ax


def draw_consumer_lag(
    groups: Group | LagSeries | Iterable[Group | LagSeries],
    ax: Any = None,
    target: float | None = None,
    *,
    step: float = 10.0,
    until: float | None = None,
    title: str | None = None,
) -> Any:
    """Consumer lag per group over time: thin lines per partition, a thick total; return the Axes.

    Parameters
    ----------
    groups:
        A :class:`~evtlib.Group` (its lag is sampled every ``step`` ms up to
        ``until``, default now) or a :class:`~evtlib.metrics.LagSeries`, or
        a list of either.
    ax:
        Axes to draw on (default: a new figure).
    target:
        A lag target in events, drawn as a red line.
    """
    import matplotlib.pyplot as plt

    items = _as_list(groups, (Group, LagSeries))
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    color_for = first_seen_colors()
    for n, item in enumerate(items):
        series = item if isinstance(item, LagSeries) else lag_series(item, step=step, until=until)
        color = color_for(series.group)
        for i, values in enumerate(series.partitions.values()):
            ax.step(
                series.times,
                values,
                where="post",
                color=color,
                lw=0.7,
                alpha=0.45,
                label=(
                    f"{series.group}: each of {len(series.partitions)} partitions"
                    if len(series.partitions) > 1
                    else "_one partition: the total says it all"
                )
                if i == 0
                else None,
            )
        peak = max(series.total, default=0)
        ax.step(
            series.times,
            series.total,
            where="post",
            color=color,
            ls=_LINESTYLES[n % len(_LINESTYLES)],
            lw=2.0,
            label=f"{series.group}: total (peak {peak})",
        )
    _target_line(ax, target, " events")
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("consumer lag (events)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=10)
    ax.xaxis.set_major_locator(_time_locator())
    # y=1.0: just above the Axes, without measuring every tick label to place it.
    ax.set_title(title or "events published but not yet committed", loc="left", y=1.0)
    note(ax, "Consumer lag over time: a thin line per partition, a thick one for the total")
    return ax


def compare(
    scenario_a: Any,
    scenario_b: Any,
    *,
    labels: Sequence[str] = ("A", "B"),
    draw: Callable[..., Any] | None = None,
    target: float | None = None,
    **kwargs: Any,
) -> Any:
    """Two scenarios side by side, sharing both axes; return the Figure.

    ``scenario_a`` and ``scenario_b`` are what ``draw`` takes: groups or
    lag series (default :func:`draw_consumer_lag`), or consumers / read
    models (then :func:`draw_consistency_lag` is chosen).  ``labels`` titles
    the two panels; other keyword arguments go to ``draw``.

        compare(one.group("billing"), three.group("billing"), labels=("1 consumer", "3 consumers"))
    """
    import matplotlib.pyplot as plt

    if len(labels) != 2:
        raise ValueError(f"labels must name the two scenarios, got {labels!r}")
    if draw is None:
        first = scenario_a if not isinstance(scenario_a, (list, tuple)) else scenario_a[0]
        draw = draw_consistency_lag if isinstance(first, Consumer) else draw_consumer_lag
    fig, (ax_a, ax_b) = plt.subplots(
        1, 2, figsize=(11, 4), sharex=True, sharey=True, layout="constrained"
    )
    draw(scenario_a, ax_a, target, title=labels[0], **kwargs)
    draw(scenario_b, ax_b, target, title=labels[1], **kwargs)
    # Each chart sets its own limits; the shared axis must fit the taller one.
    top = max(ax_a.dataLim.ymax, ax_b.dataLim.ymax, target or 0)
    ax_a.set_ylim(0, top * 1.08 if top > 0 else 1)
    ax_b.set_ylabel("")
    return fig

"""Pictures and tables for the pattern notebooks (06 outbox, 07 idempotent consumer, 08 DLQ).

The pattern modules return data (outcomes, tallies, retry policies, storm
buckets); these functions turn it into something to look at:

* :func:`table`: rows of dicts as a fixed-width text table (a notebook
  prints it, and nbval compares it as text).
* :func:`crash_rows`: :func:`~evtlib.patterns.crash_sweep`'s outcomes as one
  row per crash point: what each twin did when it died there.
* :func:`draw_tallies`: grouped bars for any number of tallies
  ``{label: {outcome: count}}`` (three twins of a sweep, or three ledgers).
* :func:`draw_retry_delays`: the waits a :class:`~evtlib.patterns.RetryPolicy`
  asks for, attempt by attempt: the backoff bound and jittered samples.
* :func:`draw_storm`: calls per time bucket of one or more
  :func:`~evtlib.patterns.retry_storm` runs, side by side, on one y axis.
* :func:`draw_retention_grid`: which retention times let a late duplicate
  through (:func:`~evtlib.patterns.retention_demo`).
* :func:`draw_retry_topics`: each event's wait from publication to handling,
  blocking retries vs retry topics (:func:`~evtlib.patterns.retry_topics.retry_topics_run`),
  with the order in which each event was handled.

Like the rest of :mod:`evtlib.viz`, every ``draw_*`` takes ``ax=None`` (or
makes its own figure), returns what it drew and never changes global settings.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .style import COLORS, HATCHES, PALETTE

__all__ = [
    "table",
    "crash_rows",
    "draw_tallies",
    "draw_retry_delays",
    "draw_storm",
    "draw_retention_grid",
    "draw_retry_topics",
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a text table: a header, a rule, one line per row.

    ``columns`` picks and orders the columns (default: the keys of the rows,
    in the order they first appear).  ``None`` prints as ``-``, floats
    without trailing zeros.  An empty ``rows`` gives just the header.
    """
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{i}] must be a mapping column -> value, got {row!r}")
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    cols = [str(c) for c in columns]
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _verdict(outcome: Any) -> str:
    parts = []
    if outcome.rolled_back:
        parts.append(f"{outcome.rolled_back} rolled back")
    for order in outcome.lost_orders:
        parts.append(f"LOST the event of {order}")
    for order in outcome.invented_orders:
        parts.append(f"INVENTED {order}")
    if outcome.duplicates:
        parts.append(f"{outcome.duplicates} published twice")
    return ", ".join(parts) or "all consistent"


def crash_rows(outcomes: Iterable[Any]) -> list[dict[str, str]]:
    """One row per crash point: what each twin did when it crashed there.

    ``outcomes`` are :class:`~evtlib.patterns.Outcome` values with one crash
    each (as :func:`~evtlib.patterns.crash_sweep` returns them).  Columns:
    ``crash at``, then one per twin, in the order met; a twin that never
    reaches a point (the dual write has no relay) shows ``-``.
    """
    rows: dict[str, dict[str, str]] = {}
    for o in outcomes:
        if len(o.crashes) != 1:
            raise ValueError(f"each outcome must have exactly one crash, got {o.crashes!r}")
        point, _visit = o.crashes[0]
        rows.setdefault(point, {"crash at": point})[o.twin] = _verdict(o)
    twins = list(dict.fromkeys(k for r in rows.values() for k in r if k != "crash at"))
    return [{"crash at": r["crash at"], **{t: r.get(t, "-") for t in twins}} for r in rows.values()]


def _numbers(name: str, tally: Any) -> Mapping[str, float]:
    if not isinstance(tally, Mapping):
        raise TypeError(f"{name} must be a mapping outcome -> count, got {tally!r}")
    for k, v in tally.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name}[{k!r}] must be a number >= 0, got {v!r}")
    return tally


def draw_tallies(
    tallies: Mapping[str, Mapping[str, float]],
    ax: Any = None,
    *,
    order: Sequence[str] | None = None,
    ylabel: str = "runs",
    title: str | None = None,
) -> Any:
    """Grouped bars: one group per outcome, one bar per tally, each labelled; return the Axes.

    ``tallies`` maps a label (a twin, a variant) to ``{outcome: number}``;
    an outcome missing from a tally counts 0, and every bar carries its
    number, so a zero is visible.  ``order`` fixes the outcomes' order.
    """
    import matplotlib.pyplot as plt

    if not isinstance(tallies, Mapping) or not tallies:
        raise ValueError(f"tallies must be a non-empty mapping label -> tally, got {tallies!r}")
    for label, tally in tallies.items():
        _numbers(f"tallies[{label!r}]", tally)
    outcomes = (
        list(order)
        if order is not None
        else list(dict.fromkeys(k for t in tallies.values() for k in t))
    )
    n = len(tallies)
    if ax is None:
        width_in = max(6.0, (0.5 * n + 0.6) * len(outcomes) + 2.5)
        _, ax = plt.subplots(figsize=(min(width_in, 12.0), 3.8), layout="constrained")
    width = 0.8 / n
    colors = ["#BBBBBB", *PALETTE] if n > 1 else [PALETTE[0]]
    for i, (label, tally) in enumerate(tallies.items()):
        xs = [x + (i - (n - 1) / 2) * width for x in range(len(outcomes))]
        heights = [tally.get(o, 0) for o in outcomes]
        bars = ax.bar(
            xs,
            heights,
            width,
            color=colors[i % len(colors)],
            hatch=HATCHES[i % len(HATCHES)],  # not colour alone: each series its own fill
            edgecolor="white",
            label=label,
        )
        ax.bar_label(bars, labels=[f"{h:g}" for h in heights], fontsize=10, padding=2)
    ax.set_xticks(list(range(len(outcomes))), outcomes)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or " vs ".join(tallies), loc="left")
    return ax


def draw_retry_delays(
    policies: Mapping[str, Any],
    ax: Any = None,
    *,
    samples: int = 30,
    seed: int = 0,
    log: bool = False,
    title: str | None = None,
) -> Any:
    """The wait after each failed attempt, per policy; return the Axes.

    For each ``{label: RetryPolicy}`` a line shows the backoff (the upper
    bound, :meth:`RetryPolicy.backoff_for`); a jittered policy also gets
    ``samples`` drawn waits per attempt as dots, from ``random.Random(seed)``
    (so the picture repeats).  ``log=True`` uses a log scale for the waits.
    """
    import matplotlib.pyplot as plt

    if not isinstance(policies, Mapping) or not policies:
        raise ValueError(
            f"policies must be a non-empty mapping label -> RetryPolicy, got {policies!r}"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples must be an int >= 0, got {samples!r}")
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    n = len(policies)
    for i, (label, policy) in enumerate(policies.items()):
        color = PALETTE[i % len(PALETTE)]
        attempts = list(range(1, policy.max_attempts))
        bound = [policy.backoff_for(a) for a in attempts]
        # Jittered bounds dashed and underneath, so an equal plain policy's line stays visible.
        jittered = policy.jitter != "none"
        ax.plot(
            attempts,
            bound,
            color=color,
            lw=1.2 if jittered else 1.8,
            ls="--" if jittered else "-",
            marker="" if jittered else "o",
            ms=4,
            zorder=2 if jittered else 3,
            label=f"{label}",
        )
        if policy.jitter != "none" and samples:
            rng = random.Random(f"{seed}/{label}")
            offset = (i - (n - 1) / 2) * 0.12
            xs, ys = [], []
            for a in attempts:
                for _ in range(samples):
                    xs.append(a + offset + rng.uniform(-0.04, 0.04))
                    ys.append(policy.delay(a, rng))
            ax.scatter(xs, ys, s=8, color=color, alpha=0.45, lw=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("failed attempt")
    ax.set_ylabel("wait before the next attempt (ms)")
    ax.set_xticks(sorted({a for p in policies.values() for a in range(1, p.max_attempts)}))
    ax.legend(loc="upper left")
    ax.set_title(title or "retry waits: lines = backoff, dots = jittered draws", loc="left")
    return ax


def storm_bars(ax: Any, buckets: Sequence[Any]) -> float:
    """Stack a retry storm's ``buckets`` on ``ax``: first attempts, failed and served retries.

    Only non-empty segments become bars (a long storm has hundreds of empty
    buckets, and every bar is a patch to render).  Returns the bucket width (ms).
    """
    width = (buckets[1].start - buckets[0].start) if len(buckets) > 1 else 10.0
    x = [b.start for b in buckets]
    first = [b.attempts - b.retries for b in buckets]
    retry_ok = [min(b.ok, b.retries) for b in buckets]
    retry_failed = [b.retries - ok for b, ok in zip(buckets, retry_ok, strict=True)]
    bottom = [0] * len(buckets)
    for heights, color, hatch, name in (
        (first, COLORS["published"], "", "first attempts"),
        (retry_failed, COLORS["failed"], "xx", "retries: failed"),
        (retry_ok, COLORS["handled"], "", "retries: ok"),
    ):
        keep = [i for i, h in enumerate(heights) if h > 0]
        ax.bar(
            [x[i] for i in keep],
            [heights[i] for i in keep],
            bottom=[bottom[i] for i in keep],
            width=width,
            align="edge",
            lw=0,
            color=color,
            hatch=hatch,
            edgecolor="white",
            label=name,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    return width


def draw_storm(
    results: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    capacity: float | None = None,
    until: float | None = None,
    title: str | None = None,
) -> Any:
    """Calls to the shared service per time bucket, one panel per run; return the Figure.

    Each of ``results`` is a :class:`~evtlib.patterns.StormResult`.  Bars
    are stacked (:func:`storm_bars`): first attempts, retries that failed
    (hatched), retries that succeeded.  ``capacity`` draws what the service can take per
    bucket as a line; ``until`` cuts the time axis (ms).  Panels share both axes.
    """
    import matplotlib.pyplot as plt

    results = list(results)
    if not results:
        raise ValueError("results must hold at least one StormResult")
    labels = list(labels) if labels is not None else [f"jitter={r.jitter}" for r in results]
    if len(labels) != len(results):
        raise ValueError(f"labels must name each of the {len(results)} results, got {labels!r}")
    fig, axes = plt.subplots(
        1,
        len(results),
        figsize=(5.5 * len(results), 3.8),
        sharex=True,
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, result, label in zip(axes[0], results, labels, strict=True):
        bs = [b for b in result.buckets if until is None or b.start < until]
        width = storm_bars(ax, bs)
        if capacity is not None:
            ax.axhline(capacity, color="#555555", ls="--", lw=1)
            ax.annotate(
                f"capacity {capacity:g}",
                xy=(1.0, capacity),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=10,
                color="#555555",
            )
        ax.set_title(f"{label}: peak {result.peak_retries} retries at once", loc="left")
        ax.set_xlabel("simulated time (ms)")
    axes[0][0].set_ylabel(f"calls per {width:g} ms")
    axes[0][-1].legend(loc="upper right")
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    return fig


def draw_retention_grid(demos: Iterable[Any], ax: Any = None, *, title: str | None = None) -> Any:
    """Retention (rows) x redelivery delay (columns): was the late duplicate charged? Return the Axes.

    ``demos`` are :class:`~evtlib.patterns.RetentionDemo` results.  A cell is
    red ("charged twice") when the duplicate was applied, green ("skipped")
    when the id was still remembered.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    demos = list(demos)
    if not demos:
        raise ValueError("demos must hold at least one RetentionDemo")
    rows = sorted({d.retention_ms for d in demos})
    cols = sorted({d.redelivered_after_ms for d in demos})
    if ax is None:
        _, ax = plt.subplots(
            figsize=(1.3 * len(cols) + 2.5, 0.55 * len(rows) + 1.6), layout="constrained"
        )
    bad, good = COLORS["failed"], COLORS["handled"]
    for d in demos:
        r, c = rows.index(d.retention_ms), cols.index(d.redelivered_after_ms)
        twice = d.duplicate_applied
        ax.add_patch(
            plt.Rectangle((c - 0.5, r - 0.5), 1, 1, color=bad if twice else good, ec="white", lw=2)
        )
        ax.text(
            c, r, "twice" if twice else "once", ha="center", va="center", color="white", fontsize=10
        )
    ax.set_xlim(-0.5, len(cols) - 0.5)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols])
    ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
    ax.set_xlabel("the duplicate arrives after (ms)")
    ax.set_ylabel("processed ids kept for (ms)")
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.legend(
        handles=[Patch(color=good, label="charged once"), Patch(color=bad, label="charged twice")],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    ax.set_title(title or "a late duplicate vs. how long ids are kept", loc="left")
    return ax


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def draw_retry_topics(runs: Sequence[Any], *, title: str | None = None) -> Any:
    """Each event's wait, publication to handling, one panel per run; return the Figure.

    ``runs`` are :class:`~evtlib.patterns.retry_topics.RetryTopicsRun`
    values (blocking and retry topics, say).  One row per event, in the
    order it was published (top first), labelled with its key and type; a
    circle where it was published, a square where it was handled (a cross if
    it was dead-lettered), a line for the wait, and beside the square the
    rank in which it was handled ("1st", "2nd", ...).  Rows of a key whose
    events were handled out of order are drawn in the warning colour and
    their labels marked "(out of order)".
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one RetryTopicsRun")
    n_rows = max(len(r.published) for r in runs)
    fig, axes = plt.subplots(
        1,
        len(runs),
        figsize=(5.6 * len(runs), 0.42 * n_rows + 1.9),
        sharex=True,
        layout="constrained",
        squeeze=False,
    )
    calm, warn = COLORS["handled"], COLORS["failed"]
    for ax, run in zip(axes[0], runs, strict=True):
        bad = set(run.overtaken)
        handled_at = {h.event.id: h.time for h in run.chain.handled}
        rank = {h.event.id: i + 1 for i, h in enumerate(run.chain.handled)}
        dead_at = {d.event.id: d.time for d in run.chain.dead_letters}
        labels = []
        for row, (t, event) in enumerate(run.published):
            y = n_rows - 1 - row
            color = warn if event.key in bad else calm
            end = handled_at.get(event.id, dead_at.get(event.id))
            if end is not None:
                ax.plot([t, end], [y, y], color=color, lw=2, zorder=1)
            ax.plot(t, y, "o", color=color, ms=6, mfc="white", zorder=2)
            if event.id in handled_at:
                ax.plot(end, y, "s", color=color, ms=7, zorder=3)
                ax.annotate(
                    _ordinal(rank[event.id]),
                    (end, y),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=10,
                    color=color,
                )
            elif end is not None:
                ax.plot(end, y, "X", color=COLORS["dead-lettered"], ms=8, zorder=3)
            mark = " (out of order)" if event.key in bad else ""
            labels.append(f"{event.key} {event.type}{mark}")
        ax.set_yticks([n_rows - 1 - i for i in range(len(labels))], labels, fontsize=10)
        for tick, (_, event) in zip(ax.get_yticklabels(), run.published, strict=True):
            if event.key in bad:
                tick.set_color(warn)
                tick.set_fontweight("bold")
        ax.set_ylim(-0.6, n_rows - 0.4)
        ax.margins(x=0.12)
        ax.set_xlabel("simulated time (ms)")
        kept = "per-key order kept" if run.order_kept else "per-key order broken"
        ax.set_title(f"{run.mode}: {kept}", loc="left")
    handles = [
        Line2D([], [], marker="o", ls="", color="#555555", mfc="white", label="published"),
        Line2D([], [], marker="s", ls="", color="#555555", label="handled (its rank)"),
        Line2D([], [], color="#555555", lw=2, label="waiting"),
        Line2D([], [], color=warn, lw=2, label="a key handled out of order"),
    ]
    if any(r.chain.dead_letters for r in runs):
        handles.append(
            Line2D([], [], marker="X", ls="", color=COLORS["dead-lettered"], label="dead-lettered")
        )
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    return fig

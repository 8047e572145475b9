"""Pictures of a whole system: one saga's steps over time, and a lag dashboard.

* :func:`draw_saga_timeline`: one lane per step of a saga, its actions as
  green bars, failed attempts as red crosses, its compensations as purple
  bars, so "compensated in reverse order" reads from top-left to bottom-right
  and back up.  The input is a :class:`~evtlib.patterns.SagaInstance`'s
  ``history`` (plain data), so orchestrated and choreographed sagas draw alike.
* :func:`draw_dashboard`: every consumer's consistency lag beside every
  group's consumer lag, for a system of many services.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker
from ..protocols import BrokerBackend
from .lag import draw_consistency_lag, draw_consumer_lag

__all__ = ["SagaBar", "SagaTimelineDrawn", "saga_bars", "draw_saga_timeline", "draw_dashboard"]

_ACTION = "#59A14F"
_FAILED = "#C62828"
_COMPENSATION = "#B07AA1"
_END = {"completed": "#59A14F", "compensated": "#F1A340", "needs-attention": "#C62828"}


class SagaBar(NamedTuple):
    """One attempt of one step: ``phase`` is ``action`` or ``compensation``; ``ok`` its result."""

    step: str
    phase: str
    start: float
    end: float
    ok: bool


class SagaTimelineDrawn(NamedTuple):
    """What :func:`draw_saga_timeline` drew: the Axes, the lanes top to bottom, the bars."""

    ax: Any
    lanes: list[str]
    bars: list[SagaBar]
    final: str | None


def saga_bars(history: Iterable[dict[str, Any]]) -> tuple[list[SagaBar], str | None]:
    """Turn a saga's ``history`` into bars (one per attempt) and its final state.

    ``history`` is ``[{"time", "to", "label"}, ...]`` as kept by
    :class:`~evtlib.patterns.SagaInstance`: each entry says which state the
    saga moved to and why.  A state ``stock`` is the action of step
    ``stock``; ``compensate stock`` is its compensation.  An attempt ends
    when the next entry arrives; it succeeded if that entry's label is ``ok``.
    """
    entries = list(history)
    bars = []
    final = None
    for cur, nxt in zip(entries, entries[1:] + [None], strict=True):
        to = cur["to"]
        if to in _END or to in ("failed",):
            final = to
            continue
        if to == "started" or nxt is None:
            continue
        phase = "action"
        step = to
        if to.startswith("compensate "):
            phase, step = "compensation", to[len("compensate ") :]
        bars.append(
            SagaBar(step, phase, float(cur["time"]), float(nxt["time"]), nxt["label"] == "ok")
        )
    return bars, final


def draw_saga_timeline(
    saga: Any,
    ax: Any = None,
    *,
    steps: Iterable[str] | None = None,
    title: str | None = None,
) -> SagaTimelineDrawn:
    """Draw one saga's attempts over time, one lane per step; return a :class:`SagaTimelineDrawn`.

    Parameters
    ----------
    saga:
        A :class:`~evtlib.patterns.SagaInstance` (its ``history`` and its
        definition's step names are used) or a history list.
    steps:
        Lane order (default: the saga definition's steps, in order).
    title:
        Default: the saga's id, final state and path.

    Each attempt is a bar from when the saga entered the state to when it
    left it, numbered in the order the saga made them.  A green bar is an
    action that succeeded, a purple one a compensation that succeeded; a
    red cross ends an attempt that failed or timed out.  A retry's bar
    includes the wait before it was sent (the history records when the
    saga decided to retry, not when the command left).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    history = getattr(saga, "history", saga)
    bars, final = saga_bars(history)
    if steps is None:
        definition = getattr(saga, "definition", None)
        steps = definition.step_names if definition is not None else []
    lanes = list(dict.fromkeys([*steps, *(b.step for b in bars)]))
    y = {s: -i for i, s in enumerate(lanes)}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.4 + 0.55 * max(len(lanes), 1)), layout="constrained")
    end = max((b.end for b in bars), default=0.0)
    span = max(end, 1.0)
    min_w = span / 150  # an instant attempt still shows as a sliver
    for i, b in enumerate(bars, start=1):
        color = _ACTION if b.phase == "action" else _COMPENSATION
        width = max(b.end - b.start, min_w)
        ax.barh(
            y[b.step],
            width,
            left=b.start,
            height=0.5,
            color=color,
            alpha=1.0 if b.ok else 0.45,
            edgecolor="white",
        )
        label = f"{i}" if b.phase == "action" else f"{i} undo"
        ax.text(b.start + width / 2, y[b.step] + 0.33, label, ha="center", fontsize=10)
        if not b.ok:
            ax.scatter([b.end], [y[b.step]], marker="X", s=90, color=_FAILED, zorder=4)
    if final is not None:
        ax.axvline(end, color=_END.get(final, "#555555"), lw=1.5, ls="--")
        ax.text(
            end,
            0.62,
            f"{final} ",
            color=_END.get(final, "#555555"),
            fontsize=10,
            fontweight="bold",
            va="bottom",
            ha="right",  # left of the line: the legend sits to its right
        )
    ax.set_yticks([y[s] for s in lanes], lanes)
    ax.set_ylim(-len(lanes) + 0.4, 1.0)
    ax.set_xlim(-span * 0.02, span * 1.12)
    ax.set_xlabel("simulated time (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(
        handles=[
            Patch(color=_ACTION, label="action"),
            Patch(color=_COMPENSATION, label="compensation"),
            Patch(color="#BBBBBB", label="failed attempt (pale)"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=10,
        frameon=False,
    )
    if title is None:
        name = getattr(saga, "id", "saga")
        title = f"{name}: {final or 'running'}"
    ax.set_title(title, loc="left", fontsize=10)
    return SagaTimelineDrawn(ax, lanes, bars, final)


def draw_dashboard(broker: Broker, *, title: str | None = None, exclude: Iterable[str] = ()) -> Any:
    """Every consumer's consistency lag (left) and every group's consumer lag (right); return the Figure.

    Consumers and groups named in ``exclude`` are left out.  The left panel
    says how long events took to take effect in each service; the right one
    how many events each group had not yet committed, over time, up to the
    last moment anything was handled (timers that only expire later, such
    as a saga's cancelled timeouts, do not stretch the picture).
    """
    import matplotlib.pyplot as plt

    checks.instance("broker", broker, BrokerBackend, "Broker")
    skip = set(exclude)
    consumers = [c for c in broker.consumers if c.name not in skip and len(c.handled_at)]
    groups = [g for g in broker.groups.values() if g.name not in skip]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    if consumers:
        draw_consistency_lag(consumers, left, title="consistency lag per service")
    else:
        left.set_title("consistency lag per service: nothing handled yet", loc="left")
    if groups:
        last = max((c.handled_at[-1] for c in consumers), default=broker.sim.now)
        until = min(broker.sim.now, last * 1.05 + 1.0)
        draw_consumer_lag(groups, right, until=until, title="consumer lag per group")
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    return fig

"""What a producer experienced: accepted, refused, dropped behind its back, and time blocked.

A slow consumer costs something on every broker; what differs is who pays
and who is told.  :func:`draw_producer_experience` draws, for each broker
setting, one bar split by what became of the producer's events: shipped,
dropped by a full queue (the producer was not told), deleted unread by
retention (not told either), refused (the producer was told: a nack or an
exception); the time the producer was blocked is written beside each bar.
:func:`draw_backlog` draws the events accepted and not yet handled over time.

Both take ``{setting: info}`` mappings, as
:func:`evtlib.course.scenarios.backpressure` returns in ``run.info``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .describe import note
from .style import COLORS, HATCHES, PALETTE

__all__ = ["FATES", "draw_producer_experience", "draw_backlog"]

#: The fates of a producer's events, in drawing order: ``(info key, legend label)``.
FATES: tuple[tuple[str, str], ...] = (
    ("shipped", "accepted, handled"),
    ("dropped", "accepted, then dropped by a full queue (producer not told)"),
    ("deleted_unread", "accepted, deleted unread by retention (producer not told)"),
    ("refused", "refused: the producer was told (nack or exception)"),
)
_FATE_COLORS = (COLORS["handled"], COLORS["dropped"], COLORS["topic"], COLORS["failed"])
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


def _checked(infos: Any, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    if not isinstance(infos, Mapping) or not infos:
        raise TypeError(f"infos must be a non-empty mapping setting -> info, got {infos!r}")
    for name, info in infos.items():
        if not isinstance(info, Mapping):
            raise TypeError(f"infos[{name!r}] must be a mapping (a run's info), got {info!r}")
        missing = [k for k in keys if k not in info]
        if missing:
            raise ValueError(f"infos[{name!r}] must have the keys {list(keys)}, missing {missing}")
    return dict(infos)


def draw_producer_experience(
    infos: Mapping[str, Mapping[str, Any]],
    ax: Any = None,
    *,
    unit: str = "orders",
    title: str | None = None,
) -> Any:
    """One horizontal bar per setting, split by what became of the producer's events; the Axes.

    ``infos[setting]`` needs the counts ``shipped``, ``dropped``,
    ``deleted_unread`` and ``refused`` (``unit`` names what they count), and
    ``blocked_ms``, written at the end of the bar.  Each part has its own
    fill and hatch, and its count written on it.
    """
    import matplotlib.pyplot as plt

    keys = [k for k, _ in FATES] + ["blocked_ms"]
    rows = _checked(infos, keys)
    names = list(rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 0.7 * len(names) + 2.2), layout="constrained")
    ys = list(range(len(names)))[::-1]  # the first setting on top
    left = [0] * len(names)
    for (key, label), color, hatch in zip(FATES, _FATE_COLORS, HATCHES, strict=False):
        widths = [int(rows[n][key]) for n in names]
        bars = ax.barh(
            ys, widths, left=left, color=color, hatch=hatch, edgecolor="white", label=label
        )
        ax.bar_label(
            bars,
            labels=[str(w) if w else "" for w in widths],
            label_type="center",
            fontsize=10,
            color="white",
            fontweight="bold",
        )
        left = [a + w for a, w in zip(left, widths, strict=True)]
    for y, n, end in zip(ys, names, left, strict=True):
        ax.annotate(
            f"blocked {float(rows[n]['blocked_ms']):g} ms",
            xy=(end, y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=10,
        )
    ax.set_yticks(ys, names)
    ax.set_xlabel(f"{unit} the producer sent")
    ax.set_xlim(0, max(left) * 1.28)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=9, frameon=False)
    ax.set_title(title or "what the producer experienced, per broker", loc="left")
    note(
        ax,
        f"For each broker setting, a bar of the {unit} the producer sent, split into handled,"
        " dropped by a full queue, deleted unread by retention and refused; the time the producer"
        " was blocked is written at the end of each bar",
    )
    return ax


def draw_backlog(
    infos: Mapping[str, Mapping[str, Any]],
    ax: Any = None,
    *,
    unit: str = "orders",
    title: str | None = None,
) -> Any:
    """The backlog of each setting over time (``info["backlog"]``: ``[(ms, n), ...]``); the Axes."""
    import matplotlib.pyplot as plt

    rows = _checked(infos, ["backlog"])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for i, (name, info) in enumerate(rows.items()):
        series = list(info["backlog"])
        if not series:
            raise ValueError(f"infos[{name!r}]['backlog'] must not be empty")
        ts = [t for t, _ in series]
        ns = [n for _, n in series]
        peak = max(ns)
        ax.step(
            ts,
            ns,
            where="post",
            color=PALETTE[i % len(PALETTE)],
            ls=_LINESTYLES[i % len(_LINESTYLES)],
            lw=max(1.2, 3.6 - 0.6 * i),  # thinner on top: identical series stay visible
            label=f"{name} (peak {peak})",
        )
        at = ts[ns.index(peak)]
        ax.plot([at], [peak], marker=_MARKERS[i % len(_MARKERS)], color=PALETTE[i % len(PALETTE)])
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel(f"{unit} waiting")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.set_title(title or f"{unit} accepted and not yet handled", loc="left")
    note(
        ax,
        f"The {unit} accepted and not yet handled or dropped, over time, one line per broker"
        " setting, its peak marked",
    )
    return ax

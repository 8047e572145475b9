"""Outcome bars: a pattern against its naive twin over many fault schedules.

A sweep runs the same scenario under many seeded fault schedules and tallies
how each run ended (``{"ok": 93, "duplicate": 7}``).  :func:`draw_outcomes`
puts the two tallies side by side, one pair of bars per outcome, with the
counts written on the bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["draw_outcomes"]

_PAIR = ("#BBBBBB", "#332288")  # grey, then Tol's indigo (the palette's first)


def draw_outcomes(
    tally_a: Mapping[str, int],
    tally_b: Mapping[str, int],
    labels: Sequence[str] = ("naive", "pattern"),
    ax: Any = None,
    *,
    order: Sequence[str] | None = None,
    title: str | None = None,
    unit: str = "runs",
) -> Any:
    """Grouped bars of two tallies ``{outcome: count}``; return the Axes.

    ``unit`` names what is counted ("runs", "orders", "events").

    Outcomes appear in ``order`` if given, else in the order they first
    appear in ``tally_a`` then ``tally_b``; one missing from a tally counts 0.
    Every bar is labelled with its count, so a zero is visible too.
    """
    import matplotlib.pyplot as plt

    if len(labels) != 2:
        raise ValueError(f"labels must name the two tallies, got {labels!r}")
    for name, tally in (("tally_a", tally_a), ("tally_b", tally_b)):
        if not isinstance(tally, Mapping):
            raise TypeError(f"{name} must be a mapping outcome -> count, got {tally!r}")
        for k, v in tally.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}[{k!r}] must be an int >= 0, got {v!r}")
    outcomes = list(order) if order is not None else list(dict.fromkeys([*tally_a, *tally_b]))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(outcomes) + 2), 3.6), layout="constrained")
    width = 0.38
    xs = range(len(outcomes))
    for i, (tally, label) in enumerate(((tally_a, labels[0]), (tally_b, labels[1]))):
        heights = [tally.get(o, 0) for o in outcomes]
        bars = ax.bar(
            [x + (i - 0.5) * width for x in xs],
            heights,
            width,
            color=_PAIR[i],
            hatch=("", "//")[i],  # not colour alone
            edgecolor="white",
            label=label,
        )
        ax.bar_label(bars, fontsize=10, padding=2)
    ax.set_xticks(list(xs), outcomes)
    ax.set_ylabel(unit)
    ax.margins(y=0.15)
    ax.legend(loc="upper right")
    total_a, total_b = sum(tally_a.values()), sum(tally_b.values())
    ax.set_title(
        title or f"outcomes: {labels[0]} ({total_a} {unit}) vs {labels[1]} ({total_b} {unit})",
        loc="left",
    )
    return ax

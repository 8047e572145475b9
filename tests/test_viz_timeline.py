"""The timeline draws one lane per actor, an arrow per delivery and a marker per step."""

from __future__ import annotations

from collections import Counter

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save, shop  # noqa: E402

from evtlib import TraceRecord  # noqa: E402
from evtlib.viz import draw_timeline, lanes_of  # noqa: E402
from evtlib.viz.timeline import MARKERS  # noqa: E402


def _marker_points(ax) -> Counter:
    """Markers drawn per kind: lines of markers only, each named ``_<kind>``."""
    drawn: Counter = Counter()
    for line in ax.lines:
        if line.get_linestyle() == "None" and line.get_marker() not in (None, "None", ""):
            label = line.get_label()
            assert label.startswith("_"), label
            drawn[label[1:]] += len(line.get_xdata())
    return drawn


def test_small_timeline_matches_the_trace():
    """Ten events: every delivery is an arrow, every other record a marker."""
    sim, _ = shop(10)
    sim.run()
    drawn = draw_timeline(sim.trace)
    kinds = Counter(r.kind for r in sim.trace)
    assert not drawn.dense
    assert drawn.lanes == ["shop", "billing", "analytics", "billing-1", "billing-2", "totals"]
    assert [t.get_text() for t in drawn.ax.get_yticklabels()] == drawn.lanes
    assert drawn.arrows == kinds["delivered"] + kinds["redelivered"]
    quiver = [c for c in drawn.ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(quiver) == 1 and quiver[0].N == drawn.arrows
    expected = {k: v for k, v in kinds.items() if k not in ("delivered", "committed")}
    assert drawn.markers == expected
    assert _marker_points(drawn.ax) == expected
    save(drawn.ax.figure, "timeline_small")
    plt.close(drawn.ax.figure)


def test_large_timeline_drops_arrows_but_keeps_every_marker():
    """Five hundred events: dense mode, no arrows, one marker per non-delivery record."""
    sim, _ = shop(500, crash_at=3000)
    sim.run()
    drawn = draw_timeline(sim.trace)
    assert drawn.dense and drawn.arrows == 0
    assert drawn.markers["published"] == 500
    assert drawn.markers["crashed"] == 1
    assert drawn.markers["handled"] == sum(1 for r in sim.trace if r.kind == "handled")
    kinds = Counter(r.kind for r in sim.trace)
    expected = {k: v for k, v in kinds.items() if k not in ("delivered", "committed")}
    assert drawn.markers == expected
    assert _marker_points(drawn.ax) == expected
    save(drawn.ax.figure, "timeline_large")
    plt.close(drawn.ax.figure)


def test_window_zooms_in_and_brings_the_arrows_back():
    """A 300 ms window of the long run has few enough events for arrows."""
    sim, _ = shop(500, crash_at=3000)
    sim.run()
    drawn = draw_timeline(sim.trace, window=(2900, 3200))
    inside = [r for r in sim.trace if 2900 <= r.time <= 3200]
    assert not drawn.dense
    assert drawn.arrows == sum(1 for r in inside if r.kind in ("delivered", "redelivered"))
    assert drawn.ax.get_xlim() == (2900, 3200)
    assert sum(drawn.markers.values()) == sum(
        1 for r in inside if r.kind not in ("delivered", "committed")
    )
    assert _marker_points(drawn.ax) == drawn.markers
    plt.close(drawn.ax.figure)


def test_unknown_kinds_get_a_generic_marker_and_a_legend_entry():
    """A pattern's own kind (here 'dead-lettered' and 'weird') is drawn, not dropped."""
    records = [
        TraceRecord(0.0, "published", "shop", "evt-1", "orders", 0, 0),
        TraceRecord(2.0, "delivered", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(5.0, "failed", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(9.0, "dead-lettered", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(9.5, "weird", "billing-1", "evt-1"),
    ]
    drawn = draw_timeline(records)
    assert drawn.lanes == ["shop", "billing-1"]
    assert drawn.arrows == 1
    assert drawn.markers == {"published": 1, "failed": 1, "dead-lettered": 1, "weird": 1}
    assert _marker_points(drawn.ax) == drawn.markers
    labels = [t.get_text() for t in drawn.ax.get_legend().get_texts()]
    assert "weird (1)" in labels and "dead-lettered (1)" in labels
    assert "weird" not in MARKERS
    plt.close(drawn.ax.figure)


def test_colour_by_correlation_needs_the_events():
    """Correlation ids live on events, so the broker must be given."""
    sim, broker = shop(5)
    sim.run()
    with pytest.raises(ValueError, match="broker"):
        draw_timeline(sim.trace, color_by="correlation")
    drawn = draw_timeline(sim.trace, color_by="correlation", broker=broker)
    assert drawn.arrows > 0
    plt.close(drawn.ax.figure)


def test_lanes_put_producers_then_groups_then_consumers():
    """A consumer that also publishes (a reaction) stays among the consumers."""
    records = [
        TraceRecord(0, "joined", "payments"),
        TraceRecord(0, "rebalanced", "pay-group"),
        TraceRecord(1, "published", "shop", "e1", "orders", 0, 0),
        TraceRecord(2, "delivered", "payments", "e1", "orders", 0, 0),
        TraceRecord(3, "published", "payments", "e2", "payments", 0, 0),
    ]
    assert lanes_of(records) == ["shop", "pay-group", "payments"]


def test_drawing_is_deterministic_and_leaves_rcparams_alone():
    """Same trace, same picture; global settings untouched."""
    before = dict(plt.rcParams)
    sim, _ = shop(10)
    sim.run()
    a = draw_timeline(sim.trace)
    b = draw_timeline(sim.trace)
    assert a.lanes == b.lanes and a.markers == b.markers and a.arrows == b.arrows
    pa = [c.get_offsets().tolist() for c in a.ax.collections]
    pb = [c.get_offsets().tolist() for c in b.ax.collections]
    assert pa == pb
    la = [(ln.get_label(), ln.get_color(), ln.get_xydata().tolist()) for ln in a.ax.lines]
    lb = [(ln.get_label(), ln.get_color(), ln.get_xydata().tolist()) for ln in b.ax.lines]
    assert la == lb and _marker_points(a.ax) == a.markers
    assert dict(plt.rcParams) == before
    plt.close("all")

"""Figures for everyone: a shape per record kind, text of at least 10 pt, alt text.

Colour is never the only encoding: every kind of trace record, the core's
and those the patterns add, has a marker of its own, named in the legend.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import shop  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from evtlib.trace import KINDS  # noqa: E402
from evtlib.viz import (  # noqa: E402
    MARKERS,
    compare,
    describe,
    draw_consistency_lag,
    draw_consumer_lag,
    draw_dashboard,
    draw_flow,
    draw_timeline,
    render_step,
)
from evtlib.viz.timeline import GENERIC_MARKER, marker_for  # noqa: E402

EVTLIB = Path(__file__).resolve().parent.parent / "evtlib"
#: trace.record(time, "kind", ...) wherever a module writes a record (core, patterns, adapters).
RECORD = re.compile(r"trace\.record\(\s*[^,()]+(?:\([^()]*\))?,\s*\"([a-z][a-z-]*)\"")


def written_kinds() -> set[str]:
    """Every kind a module of evtlib (outside viz) writes into a trace."""
    kinds = set()
    for path in EVTLIB.rglob("*.py"):
        if "viz" not in path.parts:
            kinds |= set(RECORD.findall(path.read_text(encoding="utf-8")))
    return kinds


def _glyph(marker: str) -> str:
    """What a marker shows, for comparing: '$W$', '$w$' and '$\\mathrm{w}$' all show 'w'."""
    if marker.startswith("$"):
        return "text " + re.sub(r"\$|\\mathrm\{|\}", "", marker).lower()
    return "shape " + marker


def test_every_kind_written_anywhere_has_a_marker_of_its_own():
    """The core's kinds and every kind a pattern or adapter writes: no two look alike."""
    found = written_kinds()
    assert {"saga-started", "outbox-written", "db-written", "called"} <= found  # the scan works
    kinds = sorted(set(KINDS) | found | set(MARKERS))
    shapes = {}
    for kind in kinds:
        shapes.setdefault(_glyph(marker_for(kind)), []).append(kind)
    shared = {shape: ks for shape, ks in shapes.items() if len(ks) > 1}
    assert shared == {}, "give these kinds their own entry in evtlib.viz.timeline.MARKERS"


def test_every_marker_draws():
    """A timeline with one record of each kind renders (every mathtext glyph exists)."""
    from evtlib.trace import TraceRecord

    kinds = sorted(set(MARKERS) | {"kept-copy"})
    records = [TraceRecord(float(i), k, "actor", f"evt-{i}") for i, k in enumerate(kinds)]
    drawn = draw_timeline(records, max_events=0, hide=())
    drawn.ax.figure.canvas.draw()
    assert set(drawn.markers) == set(kinds) - {"delivered"}  # a delivery is its arrow
    plt.close("all")


def test_a_kind_without_an_entry_is_drawn_with_its_initials():
    """A kind added later still gets a shape no listed kind has."""
    assert marker_for("kept-copy") == "$\\mathrm{kc}$"
    assert marker_for("weird") == "$\\mathrm{we}$"
    assert marker_for("published") == MARKERS["published"]
    assert GENERIC_MARKER not in MARKERS.values()


def _figures():
    sim, broker = shop(12)
    yield "timeline", draw_timeline(sim.trace).ax.figure
    yield (
        "consumer lag",
        draw_consumer_lag([broker.group("billing"), broker.group("analytics")]).figure,
    )
    yield "consistency lag", draw_consistency_lag(broker.consumers[:2], target=40).figure
    yield "flow", draw_flow(broker).figure
    yield "step", render_step(sim.trace, 5, broker).figure
    yield "compare", compare(broker.group("billing"), broker.group("analytics"))
    yield "dashboard", draw_dashboard(broker)


NAMES = ["timeline", "consumer lag", "consistency lag", "flow", "step", "compare", "dashboard"]


@pytest.fixture(scope="module")
def figures():
    """The course's main pictures, drawn once in the course's style."""
    from evtlib.viz import use_course_style

    with plt.rc_context():
        use_course_style()
        drawn = dict(_figures())
        for fig in drawn.values():
            fig.canvas.draw()
        yield drawn
    plt.close("all")


@pytest.mark.parametrize("name", NAMES)
def test_text_is_at_least_10_points_and_every_figure_has_alt_text(figures, name):
    """Every visible text (ticks, labels, legends, notes) is >= 10 pt; alt text says what is shown."""
    fig = figures[name]
    small = [
        (t.get_text(), t.get_fontsize())
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 10
    ]
    assert small == []
    alt = describe(fig)
    assert len(alt) > 20 and "no labels" not in alt


def test_a_colour_key_has_a_legend():
    """Two groups in one lag chart: the legend names each colour."""
    _, broker = shop(12)
    ax = draw_consumer_lag([broker.group("billing"), broker.group("analytics")])
    entries = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(e.startswith("billing") for e in entries)
    assert any(e.startswith("analytics") for e in entries)
    plt.close("all")

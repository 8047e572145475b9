"""Outcome bars, the saga state machine, explorers, progress and the style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save  # noqa: E402

from evtlib.viz import (  # noqa: E402
    COLORS,
    color_for,
    draw_outcomes,
    draw_state_machine,
    explore,
    progress,
    quiet,
    use_course_style,
    widget_for,
)

STATES = [
    "running",
    "reserve",
    "charge",
    "completed",
    "compensating",
    "release",
    "compensated",
    "needs-attention",
]
TRANSITIONS = [
    ("running", "reserve", "start"),
    ("reserve", "charge", "reserved"),
    ("charge", "completed", "charged"),
    ("charge", "compensating", "declined"),
    ("compensating", "release"),
    ("release", "compensated", "released"),
    ("release", "needs-attention", "keeps failing"),
    ("release", "release", "retry"),
]


def test_outcome_bars_one_pair_per_outcome_with_counts():
    """Three outcomes, two tallies: six bars, each labelled with its count."""
    ax = draw_outcomes({"ok": 80, "duplicate": 15, "lost": 5}, {"ok": 100})
    bars = ax.patches
    assert len(bars) == 6
    assert [b.get_height() for b in bars] == [80, 15, 5, 100, 0, 0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ok", "duplicate", "lost"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["80", "15", "5", "100", "0", "0"])
    save(ax.figure, "outcomes")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="int >= 0"):
        draw_outcomes({"ok": -1}, {})


def test_state_machine_draws_states_transitions_and_the_path():
    """Every state a box, every transition an arrow, the path's steps numbered."""
    path = ["running", "reserve", "charge", "compensating", "release", "compensated"]
    ax = draw_state_machine(STATES, TRANSITIONS, path=path)
    boxes = [t for t in ax.texts if t.get_text() in STATES]
    assert len(boxes) == len(STATES)
    arrows = [p for p in ax.patches if (p.get_gid() or "").startswith("transition:")]
    assert len(arrows) == len(TRANSITIONS) - 1  # the self-loop is a note, not an arrow
    hot = [a for a in arrows if a.get_linewidth() > 2]
    assert len(hot) == len(path) - 1
    assert {t.get_text() for t in ax.texts} >= {"#1 start", "#5 released", "\u21bb retry"}
    save(ax.figure, "saga")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="not a transition"):
        draw_state_machine(STATES, TRANSITIONS, path=["running", "completed"])


def test_widgets_from_specs():
    """Tuples make sliders, lists drop-downs, bools checkboxes, the rest stays fixed."""
    import ipywidgets as widgets

    rate = widget_for("rate", (10, 200, 10))
    assert isinstance(rate, widgets.IntSlider) and (rate.min, rate.max, rate.step) == (10, 200, 10)
    assert rate.continuous_update is False
    assert isinstance(widget_for("p", (0.0, 1.0, 0.1)), widgets.FloatSlider)
    assert widget_for("seed", (0, 20, 1, 7)).value == 7
    assert isinstance(widget_for("consumers", [1, 2, 3]), widgets.Dropdown)
    assert isinstance(widget_for("crash", True), widgets.Checkbox)
    assert widget_for("topic", "orders") is None
    with pytest.raises(ValueError, match="slider spec"):
        widget_for("bad", (1,))


def test_explore_draws_first_then_redraws_on_change():
    """The first figure exists at once; a change re-runs the scenario with the new value."""
    plt.close("all")
    calls = []

    def scenario(consumers, seed, topic):
        calls.append((consumers, seed, topic))
        return consumers

    def draw(result):
        fig, ax = plt.subplots()
        ax.bar([0], [result])
        return ax

    box = explore(scenario, draw, consumers=[1, 2, 3], seed=(0, 20), topic="orders")
    assert calls == [(1, 0, "orders")]
    assert box.first_figure.axes[0].patches[0].get_height() == 1
    dropdown = box.children[0]
    dropdown.value = 3
    assert calls[-1] == (3, 0, "orders")
    assert not plt.get_fignums()  # every figure closed: nothing left for pyplot to show


def test_progress_is_silent_under_tests():
    """pytest sets PYTEST_CURRENT_TEST, so the bar stays quiet and items pass through."""
    assert quiet()
    assert list(progress(range(5), desc="seeds")) == [0, 1, 2, 3, 4]


def test_colours_are_stable_and_style_is_opt_in():
    """CRC-32 colours; drawing never changes rcParams, use_course_style does."""
    assert color_for("evt-000007") == color_for("evt-000007")
    assert color_for(None) == "#777777"
    assert COLORS["failed"] != COLORS["handled"]
    with plt.rc_context():
        use_course_style()
        assert plt.rcParams["axes.spines.top"] is False
    assert plt.rcParams["axes.spines.top"] is True

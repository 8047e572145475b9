"""Explorers answer fast: one figure redrawn in place, results and pictures kept; alt text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evtlib.viz import describe, draw_consumer_lag, explore  # noqa: E402
from evtlib.viz.describe import note  # noqa: E402
from evtlib.viz.explorer import clear_drawing, png_of  # noqa: E402


def _bars(calls):
    def scenario(height, seed, crash=False):
        calls.append((height, seed))
        return height

    def draw(result, ax=None):
        if ax is None:
            _, ax = plt.subplots()
        ax.bar([0], [result], label=f"height {result}")
        ax.set_ylim(0, result + 1)
        ax.legend()
        ax.set_title(f"one bar of {result}", loc="left")
        return ax

    return scenario, draw


def test_a_draw_function_with_ax_is_redrawn_on_the_same_figure():
    """The first figure is kept; each change clears it and draws the new result on it."""
    plt.close("all")
    calls = []
    scenario, draw = _bars(calls)
    box = explore(scenario, draw, height=(1, 9), seed=3)
    first = box.first_figure
    slider = box.children[0]
    slider.value = 7
    assert box.figure is first
    (ax,) = first.axes
    assert [p.get_height() for p in ax.patches] == [7]  # the old bar is gone
    assert ax.get_ylim() == (0, 8)  # limits follow the new data
    assert ax.get_title(loc="left") == "one bar of 7"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["height 7"]
    assert calls == [(1, 3), (7, 3)]
    assert not plt.get_fignums()


def test_a_draw_function_without_ax_gets_a_new_figure_each_time():
    """Older draw functions (no ax) still work: a new figure per change, closed for pyplot."""
    plt.close("all")

    def draw(n):
        _, ax = plt.subplots()
        ax.bar([0], [n])
        return ax

    box = explore(lambda n: n, draw, n=(1, 5))
    box.children[0].value = 4
    assert box.figure is not box.first_figure
    assert box.figure.axes[0].patches[0].get_height() == 4
    assert not plt.get_fignums()


def test_results_are_kept_per_parameter_set_and_can_be_forgotten():
    """Moving back to values seen before neither re-runs the scenario nor redraws."""
    calls = []
    scenario, draw = _bars(calls)
    box = explore(scenario, draw, height=(1, 9), seed=3)
    slider = box.children[0]
    slider.value = 2
    slider.value = 1
    slider.value = 2
    assert calls == [(1, 3), (2, 3)]
    box.cache_clear()
    slider.value = 1
    assert calls == [(1, 3), (2, 3), (1, 3)]


def test_an_error_in_a_redraw_leaves_the_explorer_working():
    """A scenario that raises on one value (shown in the Output in a kernel) spoils nothing."""
    calls = []
    _, draw = _bars(calls)

    def scenario(height):
        if height == 3:
            raise ValueError("height 3 is not allowed here")
        return height

    box = explore(scenario, draw, height=(1, 9))
    slider = box.children[0]
    with pytest.raises(ValueError, match="height 3"):  # outside a kernel nothing captures it
        slider.value = 3
    slider.value = 5
    assert [p.get_height() for p in box.figure.axes[0].patches] == [5]


def test_clear_drawing_keeps_the_axes_and_removes_what_was_drawn():
    """Lines, patches, texts, legend and fixed limits go; the Axes object stays."""
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 10], label="x")
    ax.text(0, 0, "note")
    ax.legend()
    ax.set_ylim(0, 100)
    clear_drawing(ax)
    assert not ax.lines and not ax.texts and ax.get_legend() is None
    ax.plot([0, 1], [0, 2])
    ax.autoscale_view()
    assert ax.get_ylim()[1] < 3
    assert png_of(fig).startswith(b"\x89PNG")


def test_alt_text_says_what_a_chart_shows(tmp_path):
    """Title, axis labels and legend entries, from the figure's own words; a note comes first."""
    import evtlib as ev

    sim = ev.Simulation(seed=1)
    broker = ev.Broker(sim)
    broker.create_topic("orders", 2)
    ev.Producer(broker, "shop", "orders", ev.Rate(per_second=100), count=10)
    ev.Consumer(broker, "billing-1", "orders", group="billing", service_time=15)
    sim.run()
    ax = draw_consumer_lag(broker.group("billing"))
    alt = describe(ax.figure)
    assert "events published but not yet committed" in alt
    assert "x: simulated time (ms); y: consumer lag (events)" in alt
    assert "billing: total (peak" in alt
    note(ax, "Lag of billing over time")
    assert describe(ax).startswith("Lag of billing over time. Titled: events published")
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        note(ax, "")
    plt.close("all")


def test_every_figure_displayed_in_a_notebook_carries_alt_text():
    """The course style wraps IPython's PNG formatter: metadata["image/png"]["alt"]."""
    from types import SimpleNamespace

    from IPython.core.formatters import DisplayFormatter

    from evtlib.viz.style import _png_with_alt_text

    shell = SimpleNamespace(display_formatter=DisplayFormatter())
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: b"png")
    _png_with_alt_text(shell)
    fig = Figure()
    fig.add_subplot().set_title("orders per second")
    data, metadata = shell.display_formatter.format(fig)
    assert data["image/png"] == b"png"
    assert metadata["image/png"] == {"alt": "orders per second."}


def test_after_a_move_the_next_step_either_side_is_run_ahead():
    """With look-ahead on (a live kernel), the neighbours of the moved control are ready."""
    calls = []
    scenario, draw = _bars(calls)
    box = explore(scenario, draw, height=(1, 9), seed=3, crash=False)
    box.look_ahead = True
    slider = box.children[0]
    slider.value = 5
    box.wait_ahead()
    assert sorted(calls[1:]) == [(4, 3), (5, 3), (6, 3)]
    slider.value = 6  # ran ahead: drawn, not simulated again
    box.wait_ahead()
    assert sorted(calls[1:]) == [(4, 3), (5, 3), (6, 3), (7, 3)]
    assert [p.get_height() for p in box.figure.axes[0].patches] == [6]
    n = len(calls)
    box.children[1].value = True  # a checkbox: its other value (False) is known already
    box.wait_ahead()
    assert len(calls) == n + 1


def test_an_error_in_a_callback_goes_through_the_shells_own_handler():
    """In a kernel, a slider's error is shown as a cell's is (the course's short traceback)."""
    import sys
    from types import SimpleNamespace

    from evtlib.viz.explorer import show_error

    shown = []
    shell = SimpleNamespace(
        custom_exceptions=(ValueError,),
        CustomTB=lambda etype, value, tb: shown.append(("custom", etype)),
        showtraceback=lambda exc_info: shown.append(("full", exc_info[0])),
    )
    for error in (ValueError("bad"), KeyError("totl")):
        try:
            raise error
        except Exception:
            show_error(sys.exc_info(), shell)
    assert shown == [("custom", ValueError), ("full", KeyError)]


def test_clear_drawing_forgets_categories_and_log_scales():
    """Bars by name start from the new names; a log scale goes back to linear."""
    fig = Figure()
    ax = fig.add_subplot()
    ax.bar(["a", "b"], [1, 2])
    ax.set_yscale("log")
    png_of(fig)
    clear_drawing(ax)
    ax.bar(["b", "c"], [3, 4])
    png_of(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "c"]
    assert [p.get_x() for p in ax.patches] == [-0.4, 0.6]
    assert ax.get_yscale() == "linear"


def test_a_picture_redrawn_in_place_is_the_picture_drawn_afresh():
    """Timeline and lag chart: pixel for pixel the same as on a new figure."""
    from _viz_helpers import shop

    from evtlib.viz import draw_timeline

    runs = {n: shop(10, consumers=n, crash_at=None) for n in (1, 2)}
    for sim, _ in runs.values():
        sim.run()

    def draw(n, ax=None):
        if ax is None:
            fig, ax = plt.subplots(2, 1, figsize=(8, 6))
            fig.subplots_adjust(left=0.15, right=0.75, hspace=0.4)
        sim, broker = runs[n]
        draw_consumer_lag(broker.group("billing"), ax[0], step=5)
        draw_timeline(sim.trace, ax[1])
        return ax[0].figure

    box = explore(lambda n: n, draw, n=(1, 2))
    box.children[0].value = 2
    fresh = draw(2)
    assert png_of(box.figure) == png_of(fresh)
    plt.close("all")


def test_the_layout_is_worked_out_again_when_wider_labels_no_longer_fit():
    """A constrained figure redrawn in place keeps its layout until something sticks out."""
    from evtlib.viz.explorer import _sticks_out

    def draw(n, ax=None):
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 2.5), layout="constrained")
        ax.plot([0, 1], [0, n])
        ax.set_yticks([0, n], ["0", f"{n:,} orders per second"])
        ax.set_ylabel("load")
        return ax

    box = explore(lambda n: n, draw, n=[1, 10**12])
    box.children[0].value = 10**12
    fig = box.figure
    assert fig is box.first_figure
    assert not _sticks_out(fig, fig.canvas.get_renderer())
    assert fig.get_layout_engine() is None or not fig.get_layout_engine().adjust_compatible
    plt.close("all")

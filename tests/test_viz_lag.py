"""Lag charts plot what the metrics compute: every point and every percentile."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save, shop  # noqa: E402

import evtlib as ev  # noqa: E402
from evtlib.viz import compare, draw_consistency_lag, draw_consumer_lag  # noqa: E402


def test_consistency_lag_plots_every_handled_event_and_its_percentiles():
    """One dot per handled event, p50/p95/p99 lines, and the target."""
    sim, broker = shop(60, crash_at=None)
    sim.run()
    totals = broker.consumers[-1]
    ax = draw_consistency_lag(totals, target=30)
    dots = ax.collections[0].get_offsets()
    assert len(dots) == len(totals.handled_at)
    assert list(dots[:, 1]) == list(totals.lags)
    ps = ev.percentiles(totals.lags)
    hlines = sorted(line.get_ydata()[0] for line in ax.lines)
    assert hlines == sorted([ps[50], ps[95], ps[99], 30])
    assert "p95" in ax.get_legend().get_texts()[0].get_text()
    save(ax.figure, "consistency_lag")
    plt.close(ax.figure)


def test_consumer_lag_has_a_thin_line_per_partition_and_a_total():
    """Two groups x (3 partitions + total) = 8 lines, plus the target."""
    sim, broker = shop(60, crash_at=300)
    sim.run()
    groups = list(broker.groups.values())
    ax = draw_consumer_lag(groups, target=5)
    assert len(ax.lines) == 2 * (3 + 1) + 1
    series = ev.lag_series(broker.groups["billing"], step=10.0)
    totals = [line for line in ax.lines if line.get_linewidth() == 2.0]
    assert list(totals[0].get_ydata()) == series.total
    save(ax.figure, "consumer_lag")
    plt.close(ax.figure)


def test_compare_shares_both_axes():
    """One consumer vs three: two panels on one scale."""
    one, b1 = shop(80, consumers=1, crash_at=None)
    three, b3 = shop(80, consumers=3, crash_at=None)
    one.run()
    three.run()
    fig = compare(b1.groups["billing"], b3.groups["billing"], labels=("1 consumer", "3 consumers"))
    a, b = fig.axes
    assert a.get_ylim() == b.get_ylim() and a.get_xlim() == b.get_xlim()
    assert a.get_title(loc="left") == "1 consumer"
    assert b1.groups["billing"].lag() == b3.groups["billing"].lag() == 0  # both drained
    save(fig, "compare")
    plt.close(fig)
    fig = compare(b1.consumers[0], b3.consumers[0])  # consumers: consistency lag
    assert "consistency" in fig.axes[0].get_ylabel()
    plt.close(fig)


def test_bad_input_names_the_value():
    """A wrong type is refused with a message that says what was expected."""
    with pytest.raises(TypeError, match="Group or LagSeries"):
        draw_consumer_lag([42])

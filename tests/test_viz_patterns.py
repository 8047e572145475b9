"""Tables and pictures for the pattern notebooks: what they draw, checked."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save  # noqa: E402

from evtlib.patterns import RetryPolicy, crash_sweep, retention_demo, retry_storm  # noqa: E402
from evtlib.viz.patterns import (  # noqa: E402
    crash_rows,
    draw_retention_grid,
    draw_retry_delays,
    draw_storm,
    draw_tallies,
    table,
)


def test_table_aligns_columns_and_prints_none_as_dash():
    """Each column is as wide as its widest cell; None shows as '-', floats without '.0'."""
    text = table([{"seq": 1, "sent_at": None}, {"seq": 12, "sent_at": 50.0}])
    assert text.splitlines() == ["seq  sent_at", "---  -------", "1    -", "12   50"]
    assert table([], ["a", "b"]).splitlines() == ["a  b", "-  -"]
    with pytest.raises(TypeError, match="rows\\[0\\]"):
        table([1])


def test_crash_rows_one_row_per_point_with_each_twins_verdict():
    """The sweep becomes four rows; the dual write loses or invents, the outbox never does."""
    rows = crash_rows(crash_sweep())
    assert [r["crash at"] for r in rows] == [
        "before-commit",
        "after-commit",
        "relay-after-publish",
        "relay-after-mark",
    ]
    by_point = {r["crash at"]: r for r in rows}
    assert "LOST" in by_point["after-commit"]["dual-write db-first"]
    assert "INVENTED" in by_point["before-commit"]["dual-write publish-first"]
    assert by_point["relay-after-publish"]["outbox"] == "1 published twice"
    assert by_point["relay-after-mark"]["dual-write db-first"] == "-"
    assert not any("LOST" in r["outbox"] or "INVENTED" in r["outbox"] for r in rows)


def test_tallies_one_bar_per_label_and_outcome_with_its_number():
    """Three tallies over two outcomes: six bars, each labelled, a missing outcome as 0."""
    ax = draw_tallies({"a": {"ok": 3, "bad": 1}, "b": {"ok": 4}, "c": {"ok": 2.5, "bad": 2}})
    heights = [b.get_height() for b in ax.patches]
    assert heights == [3, 1, 4, 0, 2.5, 2]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["3", "1", "4", "0", "2.5", "2"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    save(ax.figure, "tallies")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=">= 0"):
        draw_tallies({"a": {"ok": -1}})


def test_retry_delays_draw_the_bound_and_jittered_samples_below_it():
    """A line per policy at the backoff; jittered dots never above their bound."""
    policies = {
        "fixed": RetryPolicy(4, backoff="fixed", jitter="none"),
        "full": RetryPolicy(4, jitter="full"),
    }
    ax = draw_retry_delays(policies, samples=10)
    lines = ax.get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[100, 100, 100], [100, 200, 400]]
    (dots,) = ax.collections  # only the jittered policy has dots
    ys = dots.get_offsets()[:, 1]
    xs = dots.get_offsets()[:, 0]
    assert len(ys) == 30
    for x, y in zip(xs, ys, strict=True):
        assert 0 <= y <= 100 * 2 ** (round(x) - 1)
    save(ax.figure, "retry_delays")
    plt.close(ax.figure)


def test_storm_panels_stack_every_call_of_each_run():
    """Two runs, two panels; the stacked bars add up to every call the service got."""
    runs = [retry_storm("none"), retry_storm("full")]
    fig = draw_storm(runs, capacity=5, until=2000)
    assert len(fig.axes) == 2
    for ax, run in zip(fig.axes, runs, strict=True):
        drawn = sum(p.get_height() for p in ax.patches)
        assert drawn == sum(b.attempts for b in run.buckets if b.start < 2000)
        assert f"peak {run.peak_retries} retries" in ax.get_title(loc="left")
    save(fig, "storm")
    plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        draw_storm(runs, labels=["one"])


def test_retention_grid_colours_each_cell_by_whether_the_duplicate_was_charged():
    """Short retention vs a late duplicate: 'twice'; long retention: 'once'."""
    demos = [retention_demo(r, d) for r in (100, 1000) for d in (50, 500)]
    ax = draw_retention_grid(demos)
    words = [t.get_text() for t in ax.texts]
    assert words == ["once", "twice", "once", "once"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["100", "1000"]
    save(ax.figure, "retention")
    plt.close(ax.figure)


def test_retry_topics_picture_marks_the_key_handled_out_of_order():
    """Blocking vs retry topics: one row per event, ranks beside the squares, order-1 flagged."""
    from evtlib.patterns.retry_topics import retry_topics_run
    from evtlib.viz.patterns import draw_retry_topics

    runs = [retry_topics_run("blocking"), retry_topics_run("retry-topics")]
    fig = draw_retry_topics(runs)
    left, right = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in left.texts] == ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th"]
    assert [t.get_text() for t in right.texts][0] == "7th"  # order-1's OrderPlaced, handled last
    labels = [t.get_text() for t in right.get_yticklabels()]
    assert labels[0] == "order-1 OrderPlaced (out of order)"
    assert "(out of order)" not in " ".join(t.get_text() for t in left.get_yticklabels())
    assert left.get_title(loc="left") == "blocking: per-key order kept"
    save(fig, "retry-topics")
    plt.close(fig)
    with pytest.raises(ValueError):
        draw_retry_topics([])

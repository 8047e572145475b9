"""What a polling outbox relay costs (notebook 07): delay from commit to publish, and queries."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from evtlib.course.scenarios.outbox_knobs import (  # noqa: E402
    draw_poll_interval_costs,
    poll_interval_costs,
)


def test_delay_grows_with_the_poll_interval_and_stays_below_it():
    """Every event waits at most one poll interval; the median about half of it."""
    rows = poll_interval_costs((10, 50, 200))
    for r in rows:
        assert 0 <= r["median delay (ms)"] <= r["max delay (ms)"] <= r["poll every (ms)"]
    assert [r["max delay (ms)"] for r in rows] == sorted(r["max delay (ms)"] for r in rows)


def test_polling_faster_than_orders_arrive_mostly_finds_nothing():
    """Orders every 25 ms, polls every 10 ms: most of the 100 queries are empty."""
    (fast,) = poll_interval_costs((10,))
    assert fast["polls"] == 100 and fast["empty polls"] == 60
    (slow,) = poll_interval_costs((200,))
    assert slow["polls"] == 6 and slow["empty polls"] == 1  # the first poll, before any order


def test_picture_has_both_panels_and_refuses_nothing_to_draw():
    """Two panels: delays with the reference line, polls with their numbers."""
    fig = draw_poll_interval_costs(poll_interval_costs((25, 100)))
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "worst delay",
        "median delay",
        "one poll interval",
    ]
    assert [t.get_text() for t in right.texts] == ["41", "11", "1", "1"]
    plt.close(fig)
    with pytest.raises(ValueError):
        draw_poll_interval_costs([])
    with pytest.raises(ValueError):
        poll_interval_costs(())

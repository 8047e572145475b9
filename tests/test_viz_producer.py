"""What a producer experienced, drawn: one bar per broker setting, and the backlogs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save  # noqa: E402

from evtlib.course.scenarios.guarantees import draw_backpressure, producer_experience  # noqa: E402
from evtlib.viz import describe  # noqa: E402
from evtlib.viz.producer import FATES, draw_backlog, draw_producer_experience  # noqa: E402


def test_each_setting_gets_a_bar_split_by_fate_with_its_counts_and_time_blocked():
    """The parts of a bar add up to what the producer sent; zero parts are not labelled."""
    infos = producer_experience()
    ax = draw_producer_experience(infos)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(infos)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("blocked 0 ms") == len(infos)
    widths = {}
    for container, (key, _) in zip(ax.containers, FATES, strict=True):
        widths[key] = [int(bar.get_width()) for bar in container]
    for i, info in enumerate(infos.values()):
        assert sum(widths[k][i] for k, _ in FATES) == info["accepted"] + info["refused"] == 100
        assert widths["dropped"][i] == info["dropped"]
    labels = [lab for _, lab in FATES]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    assert "blocked" in describe(ax.figure)
    save(ax.figure, "producer_experience")
    plt.close(ax.figure)


def test_the_backlog_lines_end_at_zero_and_name_their_peak():
    """Each setting's backlog is a step line whose legend names its peak."""
    infos = producer_experience()
    ax = draw_backlog(infos)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"{name} (peak {info['peak_backlog']})" for name, info in infos.items()]
    for line in ax.get_lines()[::2]:
        assert line.get_ydata()[-1] == 0
    plt.close(ax.figure)


def test_draw_backpressure_redraws_on_the_same_two_axes():
    """The explorer passes the Axes back: the figure is reused, not multiplied."""
    infos = producer_experience()
    fig = draw_backpressure(infos)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        ax.clear()
    again = draw_backpressure(producer_experience(service_ms=20), ax=tuple(fig.axes))
    assert again is fig and len(fig.axes) == 2
    save(fig, "backpressure")
    plt.close(fig)


@pytest.mark.parametrize(
    ("infos", "error", "words"),
    [
        ({}, TypeError, "infos must be a non-empty mapping"),
        ({"kafka": 3}, TypeError, r"infos\['kafka'\] must be a mapping"),
        ({"kafka": {"shipped": 1}}, ValueError, r"missing \['dropped'"),
    ],
)
def test_bad_infos_are_refused_with_the_rule(infos, error, words):
    """A wrong argument names what it must be."""
    with pytest.raises(error, match=words):
        draw_producer_experience(infos)

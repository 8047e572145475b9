"""Notebook 05's load chart: the consumer's p99 lag against utilisation, and M/M/1 beside it."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from evtlib.course.scenarios import consistency as C  # noqa: E402


def test_mm1_mean_and_p99():
    """W = S / (1 - rho); the time in system is exponential, so p99 = W ln 100."""
    assert C.mm1_time_in_system(0.5, 15) == pytest.approx(30.0)
    assert C.mm1_time_in_system(0.5, 15, 99) == pytest.approx(30.0 * math.log(100))
    assert C.mm1_time_in_system(0.0, 15, 50) == pytest.approx(15 * math.log(2))
    assert C.mm1_time_in_system(1.0, 15) == math.inf
    assert C.mm1_time_in_system(1.2, 15, 99) == math.inf


@given(
    st.floats(min_value=0.0, max_value=0.98),
    st.floats(min_value=0.0, max_value=0.98),
    st.floats(min_value=0.1, max_value=100.0),
)
def test_mm1_grows_with_utilisation(a, b, service_ms):
    """More utilisation never means less time in system, for the mean and the p99."""
    lo, hi = sorted((a, b))
    assert C.mm1_time_in_system(lo, service_ms) <= C.mm1_time_in_system(hi, service_ms)
    ratio = C.mm1_time_in_system(hi, service_ms, 99) / C.mm1_time_in_system(hi, service_ms)
    assert ratio == pytest.approx(math.log(100))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: C.mm1_time_in_system(-0.1, 15), "utilisation"),
        (lambda: C.mm1_time_in_system(0.5, 0), "service_ms"),
        (lambda: C.mm1_time_in_system(0.5, 15, 100), "percentile"),
        (lambda: C.load_curve((1.0,)), "utilisations"),
        (lambda: C.load_curve(()), "utilisations"),
        (lambda: C.load_curve((0.5,), seeds=()), "seeds"),
        (lambda: C.load_curve((0.5,), window_ms=0), "window_ms"),
        (lambda: C.shop(service="gamma"), "service"),
        (lambda: C.shop(latency_ms=-1), "latency_ms"),
        (lambda: C.backlog_growth(windows_ms=()), "windows_ms"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    """A wrong value is refused with a message naming the parameter."""
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_the_simulated_consumer_matches_mm1_at_half_load():
    """One consumer on one partition, exponential service, no latency: an M/M/1 queue."""
    curve = C.load_curve((0.5,), seeds=(1, 2, 3), window_ms=40_000)
    (median,) = curve.median()
    assert median == pytest.approx(C.mm1_time_in_system(0.5, 15, 99), rel=0.15)
    # The mean time in system too: every order's consistency lag is its wait plus its handling.
    run = C.shop(1, rate=1000 / 15 * 0.5, duration_ms=80_000, partitions=1)
    lags = list(run.consumer.lags)
    assert sum(lags) / len(lags) == pytest.approx(C.mm1_time_in_system(0.5, 15), rel=0.1)


def test_load_curve_is_deterministic_and_bends():
    """The same arguments give the same numbers; p99 at 0.9 is several times p99 at 0.3."""
    a = C.load_curve((0.3, 0.9), seeds=(1, 2))
    assert a == C.load_curve((0.3, 0.9), seeds=(1, 2))
    low, high = a.median()
    assert high > 3 * low
    assert [row["utilisation"] for row in a.table()] == [0.3, 0.9]


def test_constant_service_waits_less_than_exponential():
    """M/D/1 waits less than M/M/1 at the same utilisation (Pollaczek-Khinchine)."""
    exp = C.load_curve((0.8,), seeds=(1, 2, 3)).median()[0]
    const = C.load_curve((0.8,), seeds=(1, 2, 3), service="constant").median()[0]
    assert const < exp


def test_backlog_grows_with_the_window_only_above_capacity():
    """Utilisation 1.2: the peak grows with the window, near (rate - capacity) x time; 0.5 stays small."""
    growth = C.backlog_growth((0.5, 1.2), (6000.0, 12_000.0, 24_000.0))
    over = growth.peaks[1.2]
    assert over[0] < over[1] < over[2]
    assert growth.expected(1.2)[-1] == pytest.approx(0.2 * 1000 / 15 * 24)
    assert 0.5 * growth.expected(1.2)[-1] < over[-1] < 2 * growth.expected(1.2)[-1]
    assert max(growth.peaks[0.5]) < 20
    assert growth.expected(0.5) == (0.0, 0.0, 0.0)


def test_the_charts_name_what_they_draw():
    """Axis labels, a legend with the M/M/1 curve, and alt text for both charts."""
    from evtlib.viz.describe import describe

    ax = C.draw_load_curve(C.load_curve((0.3, 0.6), seeds=(1, 2), window_ms=2000))
    assert "utilisation" in ax.get_xlabel() and "p99" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("M/M/1" in label for label in labels)
    assert len(ax.collections[0].get_offsets()) == 4  # a mark per utilisation and seed
    assert "utilisation" in describe(ax.figure)
    plt.close(ax.figure)
    ax = C.draw_backlog_growth(C.backlog_growth((0.5, 1.2), (3000.0, 6000.0)))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("expected" in label for label in labels)
    assert "events" in ax.get_ylabel()
    plt.close(ax.figure)


def test_load_explorer_is_one_seed_of_the_curve():
    """The explorer's curve is load_curve with one seed; constant service sits below exponential."""
    one = C.load_explorer(seed=3)
    assert one.seeds == (3,)
    assert one == C.load_curve(seeds=(3,))
    ax = C.draw_load_curve(one)
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "simulated: seed 3"
    plt.close(ax.figure)
    const = C.load_explorer(seed=3, service="constant")
    assert const.median()[-1] < one.median()[-1]
    with pytest.raises(ValueError, match="service"):
        C.load_explorer(service="uniform")

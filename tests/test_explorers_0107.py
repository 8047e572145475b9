"""The explorers of notebooks 01-07: seeded scenarios that return data, draw functions that redraw in place."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from evtlib.course.scenarios import billing_crash, charge_tally  # noqa: E402
from evtlib.course.scenarios.events import (  # noqa: E402
    draw_chains,
    draw_rollout,
    reaction_chains,
    schema_rollout,
)
from evtlib.course.scenarios.guarantees import (  # noqa: E402
    crash_outcomes,
    draw_crash_outcomes,
    draw_outage_retention,
    outage_retention,
)
from evtlib.course.scenarios.outbox_knobs import (  # noqa: E402
    crash_rate_sweep,
    draw_crash_rate_sweep,
    draw_relay_delay,
    relay_delay,
)
from evtlib.course.scenarios.partitions import draw_key_order, key_order  # noqa: E402
from evtlib.course.scenarios.read_models import draw_own_writes, own_writes  # noqa: E402
from evtlib.course.scenarios.tradeoffs import (  # noqa: E402
    draw_spiral,
    draw_storm_lag,
    spiral,
    storm,
)
from evtlib.viz import explore  # noqa: E402
from evtlib.viz.explorer import clear_drawing  # noqa: E402

# (scenario, draw, the widget specs the notebook passes, one other parameter set)
EXPLORERS = [
    (
        reaction_chains,
        draw_chains,
        {"orders": (1, 6, 1, 2), "gap_ms": (0, 20, 1, 3), "payment_ms": (1, 15, 1, 6)},
        {"orders": 4, "gap_ms": 1, "payment_ms": 12},
    ),
    (
        schema_rollout,
        draw_rollout,
        {"old_share": (0, 100, 10, 50), "on_error": ["stop", "skip"]},
        {"old_share": 20, "on_error": "skip"},
    ),
    (
        key_order,
        draw_key_order,
        {"key": ["order id", "none"], "partitions": (1, 6, 1, 3), "seed": (1, 20, 1, 3)},
        {"key": "none", "partitions": 2, "seed": 3},
    ),
    (
        crash_outcomes,
        draw_crash_outcomes,
        {"crash_at": (15, 195, 5, 85), "commit_every": (1, 10, 1, 5)},
        {"crash_at": 120, "commit_every": 1},
    ),
    (
        outage_retention,
        draw_outage_retention,
        {
            "down_for": (0, 1200, 100, 600),
            "retention_ms": (200, 2000, 100, 800),
            "reset": ["latest", "earliest"],
        },
        {"down_for": 900, "reset": "earliest"},
    ),
    (
        own_writes,
        draw_own_writes,
        {"rate": (10, 90, 10, 50), "timeout_ms": (25, 300, 25, 100)},
        {"rate": 80, "timeout_ms": 50},
    ),
    (
        storm,
        draw_storm_lag,
        {"consumers": (2, 12, 1, 8), "retry_delay": (50, 300, 25, 100)},
        {"consumers": 5, "retry_delay": 250},
    ),
    (
        spiral,
        draw_spiral,
        {"pause_ms": (50, 600, 50, 400), "rate": (40, 80, 5, 60)},
        {"pause_ms": 300, "rate": 60},
    ),
    (
        relay_delay,
        draw_relay_delay,
        {"poll_interval": (10, 300, 10, 100), "batch_size": (1, 20, 1, 10)},
        {"poll_interval": 20, "batch_size": 1},
    ),
    (
        crash_rate_sweep,
        draw_crash_rate_sweep,
        {"crash_rate": (0.0, 0.5, 0.05, 0.1), "n_orders": (2, 16, 1, 8)},
        {"crash_rate": 0.3},
    ),
]
IDS = [scenario.__name__ for scenario, *_ in EXPLORERS]


@pytest.mark.parametrize(("scenario", "draw", "specs", "other"), EXPLORERS, ids=IDS)
def test_a_scenario_is_pure_and_its_picture_redraws_in_place(scenario, draw, specs, other):
    """Same parameters, same result; the draw function draws a second result on the first Axes."""
    first, again = scenario(), scenario()
    assert repr(first) == repr(again)
    if isinstance(first, dict):
        assert first == again
    else:
        assert first.effects == again.effects and first.info.keys() == again.info.keys()
        assert len(first.trace) == len(again.trace)
    drawn = draw(first)
    ax = getattr(drawn, "ax", drawn)
    clear_drawing(ax)
    redrawn = draw(scenario(**other), ax=ax)
    assert getattr(redrawn, "ax", redrawn) is ax and ax.get_title(loc="left") + ax.get_title()
    plt.close(ax.figure)


@pytest.mark.parametrize(("scenario", "draw", "specs", "other"), EXPLORERS, ids=IDS)
def test_the_notebooks_explorer_builds_and_answers_a_change(scenario, draw, specs, other):
    """explore() with the notebook's specs shows a first figure and redraws when a widget moves."""
    box = explore(scenario, draw, **specs)
    first = box.first_figure
    name, spec = next(iter(specs.items()))
    widget = box.children[0]
    widget.value = other.get(name, spec[0] if isinstance(spec, tuple) else spec[-1])
    assert box.figure is first  # redrawn in place
    plt.close(first)


def test_crash_outcomes_are_the_notebooks_billing_crash():
    """The default tallies are notebook 04's: one never charged, two charged twice."""
    tallies = crash_outcomes()
    assert tallies["at-most-once"] == charge_tally(billing_crash("at-most-once"))
    assert tallies["at-least-once"]["charged twice"] == 2
    assert crash_outcomes(commit_every=1)["at-least-once"]["charged twice"] == 0


def test_the_defaulting_reader_is_silently_wrong_and_the_upcaster_right():
    """Half the log at version 1: the defaulting reader misreads half, strict stops, the upcaster reads all."""
    t = schema_rollout(old_share=50, events=40)
    assert t["defaulting"]["silently wrong"] == 20 and t["defaulting"]["failed"] == 0
    assert t["strict"] == {
        "read right": 0,
        "silently wrong": 0,
        "failed": 1,
        "stuck behind a failure": 39,
    }
    assert t["upcaster"]["read right"] == 40
    assert schema_rollout(old_share=50, events=40, on_error="skip")["strict"]["failed"] == 20


def test_without_a_key_orders_are_handled_out_of_order():
    """Keyed by order id no order is out of order; without a key, some are."""
    assert key_order(key="order id").info["out_of_order"] == ()
    assert key_order(key="none", partitions=2).info["out_of_order"]


def test_an_outage_longer_than_retention_loses_orders_and_earliest_loses_fewer():
    """Kafka profile: retention deletes unread orders; reset to latest skips all that waited."""
    short = outage_retention(down_for=600, retention_ms=800)
    assert short.info["expired"] == 0 and short.info["shipped"] == short.info["published"]
    latest = outage_retention(down_for=900, retention_ms=800)
    earliest = outage_retention(down_for=900, retention_ms=800, reset="earliest")
    assert 0 < earliest.info["expired"] < latest.info["expired"]
    assert latest.info["shipped"] + latest.info["expired"] == latest.info["published"]


def test_own_writes_counts_the_orders_within_the_budget():
    """A larger budget never shows fewer customers their order; load makes it worse."""
    small, large = own_writes(timeout_ms=50), own_writes(timeout_ms=100)
    assert small.info["orders"] == large.info["orders"]
    assert small.info["within"] <= large.info["within"] <= large.info["orders"]
    assert own_writes(rate=80).info["within"] < large.info["within"]


def test_storm_and_spiral_knobs():
    """Fewer consumers in step: one outage; a short pause: nothing given up."""
    assert len(storm(consumers=4).info["provider"].down) == 1
    assert len(storm(consumers=8).info["provider"].down) > 1
    assert spiral(pause_ms=200).info["gave_up"] == 0 < spiral(pause_ms=500).info["gave_up"]


def test_relay_knobs_and_crash_rate_sweep():
    """Polling less often, or one row per poll, delays billing; the outbox never loses or invents."""
    assert relay_delay(poll_interval=20).info["p99"] < relay_delay(poll_interval=100).info["p99"]
    assert relay_delay(batch_size=1).info["p99"] > relay_delay(batch_size=10).info["p99"]
    t = crash_rate_sweep(crash_rate=0.3, schedules=10)
    assert t["outbox"]["schedules with a loss or invention"] == 0
    assert (
        t["dual-write db-first"]["events lost"] > 0
        and t["dual-write publish-first"]["events invented"] > 0
    )
    assert crash_rate_sweep(crash_rate=0.0, schedules=5)["outbox"]["events published twice"] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reaction_chains(orders=0), "orders must be"),
        (lambda: schema_rollout(old_share=120), "old_share must be a percentage"),
        (lambda: schema_rollout(on_error="ignore"), "on_error"),
        (lambda: key_order(key="customer"), "key"),
        (lambda: crash_outcomes(commit_every=0), "commit_every"),
        (lambda: outage_retention(reset="middle"), "reset"),
        (lambda: own_writes(timeout_ms=-1), "timeout_ms"),
        (lambda: storm(retry_delay=0), "retry_delay"),
        (lambda: relay_delay(poll_interval=0), "poll_interval"),
        (lambda: crash_rate_sweep(crash_rate=1.5), "crash_rate"),
    ],
)
def test_bad_knobs_name_the_parameter(call, message):
    """A bad value is refused with the parameter's name."""
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize(("scenario", "draw", "specs", "other"), EXPLORERS, ids=IDS)
def test_every_end_of_every_slider_runs(scenario, draw, specs, other):
    """Each widget's lowest and highest value (each menu option) gives a result the draw accepts."""
    for name, spec in specs.items():
        values = spec[:2] if isinstance(spec, tuple) else spec
        for value in values:
            drawn = draw(scenario(**{name: value}))
            plt.close(getattr(drawn, "ax", drawn).figure)

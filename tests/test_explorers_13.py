"""Notebook 13's explorers: the simulated counterparts of what it runs on RabbitMQ."""

from __future__ import annotations

import pytest

from evtlib.course.scenarios.real_broker import (
    delivery_limit_run,
    draw_delivery_limit_run,
    draw_retention_run,
    retention_run,
)


def test_a_lower_delivery_limit_dead_letters_more_and_nothing_vanishes():
    """RabbitMQ quorum queues dead-letter past x-delivery-limit; every message is handled or
    dead-lettered, whatever the limit."""
    loose, tight = delivery_limit_run(20, 0.5), delivery_limit_run(2, 0.5)
    assert tight["dead-lettered"] > loose["dead-lettered"] == 0
    for counts in (loose, tight):
        assert counts["handled"] + counts["dead-lettered"] == 40


def test_a_late_group_reads_only_what_retention_kept():
    """A log keeps events for its retention time; a late group from the earliest offset reads
    the events younger than that, none older."""
    assert retention_run(10, 5) == {"published": 30, "read": 5, "expired": 25}
    assert retention_run(40, 5)["read"] == 30
    assert retention_run(10, 30)["read"] == 0


@pytest.mark.parametrize("limit", [1, 100])
@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_every_slider_end_runs_and_draws(limit, rate):
    """The sliders' ends run and draw (an explorer must never fail on a knob's extreme)."""
    draw_delivery_limit_run(delivery_limit_run(limit, rate))
    draw_retention_run(retention_run(0.5, 0))


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError, match="limit must be an int in 1..100, got 0"):
        delivery_limit_run(0)
    with pytest.raises(ValueError, match="failure_rate must be a probability between 0 and 1"):
        delivery_limit_run(5, 2)


def test_the_guard_schedule_tells_a_retried_poison_order_from_a_rejected_good_one():
    """The build exercise's runs: a guard that lets poison through is caught retrying it; one
    that rejects everything is caught dead-lettering a good order; the solution passes."""
    from evtlib.course.scenarios.real_broker import guard_schedule
    from evtlib.course.solutions.nb13 import ex3

    assert guard_schedule(lambda e: True, 0).kind == "retried"
    assert guard_schedule(lambda e: False, 0).kind == "rejected-good"
    assert all(guard_schedule(ex3(), seed) is None for seed in range(20))

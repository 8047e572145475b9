"""The related-styles scenarios of notebook 12."""

from __future__ import annotations

from functools import reduce

import pytest

from evtlib.course.styles import (
    buggy_stock,
    fixed_stock,
    shipping_labels,
    stock_history,
    temporal_coupling,
    unique_usernames,
)


def test_event_notification_calls_back_state_transfer_does_not():
    """A thin event costs one call back per order; a fat event none."""
    thin, fat = shipping_labels(False), shipping_labels(True)
    assert thin.counts == {"labels": 20, "callbacks": 20, "failed callbacks": 0}
    assert fat.counts == {"labels": 20, "callbacks": 0, "failed callbacks": 0}
    assert thin.info["labels"] == fat.info["labels"]


def test_only_the_caller_back_notices_the_order_service_down():
    """With the order service down, call-backs fail (and are retried); fat events do not care."""
    thin = shipping_labels(False, down=(100, 250))
    assert thin.counts["failed callbacks"] > 0 and thin.counts["labels"] == 20
    assert shipping_labels(True, down=(100, 250)).counts["callbacks"] == 0


def test_replay_with_a_fixed_projection_rebuilds_the_right_state():
    """Reset the offsets, swap the fold, run: the view equals the fold of all events."""
    run = stock_history()
    view = run.info["view"]
    events = run.broker.events("inventory")
    assert view.state == reduce(buggy_stock, events, {}) != reduce(fixed_stock, events, {})
    view.fold, view.state = fixed_stock, {}
    view.group.reset_offsets("earliest")
    run.sim.run()
    assert view.state == reduce(fixed_stock, events, {}) == {"mug": 6, "tee": 6, "cap": 4}


def test_requests_fail_while_events_wait():
    """Billing down: half the requests fail; every event is charged after the restart."""
    req, evt = temporal_coupling("request"), temporal_coupling("event")
    assert req.counts == {"orders": 40, "charged": 20, "failed": 20}
    assert evt.counts == {"orders": 40, "charged": 40, "failed": 0}
    assert evt.consumers[0].group.lag() == 0


def test_an_eventually_consistent_check_lets_a_name_be_taken_twice():
    """Checked against a lagging view, two sign-ups 3 ms apart both get 'ada'."""
    assert unique_usernames("event", gap=3).counts["accepted"] == 2
    assert unique_usernames("request", gap=3).counts["accepted"] == 1
    assert unique_usernames("event", gap=20).counts["accepted"] == 1


def test_bad_style_is_refused():
    """An unknown style names itself."""
    with pytest.raises(ValueError, match="got 'rpc'"):
        temporal_coupling("rpc")
    with pytest.raises(ValueError, match="got 'rpc'"):
        unique_usernames("rpc")

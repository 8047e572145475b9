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


# -- event sourcing: the write model ---------------------------------------------------


def test_the_order_decides_from_its_rebuilt_state():
    """A paid order may be shipped or cancelled; a second payment is refused, naming the rule."""
    from evtlib.course.styles import decide_order, order_repository
    from evtlib.patterns.event_store import CommandRejected

    repo = order_repository()
    for command, data in (("place", {"total": 30}), ("pay", None)):
        order = repo.load("order-1")
        repo.save(order, decide_order(order.state, command, data))
    order = repo.load("order-1")
    assert (order.state["status"], order.version) == ("paid", 2)
    assert decide_order(order.state, "ship") == [("OrderShipped", {})]
    assert decide_order(order.state, "cancel") == [("OrderCancelled", {"refund": 30})]
    with pytest.raises(CommandRejected, match="cannot pay an order that is paid"):
        decide_order(order.state, "pay")
    with pytest.raises(ValueError, match="command must be one of"):
        decide_order(order.state, "refund")


def test_the_race_conflicts_then_the_retry_is_refused():
    """Both load v2; the cancel wins; the ship conflicts (expected 2, at 3), reloads and is refused."""
    from evtlib.course.styles import order_race

    race = order_race()
    assert [s.outcome for s in race.steps] == ["ok", "ok", "ok", "conflict", "ok", "rejected"]
    assert race.steps[3].action == "append OrderShipped, expect v2: at v3"
    assert race.stream == ["OrderPlaced", "OrderPaid", "OrderCancelled"]
    naive = order_race(check=False)
    assert naive.stream == ["OrderPlaced", "OrderPaid", "OrderCancelled", "OrderShipped"]
    assert naive.state["status"] == "shipped"


def test_snapshots_shorten_every_load_and_change_nothing():
    """With a snapshot every 10 events no load replays 10 or more; the order is the same."""
    from evtlib.course.styles import snapshot_costs

    snap, full = snapshot_costs(snapshot_every=10), snapshot_costs(snapshot_every=None)
    assert max(snap["replayed"]) == 9 and snap["replayed"][-1] == 4
    assert full["replayed"] == list(range(65))
    assert snap["state"] == full["state"] and snap["events"] == full["events"] == 65
    assert snap["events_read"] < full["events_read"] // 5


def test_event_sourcing_pictures_draw(tmp_path):
    """The three pictures draw without error and say what they show in their titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evtlib.course.scenarios.related_styles import (
        draw_order_stream,
        draw_race,
        draw_snapshot_costs,
    )
    from evtlib.course.styles import order_race, snapshot_costs

    race = order_race()
    ax = draw_race(race)
    assert "it ends cancelled" in ax.get_title(loc="left")
    ax = draw_order_stream(race.repo.store.read("order-1")[:2], "pay")
    assert "'pay' decided" in ax.get_title(loc="left")
    a, b = snapshot_costs(), snapshot_costs(snapshot_every=None)
    ax = draw_snapshot_costs(a["replayed"], b["replayed"], 10)
    assert ax.get_ylabel() == "events replayed by the load"
    plt.close("all")


def _handlers():
    from evtlib.course.styles import decide_order
    from evtlib.patterns.event_store import ConcurrencyError

    def starter(orders, order_id, command, data=None):  # the notebook's starting point
        order = orders.load(order_id)
        return orders.save(order, decide_order(order.state, command, data))

    def unchecked(orders, order_id, command, data=None):  # the naive twin: expected_version ANY
        order = orders.load(order_id)
        return orders.save(order, decide_order(order.state, command, data), check=False)

    def no_reload(orders, order_id, command, data=None):
        order = orders.load(order_id)
        for _ in range(5):
            try:
                return orders.save(order, decide_order(order.state, command, data))
            except ConcurrencyError:
                pass
        return None

    return starter, unchecked, no_reload


def test_handler_exercise_tells_each_mistake_apart():
    """Over the 200 races: the solution holds; no retry gives up, ANY appends stale, no reload loses or stays silent."""
    from evtlib.course.scenarios.build_check import sweep
    from evtlib.course.scenarios.related_styles import handler_schedule
    from evtlib.course.solutions.nb12 import ex4, near_miss_ex4

    starter, unchecked, no_reload = _handlers()
    assert sweep(handler_schedule, ex4()).ok
    near = sweep(handler_schedule, near_miss_ex4())
    assert near.near_miss and set(near.kinds) <= {"gave-up"}
    assert set(sweep(handler_schedule, starter).kinds) == {"gave-up"}
    assert set(sweep(handler_schedule, unchecked).kinds) == {"stale"}
    assert set(sweep(handler_schedule, no_reload).kinds) <= {"lost", "silent"}


def test_handler_exercise_switches_off_execute():
    """Calling orders.execute is the loop itself: the run says so."""
    from evtlib.course.scenarios.related_styles import handler_schedule
    from evtlib.course.styles import decide_order

    breach = handler_schedule(
        lambda orders, oid, c, d=None: orders.execute(oid, lambda s: decide_order(s, c, d)), 0
    )
    assert (
        breach is not None and breach.kind == "error" and "write the loop yourself" in breach.detail
    )


def test_snapshot_explorer_runs_and_checks_its_knobs():
    """The explorer's run counts replays both ways; bad knobs name themselves."""
    from evtlib.course.scenarios.related_styles import draw_snapshot_run, snapshot_run

    run = snapshot_run(snapshot_every=5, edits=20)
    assert max(run["with"]["replayed"]) == 4 and run["without"]["replayed"][-1] == 20
    with pytest.raises(ValueError, match="snapshot_every must be an int in 1..1000, got 0"):
        snapshot_run(snapshot_every=0)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert draw_snapshot_run(run).get_ylabel() == "events replayed by the load"
    plt.close("all")

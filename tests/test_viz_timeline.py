"""The timeline draws one lane per actor, an arrow per delivery and a marker per step."""

from __future__ import annotations

from collections import Counter

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to PNG, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save, shop  # noqa: E402

from evtlib import TraceRecord  # noqa: E402
from evtlib.viz import draw_timeline, lanes_of  # noqa: E402
from evtlib.viz.timeline import MARKERS, MEMBERSHIP, members_view  # noqa: E402


def _marker_points(ax) -> Counter:
    """Markers drawn per kind: lines of markers only, each named ``_<kind>``."""
    drawn: Counter = Counter()
    for line in ax.lines:
        if line.get_linestyle() == "None" and line.get_marker() not in (None, "None", ""):
            label = line.get_label()
            assert label.startswith("_"), label
            drawn[label[1:]] += len(line.get_xdata())
    return drawn


def test_small_timeline_matches_the_trace():
    """Ten events: every delivery is an arrow, every other record a marker."""
    sim, _ = shop(10)
    sim.run()
    drawn = draw_timeline(sim.trace)
    # A group's rebalance is drawn in the lane of each member it had then (no group lane).
    kinds = Counter(r[1] for r in members_view(sim.trace.rows()))
    assert not drawn.dense
    assert drawn.lanes == ["shop", "billing-1", "billing-2", "totals"]
    assert [t.get_text() for t in drawn.ax.get_yticklabels()] == drawn.lanes
    assert drawn.arrows == kinds["delivered"] + kinds["redelivered"]
    quiver = [c for c in drawn.ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(quiver) == 1 and quiver[0].N == drawn.arrows
    expected = {k: v for k, v in kinds.items() if k not in ("delivered", "committed")}
    assert drawn.markers == expected
    assert _marker_points(drawn.ax) == expected
    save(drawn.ax.figure, "timeline_small")
    plt.close(drawn.ax.figure)


def test_large_timeline_drops_arrows_but_keeps_every_marker():
    """Five hundred events: dense mode, no arrows, one marker per non-delivery record."""
    sim, _ = shop(500, crash_at=3000)
    sim.run()
    drawn = draw_timeline(sim.trace, membership=False)
    assert drawn.dense and drawn.arrows == 0
    assert drawn.markers["published"] == 500
    assert drawn.markers["crashed"] == 1
    assert drawn.markers["handled"] == sum(1 for r in sim.trace if r.kind == "handled")
    kinds = Counter(r.kind for r in sim.trace if r.kind not in MEMBERSHIP)
    expected = {k: v for k, v in kinds.items() if k not in ("delivered", "committed")}
    assert drawn.markers == expected
    assert _marker_points(drawn.ax) == expected
    save(drawn.ax.figure, "timeline_large")
    plt.close(drawn.ax.figure)


def test_window_zooms_in_and_brings_the_arrows_back():
    """A 300 ms window of the long run has few enough events for arrows."""
    sim, _ = shop(500, crash_at=3000)
    sim.run()
    drawn = draw_timeline(sim.trace, window=(2900, 3200), membership=False)
    inside = [r for r in sim.trace if 2900 <= r.time <= 3200 and r.kind not in MEMBERSHIP]
    assert not drawn.dense
    assert drawn.arrows == sum(1 for r in inside if r.kind in ("delivered", "redelivered"))
    assert drawn.ax.get_xlim() == (2900, 3200)
    assert sum(drawn.markers.values()) == sum(
        1 for r in inside if r.kind not in ("delivered", "committed")
    )
    assert _marker_points(drawn.ax) == drawn.markers
    plt.close(drawn.ax.figure)


def test_unknown_kinds_get_a_generic_marker_and_a_legend_entry():
    """A pattern's own kind (here 'dead-lettered' and 'weird') is drawn, not dropped."""
    records = [
        TraceRecord(0.0, "published", "shop", "evt-1", "orders", 0, 0),
        TraceRecord(2.0, "delivered", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(5.0, "failed", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(9.0, "dead-lettered", "billing-1", "evt-1", "orders", 0, 0),
        TraceRecord(9.5, "weird", "billing-1", "evt-1"),
    ]
    drawn = draw_timeline(records)
    assert drawn.lanes == ["shop", "billing-1"]
    assert drawn.arrows == 1
    assert drawn.markers == {"published": 1, "failed": 1, "dead-lettered": 1, "weird": 1}
    assert _marker_points(drawn.ax) == drawn.markers
    labels = [t.get_text() for t in drawn.ax.get_legend().get_texts()]
    assert "weird (1)" in labels and "dead-lettered (1)" in labels
    assert "weird" not in MARKERS
    plt.close(drawn.ax.figure)


def test_colour_by_correlation_needs_the_events():
    """Correlation ids live on events, so the broker must be given."""
    sim, broker = shop(5)
    sim.run()
    with pytest.raises(ValueError, match="broker"):
        draw_timeline(sim.trace, color_by="correlation")
    drawn = draw_timeline(sim.trace, color_by="correlation", broker=broker)
    assert drawn.arrows > 0
    plt.close(drawn.ax.figure)


def test_lanes_put_producers_then_groups_then_consumers():
    """A consumer that also publishes (a reaction) stays among the consumers."""
    records = [
        TraceRecord(0, "joined", "payments"),
        TraceRecord(0, "rebalanced", "pay-group"),
        TraceRecord(1, "published", "shop", "e1", "orders", 0, 0),
        TraceRecord(2, "delivered", "payments", "e1", "orders", 0, 0),
        TraceRecord(3, "published", "payments", "e2", "payments", 0, 0),
    ]
    assert lanes_of(records) == ["shop", "pay-group", "payments"]


def test_drawing_is_deterministic_and_leaves_rcparams_alone():
    """Same trace, same picture; global settings untouched."""
    before = dict(plt.rcParams)
    sim, _ = shop(10)
    sim.run()
    a = draw_timeline(sim.trace)
    b = draw_timeline(sim.trace)
    assert a.lanes == b.lanes and a.markers == b.markers and a.arrows == b.arrows
    pa = [c.get_offsets().tolist() for c in a.ax.collections]
    pb = [c.get_offsets().tolist() for c in b.ax.collections]
    assert pa == pb
    la = [(ln.get_label(), ln.get_color(), ln.get_xydata().tolist()) for ln in a.ax.lines]
    lb = [(ln.get_label(), ln.get_color(), ln.get_xydata().tolist()) for ln in b.ax.lines]
    assert la == lb and _marker_points(a.ax) == a.markers
    assert dict(plt.rcParams) == before
    plt.close("all")


# -- the queue family and group membership -------------------------------------------------


def _sqs_slow_member():
    """SQS: a member slower than the visibility timeout; the message goes to the other too."""
    import evtlib as ev

    sim = ev.Simulation(0)
    broker = ev.Broker(sim, profile="sqs", settings={"VisibilityTimeout": 1000})
    broker.create_topic("orders")
    ev.Consumer(broker, "slow", "orders", group="billing", service_time=1500)
    ev.Consumer(broker, "fast", "orders", group="billing", service_time=100)
    for i in range(3):
        event = ev.Event(id=f"e{i}", type="OrderPlaced", time=i * 300.0)
        sim.schedule(i * 300.0, lambda e=event: broker.publish("orders", e, actor="shop"))
    sim.run()
    return sim


def test_a_queue_delivery_arrow_starts_at_its_own_publish():
    """Queue messages have no offsets: each arrow starts where its event id was published."""
    sim = _sqs_slow_member()
    drawn = draw_timeline(sim.trace)
    published = {r.event_id: r.time for r in sim.trace if r.kind == "published"}
    deliveries = [r for r in sim.trace if r.kind in ("delivered", "redelivered")]
    (quiver,) = [c for c in drawn.ax.collections if c.__class__.__name__ == "Quiver"]
    assert sorted(quiver.X.tolist()) == sorted(published[r.event_id] for r in deliveries)
    plt.close(drawn.ax.figure)


def test_queue_holds_redelivery_counts_and_the_timeout_are_drawn():
    """A bar while a member held a message; the redelivery says its delivery count."""
    sim = _sqs_slow_member()
    drawn = draw_timeline(sim.trace)
    assert drawn.markers["timeout"] == 1 and drawn.markers["redelivered"] == 1
    (bars,) = [c for c in drawn.ax.collections if c.__class__.__name__ == "LineCollection"]
    segments = bars.get_segments()
    # every delivery is held until it is handled or times out: the slow one until its timeout
    assert len(segments) == sum(1 for r in sim.trace if r.kind in ("delivered", "redelivered"))
    assert any(s[0][0] == 0.0 and s[1][0] == 1000.0 for s in segments)
    texts = [t.get_text() for t in drawn.ax.texts]
    assert "2" in texts  # the redelivery's delivery count
    legend = [t.get_text() for t in drawn.ax.get_legend().get_texts()]
    assert f"unacked ({len(segments)})" in legend
    from evtlib.viz.describe import describe

    alt = describe(drawn.ax.figure)
    assert "held a message unacknowledged" in alt and "delivery count" in alt
    save(drawn.ax.figure, "timeline_sqs_timeout")
    plt.close(drawn.ax.figure)
    off = draw_timeline(sim.trace, held=False)
    assert not [c for c in off.ax.collections if c.__class__.__name__ == "LineCollection"]
    plt.close(off.ax.figure)


def test_a_log_trace_draws_no_holds_by_default():
    """On the kafka profile a timeline stays as it was: no hold bars unless asked."""
    sim, _ = shop(10)
    sim.run()
    drawn = draw_timeline(sim.trace)
    assert not [c for c in drawn.ax.collections if c.__class__.__name__ == "LineCollection"]
    plt.close(drawn.ax.figure)


def test_native_dead_lettering_is_in_the_brokers_lane_with_its_reason():
    """RabbitMQ dead-letters past x-delivery-limit: a marker in the broker's lane, and why."""
    import evtlib as ev

    sim = ev.Simulation(0)
    broker = ev.Broker(sim, profile="rabbitmq", settings={"x-delivery-limit": 2})
    broker.create_topic("orders")

    def charge(event):
        raise ValueError("card number unreadable")

    ev.Consumer(broker, "billing", "orders", charge, service_time=10, retry_delay=0)
    broker.publish("orders", ev.Event(id="e1", type="OrderPlaced", time=0), actor="shop")
    sim.run()
    drawn = draw_timeline(sim.trace)
    assert drawn.lanes == ["shop", "broker", "billing"]
    assert drawn.markers["dead-lettered"] == 1 and drawn.markers["redelivered"] == 2
    texts = [t.get_text() for t in drawn.ax.texts]
    assert "delivery_limit" in texts and "2" in texts and "3" in texts
    plt.close(drawn.ax.figure)


def test_rebalances_are_drawn_in_each_members_lane():
    """Each billing rebalance is drawn in the lane of every member billing had then, no group lane."""
    sim, _ = shop(10)
    sim.run()
    drawn = draw_timeline(sim.trace, hide=())
    assert "billing" not in drawn.lanes
    lines = [ln for ln in drawn.ax.lines if ln.get_label() == "_rebalanced"]
    lane = {a: -i for i, a in enumerate(drawn.lanes)}
    billing = {lane["billing-1"], lane["billing-2"]}
    drawn_points = Counter(
        (x, y) for ln in lines for x, y in ln.get_xydata().tolist() if y in billing
    )
    expected: Counter = Counter()
    members: list[str] = []
    for r in sim.trace:
        if r.kind == "joined" and r.detail == "billing":
            members.append(r.actor)
        elif r.kind in ("left", "evicted") and r.actor in members:
            members.remove(r.actor)  # a member that left gets no later rebalance
        elif r.kind == "rebalanced" and r.actor == "billing":
            expected.update((r.time, lane[m]) for m in members)
    assert drawn_points == expected
    assert (45000.0, lane["billing-2"]) not in expected  # it had left (session timeout)
    plt.close(drawn.ax.figure)


def test_membership_off_hides_every_membership_record():
    """membership=False leaves joined, rebalanced and the like out; True is the default."""
    sim, _ = shop(10)
    sim.run()
    off = draw_timeline(sim.trace, membership=False, hide=())
    assert not set(off.markers) & MEMBERSHIP
    on = draw_timeline(sim.trace, hide=())
    assert {"joined", "rebalanced"} <= set(on.markers)
    with pytest.raises(ValueError, match="membership must be True or False, got 'yes'"):
        draw_timeline(sim.trace, membership="yes")
    with pytest.raises(ValueError, match="held must be"):
        draw_timeline(sim.trace, held=1)
    plt.close("all")


def test_membership_kinds_have_their_own_markers():
    """Every membership kind is told apart by its shape, not by colour alone."""
    shapes = [MARKERS[k] for k in sorted(MEMBERSHIP)]
    assert len(set(shapes)) == len(shapes)
    assert len(set(MARKERS.values())) == len(MARKERS)


def test_members_view_copies_a_rebalance_to_the_members_of_that_time():
    """A member that joins later does not get the earlier rebalance."""
    rows = [
        TraceRecord(0, "joined", "a", detail="g"),
        TraceRecord(0, "rebalanced", "g"),
        TraceRecord(5, "joined", "b", detail="g"),
        TraceRecord(5, "rebalanced", "g"),
        TraceRecord(6, "rebalanced", "other"),
    ]
    assert [(r[0], r[2]) for r in members_view(rows) if r[1] == "rebalanced"] == [
        (0, "a"),
        (5, "a"),
        (5, "b"),
        (6, "other"),
    ]


def test_queue_family_kinds_are_told_apart_without_colour():
    """Every kind a queue broker writes has its own marker shape; the legend names each one."""
    from evtlib.viz.timeline import marker_for

    kinds = [
        "delivered",
        "redelivered",
        "handled",
        "failed",
        "timeout",
        "ack-ignored",
        "requeued",
        "kept-copy",
        "deduplicated",
        "dead-lettered",
        "expired",
        "rejected",
        "redriven",
        "extended",
        *sorted(MEMBERSHIP),
    ]
    shapes = [marker_for(k) for k in kinds]
    assert len(set(shapes)) == len(shapes), dict(zip(kinds, shapes, strict=True))
    sim = _sqs_slow_member()
    drawn = draw_timeline(sim.trace)
    legend = [t.get_text() for t in drawn.ax.get_legend().get_texts()]
    assert [k for k in drawn.markers if not any(x.startswith(k + " (") for x in legend)] == []
    plt.close(drawn.ax.figure)


def test_hold_bars_use_the_colour_blind_safe_palette():
    """The hold bars take their event's colour from the course palette (Tol's muted scheme),
    whose closest pair stays apart under every simulated colour-vision deficiency."""
    from matplotlib.colors import to_hex

    from evtlib.viz.colorblind import VISIONS, min_distance
    from evtlib.viz.style import PALETTE

    sim = _sqs_slow_member()
    drawn = draw_timeline(sim.trace)
    (bars,) = [c for c in drawn.ax.collections if c.__class__.__name__ == "LineCollection"]
    used = {to_hex(c).upper() for c in bars.get_colors()}
    assert used <= {c.upper() for c in PALETTE}
    assert len(used) >= 2
    for vision in VISIONS:
        assert min_distance(sorted(used), vision)[0] >= 10, vision
    plt.close(drawn.ax.figure)


def test_holds_that_overlap_in_one_lane_are_drawn_apart():
    """RabbitMQ: billing-1 holds three unacked messages at once: three bars, one above another."""
    from evtlib.course.scenarios.brokers import timeout_run

    drawn = draw_timeline(timeout_run("rabbitmq").trace)
    (bars,) = [c for c in drawn.ax.collections if c.__class__.__name__ == "LineCollection"]
    lane = -drawn.lanes.index("billing-1")
    ys = {round(s[0][1], 3) for s in bars.get_segments() if lane - 0.5 < s[0][1] <= lane}
    assert len(ys) == 3
    plt.close(drawn.ax.figure)

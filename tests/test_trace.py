"""The trace: ordered records, filters, counts, sentences and dicts."""

from __future__ import annotations

from conftest import make_broker
from evtlib import Consumer, Producer, Trace, TraceRecord


def test_records_are_read_in_time_order_even_if_written_out_of_order():
    """Reading sorts by time and keeps write order for equal times."""
    tr = Trace()
    tr.record(5.0, "handled", "a", "e1")
    tr.record(2.0, "delivered", "a", "e1")
    tr.record(5.0, "committed", "a")
    tr.record(2.0, "delivered", "b", "e2")
    assert [(r.time, r.kind, r.actor) for r in tr] == [
        (2.0, "delivered", "a"),
        (2.0, "delivered", "b"),
        (5.0, "handled", "a"),
        (5.0, "committed", "a"),
    ]
    assert tr[0].event_id == "e1" and len(tr) == 4


def test_missing_partition_and_offset_read_back_as_none():
    """A record without partition or offset has None there, not -1."""
    tr = Trace()
    tr.record(1.0, "crashed", "billing")
    assert tr[0] == TraceRecord(1.0, "crashed", "billing", None, None, None, None, None)


def test_filter_combines_criteria():
    """filter keeps records matching every given criterion."""
    tr = Trace()
    tr.record(1, "published", "p", "e1", "orders", 0, 0)
    tr.record(2, "handled", "c1", "e1", "orders", 0, 0)
    tr.record(3, "handled", "c2", "e2", "payments", 1, 0)
    tr.record(4, "failed", "c1", "e3", "orders", 0, 1)
    assert [r.time for r in tr.filter(kind="handled")] == [2, 3]
    assert [r.time for r in tr.filter(kind=["handled", "failed"], actor="c1")] == [2, 4]
    assert [r.time for r in tr.filter(event_id="e1")] == [1, 2]
    assert [r.time for r in tr.filter(topic="payments")] == [3]
    assert [r.time for r in tr.filter(since=2, until=3)] == [2, 3]


def test_counts_per_kind():
    """counts() tallies records by kind."""
    tr = Trace()
    for kind in ("published", "published", "handled"):
        tr.record(0, kind, "x")
    assert tr.counts() == {"published": 2, "handled": 1}


def test_disabled_trace_records_nothing():
    """With trace=False a whole simulation writes no record, and consumers still work."""
    sim, broker = make_broker()
    sim.trace.enabled = False
    seen = []
    Consumer(broker, "c", "orders", lambda e: seen.append(e.id))
    Producer(broker, "p", "orders").emit("OrderPlaced", "order-1")
    sim.run()
    assert len(sim.trace) == 0 and seen == ["evt-000001"]
    assert "off" in repr(sim.trace)


def test_sentence_describes_a_step_in_words():
    """A record reads as a sentence with time, actor, event and place."""
    r = TraceRecord(12.0, "delivered", "billing", "evt-000001", "orders", 2, 5)
    assert r.sentence() == "t=12 ms: the broker delivered evt-000001 from orders[2]@5 to billing"
    r2 = TraceRecord(3.0, "failed", "billing", "evt-000002", detail="ValueError: boom")
    assert r2.sentence() == "t=3 ms: billing failed to handle evt-000002 (ValueError: boom)"
    assert TraceRecord(1.0, "custom", "saga", "e9").sentence() == "t=1 ms: saga: custom e9"


def test_a_delivery_is_traced_publish_deliver_handle_commit():
    """One event through the broker leaves published, delivered, handled, committed, in order."""
    sim, broker = make_broker(latency=2)
    Consumer(broker, "c", "orders", service_time=3)
    Producer(broker, "p", "orders").emit("OrderPlaced", "order-1")
    sim.run()
    rows = [
        (r.time, r.kind, r.actor, r.event_id, r.offset) for r in sim.trace if r.kind != "joined"
    ]
    assert rows == [
        (0.0, "rebalanced", "c", None, None),
        (0.0, "published", "p", "evt-000001", 0),
        (2.0, "delivered", "c", "evt-000001", 0),
        (5.0, "handled", "c", "evt-000001", 0),
        (5.0, "committed", "c", None, 1),
    ]


def test_to_dicts_and_clear():
    """to_dicts gives one plain dict per record; clear forgets them all."""
    tr = Trace()
    tr.record(1.0, "published", "p", "e1", "orders", 0, 0)
    assert tr.to_dicts() == [
        {
            "time": 1.0,
            "kind": "published",
            "actor": "p",
            "event_id": "e1",
            "topic": "orders",
            "partition": 0,
            "offset": 0,
            "detail": None,
        }
    ]
    assert tr.to_dicts(tr.filter(kind="handled")) == []
    tr.clear()
    assert len(tr) == 0 and tr.records() == [] and repr(tr) == "<Trace on records=0>"

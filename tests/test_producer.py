"""Producers: arrival processes, emit, ids and sources."""

from __future__ import annotations

from conftest import make_broker
from evtlib import Consumer, Poisson, Producer, Rate, Schedule


def published_times(sim):
    return [r.time for r in sim.trace.filter(kind="published")]


def test_schedule_publishes_at_the_given_times():
    """Schedule arrivals publish exactly at their times."""
    sim, broker = make_broker()
    p = Producer(broker, "p", "orders", Schedule([0, 5, 5, 12.5]))
    sim.run()
    assert published_times(sim) == [0.0, 5.0, 5.0, 12.5]
    assert p.published == 4 and [e.time for e in p.emitted] == [0.0, 5.0, 5.0, 12.5]


def test_rate_is_evenly_spaced_and_stops_at_count():
    """Rate(10) publishes every 100 ms, from time 0, count times."""
    sim, broker = make_broker()
    Producer(broker, "p", "orders", Rate(10), count=4)
    sim.run()
    assert published_times(sim) == [0.0, 100.0, 200.0, 300.0]


def test_until_stops_an_arrival_process():
    """until stops publishing after that time (an event due exactly then is published)."""
    sim, broker = make_broker()
    Producer(broker, "p", "orders", Rate(10), until=250)
    sim.run()
    assert published_times(sim) == [0.0, 100.0, 200.0]


def test_poisson_is_seeded_and_reproducible():
    """The same seed gives the same Poisson times; another seed gives others."""

    def times(seed):
        sim, broker = make_broker(seed)
        Producer(broker, "p", "orders", Poisson(50), count=20)
        sim.run()
        return published_times(sim)

    a = times(1)
    assert len(a) == 20 and a == times(1) and a != times(2)
    assert a == sorted(a)
    assert 100 < a[-1] < 1000  # 20 events at 50/s: about 400 ms


def test_producer_draws_do_not_depend_on_consumers():
    """Adding a consumer does not change when a Poisson producer publishes."""

    def times(with_consumer):
        sim, broker = make_broker(3)
        if with_consumer:
            Consumer(broker, "c", "orders", service_time=2)
        Producer(broker, "p", "orders", Poisson(100), count=10)
        sim.run()
        return published_times(sim)

    assert times(False) == times(True)


def test_emit_builds_the_envelope_from_the_simulation():
    """emit gives a sequential id, the current time and the producer as source."""
    sim, broker = make_broker()
    p = Producer(broker, "orders-service", "orders")
    sim.run(until=7)
    e = p.emit("OrderPlaced", "order-1", {"total": 30})
    e2 = p.emit("OrderPaid")
    assert (e.id, e.time, e.source, e.key) == ("evt-000001", 7.0, "orders-service", "order-1")
    assert e.data == {"total": 30} and e.correlation_id == e.id
    assert e2.id == "evt-000002" and e2.data == {} and e2.key is None
    assert broker.events("orders") == [e, e2]


def test_default_make_is_the_order_example():
    """Without make, the i-th event is OrderPlaced for order-i."""
    sim, broker = make_broker()
    Producer(broker, "p", "orders", Schedule([0, 1]))
    sim.run()
    events = broker.events("orders")
    assert [(e.type, e.key) for e in events] == [
        ("OrderPlaced", "order-1"),
        ("OrderPlaced", "order-2"),
    ]
    assert events[0].data == {"order_id": "order-1", "total": 17}


def test_make_decides_type_key_and_data_from_a_seeded_rng():
    """make(i, rng) is called for every event with its number and the producer's generator."""
    sim, broker = make_broker(seed=11)
    calls = []

    def make(i, rng):
        calls.append(i)
        return "Reading", f"sensor-{i % 2}", {"value": round(rng.random(), 6)}

    Producer(broker, "sensors", "orders", Schedule([0, 1, 2]), make=make)
    sim.run()
    assert calls == [1, 2, 3]
    expected = sim.rng_for("sensors")
    assert [e.data["value"] for e in p_events(broker)] == [
        round(expected.random(), 6) for _ in range(3)
    ]


def p_events(broker):
    return sorted(broker.events("orders"), key=lambda e: e.id)


def test_publish_sends_an_event_made_elsewhere():
    """publish() sends a reaction with its chain ids intact."""
    sim, broker = make_broker()
    p = Producer(broker, "p", "orders")
    first = p.emit("OrderPlaced", "order-1")
    paid = first.reaction(id=sim.next_id(), type="OrderPaid", time=sim.now, source="payments")
    p.publish(paid)
    assert broker.events("orders")[-1].causation_id == first.id
    assert p.published == 2
    assert repr(p) == "<Producer p -> orders published=2 rejected=0>"

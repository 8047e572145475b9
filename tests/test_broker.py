"""The broker: partitions, fan-out, competing consumers, rebalances, no capacity, network faults."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import handled, make_broker
from evtlib import (
    Broker,
    Consumer,
    Event,
    NetworkFaults,
    Producer,
    Schedule,
    Simulation,
    crash,
    partition_for,
)


def test_partition_for_is_a_stable_crc32():
    """The partition of a key is CRC-32 modulo the partition count, the same everywhere."""
    assert partition_for("order-1", 4) == zlib.crc32(b"order-1") % 4 == 3
    assert partition_for("order-6", 4) == 0


def test_same_key_lands_in_one_partition_in_publish_order():
    """Events about one key share a partition and keep their publish order."""
    sim, broker = make_broker(partitions=4)
    p = Producer(broker, "p", "orders")
    for i in range(3):
        p.emit("OrderUpdated", "order-1", {"n": i})
    p.emit("OrderUpdated", "order-6")
    log = broker.read("orders", 3)
    assert [e.data["n"] for e in log] == [0, 1, 2]
    assert [e.key for e in broker.read("orders", 0)] == ["order-6"]
    assert broker.end_offsets("orders") == [1, 0, 0, 3]


def test_events_without_key_go_round_robin():
    """Key-less events are spread over the partitions in turn."""
    sim, broker = make_broker(partitions=3)
    p = Producer(broker, "p", "orders")
    for _ in range(6):
        p.emit("Tick")
    assert broker.end_offsets("orders") == [2, 2, 2]


def test_publish_returns_partition_and_offset():
    """Broker.publish appends to the log and says where."""
    sim, broker = make_broker(partitions=4)
    e = Event(id="x-1", type="OrderPlaced", time=0, key="order-1")
    assert broker.publish("orders", e) == (3, 0)
    assert broker.publish("orders", e.replace(id="x-2")) == (3, 1)
    assert broker.topic("orders").published == 2


def test_every_group_gets_every_event():
    """Fan-out: two groups each handle all events."""
    sim, broker = make_broker(partitions=2)
    Consumer(broker, "billing", "orders")
    Consumer(broker, "shipping", "orders")
    p = Producer(broker, "p", "orders")
    ids = [p.emit("OrderPlaced", f"order-{i}").id for i in range(1, 6)]
    sim.run()
    assert sorted(handled(sim, "billing")) == ids
    assert sorted(handled(sim, "shipping")) == ids


def test_competing_consumers_split_partitions_and_handle_each_event_once():
    """Inside a group each partition has one owner, so each event is handled once."""
    sim, broker = make_broker(partitions=2)
    c1 = Consumer(broker, "c1", "orders", group="billing")
    c2 = Consumer(broker, "c2", "orders", group="billing")
    assert c1.assignment == ["orders[0]"] and c2.assignment == ["orders[1]"]
    assert broker.group("billing").assignment() == {"orders[0]": "c1", "orders[1]": "c2"}
    p = Producer(broker, "p", "orders")
    ids = [p.emit("OrderPlaced", f"order-{i}").id for i in range(1, 9)]
    sim.run()
    assert sorted(handled(sim)) == ids
    by_c1 = {r.partition for r in sim.trace.filter(kind="handled", actor="c1")}
    by_c2 = {r.partition for r in sim.trace.filter(kind="handled", actor="c2")}
    assert by_c1 == {0} and by_c2 == {1}


def test_rebalance_hands_a_crashed_members_partition_to_another_from_the_committed_offset():
    """When the owner crashes, the next owner resumes at the committed offset."""
    sim, broker = make_broker()
    c1 = Consumer(broker, "c1", "orders", group="g", service_time=10)
    c2 = Consumer(broker, "c2", "orders", group="g", service_time=10)
    assert c1.assignment == ["orders[0]"] and c2.assignment == []
    Producer(broker, "p", "orders", Schedule([0, 0, 0, 0]))
    crash(sim, c1, at=25)  # offsets 0 and 1 committed, offset 2 in flight
    sim.run()
    st = broker.group("g").states[("orders", 0)]
    assert st.owner is c2 and c2.assignment == ["orders[0]"]
    first = sim.trace.filter(kind=["delivered", "redelivered"], actor="c2")[0]
    assert first.offset == 2
    assert [r.offset for r in sim.trace.filter(kind="handled", actor="c1")] == [0, 1]
    assert [r.offset for r in sim.trace.filter(kind="handled", actor="c2")] == [2, 3]
    assert st.committed == 4 and st.lag == 0
    assert broker.group("g").rebalances == 3


def test_session_timeout_keeps_a_crashed_owner_until_it_expires():
    """With a session timeout the partition stalls until the group notices the crash."""
    sim, broker = make_broker()
    g = broker.group("g", session_timeout=500)
    c1 = Consumer(broker, "c1", "orders", group="g")
    Consumer(broker, "c2", "orders", group="g")
    crash(sim, c1, at=1)
    Producer(broker, "p", "orders", Schedule([10]))
    sim.run(until=400)
    assert g.states[("orders", 0)].owner is c1 and handled(sim) == []
    sim.run()
    assert g.assignment() == {"orders[0]": "c2"}
    assert [r.time for r in sim.trace.filter(kind="handled")] == [501.0]


def test_group_starting_at_latest_skips_earlier_events():
    """A group created with start='latest' reads only what is published after it joins."""
    sim, broker = make_broker()
    p = Producer(broker, "p", "orders")
    p.emit("OrderPlaced", "order-1")
    broker.group("new", start="latest")
    Consumer(broker, "c", "orders", group="new")
    later = p.emit("OrderPlaced", "order-2")
    sim.run()
    assert handled(sim) == [later.id]
    assert broker.group("new").lag() == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"capacity": 10}, "capacity must be None on the kafka profile, got 10"),
        ({"capacity": 0}, "capacity must be None on the kafka profile, got 0"),
        ({"policy": "block"}, "policy must be None on the kafka profile, got 'block'"),
        ({"policy": "drop-oldest"}, "policy must be None on the kafka profile"),
    ],
)
def test_a_kafka_topic_has_no_capacity_and_the_error_names_what_each_broker_offers(kwargs, words):
    """Kafka bounds a topic by retention.ms / retention.bytes, never by what a group has not read
    (kafka.apache.org/documentation/#topicconfigs_retention.ms); the producer blocks only on its own
    buffer.memory for max.block.ms (#producerconfigs_buffer.memory).  The bounded queues are the
    queue brokers' (RabbitMQ x-max-length + x-overflow, Service Bus MaxSizeInMegabytes)."""
    sim = Simulation()
    broker = Broker(sim)
    with pytest.raises(ValueError, match=words) as info:
        broker.create_topic("orders", **kwargs)
    for offered in (
        "retention.ms",
        "retention.bytes",
        "buffer.memory",
        "max.block.ms",
        "x-max-length",
        "x-overflow",
        "MaxSizeInMegabytes",
    ):
        assert offered in str(info.value)
    assert broker.topics == {}


def test_a_slow_kafka_group_never_slows_or_refuses_the_producer():
    """A group that reads nothing only lags: every publish is accepted at once, on time, and the
    lag is everything published (a Kafka producer waits only on its own buffer.memory, for up to
    max.block.ms: kafka.apache.org/documentation/#producerconfigs_buffer.memory)."""
    sim = Simulation()
    broker = Broker(sim)
    broker.create_topic("orders", partitions=2)
    Consumer(broker, "c", "orders", start=False)  # subscribes its group, never reads
    p = Producer(broker, "p", "orders", Schedule([i * 0.5 for i in range(2000)]))
    sim.run()
    assert (p.published, p.rejected) == (2000, 0)
    times = [r.time for r in sim.trace.filter(kind="published")]
    assert times == [i * 0.5 for i in range(2000)]
    assert broker.group("c").lag() == 2000
    assert not sim.trace.filter(kind=("blocked", "rejected", "dropped"))


def test_network_drop_is_traced_and_refetched_under_at_least_once():
    """A dropped delivery is traced and fetched again, so nothing is lost."""
    sim, broker = make_broker(seed=4, faults=NetworkFaults(drop=0.4))
    Consumer(broker, "c", "orders")
    p = Producer(broker, "p", "orders")
    ids = [p.emit("T", f"k{i}").id for i in range(20)]
    sim.run()
    drops = sim.trace.filter(kind="dropped")
    assert drops and all(r.detail == "lost in the network" for r in drops)
    st = broker.group("c").states[("orders", 0)]
    assert st.redelivered == len(drops)
    assert handled(sim) == ids and st.lost == 0


def test_network_drop_loses_under_at_most_once():
    """At-most-once has committed before the drop, so a dropped delivery is a counted loss."""
    sim, broker = make_broker(faults=NetworkFaults(drop=1.0))
    Consumer(broker, "c", "orders", delivery="at-most-once")
    p = Producer(broker, "p", "orders")
    for i in range(3):
        p.emit("T", f"k{i}")
    sim.run()
    stats = broker.group("c").stats()
    assert handled(sim) == [] and stats["lost"] == 3 and stats["lag"] == 0
    assert len(sim.trace.filter(kind="dropped")) == 3


def test_network_duplicate_is_handled_twice_and_traced():
    """A duplicated delivery reaches the handler twice, with a 'duplicated' record."""
    sim, broker = make_broker(faults=NetworkFaults(duplicate=1.0))
    seen = []
    Consumer(broker, "c", "orders", lambda e: seen.append(e.id))
    Producer(broker, "p", "orders").emit("T", "k")
    sim.run()
    assert seen == ["evt-000001", "evt-000001"]
    assert [r.event_id for r in sim.trace.filter(kind="duplicated")] == ["evt-000001"]
    assert broker.group("c").stats()["handled"] == 2


def test_network_delay_adds_extra_time_and_is_traced():
    """A delayed delivery arrives 'extra' ms late, with a 'delayed' record."""
    sim, broker = make_broker(latency=5, faults=NetworkFaults(delay=1.0, extra=40))
    Consumer(broker, "c", "orders")
    Producer(broker, "p", "orders").emit("T", "k")
    sim.run()
    (d,) = sim.trace.filter(kind="delayed")
    assert d.detail == "+40 ms"
    assert [r.time for r in sim.trace.filter(kind="delivered")] == [45.0]


def test_network_faults_are_reproducible_with_the_seed():
    """The same seed gives the same drops, duplicates and delays."""

    def run(seed):
        sim, broker = make_broker(seed, faults=NetworkFaults(0.2, 0.2, 0.2, extra=7))
        Consumer(broker, "c", "orders")
        p = Producer(broker, "p", "orders")
        for i in range(30):
            p.emit("T", f"k{i}")
        sim.run()
        return sim.trace.to_dicts()

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_read_replays_a_partition_from_an_offset():
    """broker.read returns the log from an offset, and events() the whole topic."""
    sim, broker = make_broker(partitions=2)
    p = Producer(broker, "p", "orders")
    evs = [p.emit("T", "order-1") for _ in range(4)]  # all in partition 1
    assert broker.read("orders", 1) == evs
    assert broker.read("orders", 1, 2) == evs[2:]
    assert broker.read("orders", 1, 1, limit=2) == evs[1:3]
    assert broker.read("orders", 1, 4) == []
    assert broker.events("orders") == evs


def test_reset_offsets_to_earliest_replays_everything():
    """Resetting a group's offsets to 'earliest' makes its consumers handle the log again."""
    sim, broker = make_broker()
    Consumer(broker, "c", "orders")
    p = Producer(broker, "p", "orders")
    ids = [p.emit("T", "k").id for _ in range(3)]
    sim.run()
    g = broker.group("c")
    g.reset_offsets("earliest")
    assert g.lag() == 3
    assert [r.actor for r in sim.trace.filter(kind="rewind")] == ["c"]
    sim.run()
    assert handled(sim) == ids + ids and g.lag() == 0


def test_reset_offsets_to_latest_or_an_offset():
    """'latest' skips to the end; an int offset is clamped to the log end."""
    sim, broker = make_broker()
    g = broker.group("g")
    c = Consumer(broker, "c", "orders", group="g", start=False)
    p = Producer(broker, "p", "orders")
    ids = [p.emit("T", "k").id for _ in range(4)]
    g.reset_offsets(2)
    c.start()
    sim.run()
    assert handled(sim) == ids[2:]
    g.reset_offsets(99)
    assert g.states[("orders", 0)].committed == 4
    c.pause()
    more = [p.emit("T", "k").id for _ in range(2)]
    g.reset_offsets("latest")
    c.resume()
    sim.run()
    assert handled(sim) == ids[2:] and more
    assert g.lag() == 0


def test_reset_offsets_while_an_event_is_in_flight_still_replays():
    """A reset during handling frees the consumer, which then replays from the new offset."""
    sim, broker = make_broker()
    Consumer(broker, "c", "orders", service_time=10)
    p = Producer(broker, "p", "orders")
    ids = [p.emit("T", "k").id for _ in range(3)]
    sim.run(until=5)  # evt-000001 is being handled
    broker.group("c").reset_offsets("earliest")
    sim.run()
    assert handled(sim)[-3:] == ids
    assert broker.group("c").lag() == 0


def test_group_stats_and_reprs_show_state():
    """stats() gives the counts; reprs show state without addresses."""
    sim, broker = make_broker(partitions=2)
    c = Consumer(broker, "c", "orders")
    Producer(broker, "p", "orders").emit("T", "order-1")
    assert broker.group("c").stats() == {
        "published": 1,
        "committed": 0,
        "lag": 1,
        "in_flight": 1,
        "waiting": 0,
        "handled": 0,
        "redelivered": 0,
        "dropped": 0,
        "lost": 0,
        "expired": 0,
    }
    assert repr(broker.topic("orders")) == "<Topic orders partitions=2 ends=[0, 1]>"
    assert repr(broker.group("c")) == "<Group c topics=['orders'] members=['c'] lag=1>"
    st = broker.group("c").states[("orders", 1)]
    assert repr(st) == ("<PartitionState c orders[1] owner=c committed=0 position=1 end=1 lag=1>")
    sim.run()
    assert "handled=1" in repr(c)


def test_restart_before_the_session_timeout_resumes_from_the_committed_offset():
    """A consumer back before the group noticed has forgotten its uncommitted work: it redoes it."""
    sim, broker = make_broker()
    broker.group("g", session_timeout=1000)
    c = Consumer(broker, "c", "orders", group="g", service_time=10, commit_every=3)
    p = Producer(broker, "p", "orders")
    ids = [p.emit("T", "k").id for _ in range(4)]
    crash(sim, c, at=25, restart_after=5)  # handled 2 (at 10 and 20), committed none
    sim.run()
    assert handled(sim) == [ids[0], ids[1], ids[0], ids[1], ids[2], ids[3]]
    assert broker.group("g").lag() == 0


@settings(max_examples=30, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 20), min_size=1, max_size=60),
    partitions=st.integers(1, 4),
    service=st.floats(0, 50),
    reading=st.booleans(),
)
def test_kafka_publishes_on_time_whatever_the_consumers_do(gaps, partitions, service, reading):
    """Whatever its group does (slow, or not reading at all), a Kafka producer publishes every
    event at its own time and nothing is refused or dropped: lag absorbs the difference."""
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    sim = Simulation()
    broker = Broker(sim)
    broker.create_topic("orders", partitions=partitions)
    Consumer(broker, "c", "orders", service_time=service, start=reading)
    p = Producer(broker, "p", "orders", Schedule(times))
    sim.run(until=times[-1])
    assert [r.time for r in sim.trace.filter(kind="published")] == times
    assert (p.published, p.rejected) == (len(times), 0)
    assert not sim.trace.filter(kind=("blocked", "rejected", "dropped"))
    stats = broker.group("c").stats()
    assert stats["handled"] + stats["lag"] >= stats["published"] == len(times)

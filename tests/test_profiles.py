"""Broker profiles: each broker's documented defaults, and the log family as Kafka runs it.

Every test that models a broker behaviour says in its docstring where that
behaviour is documented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import handled
from evtlib import Broker, Consumer, Event, Producer, Simulation
from evtlib.profiles import PROFILES, profile, settings_table

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400_000


@pytest.mark.parametrize(
    "name, setting, default",
    [
        # https://kafka.apache.org/documentation/#consumerconfigs_auto.offset.reset
        ("kafka", "auto.offset.reset", "latest"),
        # https://kafka.apache.org/documentation/#topicconfigs_retention.ms (7 days)
        ("kafka", "retention.ms", 604_800_000),
        # https://kafka.apache.org/documentation/#topicconfigs_delete.retention.ms (1 day)
        ("kafka", "delete.retention.ms", DAY),
        # https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms (45 s since 3.0)
        ("kafka", "session.timeout.ms", 45_000),
        # https://kafka.apache.org/documentation/#consumerconfigs_max.poll.interval.ms (5 min)
        ("kafka", "max.poll.interval.ms", 300_000),
        # https://kafka.apache.org/documentation/#producerconfigs_enable.idempotence
        ("kafka", "enable.idempotence", True),
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
        ("sqs", "VisibilityTimeout", 30_000),
        ("sqs", "MessageRetentionPeriod", 345_600_000),
        ("sqs-fifo", "deduplication interval", 300_000),
        # https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
        ("service-bus", "LockDuration", 60_000),
        # https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues
        ("service-bus", "MaxDeliveryCount", 10),
        # https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection
        ("service-bus", "RequiresDuplicateDetection", False),
        ("service-bus", "DuplicateDetectionHistoryTimeWindow", 600_000),
        # https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout (30 min)
        ("rabbitmq", "consumer_timeout", 1_800_000),
        # https://www.rabbitmq.com/docs/maxlength (drop-head is the default overflow)
        ("rabbitmq", "x-overflow", "drop-head"),
        # https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling (20 from 4.0)
        ("rabbitmq", "x-delivery-limit", 20),
    ],
)
def test_each_profile_has_its_brokers_documented_default(name, setting, default):
    """A profile maps each setting, by the broker's own name, to the documented default."""
    assert profile(name).settings[setting] == default


def test_every_setting_cites_its_source_and_the_table_is_generated_from_them():
    """Each setting links the broker's documentation; docs/brokers.md is the generated table."""
    for p in PROFILES.values():
        for s in p:
            assert s.source.startswith("https://"), (p.name, s.name)
    text = (ROOT / "docs" / "brokers.md").read_text()
    assert settings_table() in text, "docs/brokers.md is stale: run python -m evtlib.profiles"


def test_profile_settings_are_read_only():
    """broker.profile.settings and broker.settings cannot be changed in place."""
    b = Broker(Simulation(0))
    with pytest.raises(TypeError):
        b.profile.settings["retention.ms"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        b.settings["retention.ms"] = 5  # type: ignore[index]


def test_bad_profiles_and_settings_say_what_is_valid():
    """An unknown profile names the valid ones; an unknown setting names the profile's settings;
    a real setting the simulation does not model says so; a queue profile makes the queue family's
    broker (tests/test_queues.py)."""
    sim = Simulation(0)
    with pytest.raises(ValueError, match="profile must be one of 'kafka', 'rabbitmq', 'sqs'"):
        Broker(sim, profile="kafak")
    with pytest.raises(ValueError, match=r"kafka profile's settings \(auto.offset.reset, "):
        Broker(sim, settings={"VisibilityTimeout": 1000})
    with pytest.raises(ValueError, match="does not simulate yet"):
        Broker(sim, settings={"max.poll.records": 100})
    with pytest.raises(ValueError, match="auto.offset.reset must be one of 'latest', 'earliest'"):
        Broker(sim, settings={"auto.offset.reset": "beginning"})
    assert Broker(sim, profile="sqs", name="sqs").profile.family == "queue"
    b = Broker(sim)
    with pytest.raises(ValueError, match="settings of a topic must be among"):
        b.create_topic("t", settings={"auto.offset.reset": "earliest"})
    with pytest.raises(ValueError, match="retention.ms must be a number of ms > 0"):
        b.create_topic("t", retention=0)


def test_a_new_group_starts_at_the_end_of_the_log_by_default():
    """Kafka's auto.offset.reset defaults to latest: a group with no committed offset sees only
    what is published after it joins (kafka.apache.org/documentation/#consumerconfigs)."""
    sim = Simulation(0)
    b = Broker(sim)
    b.create_topic("orders")
    p = Producer(b, "p", "orders")
    p.emit("Old", "k")
    Consumer(b, "late", "orders")
    p.emit("New", "k")
    sim.run()
    assert [r.event_id for r in sim.trace.filter(kind="handled")] == ["evt-000002"]


def test_earliest_on_request_reads_the_retained_history():
    """auto.offset.reset=earliest (per broker, or start= per group) reads from the log start."""
    sim = Simulation(0)
    b = Broker(sim, settings={"auto.offset.reset": "earliest"})
    b.create_topic("orders")
    p = Producer(b, "p", "orders")
    p.emit("Old", "k")
    Consumer(b, "late", "orders")
    sim.run()
    assert handled(sim) == ["evt-000001"]


def test_retention_deletes_events_whether_or_not_anyone_read_them():
    """retention.ms deletes old events from the head of the log, read or not
    (kafka.apache.org/documentation/#topicconfigs_retention.ms); the log start offset moves."""
    sim = Simulation(0)
    b = Broker(sim)
    b.create_topic("orders", retention=1000)
    p = Producer(b, "p", "orders")
    for t in (0, 500, 2000):
        sim.schedule(t, p.emit, "T", "k")
    sim.run(until=2100)
    assert [e.id for e in b.events("orders")] == ["evt-000003"]
    part = b.topic("orders").partitions[0]
    assert (part.start, part.end) == (2, 3)
    expired = sim.trace.filter(kind="expired")
    assert [(r.event_id, r.time) for r in expired] == [("evt-000001", 1000), ("evt-000002", 1500)]
    with pytest.raises(ValueError, match="offset must be >= 2, the log start of orders"):
        b.read("orders", 0, 0)


def test_an_outage_longer_than_retention_loses_events_silently():
    """A group whose position fell off the log is reset by auto.offset.reset (Kafka: the
    consumer is not told); the skipped events are counted as expired and traced as lost."""
    sim = Simulation(0)
    b = Broker(sim)
    b.create_topic("orders", retention=1000)
    b.group("billing", session_timeout=0)  # the outage is the subject, not the session timeout
    c = Consumer(b, "billing", "orders", service_time=1)
    p = Producer(b, "p", "orders")
    c.crash()
    for t in range(0, 500, 100):
        sim.schedule(t, p.emit, "T", "k")
    sim.schedule(3000, c.restart)
    sim.schedule(3000, p.emit, "T", "k")
    sim.run()
    stats = b.group("billing").stats()
    assert stats["expired"] == 5 and stats["handled"] == 1 and stats["lag"] == 0
    assert stats["published"] == stats["handled"] + stats["expired"]
    lost = sim.trace.filter(kind="lost")
    assert len(lost) == 5 and "deleted by retention" in lost[0].detail


def test_the_same_outage_within_retention_loses_nothing():
    """Within retention the group resumes from its committed offset: at-least-once holds."""
    sim = Simulation(0)
    b = Broker(sim)
    b.create_topic("orders", retention=10_000)
    b.group("billing", session_timeout=0)  # the outage is the subject, not the session timeout
    c = Consumer(b, "billing", "orders", service_time=1)
    p = Producer(b, "p", "orders")
    c.crash()
    for t in range(0, 500, 100):
        sim.schedule(t, p.emit, "T", "k")
    sim.schedule(3000, c.restart)
    sim.run()
    assert b.group("billing").stats()["handled"] == 5


def compacted(sim: Simulation) -> Broker:
    b = Broker(sim, settings={"auto.offset.reset": "earliest"})
    b.create_topic("prices", settings={"cleanup.policy": "compact", "delete.retention.ms": 1000})
    return b


def test_compaction_keeps_the_latest_event_of_each_key():
    """cleanup.policy=compact keeps at least the latest value per key
    (kafka.apache.org/documentation/#compaction); a new group reading from the start sees one
    event per key, at its original offset."""
    sim = Simulation(0)
    b = compacted(sim)
    for i, (key, price) in enumerate([("mug", 5), ("tee", 9), ("mug", 6), ("mug", 7)]):
        b.publish("prices", Event(id=f"e{i}", type="PriceSet", time=0, key=key, data={"p": price}))
    assert b.compact("prices") == 2
    assert [(e.key, e.data["p"]) for e in b.events("prices")] == [("tee", 9), ("mug", 7)]
    view: dict[str, int] = {}
    Consumer(b, "view", "prices", lambda e: view.__setitem__(e.key, e.data["p"]))
    sim.run()
    assert view == {"mug": 7, "tee": 9}
    assert [r.offset for r in sim.trace.filter(kind="handled")] == [1, 3]


def test_a_tombstone_removes_its_key_and_goes_after_delete_retention():
    """A null value (a tombstone) removes earlier values of its key at compaction, and is itself
    removed no sooner than delete.retention.ms later (kafka.apache.org/documentation/#compaction)."""
    sim = Simulation(0)
    b = compacted(sim)
    b.publish("prices", Event(id="e0", type="PriceSet", time=0, key="mug", data={"p": 5}))
    b.publish("prices", Event(id="e1", type="PriceDeleted", time=0, key="mug", data=None))
    b.compact("prices")
    assert [e.id for e in b.events("prices")] == ["e1"]  # the tombstone stays for now
    sim.run(until=999)
    b.compact("prices")
    assert [e.id for e in b.events("prices")] == ["e1"]
    sim.run(until=1000)
    b.compact("prices")
    assert b.events("prices") == []


def test_a_compacted_topic_needs_keys_and_a_delete_topic_cannot_be_compacted():
    """Kafka refuses records without a key on a compacted topic; compaction needs the policy."""
    sim = Simulation(0)
    b = compacted(sim)
    with pytest.raises(ValueError, match="event.key must be set on a compacted topic"):
        b.publish("prices", Event(id="e0", type="PriceSet", time=0))
    b.create_topic("orders")
    with pytest.raises(ValueError, match="compaction needs cleanup.policy='compact'"):
        b.compact("orders")


def test_adding_partitions_moves_keys_and_breaks_their_order():
    """Kafka places a key by hash modulo the partition count, so adding partitions moves keys
    (kafka.apache.org/documentation/#basic_ops_modify_topic): a key's backlog in its old
    partition and its new events in another are handled side by side, out of order."""
    from evtlib import partition_for

    sim = Simulation(0)
    b = Broker(sim)
    b.create_topic("orders", 1)
    key = next(k for k in (f"order-{i}" for i in range(99)) if partition_for(k, 2) == 1)
    seen = []
    Consumer(b, "a", "orders", lambda e: seen.append(e.data["n"]), group="g", service_time=10)
    Consumer(b, "b", "orders", lambda e: seen.append(e.data["n"]), group="g", service_time=10)
    for n in range(3):
        b.publish("orders", Event(id=f"e{n}", type="T", time=0, key=key, data={"n": n}))
    b.add_partitions("orders", 2)
    b.publish("orders", Event(id="e3", type="T", time=0, key=key, data={"n": 3}))
    sim.run()
    assert sorted(seen) == [0, 1, 2, 3]
    assert seen != [0, 1, 2, 3]  # the new event overtook the backlog of the old partition
    assert b.group("g").assignment() == {"orders[0]": "a", "orders[1]": "b"}
    with pytest.raises(ValueError, match=r"count must be an int in 3..10000, got 1"):
        b.add_partitions("orders", 1)


def test_a_member_past_max_poll_interval_is_evicted_and_its_late_commit_fails():
    """Kafka: a member that does not poll within max.poll.interval.ms is considered failed; the
    group rebalances, another member handles the event again, the late commit fails
    (CommitFailedException), and the member rejoins at its next poll
    (kafka.apache.org/documentation/#consumerconfigs_max.poll.interval.ms)."""
    from evtlib import Constant

    sim = Simulation(0)
    b = Broker(sim, settings={"max.poll.interval.ms": 100})
    b.create_topic("orders", 1)
    done = []
    a = Consumer(
        b,
        "a",
        "orders",
        lambda e: done.append(("a", sim.now)),
        group="g",
        service_time=Constant(400),
    )
    c = Consumer(
        b,
        "c",
        "orders",
        lambda e: done.append(("c", sim.now)),
        group="g",
        service_time=Constant(5),
        start=False,
    )
    c.start()  # joins second: the one partition stays with a
    b.publish("orders", Event(id="e0", type="T", time=0))
    sim.run()
    kinds = [
        (r.kind, r.actor) for r in sim.trace if r.kind in ("evicted", "commit-rejected", "joined")
    ]
    assert kinds[-3:] == [("evicted", "a"), ("commit-rejected", "a"), ("joined", "a")]
    rejected = sim.trace.filter(kind="commit-rejected")[0]
    assert rejected.detail.startswith("CommitFailedException") and rejected.time == 400
    assert done == [("c", 105.0), ("a", 400.0)]  # handled twice: by c after the eviction, by a late
    assert not a.evicted and a in b.group("g").members
    assert b.group("g").lag() == 0


def test_max_poll_interval_does_not_touch_handlings_that_finish_in_time():
    """A handling shorter than max.poll.interval.ms schedules nothing extra and is never evicted."""
    sim = Simulation(0)
    b = Broker(sim, settings={"max.poll.interval.ms": 100})
    b.create_topic("orders", 1)
    Consumer(b, "a", "orders", service_time=99)
    b.publish("orders", Event(id="e0", type="T", time=0))
    sim.run()
    assert sim.trace.filter(kind="evicted") == [] and len(sim.trace.filter(kind="handled")) == 1


def shop_with_lost_acks(**settings):
    from evtlib import NetworkFaults, Rate

    sim = Simulation(5)
    b = Broker(sim, faults=NetworkFaults(ack_loss=0.4), settings=settings or None)
    b.create_topic("orders", 2)
    p = Producer(b, "shop", "orders", Rate(per_second=100), count=30)
    sim.run()
    return sim, b, p


def test_an_idempotent_producer_retry_does_not_duplicate():
    """enable.idempotence (Kafka's default): a send whose acknowledgement was lost is sent again
    after retry.backoff.ms, and the broker recognises its sequence number and does not append it
    twice (kafka.apache.org/documentation/#producerconfigs_enable.idempotence)."""
    sim, b, p = shop_with_lost_acks()
    ids = [e.id for e in b.events("orders")]
    assert p.retries > 0 and len(ids) == len(set(ids)) == 30
    assert len(sim.trace.filter(kind="deduplicated")) == p.retries


def test_without_idempotence_a_producer_retry_duplicates_events_in_the_log():
    """enable.idempotence=false: the retried send is appended again, the same event twice."""
    sim, b, p = shop_with_lost_acks(**{"enable.idempotence": False})
    ids = [e.id for e in b.events("orders")]
    assert p.retries > 0 and len(ids) == 30 + p.retries and len(set(ids)) == 30
    assert sim.trace.filter(kind="deduplicated") == []


def test_ack_loss_must_leave_a_chance_of_success():
    """An ack that is always lost would make the producer retry for ever."""
    from evtlib import NetworkFaults

    with pytest.raises(ValueError, match=r"ack_loss must be a probability in \[0, 1\), got 1"):
        NetworkFaults(ack_loss=1)


def transactional_shop(isolation: str):
    sim = Simulation(0)
    b = Broker(sim, settings={"isolation.level": isolation})
    b.create_topic("orders", 1)
    seen: list[str] = []
    Consumer(b, "billing", "orders", lambda e: seen.append(e.id), service_time=1)
    return sim, b, Producer(b, "shop", "orders"), seen


def test_read_committed_reads_a_transaction_all_at_once_or_never():
    """isolation.level=read_committed: a consumer reads a transaction's events only once it
    commits, and never an aborted one's; it stops at the last stable offset meanwhile
    (kafka.apache.org/documentation/#consumerconfigs_isolation.level)."""
    sim, b, shop, seen = transactional_shop("read_committed")
    tx = shop.begin()
    a1, a2 = tx.emit("OrderPlaced", "o1"), tx.emit("OrderPaid", "o1")
    after = shop.emit("OrderPlaced", "o2")  # outside the transaction, behind it in the log
    sim.run(until=50)
    assert seen == []  # the open transaction holds back everything after its first event
    tx.commit()
    sim.run(until=100)
    assert seen == [a1.id, a2.id, after.id]
    bad = shop.begin()
    ghost = bad.emit("OrderPlaced", "o3")
    bad.abort()
    last = shop.emit("OrderPlaced", "o4")
    sim.run()
    assert ghost.id not in seen and seen[-1] == last.id
    assert [r.kind for r in sim.trace if r.kind.startswith("txn-")] == [
        "txn-committed",
        "txn-aborted",
    ]


def test_read_uncommitted_reads_every_event_even_an_aborted_ones():
    """Kafka's default isolation.level=read_uncommitted reads open and aborted transactions too."""
    sim, b, shop, seen = transactional_shop("read_uncommitted")
    tx = shop.begin()
    e = tx.emit("OrderPlaced", "o1")
    sim.run(until=50)
    assert seen == [e.id]
    tx.abort()
    with pytest.raises(ValueError, match="is already aborted"):
        tx.commit()
    with pytest.raises(ValueError, match="is aborted: begin a new one"):
        tx.emit("OrderPlaced", "o2")

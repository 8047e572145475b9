"""The queue family (rabbitmq, sqs, sqs-fifo, service-bus) in simulation.

Every test that models a broker behaviour says in its docstring where that
behaviour is documented (the URLs are those of evtlib/profiles.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import handled
from evtlib import Broker, BufferFullError, Consumer, Event, Producer, Schedule, Simulation, crash
from evtlib.patterns.dlq import DeadLetterConsumer
from evtlib.patterns.retry import RetryPolicy
from evtlib.protocols import BrokerBackend, GroupBackend, TopicBackend
from evtlib.queues import QueueBroker

QUEUES = ("rabbitmq", "sqs", "sqs-fifo", "service-bus")


def ev(i: int, key: str | None = "k") -> Event:
    return Event(id=f"e{i}", type="OrderPlaced", time=0, key=key)


def conserved(stats: dict[str, int]) -> bool:
    return stats["published"] == (
        stats["deleted"]
        + stats["in_flight"]
        + stats["waiting"]
        + stats["dead_lettered"]
        + stats["expired"]
    )


def failing(times: dict[str, int] | None = None):
    """A handler that fails the first ``times[id]`` calls for each event (all, if None)."""
    calls: dict[str, int] = {}

    def handler(event: Event) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if times is None or calls[event.id] <= times.get(event.id, 0):
            raise RuntimeError(f"cannot handle {event.id}")

    return handler


@pytest.mark.parametrize("name", QUEUES)
def test_a_queue_profile_makes_a_queue_broker_that_satisfies_the_backend_protocol(name):
    """Broker(sim, profile=<queue profile>) is the queue family's broker; the log family's is kept."""
    sim = Simulation(0)
    b = Broker(sim, profile=name)
    assert isinstance(b, QueueBroker) and isinstance(b, BrokerBackend)
    assert b.profile.name == name and b.profile.family == "queue"
    t = b.create_topic("orders")
    assert isinstance(t, TopicBackend) and isinstance(b.group("g"), GroupBackend)
    with pytest.raises(TypeError):
        b.settings["MaxDeliveryCount"] = 5  # type: ignore[index]
    assert type(Broker(sim, name="log")) is Broker


@pytest.mark.parametrize("name", QUEUES)
def test_a_late_subscriber_gets_nothing_from_before_and_every_subscription_gets_a_copy(name):
    """A queue gets only what is published after it exists; each subscription gets every message
    (SNS to SQS fan-out; a RabbitMQ exchange to its bound queues; a Service Bus topic to its
    subscriptions: learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement,
    docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile=name)
    b.create_topic("orders")
    Consumer(b, "billing", "orders")
    b.publish("orders", ev(0))
    Consumer(b, "shipping", "orders")
    b.publish("orders", ev(1))
    sim.run()
    assert handled(sim, "billing") == ["e0", "e1"]
    assert handled(sim, "shipping") == ["e1"]
    assert all(r.offset is None for r in sim.trace.filter(kind="delivered"))


def test_competing_consumers_take_messages_one_by_one_and_lose_per_key_order():
    """Consumers of one queue compete for its messages, each taken by one consumer; with more
    than one consumer the order of one key is lost (www.rabbitmq.com/docs/consumers#single-active-consumer:
    single active consumer exists to keep it)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", latency=1)
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=30)
    Consumer(b, "fast", "orders", group="billing", service_time=10)
    for i in range(6):
        b.publish("orders", ev(i, key="order-1"))
    sim.run()
    assert sorted(handled(sim)) == [f"e{i}" for i in range(6)]  # each once
    assert handled(sim, "slow") and handled(sim, "fast")
    assert handled(sim) != [f"e{i}" for i in range(6)]  # per-key order lost
    stats = b.groups["billing"].stats()
    assert stats["handled"] == stats["handled_first"] == stats["deleted"] == 6
    assert conserved(stats)


@pytest.mark.parametrize(
    "name, setting, source",
    [
        (
            "sqs",
            "VisibilityTimeout",
            "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html",
        ),
        (
            "service-bus",
            "LockDuration",
            "https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement",
        ),
    ],
)
def test_a_handling_slower_than_the_timeout_is_delivered_again_a_duplicate(name, setting, source):
    """SQS VisibilityTimeout / Service Bus LockDuration: a message not deleted in time becomes
    visible again and another consumer takes it while the first still handles it; the first's
    late acknowledgement is ignored; the second delivery has delivery count 2 (see ``source``)."""
    assert source.startswith("https://")
    sim = Simulation(0)
    b = Broker(sim, profile=name, settings={setting: 1000})
    b.create_topic("orders")
    Consumer(b, "a", "orders", group="billing", service_time=1500)
    Consumer(b, "b", "orders", group="billing", service_time=100)
    b.publish("orders", ev(0))
    sim.run()
    assert handled(sim) == ["e0", "e0"]  # b at 1100, then a at 1500: handled twice
    again = sim.trace.filter(kind="redelivered")
    assert [(r.actor, r.time, r.detail) for r in again] == [("b", 1000, "attempt 2")]
    ignored = sim.trace.filter(kind="ack-ignored")
    assert [(r.actor, r.time) for r in ignored] == [("a", 1500)]
    assert sim.trace.filter(kind="timeout")[0].detail.startswith(f"{setting}=1000 ms expired")
    stats = b.groups["billing"].stats()
    assert stats["handled"] == 2 and stats["handled_first"] == 1 and stats["ignored_acks"] == 1
    assert conserved(stats) and stats["deleted"] == 1


def test_rabbitmq_consumer_timeout_closes_the_channel_and_requeues_all_its_unacked_messages():
    """RabbitMQ consumer_timeout (up to 4.2): a delivery not acknowledged in time closes the
    channel, and every unacknowledged message of that channel is requeued, also those not late
    (www.rabbitmq.com/docs/consumers#acknowledgement-timeout)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", prefetch=3, settings={"consumer_timeout": 1500})
    b.create_topic("orders")
    Consumer(b, "a", "orders", group="billing", service_time=1000)
    for i in range(3):
        b.publish("orders", ev(i))
    late = Consumer(b, "b", "orders", group="billing", service_time=100, start=False)
    sim.schedule(100, late.start)
    sim.run()
    timeouts = sim.trace.filter(kind="timeout")
    assert [(r.actor, r.time) for r in timeouts] == [("a", 1500)]
    assert "closed the channel; its 2 unacknowledged message(s) are requeued" in timeouts[0].detail
    again = sim.trace.filter(kind="redelivered")
    assert [(r.event_id, r.actor, r.detail) for r in again] == [
        ("e1", "b", "attempt 2"),
        ("e2", "b", "attempt 2"),
    ]
    # a still finishes e1 (at 2000, after b): a duplicate whose ack cannot be sent
    assert handled(sim) == ["e0", "e1", "e2", "e1"]
    assert [r.event_id for r in sim.trace.filter(kind="ack-ignored")] == ["e1"]
    assert conserved(b.groups["billing"].stats())


def test_service_bus_dead_letters_after_max_delivery_count():
    """Service Bus MaxDeliveryCount (10): after 10 deliveries the message moves to the
    subscription's dead-letter subqueue with reason MaxDeliveryCountExceeded
    (learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues)."""
    sim = Simulation(0)
    b = Broker(sim, profile="service-bus")
    b.create_topic("orders")
    Consumer(b, "billing", "orders", failing(), retry_delay=10)
    b.publish("orders", ev(0))
    sim.run()
    assert b.dead_letters("billing") == [(ev(0), "MaxDeliveryCountExceeded", 10)]
    dead = sim.trace.filter(kind="dead-lettered")
    assert [(r.actor, r.event_id) for r in dead] == [("broker", "e0")]
    assert len(sim.trace.filter(kind="redelivered")) == 9
    stats = b.groups["billing"].stats()
    assert stats["dead_lettered"] == 1 and stats["handled"] == 0 and conserved(stats)


@pytest.mark.parametrize("limit, deliveries", [(None, 21), (2, 3)])
def test_rabbitmq_quorum_queues_dead_letter_past_the_delivery_limit(limit, deliveries):
    """RabbitMQ quorum queues: x-delivery-limit (20 from 4.0): a message returned more times than
    the limit is dead-lettered with reason delivery_limit
    (www.rabbitmq.com/docs/quorum-queues#poison-message-handling)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", settings=None if limit is None else {"x-delivery-limit": 2})
    b.create_topic("orders")
    Consumer(b, "billing", "orders", failing(), retry_delay=10)
    b.publish("orders", ev(0))
    sim.run()
    assert b.dead_letters("billing") == [(ev(0), "delivery_limit", deliveries)]


def test_sqs_has_no_dead_letter_queue_unless_a_redrive_policy_is_configured():
    """SQS: a message that keeps failing is received again and again; only a redrive policy's
    maxReceiveCount moves it to a dead-letter queue
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile="sqs")
    b.create_topic("orders")
    Consumer(b, "billing", "orders", failing(), retry_delay=100)
    b.group("audit", settings={"maxReceiveCount": 3})
    Consumer(b, "audit", "orders", failing(), retry_delay=100)
    b.publish("orders", ev(0))
    sim.run(until=10_000)
    assert b.dead_letters("billing") == []
    assert b.groups["billing"].stats()["redelivered"] >= 50
    assert b.dead_letters("audit") == [(ev(0), "maxReceiveCount exceeded", 3)]
    assert all(conserved(g.stats()) for g in b.groups.values())


def test_a_crashed_consumer_s_messages_go_back_at_once_and_it_can_restart():
    """A closed channel or connection returns its unacknowledged messages to the queue at once
    (www.rabbitmq.com/docs/consumers#acknowledgement-timeout: unacknowledged deliveries are
    requeued when the channel closes); the next delivery has delivery count 2."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq")
    b.create_topic("orders")
    a = Consumer(b, "a", "orders", group="billing", service_time=500)
    Consumer(b, "b", "orders", group="billing", service_time=10)
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    crash(sim, a, at=100, restart_after=50)
    sim.run()
    again = sim.trace.filter(kind="redelivered")
    assert [(r.event_id, r.actor, r.time, r.detail) for r in again] == [
        ("e0", "b", 100, "attempt 2")
    ]
    assert sorted(handled(sim)) == ["e0", "e1"]
    assert a.alive and b.groups["billing"].members == [b.consumers[1], a]
    assert conserved(b.groups["billing"].stats())


def test_bad_input_says_what_the_queue_broker_offers_instead():
    """start='earliest' (no history for new subscribers) and partitions (message groups, sessions)
    are errors that say what the real broker offers instead."""
    sim = Simulation(0)
    sqs = Broker(sim, profile="sqs", name="sqs")
    with pytest.raises(ValueError, match="keeps no history for new subscribers"):
        sqs.group("billing", start="earliest")
    with pytest.raises(ValueError, match="partitions must be 1 on the sqs profile.*sqs-fifo"):
        sqs.create_topic("orders", 3)
    sb = Broker(sim, profile="service-bus", name="sb")
    with pytest.raises(ValueError, match="partitions must be 1.*sessions"):
        sb.create_topic("orders", 2)
    fifo = Broker(sim, profile="sqs-fifo", name="fifo")
    with pytest.raises(ValueError, match="MessageGroupId"):
        fifo.create_topic("orders", 2)
    fifo.create_topic("orders")
    with pytest.raises(ValueError, match="event.key must be set on the sqs-fifo profile"):
        fifo.publish("orders", ev(0, key=None))
    with pytest.raises(ValueError, match="maxReceiveCount must be"):
        Broker(sim, profile="sqs", settings={"maxReceiveCount": 0})
    with pytest.raises(ValueError, match="setting must be one of the sqs profile's settings"):
        Broker(sim, profile="sqs", settings={"ContentBasedDeduplication": True})
    with pytest.raises(ValueError, match="applies to the whole topic"):
        sb.group("audit", settings={"RequiresDuplicateDetection": True})
    sqs.group("billing")
    with pytest.raises(ValueError, match="settings must be None for the existing subscription"):
        sqs.group("billing", settings={"maxReceiveCount": 3})
    with pytest.raises(ValueError, match="duplicates must be 0 on the sqs-fifo profile"):
        Broker(sim, profile="sqs-fifo", duplicates=0.1)
    with pytest.raises(ValueError, match="retention is a topic setting of a log.*x-message-ttl"):
        Broker(sim, profile="rabbitmq", name="r1").create_topic("t", retention=1000)
    with pytest.raises(ValueError, match="cleanup.policy.*no log to compact"):
        sqs.create_topic("t", settings={"cleanup.policy": "compact"})
    for call in (lambda: sqs.read("orders", 0), lambda: sqs.compact("orders")):
        with pytest.raises(ValueError, match="needs a log: the sqs profile"):
            call()
    with pytest.raises(ValueError, match="add_partitions.*sqs-fifo"):
        sqs.add_partitions("orders", 2)
    with pytest.raises(ValueError, match="capacity must be None on the rabbitmq profile"):
        Broker(sim, profile="rabbitmq", name="r").create_topic("t", capacity=5)


def test_at_most_once_deletes_on_send_so_a_failure_is_a_counted_loss():
    """Auto-ack: the broker deletes the message as it sends it; a failed handling loses it
    (www.rabbitmq.com/docs/consumers#acknowledgement-modes)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq")
    b.create_topic("orders")
    Consumer(b, "billing", "orders", failing(), delivery="at-most-once")
    b.publish("orders", ev(0))
    sim.run()
    stats = b.groups["billing"].stats()
    assert stats["lost"] == 1 and stats["deleted"] == 1 and conserved(stats)
    assert [r.event_id for r in sim.trace.filter(kind="lost")] == ["e0"]


def test_a_dead_letter_consumer_uses_native_dead_lettering_where_the_profile_has_it():
    """The application can dead-letter a Service Bus message itself, with its own reason
    (learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues); a RabbitMQ
    consumer rejects it to the queue's dead-letter exchange, reason ``rejected``
    (www.rabbitmq.com/docs/dlx); SQS has no such call: the consumer sends it to the queue's
    dead-letter queue and deletes it
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
    Either way it lands in its own subscription's dead-letter queue, not on a topic."""
    for name, reason in (("service-bus", "failed"), ("sqs", "failed"), ("rabbitmq", "rejected")):
        sim = Simulation(0)
        b = Broker(sim, profile=name)
        b.create_topic("orders")
        b.create_topic("orders.dlq")
        DeadLetterConsumer(b, "billing", "orders", failing(), policy=RetryPolicy(max_attempts=2))
        b.publish("orders", ev(0))
        sim.run()
        stats = b.groups["billing"].stats()
        assert b.dead_letters("billing") == [(ev(0), reason, 2)], name
        assert b.topics["orders.dlq"].published == 0
        assert conserved(stats) and stats["waiting"] == stats["in_flight"] == 0


def test_sqs_fifo_keeps_order_per_message_group_with_competing_consumers():
    """SQS FIFO: messages of one MessageGroupId (the event's key) are delivered in order, one at
    a time, whatever the number of consumers; other groups go on in parallel
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile="sqs-fifo", latency=1)
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=30)
    Consumer(b, "fast", "orders", group="billing", service_time=10)
    events = [ev(i, key=f"order-{i % 2}") for i in range(8)]
    for e in events:
        b.publish("orders", e)
    sim.run()
    done = handled(sim)
    for key in ("order-0", "order-1"):
        mine = [e.id for e in events if e.key == key]
        assert [i for i in done if i in mine] == mine
    assert handled(sim, "slow") and handled(sim, "fast")


def test_sqs_fifo_deduplicates_within_five_minutes():
    """SQS FIFO: a message with a deduplication id seen in the last 5 minutes is accepted but not
    delivered again (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile="sqs-fifo")
    b.create_topic("orders")
    Consumer(b, "billing", "orders")
    b.publish("orders", ev(0))
    sim.schedule(60_000, b.publish, "orders", ev(0))
    sim.schedule(6 * 60_000, b.publish, "orders", ev(0))
    sim.run()
    assert handled(sim) == ["e0", "e0"]  # t=0 and t=6 min; the t=1 min copy was deduplicated
    assert [r.time for r in sim.trace.filter(kind="deduplicated")] == [60_000]


def test_rabbitmq_single_active_consumer_keeps_order_and_fails_over():
    """x-single-active-consumer: one consumer at a time gets the queue's messages, in order; when
    it goes away the next one takes over (www.rabbitmq.com/docs/consumers#single-active-consumer)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", settings={"x-single-active-consumer": True})
    b.create_topic("orders")
    a = Consumer(b, "a", "orders", group="billing", service_time=10)
    Consumer(b, "b", "orders", group="billing", service_time=10)
    for i in range(6):
        sim.schedule(i * 10, b.publish, "orders", ev(i))
    crash(sim, a, at=25)
    sim.run()
    assert handled(sim, "a") == ["e0", "e1"]
    assert handled(sim, "b") == ["e2", "e3", "e4", "e5"]


def test_service_bus_sessions_keep_order_per_session():
    """Service Bus sessions (RequiresSession): messages of one SessionId (the event's key) are
    handled one at a time, in order (learn.microsoft.com/azure/service-bus-messaging/message-sessions)."""
    sim = Simulation(0)
    b = Broker(sim, profile="service-bus", latency=1, settings={"RequiresSession": True})
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=30)
    Consumer(b, "fast", "orders", group="billing", service_time=10)
    for i in range(6):
        b.publish("orders", ev(i, key="order-1"))
    sim.run()
    assert handled(sim) == [f"e{i}" for i in range(6)]


#: A bound per profile: what it removes is dead-lettered or counted, never silently lost.
LIMITS = {
    "rabbitmq": {"x-max-length": 2},
    "sqs": {"MessageRetentionPeriod": 100},
    "sqs-fifo": {"maxReceiveCount": 2},
    "service-bus": {"DefaultMessageTimeToLive": 100},
}

#: Each queue profile's own timeout for an unacknowledged message.
TIMEOUT = {
    "rabbitmq": "consumer_timeout",
    "sqs": "VisibilityTimeout",
    "sqs-fifo": "VisibilityTimeout",
    "service-bus": "LockDuration",
}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(QUEUES),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 12),
    consumers=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    fails=st.lists(st.integers(0, 3), min_size=12, max_size=12),
    crash_at=st.one_of(st.none(), st.integers(0, 200)),
    prefetch=st.integers(1, 3),
    short_timeout=st.booleans(),
    limits=st.booleans(),
)
def test_at_least_once_never_loses_and_conservation_holds(
    name, seed, n, consumers, fails, crash_at, prefetch, short_timeout, limits
):
    """For any schedule (consumers of different speeds, handlers that fail a few times, a crash
    and restart, a timeout shorter than some handlings), nothing is lost: every published message
    is handled, dead-lettered or still in the queue, and at every step published = deleted + in
    flight + waiting + dead-lettered (+ expired) (SEMANTICS.md invariant 8).  With the default
    timeouts every message is done at the end.  With a short one it may not be: a consumer
    that prefetches more than it can handle within the timeout sees its prefetched messages
    time out again and again (on SQS with no redrive policy, until retention deletes them).
    With ``limits`` each profile also bounds something (length, retention, receives, time to
    live): what it removes is dead-lettered or counted as expired, never silently gone."""
    sim = Simulation(seed)
    overrides = {TIMEOUT[name]: 60} if short_timeout else {}
    if limits:
        overrides.update(LIMITS[name])
    extra = {"duplicates": 0.2} if limits and name == "sqs" else {}  # SQS standard duplicates
    b = Broker(sim, profile=name, latency=1, prefetch=prefetch, settings=overrides or None, **extra)
    b.create_topic("orders")
    handler = failing({f"e{i}": fails[i] for i in range(n)})
    members = [
        Consumer(b, f"c{k}", "orders", handler, group="billing", service_time=t, retry_delay=5)
        for k, t in enumerate(consumers)
    ]
    for i in range(n):
        sim.schedule(i * 7, b.publish, "orders", ev(i, key=f"k{i % 3}"))
    if crash_at is not None:
        crash(sim, members[0], at=crash_at, restart_after=30)
    group = b.groups["billing"]
    while sim.peek() <= 5_000:
        sim.step()
        assert conserved(group.stats())
    dead = {e.id for e, _, _ in b.dead_letters("billing")}
    queued = {e.id for e in group.waiting() + group.in_flight()}
    expired = {r.event_id for r in sim.trace.filter(kind="expired")}
    accounted = set(handled(sim)) | dead | queued | expired
    assert accounted == {f"e{i}" for i in range(n)}  # nothing lost
    if not short_timeout:  # every handling fits in the timeout: all done
        assert sim.peek() == float("inf") and not queued


@pytest.mark.parametrize("overflow", ["drop-head", "reject-publish"])
def test_a_full_rabbitmq_queue_drops_its_oldest_or_nacks_the_publisher(overflow):
    """RabbitMQ x-max-length: a full queue drops (dead-letters, reason maxlen) its oldest waiting
    message with x-overflow drop-head (the default), or refuses the new one with reject-publish:
    the publisher gets a nack (www.rabbitmq.com/docs/maxlength)."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq")
    b.create_topic("orders")
    b.group("billing", settings={"x-max-length": 2, "x-overflow": overflow})
    c = Consumer(b, "billing", "orders", start=False)  # the queue is bound, nobody consumes yet
    shop = Producer(b, "shop", "orders", Schedule([0, 1, 2, 3]))
    sim.run(until=5)
    if overflow == "reject-publish":
        with pytest.raises(BufferFullError, match="nacked"):
            shop.emit("OrderPlaced", "k")
    sim.schedule(10, c.start)
    sim.run()
    stats = b.groups["billing"].stats()
    assert conserved(stats)
    if overflow == "drop-head":
        assert [(e.id, why) for e, why, _ in b.dead_letters("billing")] == [
            ("evt-000001", "maxlen"),
            ("evt-000002", "maxlen"),
        ]
        assert handled(sim) == ["evt-000003", "evt-000004"] and shop.rejected == 0
    else:
        assert handled(sim) == ["evt-000001", "evt-000002"]
        assert shop.rejected == 3 and stats["rejected"] == 3 and stats["published"] == 2
        assert len(sim.trace.filter(kind="rejected")) == 3


def test_time_to_live_per_broker_dead_letters_or_deletes_what_waited_too_long():
    """A message waiting longer than its time to live: RabbitMQ x-message-ttl dead-letters it
    (reason expired; www.rabbitmq.com/docs/ttl), SQS deletes it after MessageRetentionPeriod
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html),
    Service Bus drops it unless DeadLetteringOnMessageExpiration
    (learn.microsoft.com/azure/service-bus-messaging/message-expiration)."""
    cases = [
        ("rabbitmq", {"x-message-ttl": 1000}, "dead-lettered"),
        ("sqs", {"MessageRetentionPeriod": 1000}, "expired"),
        ("service-bus", {"DefaultMessageTimeToLive": 1000}, "expired"),
        (
            "service-bus",
            {"DefaultMessageTimeToLive": 1000, "DeadLetteringOnMessageExpiration": True},
            "dead-lettered",
        ),
    ]
    for name, overrides, fate in cases:
        sim = Simulation(0)
        b = Broker(sim, profile=name, settings=overrides)
        b.create_topic("orders")
        c = Consumer(b, "billing", "orders", start=False)
        b.publish("orders", ev(0))
        sim.schedule(2000, c.start)
        sim.run()
        stats = b.groups["billing"].stats()
        assert handled(sim) == [] and conserved(stats), name
        assert [(r.kind, r.time) for r in sim.trace.filter(kind=fate)] == [(fate, 1000)]
        if fate == "dead-lettered":
            reason = b.dead_letters("billing")[0][1]
            assert reason.startswith("TTLExpiredException" if name == "service-bus" else "expired")


def test_service_bus_duplicate_detection_drops_a_repeated_message_id_within_its_window():
    """Service Bus RequiresDuplicateDetection (off by default; window 10 minutes): a message whose
    MessageId was seen within the window is accepted and dropped
    (learn.microsoft.com/azure/service-bus-messaging/duplicate-detection)."""
    for on, expected in ((False, ["e0", "e0"]), (True, ["e0"])):
        sim = Simulation(0)
        b = Broker(sim, profile="service-bus", settings={"RequiresDuplicateDetection": on})
        b.create_topic("orders")
        Consumer(b, "billing", "orders")
        b.publish("orders", ev(0))
        sim.schedule(60_000, b.publish, "orders", ev(0))
        sim.run()
        assert handled(sim) == expected


def test_sqs_standard_occasionally_delivers_a_deleted_message_again():
    """SQS standard queues deliver at least once: occasionally a message is delivered again after
    it was deleted (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html);
    the probability is a seeded parameter, 0 by default."""
    sim = Simulation(3)
    b = Broker(sim, profile="sqs", duplicates=0.2)
    b.create_topic("orders")
    Consumer(b, "billing", "orders")
    for i in range(50):
        b.publish("orders", ev(i))
    sim.run()
    stats = b.groups["billing"].stats()
    assert stats["duplicated"] > 0 and stats["handled"] == 50 + stats["duplicated"]
    assert stats["handled_first"] == 50 and conserved(stats)


def test_sqs_delay_seconds_hides_a_new_message_for_a_while():
    """SQS DelaySeconds: a new message stays invisible that long before its first delivery
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile="sqs", settings={"DelaySeconds": 5000})
    b.create_topic("orders")
    Consumer(b, "billing", "orders")
    b.publish("orders", ev(0))
    assert conserved(b.groups["billing"].stats()) and b.groups["billing"].lag() == 1
    sim.run()
    assert [r.time for r in sim.trace.filter(kind="handled")] == [5000]


def test_a_delivery_has_no_offset_and_counts_its_deliveries():
    """Queue messages have no offsets (Delivery.offset is -1); Delivery.attempt is the broker's
    delivery count (SQS ApproximateReceiveCount, Service Bus DeliveryCount, RabbitMQ
    x-delivery-count + 1); the consumer's own ack_timeout is refused: the broker's timeout applies."""
    seen = []

    class Recorder(Consumer):
        def process(self, delivery):
            seen.append((delivery.offset, delivery.attempt, delivery.group))
            if delivery.attempt < 3:
                raise RuntimeError("not yet")

    sim = Simulation(0)
    b = Broker(sim, profile="service-bus")
    b.create_topic("orders")
    Recorder(b, "billing", "orders", retry_delay=10)
    b.publish("orders", ev(0))
    sim.run()
    assert seen == [(-1, 1, "billing"), (-1, 2, "billing"), (-1, 3, "billing")]
    with pytest.raises(ValueError, match=r"ack_timeout must be None.*LockDuration=60000 ms"):
        Consumer(b, "audit", "orders", ack_timeout=500)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["sqs-fifo", "service-bus"]),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 12),
    consumers=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    fails=st.lists(st.integers(0, 2), min_size=12, max_size=12),
    crash_at=st.one_of(st.none(), st.integers(0, 200)),
    prefetch=st.integers(1, 3),
)
def test_message_groups_and_sessions_keep_per_key_order(
    name, seed, n, consumers, fails, crash_at, prefetch
):
    """SQS FIFO message groups and Service Bus sessions: whatever the consumers, failures and
    crashes, the messages of one key are first handled in the order they were published
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html,
    learn.microsoft.com/azure/service-bus-messaging/message-sessions)."""
    sim = Simulation(seed)
    settings_ = {"RequiresSession": True} if name == "service-bus" else None
    b = Broker(sim, profile=name, latency=1, prefetch=prefetch, settings=settings_)
    b.create_topic("orders")
    handler = failing({f"e{i}": fails[i] for i in range(n)})
    members = [
        Consumer(b, f"c{k}", "orders", handler, group="billing", service_time=t, retry_delay=5)
        for k, t in enumerate(consumers)
    ]
    events = [ev(i, key=f"k{i % 3}") for i in range(n)]
    for i, e in enumerate(events):
        sim.schedule(i * 7, b.publish, "orders", e)
    if crash_at is not None:
        crash(sim, members[0], at=crash_at, restart_after=30)
    sim.run()
    first: list[str] = []
    for i in handled(sim):
        if i not in first:
            first.append(i)
    assert sorted(first) == sorted(e.id for e in events)
    for key in ("k0", "k1", "k2"):
        mine = [e.id for e in events if e.key == key]
        assert [i for i in first if i in mine] == mine


def test_a_redrive_sends_dead_letters_back_to_their_own_subscription_only():
    """SQS redrive to the source queue (StartMessageMoveTask): dead letters go back to the queue
    they came from as new messages (receive count from 0), not to the topic's other
    subscriptions (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html)."""
    sim = Simulation(0)
    b = Broker(
        sim, profile="sqs", settings={"maxReceiveCount": 2, "MessageRetentionPeriod": 60_000}
    )
    b.create_topic("orders")
    broken = {"on": True}

    def billing(event: Event) -> None:
        if broken["on"]:
            raise RuntimeError("billing is down")

    Consumer(b, "billing", "orders", billing, retry_delay=10)
    Consumer(b, "shipping", "orders")
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    sim.run(until=1000)
    assert [e.id for e, _, n in b.dead_letters("billing")] == ["e0", "e1"]
    broken["on"] = False
    assert b.redrive("billing", limit=1) == 1
    sim.run(until=2000)
    assert handled(sim, "billing") == ["e0"] and handled(sim, "shipping") == ["e0", "e1"]
    assert [e.id for e, _, _ in b.dead_letters("billing")] == ["e1"]
    assert b.redrive("billing") == 1
    sim.run()
    assert handled(sim, "billing") == ["e0", "e1"]
    stats = b.groups["billing"].stats()
    assert stats["redriven"] == 2 and stats["dead_lettered"] == 0 and conserved(stats)
    redriven = sim.trace.filter(kind="redriven")
    assert [(r.event_id, r.actor) for r in redriven] == [("e0", "operator"), ("e1", "operator")]


def test_a_message_that_expired_while_waiting_is_redriven_once():
    """A RabbitMQ message dead-lettered by x-message-ttl while it waited (www.rabbitmq.com/docs/ttl),
    moved back by an operator, is delivered once, with its time to live starting again."""
    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", settings={"x-message-ttl": 1000})
    b.create_topic("orders")
    c = Consumer(b, "billing", "orders", start=False)
    b.publish("orders", ev(0))
    sim.run(until=2000)
    assert b.redrive("billing") == 1
    c.start()
    sim.run()
    assert handled(sim) == ["e0"] and conserved(b.groups["billing"].stats())


@settings(max_examples=40, deadline=None)
@given(
    sends=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 20 * 60_000)), min_size=1, max_size=20
    ),
    consumers=st.integers(1, 3),
)
def test_sqs_fifo_never_delivers_a_duplicate_within_the_deduplication_interval(sends, consumers):
    """SQS FIFO: a message whose deduplication id was accepted less than 5 minutes earlier is
    accepted but not delivered; every accepted message is handled exactly once
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile="sqs-fifo", latency=1)
    b.create_topic("orders")
    for k in range(consumers):
        Consumer(b, f"c{k}", "orders", group="billing", service_time=5)
    accepted: dict[int, float] = {}
    expected: list[tuple[str, float]] = []
    for i, t in sorted(sends, key=lambda s: s[1]):
        if i not in accepted or t - accepted[i] >= 5 * 60_000:
            accepted[i] = t
            expected.append((f"e{i}", t))
    for i, t in sends:
        sim.schedule(t, b.publish, "orders", ev(i))
    sim.run()
    assert sorted(handled(sim)) == sorted(i for i, _ in expected)
    for r in sim.trace.filter(kind="handled"):
        assert any(i == r.event_id and t <= r.time for i, t in expected)


def test_a_service_bus_topic_past_its_size_quota_fails_the_sender_and_dead_letters_count():
    """Service Bus MaxSizeInMegabytes: a send that would take the entity past its quota fails
    with QuotaExceeded; messages in the dead-letter subqueue count towards it
    (learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas)."""
    for works in (True, False):
        sim = Simulation(0)
        settings_ = {"MaxSizeInMegabytes": 1, "MaxDeliveryCount": 1}
        b = Broker(sim, profile="service-bus", settings=settings_)
        b.create_topic("orders")
        Consumer(b, "billing", "orders", None if works else failing(), retry_delay=1)
        refused = 0
        for i in range(200):
            big = Event(id=f"e{i}", type="OrderPlaced", time=sim.now, data={"blob": "x" * 10_000})
            try:
                b.publish("orders", big)
            except BufferFullError as exc:
                assert "QuotaExceeded" in str(exc)
                refused += 1
            sim.run(until=sim.now + 10)
        stats = b.groups["billing"].stats()
        assert conserved(stats)
        if works:
            assert refused == 0 and stats["handled"] == 200
        else:  # the dead letters fill the quota: about 100 of 10 KB fit in 1 MB
            assert 90 <= stats["dead_lettered"] <= 105 and refused == 200 - stats["published"]
            assert b.groups["billing"].stored_bytes <= 1_048_576


def test_sqs_fifo_content_based_deduplication_merges_equal_bodies():
    """SQS FIFO ContentBasedDeduplication: the deduplication id is a SHA-256 of the body, so two
    different messages with the same body within 5 minutes are one (here the body is the
    event's type, key and data)
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html)."""
    for content, expected in ((False, ["a", "b"]), (True, ["a"])):
        sim = Simulation(0)
        b = Broker(sim, profile="sqs-fifo", settings={"ContentBasedDeduplication": content})
        b.create_topic("orders")
        Consumer(b, "billing", "orders")
        for i in ("a", "b"):
            b.publish("orders", Event(id=i, type="OrderPlaced", time=0, key="o1", data={"n": 1}))
        sim.run()
        assert handled(sim) == expected


# -- more time for a delivery: ChangeMessageVisibility, RenewMessageLock ----------------------

SQS_VISIBILITY = (
    "docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html"
)
SB_RENEW = "learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceiver.renewmessagelockasync"
SB_AUTO = (
    "learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusprocessoroptions"
    ".maxautolockrenewalduration"
)


def slow_pair(name: str, values: dict, service: float):
    sim = Simulation(0)
    b = Broker(sim, profile=name, settings=values)
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=service)
    Consumer(b, "fast", "orders", group="billing", service_time=1, start=False)
    return sim, b, b.groups["billing"]


@pytest.mark.parametrize(
    ("name", "values", "service", "every", "renewals"),
    [
        ("sqs", {"VisibilityTimeout": 30_000}, 45_000, 20_000, 2),
        ("service-bus", {"LockDuration": 60_000}, 150_000, 50_000, 2),
    ],
)
def test_renewing_while_handling_keeps_a_slow_handling_from_being_delivered_twice(
    name, values, service, every, renewals
):
    """SQS ChangeMessageVisibility (a visibility heartbeat) and Service Bus RenewMessageLock (what
    its processor does automatically) keep a message invisible while it is being handled
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html,
    learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceiver.renewmessagelockasync).
    Without it, the message is delivered again to another consumer while the first still works."""
    for renew in (False, True):
        sim, b, sub = slow_pair(name, values, service)
        b.consumers[1].start()
        if renew:
            sub.renew_locks(every)
        b.publish("orders", ev(0))
        sim.run()
        stats = sub.stats()
        if renew:
            assert handled(sim) == ["e0"] and stats["timeouts"] == 0
            assert stats["extended"] == renewals == len(sim.trace.filter(kind="extended"))
        else:
            assert sorted(handled(sim)) == ["e0", "e0"] and stats["timeouts"] == 1
        assert stats["deleted"] == 1 and conserved(stats)


def test_service_bus_renews_locks_for_five_minutes_by_default_then_lets_them_expire():
    """The Service Bus processor renews locks for MaxAutoLockRenewalDuration, 5 minutes by default
    (learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusprocessoroptions.maxautolockrenewalduration):
    a handling longer than that loses its lock, and the message is delivered again."""
    sim, b, sub = slow_pair("service-bus", {"LockDuration": 60_000}, 400_000)
    b.consumers[1].start()
    sub.renew_locks(50_000)
    b.publish("orders", ev(0))
    sim.run()
    renewed = [r.time for r in sim.trace.filter(kind="extended")]
    assert renewed == [50_000, 100_000, 150_000, 200_000, 250_000]  # not at 300,000
    [timeout] = sim.trace.filter(kind="timeout")
    assert timeout.time == 310_000  # the last renewal's LockDuration ran out
    assert sorted(handled(sim)) == ["e0", "e0"]
    assert [r.kind for r in sim.trace.filter(event_id="e0") if r.actor == "slow"][-1] == (
        "ack-ignored"
    )


def test_sqs_change_message_visibility_by_hand_and_its_twelve_hour_limit():
    """ChangeMessageVisibility sets the visibility timeout from now; 0 makes the message visible
    at once; a total of more than 12 hours from the receipt is refused, not shortened
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html)."""
    sim, b, sub = slow_pair("sqs", {"VisibilityTimeout": 30_000}, 50_000)
    b.publish("orders", ev(0))
    sim.run(until=10_000)
    [d] = sub.holding("slow")
    assert d.event.id == "e0" and d.attempt == 1 and sub.holding("fast") == []
    with pytest.raises(ValueError, match="12 hours .* at most 43,190,000 ms is left"):
        sub.extend(d, 43_200_000)
    with pytest.raises(ValueError, match="ms must be given on the sqs profile"):
        sub.extend(d)
    assert b.extend(d, 60_000) == 70_000
    sim.run()
    assert handled(sim) == ["e0"] and sub.stats()["timeouts"] == 0
    # 0: visible again at once, taken by the other consumer; the first one's ack comes too late.
    sim, b, sub = slow_pair("sqs", {"VisibilityTimeout": 30_000}, 20_000)
    b.consumers[1].start()
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    sim.run(until=5_000)
    [d] = sub.holding("slow")
    assert sub.extend(d, 0) == 5_000
    sim.run()
    assert [(r.actor, r.time) for r in sim.trace.filter(kind="handled", event_id=d.event.id)] == [
        ("fast", 5_001),
        ("slow", 20_000),
    ]


def test_a_lost_lock_cannot_be_extended():
    """Renewing a lock that expired fails: Service Bus MessageLockLostException
    (learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceiver.renewmessagelockasync);
    SQS refuses a receipt handle that is no longer the message's latest."""
    from evtlib.queues import LockLostError

    for name, values, ms in (
        ("service-bus", {"LockDuration": 1000}, None),
        ("sqs", {"VisibilityTimeout": 1000}, 500),
    ):
        sim, b, sub = slow_pair(name, values, 5000)
        b.publish("orders", ev(0))
        sim.run(until=100)
        [d] = sub.holding()
        sub.extend(d, ms)  # held: it can
        sim.run(until=2500)  # its lock ran out at 1000 + 100: it is waiting in the queue again
        assert sub.holding() == [] and sub.stats()["waiting"] == 1
        with pytest.raises(LockLostError, match="e0 \\(attempt 1\\) is no longer held by slow"):
            sub.extend(d, ms)


def test_service_bus_renews_by_its_lock_duration_and_rabbitmq_has_no_extension():
    """Service Bus renews a lock for the entity's LockDuration (no duration of one's own)
    (learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceiver.renewmessagelockasync);
    RabbitMQ's consumer_timeout is per channel, set for the node, per queue or per consumer
    from 3.11.15, never extended for one message (www.rabbitmq.com/docs/consumers#acknowledgement-timeout)."""
    sim, b, sub = slow_pair("service-bus", {"LockDuration": 60_000}, 100_000)
    b.publish("orders", ev(0))
    sim.run(until=10)
    [d] = sub.holding()
    with pytest.raises(ValueError, match="ms must be None on the service-bus profile"):
        sub.extend(d, 1000)
    with pytest.raises(ValueError, match="by must be None on the service-bus profile"):
        sub.renew_locks(1000, by=5000)
    with pytest.raises(ValueError, match="every must be shorter than .*60000 ms"):
        sub.renew_locks(60_000)
    assert sub.extend(d) == 60_010
    sim, b, sub = slow_pair("rabbitmq", {}, 100)
    b.publish("orders", ev(0))
    sim.run(until=10)
    [d] = sub.holding()
    for call in (lambda: sub.extend(d, 1000), lambda: sub.renew_locks(1000)):
        with pytest.raises(
            ValueError, match="no counterpart on the rabbitmq profile.*per channel|channel"
        ):
            call()


def test_a_prefetched_message_s_lock_runs_while_it_waits_in_the_client():
    """Only messages being handled are renewed: a message prefetched into the client keeps its
    lock clock running and can lose it before its handling starts (Service Bus: the lock timer
    starts when the message is prefetched into the buffer; a lock that expires there makes the
    message available again, learn.microsoft.com/azure/service-bus-messaging/service-bus-prefetch)."""
    sim = Simulation(0)
    b = Broker(sim, profile="service-bus", settings={"LockDuration": 60_000}, prefetch=2)
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=50_000)
    sub = b.groups["billing"]
    sub.renew_locks(30_000)
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    sim.run()
    first = sim.trace.filter(kind="timeout")[0]
    assert (first.event_id, first.time) == ("e1", 60_000)  # sent at 0, handled from 50,000
    assert "e0" not in [r.event_id for r in sim.trace.filter(kind="timeout")]
    assert sub.stats()["extended"] >= 1 and conserved(sub.stats())


# -- pausing a member ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUEUES)
def test_a_paused_member_takes_nothing_new_and_the_others_take_the_messages(name):
    """A paused consumer gets no new messages; its partner gets them all; once resumed it
    competes again (competing consumers: www.rabbitmq.com/docs/consumers,
    docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html)."""
    sim = Simulation(0)
    b = Broker(sim, profile=name)
    b.create_topic("orders")
    Consumer(b, "a", "orders", group="billing", service_time=10)
    Consumer(b, "b", "orders", group="billing", service_time=10)
    sub = b.groups["billing"]
    sub.pause("a")
    for i in range(4):
        b.publish("orders", ev(i, key=f"k{i}"))
    sim.run(until=100)
    assert handled(sim, "a") == [] and sorted(handled(sim, "b")) == ["e0", "e1", "e2", "e3"]
    sub.resume("a")
    for i in range(4, 8):
        b.publish("orders", ev(i, key=f"k{i}"))
    sim.run()
    assert handled(sim, "a") and conserved(sub.stats())
    assert [r.kind for r in sim.trace if r.actor == "a"][:3] == ["joined", "paused", "resumed"]


@pytest.mark.parametrize("name", QUEUES)
def test_resume_hands_a_lone_member_what_waited_while_it_was_paused(name):
    """Messages published while the only member was paused wait in the queue; resume() hands them
    over at once, without waiting for another publish."""
    sim = Simulation(0)
    b = Broker(sim, profile=name)
    b.create_topic("orders")
    Consumer(b, "a", "orders", group="billing")
    sub = b.groups["billing"]
    sub.pause("a")
    b.publish("orders", ev(0))
    sim.run(until=50)
    assert sub.stats()["waiting"] == 1 and handled(sim) == []
    sub.resume("a")
    sim.run()
    assert [(r.time, r.event_id) for r in sim.trace.filter(kind="handled")] == [(50, "e0")]
    with pytest.raises(KeyError, match="consumer must name a member of subscription 'billing'"):
        sub.pause("nobody")
    # The same through the consumer itself, as evtlib.faults.pause does it.
    from evtlib import pause

    t0 = sim.now
    pause(sim, b.consumers[0], at=t0 + 10, duration=100)
    b.publish("orders", ev(1))
    sim.schedule(20, b.publish, "orders", ev(2))
    sim.run()
    assert [(r.time - t0, r.event_id) for r in sim.trace.filter(kind="handled")][1:] == [
        (0, "e1"),
        (110, "e2"),  # published at 20, handed over when the consumer resumed at 110
    ]


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("sqs", {"VisibilityTimeout": 1000}),
        ("service-bus", {"LockDuration": 1000}),
    ],
)
def test_what_a_paused_member_holds_keeps_its_clock_running(name, values):
    """Pausing does not stop the broker's clock: a prefetched message's visibility timeout or lock
    runs out while its member is paused, and the message goes to another member, its delivery
    count grown (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html,
    learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement).
    The handling in progress when it paused finishes and is acknowledged."""
    sim = Simulation(0)
    b = Broker(sim, profile=name, settings=values, prefetch=2)
    b.create_topic("orders")
    Consumer(b, "a", "orders", group="billing", service_time=200)
    sub = b.groups["billing"]
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    sim.run(until=100)  # a handles e0 and holds e1 in its buffer
    sub.pause("a")
    Consumer(b, "b", "orders", group="billing", service_time=10)
    sim.run(until=5000)
    assert handled(sim, "a") == ["e0"]  # finished after the pause
    assert handled(sim, "b") == ["e1"]
    [timeout] = sim.trace.filter(kind="timeout")
    assert (timeout.event_id, timeout.time, timeout.actor) == ("e1", 1000, "a")
    [again] = sim.trace.filter(kind="redelivered")
    assert (again.actor, again.detail) == ("b", "attempt 2")
    sub.resume("a")
    sim.run()
    assert conserved(sub.stats()) and sub.stats()["deleted"] == 2


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(("sqs", "sqs-fifo", "service-bus")),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 10),
    services=st.lists(st.integers(1, 300), min_size=1, max_size=3),
    every=st.one_of(st.none(), st.integers(10, 90)),
    extensions=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 200)), max_size=4),
    pause=st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(1, 300))),
    prefetch=st.integers(1, 2),
)
def test_extending_renewing_and_pausing_never_lose_a_message(
    name, seed, n, services, every, extensions, pause, prefetch
):
    """Whatever renewals, hand-made extensions (ChangeMessageVisibility, 0 included;
    RenewMessageLock) and pauses happen, conservation holds at every step and no message is lost:
    each is handled or still in the queue (SEMANTICS.md invariant 8; handlings slower than the
    timeout with nothing to renew them may never finish, as on SQS).  Renewal while handling,
    with nothing else in the way, means no duplicate and every message done."""
    sim = Simulation(seed)
    timeout = {"sqs": "VisibilityTimeout", "sqs-fifo": "VisibilityTimeout"}.get(
        name, "LockDuration"
    )
    b = Broker(sim, profile=name, latency=1, prefetch=prefetch, settings={timeout: 100})
    b.create_topic("orders")
    for k, t in enumerate(services):
        Consumer(b, f"c{k}", "orders", group="billing", service_time=t)
    sub = b.groups["billing"]
    if every is not None:
        sub.renew_locks(every)

    def extend(ms: int) -> None:
        for d in sub.holding():
            sub.extend(d, None if name == "service-bus" else ms)

    for at, ms in extensions:
        sim.schedule(at, extend, ms)
    if pause is not None:
        sim.schedule(pause[0], sub.pause, "c0")
        sim.schedule(pause[0] + pause[1], sub.resume, "c0")
    for i in range(n):
        sim.schedule(i * 5, b.publish, "orders", ev(i, key=f"k{i % 2}"))
    while sim.peek() <= 20_000:
        sim.step()
        assert conserved(sub.stats())
    queued = {e.id for e in sub.waiting() + sub.in_flight()}
    assert set(handled(sim)) | queued == {f"e{i}" for i in range(n)}  # nothing lost
    stats = sub.stats()
    if every is not None and not extensions and pause is None and prefetch == 1:
        # Each handling is renewed for as long as it lasts: no duplicate, all done.
        assert stats["timeouts"] == 0 and stats["ignored_acks"] == 0
        assert stats["deleted"] == n and sim.peek() == float("inf")

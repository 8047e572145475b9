"""Patterns that were written for a log, on the queue family: DLQ, conservation, read models.

Each test runs on every queue profile (rabbitmq, sqs, sqs-fifo, service-bus).  Where a
test models a broker behaviour its docstring cites the broker's documentation.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import handled
from evtlib import Broker, Consumer, Event, ReadModel, Simulation
from evtlib.patterns.dlq import (
    DeadLetterConsumer,
    DeadLetterQueue,
    DeadLetterRecord,
    conservation,
    where_of,
)
from evtlib.patterns.retry import RetryPolicy

QUEUES = ("rabbitmq", "sqs", "sqs-fifo", "service-bus")


def ev(i: int, poison: bool = False) -> Event:
    return Event(id=f"e{i}", type="OrderPlaced", time=0, key=f"k{i % 3}", data={"poison": poison})


def billing(event: Event) -> None:
    if event.data["poison"]:
        raise ValueError(f"cannot bill {event.id}")


def shop(name: str, **settings):
    sim = Simulation(0)
    b = Broker(sim, profile=name, settings=settings or None)
    b.create_topic("orders")
    b.create_topic("orders.dlq")
    return sim, b


@pytest.mark.parametrize("name", QUEUES)
def test_conservation_on_a_queue_counts_each_message_once_mid_run_and_at_the_end(name):
    """published = handled + dead-lettered + in flight + waiting (+ expired), from the
    subscription's own counts, at any moment: while two competing consumers are busy and at
    the end."""
    sim, b = shop(name)
    policy = RetryPolicy(max_attempts=3, backoff="fixed", base=10.0, jitter="none")
    for c in ("b1", "b2"):
        DeadLetterConsumer(b, c, "orders", billing, group="billing", policy=policy, service_time=5)
    for i in range(12):
        sim.schedule(i * 2.0, b.publish, "orders", ev(i, poison=i % 4 == 0))
    sim.run(until=15)
    mid = conservation(b, "billing")
    assert mid.balanced and mid.published > 0 and mid.in_flight + mid.waiting > 0
    sim.run()
    end = conservation(b, "billing")
    assert end.balanced, end
    assert (end.published, end.handled, end.dead_lettered) == (12, 9, 3)
    assert end.in_flight == end.waiting == end.vanished == end.expired == 0


@pytest.mark.parametrize(
    ("name", "settings", "expired", "dead"),
    [
        ("sqs", {"MessageRetentionPeriod": 60_000}, 2, 0),
        ("service-bus", {"DefaultMessageTimeToLive": 60_000}, 2, 0),
        (
            "service-bus",
            {"DefaultMessageTimeToLive": 60_000, "DeadLetteringOnMessageExpiration": True},
            0,
            2,
        ),
        ("rabbitmq", {"x-message-ttl": 60_000}, 0, 2),
    ],
)
def test_conservation_counts_what_a_time_to_live_deleted_or_dead_lettered(
    name, settings, expired, dead
):
    """SQS deletes a message older than MessageRetentionPeriod
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html);
    Service Bus drops an expired message unless dead-lettering on expiration is on
    (learn.microsoft.com/azure/service-bus-messaging/message-expiration); RabbitMQ
    dead-letters it, reason expired (www.rabbitmq.com/docs/ttl).  Either way it is counted."""
    sim, b = shop(name, **settings)
    c = Consumer(b, "billing", "orders", start=False)
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    sim.run(until=120_000)
    c.start()
    b.publish("orders", ev(2))
    sim.run()
    book = conservation(b, "billing")
    assert book.balanced, book
    assert (book.expired, book.dead_lettered, book.handled) == (expired, dead, 1)


@pytest.mark.parametrize("name", QUEUES)
def test_an_at_most_once_failure_on_a_queue_shows_as_vanished(name):
    """Auto-ack deletes a message as it is sent (www.rabbitmq.com/docs/consumers#acknowledgement-modes;
    SQS and Service Bus ReceiveAndDelete): a failed handling leaves nothing behind, and the
    conservation law says so."""
    sim, b = shop(name)

    def fails(event: Event) -> None:
        raise RuntimeError("down")

    Consumer(b, "billing", "orders", fails, delivery="at-most-once")
    b.publish("orders", ev(0))
    sim.run()
    book = conservation(b, "billing")
    assert book.vanished == 1 and not book.balanced


@pytest.mark.parametrize("name", QUEUES)
def test_failures_are_kept_per_message_on_a_queue_which_has_no_offsets(name):
    """Two messages failing at different times keep their own first and last failure (a queue
    delivers offset -1: the consumer keys a message by its event id)."""
    sim, b = shop(name)
    policy = RetryPolicy(max_attempts=3, backoff="fixed", base=100.0, jitter="none")
    c = DeadLetterConsumer(b, "billing", "orders", billing, policy=policy, concurrency=2)
    b.publish("orders", ev(0, poison=True))
    sim.schedule(50, b.publish, "orders", ev(1, poison=True))
    sim.schedule(60, b.publish, "orders", ev(2))
    sim.run()
    records = {r.event.id: r for r in c.dead_letters}
    assert (records["e0"].first_failure, records["e0"].last_failure) == (0, 200)
    assert (records["e1"].first_failure, records["e1"].last_failure) == (50, 250)
    assert records["e0"].offset == -1 and records["e0"].attempts == 3
    assert c.handled_offsets == {("orders", -1, "e2")}


@pytest.mark.parametrize("name", QUEUES)
def test_the_dead_letter_view_lists_the_subscription_s_dead_letters_and_redrives_them_home(name):
    """A queue's dead letters go back to the subscription that failed on them and to no other
    (SQS redrive to the source queue, StartMessageMoveTask:
    docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html),
    at the rate asked, as the same event (id, data)."""
    sim, b = shop(name)
    broken = {"on": True}

    def bill(event: Event) -> None:
        if broken["on"] and event.data["poison"]:
            raise ValueError("bug in billing")

    policy = RetryPolicy(max_attempts=2, backoff="fixed", base=10.0, jitter="none")
    DeadLetterConsumer(b, "billing", "orders", bill, policy=policy)
    Consumer(b, "shipping", "orders")
    for i in range(4):
        b.publish("orders", ev(i, poison=i % 2 == 1))
    sim.run()
    view = DeadLetterQueue(b, "orders.dlq")
    assert [r.event.id for r in view.list()] == ["e1", "e3"] and len(view) == 2
    assert all(isinstance(r, DeadLetterRecord) and r.group == "billing" for r in view.list())
    assert view.count_by("reason") == {"failed": 2}
    with pytest.raises(ValueError, match="to must be None .* source queue"):
        view.redrive(to="orders")
    broken["on"] = False
    plan = view.redrive(rate=10)
    assert [(s.time - plan[0].time, s.event_id) for s in plan] == [(0, "e1"), (100, "e3")]
    assert view.pending() == []
    sim.run()
    assert handled(sim, "billing") == ["e0", "e2", "e1", "e3"]
    assert handled(sim, "shipping") == ["e0", "e1", "e2", "e3"]  # nothing twice
    assert view.list() == [] and b.groups["billing"].stats()["redriven"] == 2
    assert conservation(b, "billing").balanced
    redriven = sim.trace.filter(kind="redriven")
    assert [(r.event_id, r.actor) for r in redriven] == [
        ("e1", "redrive:orders.dlq"),
        ("e3", "redrive:orders.dlq"),
    ]


@pytest.mark.parametrize(
    ("name", "settings", "reason", "error_type"),
    [
        ("rabbitmq", {"x-delivery-limit": 1}, "failed", "delivery_limit"),
        ("sqs", {"maxReceiveCount": 2}, "failed", "maxReceiveCount"),
        ("sqs-fifo", {"maxReceiveCount": 2}, "failed", "maxReceiveCount"),
        ("service-bus", {"MaxDeliveryCount": 2}, "failed", "MaxDeliveryCountExceeded"),
    ],
)
def test_what_the_broker_dead_lettered_itself_is_listed_with_the_broker_s_reason(
    name, settings, reason, error_type
):
    """A message the broker moved after its own limit (RabbitMQ x-delivery-limit, SQS
    maxReceiveCount, Service Bus MaxDeliveryCount) is in the same dead-letter queue, its record
    built from what the broker knows (the reason and the delivery count), as RabbitMQ's x-death
    header gives them (www.rabbitmq.com/docs/dlx)."""
    sim, b = shop(name, **settings)
    # The consumer would try 5 times; the broker's limit comes first.
    policy = RetryPolicy(max_attempts=5, backoff="fixed", base=10.0, jitter="none")
    DeadLetterConsumer(b, "billing", "orders", billing, policy=policy)
    b.publish("orders", ev(0, poison=True))
    sim.run()
    [record] = DeadLetterQueue(b, "orders.dlq").list()
    assert (record.reason, record.attempts, record.offset) == (reason, 2, -1)
    assert record.error_type == error_type and record.consumer == "broker"
    assert record.event == ev(0, poison=True)


def test_where_of_names_an_offset_on_a_log_and_the_event_id_on_a_queue():
    """The key of a message's failures: its offset where there is one, its event id where not."""
    from evtlib import Delivery

    e = ev(0)
    assert where_of(Delivery(e, "orders", 2, 7, 1, "g", "c", 0.0)) == ("orders", 2, 7)
    assert where_of(Delivery(e, "orders", 0, -1, 1, "g", "c", 0.0)) == ("orders", -1, "e0")


def test_a_subscription_has_one_dead_letter_queue():
    """Two members of one subscription naming different dead-letter topics is a clear error."""
    sim, b = shop("sqs")
    b.create_topic("other.dlq")
    DeadLetterConsumer(b, "b1", "orders", billing, group="billing")
    with pytest.raises(ValueError, match="dlq must be 'orders.dlq' for subscription 'billing'"):
        DeadLetterConsumer(b, "b2", "orders", billing, group="billing", dlq="other.dlq")


@pytest.mark.parametrize("name", QUEUES)
def test_a_read_model_on_a_queue_is_caught_up_only_with_nothing_waiting_or_in_flight(name):
    """A queue has no offsets: caught up means the subscription's queue is empty and no member
    holds a message (one being handled, or held for a retry)."""
    sim, b = shop(name)
    fails = {"e1": 1}

    def fold(state: dict, event: Event) -> dict:
        if fails.get(event.id):
            fails[event.id] -= 1
            raise RuntimeError("database busy")
        return {**state, event.id: True}

    rm = ReadModel(b, "view", "orders", fold, service_time=10, retry_delay=50)
    assert rm.caught_up()
    b.publish("orders", ev(0))
    b.publish("orders", ev(1))
    assert not rm.caught_up()  # waiting
    sim.run(until=5)
    assert not rm.caught_up()  # e0 in flight
    sim.run(until=25)
    assert b.groups["view"].stats()["waiting"] == 0 and not rm.caught_up()  # e1 held to retry
    sim.run()
    assert rm.caught_up() and rm.state == {"e0": True, "e1": True}


def test_a_read_model_on_a_queue_folds_a_redelivered_message_again():
    """A queue has no offsets to tell a redelivery from a new message: a handling slower than the
    SQS visibility timeout is delivered again and folded again
    (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html),
    and as every handling is too slow, again and again (until a redrive policy's
    maxReceiveCount or the retention period ends it); an idempotent fold does not mind."""
    sim, b = shop("sqs", VisibilityTimeout=100)
    counted = ReadModel(
        b, "count", "orders", lambda s, e: {**s, "n": s.get("n", 0) + 1}, service_time=150
    )
    seen = ReadModel(b, "seen", "orders", lambda s, e: {**s, e.id: True}, service_time=150)
    b.publish("orders", ev(0))
    sim.run(until=400)  # handled at 150 and at 300; each time its ack came too late
    assert counted.state == {"n": 2} and counted.applied == 2
    assert seen.state == {"e0": True} and seen.applied == 2
    assert not counted.caught_up()  # it will be delivered again: every handling is too slow


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(QUEUES),
    poison=st.sets(st.integers(0, 9), max_size=6),
    n=st.integers(1, 10),
    members=st.integers(1, 3),
    rate=st.sampled_from((1.0, 10.0, 1000.0)),
)
def test_redrive_to_the_failing_subscription_ends_as_a_first_time_success(
    name, poison, n, members, rate
):
    """SEMANTICS.md invariant 9 on every queue profile: dead letters redriven to their own
    subscription once the cause is fixed leave billing with every event exactly once (same ids,
    same content), shipping (another subscription) with each exactly once, nothing in any queue,
    and the conservation law balanced."""
    sim, b = shop(name)
    fixed = {"yes": False}
    billed: list[Event] = []

    def bill(event: Event) -> None:
        if event.data["poison"] and not fixed["yes"]:
            raise ValueError("bug")
        if event.id not in {e.id for e in billed}:  # idempotent by event id
            billed.append(event)

    policy = RetryPolicy(max_attempts=2, backoff="fixed", base=5.0, jitter="none")
    for k in range(members):
        DeadLetterConsumer(b, f"b{k}", "orders", bill, group="billing", policy=policy)
    Consumer(b, "shipping", "orders")
    events = [ev(i, poison=i in poison) for i in range(n)]
    for e in events:
        b.publish("orders", e)
    sim.run()
    view = DeadLetterQueue(b, "orders.dlq")
    assert sorted(r.event.id for r in view.list()) == sorted(
        e.id for e in events if e.data["poison"]
    )
    fixed["yes"] = True
    view.redrive(rate=rate)
    sim.run()
    assert sorted(e.id for e in billed) == sorted(e.id for e in events)
    assert all(e in events for e in billed)  # content unchanged through DLQ and redrive
    assert sorted(handled(sim, "shipping")) == sorted(e.id for e in events)
    book = conservation(b, "billing")
    assert book.balanced and book.dead_lettered == book.waiting == book.in_flight == 0
    assert view.list() == []

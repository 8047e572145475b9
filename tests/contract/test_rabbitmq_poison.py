"""RabbitMQ only: messages that are not events never stop a run.

Another client may publish anything to a topic's exchange.  Each bad shape
below is published with plain pika; the consumer must move it aside (the
queue's dead-letter exchange, else the topic's quarantine queue), trace it,
count it, and go on with the next message.
"""

from __future__ import annotations

import pytest

from evtlib import Consumer, Producer
from evtlib.patterns import DeadLetterConsumer, RetryPolicy

from .conftest import Backend, require_rabbitmq

pika = pytest.importorskip("pika")
rabbitmq = pytest.importorskip("evtlib.adapters.rabbitmq")

GOOD = {"message_id": "raw-1", "type": "OrderPlaced", "content_type": "application/json"}

#: name -> (body, properties, the problem decode reports)
BAD_SHAPES = {
    "not-utf8": (b'{"total": "\xff\xfe"}', GOOD, "not-utf8"),
    "not-json": (b'{"total": 30', GOOD, "not-json"),
    "not-an-object": (b"[30, 12]", GOOD, "not-an-object"),
    "no-message-id": (b'{"total": 30}', {**GOOD, "message_id": None}, "missing-property"),
    "no-type": (b'{"total": 30}', {**GOOD, "type": None}, "missing-property"),
    "key-not-a-str": (b'{"total": 30}', {**GOOD, "headers": {"key": 42}}, "bad-header"),
    "time-not-a-number": (b'{"total": 30}', {**GOOD, "headers": {"time-ms": "soon"}}, "bad-header"),
    "version-zero": (b'{"total": 30}', {**GOOD, "headers": {"version": 0}}, "bad-event"),
}


@pytest.fixture
def rabbit(request):
    require_rabbitmq()
    b = Backend("rabbitmq", request.node.originalname.replace("_", "-"))
    try:
        yield b
    finally:
        b.close()


def publish_raw(exchange: str, body: bytes, props: dict, routing_key: str = "0") -> None:
    """Publish one message with plain pika, as a client that is not evtlib would."""
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.resolve_url()))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish(exchange, routing_key, body, pika.BasicProperties(**props), mandatory=True)
    finally:
        conn.close()


def take_all(queue: str) -> list[tuple]:
    """Every message now in ``queue`` (acked: the test is done with them)."""
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.resolve_url()))
    got = []
    try:
        ch = conn.channel()
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return got
            got.append((props, body))
    finally:
        conn.close()


@pytest.mark.parametrize("shape", sorted(BAD_SHAPES))
def test_decode_names_what_is_wrong(shape):
    """Each bad shape raises UndecodableMessage with its problem (no broker needed)."""
    body, props, problem = BAD_SHAPES[shape]
    with pytest.raises(rabbitmq.UndecodableMessage) as info:
        rabbitmq.decode(pika.BasicProperties(**props), body)
    assert info.value.problem == problem
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("shape", sorted(BAD_SHAPES))
def test_a_message_that_is_not_an_event_is_quarantined_and_the_consumer_goes_on(rabbit, shape):
    """No dead-letter exchange: the message moves to <topic>.quarantine; the next event is handled."""
    body, props, problem = BAD_SHAPES[shape]
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders)
    got = []
    Consumer(broker, "billing", orders, got.append)
    publish_raw(orders, body, props)
    good = Producer(broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    rabbit.wait(lambda: len(got) == 1)
    assert got == [good]
    group = broker.groups["billing"]
    assert group.stats()["undecodable"] == 1
    (record,) = broker.sim.trace.filter(kind="undecodable")
    assert record.actor == "billing" and record.topic == orders and record.partition == 0
    assert record.event_id == props["message_id"]
    assert f"queue {orders}.billing.0" in record.detail
    assert f"moved to the queue {orders}.quarantine" in record.detail
    assert broker.queue_depth(f"{orders}.billing.0") == 0
    ((kept, kept_body),) = take_all(rabbitmq.quarantine_name(orders))
    assert kept_body == body  # unchanged
    assert kept.headers["x-evtlib-problem"] == problem
    assert kept.headers["x-evtlib-queue"] == f"{orders}.billing.0"
    assert kept.headers["x-evtlib-error"] in record.detail


def test_with_a_dead_letter_exchange_it_is_rejected_there_and_listed_apart(rabbit):
    """A DeadLetterConsumer's queue rejects it to the dlq topic's store; list() skips it."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    dlq = f"{orders}.dlq"
    broker.create_topic(orders)
    broker.create_topic(dlq)
    got = []
    policy = RetryPolicy(max_attempts=2, backoff="fixed", base=10.0, jitter="none")
    consumer = DeadLetterConsumer(broker, "billing", orders, got.append, dlq=dlq, policy=policy)
    publish_raw(orders, b"\xff not utf-8", GOOD)
    good = Producer(broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    view = broker.dead_letter_queue(dlq)
    rabbit.wait(lambda: len(got) == 1 and len(view) == 1)
    assert got == [good] and consumer.dead_letters == []
    assert view.list() == []
    (entry,) = view.undecodable()
    assert entry["message_id"] == "raw-1" and entry["problem"] == "not-utf8"
    assert entry["queue"] == f"{orders}.billing.0"
    assert view.redrive(rate=100.0) == []  # nothing to redrive: it is not an event
    rabbit.wait(lambda: len(view) == 1)  # given back to the store
    (record,) = broker.sim.trace.filter(kind="undecodable")
    assert f"rejected to the dead-letter exchange {dlq}" in record.detail
    assert broker.groups["billing"].stats()["undecodable"] == 1


def test_an_auto_acked_bad_message_is_quarantined_too(rabbit):
    """At-most-once: the message was acked on delivery; a copy still goes to quarantine."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders)
    got = []
    Consumer(broker, "audit", orders, got.append, delivery="at-most-once")
    publish_raw(orders, b"[]", GOOD)
    Producer(broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    rabbit.wait(lambda: len(got) == 1)
    ((kept, _),) = take_all(rabbitmq.quarantine_name(orders))
    assert kept.headers["x-evtlib-problem"] == "not-an-object"
    assert broker.groups["audit"].stats()["undecodable"] == 1

"""RabbitMQ only: the wire format, secrets kept out of sight, and a dropped connection."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest

from evtlib import Consumer, Event, Producer

from .conftest import Backend, require_rabbitmq

pika = pytest.importorskip("pika")
rabbitmq = pytest.importorskip("evtlib.adapters.rabbitmq")


@pytest.fixture
def rabbit(request):
    require_rabbitmq()
    b = Backend("rabbitmq", request.node.name.replace("_", "-"))
    try:
        yield b
    finally:
        b.close()


def test_redact_hides_the_password_and_keeps_the_rest():
    """The URL shown anywhere has *** for its password."""
    assert rabbitmq.redact("amqps://shop:s3cr%40t@mq.example:5671/prod") == (
        "amqps://shop:***@mq.example:5671/prod"
    )
    assert rabbitmq.redact("amqp://localhost") == "amqp://localhost"


def test_a_url_that_is_not_amqp_is_refused_without_showing_the_password():
    """A wrong scheme raises ValueError naming the redacted URL."""
    with pytest.raises(ValueError, match=r"amqp:// or amqps://") as info:
        rabbitmq.resolve_url("http://shop:hunter2@localhost/")
    assert "hunter2" not in str(info.value)


def test_the_url_comes_from_the_environment_when_not_given(monkeypatch):
    """EVTLIB_RABBITMQ_URL is read when no URL is passed."""
    monkeypatch.setenv(rabbitmq.URL_ENV, "amqp://a:b@mq:5672/x")
    assert rabbitmq.resolve_url() == "amqp://a:b@mq:5672/x"
    assert rabbitmq.resolve_url("amqp://other") == "amqp://other"


def test_an_event_survives_the_wire_unchanged():
    """encode then decode gives the same event, every field included."""
    e = Event(
        id="evt-7",
        type="OrderPlaced",
        time=1234.5,
        source="shop",
        key="order-7",
        data={"total": 30, "items": [1, 2]},
        correlation_id="evt-1",
        causation_id="evt-6",
        version=2,
    )
    body, props = rabbitmq.encode(e)
    assert json.loads(body) == {"items": [1, 2], "total": 30}
    assert (props.message_id, props.type, props.correlation_id) == ("evt-7", "OrderPlaced", "evt-1")
    assert props.content_type == "application/json" and props.delivery_mode == 2
    assert rabbitmq.decode(props, body) == e


def test_a_wrong_password_never_appears_in_the_error_or_the_logs(rabbit, caplog):
    """Connecting with a bad password fails with a message and logs free of the secret."""
    caplog.set_level(logging.DEBUG)
    url = "amqp://guest:Sup3rS3cret@localhost:5672/%2F"
    with pytest.raises(rabbitmq.BrokerUnavailable) as info:
        rabbitmq.RabbitBroker(url, sim=rabbitmq.RealTime())
    assert "Sup3rS3cret" not in str(info.value)
    assert "guest:***@localhost" in str(info.value)
    assert "Sup3rS3cret" not in caplog.text
    assert "Sup3rS3cret" not in repr(rabbit.broker)


def test_any_amqp_client_can_read_and_write_the_events(rabbit):
    """Plain pika reads what a Producer sent, and a Consumer reads what plain pika sent."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders)
    got = []
    Consumer(broker, "billing", orders, got.append)
    sent = Producer(broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    rabbit.wait(lambda: len(got) == 1)
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.resolve_url()))
    try:
        ch = conn.channel()
        ch.queue_declare("", exclusive=True)
        spy = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(spy, orders, routing_key="0")
        broker.publish(orders, sent)
        rabbit.wait(lambda: len(got) == 2)
        method, props, body = ch.basic_get(spy, auto_ack=True)
        assert (props.message_id, props.type, props.app_id) == (sent.id, "OrderPlaced", "shop")
        assert props.headers["key"] == "order-1" and json.loads(body) == {"total": 30}
        ch.basic_publish(
            orders,
            "0",
            b'{"total": 12}',
            pika.BasicProperties(
                message_id="other-1", type="OrderPlaced", content_type="application/json"
            ),
        )
        rabbit.wait(lambda: len(got) == 3)
    finally:
        conn.close()
    assert got[2].id == "other-1" and got[2].data == {"total": 12} and got[2].key is None


def test_a_connection_closed_by_the_server_mid_stream_loses_nothing(rabbit, rabbitmqctl):
    """rabbitmqctl close_all_connections: the consumer reconnects and every event arrives."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders, partitions=2)
    got: list[str] = []

    def handle(event):
        got.append(event.id)
        if len(got) == 40:
            subprocess.run(
                ["rabbitmqctl", "close_all_connections", "evtlib test: dropped on purpose"],
                check=True,
                capture_output=True,
                timeout=60,
            )

    Consumer(broker, "billing", orders, handle)
    shop = Producer(broker, "shop", orders)
    sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100)]
    rabbit.wait(lambda: broker.reconnects >= 1, timeout=60_000)
    sent += [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100, 150)]
    rabbit.wait(lambda: set(sent) <= set(got), timeout=60_000)
    assert broker.reconnects >= 1
    assert set(got) == set(sent)  # nothing lost; an unacked one may come twice
    assert len(got) - len(set(got)) <= 2


CLOSED_PORT_URL = "amqp://guest:guest@localhost:1/%2F"  # nothing listens: refused at once


def test_connection_attempts_wait_with_full_jitter_and_a_cap():
    """Between attempts the waits are the course's RetryPolicy: random in [0, capped bound], seeded."""
    from evtlib.patterns import RetryPolicy

    policy = RetryPolicy(max_attempts=12, backoff="exponential", base=2.0, cap=16.0, jitter="full")

    def attempt(seed):
        waits: list[float] = []
        with pytest.raises(rabbitmq.BrokerUnavailable, match=r"after 12 attempt\(s\)"):
            rabbitmq.connection.connect(
                CLOSED_PORT_URL,
                timeout=60_000,
                backoff=policy,
                rng=rabbitmq.RealTime(seed).rng_for("broker/reconnect"),
                waits=waits,
            )
        return waits

    waits = attempt(seed=1)
    bounds = [policy.backoff_for(n) for n in range(1, 12)]
    assert len(waits) == 11
    assert all(
        0 <= w <= b for w, b in zip(waits, bounds, strict=True)
    )  # capped: never above the bound
    assert max(bounds) == 16.0 and max(waits) <= 16.0
    assert waits != bounds and len(set(waits)) == len(waits)  # jittered: not the plain doubling
    assert attempt(seed=1) == waits  # the same seed, the same waits
    assert attempt(seed=2) != waits


def test_the_first_connection_retries_then_says_why_without_the_password():
    """RabbitBroker keeps trying for connect_timeout ms, then BrokerUnavailable with the URL redacted."""
    from evtlib.patterns import RetryPolicy

    policy = RetryPolicy(max_attempts=50, backoff="exponential", base=5.0, cap=20.0, jitter="full")
    sim = rabbitmq.RealTime(seed=3)
    with pytest.raises(rabbitmq.BrokerUnavailable) as info:
        rabbitmq.RabbitBroker(CLOSED_PORT_URL, sim=sim, backoff=policy, connect_timeout=150.0)
    message = str(info.value)
    assert "guest:***@localhost:1" in message and "guest:guest" not in message
    tries = int(message.split(" after ")[1].split(" ")[0])
    assert 2 <= tries < 50  # retried, and stopped by the timeout, not by max_attempts


def test_an_event_no_queue_is_bound_for_is_an_error_the_producer_sees(rabbit):
    """Published with mandatory: no group reads the topic yet, so RabbitMQ returns it: Unroutable."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders, partitions=2)
    shop = Producer(broker, "shop", orders)
    p = broker.topic(orders).partition_of_peek("order-1")
    with pytest.raises(rabbitmq.Unroutable, match=rf"partition {p} of topic '{orders}'"):
        shop.emit("OrderPlaced", "order-1", {"total": 30})
    assert isinstance(rabbitmq.Unroutable("x"), rabbitmq.PublishError)
    got = []
    Consumer(broker, "billing", orders, got.append)  # now a queue is bound for every partition
    sent = shop.emit("OrderPlaced", "order-1", {"total": 30})
    rabbit.wait(lambda: got == [sent])


def _watermark(value: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "set_vm_memory_high_watermark", value],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_memory_alarm_blocks_the_publisher_until_it_clears(rabbit, rabbitmqctl):
    """connection.blocked: the publish waits (traced blocked, then unblocked) and the event arrives."""
    import threading

    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders)
    got = []
    Consumer(broker, "billing", orders, got.append)
    shop = Producer(broker, "shop", orders)
    first = shop.emit("OrderPlaced", "order-1", {"total": 30})
    cleared: list[bool] = []
    clear = threading.Timer(1.0, lambda: (_watermark("0.4"), cleared.append(True)))
    try:
        _watermark("0.0000001")  # every node is now over its memory watermark: an alarm
        clear.start()
        second = shop.emit("OrderPlaced", "order-2", {"total": 12})  # waits for the alarm to clear
    finally:
        clear.cancel()
        clear.join()
        if not cleared:
            _watermark("0.4")  # RabbitMQ's default
    rabbit.wait(lambda: got == [first, second])
    (blocked,) = broker.sim.trace.filter(kind="blocked")
    (unblocked,) = broker.sim.trace.filter(kind="unblocked")
    assert (blocked.actor, blocked.event_id, blocked.topic) == ("shop", second.id, orders)
    assert "RabbitMQ blocked publishing" in blocked.detail
    assert unblocked.event_id == second.id and unblocked.time - blocked.time >= 500
    assert broker.publisher.blocks == 1 and broker.publisher.blocked is None


def test_the_backend_satisfies_the_core_protocols(rabbit):
    """RabbitBroker, its groups and topics, and RealTime are what the core's protocols describe."""
    from evtlib.protocols import BrokerBackend, GroupBackend, Runner, TopicBackend

    broker = rabbit.broker
    orders = rabbit.name("orders")
    topic = broker.create_topic(orders)
    assert isinstance(broker, BrokerBackend)
    assert isinstance(topic, TopicBackend)
    assert isinstance(broker.group("billing"), GroupBackend)
    assert isinstance(broker.sim, Runner)
    assert not hasattr(topic.partitions[0], "log")  # no fake log: queues keep none


def test_a_node_restart_mid_stream_loses_nothing(rabbit, rabbitmqctl):
    """rabbitmqctl stop_app / start_app: both connections come back (jittered, capped waits), nothing is lost."""
    import threading

    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders, partitions=2)
    got: list[str] = []
    restarter: list[threading.Thread] = []

    def ctl(command: str) -> None:
        subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)

    def handle(event):
        got.append(event.id)
        if len(got) == 40:
            ctl("stop_app")  # every connection drops; queues and confirmed messages stay on disk
            restarter.append(threading.Thread(target=ctl, args=("start_app",)))
            restarter[0].start()  # comes back while the broker is reconnecting

    Consumer(broker, "billing", orders, handle)
    shop = Producer(broker, "shop", orders)
    try:
        sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100)]
        rabbit.wait(lambda: broker.reconnects >= 1, timeout=60_000)
        sent += [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100, 150)]
        rabbit.wait(lambda: set(sent) <= set(got), timeout=60_000)
    finally:
        for t in restarter:
            t.join()
        if not restarter:
            ctl("start_app")  # never leave the node stopped
    assert set(got) == set(sent)  # nothing lost
    assert len(got) - len(set(got)) <= broker.prefetch * 2  # an unacked delivery may come twice
    assert broker.publisher.connection.reconnects >= 1
    waits = broker.connection.waits + broker.publisher.connection.waits
    assert all(0 <= w <= broker.connection.backoff.cap for w in waits)  # capped, jittered
    assert len(broker.sim.trace.filter(kind="reconnected")) >= 2  # both connections


def test_reachable_answers_why_not_after_one_attempt():
    """reachable() returns the reason (no exception, one attempt, no waiting) when nothing listens."""
    problem = rabbitmq.reachable(CLOSED_PORT_URL)
    assert isinstance(problem, str) and "after 1 attempt(s)" in problem
    assert "guest:***@localhost:1" in problem


def test_a_group_asked_again_with_other_settings_is_refused(rabbit):
    """As on the simulated broker: one start per group; session_timeout must be 0 here."""
    broker = rabbit.broker
    group = broker.group("billing", start="latest")
    assert broker.group("billing") is group and broker.group("billing", start="latest") is group
    with pytest.raises(ValueError, match=r"start must be 'latest'.*got 'earliest'"):
        broker.group("billing", start="earliest")
    with pytest.raises(ValueError, match=r"session_timeout must be 0 on RabbitMQ"):
        broker.group("shipping", session_timeout=5000)


def test_batched_acks_never_cover_a_delivery_held_for_a_retry():
    """prefetch 10, two partitions on one channel: a failing event is retried, not acked away."""
    require_rabbitmq()
    import secrets

    sim = rabbitmq.RealTime(seed=0)
    broker = rabbitmq.RabbitBroker(sim=sim, prefetch=10)
    orders = f"batched-{secrets.token_hex(3)}"
    tries: dict[str, int] = {}

    def handle(event):
        tries[event.id] = tries.get(event.id, 0) + 1
        if event.data["n"] == 7 and tries[event.id] < 3:
            raise ValueError("not yet")

    try:
        broker.create_topic(orders, partitions=2)
        Consumer(broker, "billing", orders, handle, retry_delay=30.0)
        shop = Producer(broker, "shop", orders)
        sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(40)]
        sim.run_until(lambda: set(sent) <= set(tries) and max(tries.values()) >= 3)
        sim.run(until=sim.now + 300)
        assert sorted(tries) == sorted(sent)
        assert tries[sent[7]] == 3  # delivered again after each failure
        assert all(n == 1 for i, n in tries.items() if i != sent[7])  # the rest once
        assert broker.groups["billing"].lag() == 0
    finally:
        broker.delete_all()
        broker.close()


def test_a_publish_the_broker_refuses_is_an_error_not_an_endless_retry(rabbit):
    """The topic's exchange was deleted by someone else: PublishError naming it, and no reconnect."""
    broker = rabbit.broker
    orders = rabbit.name("orders")
    broker.create_topic(orders)
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.resolve_url()))
    try:
        conn.channel().exchange_delete(orders)
    finally:
        conn.close()
    with pytest.raises(rabbitmq.PublishError, match=rf"to '{orders}'.*NOT_FOUND"):
        broker.publish(orders, Event(id="e-1", type="OrderPlaced", time=0.0))
    assert broker.publisher.connection.reconnects == 0

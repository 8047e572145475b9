"""RabbitMQ benchmark: the evtlib backend against plain pika, on the same broker, in one run.

Publish: 10,000 events, one at a time with publisher confirms, persistent,
to a topic with one partition (one durable quorum queue).  Consume: the same
10,000 with manual acks, prefetch 100.  Each direction is measured through
:class:`~evtlib.adapters.rabbitmq.RabbitBroker` (a Producer, then a
Consumer) and through plain pika written by hand: the same queue (quorum,
single active consumer) and the same message (JSON body, properties and
headers, as a developer would send them without evtlib), alternating who
goes first, and the median of ``--repeat`` rounds is kept.

The backend acknowledges in batches (one ``basic.ack`` with ``multiple``
per batch of I/O, never past a delivery held for a retry); the plain pika
consumer acks each message, as most hand-written consumers do.

The streams rows do the same on the log family: a topic with one partition
as a stream (``RabbitBroker(profile="kafka")``), consumed by a group from
``earliest`` (each handled event commits its offset, the default
``commit_every=1``; plain pika tracks no offsets), against plain pika
publishing to a stream and reading it with ``x-stream-offset: first``.

Prints one JSON line: ``{"publish_ratio": ..., "consume_ratio": ...,
"streams_publish_ratio": ..., "streams_consume_ratio": ...}`` (the
backend's rate over plain pika's; 1.0 means as fast), plus the rates.
Needs a running RabbitMQ (``$EVTLIB_RABBITMQ_URL`` or localhost).  A
benchmark, not a test: nothing asserts on the numbers.

Usage: ``python benchmarks/rabbitmq.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time

import pika

from evtlib import Consumer, Producer
from evtlib.adapters.rabbitmq import RabbitBroker, RealTime, resolve_url

PREFETCH = 100


def backend_round(url: str, n: int) -> tuple[float, float]:
    """Events per second through the backend: (publish, consume)."""
    sim = RealTime(trace=False)
    broker = RabbitBroker(url, sim=sim, prefetch=PREFETCH)
    topic = f"bench-{secrets.token_hex(4)}"
    try:
        broker.create_topic(topic)
        got = [0]

        def handle(event):
            got[0] += 1

        consumer = Consumer(broker, "reader", topic, handle, start=False)
        broker.group("reader").declare(consumer)  # the queue exists before publishing
        shop = Producer(broker, "shop", topic)
        t0 = time.perf_counter()
        for i in range(n):
            shop.emit("OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "total": i % 90})
        publish = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        consumer.start()
        sim.run_until(lambda: got[0] >= n, timeout=600_000)
        consume = n / (time.perf_counter() - t0)
        return publish, consume
    finally:
        broker.delete_all()
        broker.close()


def streams_backend_round(url: str, n: int) -> tuple[float, float]:
    """Events per second through the backend on a stream: (publish, consume)."""
    sim = RealTime(trace=False)
    broker = RabbitBroker(url, sim=sim, profile="kafka")
    topic = f"bench-{secrets.token_hex(4)}"
    try:
        broker.create_topic(topic)
        got = [0]

        def handle(event):
            got[0] += 1

        shop = Producer(broker, "shop", topic)
        t0 = time.perf_counter()
        for i in range(n):
            shop.emit("OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "total": i % 90})
        publish = n / (time.perf_counter() - t0)
        broker.group("reader", start="earliest")
        t0 = time.perf_counter()
        Consumer(broker, "reader", topic, handle)
        sim.run_until(lambda: got[0] >= n, timeout=600_000)
        consume = n / (time.perf_counter() - t0)
        return publish, consume
    finally:
        broker.delete_all()
        broker.close()


def _message(i: int) -> tuple[bytes, pika.BasicProperties]:
    body = json.dumps({"order_id": f"order-{i}", "total": i % 90}).encode()
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=f"evt-{i + 1:06d}",
        type="OrderPlaced",
        timestamp=int(time.time()),
        correlation_id=f"evt-{i + 1:06d}",
        app_id="shop",
        headers={"time-ms": repr(time.time() * 1000.0), "version": 1, "key": f"order-{i}"},
    )
    return body, props


def streams_pika_round(url: str, n: int) -> tuple[float, float]:
    """Events per second through plain pika on a stream: (publish, consume)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    exchange = f"bench-{secrets.token_hex(4)}"
    stream = f"{exchange}.0"
    try:
        ch.exchange_declare(exchange, "direct", durable=True)
        ch.queue_declare(stream, durable=True, arguments={"x-queue-type": "stream"})
        ch.queue_bind(stream, exchange, routing_key="0")
        t0 = time.perf_counter()
        for i in range(n):
            body, props = _message(i)
            ch.basic_publish(exchange, "0", body, props)
        publish = n / (time.perf_counter() - t0)
        got = [0]

        def on_message(channel, method, props, body):
            json.loads(body)
            got[0] += 1
            channel.basic_ack(method.delivery_tag)

        t0 = time.perf_counter()
        sub = conn.channel()
        sub.basic_qos(prefetch_count=PREFETCH)
        sub.basic_consume(stream, on_message, arguments={"x-stream-offset": "first"})
        while got[0] < n:
            conn.process_data_events(time_limit=0.01)
        consume = n / (time.perf_counter() - t0)
        return publish, consume
    finally:
        ch.queue_delete(stream)
        ch.exchange_delete(exchange)
        conn.close()


def pika_round(url: str, n: int) -> tuple[float, float]:
    """Events per second through plain pika: (publish, consume)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    exchange = f"bench-{secrets.token_hex(4)}"
    queue = f"{exchange}.reader.0"
    try:
        ch.exchange_declare(exchange, "direct", durable=True)
        # The same queue the backend declares for a partition: quorum, single active consumer.
        args = {"x-queue-type": "quorum", "x-single-active-consumer": True}
        ch.queue_declare(queue, durable=True, arguments=args)
        ch.queue_bind(queue, exchange, routing_key="0")
        t0 = time.perf_counter()
        for i in range(n):
            body = json.dumps({"order_id": f"order-{i}", "total": i % 90}).encode()
            props = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=2,
                message_id=f"evt-{i + 1:06d}",
                type="OrderPlaced",
                timestamp=int(time.time()),
                correlation_id=f"evt-{i + 1:06d}",
                app_id="shop",
                headers={"time-ms": repr(time.time() * 1000.0), "version": 1, "key": f"order-{i}"},
            )
            ch.basic_publish(exchange, "0", body, props)
        publish = n / (time.perf_counter() - t0)
        got = [0]

        def on_message(channel, method, props, body):
            json.loads(body)
            got[0] += 1
            channel.basic_ack(method.delivery_tag)

        t0 = time.perf_counter()
        sub = conn.channel()
        sub.basic_qos(prefetch_count=PREFETCH)
        sub.basic_consume(queue, on_message)
        while got[0] < n:
            conn.process_data_events(time_limit=0.01)
        consume = n / (time.perf_counter() - t0)
        return publish, consume
    finally:
        ch.queue_delete(queue)
        ch.exchange_delete(exchange)
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = resolve_url()
    ours, theirs, ours_s, theirs_s = [], [], [], []
    for i in range(args.repeat):
        # Alternate who goes first, so neither always runs on a broker still busy with the other.
        if i % 2 == 0:
            theirs.append(pika_round(url, args.events))
            ours.append(backend_round(url, args.events))
            theirs_s.append(streams_pika_round(url, args.events))
            ours_s.append(streams_backend_round(url, args.events))
        else:
            ours.append(backend_round(url, args.events))
            theirs.append(pika_round(url, args.events))
            ours_s.append(streams_backend_round(url, args.events))
            theirs_s.append(streams_pika_round(url, args.events))
    pub = statistics.median(r[0] for r in ours)
    con = statistics.median(r[1] for r in ours)
    pub0 = statistics.median(r[0] for r in theirs)
    con0 = statistics.median(r[1] for r in theirs)
    spub = statistics.median(r[0] for r in ours_s)
    scon = statistics.median(r[1] for r in ours_s)
    spub0 = statistics.median(r[0] for r in theirs_s)
    scon0 = statistics.median(r[1] for r in theirs_s)
    print(
        json.dumps(
            {
                "publish_ratio": round(pub / pub0, 2),
                "consume_ratio": round(con / con0, 2),
                "backend_publish_per_s": round(pub),
                "pika_publish_per_s": round(pub0),
                "backend_consume_per_s": round(con),
                "pika_consume_per_s": round(con0),
                "streams_publish_ratio": round(spub / spub0, 2),
                "streams_consume_ratio": round(scon / scon0, 2),
                "streams_backend_publish_per_s": round(spub),
                "streams_pika_publish_per_s": round(spub0),
                "streams_backend_consume_per_s": round(scon),
                "streams_pika_consume_per_s": round(scon0),
                "events": args.events,
            }
        )
    )


if __name__ == "__main__":
    main()

"""The log contract: replay, a late group reading history, resuming at the committed offset.

Run on the simulated broker (the log family, profile "kafka") and on
RabbitMQ streams (``RabbitBroker(profile="kafka")``: one stream per
partition, offsets that are the stream's own, committed offsets stored
durably).
"""

from __future__ import annotations

import secrets
import subprocess
from collections import defaultdict

import pytest

from evtlib import Consumer, Producer

from .conftest import require_rabbitmq


def test_a_late_group_with_earliest_reads_the_history_and_latest_only_what_follows(log_backend):
    """A log keeps what was published: 'earliest' reads it all, 'latest' only what comes after."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders, partitions=2)
    shop = Producer(broker, "shop", orders)
    before = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(6)]
    history: list[str] = []
    broker.group("audit", start="earliest")
    Consumer(broker, "auditor", orders, lambda e: history.append(e.id), group="audit")
    log_backend.wait(lambda: len(history) == 6)
    tail: list[str] = []
    broker.group("tail", start="latest")
    Consumer(broker, "tailer", orders, lambda e: tail.append(e.id), group="tail")
    after = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(6, 8)]
    log_backend.wait(lambda: len(history) == 8 and len(tail) == 2)
    log_backend.idle()
    assert sorted(history) == sorted(before + after)
    assert sorted(tail) == sorted(after)


def test_reset_offsets_replays_the_log_in_the_same_order_per_key(log_backend):
    """group.reset_offsets('earliest') hands every retained event to the group again."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders, partitions=2)
    broker.group("audit", start="earliest")
    seen: dict[str, list[int]] = defaultdict(list)
    offsets: list[tuple[int, int]] = []

    class Audit(Consumer):
        def process(self, delivery):
            seen[delivery.event.key].append(delivery.event.data["n"])
            offsets.append((delivery.partition, delivery.offset))

    Audit(broker, "auditor", orders, group="audit")
    shop = Producer(broker, "shop", orders)
    for n in range(10):
        shop.emit("OrderUpdated", f"order-{n % 3}", {"n": n})
    log_backend.wait(lambda: sum(map(len, seen.values())) == 10)
    first = {k: list(v) for k, v in seen.items()}
    broker.groups["audit"].reset_offsets("earliest")
    log_backend.wait(lambda: sum(map(len, seen.values())) == 20)
    for key, ns in seen.items():
        assert ns == first[key] + first[key], key
    for p in (0, 1):
        mine = [o for q, o in offsets if q == p]
        half = len(mine) // 2
        assert mine[:half] == mine[half:] == sorted(mine[:half])  # real offsets, increasing
        assert all(o >= 0 for o in mine)


def test_a_new_owner_resumes_at_the_committed_offset(log_backend):
    """A member dies while handling: the next owner starts at its event, delivered again."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders)
    broker.group("billing", start="earliest")
    first: list[tuple[str, int]] = []

    class Dies(Consumer):
        def process(self, delivery):
            first.append((delivery.event.key, delivery.attempt))
            if delivery.event.key == "order-2":
                self.crash()  # dies in the middle of handling: nothing committed for it

    dies = Dies(broker, "billing-1", orders, group="billing")
    shop = Producer(broker, "shop", orders)
    for i in (1, 2, 3):
        shop.emit("OrderPlaced", f"order-{i}", {"n": i})
    log_backend.wait(lambda: not dies.alive)
    second: list[tuple[str, int]] = []

    class Survives(Consumer):
        def process(self, delivery):
            second.append((delivery.event.key, delivery.attempt))

    Survives(broker, "billing-2", orders, group="billing")
    # The partition moves once the dead member's session.timeout.ms (45 s) has passed.
    log_backend.wait(lambda: len(second) == 2, timeout=60_000)
    log_backend.idle()
    assert first == [("order-1", 1), ("order-2", 1)]
    assert second == [("order-2", 2), ("order-3", 1)]


# -- RabbitMQ streams only ---------------------------------------------------------------


def _streams_broker(seed: int = 0):
    from evtlib.adapters.rabbitmq import RabbitBroker, RealTime

    sim = RealTime(seed=seed)
    return sim, RabbitBroker(sim=sim, profile="kafka")


def test_committed_offsets_outlive_the_process(request):
    """A group's offsets are stored in RabbitMQ: another process of the group resumes there."""
    require_rabbitmq()
    orders = f"{request.node.name}-{secrets.token_hex(3)}"
    sim, broker = _streams_broker()
    try:
        broker.create_topic(orders)
        broker.group("billing", start="earliest")
        got: list[tuple[str, int]] = []

        class Bill(Consumer):
            def process(self, delivery):
                got.append((delivery.event.key, delivery.offset))

        Bill(broker, "billing-1", orders, group="billing")
        shop = Producer(broker, "shop", orders)
        for i in range(3):
            shop.emit("OrderPlaced", f"order-{i}", {"n": i})
        sim.run_until(lambda: len(got) == 3)
    finally:
        broker.close()  # the process ends
    sim2, broker2 = _streams_broker(seed=1)
    try:
        broker2.create_topic(orders)  # the same exchange and stream, declared again
        Producer(broker2, "shop", orders).emit("OrderPlaced", "order-3", {"n": 3})
        broker2.group("billing", start="earliest")
        again: list[tuple[str, int]] = []

        class Bill2(Consumer):
            def process(self, delivery):
                again.append((delivery.event.key, delivery.offset))

        Bill2(broker2, "billing-2", orders, group="billing")
        sim2.run_until(lambda: len(again) == 1)
        sim2.run(until=sim2.now + 300)
        assert [k for k, _ in again] == ["order-3"]  # not the three it had committed
        assert again[0][1] > got[-1][1]
        assert broker2.groups["billing"].committed() == {f"{orders}[0]": again[0][1] + 1}
    finally:
        broker2.delete_all()
        broker2.close()


def test_retention_by_size_drops_the_oldest_segments():
    """retention_bytes on a stream: an 'earliest' group sees only the newest events, in order."""
    require_rabbitmq()
    sim, broker = _streams_broker()
    orders = f"retention-{secrets.token_hex(3)}"
    try:
        broker.create_topic(orders, retention_bytes=4_000, segment_bytes=1_000)
        shop = Producer(broker, "shop", orders)
        sent = [
            shop.emit("OrderPlaced", f"order-{i}", {"n": i, "pad": "x" * 60}).id for i in range(120)
        ]
        broker.group("audit", start="earliest")
        got: list[tuple[str, int]] = []

        class Audit(Consumer):
            def process(self, delivery):
                got.append((delivery.event.id, delivery.offset))

        Audit(broker, "auditor", orders, group="audit")
        sim.run_until(lambda: got and got[-1][0] == sent[-1], timeout=15_000)
        ids = [i for i, _ in got]
        assert 0 < len(ids) < len(sent)  # the oldest segments are gone
        assert ids == sent[-len(ids) :]  # what is left is the newest, in order
        assert got[0][1] > 0
    finally:
        broker.delete_all()
        broker.close()


def test_retention_options_need_the_kafka_profile(request):
    """On the queue profile a topic keeps nothing after the ack: retention is refused."""
    require_rabbitmq()
    from evtlib.adapters.rabbitmq import RabbitBroker, RealTime

    with RabbitBroker(sim=RealTime()) as broker:
        with pytest.raises(ValueError, match=r"need profile='kafka'"):
            broker.create_topic(f"r-{secrets.token_hex(3)}", retention=60_000)


def test_a_stream_group_satisfies_the_group_protocol(log_backend):
    """Both backends' log groups are GroupBackends."""
    from evtlib.protocols import GroupBackend

    assert isinstance(log_backend.broker.group("audit", start="earliest"), GroupBackend)


def test_a_node_restart_mid_stream_loses_nothing_on_streams(rabbitmqctl):
    """stop_app / start_app while a group reads its streams: it resumes at its committed offsets."""
    import threading

    require_rabbitmq()
    sim, broker = _streams_broker()
    orders = f"restart-{secrets.token_hex(3)}"
    restarter: list[threading.Thread] = []

    def ctl(command: str) -> None:
        subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)

    got: list[str] = []

    def handle(event):
        got.append(event.id)
        if len(got) == 40:
            ctl("stop_app")
            restarter.append(threading.Thread(target=ctl, args=("start_app",)))
            restarter[0].start()

    try:
        broker.create_topic(orders, partitions=2)
        broker.group("billing", start="earliest")
        Consumer(broker, "billing", orders, handle)
        shop = Producer(broker, "shop", orders)
        sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100)]
        sim.run_until(lambda: broker.reconnects >= 1, timeout=60_000)
        sent += [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(100, 150)]
        sim.run_until(lambda: set(sent) <= set(got), timeout=60_000)
        assert set(got) == set(sent)  # nothing lost
        assert len(got) - len(set(got)) <= 2  # the event being handled may come twice
    finally:
        for t in restarter:
            t.join()
        if not restarter:
            ctl("start_app")
        broker.delete_all()
        broker.close()


def test_commit_every_commits_in_batches_and_when_caught_up(log_backend):
    """commit_every=4: 10 events are committed in batches, the last commit past the 10th."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders)
    broker.group("audit", start="earliest")
    shop = Producer(broker, "shop", orders)
    for i in range(10):
        shop.emit("OrderPlaced", f"order-{i}", {"n": i})
    got: list[str] = []
    Consumer(broker, "auditor", orders, lambda e: got.append(e.id), group="audit", commit_every=4)
    log_backend.wait(lambda: len(got) == 10)
    log_backend.idle()
    commits = [r for r in log_backend.sim.trace.filter(kind="committed") if r.topic == orders]
    assert 1 <= len(commits) <= 5  # batched: every 4 events, and when caught up
    assert [c.offset for c in commits] == sorted({c.offset for c in commits})  # only forward
    assert len(got) == 10


def test_reset_offsets_to_latest_skips_what_is_waiting(log_backend):
    """reset_offsets('latest'): only events published after the reset are handled."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders)
    broker.group("audit", start="earliest")
    got: list[int] = []
    Consumer(broker, "auditor", orders, lambda e: got.append(e.data["n"]), group="audit")
    shop = Producer(broker, "shop", orders)
    for n in range(3):
        shop.emit("OrderPlaced", f"order-{n}", {"n": n})
    log_backend.wait(lambda: len(got) == 3)
    broker.groups["audit"].reset_offsets("latest")
    for n in range(3, 5):
        shop.emit("OrderPlaced", f"order-{n}", {"n": n})
    log_backend.wait(lambda: len(got) == 5)
    log_backend.idle()
    assert got == [0, 1, 2, 3, 4]


def test_a_message_that_is_not_an_event_is_stepped_over_on_a_stream():
    """Streams keep everything: a bad message is traced undecodable, counted, committed past."""
    require_rabbitmq()
    import pika

    from evtlib.adapters.rabbitmq import resolve_url

    sim, broker = _streams_broker()
    orders = f"poison-{secrets.token_hex(3)}"
    try:
        broker.create_topic(orders)
        broker.group("audit", start="earliest")
        got = []
        Consumer(broker, "auditor", orders, got.append, group="audit")
        conn = pika.BlockingConnection(pika.URLParameters(resolve_url()))
        try:
            props = pika.BasicProperties(message_id="legacy-1", type="OrderPlaced")
            conn.channel().basic_publish(orders, "0", b"\xff not utf-8", props)
        finally:
            conn.close()
        good = Producer(broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 3})
        sim.run_until(lambda: len(got) == 1)
        assert got == [good]
        (record,) = sim.trace.filter(kind="undecodable")
        assert record.event_id == "legacy-1" and "not UTF-8" in record.detail
        assert broker.groups["audit"].stats()["undecodable"] == 1
        with pytest.raises(NotImplementedError, match="read it with a group"):
            broker.dead_letter_queue(orders)
    finally:
        broker.delete_all()
        broker.close()


def test_read_replays_a_partition_straight_from_the_log(log_backend):
    """broker.read / events: the retained events, in order, without a group."""
    broker = log_backend.broker
    orders = log_backend.name("orders")
    broker.create_topic(orders)
    shop = Producer(broker, "shop", orders)
    sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}) for i in range(5)]
    log_backend.idle(100)
    assert broker.read(orders, 0) == sent
    assert broker.read(orders, 0, limit=2) == sent[:2]
    assert broker.events(orders) == sent

"""The differential test: one seeded workload, two brokers, the same outcome.

Events with keys, a few poison events and duplicates (as a relay makes
them) go through a dead-letter consumer that keeps a read model idempotent
by event id.  The simulated broker and RabbitMQ must end with the same
read-model state and the same dead-letter records.
"""

from __future__ import annotations

import random

from evtlib import Event, thaw
from evtlib.patterns import DeadLetterConsumer, RetryPolicy

from .conftest import Backend, require_rabbitmq

POLICY = RetryPolicy(max_attempts=3, backoff="fixed", base=10.0, jitter="none")


def workload(seed: int, n: int = 120) -> list[Event]:
    """``n`` events over 8 keys, about 1 in 20 poison, about 1 in 10 published twice."""
    rng = random.Random(seed)
    events = []
    for i in range(1, n + 1):
        e = Event(
            id=f"evt-{seed}-{i:04d}",
            type="OrderPlaced",
            time=float(i),
            source="relay",
            key=f"customer-{rng.randrange(8)}",
            data={"total": rng.randint(1, 99), "poison": rng.random() < 0.05},
        )
        events.append(e)
        if rng.random() < 0.1:
            events.append(e)  # the relay crashed after publishing, before marking it sent
    return events


def run(backend: Backend, events: list[Event]) -> tuple[dict, list[tuple]]:
    orders = backend.name("orders")
    dlq = f"{orders}.dlq"
    backend.broker.create_topic(orders, partitions=backend.partitions(3))
    backend.broker.create_topic(dlq)
    state: dict[str, int] = {}
    seen: set[str] = set()

    def apply(event):
        if event.id in seen:
            return  # a duplicate: already applied
        if event.data["poison"]:
            raise ValueError(f"cannot price {event.id}")
        seen.add(event.id)
        state[event.key] = state.get(event.key, 0) + event.data["total"]

    consumer = DeadLetterConsumer(backend.broker, "pricing", orders, apply, dlq=dlq, policy=POLICY)
    for e in events:
        backend.broker.publish(orders, e, actor="relay")
    poison = sum(1 for e in events if e.data["poison"])
    settled = len(events)  # every delivery ends handled (or skipped) or dead-lettered
    backend.wait(lambda: consumer.succeeded + len(consumer.dead_letters) == settled, timeout=60_000)
    assert len(consumer.dead_letters) == poison
    view = backend.dead_letter_queue(dlq)
    backend.wait(lambda: len(view.list()) == poison, timeout=30_000)
    records = sorted(
        (
            r.event.id,
            r.event.key,
            thaw(r.event.data)["total"],
            r.reason,
            r.attempts,
            r.partition,
            r.group,
        )
        for r in view.list()
    )
    for r in view.list():
        assert r.event in events  # unchanged on its way through broker and DLQ
    return dict(sorted(state.items())), records


def test_the_simulated_rabbitmq_profile_ends_as_the_log_does_but_for_partitions():
    """The same workload on Broker(sim, profile="rabbitmq"): the same read model and dead letters
    as on the simulated log, the records' partition aside (difference "partitions": one queue)."""
    events = workload(seed=7)
    log = Backend("sim", "differential")
    queue = Backend("sim-rabbitmq", "differential")
    expected = run(log, events)
    actual = run(queue, events)
    assert queue.differs("partitions")
    assert actual[0] == expected[0]
    assert [r[:5] + r[6:] for r in actual[1]] == [r[:5] + r[6:] for r in expected[1]]
    assert {r[5] for r in actual[1]} == {0}


def test_the_same_workload_ends_the_same_on_both_brokers():
    """Same read model, same dead letters, simulated or on RabbitMQ."""
    require_rabbitmq()
    events = workload(seed=7)
    assert any(e.data["poison"] for e in events)
    assert len({e.id for e in events}) < len(events)
    sim = Backend("sim", "differential")
    rabbit = Backend("rabbitmq", "differential")
    try:
        expected = run(sim, events)
        actual = run(rabbit, events)
    finally:
        sim.close()
        rabbit.close()
    assert actual == expected
    state, records = expected
    assert sum(state.values()) == sum(
        e.data["total"] for e in {e.id: e for e in events}.values() if not e.data["poison"]
    )
    assert all(r[3:5] == ("failed", 3) for r in records)

"""The broker contract: what every backend must do, run on the simulation and on RabbitMQ.

Nothing here depends on simulated time being exact: each scenario waits
until its outcome holds (or a timeout), so the same test passes on a
deterministic simulation and on a real broker with real latency.
"""

from __future__ import annotations

from collections import defaultdict

from evtlib import Consumer, Producer, ReadModel, crash
from evtlib.patterns import (
    DeadLetterConsumer,
    FailurePlan,
    IdempotentConsumer,
    MemoryIdStore,
    OrderService,
    OutboxRelay,
    RetryPolicy,
    SagaOrchestrator,
    Shop,
    order_saga,
)

FAST_RETRIES = RetryPolicy(max_attempts=3, backoff="fixed", base=20.0, jitter="none")


def test_fan_out_every_group_gets_every_event(backend):
    """Two groups on one topic each receive all events."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders, partitions=backend.partitions(2))
    got: dict[str, list[str]] = {"billing": [], "shipping": []}
    for group in got:
        Consumer(backend.broker, group, orders, lambda e, g=group: got[g].append(e.id))
    shop = Producer(backend.broker, "shop", orders)
    sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(10)]
    backend.wait(lambda: all(len(ids) == 10 for ids in got.values()))
    backend.idle()
    assert sorted(got["billing"]) == sorted(got["shipping"]) == sorted(sent)


def test_competing_consumers_share_partitions_and_handle_each_event_once(backend):
    """Inside a group each partition has one owner and each event is handled once."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders, partitions=backend.partitions(4))
    by: dict[str, list[str]] = defaultdict(list)
    a = Consumer(
        backend.broker, "billing-1", orders, lambda e: by["billing-1"].append(e.id), group="billing"
    )
    b = Consumer(
        backend.broker, "billing-2", orders, lambda e: by["billing-2"].append(e.id), group="billing"
    )
    assignment = backend.broker.groups["billing"].assignment()
    if backend.differs("assignment"):  # one queue: both members compete for every message
        assert assignment == {orders: "billing-1, billing-2"}
    else:
        assert sorted(assignment.values()) == ["billing-1", "billing-1", "billing-2", "billing-2"]
    shop = Producer(backend.broker, "shop", orders)
    sent = [shop.emit("OrderPlaced", f"order-{i}", {"n": i}).id for i in range(40)]
    backend.wait(lambda: len(by["billing-1"]) + len(by["billing-2"]) >= 40)
    backend.idle()
    handled = by["billing-1"] + by["billing-2"]
    assert sorted(handled) == sorted(sent)
    assert by["billing-1"] and by["billing-2"]
    assert a.alive and b.alive


def test_order_per_key_is_the_order_published(backend):
    """Events with the same key are handled in the order they were published."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders, partitions=backend.partitions(2))
    seen: dict[str, list[int]] = defaultdict(list)
    Consumer(backend.broker, "audit", orders, lambda e: seen[e.key].append(e.data["n"]))
    shop = Producer(backend.broker, "shop", orders)
    for n in range(30):
        shop.emit("OrderUpdated", f"order-{n % 3}", {"n": n})
    backend.wait(lambda: sum(map(len, seen.values())) == 30)
    for key, ns in seen.items():
        assert ns == sorted(ns), key
    assert sorted(seen) == ["order-0", "order-1", "order-2"]


def test_a_consumer_that_dies_without_acking_gets_its_event_delivered_again(backend):
    """At-least-once: a crash before the ack hands the event to the next owner."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    first: list[tuple[str, int]] = []

    class Dies(Consumer):
        def process(self, delivery):
            first.append((delivery.event.id, delivery.attempt))
            self.crash()  # dies in the middle of handling: no ack, no commit

    dies = Dies(backend.broker, "billing-1", orders, group="billing")
    event = Producer(backend.broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    backend.wait(lambda: not dies.alive)
    second: list[tuple[str, int]] = []

    class Survives(Consumer):
        def process(self, delivery):
            second.append((delivery.event.id, delivery.attempt))

    Survives(backend.broker, "billing-2", orders, group="billing")
    # Kafka's group hands the partition over once the dead member's session.timeout.ms (45 s)
    # has passed; a queue broker sees the closed connection at once.
    backend.wait(lambda: len(second) == 1, timeout=60_000)
    assert first == [(event.id, 1)]
    assert second == [(event.id, 2)]


def test_a_crash_scheduled_for_now_happens_and_the_group_carries_on(backend):
    """``crash(sim, c, at=sim.now)`` works on both clocks (on a wall clock, now has moved on)."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    seen: list[str] = []
    if backend.kind == "sim":
        # Kafka: billing-2 takes the partition over after the dead member's session.timeout.ms,
        # with nothing committed: auto.offset.reset decides where it starts.
        backend.broker.group("billing", start="earliest")
    doomed = Consumer(backend.broker, "billing-1", orders, seen.append, group="billing")
    crash(backend.sim, doomed, at=backend.sim.now)
    backend.wait(lambda: not doomed.alive)
    Consumer(backend.broker, "billing-2", orders, seen.append, group="billing")
    Producer(backend.broker, "shop", orders).emit("OrderPlaced", "order-1", {"total": 30})
    backend.wait(lambda: len(seen) == 1, timeout=60_000)
    assert seen[0].key == "order-1"
    assert [r.actor for r in backend.sim.trace.filter(kind="crashed")] == ["billing-1"]


def _dlq_setup(backend, handler):
    orders = backend.name("orders")
    dlq = f"{orders}.dlq"
    backend.broker.create_topic(orders, partitions=backend.partitions(2))
    backend.broker.create_topic(dlq)
    consumer = DeadLetterConsumer(
        backend.broker, "billing", orders, handler, dlq=dlq, policy=FAST_RETRIES
    )
    return orders, dlq, consumer


def test_a_poison_event_is_dead_lettered_after_the_delivery_limit_with_its_metadata(backend):
    """After max_attempts failures the event, unchanged, is in the DLQ with reason and origin."""
    tried: list[int] = []

    def charge(event):
        if event.data.get("card") == "broken":
            tried.append(1)
            raise ValueError("card number unreadable")

    orders, dlq, consumer = _dlq_setup(backend, charge)
    shop = Producer(backend.broker, "shop", orders)
    poison = shop.emit("OrderPlaced", "order-2", {"card": "broken"})
    for i in (1, 3, 4):
        shop.emit("OrderPlaced", f"order-{i}", {"card": "ok"})
    view = backend.dead_letter_queue(dlq)
    backend.wait(lambda: consumer.succeeded == 3 and len(consumer.dead_letters) == 1)
    backend.wait(lambda: len(view.list()) == 1)
    (record,) = view.list()
    assert record.event == poison
    assert (record.reason, record.attempts) == ("failed", 3)
    assert (record.topic, record.group) == (orders, "billing")
    assert record.partition == backend.broker.topic(orders).partition_of_peek("order-2")
    assert len(tried) == 3


def test_redrive_sends_dead_letters_back_to_their_source(backend):
    """Once the cause is fixed, redriven events are handled and the DLQ empties."""
    fixed = {"yes": False}
    charged: list[str] = []

    def charge(event):
        if event.data.get("card") == "broken" and not fixed["yes"]:
            raise ValueError("card number unreadable")
        charged.append(event.id)

    orders, dlq, consumer = _dlq_setup(backend, charge)
    shop = Producer(backend.broker, "shop", orders)
    poison = [shop.emit("OrderPlaced", f"order-{i}", {"card": "broken"}) for i in range(2)]
    view = backend.dead_letter_queue(dlq)
    backend.wait(lambda: len(view.pending()) == 2)
    fixed["yes"] = True
    plan = view.redrive(rate=100.0)
    assert sorted(step.event_id for step in plan) == sorted(e.id for e in poison)
    backend.wait(lambda: sorted(charged) == sorted(e.id for e in poison))
    backend.wait(lambda: view.pending() == [])
    assert {step.topic for step in plan} == {orders}


def test_the_outbox_relay_publishes_every_committed_order(backend):
    """Orders written with their outbox rows reach the consumer through the relay."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    got: list[str] = []
    Consumer(backend.broker, "billing", orders, lambda e: got.append(e.id))
    service = OrderService(backend.sim)
    relay = OutboxRelay(backend.sim, service.db, backend.broker, orders, poll_interval=20.0)
    placed = [service.place_order(f"customer-{i}", 10 * i).id for i in range(1, 6)]
    backend.wait(lambda: sorted(got) == sorted(placed))
    relay.stop()
    assert relay.pending() == 0
    assert relay.published >= 5


def test_the_idempotent_consumer_applies_a_duplicate_once(backend):
    """The same event delivered twice changes the state once."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    store = MemoryIdStore()

    def add(state, event):
        state[event.key] = state.get(event.key, 0) + event.data["total"]

    billing = IdempotentConsumer(backend.broker, "billing", orders, add, store)
    shop = Producer(backend.broker, "shop", orders)
    event = shop.emit("OrderPlaced", "customer-1", {"total": 30})
    shop.publish(event)  # the relay published it twice
    shop.emit("OrderPlaced", "customer-1", {"total": 5})
    backend.wait(lambda: billing.applied + billing.skipped == 3)
    assert (billing.applied, billing.skipped) == (2, 1)
    assert store.state == {"customer-1": 35}


def test_a_failing_saga_compensates_in_reverse_order(backend):
    """A declined payment releases the reserved stock: the saga ends compensated."""
    shop = Shop(stock=10)
    definition = order_saga(shop, timeout=5000.0)
    definition.participants(backend.broker, failures=[FailurePlan("payment")])
    orchestrator = SagaOrchestrator(backend.broker, definition)
    saga = orchestrator.start({"order_id": "order-1", "qty": 1, "total": 30})
    backend.wait(lambda: saga.state in ("completed", "compensated", "failed"))
    assert saga.state == "compensated"
    assert shop.stock == 10


def test_a_read_model_folds_every_event(backend):
    """A read model on either broker ends in the fold of the events it was sent."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders, partitions=backend.partitions(2))

    def fold(state, event):
        state = dict(state)
        state[event.key] = state.get(event.key, 0) + event.data["total"]
        return state

    totals = ReadModel(backend.broker, "totals", orders, fold)
    shop = Producer(backend.broker, "shop", orders)
    for i in range(12):
        shop.emit("OrderPlaced", f"customer-{i % 4}", {"total": i})
    backend.wait(lambda: totals.applied == 12)
    assert totals.state == {f"customer-{k}": sum(range(k, 12, 4)) for k in range(4)}
    backend.wait(totals.caught_up)  # on a queue: nothing left waiting in its group


def test_redrive_refuses_the_same_arguments_on_every_backend(backend):
    """rate=inf, to= the dead-letter topic itself and a where that is not callable: refused alike."""
    import pytest

    orders, dlq, _ = _dlq_setup(backend, lambda event: None)
    view = backend.dead_letter_queue(dlq)
    with pytest.raises(ValueError, match=r"rate must be .*inf"):
        view.redrive(rate=float("inf"))
    with pytest.raises(ValueError, match=r"to must not be the dead-letter topic"):
        view.redrive(to=dlq)
    with pytest.raises(TypeError, match=r"where must be callable"):
        view.redrive(where="reason == 'failed'")
    if backend.differs("redrive-target"):  # back to the failing subscription's queue only
        with pytest.raises(ValueError, match=r"to must be None on the rabbitmq profile"):
            view.redrive(to=orders, rate=5.0)
        assert view.redrive(rate=5.0) == []
    else:
        assert view.redrive(to=orders, rate=5.0) == []  # nothing in it: a valid call plans nothing

"""Each difference between the simulated rabbitmq profile and RabbitMQ 3.10, shown on both.

:data:`~tests.contract.differences.DIFFERENCES` names them and gives the
reasons.  Each test here shows one: the simulated side always runs; the
real side runs where RabbitMQ answers (``require_rabbitmq``: skipped with how
to start one, a failure under ``EVTLIB_REQUIRE_RABBITMQ=1``).
"""

from __future__ import annotations

import pathlib
import re
from collections import defaultdict

import pytest

from evtlib import Consumer, Event, Producer
from evtlib.patterns import DeadLetterConsumer, DeadLetterQueue, RetryPolicy

from .conftest import Backend, require_rabbitmq
from .differences import DIFFERENCES

FAST = RetryPolicy(max_attempts=3, backoff="fixed", base=20.0, jitter="none")


@pytest.fixture
def sim_rabbit(request):
    b = Backend("sim-rabbitmq", request.node.name.replace("_", "-"))
    yield b
    b.close()


@pytest.fixture
def rabbit(request):
    require_rabbitmq()
    b = Backend("rabbitmq", request.node.name.replace("_", "-")[:40])
    try:
        yield b
    finally:
        b.close()


def test_every_difference_has_a_reason_and_is_named_by_a_test():
    """The table is complete both ways: every entry says what and why, and some test names it."""
    here = pathlib.Path(__file__).parent
    sources = "".join(
        p.read_text(encoding="utf-8")
        for p in sorted(here.glob("*.py"))
        if p.name != "differences.py"
    )
    for name, (what, why) in DIFFERENCES.items():
        assert len(what) > 40 and len(why) > 40, name
        assert f'"{name}"' in sources, f"no test names the difference {name!r}"
    named = set(re.findall(r'differs\("([^"]+)"\)', sources))
    assert named <= set(DIFFERENCES), named - set(DIFFERENCES)


def test_partitions(sim_rabbit):
    """Difference "partitions": the simulated queue family refuses them and says what RabbitMQ
    offers instead; the adapter has one queue per group and partition (below)."""
    assert sim_rabbit.differs("partitions")
    with pytest.raises(ValueError, match="partitions must be 1 on the rabbitmq profile.*x-single"):
        sim_rabbit.broker.create_topic(sim_rabbit.name("orders"), partitions=2)


def test_partitions_and_naming_on_rabbitmq(rabbit):
    """The adapter's side of "partitions" and "naming": queues '<topic>.<group>.<partition>'."""
    orders = rabbit.name("orders")
    rabbit.broker.create_topic(orders, partitions=2)
    Consumer(rabbit.broker, "billing", orders)
    assert rabbit.broker.groups["billing"].queues() == [
        f"{orders}.billing.0",
        f"{orders}.billing.1",
    ]


def test_naming(sim_rabbit):
    """Difference "naming": a simulated subscription is its group's name, and has no AMQP queues."""
    assert sim_rabbit.differs("naming")
    orders = sim_rabbit.name("orders")
    sim_rabbit.broker.create_topic(orders)
    Consumer(sim_rabbit.broker, "billing", orders)
    sub = sim_rabbit.broker.groups["billing"]
    assert sub.name == "billing" and not hasattr(sub, "queues")


def _keyed_run(backend: Backend, *, single_active: bool = False) -> dict[str, list[int]]:
    orders = backend.name("orders")
    broker = backend.broker
    broker.create_topic(orders, partitions=backend.partitions(2))
    if single_active:
        broker.group("billing", settings={"x-single-active-consumer": True})
    seen: dict[str, list[int]] = defaultdict(list)
    for i, service in enumerate((3, 11)):
        Consumer(
            broker,
            f"billing-{i}",
            orders,
            lambda e: seen[e.key].append(e.data["n"]),
            group="billing",
            service_time=service,
        )
    shop = Producer(broker, "shop", orders)
    for n in range(24):
        shop.emit("OrderUpdated", f"order-{n % 3}", {"n": n})
    backend.wait(lambda: sum(map(len, seen.values())) == 24)
    return seen


def test_order_with_competing_consumers(sim_rabbit):
    """Difference "order-with-competing-consumers": two members on one queue take messages as
    they are free, so one key's order is lost; x-single-active-consumer keeps it
    (www.rabbitmq.com/docs/consumers#single-active-consumer)."""
    assert sim_rabbit.differs("order-with-competing-consumers")
    seen = _keyed_run(sim_rabbit)
    assert any(ns != sorted(ns) for ns in seen.values())
    again = Backend("sim-rabbitmq", "order-sac")
    seen = _keyed_run(again, single_active=True)
    assert all(ns == sorted(ns) for ns in seen.values())


def test_order_with_competing_consumers_on_rabbitmq(rabbit):
    """The adapter's side: each partition's queue has a single active consumer: order per key."""
    seen = _keyed_run(rabbit)
    assert all(ns == sorted(ns) for ns in seen.values())


def _poison_run(backend: Backend):
    orders = backend.name("orders")
    dlq = f"{orders}.dlq"
    backend.broker.create_topic(orders)
    backend.broker.create_topic(dlq)

    def charge(event):
        if event.data["card"] == "broken":
            raise ValueError("card number unreadable")

    c = DeadLetterConsumer(backend.broker, "billing", orders, charge, dlq=dlq, policy=FAST)
    Consumer(backend.broker, "shipping", orders, lambda e: shipped.append(e.id))
    shipped: list[str] = []
    poison = Producer(backend.broker, "shop", orders).emit("OrderPlaced", "o-1", {"card": "broken"})
    view = backend.dead_letter_queue(dlq)
    backend.wait(lambda: len(c.dead_letters) == 1 and len(view.list()) == 1 and shipped)
    return c, view, poison, shipped


def test_dead_letter_path(sim_rabbit):
    """Difference "dead-letter-path": the simulated consumer rejects on its last attempt (x-death
    reason rejected, www.rabbitmq.com/docs/dlx) and the record keeps the handler's error."""
    assert sim_rabbit.differs("dead-letter-path")
    _, view, poison, _ = _poison_run(sim_rabbit)
    [record] = view.list()
    assert (record.reason, record.attempts, record.event) == ("failed", 3, poison)
    assert record.error_type == "ValueError"
    assert sim_rabbit.broker.dead_letters("billing") == [(poison, "rejected", 3)]


def test_dead_letter_path_on_rabbitmq(rabbit):
    """The adapter's side: x-delivery-limit dead-letters it; x-death has no error, only a reason."""
    _, view, poison, _ = _poison_run(rabbit)
    [record] = view.list()
    assert (record.reason, record.attempts, record.event) == ("failed", 3, poison)
    assert record.error_type == "delivery_limit"


def test_redrive_target(sim_rabbit):
    """Difference "redrive-target": the dead letter goes back to billing's queue only; shipping,
    which handled it, does not get it again (as SQS StartMessageMoveTask to the source queue)."""
    assert sim_rabbit.differs("redrive-target")
    c, view, poison, shipped = _poison_run(sim_rabbit)
    view.redrive(rate=100.0)
    sim_rabbit.wait(lambda: len(c.dead_letters) == 2)  # billing failed on it again
    sim_rabbit.idle()
    assert shipped == [poison.id]


def test_redrive_target_on_rabbitmq(rabbit):
    """The adapter's side: redrive republishes to the topic: shipping gets the event again."""
    c, view, poison, shipped = _poison_run(rabbit)
    view.redrive(rate=100.0)
    rabbit.wait(lambda: len(shipped) == 2)
    assert shipped == [poison.id, poison.id]


def _always_failing(backend: Backend, deliveries: int):
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    attempts: list[int] = []

    class Fails(Consumer):
        def process(self, delivery):
            attempts.append(delivery.attempt)
            raise RuntimeError("never works")

    Fails(backend.broker, "billing", orders, retry_delay=0.0)
    Producer(backend.broker, "shop", orders).emit("OrderPlaced", "o-1", {"total": 1})
    backend.wait(lambda: len(attempts) >= deliveries)
    return attempts


def test_delivery_limit_default(sim_rabbit):
    """Difference "delivery-limit-default": from RabbitMQ 4.0 a quorum queue dead-letters a
    message returned more than 20 times (www.rabbitmq.com/docs/quorum-queues#poison-message-handling)."""
    assert sim_rabbit.differs("delivery-limit-default")
    attempts = _always_failing(sim_rabbit, 21)
    sim_rabbit.idle(5000)
    assert attempts == list(range(1, 22))
    [(event, reason, count)] = sim_rabbit.broker.dead_letters("billing")
    assert (reason, count) == ("delivery_limit", 21)


def test_delivery_limit_default_on_rabbitmq(rabbit):
    """RabbitMQ 3.10: no default delivery limit: the 25th delivery still comes."""
    attempts = _always_failing(rabbit, 25)
    assert attempts[:25] == list(range(1, 26))


def test_consumer_timeout(sim_rabbit):
    """Difference "consumer-timeout": simulated only (the real node's 30 minutes are its
    configuration): the channel closes and all its unacknowledged messages go back
    (www.rabbitmq.com/docs/consumers#acknowledgement-timeout)."""
    assert sim_rabbit.differs("consumer-timeout")
    from evtlib import Broker, Simulation

    sim = Simulation(0)
    b = Broker(sim, profile="rabbitmq", settings={"consumer_timeout": 1000}, prefetch=2)
    b.create_topic("orders")
    Consumer(b, "slow", "orders", group="billing", service_time=1500)
    for i in range(2):
        b.publish("orders", Event(id=f"e{i}", type="OrderPlaced", time=0))
    sim.run(until=1001)
    [timeout] = sim.trace.filter(kind="timeout")
    assert "closed the channel; its 2 unacknowledged message(s) are requeued" in timeout.detail


def test_unroutable(sim_rabbit):
    """Difference "unroutable": without a subscription the simulated publish goes nowhere, and
    nobody is told (plain RabbitMQ without mandatory); the adapter raises Unroutable
    (tests/contract/test_rabbitmq.py shows it)."""
    assert sim_rabbit.differs("unroutable")
    orders = sim_rabbit.name("orders")
    sim_rabbit.broker.create_topic(orders)
    assert sim_rabbit.broker.publish(orders, Event(id="e0", type="OrderPlaced", time=0)) == (0, -1)
    assert sim_rabbit.broker.topic(orders).published == 1 and sim_rabbit.broker.groups == {}


def test_the_dead_letter_view_on_the_simulated_profile_is_the_pattern_s_own(sim_rabbit):
    """On the simulated rabbitmq profile the contract's DLQ view is the pattern's DeadLetterQueue,
    reading the subscription's dead letters."""
    orders = sim_rabbit.name("orders")
    sim_rabbit.broker.create_topic(orders)
    sim_rabbit.broker.create_topic(f"{orders}.dlq")
    assert isinstance(sim_rabbit.dead_letter_queue(f"{orders}.dlq"), DeadLetterQueue)

"""The outcome contract: how a delivery's handling ended means the same on every backend.

A consumer's hook returns an :class:`~evtlib.outcome.Outcome` (or raises);
the simulated broker maps it to offsets, the RabbitMQ backend to acks,
nacks and rejects (``RabbitGroup.settle``).  Whatever the mapping, the
effect seen from outside must be the same.
"""

from __future__ import annotations

from evtlib import Consumer, Producer
from evtlib.outcome import ACK, SETTLED, dead_letter, retry
from evtlib.patterns import DEAD_LETTER_TYPE, DeadLetterRecord


def _record(delivery, consumer):
    return DeadLetterRecord(
        event=delivery.event,
        reason="rejected",
        attempts=delivery.attempt,
        first_failure=consumer.sim.now,
        last_failure=consumer.sim.now,
        topic=delivery.topic,
        partition=delivery.partition,
        offset=delivery.offset,
        group=delivery.group,
        consumer=consumer.name,
        error_type="Scripted",
        error_message="the test said so",
        dead_lettered_at=consumer.sim.now,
    )


def test_each_outcome_has_the_same_effect_on_every_backend(backend):
    """ack and settled end a delivery; retry and a raise deliver it again; a dead letter is published."""
    orders = backend.name("orders")
    dlq = f"{orders}.dlq"
    backend.broker.create_topic(orders)
    backend.broker.create_topic(dlq)
    seen: list[tuple[str, int]] = []
    letters = []
    Consumer(backend.broker, "audit", dlq, letters.append)

    class Scripted(Consumer):
        """On a first attempt, ends as the event's key says; later attempts are handled."""

        def process(self, delivery):
            key = delivery.event.key
            seen.append((key, delivery.attempt))
            if delivery.attempt > 1:
                return None
            if key == "ack":
                return ACK
            if key == "settled":
                return SETTLED
            if key == "retry":
                return retry(30.0)
            if key == "raise":
                raise ValueError("first attempt fails")
            record = _record(delivery, self)
            letter = delivery.event.reaction(
                id=self.sim.next_id("dlq"),
                type=DEAD_LETTER_TYPE,
                time=self.sim.now,
                source=self.name,
                data=record.to_dict(),
            )
            return dead_letter(record, letter, dlq)

    billing = Scripted(backend.broker, "billing", orders, retry_delay=20.0)
    shop = Producer(backend.broker, "shop", orders)
    sent = {
        k: shop.emit("OrderPlaced", k, {"n": i})
        for i, k in enumerate(["ack", "retry", "settled", "dead-letter", "raise"])
    }
    backend.wait(lambda: len(seen) == 7 and len(letters) == 1)
    backend.idle()
    assert sorted(seen) == sorted(
        [
            ("ack", 1),
            ("retry", 1),
            ("retry", 2),
            ("settled", 1),
            ("dead-letter", 1),
            ("raise", 1),
            ("raise", 2),
        ]
    )
    assert len(billing.handled_at) == 3  # ack, and the second attempts of retry and raise
    (letter,) = letters
    assert letter.type == DEAD_LETTER_TYPE
    assert DeadLetterRecord.from_event(letter).event == sent["dead-letter"]
    retried = [r for r in backend.sim.trace.filter(kind="failed") if r.event_id == sent["raise"].id]
    assert len(retried) == 1


def test_a_failure_after_an_auto_ack_is_a_traced_loss_on_every_backend(backend):
    """At-most-once: the handler raises, the event is not delivered again, and the loss is traced."""
    orders = backend.name("orders")
    backend.broker.create_topic(orders)
    tried: list[str] = []

    def fragile(event):
        tried.append(event.key)
        if event.key == "order-1":
            raise ValueError("lost for good")

    Consumer(backend.broker, "audit", orders, fragile, delivery="at-most-once", retry_delay=20.0)
    shop = Producer(backend.broker, "shop", orders)
    doomed = shop.emit("OrderPlaced", "order-1", {"total": 30})
    shop.emit("OrderPlaced", "order-2", {"total": 12})
    backend.wait(lambda: len(tried) == 2)
    backend.idle()
    assert tried == ["order-1", "order-2"]  # never delivered again
    (lost,) = backend.sim.trace.filter(kind="lost")
    assert (lost.actor, lost.event_id) == ("audit", doomed.id)

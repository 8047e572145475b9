"""Consumer groups on RabbitMQ: one quorum queue per partition, and what each delivery's outcome does.

A group ``billing`` on topic ``orders`` with two partitions is the queues
``orders.billing.0`` and ``orders.billing.1`` (quorum, single active
consumer), each bound to the topic's exchange with its partition's routing
key.  Members in this process share the partitions round-robin, as the
simulated group does; single active consumer keeps one owner per partition
across processes too.

Each delivery becomes a :class:`~evtlib.consumer.Delivery`, is handled by
:meth:`Consumer.handle <evtlib.consumer.Consumer.handle>`, and the
:class:`~evtlib.outcome.Outcome` it returns is mapped to AMQP in one place,
:meth:`RabbitGroup.settle`.  A message that is not an event
(:class:`~.wire.UndecodableMessage`) never reaches a handler: it is moved
aside and counted, and the consumer goes on with the next one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from pika.adapters.blocking_connection import BlockingChannel

from ...broker import TopicPartition
from ...consumer import Consumer, Delivery
from ...group import assign
from ...outcome import Outcome
from ...patterns.dlq import DeadLetterConsumer, DeadLetterRecord
from ...sim import Timer
from .wire import UndecodableMessage, decode, delivery_limit, queue_name

if TYPE_CHECKING:  # pragma: no cover
    from .broker import RabbitBroker
    from .topics import RabbitTopic

__all__ = ["RabbitGroup", "QueueSpec"]


@dataclass
class QueueSpec:
    """What the broker declared for one queue, so it can declare it again after a reconnect."""

    name: str
    topic: str
    group: str
    partition: int
    arguments: dict[str, Any]
    #: The dead-letter exchange (a dead-letter topic) and ``x-delivery-limit``, if any.
    dead_letter_exchange: str | None = None
    delivery_limit: int | None = None
    tp: TopicPartition = field(init=False)

    def __post_init__(self) -> None:
        self.tp = TopicPartition(self.topic, self.partition)


class RabbitGroup:
    """A consumer group on RabbitMQ: one quorum queue per partition, one owner each.

    ``session_timeout`` is 0: RabbitMQ sees a closed channel at once (a dead
    process: after the heartbeat).  :meth:`stats` counts what happened to
    the deliveries, including ``undecodable`` messages moved aside.
    """

    def __init__(self, broker: RabbitBroker, name: str, start: str) -> None:
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = 0.0
        self.topics: list[str] = []
        self.members: list[Consumer] = []
        #: The group's queues, per topic and partition.
        self.states: dict[TopicPartition, QueueSpec] = {}
        self.rebalances = 0
        self._counts = dict.fromkeys(
            ("delivered", "redelivered", "handled", "retried", "dead_lettered", "lost"), 0
        )
        self._counts["undecodable"] = 0
        self._owner: dict[TopicPartition, Consumer] = {}
        self._channels: dict[str, BlockingChannel] = {}  # consumer name -> channel
        self._tags: dict[tuple[str, TopicPartition], str] = {}
        # Failed deliveries waiting for their retry, per member and partition: tag -> timer.
        self._held: dict[tuple[str, TopicPartition], dict[int, Timer]] = {}
        # Acks not sent yet, per member: its channel and the highest handled tag, acked
        # with multiple=True once the current batch of I/O is handled (never while one
        # of its deliveries is held: multiple would ack that one too).
        self._unacked: dict[str, tuple[BlockingChannel, int]] = {}
        self._ack_timers: dict[str, Timer] = {}

    # -- membership ----------------------------------------------------------------

    def subscribe(self, topic: RabbitTopic) -> None:
        """Read ``topic`` too (its queues are declared when a member joins)."""
        if topic.name not in self.topics:
            self.topics.append(topic.name)

    def declare(self, consumer: Consumer) -> None:
        """Declare the queues ``consumer`` reads, if they do not exist yet.

        A :class:`~evtlib.patterns.dlq.DeadLetterConsumer` gives them its
        dead-letter topic as ``x-dead-letter-exchange`` and its policy's
        ``x-delivery-limit``.
        """
        dlx, limit = None, None
        if isinstance(consumer, DeadLetterConsumer):
            dlx, limit = consumer.dlq, delivery_limit(consumer.policy.max_attempts)
        for topic in consumer.topics:
            for part in self.broker.topic(topic).partitions:
                tp = TopicPartition(topic, part.index)
                if tp in self.states:
                    continue
                args: dict[str, Any] = {"x-queue-type": "quorum", "x-single-active-consumer": True}
                if dlx is not None:
                    args["x-dead-letter-exchange"] = dlx
                    args["x-dead-letter-routing-key"] = "dead-letter"
                    args["x-delivery-limit"] = limit
                    self.broker.declare_store(dlx)
                name = queue_name(topic, self.name, part.index)
                q = QueueSpec(name, topic, self.name, part.index, args, dlx, limit)
                self.broker.declare_queue(q)
                self.states[tp] = q

    def join(self, consumer: Consumer) -> None:
        """Add ``consumer``: declare its queues if needed and rebalance."""
        if consumer in self.members:
            raise ValueError(
                f"consumer {consumer.name!r} is already a member of group {self.name!r}"
            )
        self.declare(consumer)
        self.members.append(consumer)
        self.rebalance()

    def leave(self, consumer: Consumer) -> None:
        """Remove ``consumer``; close its channel (unacked deliveries go back); rebalance."""
        if consumer not in self.members:
            return
        self.members.remove(consumer)
        for tp in [tp for tp, owner in self._owner.items() if owner is consumer]:
            self._release(consumer, tp, graceful=consumer.alive)
            del self._owner[tp]
        ch = self._channels.pop(consumer.name, None)
        if ch is not None:
            self.broker.connection.quietly(ch.close)
        self.rebalance()

    def rejoin(self, consumer: Consumer) -> None:
        """``consumer`` is back after a crash: join again (leaving first if still listed)."""
        if consumer in self.members:
            self.leave(consumer)
        self.join(consumer)

    def released(self, state: Any) -> None:
        """Nothing to do: a hand-over here never waits (RabbitMQ requeues the unacked)."""

    def rebalance(self) -> None:
        """Give each partition one live member, round-robin in join order."""
        live = [m for m in self.members if m.alive]
        changes = []
        for tp, q in self.states.items():
            new = assign(tp, live)
            old = self._owner.get(tp)
            if new is old:
                continue
            if old is not None:
                self._release(old, tp, graceful=True)
                del self._owner[tp]
            if new is not None:
                self._consume(new, q)
                self._owner[tp] = new
            changes.append(f"{tp}->{new.name if new else '-'}")
        self.rebalances += 1
        sim = self.broker.sim
        sim.trace.record(sim.now, "rebalanced", self.name, detail=", ".join(changes) or "no change")

    def _channel(self, consumer: Consumer) -> BlockingChannel:
        ch = self._channels.get(consumer.name)
        if ch is None or not ch.is_open:
            ch = self.broker.connection.channel()
            ch.basic_qos(prefetch_count=self.broker.prefetch)
            self._channels[consumer.name] = ch
        return ch

    def _consume(self, consumer: Consumer, q: QueueSpec) -> None:
        ch = self._channel(consumer)
        auto = consumer.delivery == "at-most-once"
        callback = partial(self._on_message, consumer, q, self.broker.connection.epoch)
        self._tags[(consumer.name, q.tp)] = ch.basic_consume(
            q.name, callback, auto_ack=auto, exclusive=False
        )

    def _release(self, consumer: Consumer, tp: TopicPartition, *, graceful: bool) -> None:
        self._flush_acks(consumer.name)  # what it handled was handled: acked as it would have been
        ch = self._channels.get(consumer.name)
        held = self._held.pop((consumer.name, tp), {})
        tag = self._tags.pop((consumer.name, tp), None)
        for timer in held.values():
            timer.cancel()
        if ch is None or not ch.is_open or not graceful:
            return  # the channel closes: RabbitMQ takes its unacked deliveries back
        quietly = self.broker.connection.quietly
        for held_tag in held:
            quietly(ch.basic_nack, held_tag, requeue=True)
        if tag is not None:
            quietly(ch.basic_cancel, tag)

    def reconnected(self) -> None:
        """The connection was re-made: forget the old channels and consume again."""
        for held in self._held.values():
            for timer in held.values():
                timer.cancel()
        self._held.clear()
        for timer in self._ack_timers.values():
            timer.cancel()
        self._ack_timers.clear()
        self._unacked.clear()  # on a dead channel: those messages come back
        self._tags.clear()
        for ch in self._channels.values():  # open ones are from a restore that is tried again
            if ch.is_open:
                self.broker.connection.quietly(ch.close)
        self._channels.clear()
        self._owner.clear()
        self.rebalance()

    # -- deliveries ------------------------------------------------------------------

    def _on_message(
        self,
        consumer: Consumer,
        q: QueueSpec,
        epoch: int,
        ch: BlockingChannel,
        method: Any,
        props: Any,
        body: bytes,
    ) -> None:
        broker = self.broker
        connection = broker.connection
        sim = broker.sim
        tag = method.delivery_tag
        auto = consumer.delivery == "at-most-once"
        if epoch != connection.epoch:
            return  # a delivery on a dead connection: it comes back on the new one
        if not consumer.alive or self._owner.get(q.tp) is not consumer:
            if not auto:  # arrived after a revoke: give it back
                connection.quietly(ch.basic_nack, tag, requeue=True)
            return
        sim.activity += 1
        try:
            event = decode(props, body)
        except UndecodableMessage as exc:
            self._set_aside(consumer, q, ch, tag, props, body, exc, auto)
            return
        attempt = int((props.headers or {}).get("x-delivery-count", 0)) + 1
        now = sim.now
        delivery = Delivery(event, q.topic, q.partition, -1, attempt, self.name, consumer.name, now)
        self._counts["delivered" if attempt == 1 else "redelivered"] += 1
        if sim.trace.enabled:
            sim.trace.record(
                now,
                "redelivered" if attempt > 1 else "delivered",
                consumer.name,
                event.id,
                q.topic,
                q.partition,
                -1,
                None if attempt == 1 else f"attempt {attempt}",
            )
        outcome = consumer.handle(delivery)
        self.settle(consumer, q, ch, tag, epoch, delivery, outcome)

    def settle(
        self,
        consumer: Consumer,
        q: QueueSpec,
        ch: BlockingChannel,
        tag: int,
        epoch: int,
        delivery: Delivery,
        outcome: Outcome,
    ) -> None:
        """Map how a delivery's handling ended to AMQP: the one place that does.

        ===============  ==========================================================
        outcome          AMQP
        ===============  ==========================================================
        ``ack``          ``basic.ack``
        ``settled``      ``basic.ack`` (finished with, not handled)
        ``failed``       hold for the consumer's ``retry_after`` ms, then
                         ``basic.nack(requeue=True)``
        ``retry``        hold for ``outcome.delay`` ms, then ``basic.nack(requeue=True)``
        ``dead-letter``  the queue's dead-letter exchange is ``outcome.topic``:
                         ``basic.reject(requeue=False)`` (reason ``rejected``), or on
                         the last failed attempt ``basic.nack(requeue=True)``, so the
                         delivery limit dead-letters it (reason ``delivery_limit``);
                         otherwise publish ``outcome.letter`` to ``outcome.topic``
                         and ``basic.ack``
        ===============  ==========================================================

        An at-most-once consumer's message was acked on delivery (auto-ack):
        a failure there is a loss, traced ``lost``.
        """
        broker = self.broker
        sim = broker.sim
        kind = outcome.kind
        counts = self._counts
        if kind == "ack":
            counts["handled"] += 1
        elif kind == "dead-letter":
            counts["dead_lettered"] += 1
        if consumer.delivery == "at-most-once":
            if kind in ("failed", "retry"):
                counts["lost"] += 1
                sim.trace.record(
                    sim.now,
                    "lost",
                    consumer.name,
                    delivery.event.id,
                    q.topic,
                    q.partition,
                    -1,
                    "handler failed after auto-ack",
                )
            elif kind == "dead-letter" and outcome.letter is not None:
                broker.publish(outcome.topic or "", outcome.letter, actor=consumer.name)
            return
        connection = broker.connection
        if epoch != connection.epoch or not consumer.alive or not ch.is_open:
            return  # crashed in the handler, or the connection dropped: it comes back
        if kind in ("ack", "settled"):
            self._ack(consumer.name, ch, tag)
        elif kind == "dead-letter":
            if q.dead_letter_exchange is not None and q.dead_letter_exchange == outcome.topic:
                record = outcome.record
                limit = q.delivery_limit
                last = limit is not None and delivery.attempt > limit
                if last and isinstance(record, DeadLetterRecord) and record.reason == "failed":
                    connection.quietly(ch.basic_nack, tag, requeue=True)
                else:
                    connection.quietly(ch.basic_reject, tag, requeue=False)
            else:
                broker.publish(outcome.topic or "", outcome.letter, actor=consumer.name)
                self._ack(consumer.name, ch, tag)
        else:  # failed or retry: hold the delivery (the partition waits), then give it back
            counts["retried"] += 1
            if kind == "retry":
                wait = outcome.delay
            else:
                assert isinstance(outcome.error, Exception)
                wait = consumer.retry_after(delivery, outcome.error)
            key = (consumer.name, q.tp)
            self._flush_acks(consumer.name)  # before holding: a later multiple ack would cover it
            self._held.setdefault(key, {})[tag] = sim.timer(
                wait, self._give_back, key, ch, tag, epoch
            )

    def _ack(self, name: str, ch: BlockingChannel, tag: int) -> None:
        """Acknowledge ``tag``: at once while a delivery of ``name`` is held, else batched."""
        if any(held for (member, _), held in self._held.items() if member == name):
            self.broker.connection.quietly(ch.basic_ack, tag)
            return
        self._unacked[name] = (ch, tag)
        if name not in self._ack_timers:
            self._ack_timers[name] = self.broker.sim.timer(0, self._flush_acks, name)

    def _flush_acks(self, name: str) -> None:
        """Send the acks batched for member ``name``: one ``basic.ack`` with ``multiple``."""
        timer = self._ack_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        pending = self._unacked.pop(name, None)
        if pending is not None and pending[0].is_open:
            self.broker.connection.quietly(pending[0].basic_ack, pending[1], multiple=True)

    def _give_back(
        self, key: tuple[str, TopicPartition], ch: BlockingChannel, tag: int, epoch: int
    ) -> None:
        held = self._held.get(key, {})
        if held.pop(tag, None) is None or epoch != self.broker.connection.epoch:
            return
        if ch.is_open:
            self.broker.connection.quietly(ch.basic_nack, tag, requeue=True)

    def _set_aside(
        self,
        consumer: Consumer,
        q: QueueSpec,
        ch: BlockingChannel,
        tag: int,
        props: Any,
        body: bytes,
        exc: UndecodableMessage,
        auto: bool,
    ) -> None:
        """Move a message that is not an event out of the way, trace it and count it."""
        broker = self.broker
        sim = broker.sim
        self._counts["undecodable"] += 1
        if not auto and q.dead_letter_exchange is not None:
            broker.connection.quietly(ch.basic_reject, tag, requeue=False)
            where = f"rejected to the dead-letter exchange {q.dead_letter_exchange}"
        else:
            store = broker.declare_quarantine(q.topic)
            moved = copy.copy(props)
            moved.headers = {
                **(props.headers or {}),
                "x-evtlib-problem": exc.problem,
                "x-evtlib-error": str(exc),
                "x-evtlib-queue": q.name,
            }
            broker.publisher.send("", store, body, moved, actor=consumer.name)
            if not auto:
                broker.connection.quietly(ch.basic_ack, tag)
            where = f"moved to the queue {store}"
        sim.trace.record(
            sim.now,
            "undecodable",
            consumer.name,
            props.message_id or None,
            q.topic,
            q.partition,
            -1,
            f"not an event in queue {q.name} ({exc}); {where}",
        )

    # -- inspection ----------------------------------------------------------------

    def assignment(self) -> dict[str, str | None]:
        """Who consumes each partition here: ``{"orders[0]": "billing-1", ...}``."""
        return {
            str(tp): (self._owner[tp].name if tp in self._owner else None) for tp in self.states
        }

    def lag(self) -> int:
        """Messages ready in the group's queues (not counting unacked ones)."""
        return sum(self.broker.queue_depth(q.name) for q in self.states.values())

    def queues(self) -> list[str]:
        """The names of the group's queues, one per topic and partition."""
        return [q.name for q in self.states.values()]

    def stats(self) -> dict[str, int]:
        """What happened to the deliveries of this process's members.

        ``delivered`` (first attempts) and ``redelivered``; how handling
        ended: ``handled``, ``retried`` (given back for another attempt),
        ``dead_lettered``, ``lost`` (at-most-once); ``undecodable``: messages
        that were not events, moved aside.
        """
        return dict(self._counts)

    def __repr__(self) -> str:
        names = [m.name + ("" if m.alive else "(down)") for m in self.members]
        return f"<RabbitGroup {self.name} topics={self.topics} members={names}>"

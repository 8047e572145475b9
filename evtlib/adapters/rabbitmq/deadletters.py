"""Dead letters on RabbitMQ: the store of a dead-letter topic, its records from ``x-death``, redrive.

A queue read by a :class:`~evtlib.patterns.dlq.DeadLetterConsumer` has a
dead-letter exchange (its ``dlq`` topic) and a delivery limit.  RabbitMQ
moves a message there itself (reason ``delivery_limit`` or ``rejected``)
and records *that* and *where* it died in the ``x-death`` header, not the
error; the store is the quorum queue named like the dead-letter topic.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from ...patterns.dlq import (
    DEAD_LETTER_TYPE,
    DeadLetterRecord,
    RedriveStep,
    check_redrive,
    count_records,
)
from .broker import RabbitBroker
from .wire import UndecodableMessage, decode

__all__ = ["RabbitDeadLetterQueue", "X_DEATH_REASONS", "count_records"]

#: RabbitMQ's ``x-death`` reasons, in evtlib's terms.
X_DEATH_REASONS = {
    "delivery_limit": "failed",
    "rejected": "rejected",
    "expired": "expired",
    "maxlen": "rejected",
}


def _tag(method: Any) -> int:
    tag = method.delivery_tag
    assert isinstance(tag, int)  # a message taken with basic_get always has one
    return tag


class RabbitDeadLetterQueue:
    """The dead-letter store of a RabbitMQ topic: records from ``x-death``, and redrive.

    :meth:`list` reads every message and gives it back untouched (a message
    that is not an event, rejected there by a group, is listed by
    :meth:`undecodable` instead); :meth:`redrive` publishes the original
    event (same id, same content) to its source topic with confirms, and
    only then acks it in the store, so a crash in between duplicates
    (idempotent consumers absorb it) but never loses.
    """

    def __init__(self, broker: RabbitBroker, topic: str) -> None:
        if not isinstance(broker, RabbitBroker):
            raise TypeError(f"broker must be a RabbitBroker, got {broker!r}")
        broker.topic(topic)
        self.broker = broker
        self.topic = topic
        self.queue = broker.declare_store(topic)
        self.name = f"redrive:{topic}"
        self.redriven: builtins.list[RedriveStep] = []

    def _read(self) -> builtins.list[tuple[Any, Any, bytes]]:
        ch = self.broker.connection.channel()
        got = []
        try:
            while True:
                method, props, body = ch.basic_get(self.queue, auto_ack=False)
                if method is None:
                    break
                got.append((method, props, body or b""))
            if got:
                ch.basic_nack(_tag(got[-1][0]), multiple=True, requeue=True)
        finally:
            self.broker.connection.quietly(ch.close)
        return got

    def _record(self, props: Any, body: bytes) -> DeadLetterRecord:
        """The record of one stored message; :class:`UndecodableMessage` if it holds no event."""
        if props.type == DEAD_LETTER_TYPE:  # published by a consumer (no dead-letter exchange)
            return DeadLetterRecord.from_event(decode(props, body))
        headers = props.headers or {}
        deaths = headers.get("x-death") or []
        if not deaths:
            raise ValueError(
                f"message {props.message_id} in {self.queue!r} has no x-death header:"
                " it was published there, not dead-lettered"
            )
        event = decode(props, body)
        death = deaths[0]  # the most recent
        reason = str(death.get("reason", ""))
        source_queue = str(death.get("queue", ""))
        source_topic = str(death.get("exchange", ""))
        keys = death.get("routing-keys") or ["-1"]
        partition = int(keys[0]) if str(keys[0]).lstrip("-").isdigit() else -1
        q = self.broker.queue_spec(source_queue)
        if q is not None:
            group = q.group
        else:
            group = source_queue[len(source_topic) + 1 :].rsplit(".", 1)[0]
        if reason == "delivery_limit" and q is not None and q.delivery_limit is not None:
            attempts = q.delivery_limit + 1
        else:
            attempts = int(death.get("count", 1))
        when = death.get("time")
        at = when.timestamp() * 1000.0 if isinstance(when, datetime) else 0.0
        return DeadLetterRecord(
            event=event,
            reason=X_DEATH_REASONS.get(reason, "failed"),
            attempts=attempts,
            first_failure=at,
            last_failure=at,
            topic=source_topic,
            partition=partition,
            offset=-1,
            group=group,
            consumer="",
            error_type=reason,
            error_message=f"dead-lettered by RabbitMQ from queue {source_queue}: {reason}",
            dead_lettered_at=at,
        )

    def _records(self) -> builtins.list[DeadLetterRecord]:
        records = []
        for _, props, body in self._read():
            try:
                records.append(self._record(props, body))
            except UndecodableMessage:
                continue  # listed by undecodable()
        return records

    def list(self) -> builtins.list[DeadLetterRecord]:
        """Every record now in the store, oldest first (ties by event id)."""
        records = self._records()
        records.sort(key=lambda r: (r.dead_lettered_at, r.event.id))
        return records

    def pending(self) -> builtins.list[DeadLetterRecord]:
        """The records still in the store (redrive removes them)."""
        return self.list()

    def undecodable(self) -> builtins.list[dict[str, Any]]:
        """The messages in the store that are not events: their id, queue and what is wrong."""
        out = []
        for _, props, body in self._read():
            try:
                self._record(props, body)
            except UndecodableMessage as exc:
                deaths = (props.headers or {}).get("x-death") or [{}]
                out.append(
                    {
                        "message_id": props.message_id,
                        "queue": str(deaths[0].get("queue", "")),
                        "problem": exc.problem,
                        "error": str(exc),
                    }
                )
        return out

    def x_death(self) -> builtins.list[dict[str, Any]]:
        """The raw ``x-death`` entries (most recent first), one list per message: RabbitMQ's own view."""
        out = []
        for _, props, _ in self._read():
            out.append(
                {
                    "message_id": props.message_id,
                    "x-death": [
                        {k: v for k, v in d.items() if k != "time"}
                        for d in (props.headers or {}).get("x-death", [])
                    ],
                }
            )
        return out

    def count_by(self, field: str = "reason") -> dict[str, int]:
        """How many records per value of ``field``, as :meth:`DeadLetterQueue.count_by` counts."""
        return count_records(self.list(), field)

    def redrive(
        self,
        to: str | None = None,
        *,
        rate: float = 10.0,
        where: Callable[[DeadLetterRecord], bool] | None = None,
        limit: int | None = None,
    ) -> builtins.list[RedriveStep]:
        """Move records back to their source topic (or ``to``), ``rate`` per second.

        Each chosen message is taken from the store now (unacked, so a crash
        gives it back) and republished unchanged on a timer; it is acked in
        the store after the publish is confirmed.  Returns the plan.
        """
        check_redrive(self.broker, self.topic, to, rate=rate, where=where, limit=limit)
        broker, sim = self.broker, self.broker.sim
        connection = broker.connection
        ch = connection.channel()
        taken: builtins.list[tuple[int, DeadLetterRecord]] = []
        leave: builtins.list[int] = []
        while True:
            method, props, body = ch.basic_get(self.queue, auto_ack=False)
            if method is None:
                break
            tag = _tag(method)
            try:
                record = self._record(props, body or b"")
            except UndecodableMessage:
                leave.append(tag)  # not an event: nothing to redrive
                continue
            chosen = (where is None or where(record)) and (limit is None or len(taken) < limit)
            if chosen:
                taken.append((tag, record))
            else:
                leave.append(tag)
        for tag in leave:
            ch.basic_nack(tag, requeue=True)
        gap = 1000.0 / rate
        plan = []
        epoch = connection.epoch
        for i, (tag, record) in enumerate(
            sorted(taken, key=lambda e: (e[1].dead_lettered_at, e[1].event.id))
        ):
            target = record.topic if to is None else to
            broker.topic(target)
            step = RedriveStep(sim.now + i * gap, record.event.id, target)
            sim.schedule(
                i * gap, self._publish, ch, tag, record, target, epoch, i == len(taken) - 1
            )
            plan.append(step)
        if not taken:
            connection.quietly(ch.close)
        self.redriven.extend(plan)
        return plan

    def _publish(
        self,
        ch: BlockingChannel,
        tag: int,
        record: DeadLetterRecord,
        target: str,
        epoch: int,
        last: bool,
    ) -> None:
        broker, sim = self.broker, self.broker.sim
        connection = broker.connection
        if epoch != connection.epoch or not ch.is_open:
            return  # the connection dropped: the message went back to the store
        sim.trace.record(
            sim.now,
            "redriven",
            self.name,
            record.event.id,
            target,
            detail=f"{self.topic} -> {target} (was {record.reason}, {record.error_type})",
        )
        broker.publish(target, record.event, actor=self.name)
        connection.quietly(ch.basic_ack, tag)
        if last:
            connection.quietly(ch.close)

    def __len__(self) -> int:
        return self.broker.queue_depth(self.queue)

    def __repr__(self) -> str:
        return f"<RabbitDeadLetterQueue {self.topic} records={len(self)}>"

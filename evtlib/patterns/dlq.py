"""The dead-letter queue: give up on an event visibly, and move on.

A plain at-least-once :class:`~evtlib.consumer.Consumer` retries a failing
event until it succeeds.  When the event can never succeed (a *poison*
event: bad data, a bug) the partition waits behind it forever: nothing after
it is handled, and consumer lag climbs (head-of-line blocking).

A :class:`DeadLetterConsumer` retries a failed event a few times with
backoff (a :class:`~evtlib.patterns.retry.RetryPolicy`), then *dead-letters*
it: it publishes a :class:`DeadLetterRecord` (the original event, unchanged,
plus why and where it failed) to a dead-letter topic such as
``"orders.dlq"``, commits the offset and goes on with the next event.  Two
more ways into the dead-letter queue, as in RabbitMQ and Azure Service Bus:

* ``rejected``: a ``validator`` said the event is invalid, so it is not
  retried at all;
* ``expired``: the event is older than the consumer's ``ttl`` when it is
  delivered (its ``time`` is more than ``ttl`` ms ago).

Nothing vanishes: every event of the source topic is, per group, either
handled, dead-lettered, or still on its way.  A person (or a script) then
looks at the queue with :class:`DeadLetterQueue`, fixes the cause and
*redrives* the events back to their source topic at a gentle rate.  A
redriven event is a new delivery (a new offset) of the same event (same id,
same content), so an idempotent consumer handles it exactly once.  The
trade-off: it now arrives after events with the same key that were
published later, so order per key is lost for it.

On a broker of the queue family (``Broker(sim, profile="rabbitmq" | "sqs" |
"sqs-fifo" | "service-bus")``) the pattern uses the broker's own
dead-lettering: a dead-lettered message goes to the dead-letter queue of
*its subscription* (RabbitMQ ``basic.reject`` to the queue's dead-letter
exchange, Service Bus ``DeadLetterMessage`` with the application's reason,
SQS: the consumer sends it to the queue's dead-letter queue and deletes it,
SQS having no call for that), next to what the broker dead-lettered itself
(delivery limit, time to live, a full queue).  :class:`DeadLetterQueue`
reads those, and its redrive sends each message back to the queue of the
subscription that failed on it, and to no other (SQS ``StartMessageMoveTask``
to the source queue), as the same event with a new delivery count.  A queue
has no offsets: the consumer keys a message's failures by its event id.

Trace kinds written here: ``retried`` (with the wait), ``dead-lettered``
(with the reason) and ``redriven``.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker
from ..consumer import Consumer, Delivery
from ..events import Event, thaw
from ..outcome import Outcome, dead_letter
from ..protocols import BrokerBackend
from ..queues import QueueBroker
from .retry import RetryPolicy

__all__ = [
    "DeadLetterRecord",
    "DeadLetterConsumer",
    "DeadLetterQueue",
    "RedriveStep",
    "Conservation",
    "conservation",
    "REASONS",
    "DEAD_LETTER_TYPE",
    "check_redrive",
    "count_records",
    "where_of",
]

#: Why an event was dead-lettered: it kept failing, it was invalid, it was too old.
REASONS = ("failed", "rejected", "expired")

#: The ``type`` of the events on a dead-letter topic.
DEAD_LETTER_TYPE = "EventDeadLettered"

_COUNT_FIELDS = ("reason", "error_type", "topic", "group", "consumer", "event_type", "key")


def count_records(records: Iterable[DeadLetterRecord], field: str) -> dict[str, int]:
    """How many ``records`` per value of ``field`` (most common first, ties by first seen).

    ``field`` is one of ``reason``, ``error_type``, ``topic``, ``group``,
    ``consumer``, ``event_type`` or ``key``; every backend's dead-letter view counts with it.
    """
    if field not in _COUNT_FIELDS:
        raise ValueError(f"field must be one of {_COUNT_FIELDS}, got {field!r}")
    counts: dict[str, int] = {}
    for r in records:
        if field == "event_type":
            value = r.event.type
        elif field == "key":
            value = str(r.event.key)
        else:
            value = getattr(r, field)
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@dataclass(frozen=True)
class DeadLetterRecord:
    """What the dead-letter queue keeps about one event it received.

    ``event`` is the original event, unchanged (same id, same content, same
    JSON bytes).  The rest is metadata: the ``reason`` (one of
    :data:`REASONS`); ``attempts``, the deliveries it got (the broker's
    delivery count, like SQS's receive count); ``first_failure`` and
    ``last_failure`` (ms; for ``rejected`` and ``expired`` both are the
    moment it was refused); where it came from (``topic``, ``partition``,
    ``offset``), who gave up on it (``group``, ``consumer``), the last
    error's type and message, and when it was dead-lettered.
    """

    event: Event
    reason: str
    attempts: int
    first_failure: float
    last_failure: float
    topic: str
    partition: int
    offset: int
    group: str
    consumer: str
    error_type: str
    error_message: str
    dead_lettered_at: float

    def __post_init__(self) -> None:
        if not isinstance(self.event, Event):
            raise TypeError(f"event must be an Event, got {type(self.event).__name__}")
        if self.reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, got {self.reason!r}")

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready values; the event as :meth:`Event.to_dict`."""
        return {
            "event": self.event.to_dict(),
            "reason": self.reason,
            "attempts": self.attempts,
            "first_failure": self.first_failure,
            "last_failure": self.last_failure,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "group": self.group,
            "consumer": self.consumer,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "dead_lettered_at": self.dead_lettered_at,
        }

    def to_json(self) -> str:
        """The record as a JSON string with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeadLetterRecord:
        """Rebuild a record (and its original event) from :meth:`to_dict` output."""
        fields = thaw(d)
        if not isinstance(fields, dict) or "event" not in fields:
            raise ValueError(f"a dead-letter record needs an 'event' field, got {d!r}")
        fields["event"] = Event.from_dict(fields["event"])
        return cls(**fields)

    @classmethod
    def from_event(cls, event: Event) -> DeadLetterRecord:
        """The record carried by ``event``, an event of a dead-letter topic."""
        if event.type != DEAD_LETTER_TYPE:
            raise ValueError(
                f"{event.id} is a {event.type}, not a {DEAD_LETTER_TYPE}: "
                "is this really a dead-letter topic?"
            )
        return cls.from_dict(event.data)

    def __repr__(self) -> str:
        return (
            f"<DeadLetterRecord {self.event.id} {self.reason} attempts={self.attempts}"
            f" from={self.topic}[{self.partition}]@{self.offset} group={self.group}"
            f" error={self.error_type}>"
        )


Where = tuple[str, int, "int | str"]


def where_of(delivery: Delivery) -> Where:
    """What identifies the message of ``delivery`` for its failures and successes.

    On a log: ``(topic, partition, offset)``.  A queue has no offsets
    (``offset`` is -1): ``(topic, -1, event id)``, the message's id in its
    queue (a broker's duplicate of a message has the same event id, and is
    the same message to an idempotent consumer).
    """
    if delivery.offset >= 0:
        return (delivery.topic, delivery.partition, delivery.offset)
    return (delivery.topic, -1, delivery.event.id)


def _require_dead_letter_topic(broker: Broker, name: str, what: str) -> None:
    if not isinstance(name, str) or name not in broker.topics:
        known = ", ".join(broker.topics) or "none yet"
        raise KeyError(
            f"unknown {what} {name!r}; known topics: {known} "
            f"(create it first: broker.create_topic({name!r}))"
        )


class DeadLetterConsumer(Consumer):
    """A consumer that retries with backoff, then dead-letters, so its partitions never block.

    Parameters (besides those of :class:`~evtlib.consumer.Consumer`)
    ----------------------------------------------------------------
    handler:
        ``handler(event)``; raise to fail.
    policy:
        The :class:`~evtlib.patterns.retry.RetryPolicy`: how many attempts
        and how long to wait between them (default: 3 attempts,
        exponential backoff from 100 ms, full jitter).
    dlq:
        The dead-letter topic (default ``"<first topic>.dlq"``).  It must
        exist.  (No topic has a capacity: a Kafka topic never refuses for
        lack of room, and a queue broker's dead-letter queue is unbounded.)
    validator:
        ``validator(event) -> bool``; an event it rejects (returns a false
        value, or raises) is dead-lettered at once with reason ``rejected``.
    ttl:
        Time to live in ms: an event delivered more than ``ttl`` ms after
        its ``time`` is dead-lettered with reason ``expired``.

    Lifecycle of one delivery: expired?  -> dead-letter.  Invalid?  ->
    dead-letter.  Handler fails and attempts are left?  -> fail: the
    partition waits :meth:`RetryPolicy.delay` ms (traced ``retried``) and
    the broker delivers the same offset again.  Handler fails on the last
    attempt?  -> dead-letter.  In every dead-letter case the consumer then
    returns a :func:`~evtlib.outcome.dead_letter` outcome: the backend
    publishes the letter (or its broker dead-letters the message natively),
    the offset is committed and the partition moves on, without the event
    being counted as handled.
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        handler: Callable[[Event], Any],
        *,
        policy: RetryPolicy | None = None,
        dlq: str | None = None,
        validator: Callable[[Event], Any] | None = None,
        ttl: float | None = None,
        **kwargs: Any,
    ) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        checks.function("handler", handler)
        if policy is None:
            policy = RetryPolicy()
        checks.instance("policy", policy, RetryPolicy)
        checks.callable_or_none("validator", validator, "event -> bool")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0
        ):
            raise ValueError(f"ttl must be > 0 ms or None, got {ttl!r}")
        if kwargs.get("delivery", "at-least-once") != "at-least-once":
            raise ValueError(
                "delivery must be 'at-least-once' for a DeadLetterConsumer (at-most-once "
                f"commits before handling, so there is nothing to retry), got {kwargs['delivery']!r}"
            )
        topic_list = [topics] if isinstance(topics, str) else builtins.list(topics)
        if not topic_list:
            raise ValueError("topics must name at least one topic, got an empty list")
        if dlq is None:
            dlq = f"{topic_list[0]}.dlq"
        _require_dead_letter_topic(broker, dlq, "dead-letter topic")
        if dlq in topic_list:
            raise ValueError(f"dlq must differ from the topics it protects, got {dlq!r}")
        self.policy = policy
        self.dlq: str = dlq
        self._action: Callable[[Event], Any] = handler  # also self.handler; this one is never None
        self.validator = validator
        self.ttl = None if ttl is None else float(ttl)
        #: Events this consumer handled successfully / dead-lettered.
        self.succeeded = 0
        self.dead_letters: builtins.list[DeadLetterRecord] = []
        #: ``(topic, partition, offset)`` of every delivery that succeeded; on a queue,
        #: which has no offsets, ``(topic, -1, event id)`` (see :func:`where_of`).
        self.handled_offsets: set[Where] = set()
        # First and last failure time of messages that failed and are not settled yet.
        self._failures: dict[Where, tuple[float, float]] = {}
        super().__init__(broker, name, topic_list, handler, **kwargs)
        self._retry_rng = self.sim.rng_for(f"{self.name}/retry")
        if isinstance(broker, QueueBroker):
            # The subscription's dead letters are what this dead-letter topic's view lists.
            self.group.use_dead_letter_topic(dlq)

    # -- the hooks -----------------------------------------------------------

    def process(self, delivery: Delivery) -> Outcome | None:
        """Expire, reject, handle, or dead-letter one delivery (raises only to ask for a retry)."""
        event = delivery.event
        now = self.sim.now
        if self.ttl is not None and now - event.time > self.ttl:
            age = now - event.time
            return self._dead_letter(
                delivery, "expired", "TTLExpired", f"age {age:g} ms > ttl {self.ttl:g} ms"
            )
        if self.validator is not None:
            try:
                valid = self.validator(event)
                error_type, message = (
                    "ValidationError",
                    f"{_name(self.validator)} returned {valid!r}",
                )
            except Exception as exc:  # a validator that raises rejects: recorded, not swallowed
                valid = False
                error_type, message = type(exc).__name__, str(exc)
            if not valid:
                return self._dead_letter(delivery, "rejected", error_type, message)
        try:
            self._action(event)
        except Exception as exc:
            where = where_of(delivery)
            first, _ = self._failures.get(where, (now, now))
            self._failures[where] = (first, now)
            if self.policy.gives_up_after(delivery.attempt):
                return self._dead_letter(delivery, "failed", type(exc).__name__, str(exc))
            raise  # the core traces "failed" and asks retry_after() how long to wait
        where = where_of(delivery)
        self._failures.pop(where, None)
        self.handled_offsets.add(where)
        self.succeeded += 1
        return None

    def retry_after(self, delivery: Delivery, error: BaseException) -> float:
        """The policy's wait after this failed attempt; traced as ``retried``."""
        delay = self.policy.delay(delivery.attempt, self._retry_rng)
        sim = self.sim
        sim.trace.record(
            sim.now,
            "retried",
            self.name,
            delivery.event.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            f"attempt {delivery.attempt} of {self.policy.max_attempts} failed; "
            f"next in {delay:g} ms",
        )
        return delay

    # -- dead-lettering ------------------------------------------------------

    def _dead_letter(
        self, delivery: Delivery, reason: str, error_type: str, message: str
    ) -> Outcome:
        sim = self.sim
        now = sim.now
        first, last = self._failures.pop(where_of(delivery), (now, now))
        original = delivery.event
        record = DeadLetterRecord(
            event=original,
            reason=reason,
            attempts=delivery.attempt,
            first_failure=first,
            last_failure=last,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            group=delivery.group,
            consumer=self.name,
            error_type=error_type,
            error_message=message,
            dead_lettered_at=now,
        )
        letter = original.reaction(
            id=sim.next_id("dlq"),
            type=DEAD_LETTER_TYPE,
            time=now,
            source=self.name,
            data=record.to_dict(),
        )
        sim.trace.record(
            now,
            "dead-lettered",
            self.name,
            original.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            f"{reason} after {delivery.attempt} attempt(s): {error_type}: {message} -> {self.dlq}",
        )
        self.dead_letters.append(record)
        # The backend publishes the letter, or dead-letters natively where its broker can
        # (RabbitMQ: the queue's dead-letter exchange).
        return dead_letter(record, letter, self.dlq)

    def __repr__(self) -> str:
        state = "running" if self.alive else ("crashed" if self.started else "not started")
        return (
            f"<DeadLetterConsumer {self.name} group={self.group.name} {state}"
            f" owns={self.assignment} succeeded={self.succeeded}"
            f" dead_lettered={len(self.dead_letters)} dlq={self.dlq}"
            f" max_attempts={self.policy.max_attempts}>"
        )


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# -- inspection and redrive ------------------------------------------------------


class RedriveStep(NamedTuple):
    """One planned redrive: at ``time`` (ms) ``event_id`` goes back to ``topic``."""

    time: float
    event_id: str
    topic: str


def check_redrive(
    broker: Any,
    dead_letter_topic: str,
    to: str | None = None,
    *,
    rate: Any = 10.0,
    where: Any = None,
    limit: Any = None,
) -> None:
    """Check :meth:`DeadLetterQueue.redrive`'s arguments: the one check every backend calls.

    ``rate`` is a finite number of events per second > 0; ``to`` (if given)
    is a topic of ``broker`` other than ``dead_letter_topic`` (``broker.topic(to)``
    raises a ``KeyError`` naming the known topics); ``where`` is callable or
    None; ``limit`` an int >= 0 or None.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError(f"rate must be > 0 events per second, got {rate!r}")
    if rate == float("inf"):
        raise ValueError(f"rate must be finite, got {rate!r}")
    if to is not None:
        broker.topic(to)  # KeyError naming the known topics
        if to == dead_letter_topic:
            raise ValueError(f"to must not be the dead-letter topic itself, got {to!r}")
    checks.callable_or_none("where", where, "record -> bool")
    if limit is not None:
        checks.integer("limit", limit, min=0)


def _broker_reason(reason: str) -> str:
    """One of :data:`REASONS` for what a queue broker says (as RabbitMQ's ``x-death`` reasons)."""
    if reason.startswith(("expired", "TTLExpired", "MessageRetentionPeriod")):
        return "expired"
    if reason.startswith(("maxlen", "rejected")):
        return "rejected"
    return "failed"


def _broker_record(msg: Any, reason: str, subscription: str, broker: str) -> DeadLetterRecord:
    """The record of a message a queue broker dead-lettered itself: what the broker knows."""
    word = reason.split(" ", 1)[0]
    return DeadLetterRecord(
        event=msg.event,
        reason=_broker_reason(reason),
        attempts=msg.count,
        first_failure=msg.dead_at,
        last_failure=msg.dead_at,
        topic=msg.topic,
        partition=0,
        offset=-1,
        group=subscription,
        consumer=broker,
        error_type=word,
        error_message=f"dead-lettered by the broker: {reason}",
        dead_lettered_at=msg.dead_at,
    )


class DeadLetterQueue:
    """A view of a dead-letter topic: list, count and redrive what is in it.

    The topic is an append-only log, so the view remembers what *it* has
    redriven (:attr:`redriven`) and :meth:`pending` leaves those out, like
    SQS moving messages out of a DLQ.  The records themselves never change.

        dlq = DeadLetterQueue(broker, "orders.dlq")
        dlq.count_by("reason")            # {'failed': 3, 'rejected': 1}
        dlq.redrive(rate=5)               # back to their source topics, 5 per second
    """

    def __init__(self, broker: Broker, topic: str) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        _require_dead_letter_topic(broker, topic, "DLQ topic")
        self.broker = broker
        self.topic = topic
        self.name = f"redrive:{topic}"
        #: Redrives scheduled by this view, in order.
        self.redriven: builtins.list[RedriveStep] = []
        self._taken: set[tuple[Any, int]] = set()
        self._queues = isinstance(broker, QueueBroker)

    def _entries(self) -> builtins.list[tuple[tuple[Any, int], DeadLetterRecord]]:
        if self._queues:
            return [(pos, record) for pos, record, _ in self._queue_entries()]
        out = []
        for part in self.broker.topic(self.topic).partitions:
            for offset, event in enumerate(part.log):
                out.append(((part.index, offset), DeadLetterRecord.from_event(event)))
        out.sort(key=lambda e: (e[1].dead_lettered_at, e[0]))
        return out

    def _queue_entries(self) -> builtins.list[tuple[tuple[Any, int], DeadLetterRecord, Any]]:
        """On a queue broker: the dead letters of the subscriptions that use this topic.

        A message the application dead-lettered carries its record; one the
        broker dead-lettered (delivery limit, time to live, a full queue)
        gets a record built from what the broker says, as RabbitMQ's
        ``x-death`` header does: the reason, the delivery count, the queue.
        """
        broker: Any = self.broker
        out = []
        for name, sub in broker.groups.items():
            if sub.dead_letter_topic != self.topic:
                continue
            for msg, reason in sub.letters():
                record = msg.record
                if not isinstance(record, DeadLetterRecord):
                    record = _broker_record(msg, reason, name, broker.name)
                out.append(((name, msg.seq), record, (sub, msg)))
        out.sort(key=lambda e: (e[1].dead_lettered_at, e[0]))
        return out

    def list(self) -> builtins.list[DeadLetterRecord]:
        """Every record ever dead-lettered to this topic, oldest first.

        On a queue broker: every message in the dead-letter queues now (a
        redriven message has left its dead-letter queue).
        """
        return [r for _, r in self._entries()]

    def pending(self) -> builtins.list[DeadLetterRecord]:
        """The records this view has not redriven yet, oldest first."""
        return [r for pos, r in self._entries() if pos not in self._taken]

    def count_by(self, field: str = "reason") -> dict[str, int]:
        """How many records per value of ``field`` (most common first, ties by first seen).

        ``field`` is one of ``reason``, ``error_type``, ``topic``, ``group``,
        ``consumer``, ``event_type`` or ``key``.
        """
        return count_records(self.list(), field)

    def redrive(
        self,
        to: str | None = None,
        *,
        rate: float = 10.0,
        where: Callable[[DeadLetterRecord], bool] | None = None,
        limit: int | None = None,
    ) -> builtins.list[RedriveStep]:
        """Publish pending events again, ``rate`` per second, starting now.

        ``to`` is the target topic (default: each record's source topic).
        ``where(record) -> bool`` picks records, ``limit`` caps how many.
        Each event is republished unchanged (same id, same content) as a
        new delivery at a new offset; the record counts as redriven from now
        on.  Returns the plan, one :class:`RedriveStep` per event.

        On a queue broker each message goes back to the queue of the
        subscription that dead-lettered it, and to no other (SQS
        ``StartMessageMoveTask`` to the source queue, at
        ``MaxNumberOfMessagesPerSecond``): the topic's other subscriptions
        handled it already.  ``to`` must be None there.
        """
        check_redrive(self.broker, self.topic, to, rate=rate, where=where, limit=limit)
        if self._queues:
            return self._redrive_queues(to, rate, where, limit)
        sim = self.broker.sim
        gap = 1000.0 / rate
        plan: builtins.list[RedriveStep] = []
        for pos, record in self._entries():
            if pos in self._taken or (where is not None and not where(record)):
                continue
            if limit is not None and len(plan) >= limit:
                break
            target = record.topic if to is None else to
            self.broker.topic(target)  # the source topic must still exist
            step = RedriveStep(sim.now + len(plan) * gap, record.event.id, target)
            self._taken.add(pos)
            sim.schedule(len(plan) * gap, self._publish, record, target)
            plan.append(step)
        self.redriven.extend(plan)
        return plan

    def _redrive_queues(
        self,
        to: str | None,
        rate: float,
        where: Callable[[DeadLetterRecord], bool] | None,
        limit: int | None,
    ) -> builtins.list[RedriveStep]:
        if to is not None:
            raise ValueError(
                f"to must be None on the {self.broker.profile.name} profile, got {to!r}: a"
                " dead letter goes back to the queue of the subscription that failed on it"
                " (SQS StartMessageMoveTask to the source queue); publishing it to a topic"
                " would give it again to every subscription, which handled it already"
            )
        sim = self.broker.sim
        gap = 1000.0 / rate
        plan: builtins.list[RedriveStep] = []
        for pos, record, (sub, msg) in self._queue_entries():
            if pos in self._taken or (where is not None and not where(record)):
                continue
            if limit is not None and len(plan) >= limit:
                break
            step = RedriveStep(sim.now + len(plan) * gap, record.event.id, record.topic)
            self._taken.add(pos)
            sim.schedule(len(plan) * gap, self._move_back, sub, msg)
            plan.append(step)
        self.redriven.extend(plan)
        return plan

    def _move_back(self, sub: Any, msg: Any) -> None:
        sub.redrive(actor=self.name, messages=[msg])  # nothing if it left the DLQ meanwhile

    def _publish(self, record: DeadLetterRecord, target: str) -> None:
        sim = self.broker.sim
        sim.trace.record(
            sim.now,
            "redriven",
            self.name,
            record.event.id,
            target,
            detail=f"{self.topic} -> {target} (was {record.reason}, {record.error_type})",
        )
        self.broker.publish(target, record.event, actor=self.name)

    def __len__(self) -> int:
        if self._queues:
            return len(self._queue_entries())
        return sum(len(p.log) for p in self.broker.topic(self.topic).partitions)

    def __repr__(self) -> str:
        return (
            f"<DeadLetterQueue {self.topic} records={len(self)} pending={len(self.pending())}"
            f" reasons={self.count_by('reason')}>"
        )


# -- conservation --------------------------------------------------------------


class Conservation(NamedTuple):
    """Where every event of a group's topics is: the terms of the conservation law.

    ``published == handled + dead_lettered + in_flight + waiting + expired``,
    counting each offset (on a queue: each message) once.  ``vanished``
    counts offsets the group has committed (moved past) that were neither
    handled nor dead-lettered (on a queue: messages deleted unhandled, not
    settled, not dead-lettered): it must be 0.  ``expired``: messages a
    queue deleted unread when their time to live ran out (SQS
    ``MessageRetentionPeriod``, Service Bus without dead-lettering on
    expiration); always 0 on a log, where retention is not counted here.
    """

    group: str
    published: int
    handled: int
    dead_lettered: int
    in_flight: int
    waiting: int
    vanished: int
    expired: int = 0

    @property
    def balanced(self) -> bool:
        """Whether the law holds and nothing vanished."""
        total = self.handled + self.dead_lettered + self.in_flight + self.waiting + self.expired
        return self.vanished == 0 and total == self.published


def conservation(broker: Broker, group: str) -> Conservation:
    """Count, per offset, where each event of ``group``'s topics is now.

    Reads the group's partition states, what its
    :class:`DeadLetterConsumer` members handled, and what its dead-letter
    topics hold for this group.

    On a queue broker, ``group`` is a subscription and the terms are its
    queue's counts (:meth:`Subscription.stats <evtlib.queues.Subscription.stats>`):
    ``handled`` the messages deleted after a successful handling (or
    settled: finished with), ``dead_lettered`` those in its dead-letter
    queue or given up as a letter on a dead-letter topic, ``in_flight`` those
    a consumer holds, ``waiting`` those in the queue, ``expired`` those its
    time to live deleted unread; ``vanished`` the deleted ones that are none
    of these (an at-most-once handling that failed or crashed).
    """
    checks.instance("broker", broker, BrokerBackend, "Broker")
    if group not in broker.groups:
        known = ", ".join(broker.groups) or "none yet"
        raise KeyError(f"unknown group {group!r}; known groups: {known}")
    g = broker.groups[group]
    if isinstance(broker, QueueBroker):
        s = g.stats()
        done = s["acked"] + s["settled"]
        return Conservation(
            group,
            s["published"],
            done,
            s["dead_lettered"] + s["lettered"],
            s["in_flight"],
            s["waiting"],
            s["deleted"] - done - s["lettered"],
            s["expired"],
        )
    members = [c for c in broker.consumers if c.group is g and isinstance(c, DeadLetterConsumer)]
    handled: set[Where] = set()
    for c in members:
        handled |= c.handled_offsets
    dead: set[Where] = set()
    for dlq in dict.fromkeys(c.dlq for c in members):
        for record in DeadLetterQueue(broker, dlq).list():
            if record.group == group:
                dead.add((record.topic, record.partition, record.offset))
    published = in_flight = waiting = vanished = n_handled = n_dead = 0
    for tp, st in g.states.items():
        end = len(st.partition.log)
        published += end
        for offset in range(end):
            where = (tp.topic, tp.partition, offset)
            if where in handled:
                n_handled += 1
            elif where in dead:
                n_dead += 1
            elif offset < st.committed:
                vanished += 1
            elif st.inflight == offset:
                in_flight += 1
            else:
                waiting += 1
    return Conservation(group, published, n_handled, n_dead, in_flight, waiting, vanished)

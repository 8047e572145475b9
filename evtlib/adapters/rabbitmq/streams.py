"""The log family on RabbitMQ: a topic as streams, groups reading at their own offsets.

With ``RabbitBroker(..., profile="kafka")`` a topic is still a direct
exchange, but each partition is a **stream** (``x-queue-type: stream``), an
append-only, retained log that every group reads at its own offset, read
over AMQP 0-9-1 with the ``x-stream-offset`` consumer argument:

* retention: ``retention`` (ms) -> ``x-max-age``, ``retention_bytes`` ->
  ``x-max-length-bytes`` (RabbitMQ deletes whole segments, as Kafka does);
* :attr:`Delivery.offset` is the stream's own offset (``x-stream-offset``
  of each message; offsets are increasing, not always consecutive);
* a group's committed offsets are stored durably, one queue per group and
  partition holding only the last commit (``x-max-length: 1``,
  ``x-overflow: drop-head``), so a group resumes where it stopped after a
  restart of its process.  Commits are persistent messages not waited for
  (as Kafka's asynchronous commits): one lost in a crash means a replay of
  a few events, never a skip;
* ``start="earliest"`` / ``"latest"`` where a new group begins, and
  :meth:`StreamGroup.reset_offsets` replays (``"earliest"``, an offset) or
  skips to the end (``"latest"``).

A failed handling holds the partition and hands the same message to the
handler again after the consumer's ``retry_after`` (a stream never
redelivers by itself); a dead letter is published to its topic.  What does
not carry over: one owner per partition across processes (single active
consumer on streams needs RabbitMQ's stream protocol), lag (AMQP 0-9-1 does
not tell the end offset: :meth:`StreamGroup.lag` counts what was received
and not yet handled), and the dead-letter store view
(:class:`~.deadletters.RabbitDeadLetterQueue` reads queues, not streams).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import pika
from pika.adapters.blocking_connection import BlockingChannel

from ...broker import TopicPartition
from ...consumer import Consumer, Delivery
from ...events import Event
from ...group import assign
from ...outcome import Outcome
from ...protocols import Member
from ...sim import Timer
from .wire import UndecodableMessage, decode

if TYPE_CHECKING:  # pragma: no cover
    from .broker import RabbitBroker
    from .topics import RabbitTopic

__all__ = [
    "StreamGroup",
    "StreamState",
    "stream_name",
    "offsets_queue",
    "stream_arguments",
    "read_stream",
]

#: How many messages a partition's consumer may have received and not yet handled.
STREAM_PREFETCH = 100


def stream_name(topic: str, partition: int) -> str:
    """The stream of one partition of ``topic``: ``orders.0``."""
    return f"{topic}.{partition}"


def offsets_queue(group: str, topic: str, partition: int) -> str:
    """The queue keeping ``group``'s committed offset for one partition (its last commit only)."""
    return f"evtlib.offsets.{group}.{topic}.{partition}"


def stream_arguments(
    retention: float | None, retention_bytes: int | None, segment_bytes: int | None
) -> dict[str, Any]:
    """The stream's ``x-`` arguments for a retention time (ms) and size (bytes)."""
    args: dict[str, Any] = {"x-queue-type": "stream"}
    if retention is not None:
        args["x-max-age"] = f"{max(1, math.ceil(retention / 1000))}s"
    if retention_bytes is not None:
        args["x-max-length-bytes"] = retention_bytes
    if segment_bytes is not None:
        args["x-stream-max-segment-size-bytes"] = segment_bytes
    return args


class Rewound(NamedTuple):
    """What a member is told after a reset: the partition and where it reads from now."""

    tp: TopicPartition
    committed: int


@dataclass(eq=False)
class StreamState:
    """One partition as a group reads it: its committed offset, its owner, what waits."""

    tp: TopicPartition
    stream: str
    store: str
    #: The next offset to handle (what a restart resumes from); None: ``start``.
    committed: int | None = None
    #: Where to begin while nothing is committed: None for the group's ``start``.
    start: str | None = None
    owner: Consumer | None = None
    #: Moves on each subscription: a message from an older one is ignored.
    generation: int = 0
    pending: deque[tuple[int, Any, bytes]] = field(default_factory=deque)
    holding: bool = False
    attempts: dict[int, int] = field(default_factory=dict)
    #: The highest offset handed to a handler: one at or below it is a redelivery.
    max_delivered: int = -1
    #: The offset after the last handled event, and how many were handled since the last commit.
    done: int | None = None
    since_commit: int = 0
    flush: Timer | None = None
    #: The last delivery tag received, and the timer that acks up to it (credit).
    last_tag: int = 0
    credit: Timer | None = None
    channel: BlockingChannel | None = None
    timer: Timer | None = None


class StreamGroup:
    """A consumer group over a topic's streams: each member reads its partitions at the group's offsets."""

    def __init__(self, broker: RabbitBroker, name: str, start: str) -> None:
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = 0.0
        self.topics: list[str] = []
        self.members: list[Consumer] = []
        self.states: dict[TopicPartition, StreamState] = {}
        self.rebalances = 0
        self._counts = dict.fromkeys(
            ("delivered", "redelivered", "handled", "retried", "dead_lettered", "lost"), 0
        )
        self._counts["undecodable"] = 0

    # -- membership ----------------------------------------------------------------

    def subscribe(self, topic: RabbitTopic) -> None:
        """Read ``topic`` too."""
        if topic.name not in self.topics:
            self.topics.append(topic.name)

    def declare(self, consumer: Consumer) -> None:
        """Know the partitions ``consumer`` reads, with the offsets the group committed before."""
        for topic in consumer.topics:
            for part in self.broker.topic(topic).partitions:
                tp = TopicPartition(topic, part.index)
                if tp not in self.states:
                    store = offsets_queue(self.name, topic, part.index)
                    st = StreamState(tp, stream_name(topic, part.index), store)
                    st.committed = self.broker.load_offset(store)
                    self.states[tp] = st

    def join(self, consumer: Consumer) -> None:
        """Add ``consumer`` and rebalance."""
        if consumer in self.members:
            raise ValueError(
                f"consumer {consumer.name!r} is already a member of group {self.name!r}"
            )
        self.declare(consumer)
        self.members.append(consumer)
        self.rebalance()

    def leave(self, consumer: Consumer) -> None:
        """Remove ``consumer``; what it had not committed is read again by the next owner."""
        if consumer not in self.members:
            return
        self.members.remove(consumer)
        for st in self.states.values():
            if st.owner is consumer:
                self._unsubscribe(st)
        self.rebalance()

    def rejoin(self, consumer: Consumer) -> None:
        """``consumer`` is back after a crash: join again."""
        if consumer in self.members:
            self.leave(consumer)
        self.join(consumer)

    def released(self, state: Any) -> None:
        """Nothing to do: a hand-over here never waits."""

    def rebalance(self) -> None:
        """Give each partition one live member, round-robin in join order."""
        live = [m for m in self.members if m.alive]
        changes = []
        for tp, st in self.states.items():
            new = assign(tp, live)
            if new is st.owner:
                continue
            if st.owner is not None:
                if st.owner.alive:  # a live owner hands over: it commits what it finished
                    self._commit_done(st, st.owner.name)
                self._unsubscribe(st)
            if new is not None:
                self._subscribe(st, new)
            changes.append(f"{tp}->{new.name if new else '-'}")
        self.rebalances += 1
        sim = self.broker.sim
        sim.trace.record(sim.now, "rebalanced", self.name, detail=", ".join(changes) or "no change")

    def _subscribe(self, st: StreamState, owner: Consumer) -> None:
        st.owner = owner
        st.generation += 1
        st.pending.clear()
        st.holding = False
        st.done, st.since_commit = st.committed, 0  # the new owner resumes at the commit
        for timer in (st.flush, st.credit):
            if timer is not None:
                timer.cancel()
        st.flush = st.credit = None
        if st.committed is not None:
            at: Any = st.committed
        else:
            at = "first" if (st.start or self.start) == "earliest" else "next"
        ch = self.broker.connection.channel()
        ch.basic_qos(prefetch_count=STREAM_PREFETCH)
        ch.basic_consume(
            st.stream,
            partial(self._on_message, st, st.generation, self.broker.connection.epoch),
            auto_ack=False,
            arguments={"x-stream-offset": at},
        )
        st.channel = ch

    def _unsubscribe(self, st: StreamState) -> None:
        st.owner = None
        st.generation += 1
        st.pending.clear()
        st.holding = False
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        if st.channel is not None and st.channel.is_open:
            self.broker.connection.quietly(st.channel.close)
        st.channel = None

    def reconnected(self) -> None:
        """The connection was re-made: read every owned partition again from its committed offset."""
        for st in self.states.values():
            owner = st.owner
            if st.channel is not None and st.channel.is_open:  # from a restore tried again
                self.broker.connection.quietly(st.channel.close)
            st.channel = None
            if owner is not None:
                st.owner = None
                self._subscribe(st, owner)

    # -- offsets -------------------------------------------------------------------

    def reset_offsets(self, offset: int | str = "earliest") -> None:
        """Move every partition's committed offset: ``"earliest"``, ``"latest"`` or an offset.

        Owners read again from there (a replay) and are told so
        (``rewound``).  ``"latest"`` is kept in this process until the next
        commit (the end offset is not known over AMQP 0-9-1).
        """
        if offset not in ("earliest", "latest") and (
            isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
        ):
            raise ValueError(f"offset must be 'earliest', 'latest' or an int >= 0, got {offset!r}")
        for st in self.states.values():
            owner = st.owner
            if owner is not None:
                self._unsubscribe(st)
            if offset == "latest":
                st.committed, st.start = None, "latest"
            else:
                st.committed = 0 if offset == "earliest" else int(offset)
                self.broker.save_offset(st.store, st.committed)
            if owner is not None:
                self._subscribe(st, owner)
                member: Member = owner
                member.rewound(Rewound(st.tp, st.committed or 0))
        sim = self.broker.sim
        sim.trace.record(sim.now, "rewind", self.name, detail=f"reset to {offset}")

    def _commit_done(self, st: StreamState, actor: str) -> None:
        """Commit what is handled (every ``commit_every`` events, when caught up, on a hand-over)."""
        if st.done is not None and (st.committed is None or st.done > st.committed):
            self._commit(st, st.done, actor)
        st.since_commit = 0

    def _commit(self, st: StreamState, offset: int, actor: str) -> None:
        st.committed = offset
        st.done = offset
        self.broker.save_offset(st.store, offset)
        sim = self.broker.sim
        if sim.trace.enabled:
            sim.trace.record(
                sim.now, "committed", actor, None, st.tp.topic, st.tp.partition, offset
            )

    # -- deliveries ------------------------------------------------------------------

    def _on_message(
        self,
        st: StreamState,
        generation: int,
        epoch: int,
        ch: BlockingChannel,
        method: Any,
        props: Any,
        body: bytes,
    ) -> None:
        if generation != st.generation or epoch != self.broker.connection.epoch:
            return
        # An ack on a stream is only credit for more: one per batch of I/O (multiple=True).
        if st.credit is None:
            st.credit = self.broker.sim.timer(0, self._grant, st, ch, st.generation)
        st.last_tag = method.delivery_tag
        offset = int((props.headers or {}).get("x-stream-offset", -1))
        if st.committed is not None and offset < st.committed:
            return  # a stream delivers from the start of a chunk: skip what is before
        self.broker.sim.activity += 1
        st.pending.append((offset, props, body))
        self._drain(st)

    def _grant(self, st: StreamState, ch: BlockingChannel, generation: int) -> None:
        st.credit = None
        if generation == st.generation and ch.is_open:
            self.broker.connection.quietly(ch.basic_ack, st.last_tag, multiple=True)

    def _drain(self, st: StreamState) -> None:
        generation = st.generation
        while st.pending and not st.holding and generation == st.generation:
            owner = st.owner
            if owner is None or not owner.alive:
                return
            offset, props, body = st.pending[0]
            self._handle(st, owner, offset, props, body)

    def _handle(
        self, st: StreamState, owner: Consumer, offset: int, props: Any, body: bytes
    ) -> None:
        sim = self.broker.sim
        generation = st.generation
        try:
            event = decode(props, body)
        except UndecodableMessage as exc:
            self._counts["undecodable"] += 1
            sim.trace.record(
                sim.now,
                "undecodable",
                owner.name,
                props.message_id or None,
                st.tp.topic,
                st.tp.partition,
                offset,
                f"not an event in stream {st.stream} ({exc}); skipped (the stream keeps it)",
            )
            st.pending.popleft()
            self._commit(st, offset + 1, owner.name)
            return
        if offset <= st.max_delivered:
            attempt = st.attempts.get(offset, 1) + 1
            st.attempts[offset] = attempt
        else:
            attempt = 1
            st.max_delivered = offset
        self._counts["delivered" if attempt == 1 else "redelivered"] += 1
        now = sim.now
        if sim.trace.enabled:
            sim.trace.record(
                now,
                "redelivered" if attempt > 1 else "delivered",
                owner.name,
                event.id,
                st.tp.topic,
                st.tp.partition,
                offset,
                None if attempt == 1 else f"attempt {attempt}",
            )
        auto = owner.delivery == "at-most-once"
        if auto:
            st.pending.popleft()
            self._commit(st, offset + 1, owner.name)
        delivery = Delivery(
            event, st.tp.topic, st.tp.partition, offset, attempt, self.name, owner.name, now
        )
        outcome = owner.handle(delivery)
        if generation != st.generation or not owner.alive or st.owner is not owner:
            return  # crashed in the handler, or the partition moved: the next owner reads it again
        self.settle(st, owner, delivery, outcome, auto)

    def settle(
        self, st: StreamState, owner: Consumer, delivery: Delivery, outcome: Outcome, auto: bool
    ) -> None:
        """Map how a delivery's handling ended to the stream: the one place that does.

        ``ack``, ``settled``: the next offset is done, committed every
        ``commit_every`` events of the consumer and whenever it has caught
        up with what it received.  ``dead-letter``:
        publish ``outcome.letter`` to ``outcome.topic``, then commit.
        ``failed`` / ``retry``: hold the partition for the consumer's
        ``retry_after`` (or the retry's delay) and hand the same message to
        the handler again.  At-most-once committed before handling: a
        failure is a loss, traced ``lost``.
        """
        sim = self.broker.sim
        kind = outcome.kind
        offset = delivery.offset
        counts = self._counts
        if kind == "ack":
            counts["handled"] += 1
        elif kind == "dead-letter":
            counts["dead_lettered"] += 1
            self.broker.publish(outcome.topic or "", outcome.letter, actor=owner.name)
        if kind in ("failed", "retry"):
            if auto:
                counts["lost"] += 1
                sim.trace.record(
                    sim.now,
                    "lost",
                    owner.name,
                    delivery.event.id,
                    delivery.topic,
                    delivery.partition,
                    offset,
                    "handler failed after commit",
                )
                return
            counts["retried"] += 1
            if kind == "retry":
                wait = outcome.delay
            else:
                assert isinstance(outcome.error, Exception)
                wait = owner.retry_after(delivery, outcome.error)
            st.holding = True
            st.timer = sim.timer(wait, self._retry, st, st.generation)
            return
        if auto:
            return
        st.pending.popleft()
        st.attempts.pop(offset, None)
        st.done = offset + 1
        st.since_commit += 1
        if st.since_commit >= owner.commit_every:
            self._commit_done(st, owner.name)
        elif st.flush is None:
            # Caught up with what has arrived: commit once this batch of I/O is handled.
            st.flush = sim.timer(0, self._flush, st, st.generation, owner.name)

    def _flush(self, st: StreamState, generation: int, actor: str) -> None:
        st.flush = None
        if generation == st.generation and not st.pending:
            self._commit_done(st, actor)

    def _retry(self, st: StreamState, generation: int) -> None:
        if generation != st.generation:
            return
        st.holding = False
        st.timer = None
        self._drain(st)

    # -- inspection ----------------------------------------------------------------

    def assignment(self) -> dict[str, str | None]:
        """Who reads each partition here: ``{"orders[0]": "audit-1", ...}``."""
        return {str(tp): (st.owner.name if st.owner else None) for tp, st in self.states.items()}

    def lag(self) -> int:
        """Messages received and not yet handled (the end offset is not known over AMQP 0-9-1)."""
        return sum(len(st.pending) for st in self.states.values())

    def committed(self) -> dict[str, int | None]:
        """The committed offset of each partition: ``{"orders[0]": 12, ...}``."""
        return {str(tp): st.committed for tp, st in self.states.items()}

    def stats(self) -> dict[str, int]:
        """What happened to the deliveries of this process's members (as ``RabbitGroup.stats``)."""
        return dict(self._counts)

    def __repr__(self) -> str:
        names = [m.name + ("" if m.alive else "(down)") for m in self.members]
        return f"<StreamGroup {self.name} topics={self.topics} members={names}>"


def read_stream(
    conn: pika.BlockingConnection,
    stream: str,
    offset: int = 0,
    limit: int | None = None,
    *,
    idle: float = 0.2,
) -> list[Event]:
    """The events of ``stream`` from ``offset`` on (at most ``limit``): a replay, read directly.

    Read over ``conn``, a connection of its own (so no group's handler runs
    meanwhile), until ``limit`` events or nothing more for ``idle`` seconds:
    AMQP 0-9-1 does not say where a stream ends.  Messages that are not
    events are left out.
    """
    ch = conn.channel()
    ch.basic_qos(prefetch_count=STREAM_PREFETCH)
    out: list[Event] = []

    def on_message(channel: BlockingChannel, method: Any, props: Any, body: bytes) -> None:
        channel.basic_ack(method.delivery_tag, multiple=True)
        at = int((props.headers or {}).get("x-stream-offset", -1))
        if at < offset or (limit is not None and len(out) >= limit):
            return  # before the offset (a chunk starts earlier), or enough
        try:
            out.append(decode(props, body))
        except UndecodableMessage:
            pass  # not an event: nothing to replay

    ch.basic_consume(stream, on_message, arguments={"x-stream-offset": offset})
    seen, quiet_since = 0, time.monotonic()
    while limit is None or len(out) < limit:
        conn.process_data_events(time_limit=0.05)
        if len(out) != seen:
            seen, quiet_since = len(out), time.monotonic()
        elif time.monotonic() - quiet_since > idle:
            break
    ch.close()
    return out


def offset_message(offset: int) -> tuple[bytes, pika.BasicProperties]:
    """A committed offset as the message its store keeps."""
    return str(offset).encode(), pika.BasicProperties(
        content_type="text/plain", delivery_mode=2, type="OffsetCommitted"
    )

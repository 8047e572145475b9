"""The broker backend: topics as exchanges, the topology, publishing, and its two connections."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPChannelError, AMQPConnectionError

from ... import checks
from ...broker import check_new_topic, find_topic
from ...checks import integer, ms
from ...consumer import Consumer
from ...distributions import Constant
from ...events import Event
from ...patterns.retry import RetryPolicy
from ...profiles import profile as find_profile
from ...protocols import StartAt
from .connection import (
    DEFAULT_BACKOFF,
    BrokerUnavailable,
    Connection,
    Publisher,
    redact,
    resolve_url,
)
from .groups import QueueSpec, RabbitGroup
from .runtime import RealTime
from .streams import StreamGroup, offset_message, read_stream, stream_arguments, stream_name
from .topics import RabbitTopic
from .wire import encode, quarantine_name

if TYPE_CHECKING:  # pragma: no cover
    from .deadletters import RabbitDeadLetterQueue

__all__ = ["RabbitBroker"]

#: The most partitions a RabbitMQ topic may have: each is a quorum queue per group.
MAX_PARTITIONS = 1_000
#: Publishing connections are pumped (heartbeats, notices) at most this often (s).
_PUBLISHER_PUMP_EVERY = 1.0


class RabbitBroker:
    """A broker backend over RabbitMQ, with the public interface of :class:`~evtlib.broker.Broker`.

    Parameters
    ----------
    url:
        ``amqp://user:password@host:port/vhost`` or ``amqps://...``; default
        ``$EVTLIB_RABBITMQ_URL``, else :data:`~.connection.DEFAULT_URL`.
    sim:
        The :class:`~.runtime.RealTime` runner to pump (default: a new one).
    name:
        The broker's name in the trace.
    prefetch:
        Unacked deliveries per partition and consumer.  1 (default) keeps a
        partition waiting behind a failed event, as the simulation does;
        more is faster but lets later events overtake a retried one.
    backoff:
        The waits between connection attempts, a
        :class:`~evtlib.patterns.retry.RetryPolicy` (default: 100 ms doubling
        to 5 s, full jitter, drawn from ``sim.rng_for(name + "/reconnect")``).
    connect_timeout:
        How long (ms) to keep trying the first connection.
    reconnect_timeout:
        How long (ms) to keep trying a lost connection before raising
        :class:`~.connection.BrokerUnavailable`.
    blocked_timeout:
        How long (ms) a publish waits while an alarm blocks publishing.
    heartbeat:
        AMQP heartbeat (s): how soon either side notices a dead peer.
    profile:
        ``"rabbitmq"`` (default): the queue family, one quorum queue per
        group and partition.  ``"kafka"``: the log family on RabbitMQ
        streams, one stream per partition read by every group at its own
        offset (:mod:`.streams`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        sim: RealTime | None = None,
        name: str = "broker",
        prefetch: int = 1,
        backoff: RetryPolicy = DEFAULT_BACKOFF,
        connect_timeout: float = 1_000.0,
        reconnect_timeout: float = 60_000.0,
        blocked_timeout: float = 60_000.0,
        heartbeat: int = 30,
        profile: str = "rabbitmq",
    ) -> None:
        checks.one_of("profile", profile, ("rabbitmq", "kafka"))
        if sim is None:
            sim = RealTime()
        if not isinstance(sim, RealTime):
            raise TypeError(f"sim must be a RealTime runner, got {sim!r}")
        prefetch = integer("prefetch", prefetch, min=1)
        if not isinstance(backoff, RetryPolicy):
            raise TypeError(f"backoff must be a RetryPolicy, got {backoff!r}")
        connect_timeout = ms("connect_timeout", connect_timeout)
        reconnect_timeout = ms("reconnect_timeout", reconnect_timeout)
        blocked_timeout = ms("blocked_timeout", blocked_timeout)
        heartbeat = integer("heartbeat", heartbeat, min=0)
        resolved = resolve_url(url)
        #: The URL with the password replaced by ``***``.
        self.url = redact(resolved)
        self.name = sim.register_name(name, "broker")
        self._sim = sim
        self.prefetch = prefetch
        self.heartbeat = heartbeat
        self.latency = Constant(0.0)
        self.faults = None
        self.rng = sim.rng_for(name)
        #: The real broker family this one behaves as (:mod:`evtlib.profiles`).
        self.profile = find_profile(profile)
        self._topics: dict[str, RabbitTopic] = {}
        self._groups: dict[str, RabbitGroup | StreamGroup] = {}
        self._streams: dict[str, tuple[str, int, dict[str, Any]]] = {}  # name -> topic, p, args
        self._offset_stores: set[str] = set()
        self.consumers: list[Consumer] = []
        self.producers: list[Any] = []
        self._queues: dict[str, QueueSpec] = {}
        self._stores: dict[str, list[str]] = {}  # dead-letter store queue -> binding keys
        self._quarantines: set[str] = set()
        self._closed = False
        options = dict(
            sim=sim, heartbeat=heartbeat, backoff=backoff, reconnect_timeout=reconnect_timeout
        )
        #: The connection that consumes and declares (it comes back after a failure).
        self.connection = Connection(
            resolved,
            name=self.name,
            connect_timeout=connect_timeout,
            on_reconnect=self._restore,
            **options,  # type: ignore[arg-type]
        )
        #: The publishing side, on a connection of its own.
        self.publisher = Publisher(
            Connection(
                resolved,
                name=f"{self.name}/publisher",
                connect_timeout=connect_timeout,
                **options,  # type: ignore[arg-type]
            ),
            blocked_timeout=blocked_timeout,
        )
        self._control = self.connection.channel()
        self._pumped = time.monotonic()
        sim.attach(self._pump)

    # -- the protocol's read-only views --------------------------------------------

    @property
    def sim(self) -> RealTime:
        """The runner this broker's I/O is pumped by."""
        return self._sim

    @property
    def topics(self) -> dict[str, RabbitTopic]:
        """The topics declared through this broker, by name."""
        return self._topics

    @property
    def groups(self) -> dict[str, RabbitGroup | StreamGroup]:
        """The consumer groups of this process, by name."""
        return self._groups

    @property
    def reconnects(self) -> int:
        """How many times the consuming connection was re-established."""
        return self.connection.reconnects

    # -- connection ----------------------------------------------------------------

    def _pump(self, seconds: float) -> None:
        if self._closed:
            return
        self.connection.pump(seconds)
        now = time.monotonic()
        if now - self._pumped >= _PUBLISHER_PUMP_EVERY:
            self._pumped = now
            self.publisher.connection.pump(0)  # heartbeats and notices of an idle publisher

    def _restore(self) -> None:
        """After a reconnect: declare the topology again, then let the groups consume again.

        Right after a node restart its queues and streams may not be up yet
        (``NOT_FOUND - home node ... is down``): that is tried again with the
        connection's backoff, for up to ``reconnect_timeout`` ms.
        """
        connection = self.connection
        deadline = time.monotonic() + connection.reconnect_timeout / 1000.0
        attempt = 0
        while True:
            attempt += 1
            try:
                self._restore_once()
                return
            except AMQPChannelError as exc:
                wait = connection.backoff.delay(attempt, connection.rng)
                if time.monotonic() + wait / 1000.0 > deadline:
                    raise BrokerUnavailable(
                        f"RabbitMQ at {self.url} is back but its queues are not ({exc})"
                    ) from None
                connection.waits.append(wait)
                time.sleep(wait / 1000.0)

    def _restore_once(self) -> None:
        self._control = self.connection.channel()
        ch = self._control
        for t in self._topics.values():
            self._declare_exchange(ch, t.name, len(t.partitions))
        for store, keys in self._stores.items():
            self._declare_store_on(ch, store, keys)
        for q in self._queues.values():
            self._declare_queue_on(ch, q)
        for name in self._quarantines:
            ch.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        for name, (topic, p, args) in self._streams.items():
            self._declare_stream_on(ch, name, topic, p, args)
        for name in self._offset_stores:
            self._declare_offsets_on(ch, name)
        for g in self._groups.values():
            g.reconnected()

    def _declare(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Run one declaration; a conflict closes the channel, so open a fresh one and explain."""
        try:
            fn(self._control, *args, **kwargs)
        except AMQPChannelError as exc:
            self._control = self.connection.channel()
            raise ValueError(f"{what} exists with other settings ({exc})") from None
        except AMQPConnectionError:
            self.connection.lost()
            self.connection.reconnect()
            fn(self._control, *args, **kwargs)

    @staticmethod
    def _declare_exchange(ch: BlockingChannel, name: str, partitions: int) -> None:
        ch.exchange_declare(
            name, "direct", durable=True, arguments={"x-evtlib-partitions": partitions}
        )

    @staticmethod
    def _declare_queue_on(ch: BlockingChannel, q: QueueSpec) -> None:
        ch.queue_declare(q.name, durable=True, arguments=q.arguments)
        ch.queue_bind(q.name, q.topic, routing_key=str(q.partition))

    @staticmethod
    def _declare_store_on(ch: BlockingChannel, store: str, keys: list[str]) -> None:
        ch.queue_declare(store, durable=True, arguments={"x-queue-type": "quorum"})
        for key in keys:
            ch.queue_bind(store, store, routing_key=key)

    def declare_queue(self, q: QueueSpec) -> None:
        """Declare a group's queue for one partition (once) and bind it to the topic."""
        if q.name in self._queues:
            return
        self._declare(
            f"queue {q.name!r} (delete it or use another group name)", self._declare_queue_on, q
        )
        self._queues[q.name] = q

    def declare_store(self, topic: str) -> str:
        """The quorum queue that keeps what is dead-lettered to ``topic`` (same name)."""
        t = self.topic(topic)
        if topic not in self._stores:
            keys = ["dead-letter"] + [str(p.index) for p in t.partitions]
            self._declare(f"queue {topic!r}", self._declare_store_on, topic, keys)
            self._stores[topic] = keys
        return topic

    def declare_quarantine(self, topic: str) -> str:
        """The quorum queue that keeps ``topic``'s undecodable messages: ``<topic>.quarantine``."""
        name = quarantine_name(topic)
        if name not in self._quarantines:
            self._declare(
                f"queue {name!r}",
                lambda ch: ch.queue_declare(
                    name, durable=True, arguments={"x-queue-type": "quorum"}
                ),
            )
            self._quarantines.add(name)
        return name

    @staticmethod
    def _declare_stream_on(
        ch: BlockingChannel, name: str, topic: str, partition: int, args: dict[str, Any]
    ) -> None:
        ch.queue_declare(name, durable=True, arguments=args)
        ch.queue_bind(name, topic, routing_key=str(partition))

    @staticmethod
    def _declare_offsets_on(ch: BlockingChannel, name: str) -> None:
        # Only the last commit is kept: a "last value" queue.
        args = {"x-max-length": 1, "x-overflow": "drop-head"}
        ch.queue_declare(name, durable=True, arguments=args)

    def load_offset(self, store: str) -> int | None:
        """The offset last committed to ``store`` (declared if new), or None."""
        if store not in self._offset_stores:
            self._declare(f"queue {store!r}", self._declare_offsets_on, store)
            self._offset_stores.add(store)
        ch = self.connection.channel()
        try:
            method, _props, body = ch.basic_get(store, auto_ack=False)
            if method is None:
                return None
            ch.basic_nack(int(method.delivery_tag or 0), requeue=True)
            return int(body or b"0")
        finally:
            self.connection.quietly(ch.close)

    def save_offset(self, store: str, offset: int) -> None:
        """Commit ``offset`` to ``store``: a persistent message, not waited for.

        Like Kafka's asynchronous commits: a commit lost in a crash means the
        group reads a few events again (at-least-once), never that it skips one.
        """
        body, props = offset_message(offset)
        self.publisher.send_unconfirmed("", store, body, props)

    def queue_spec(self, name: str) -> QueueSpec | None:
        """What this broker declared for the group queue ``name`` (None if not one of its own)."""
        return self._queues.get(name)

    def close(self) -> None:
        """Close both connections (unacked deliveries go back to their queues)."""
        if self._closed:
            return
        self._closed = True
        self._sim.detach(self._pump)
        self.connection.close()
        self.publisher.close()

    def __enter__(self) -> RabbitBroker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- topics and groups ---------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        capacity: int | None = None,
        policy: str | None = None,
        retention: float | None = None,
        retention_bytes: int | None = None,
        segment_bytes: int | None = None,
    ) -> RabbitTopic:
        """Declare topic ``name``: a durable direct exchange with ``partitions`` partitions.

        With ``profile="kafka"`` each partition is also a stream, retained for
        ``retention`` ms (``x-max-age``; default: RabbitMQ keeps it until
        ``retention_bytes``, ``x-max-length-bytes``, says otherwise) in
        segments of ``segment_bytes`` (the unit retention deletes).
        """
        check_new_topic(self._topics, name, partitions)
        if partitions > MAX_PARTITIONS:
            raise ValueError(
                f"partitions must be <= {MAX_PARTITIONS} on RabbitMQ (a quorum queue per group"
                f" and partition), got {partitions}"
            )
        for what, value in (("capacity", capacity), ("policy", policy)):
            if value is not None:
                raise ValueError(
                    f"{what} must be None on RabbitMQ, got {value!r}: RabbitMQ bounds a queue"
                    " (x-max-length with x-overflow), not a topic's exchange"
                )
        log = self.profile.family == "log"
        if not log and (retention, retention_bytes, segment_bytes) != (None, None, None):
            raise ValueError(
                "retention, retention_bytes and segment_bytes need profile='kafka' (streams):"
                " a queue keeps a message until it is acked"
            )
        if retention is not None:
            retention = ms("retention", retention, positive=True)
        for what, value in (("retention_bytes", retention_bytes), ("segment_bytes", segment_bytes)):
            if value is not None:
                integer(what, value, min=1)
        self._declare(
            f"exchange {name!r} (partitions={partitions})",
            self._declare_exchange,
            name,
            partitions,
        )
        if log:
            args = stream_arguments(retention, retention_bytes, segment_bytes)
            for p in range(partitions):
                stream = stream_name(name, p)
                self._declare(f"stream {stream!r}", self._declare_stream_on, stream, name, p, args)
                self._streams[stream] = (name, p, args)
        topic = RabbitTopic(self, name, partitions)
        self._topics[name] = topic
        return topic

    def topic(self, name: str) -> RabbitTopic:
        """The topic called ``name``; ``KeyError`` naming the known topics if none."""
        return find_topic(self._topics, name)

    def group(
        self, name: str, *, start: StartAt | None = None, session_timeout: float | None = None
    ) -> RabbitGroup | StreamGroup:
        """The consumer group ``name``, created on first use (its queues on first join).

        On the queue profile ``start`` is accepted for the interface (a queue
        only ever gets what is published after it exists); on streams
        (``profile="kafka"``) it is where a new group begins: ``"earliest"``
        or ``"latest"`` (the default, Kafka's ``auto.offset.reset``).
        ``session_timeout`` must be 0: RabbitMQ notices a closed channel at
        once.  Asking again for an existing group with a different ``start``
        is an error, as on the simulated broker.
        """
        checks.name("group name", name)
        if start is not None:
            checks.one_of("start", start, ("earliest", "latest"))
        if session_timeout is not None and checks.ms("session_timeout", session_timeout) != 0:
            raise ValueError(
                "session_timeout must be 0 on RabbitMQ (it sees a closed channel at once; a dead"
                f" process after the heartbeat), got {session_timeout!r}"
            )
        g = self._groups.get(name)
        if g is None:
            if self.profile.family == "log":
                default = str(self.profile.settings.get("auto.offset.reset", "latest"))
                g = StreamGroup(self, name, start or default)
            else:
                g = RabbitGroup(self, name, start or "earliest")
            self._groups[name] = g
        elif start is not None and start != g.start:
            raise ValueError(
                f"start must be {g.start!r}, the start of the existing group {name!r}, got {start!r}"
            )
        return g

    # -- publishing ------------------------------------------------------------------

    def publish(self, topic: str, event: Event, *, actor: str = "client") -> tuple[int, int]:
        """Publish ``event`` to its partition of ``topic`` and wait for the confirm.

        Returns ``(partition, -1)``: RabbitMQ queues have no offsets.  Raises
        :class:`~.connection.Unroutable` when no queue is bound for the
        partition.  If the connection drops, it reconnects and publishes
        again (the broker may then hold the event twice: consumers must be
        idempotent).  While an alarm blocks publishing, it waits.
        """
        t = self._topics.get(topic)
        if t is None:
            t = self.topic(topic)  # raises the helpful KeyError
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        p = t.partition_of(event.key)
        body, props = encode(event)
        self.publisher.send(topic, str(p), body, props, actor=actor, topic=topic, partition=p)
        t.published += 1
        sim = self._sim
        if sim.trace.enabled:
            sim.trace.record(sim.now, "published", actor, event.id, topic, p, -1)
        return p, -1

    # -- dead letters ------------------------------------------------------------------

    def dead_letter_queue(self, topic: str) -> RabbitDeadLetterQueue:
        """A view of dead-letter topic ``topic``: list, count, redrive (queue profile only)."""
        if self.profile.family == "log":
            raise NotImplementedError(
                "dead_letter_queue() reads a dead-letter queue; on streams (profile='kafka') the"
                f" dead-letter topic {topic!r} is a log: read it with a group from 'earliest'"
            )
        from .deadletters import RabbitDeadLetterQueue

        return RabbitDeadLetterQueue(self, topic)

    # -- inspection and tidying ----------------------------------------------------------

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (unacked ones not counted)."""
        while True:
            try:
                ch = self.connection.channel()
                try:
                    return ch.queue_declare(queue, passive=True).method.message_count
                finally:
                    self.connection.quietly(ch.close)
            except AMQPChannelError as exc:
                raise KeyError(f"unknown queue {queue!r} ({exc})") from None
            except AMQPConnectionError:
                self.connection.reconnect()

    def delete_all(self) -> None:
        """Delete every queue and exchange this broker declared (tests, demos)."""
        ch = self.connection.channel()
        for name in [
            *self._queues,
            *self._stores,
            *self._quarantines,
            *self._streams,
            *self._offset_stores,
        ]:
            ch.queue_delete(name)
        for name in self._topics:
            ch.exchange_delete(name)
        ch.close()

    def read(
        self, topic: str, partition: int, offset: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of one partition from ``offset`` on: a replay straight from its stream.

        Streams only (``profile="kafka"``): a queue keeps nothing once acked.
        """
        t = self.topic(topic)
        if self.profile.family != "log":
            raise NotImplementedError(
                "RabbitMQ queues are not a retained log: read a group's deliveries instead,"
                " or use RabbitBroker(profile='kafka') (streams)"
            )
        integer("partition", partition, min=0, max=len(t.partitions) - 1)
        integer("offset", offset, min=0)
        if limit is not None:
            integer("limit", limit, min=0)
        conn = self.connection.spare()
        try:
            return read_stream(conn, stream_name(topic, partition), offset, limit)
        finally:
            conn.close()

    def events(self, topic: str) -> list[Event]:
        """Every event ``topic`` still keeps, partition by partition, in offset order (streams)."""
        t = self.topic(topic)
        return [e for p in t.partitions for e in self.read(topic, p.index)]

    def __repr__(self) -> str:
        return (
            f"<RabbitBroker {self.name} url={self.url} topics={list(self._topics)}"
            f" groups={list(self._groups)} prefetch={self.prefetch} reconnects={self.reconnects}>"
        )

"""RabbitMQ: the same producers, consumers, read models and patterns on a real broker.

:class:`RabbitBroker` offers the public surface of the simulated
:class:`~evtlib.broker.Broker` over AMQP 0-9-1 (with ``pika``), so a
:class:`~evtlib.producer.Producer`, a :class:`~evtlib.consumer.Consumer`, a
:class:`~evtlib.consumer.ReadModel` and the four patterns run on it
unchanged.  Time is real there: :class:`RealTime` is a runner with the
interface of :class:`~evtlib.sim.Simulation` (``now``, ``schedule``,
``timer``, ``run(until=...)``, ``trace``, ``rng_for``, ``next_id``) whose
timers (relay polling, retry backoff, saga timeouts) fire on the wall clock
while it pumps the broker's network I/O.

    sim = RealTime()
    broker = RabbitBroker("amqp://guest:guest@localhost:5672/%2F", sim=sim)
    broker.create_topic("orders", partitions=2)
    billing = Consumer(broker, "billing", "orders", handler=print)
    Producer(broker, "shop", "orders").emit("OrderPlaced", "order-1", {"total": 30})
    sim.run_until(lambda: len(billing.handled_at) == 1)

The mapping, concept by concept
-------------------------------
* **Topic -> exchange.**  A topic is a durable ``direct`` exchange of the same
  name; its partition count is stored in the exchange's arguments
  (``x-evtlib-partitions``), so every client agrees on it.  An event goes to
  the partition chosen exactly as in the simulation (CRC-32 of the key), used
  as the routing key (``"0"``, ``"1"``, ...).
* **Consumer group -> queues; partition -> one queue per group and
  partition.**  Group ``billing`` on topic ``orders`` with two partitions is
  the queues ``orders.billing.0`` and ``orders.billing.1``, each bound to the
  exchange with its partition's routing key.  Every group has its own queues,
  so every group gets every event (fan-out).  A group only receives events
  published after its queues exist: queues are not a retained log (there is
  no ``start="earliest"`` replay, no offsets: :attr:`Delivery.offset` is -1).
* **One owner per partition -> single active consumer.**  The queues are
  declared with ``x-single-active-consumer``: whatever the number of
  processes, RabbitMQ delivers a partition to one consumer at a time, and
  hands it to another when that one goes away.  Inside one process the group
  spreads the partitions round-robin over its members, as the simulated group
  does (competing consumers).
* **At-least-once -> manual ack after the handler; at-most-once ->
  auto-ack.**  A handler that raises is given back to the queue
  (``basic.nack`` with requeue) after :meth:`Consumer.retry_after` ms, during
  which the partition waits (prefetch 1, the default); the queue counts the
  deliveries (``x-delivery-count``), which becomes :attr:`Delivery.attempt`.
  A consumer that dies without acking (crash, lost connection) gives its
  unacked deliveries back to the queue: they are delivered again.
* **Publisher confirms.**  :meth:`RabbitBroker.publish` returns when the
  broker has confirmed the message (written to its quorum log), so the outbox
  relay marks a row sent only after the broker has it.
* **Durable.**  Quorum queues (replicated, durable) and persistent messages
  (``delivery_mode=2``).
* **Dead-letter queue -> dead-letter exchange + delivery limit.**  When a
  :class:`~evtlib.patterns.dlq.DeadLetterConsumer` joins a group, the group's
  queues get ``x-dead-letter-exchange`` (its ``dlq`` topic) and
  ``x-delivery-limit`` (its policy's ``max_attempts - 1``).  RabbitMQ itself
  moves an event that failed on its last attempt to the dead-letter exchange
  (reason ``delivery_limit``); an event the validator refuses is rejected
  without requeue (reason ``rejected``).  The dead-letter topic's store is the
  quorum queue of the same name (``orders.dlq``).  :class:`RabbitDeadLetterQueue`
  builds each :class:`~evtlib.patterns.dlq.DeadLetterRecord` from the
  message's ``x-death`` header (reason, source queue and exchange, time,
  count): RabbitMQ records *that* and *where* a message died, not the error,
  so ``error_type`` is RabbitMQ's reason.  Redrive publishes the unchanged
  event back to its source topic with confirms, then acks it in the store.
* **Events on the wire** are plain JSON (the event's ``data``) with standard
  AMQP properties: ``message_id`` = event id, ``type``, ``timestamp``
  (seconds), ``correlation_id``, ``app_id`` = source, ``content_type``
  ``application/json``; ``causation-id``, ``key``, ``version`` and
  ``time-ms`` (the exact event time, as a decimal string) in the headers.  Any AMQP client can read
  and write them (:func:`encode`, :func:`decode`).
* **Connections** come from a URL (``amqp://`` or ``amqps://``), given
  explicitly or in ``EVTLIB_RABBITMQ_URL``.  The password is never shown: not
  in a repr, a trace, a log line or an error message (:func:`redact`).  A lost
  connection is retried with capped exponential backoff; the topology is
  declared again and the consumers resume.  Unacked deliveries come back from
  the queues, so nothing is lost (a handler may see an event twice, as with
  any at-least-once consumer).

What does not carry over: simulated latency, network faults, buffers with
capacity, ``pause``, log replay (``read``, ``reset_offsets``) and anything
that depends on simulated time being exact.  Timestamps are wall-clock
milliseconds since the epoch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

try:
    import pika
    from pika.exceptions import AMQPChannelError, AMQPConnectionError, NackError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "evtlib.adapters.rabbitmq needs pika: pip install 'evtlib[rabbitmq]'"
    ) from exc

from ..broker import Broker, Topic, TopicPartition, _check_new_topic
from ..consumer import Consumer, Delivery
from ..distributions import Constant
from ..errors import EmptySchedule, EvtlibError
from ..events import Event, thaw
from ..patterns.dlq import DeadLetterQueue
from ..sim import Scheduler, Timer, describe

__all__ = [
    "RealTime",
    "RabbitBroker",
    "RabbitTopic",
    "RabbitGroup",
    "RabbitDeadLetterQueue",
    "BrokerUnavailable",
    "PublishError",
    "URL_ENV",
    "DEFAULT_URL",
    "redact",
    "resolve_url",
    "reachable",
    "encode",
    "decode",
    "queue_name",
    "delivery_limit",
]

#: The environment variable read for the connection URL when none is given.
URL_ENV = "EVTLIB_RABBITMQ_URL"
#: The URL used when neither an argument nor :data:`URL_ENV` gives one.
DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
#: How to get a broker, for error messages and skipped tests.
HOW_TO_START = (
    "start one with: apt-get install rabbitmq-server && rabbitmq-server -detached, "
    f"or set {URL_ENV}"
)

_NETWORK_ERRORS = (AMQPConnectionError, AMQPChannelError, OSError)


class BrokerUnavailable(EvtlibError):
    """Raised when RabbitMQ cannot be reached, even after retrying."""


class PublishError(EvtlibError):
    """Raised when RabbitMQ refuses (nacks) a published message."""


# -- connection URLs -------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to show and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def resolve_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$EVTLIB_RABBITMQ_URL``, else :data:`DEFAULT_URL`."""
    chosen = url if url is not None else os.environ.get(URL_ENV) or DEFAULT_URL
    if not isinstance(chosen, str) or urlsplit(chosen).scheme not in ("amqp", "amqps"):
        shown = redact(chosen) if isinstance(chosen, str) else repr(chosen)
        raise ValueError(f"url must start with amqp:// or amqps://, got {shown!r}")
    return chosen


def _scrub(text: str, url: str) -> str:
    password = urlsplit(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")  # type: ignore[arg-type]
    return text


def _connect(url: str, heartbeat: int, attempts: int = 1) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = 30
    params.connection_attempts = 1
    params.socket_timeout = 5
    delay, last = 0.1, "no attempt"
    for i in range(attempts):
        try:
            return pika.BlockingConnection(params)
        except AMQPConnectionError as exc:
            detail = str(exc) or ", ".join(repr(a) for a in exc.args) or "no detail"
            last = _scrub(f"{type(exc).__name__}: {detail}", url)
        if i + 1 < attempts:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise BrokerUnavailable(
        f"cannot reach RabbitMQ at {redact(url)} after {attempts} attempt(s) ({last}); "
        + HOW_TO_START
    )


def reachable(url: str | None = None) -> str | None:
    """``None`` if RabbitMQ answers at ``url``, else why not (the password redacted)."""
    try:
        chosen = resolve_url(url)
        _connect(chosen, heartbeat=0).close()
    except (BrokerUnavailable, ValueError) as exc:
        return str(exc)
    return None


# -- names and limits ----------------------------------------------------------------


def queue_name(topic: str, group: str, partition: int) -> str:
    """The queue of ``group`` for one partition of ``topic``: ``orders.billing.0``."""
    return f"{topic}.{group}.{partition}"


def delivery_limit(max_attempts: int) -> int:
    """The quorum queue's ``x-delivery-limit`` for ``max_attempts`` deliveries.

    RabbitMQ dead-letters a message returned more than ``limit`` times, so
    ``max_attempts`` deliveries need a limit of ``max_attempts - 1``.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
    return max_attempts - 1


# -- events on the wire ------------------------------------------------------------


def encode(event: Event) -> tuple[bytes, pika.BasicProperties]:
    """An event as an AMQP message: JSON ``data`` and standard properties."""
    # AMQP tables have no plain float: the exact time travels as its repr.
    headers: dict[str, Any] = {"time-ms": repr(event.time), "version": event.version}
    if event.key is not None:
        headers["key"] = event.key
    if event.causation_id is not None:
        headers["causation-id"] = event.causation_id
    body = json.dumps(thaw(event.data), sort_keys=True, separators=(",", ":")).encode()
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=event.id,
        type=event.type,
        timestamp=int(event.time // 1000),
        correlation_id=event.correlation_id,
        app_id=event.source,
        headers=headers,
    )
    return body, props


def decode(props: pika.BasicProperties, body: bytes) -> Event:
    """The event in an AMQP message written by :func:`encode` or any other client.

    Needs ``message_id`` and ``type``; the time is the ``time-ms`` header, else
    the ``timestamp`` property, else 0.
    """
    headers = props.headers or {}
    when = headers.get("time-ms")
    if when is None:
        when = (props.timestamp or 0) * 1000
    if not props.message_id or not props.type:
        raise ValueError(
            "an event message needs the message_id and type properties, got "
            f"message_id={props.message_id!r} type={props.type!r}"
        )
    return Event(
        id=props.message_id,
        type=props.type,
        time=float(when),
        source=props.app_id or "unknown",
        key=headers.get("key"),
        data=json.loads(body) if body else {},
        correlation_id=props.correlation_id or None,
        causation_id=headers.get("causation-id"),
        version=int(headers.get("version", 1)),
    )


# -- the real-time runner ----------------------------------------------------------


class RealTime(Scheduler):
    """The runner of a real broker: a wall clock, timers, seeded names and a trace.

    It shares the scheduling core of :class:`~evtlib.sim.Simulation`
    (:class:`~evtlib.sim.Scheduler`), so the patterns schedule their timers on
    it unchanged; it differs only in the clock, :meth:`step` and :meth:`run`.
    ``now`` is the wall clock in ms since the epoch.  :meth:`run` fires timers
    when they are due and, in between, pumps the network I/O of every broker
    attached to it, which is where deliveries reach consumers.  Everything
    runs in the calling thread: a handler never runs concurrently with
    another.

    ``seed`` seeds :meth:`rng_for` (retry jitter, failure injection), so the
    random choices repeat even though timings do not.  ``namespace``, if
    given, goes into every id from :meth:`next_id` (``evt-run7-000001``):
    use one per process when several processes publish to the same broker,
    so event ids stay unique.
    """

    scope = "runner"
    #: The clock moves on its own: a fault scheduled "at now" (read a moment
    #: ago) is already in the past when it is checked, and happens now.
    wall_clock = True

    def __init__(self, seed: int = 0, *, trace: bool = True, namespace: str | None = None):
        super().__init__(seed, trace=trace)
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ValueError(f"namespace must be a non-empty str or None, got {namespace!r}")
        self.namespace = namespace
        self._pumps: list[Callable[[float], None]] = []
        self._origin = time.time() * 1000.0 - time.monotonic() * 1000.0
        #: Deliveries seen so far (what :meth:`run` watches to know the broker is quiet).
        self.activity = 0

    @property  # type: ignore[override]
    def now(self) -> float:
        """Wall-clock time in ms since the epoch (advancing monotonically)."""
        return self._origin + time.monotonic() * 1000.0

    def _fire_due(self) -> None:
        while self.peek() <= self.now:
            _, fn, args = self._next()
            fn(*args)

    # -- running -----------------------------------------------------------------

    def attach(self, pump: Callable[[float], None]) -> None:
        """Register ``pump(seconds)``, which waits up to that long for network I/O."""
        self._pumps.append(pump)

    def detach(self, pump: Callable[[float], None]) -> None:
        """Stop pumping ``pump`` (a broker that closed)."""
        if pump in self._pumps:
            self._pumps.remove(pump)

    def _wait(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if not self._pumps:
            time.sleep(seconds)
            return
        share = seconds / len(self._pumps)
        for pump in list(self._pumps):
            pump(share)

    def step(self) -> None:
        """Wait for the next timer (pumping I/O meanwhile) and fire it.

        Raises :class:`~evtlib.errors.EmptySchedule`, as a simulation does,
        when no timer is waiting.
        """
        due = self.peek()
        if due == float("inf"):
            raise EmptySchedule(f"nothing is scheduled in this {self.scope}")
        while self.now < due:
            self._wait(min(0.05, (due - self.now) / 1000.0))
        self._fire_due()

    def run(self, until: float | None = None, *, quiet: float = 300.0) -> float:
        """Fire timers and pump I/O until time ``until`` (ms since the epoch).

        With ``until=None``, run until no timer is waiting and no delivery
        has arrived for ``quiet`` ms.  Returns the clock.
        """
        last, quiet_since = self.activity, self.now
        while True:
            self._fire_due()
            now = self.now
            if until is not None:
                if now >= until:
                    return now
                limit = until
            else:
                if self.activity != last:
                    last, quiet_since = self.activity, now
                if self.peek() == float("inf") and now - quiet_since >= quiet:
                    return now
                limit = now + quiet
            self._wait(min(0.02, (min(limit, self.peek()) - now) / 1000.0))

    def run_until(self, condition: Callable[[], bool], *, timeout: float = 10_000.0) -> float:
        """Run until ``condition()`` is true; raise ``TimeoutError`` after ``timeout`` ms."""
        deadline = self.now + timeout
        while True:
            self._fire_due()
            if condition():
                return self.now
            now = self.now
            if now >= deadline:
                raise TimeoutError(
                    f"condition {describe(condition)} still false after {timeout:g} ms"
                )
            self._wait(min(0.01, (min(deadline, self.peek()) - now) / 1000.0))

    def __repr__(self) -> str:
        return (
            f"<RealTime seed={self.seed} timers={len(self.scheduled())} "
            f"brokers={len(self._pumps)} trace={len(self.trace)} records>"
        )



# -- topology ------------------------------------------------------------------------


class _Partition:
    """A partition of a RabbitMQ topic: only its index (there is no retained log)."""

    __slots__ = ("index", "log")

    def __init__(self, index: int) -> None:
        self.index = index
        self.log: list[Event] = []  # always empty: queues are not logs

    def __repr__(self) -> str:
        return f"<Partition {self.index}>"


class RabbitTopic:
    """A topic on RabbitMQ: a durable direct exchange and its partition count."""

    def __init__(self, broker: RabbitBroker, name: str, partitions: int) -> None:
        self.broker = broker
        self.name = name
        self.partitions = [_Partition(i) for i in range(partitions)]
        self.capacity: int | None = None
        self.policy = "block"
        self.published = 0
        self.rejected = 0
        self._rr = 0
        self._blocked: list[Callable[[], None]] = []

    # Keys map to partitions exactly as in the simulation (CRC-32, round-robin without a key).
    partition_of = Topic.partition_of
    partition_of_peek = Topic.partition_of_peek

    def has_room(self, partition: int) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<RabbitTopic {self.name} partitions={len(self.partitions)} published={self.published}>"


@dataclass
class _Queue:
    """What the broker declared for one queue, so it can declare it again after a reconnect."""

    name: str
    topic: str
    group: str
    partition: int
    arguments: dict[str, Any]
    dead_letter_exchange: str | None = None
    delivery_limit: int | None = None
    handled: int = 0
    tp: TopicPartition = field(init=False)

    def __post_init__(self) -> None:
        self.tp = TopicPartition(self.topic, self.partition)


class RabbitGroup:
    """A consumer group on RabbitMQ: one quorum queue per partition, one owner each.

    Members in this process share the partitions round-robin (as the
    simulated group does); single active consumer guarantees one owner per
    partition across processes too.  ``session_timeout`` is 0: RabbitMQ sees
    a closed channel at once (a dead process: after the heartbeat).
    """

    def __init__(self, broker: RabbitBroker, name: str, start: str) -> None:
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = 0.0
        self.topics: list[str] = []
        self.members: list[Consumer] = []
        self.states: dict[TopicPartition, Any] = {}
        self.rebalances = 0
        self._queues: dict[TopicPartition, _Queue] = {}
        self._owner: dict[TopicPartition, Consumer] = {}
        self._channels: dict[str, Any] = {}  # consumer name -> channel
        self._tags: dict[tuple[str, TopicPartition], str] = {}
        # Failed deliveries waiting for their retry, per member and partition: tag -> timer.
        self._held: dict[tuple[str, TopicPartition], dict[int, Timer]] = {}

    # -- membership ----------------------------------------------------------------

    def _subscribe(self, topic: RabbitTopic) -> None:
        if topic.name not in self.topics:
            self.topics.append(topic.name)

    def _declare(self, consumer: Consumer) -> None:
        dlx, limit = None, None
        dlq = getattr(consumer, "dlq", None)
        policy = getattr(consumer, "policy", None)
        if isinstance(dlq, str) and policy is not None:
            dlx, limit = dlq, delivery_limit(int(policy.max_attempts))
        for topic in consumer.topics:
            for part in self.broker.topic(topic).partitions:
                tp = TopicPartition(topic, part.index)
                if tp in self._queues:
                    continue
                args: dict[str, Any] = {"x-queue-type": "quorum", "x-single-active-consumer": True}
                if dlx is not None:
                    args["x-dead-letter-exchange"] = dlx
                    args["x-dead-letter-routing-key"] = "dead-letter"
                    args["x-delivery-limit"] = limit
                    self.broker._declare_store(dlx)
                name = queue_name(topic, self.name, part.index)
                q = _Queue(name, topic, self.name, part.index, args)
                q.dead_letter_exchange, q.delivery_limit = dlx, limit
                self.broker._declare_queue(q)
                self._queues[tp] = q
                self.states[tp] = q

    def join(self, consumer: Consumer) -> None:
        """Add ``consumer``: declare its queues if needed and rebalance."""
        if consumer in self.members:
            raise ValueError(
                f"consumer {consumer.name!r} is already a member of group {self.name!r}"
            )
        self._declare(consumer)
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
            self.broker._quietly(ch.close)
        self.rebalance()

    def rebalance(self) -> None:
        """Give each partition one live member, round-robin in join order."""
        live = [m for m in self.members if m.alive]
        changes = []
        for tp, q in self._queues.items():
            eligible = [m for m in live if tp.topic in m.topics]
            new = eligible[tp.partition % len(eligible)] if eligible else None
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

    def _channel(self, consumer: Consumer) -> Any:
        ch = self._channels.get(consumer.name)
        if ch is None or not ch.is_open:
            ch = self.broker._conn.channel()
            ch.basic_qos(prefetch_count=self.broker.prefetch)
            self._channels[consumer.name] = ch
        return ch

    def _consume(self, consumer: Consumer, q: _Queue) -> None:
        ch = self._channel(consumer)
        auto = consumer.delivery == "at-most-once"
        callback = partial(self._on_message, consumer, q, self.broker._epoch)
        self._tags[(consumer.name, q.tp)] = ch.basic_consume(
            q.name, callback, auto_ack=auto, exclusive=False
        )

    def _release(self, consumer: Consumer, tp: TopicPartition, *, graceful: bool) -> None:
        ch = self._channels.get(consumer.name)
        held = self._held.pop((consumer.name, tp), {})
        tag = self._tags.pop((consumer.name, tp), None)
        for timer in held.values():
            timer.cancel()
        if ch is None or not ch.is_open or not graceful:
            return  # the channel closes: RabbitMQ takes its unacked deliveries back
        for held_tag in held:
            self.broker._quietly(ch.basic_nack, held_tag, requeue=True)
        if tag is not None:
            self.broker._quietly(ch.basic_cancel, tag)

    def _reconnected(self) -> None:
        for held in self._held.values():
            for timer in held.values():
                timer.cancel()
        self._held.clear()
        self._tags.clear()
        self._channels.clear()
        self._owner.clear()
        self.rebalance()

    # -- deliveries ------------------------------------------------------------------

    def _on_message(
        self,
        consumer: Consumer,
        q: _Queue,
        epoch: int,
        ch: Any,
        method: Any,
        props: Any,
        body: bytes,
    ) -> None:
        broker = self.broker
        sim = broker.sim
        tag = method.delivery_tag
        auto = consumer.delivery == "at-most-once"
        if epoch != broker._epoch:
            return  # a delivery on a dead connection: it comes back on the new one
        if not consumer.alive or self._owner.get(q.tp) is not consumer:
            if not auto:  # arrived after a revoke: give it back
                broker._quietly(ch.basic_nack, tag, requeue=True)
            return
        sim.activity += 1
        event = decode(props, body)
        attempt = int((props.headers or {}).get("x-delivery-count", 0)) + 1
        now = sim.now
        delivery = Delivery(event, q.topic, q.partition, -1, attempt, self.name, consumer.name, now)
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
        broker._current, broker._verdict = (consumer, delivery), None
        try:
            wait = consumer.handle(delivery, q)
        finally:
            broker._current = None
        verdict, broker._verdict = broker._verdict, None
        if auto:
            if wait is not None:
                sim.trace.record(
                    sim.now,
                    "lost",
                    consumer.name,
                    event.id,
                    q.topic,
                    q.partition,
                    -1,
                    "handler failed after auto-ack",
                )
            return
        if epoch != broker._epoch or not consumer.alive or not ch.is_open:
            return  # crashed in the handler, or the connection dropped: it comes back
        if wait is None:
            if verdict == "requeue":  # the last attempt: the delivery limit dead-letters it
                broker._quietly(ch.basic_nack, tag, requeue=True)
            elif verdict == "reject":
                broker._quietly(ch.basic_reject, tag, requeue=False)
            else:
                broker._quietly(ch.basic_ack, tag)
            return
        # Failed: hold the delivery (the partition waits behind it), then give it back.
        key = (consumer.name, q.tp)
        self._held.setdefault(key, {})[tag] = sim.timer(wait, self._give_back, key, ch, tag, epoch)

    def _give_back(self, key: tuple[str, TopicPartition], ch: Any, tag: int, epoch: int) -> None:
        held = self._held.get(key, {})
        if held.pop(tag, None) is None or epoch != self.broker._epoch:
            return
        if ch.is_open:
            self.broker._quietly(ch.basic_nack, tag, requeue=True)

    # -- inspection ----------------------------------------------------------------

    def assignment(self) -> dict[str, str | None]:
        """Who consumes each partition here: ``{"orders[0]": "billing-1", ...}``."""
        return {
            str(tp): (self._owner[tp].name if tp in self._owner else None) for tp in self._queues
        }

    def lag(self) -> int:
        """Messages ready in the group's queues (not counting unacked ones)."""
        return sum(self.broker.queue_depth(q.name) for q in self._queues.values())

    def queues(self) -> list[str]:
        """The names of the group's queues, one per topic and partition."""
        return [q.name for q in self._queues.values()]

    def __repr__(self) -> str:
        names = [m.name + ("" if m.alive else "(down)") for m in self.members]
        return f"<RabbitGroup {self.name} topics={self.topics} members={names}>"


# -- the broker ----------------------------------------------------------------------


class RabbitBroker:
    """A broker backend over RabbitMQ with the public interface of :class:`~evtlib.broker.Broker`.

    Parameters
    ----------
    url:
        ``amqp://user:password@host:port/vhost`` or ``amqps://...``; default
        ``$EVTLIB_RABBITMQ_URL``, else :data:`DEFAULT_URL`.
    sim:
        The :class:`RealTime` runner to pump (default: a new one).
    name:
        The broker's name in the trace.
    prefetch:
        Unacked deliveries per partition and consumer.  1 (default) keeps a
        partition waiting behind a failed event, as the simulation does;
        more is faster but lets later events overtake a retried one.
    reconnect_timeout:
        How long (ms) to keep retrying a lost connection before raising
        :class:`BrokerUnavailable`.
    heartbeat:
        AMQP heartbeat (s): how soon either side notices a dead peer.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        sim: RealTime | None = None,
        name: str = "broker",
        prefetch: int = 1,
        reconnect_timeout: float = 60_000.0,
        heartbeat: int = 30,
    ) -> None:
        if sim is None:
            sim = RealTime()
        if not isinstance(sim, RealTime):
            raise TypeError(f"sim must be a RealTime runner, got {sim!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError(f"prefetch must be an int >= 1, got {prefetch!r}")
        if not reconnect_timeout >= 0:
            raise ValueError(f"reconnect_timeout must be >= 0 ms, got {reconnect_timeout!r}")
        self._url = resolve_url(url)
        #: The URL with the password replaced by ``***``.
        self.url = redact(self._url)
        self.sim = sim
        self.name = sim.register_name(name, "broker")
        self.prefetch = prefetch
        self.reconnect_timeout = float(reconnect_timeout)
        self.heartbeat = heartbeat
        self.latency = Constant(0.0)
        self.faults = None
        self.rng = sim.rng_for(name)
        self.topics: dict[str, RabbitTopic] = {}
        self.groups: dict[str, RabbitGroup] = {}
        self.consumers: list[Consumer] = []
        self.producers: list[Any] = []
        #: How many times a lost connection was re-established.
        self.reconnects = 0
        self._queues: dict[str, _Queue] = {}
        self._stores: dict[str, list[str]] = {}  # dead-letter store queue -> binding keys
        self._epoch = 0
        self._broken = False
        self._closed = False
        self._current: tuple[Consumer, Delivery] | None = None
        self._verdict: str | None = None
        self._conn = _connect(self._url, heartbeat, attempts=3)
        self._pub = self._conn.channel()
        self._pub.confirm_delivery()
        sim.attach(self._pump)

    # -- connection ----------------------------------------------------------------

    def _pump(self, seconds: float) -> None:
        if self._closed:
            return
        if self._broken:
            self._reconnect()
        try:
            self._conn.process_data_events(time_limit=seconds)
        except _NETWORK_ERRORS:
            self._reconnect()

    def _quietly(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call a channel method; a dead connection is noted (reconnect on the next pump)."""
        try:
            fn(*args, **kwargs)
        except AMQPConnectionError:
            self._broken = True
        except AMQPChannelError:
            if not self._conn.is_open:
                self._broken = True

    def _reconnect(self) -> None:
        """Connect again with backoff, declare the topology again, resume consuming."""
        sim = self.sim
        self._epoch += 1
        self._broken = False
        try:
            self._conn.close()
        except Exception:  # already dead: closing is only tidying up
            pass
        deadline = time.monotonic() + self.reconnect_timeout / 1000.0
        delay, tries = 0.1, 0
        while True:
            tries += 1
            try:
                self._conn = _connect(self._url, self.heartbeat)
                break
            except BrokerUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._pub = self._conn.channel()
        self._pub.confirm_delivery()
        ch = self._pub
        for t in self.topics.values():
            self._declare_exchange(ch, t.name, len(t.partitions))
        for store, keys in self._stores.items():
            self._declare_store_on(ch, store, keys)
        for q in self._queues.values():
            self._declare_queue_on(ch, q)
        self.reconnects += 1
        sim.trace.record(sim.now, "reconnected", self.name, detail=f"after {tries} attempt(s)")
        for g in self.groups.values():
            g._reconnected()

    def _declare_exchange(self, ch: Any, name: str, partitions: int) -> None:
        ch.exchange_declare(
            name, "direct", durable=True, arguments={"x-evtlib-partitions": partitions}
        )

    def _declare_queue_on(self, ch: Any, q: _Queue) -> None:
        ch.queue_declare(q.name, durable=True, arguments=q.arguments)
        ch.queue_bind(q.name, q.topic, routing_key=str(q.partition))

    def _declare_queue(self, q: _Queue) -> None:
        if q.name in self._queues:
            return
        try:
            self._declare_queue_on(self._pub, q)
        except AMQPChannelError as exc:
            self._pub = self._conn.channel()
            self._pub.confirm_delivery()
            raise ValueError(
                f"queue {q.name!r} exists with other settings ({exc}); delete it or use another"
                " group name"
            ) from None
        self._queues[q.name] = q

    def _declare_store_on(self, ch: Any, store: str, keys: list[str]) -> None:
        ch.queue_declare(store, durable=True, arguments={"x-queue-type": "quorum"})
        for key in keys:
            ch.queue_bind(store, store, routing_key=key)

    def _declare_store(self, topic: str) -> str:
        """The quorum queue that keeps what is dead-lettered to ``topic`` (same name)."""
        t = self.topic(topic)
        if topic not in self._stores:
            keys = ["dead-letter"] + [str(p.index) for p in t.partitions]
            self._declare_store_on(self._pub, topic, keys)
            self._stores[topic] = keys
        return topic

    def close(self) -> None:
        """Close the connection (unacked deliveries go back to their queues)."""
        if self._closed:
            return
        self._closed = True
        self.sim.detach(self._pump)
        try:
            self._conn.close()
        except Exception:  # already closed by the other side
            pass

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
        policy: str = "block",
    ) -> RabbitTopic:
        """Declare topic ``name``: a durable direct exchange with ``partitions`` partitions."""
        _check_new_topic(self.topics, name, partitions)
        if capacity is not None:
            raise ValueError(
                f"capacity must be None on RabbitMQ (bounded buffers are simulated only), got {capacity!r}"
            )
        try:
            self._declare_exchange(self._pub, name, partitions)
        except AMQPChannelError as exc:
            self._pub = self._conn.channel()
            self._pub.confirm_delivery()
            raise ValueError(
                f"exchange {name!r} exists with other settings ({exc}); partitions={partitions}"
            ) from None
        topic = RabbitTopic(self, name, partitions)
        self.topics[name] = topic
        return topic

    def topic(self, name: str) -> RabbitTopic:
        """The topic called ``name``; ``KeyError`` naming the known topics if none."""
        try:
            return self.topics[name]
        except (KeyError, TypeError):
            known = ", ".join(self.topics) or "none yet"
            raise KeyError(f"unknown topic {name!r}; known topics: {known}") from None

    def group(
        self, name: str, *, start: str = "earliest", session_timeout: float = 0.0
    ) -> RabbitGroup:
        """The consumer group ``name``, created on first use (its queues on first join)."""
        g = self.groups.get(name)
        if g is None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"group name must be a non-empty str, got {name!r}")
            if start not in ("earliest", "latest"):
                raise ValueError(f"start must be 'earliest' or 'latest', got {start!r}")
            g = self.groups[name] = RabbitGroup(self, name, start)
        return g

    # -- publishing ------------------------------------------------------------------

    def publish(self, topic: str, event: Event, *, actor: str = "client") -> tuple[int, int]:
        """Publish ``event`` to its partition of ``topic`` and wait for the confirm.

        Returns ``(partition, -1)``: RabbitMQ queues have no offsets.  If the
        connection drops, it reconnects and publishes again (the broker may
        then hold the event twice: consumers must be idempotent).
        """
        t = self.topics.get(topic)
        if t is None:
            self.topic(topic)  # raises the helpful KeyError
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        assert t is not None
        p = t.partition_of(event.key)
        body, props = encode(event)
        self._send(topic, str(p), body, props)
        t.published += 1
        sim = self.sim
        if sim.trace.enabled:
            sim.trace.record(sim.now, "published", actor, event.id, topic, p, -1)
        return p, -1

    def _send(self, exchange: str, routing_key: str, body: bytes, props: Any) -> None:
        while True:
            if self._broken:
                self._reconnect()
            try:
                self._pub.basic_publish(exchange, routing_key, body, props)
                return
            except NackError:
                raise PublishError(
                    f"RabbitMQ refused (nacked) message {props.message_id} to {exchange!r}"
                ) from None
            except _NETWORK_ERRORS:
                if self._conn.is_open and self._pub.is_open:
                    raise
                self._broken = True

    # -- dead letters ------------------------------------------------------------------

    def dead_letter(self, consumer: Consumer, delivery: Delivery, record: Any) -> bool:
        """Dead-letter the delivery being handled the RabbitMQ way; ``False`` if it cannot.

        Called by :class:`~evtlib.patterns.dlq.DeadLetterConsumer`.  A failed
        last attempt is given back to the queue, whose delivery limit then
        moves it to the dead-letter exchange (reason ``delivery_limit``); a
        rejected or expired event is rejected without requeue (reason
        ``rejected``).  ``False`` (the consumer then publishes the record
        itself) when the queue has no dead-letter exchange for the consumer's
        ``dlq``.
        """
        current = self._current
        if current is None or current[0] is not consumer or current[1] != delivery:
            return False
        q = consumer.group._queues.get(TopicPartition(delivery.topic, delivery.partition))  # type: ignore[attr-defined]
        if q is None or q.dead_letter_exchange != getattr(consumer, "dlq", None):
            return False
        limited = q.delivery_limit is not None and delivery.attempt > q.delivery_limit
        self._verdict = "requeue" if record.reason == "failed" and limited else "reject"
        return True

    def dead_letter_queue(self, topic: str) -> RabbitDeadLetterQueue:
        """A view of dead-letter topic ``topic``: list, count, redrive."""
        return RabbitDeadLetterQueue(self, topic)

    # -- inspection and tidying ----------------------------------------------------------

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (unacked ones not counted)."""
        while True:
            try:
                ch = self._conn.channel()
                try:
                    return ch.queue_declare(queue, passive=True).method.message_count
                finally:
                    self._quietly(ch.close)
            except AMQPChannelError as exc:
                raise KeyError(f"unknown queue {queue!r} ({exc})") from None
            except AMQPConnectionError:
                self._reconnect()

    def delete_all(self) -> None:
        """Delete every queue and exchange this broker declared (tests, demos)."""
        ch = self._conn.channel()
        for name in list(self._queues) + list(self._stores):
            ch.queue_delete(name)
        for name in self.topics:
            ch.exchange_delete(name)
        ch.close()

    def events(self, topic: str) -> list[Event]:
        raise NotImplementedError(
            "RabbitMQ queues are not a retained log: read a group's deliveries instead"
        )

    def read(self, topic: str, partition: int, offset: int = 0, limit: int | None = None):
        return self.events(topic)

    def __repr__(self) -> str:
        return (
            f"<RabbitBroker {self.name} url={self.url} topics={list(self.topics)}"
            f" groups={list(self.groups)} prefetch={self.prefetch} reconnects={self.reconnects}>"
        )


Broker.register(RabbitBroker)


# -- the dead-letter queue, seen from RabbitMQ ------------------------------------------

#: RabbitMQ's ``x-death`` reasons, in evtlib's terms.
X_DEATH_REASONS = {
    "delivery_limit": "failed",
    "rejected": "rejected",
    "expired": "expired",
    "maxlen": "rejected",
}


class RabbitDeadLetterQueue:
    """The dead-letter store of a RabbitMQ topic: records from ``x-death``, and redrive.

    The store is the quorum queue named like the dead-letter topic.
    :meth:`list` reads every message and gives it back untouched;
    :meth:`redrive` publishes the original event (same id, same content) to
    its source topic with confirms, and only then acks it in the store, so a
    crash in between duplicates (idempotent consumers absorb it) but never
    loses.
    """

    def __init__(self, broker: RabbitBroker, topic: str) -> None:
        if not isinstance(broker, RabbitBroker):
            raise TypeError(f"broker must be a RabbitBroker, got {broker!r}")
        broker.topic(topic)
        self.broker = broker
        self.topic = topic
        self.queue = broker._declare_store(topic)
        self.name = f"redrive:{topic}"
        self.redriven: list[Any] = []

    def _read(self) -> list[tuple[Any, Any, bytes]]:
        ch = self.broker._conn.channel()
        got = []
        try:
            while True:
                method, props, body = ch.basic_get(self.queue, auto_ack=False)
                if method is None:
                    break
                got.append((method, props, body))
            if got:
                ch.basic_nack(got[-1][0].delivery_tag, multiple=True, requeue=True)
        finally:
            self.broker._quietly(ch.close)
        return got

    def _record(self, props: Any, body: bytes) -> Any:
        from ..patterns.dlq import DEAD_LETTER_TYPE, DeadLetterRecord

        if props.type == DEAD_LETTER_TYPE:  # published by a consumer (no dead-letter exchange)
            return DeadLetterRecord.from_event(decode(props, body))
        headers = props.headers or {}
        deaths = headers.get("x-death") or []
        if not deaths:
            raise ValueError(
                f"message {props.message_id} in {self.queue!r} has no x-death header:"
                " it was published there, not dead-lettered"
            )
        death = deaths[0]  # the most recent
        reason = str(death.get("reason", ""))
        source_queue = str(death.get("queue", ""))
        source_topic = str(death.get("exchange", ""))
        keys = death.get("routing-keys") or ["-1"]
        partition = int(keys[0]) if str(keys[0]).lstrip("-").isdigit() else -1
        q = self.broker._queues.get(source_queue)
        if q is not None:
            group = q.group
        else:
            group = source_queue[len(source_topic) + 1 :].rsplit(".", 1)[0]
        if reason == "delivery_limit" and q is not None and q.delivery_limit is not None:
            attempts = q.delivery_limit + 1
        else:
            attempts = int(death.get("count", 1))
        when = death.get("time")
        at = when.timestamp() * 1000.0 if hasattr(when, "timestamp") else 0.0
        return DeadLetterRecord(
            event=decode(props, body),
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

    def list(self) -> list[Any]:
        """Every record now in the store, oldest first (ties by event id)."""
        records = [self._record(p, b) for _, p, b in self._read()]
        records.sort(key=lambda r: (r.dead_lettered_at, r.event.id))
        return records

    def pending(self) -> list[Any]:
        """The records still in the store (redrive removes them)."""
        return self.list()

    def x_death(self) -> list[dict[str, Any]]:
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

    # Records are DeadLetterRecords, so they are counted as in the simulation.
    count_by = DeadLetterQueue.count_by

    def redrive(
        self,
        to: str | None = None,
        *,
        rate: float = 10.0,
        where: Callable[[Any], bool] | None = None,
        limit: int | None = None,
    ) -> list[Any]:
        """Move records back to their source topic (or ``to``), ``rate`` per second.

        Each chosen message is taken from the store now (unacked, so a crash
        gives it back) and republished unchanged on a timer; it is acked in
        the store after the publish is confirmed.  Returns the plan.
        """
        from ..patterns.dlq import RedriveStep

        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ValueError(f"rate must be > 0 events per second, got {rate!r}")
        if to is not None:
            self.broker.topic(to)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be an int >= 0 or None, got {limit!r}")
        broker, sim = self.broker, self.broker.sim
        ch = broker._conn.channel()
        taken: list[tuple[int, Any]] = []
        leave: list[int] = []
        while True:
            method, props, body = ch.basic_get(self.queue, auto_ack=False)
            if method is None:
                break
            record = self._record(props, body)
            chosen = (where is None or where(record)) and (limit is None or len(taken) < limit)
            if chosen:
                taken.append((method.delivery_tag, record))
            else:
                leave.append(method.delivery_tag)
        for tag in leave:
            ch.basic_nack(tag, requeue=True)
        gap = 1000.0 / rate
        plan = []
        epoch = broker._epoch
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
            broker._quietly(ch.close)
        self.redriven.extend(plan)
        return plan

    def _publish(self, ch: Any, tag: int, record: Any, target: str, epoch: int, last: bool) -> None:
        broker, sim = self.broker, self.broker.sim
        if epoch != broker._epoch or not ch.is_open:
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
        broker._quietly(ch.basic_ack, tag)
        if last:
            broker._quietly(ch.close)

    def __len__(self) -> int:
        return self.broker.queue_depth(self.queue)

    def __repr__(self) -> str:
        return f"<RabbitDeadLetterQueue {self.topic} records={len(self)}>"

"""RabbitMQ: the same producers, consumers, read models and patterns on a real broker.

:class:`RabbitBroker` offers the public surface of the simulated
:class:`~evtlib.broker.Broker` over AMQP 0-9-1 (with ``pika``), so a
:class:`~evtlib.producer.Producer`, a :class:`~evtlib.consumer.Consumer`, a
:class:`~evtlib.consumer.ReadModel` and the four patterns run on it
unchanged.  Time is real there: :class:`RealTime` is a runner built on the
same scheduling core as :class:`~evtlib.sim.Simulation` whose timers (relay
polling, retry backoff, saga timeouts) fire on the wall clock while it
pumps the broker's network I/O.  Both satisfy the protocols of
:mod:`evtlib.protocols` (``BrokerBackend``, ``GroupBackend``,
``TopicBackend``, ``Runner``); nothing is registered as a virtual subclass.

    sim = RealTime()
    broker = RabbitBroker("amqp://guest:guest@localhost:5672/%2F", sim=sim)
    broker.create_topic("orders", partitions=2)
    billing = Consumer(broker, "billing", "orders", handler=print)
    Producer(broker, "shop", "orders").emit("OrderPlaced", "order-1", {"total": 30})
    sim.run_until(lambda: len(billing.handled_at) == 1)

One module per idea: :mod:`.wire` (events as messages, queue names),
:mod:`.connection` (URLs, connecting with backoff, publishing),
:mod:`.runtime` (:class:`RealTime`), :mod:`.topics` (topics and keys),
:mod:`.broker` (the topology and publishing),
:mod:`.groups` (queues per group, and what an outcome does),
:mod:`.deadletters` (the dead-letter store and redrive), :mod:`.streams`
(the log family: a topic as streams, groups at their own offsets).

Two families, as in :mod:`evtlib.profiles`: ``RabbitBroker(url)`` is the
queue family (profile ``"rabbitmq"``, quorum queues, below), and
``RabbitBroker(url, profile="kafka")`` the log family on RabbitMQ streams
(last section).

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
* **How handling ended -> acknowledgements, in one place.**
  :meth:`Consumer.handle <evtlib.consumer.Consumer.handle>` returns an
  :class:`~evtlib.outcome.Outcome`, and :meth:`RabbitGroup.settle` alone maps
  it: ``ack`` and ``settled`` -> ``basic.ack``; ``failed`` (the handler
  raised) and ``retry`` -> the message is held for
  :meth:`Consumer.retry_after` (or ``retry``'s delay) ms, during which the
  partition waits (prefetch 1, the default), then given back
  (``basic.nack`` with requeue); ``dead-letter`` -> see below.  The queue
  counts the deliveries (``x-delivery-count``), which becomes
  :attr:`Delivery.attempt`.
* **At-least-once -> manual ack after the handler; at-most-once ->
  auto-ack.**  Acks go out in batches: one ``basic.ack`` with ``multiple``
  once the current batch of I/O is handled (at once while one of the
  member's deliveries is held for a retry, which ``multiple`` would cover).
  A consumer that dies without acking (crash, lost connection) gives its
  unacked deliveries back to the queue: they are delivered again.
  An auto-acked message whose handler fails is lost: traced ``lost`` and
  counted in :meth:`RabbitGroup.stats` (RabbitMQ itself counts nothing).
* **Publisher confirms and mandatory.**  :meth:`RabbitBroker.publish`
  returns when the broker has confirmed the message (written to its quorum
  log), so the outbox relay marks a row sent only after the broker has it.
  It publishes with ``mandatory``: a message no queue is bound for (no group
  reads that partition yet) comes back and raises :class:`Unroutable`, naming
  the topic and partition, instead of vanishing.
* **A full broker -> a blocked publishing connection.**  A memory or disk
  alarm makes RabbitMQ block connections that publish
  (``connection.blocked``).  Publishing has its own connection (consumers keep
  acking meanwhile); a publish waits, traced ``blocked`` and then
  ``unblocked`` (``blocked_timeout`` ms at most, then :class:`PublishError`).
* **Durable.**  Quorum queues (replicated, durable) and persistent messages
  (``delivery_mode=2``).
* **Dead-letter queue -> dead-letter exchange + delivery limit.**  When a
  :class:`~evtlib.patterns.dlq.DeadLetterConsumer` joins a group, the group's
  queues get ``x-dead-letter-exchange`` (its ``dlq`` topic) and
  ``x-delivery-limit`` (its policy's ``max_attempts - 1``).  A dead-letter
  outcome for that topic is left to RabbitMQ: on the last failed attempt the
  message is given back, and the delivery limit moves it to the dead-letter
  exchange (reason ``delivery_limit``); an event the validator refuses or
  that expired is rejected without requeue (reason ``rejected``).  Where the
  queue has no dead-letter exchange for the outcome's topic, the consumer's
  letter is published there and the message acked.  The dead-letter topic's
  store is the quorum queue of the same name (``orders.dlq``).
  :class:`RabbitDeadLetterQueue` builds each
  :class:`~evtlib.patterns.dlq.DeadLetterRecord` from the message's
  ``x-death`` header (reason, source queue and exchange, time, count):
  RabbitMQ records *that* and *where* a message died, not the error, so
  ``error_type`` is RabbitMQ's reason.  Redrive takes the same arguments,
  checked by the same function (:func:`~evtlib.patterns.dlq.check_redrive`),
  as the simulated one; it publishes the unchanged event back to its source
  topic with confirms, then acks it in the store.
* **Poison messages that are not even events.**  A message that cannot be
  decoded into an event (a body that is not UTF-8, not JSON or not a JSON
  object; no ``message_id`` or ``type``; a header of the wrong type) never
  reaches a handler and never stops a run: it is rejected without requeue,
  so the queue's dead-letter exchange takes it where there is one (listed by
  :meth:`RabbitDeadLetterQueue.undecodable`), or else moved to the topic's
  quarantine queue (``orders.quarantine``, with ``x-evtlib-problem``,
  ``x-evtlib-error`` and ``x-evtlib-queue`` headers).  A trace record
  ``undecodable`` says which queue, which message and what was wrong; the
  group counts it (``stats()["undecodable"]``); the consumer goes on.
* **Events on the wire** are plain JSON (the event's ``data``) with standard
  AMQP properties: ``message_id`` = event id, ``type``, ``timestamp``
  (seconds), ``correlation_id``, ``app_id`` = source, ``content_type``
  ``application/json``; ``causation-id``, ``key``, ``version`` and
  ``time-ms`` (the exact event time, as a decimal string) in the headers.
  Any AMQP client can read and write them (:func:`encode`, :func:`decode`).
* **Connections** come from a URL (``amqp://`` or ``amqps://``), given
  explicitly or in ``EVTLIB_RABBITMQ_URL``.  The password is never shown: not
  in a repr, a trace, a log line or an error message (:func:`redact`).  The
  first connection and every reconnection wait between attempts as the
  course's :class:`~evtlib.patterns.retry.RetryPolicy` says: exponential
  from 100 ms, capped at 5 s, with *full jitter* drawn from the runner's
  seeded ``rng_for``, so clients that lost the same broker do not come back
  in step (a refused password is not retried).  After a reconnect the
  topology is declared again and the consumers resume; unacked deliveries
  come back from the queues, so nothing is lost (a handler may see an event
  twice, as with any at-least-once consumer).  The same holds when the node
  itself restarts (``rabbitmqctl stop_app`` / ``start_app``): quorum queues
  and confirmed messages are on disk.  Each reconnection is traced
  ``reconnected`` with its attempts and waits.

The log family on streams (``profile="kafka"``)
-----------------------------------------------
* **Partition -> stream.**  Each partition of a topic is a stream
  (``x-queue-type: stream``) named ``orders.0``, ``orders.1``, ..., bound to
  the topic's exchange with its routing key: an append-only log kept
  whatever anyone has read, shared by every group.  Retention:
  ``create_topic(..., retention=ms)`` -> ``x-max-age``,
  ``retention_bytes`` -> ``x-max-length-bytes``, in segments of
  ``segment_bytes`` (``x-stream-max-segment-size-bytes``): RabbitMQ deletes
  whole segments, as Kafka does.
* **Offsets are the stream's own.**  A group member reads its partition's
  stream with ``x-stream-offset``; :attr:`Delivery.offset` is the message's
  ``x-stream-offset`` (increasing, not always consecutive).
* **Committed offsets are durable.**  Each group and partition has a queue
  that keeps only its last commit (``x-max-length: 1``, ``x-overflow:
  drop-head``), written as the consumer commits (persistent, not waited
  for, as Kafka's asynchronous commits: a lost commit means a replay, never
  a skip), so another process of the group resumes there (Kafka keeps them
  in ``__consumer_offsets``).
* **start and replay.**  A new group starts at ``"earliest"`` (the first
  retained offset) or ``"latest"`` (the default, as ``auto.offset.reset``);
  :meth:`StreamGroup.reset_offsets` replays from ``"earliest"`` or an offset,
  or skips to ``"latest"``, and tells each member (``rewound``).
  :meth:`RabbitBroker.read` and :meth:`RabbitBroker.events` replay a
  partition straight from its stream, on a connection of their own (until
  nothing more arrives for a moment: AMQP 0-9-1 does not say where a stream
  ends).
* **Outcomes.**  :meth:`StreamGroup.settle` maps them: after ``ack`` and
  ``settled`` the next offset is done, committed every ``commit_every``
  events of the consumer, whenever it has caught up with what arrived, and
  when a live owner hands the partition over; ``failed`` and ``retry`` hold the
  partition and hand the same message to the handler again (attempt 2, 3,
  ...); ``dead-letter`` publishes the letter, then commits.  At-most-once
  commits before handling.  A message that is not an event is traced
  ``undecodable`` and stepped over (the stream keeps it).

What does not carry over:

* on the queue family, the log: ``read``, ``events``, ``reset_offsets``,
  offsets (:attr:`Delivery.offset` is -1), ``start="earliest"`` replay of
  what was published before a group existed, retention (use
  ``profile="kafka"``);
* on streams: one owner per partition across processes (single active
  consumer on streams needs RabbitMQ's stream protocol, not AMQP 0-9-1),
  lag (the end offset is not known over AMQP 0-9-1:
  :meth:`StreamGroup.lag` counts what was received and not handled),
  compaction, adding partitions, and the dead-letter store view;
* simulated latency, network faults (drop, delay, duplicate) and ``pause``;
* a queue's ``x-max-length`` / ``x-overflow`` (simulated on
  ``profile="rabbitmq"``; here an alarm blocks publishing instead);
* a group's ``session_timeout`` (RabbitMQ notices a closed channel at once;
  a dead process, after the heartbeat), and the hand-over protocol of the
  simulated group: here a revoked partition's unacked messages go back to
  the queue at once and single active consumer gives it to the next member;
* the consumer's error in a dead-letter record that RabbitMQ made (it keeps
  only its reason), and a record's offset (-1);
* exact time: timers fire on the wall clock, timestamps are wall-clock
  milliseconds since the epoch, and runs repeat their random choices
  (``seed``) but not their timings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    import pika  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "evtlib.adapters.rabbitmq needs pika: pip install 'evtlib[rabbitmq]'"
    ) from exc

from .broker import RabbitBroker
from .connection import (
    DEFAULT_BACKOFF,
    DEFAULT_URL,
    HOW_TO_START,
    URL_ENV,
    BrokerUnavailable,
    PublishError,
    Unroutable,
    reachable,
    redact,
    resolve_url,
)
from .deadletters import X_DEATH_REASONS, RabbitDeadLetterQueue
from .groups import QueueSpec, RabbitGroup
from .runtime import RealTime
from .streams import StreamGroup, StreamState, offsets_queue, stream_name
from .topics import RabbitPartition, RabbitTopic

if TYPE_CHECKING:  # pragma: no cover
    from ...protocols import BrokerBackend, GroupBackend, Runner, TopicBackend
from .wire import (
    UndecodableMessage,
    decode,
    delivery_limit,
    encode,
    quarantine_name,
    queue_name,
)

__all__ = [
    "RealTime",
    "RabbitBroker",
    "RabbitTopic",
    "RabbitPartition",
    "RabbitGroup",
    "QueueSpec",
    "StreamGroup",
    "StreamState",
    "RabbitDeadLetterQueue",
    "BrokerUnavailable",
    "PublishError",
    "Unroutable",
    "UndecodableMessage",
    "URL_ENV",
    "DEFAULT_URL",
    "DEFAULT_BACKOFF",
    "HOW_TO_START",
    "X_DEATH_REASONS",
    "redact",
    "resolve_url",
    "reachable",
    "encode",
    "decode",
    "queue_name",
    "quarantine_name",
    "stream_name",
    "offsets_queue",
    "delivery_limit",
]

if (
    TYPE_CHECKING
):  # pragma: no cover - read by mypy only: the backend satisfies the core's protocols

    def _protocols(
        broker: RabbitBroker,
        group: RabbitGroup,
        log_group: StreamGroup,
        topic: RabbitTopic,
        runner: RealTime,
    ) -> tuple[BrokerBackend, GroupBackend, GroupBackend, TopicBackend, Runner]:
        return broker, group, log_group, topic, runner

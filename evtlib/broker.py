"""The broker: topics, partitions, retained logs and consumer groups.

A :class:`Broker` keeps, for each topic, N partitions; each partition is an
append-only log in which every event gets the next *offset* (0, 1, 2, ...).
The event's ``key`` decides the partition through a stable hash (CRC-32, the
same on every machine and run), so all events about one order sit in one
partition, in the order they were published.  Order holds within a
partition, never across partitions.

Consumers join *groups*.  Every group sees every event (fan-out); inside a
group each partition has exactly one owner (competing consumers).  When a
member joins, leaves or crashes the group *rebalances*, and the new owner of
a partition resumes from the group's *committed offset*: whatever was handled
after the last commit is delivered again.

Back-pressure, as Kafka has it: none from consumers.  A slow group only
*lags*: the log keeps every event for ``retention.ms`` whether or not anyone
read it, and deletes it afterwards, read or not (:mod:`evtlib.log`).  A Kafka
producer waits only on its own buffer (``buffer.memory``, for up to
``max.block.ms``) when it cannot reach the broker fast enough; that buffer is
not simulated.  So a topic has no ``capacity``: asking for one is an error
that names what Kafka offers instead, and the queue profiles' real limits
(RabbitMQ ``x-max-length`` with ``x-overflow``, Service Bus
``MaxSizeInMegabytes``) are in :mod:`evtlib.queues`.

Network latency (a :class:`~evtlib.distributions.Duration`) is drawn per
delivery; :class:`NetworkFaults` drop, duplicate or delay deliveries with a
probability.  Everything is seeded by the simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from . import checks
from .distributions import Duration, as_duration
from .events import Event
from .group import Group
from .log import Partition
from .offsets import PartitionState, TopicPartition
from .profiles import Profile, resolve
from .profiles import profile as find_profile
from .sim import Scheduler
from .topic import KeyedPartitions, Topic, partition_for

if TYPE_CHECKING:  # pragma: no cover
    from .consumer import Consumer
    from .protocols import StartAt

__all__ = [
    "Broker",
    "Topic",
    "Partition",
    "Group",
    "PartitionState",
    "NetworkFaults",
    "TopicPartition",
    "partition_for",
    "KeyedPartitions",
    "check_new_topic",
    "find_topic",
    "NO_CAPACITY",
]

#: Why the kafka profile has no ``capacity``, and what each broker offers instead.
NO_CAPACITY = (
    "a Kafka topic has no capacity and a Kafka producer never waits for a slow consumer: the"
    " group only lags, and retention.ms / retention.bytes delete what it has not read"
    " (create_topic(..., retention=ms)); the producer's send() blocks only when its own"
    " buffer.memory is full or metadata is missing, for up to max.block.ms (not simulated)."
    " A bounded queue is a queue broker's setting: profile='rabbitmq' with x-max-length and"
    " x-overflow ('drop-head' or 'reject-publish'), profile='service-bus' with"
    " MaxSizeInMegabytes (SQS is practically unbounded): broker.group(name, settings=...)"
)
#: The settings a topic may override (the rest belong to the broker, its groups or clients).
_TOPIC_SETTINGS = ("retention.ms", "cleanup.policy", "delete.retention.ms")


@dataclass(frozen=True)
class NetworkFaults:
    """Faults on the way from broker to consumer, each with a probability.

    ``drop``: the delivery never arrives (at-least-once fetches it again;
    at-most-once has already committed, so the event is lost and counted).
    ``duplicate``: the consumer receives it twice.  ``delay``: it arrives
    ``extra`` ms later than the latency alone would make it.

    ``ack_loss`` is on the other way, from producer to broker: the event is
    appended but its acknowledgement never reaches the producer, which sends
    it again after ``retry.backoff.ms``.  With ``enable.idempotence`` (Kafka's
    default) the broker recognises the retry and does not append it twice.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    extra: Duration | float = 100.0
    ack_loss: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "delay"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {p!r}")
        a = self.ack_loss
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a < 1.0:
            # 1 would make a producer retry for ever.
            raise ValueError(f"ack_loss must be a probability in [0, 1), got {a!r}")
        object.__setattr__(self, "extra", as_duration(self.extra, "extra"))

    @property
    def active(self) -> bool:
        return bool(self.drop or self.duplicate or self.delay)


T = TypeVar("T")


def find_topic(topics: Mapping[str, T], name: Any) -> T:
    """The topic called ``name`` in ``topics``; ``KeyError`` naming the known topics if none.

    What every backend's ``topic()`` does.
    """
    try:
        return topics[name]
    except (KeyError, TypeError):
        known = ", ".join(topics) or "none yet"
        raise KeyError(f"unknown topic {name!r}; known topics: {known}") from None


def check_new_topic(topics: Mapping[str, Any], name: Any, partitions: Any) -> None:
    """What every backend checks of a new topic: its name and partition count."""
    checks.name("topic name", name)
    if name in topics:
        raise ValueError(f"topic name must be unique, {name!r} already exists")
    checks.integer("partitions", partitions, min=1, max=checks.MAX_PARTITIONS)


class Broker:
    """Topics, their partitions and the consumer groups that read them.

    It satisfies :class:`~evtlib.protocols.BrokerBackend`, the interface that
    producers, consumers and patterns accept; a backend over a real system
    (``evtlib.adapters.rabbitmq``) satisfies it too.

    Parameters
    ----------
    sim:
        The simulation that owns the clock, the randomness and the trace.
    profile:
        Which real broker it behaves as (:mod:`evtlib.profiles`): ``"kafka"``
        (the default, with Kafka's own defaults: a new group starts at the
        end of the log, ``auto.offset.reset="latest"``; events are kept for
        ``retention.ms``, 7 days).  A queue family profile (``"rabbitmq"``,
        ``"sqs"``, ``"sqs-fifo"``, ``"service-bus"``) makes a
        :class:`~evtlib.queues.QueueBroker` instead: a queue per
        subscription, each broker's own timeouts and dead-lettering.
    settings:
        Overrides of the profile's settings, by their own names, for
        example ``{"auto.offset.reset": "earliest"}``.
    latency:
        Network latency per delivery, in ms (a number or a Duration).
    faults:
        :class:`NetworkFaults` applied to every delivery, or None.
    name:
        The broker's name in the trace.
    """

    def __new__(cls, sim: Scheduler, *, profile: str | Profile = "kafka", **options: Any) -> Any:
        """A queue profile makes a :class:`~evtlib.queues.QueueBroker`; the log family a Broker."""
        if cls is Broker and find_profile(profile).family == "queue":
            from .queues import QueueBroker  # the queue family builds on this module

            return QueueBroker(sim, profile=profile, **options)
        return super().__new__(cls)

    def __init__(
        self,
        sim: Scheduler,
        *,
        profile: str | Profile = "kafka",
        settings: Mapping[str, Any] | None = None,
        latency: Duration | float = 0.0,
        faults: NetworkFaults | None = None,
        name: str = "broker",
    ) -> None:
        checks.instance("sim", sim, Scheduler, "Simulation or another runner")
        prof = find_profile(profile)
        effective = resolve(prof, settings, f"broker {name!r}")
        self.latency = as_duration(latency, "latency")
        if faults is not None and not isinstance(faults, NetworkFaults):
            raise TypeError(f"faults must be NetworkFaults or None, got {faults!r}")
        self.sim = sim
        self.name = sim.register_name(name, "broker")
        self.faults = faults
        #: The real broker this one behaves as, and its settings with the overrides applied.
        self.profile = prof
        self.settings: Mapping[str, Any] = MappingProxyType(effective)
        self.rng = sim.rng_for(name)
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        # The last sequence number appended per (producer, topic, partition), and its offset.
        self._sequences: dict[tuple[str, str, int], tuple[int, int]] = {}
        self.consumers: list[Consumer] = []
        self.producers: list[Any] = []

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        capacity: int | None = None,
        policy: str | None = None,
        retention: float | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Topic:
        """Create topic ``name`` with ``partitions`` partitions and return it.

        ``retention`` (ms) is short for ``settings={"retention.ms": ...}``;
        ``settings`` overrides the broker's topic settings for this topic
        (``retention.ms``, ``cleanup.policy``, ``delete.retention.ms``).
        ``capacity`` and ``policy`` must be None: Kafka bounds a topic by
        retention, never by what a group has not read (the error says what
        each broker offers instead).
        """
        if capacity is not None:
            raise ValueError(
                f"capacity must be None on the kafka profile, got {capacity!r}: {NO_CAPACITY}"
            )
        if policy is not None:
            raise ValueError(
                f"policy must be None on the kafka profile, got {policy!r}: {NO_CAPACITY}"
            )
        check_new_topic(self.topics, name, partitions)
        overrides = dict(settings or {})
        if retention is not None:
            overrides["retention.ms"] = retention
        for key in overrides:
            if key not in _TOPIC_SETTINGS:
                raise ValueError(
                    f"settings of a topic must be among {', '.join(_TOPIC_SETTINGS)},"
                    f" got {key!r} (a group or client setting goes to Broker(settings=...))"
                )
        resolve(self.profile, overrides, f"topic {name!r}")  # checks names and values
        topic_settings = {**self.settings, **overrides}
        topic = Topic(self, name, partitions, topic_settings)
        self.topics[name] = topic
        return topic

    def topic(self, name: str) -> Topic:
        """The topic called ``name``; ``KeyError`` naming the known topics if none."""
        return find_topic(self.topics, name)

    def group(
        self, name: str, *, start: StartAt | None = None, session_timeout: float | None = None
    ) -> Group:
        """The consumer group ``name``, created on first use.

        ``start`` (``"earliest"`` or ``"latest"``) says where a new group
        begins reading; by default the profile's ``auto.offset.reset``
        (Kafka's: ``"latest"``, so a new group sees only what is published
        after it joins); ``session_timeout`` (ms; default the profile's
        ``session.timeout.ms``, Kafka's 45 s) is how long the group waits
        before it notices a crashed member and rebalances.  Asking again
        for an existing group with a different ``start`` or
        ``session_timeout`` is an error: a group has one of each.
        """
        checks.name("group name", name)
        if start is not None:
            checks.one_of("start", start, ("earliest", "latest"))
        timeout = None if session_timeout is None else checks.ms("session_timeout", session_timeout)
        g = self.groups.get(name)
        if g is None:
            first = start or self.settings["auto.offset.reset"]
            g = self.groups[name] = Group(self, name, first, timeout)  # None: session.timeout.ms
            return g
        if start is not None and start != g.start:
            raise ValueError(
                f"start must be {g.start!r}, the start of the existing group {name!r}, got {start!r}"
            )
        if timeout is not None and timeout != g.session_timeout:
            raise ValueError(
                f"session_timeout must be {g.session_timeout:g} ms, the session timeout of the"
                f" existing group {name!r}, got {session_timeout!r}"
            )
        return g

    # -- publishing ----------------------------------------------------------

    def publish(
        self,
        topic: str,
        event: Event,
        *,
        actor: str = "client",
        sequence: tuple[str, int] | None = None,
        txn: str | None = None,
    ) -> tuple[int, int]:
        """Append ``event`` to its partition of ``topic``; return ``(partition, offset)``.

        ``sequence`` is ``(producer, number)``: with ``enable.idempotence`` a
        retry of a number the broker has already appended for that producer
        and partition is not appended again (traced ``deduplicated``), as a
        Kafka broker does with an idempotent producer's sequence numbers.
        ``txn`` names an open transaction (:meth:`Producer.begin`): until it
        commits, ``read_committed`` consumers do not read past the event.

        It never refuses an event because a group is slow: Kafka appends
        whatever its consumers have read (a slow group lags).
        """
        t = self.topics.get(topic)
        if t is None:
            self.topic(topic)  # raises the helpful KeyError
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        assert t is not None
        if event.key is None and t.cleanup_policy == "compact":
            raise ValueError(
                f"event.key must be set on a compacted topic ({topic!r} keeps the latest event"
                f" of each key), got None for {event.id}"
            )
        p = t.partition_of(event.key)
        part = t.partitions[p]
        sim = self.sim
        trace = sim.trace
        if sequence is not None:
            seen = self._sequences.get((sequence[0], topic, p))
            if seen is not None and sequence[1] <= seen[0] and self.settings["enable.idempotence"]:
                trace.record(
                    sim.now,
                    "deduplicated",
                    self.name,
                    event.id,
                    topic,
                    p,
                    seen[1],
                    f"{sequence[0]} sent sequence {sequence[1]} again: not appended twice"
                    " (enable.idempotence)",
                )
                return p, seen[1]
        offset = part.append(event, sim.now)
        if sequence is not None:
            self._sequences[(sequence[0], topic, p)] = (sequence[1], offset)
        if txn is not None:
            part.written_in(txn, offset)
        t.published += 1
        if trace.enabled:
            trace.record(sim.now, "published", actor, event.id, topic, p, offset)
        for st in part.states:
            owner = st.owner
            if owner is not None and st.inflight is None and owner.busy < owner.concurrency:
                owner.wake()
        return p, offset

    # -- reading -------------------------------------------------------------

    def read(
        self, topic: str, partition: int, offset: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of one partition from ``offset`` on: a replay straight from the log."""
        t = self.topic(topic)
        if (
            isinstance(partition, bool)
            or not isinstance(partition, int)
            or not 0 <= partition < len(t.partitions)
        ):
            raise ValueError(
                f"partition must be an int in 0..{len(t.partitions) - 1} for {topic!r}, got {partition!r}"
            )
        part = t.partitions[partition]
        log = part.log
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= len(log):
            raise ValueError(
                f"offset must be an int in 0..{len(log)} (the log end), got {offset!r}"
            )
        if limit is not None:
            checks.integer("limit", limit, min=0)
        t.expire()
        if offset < part.start:
            raise ValueError(
                f"offset must be >= {part.start}, the log start of {topic}[{partition}]: retention"
                f" deleted every event before it, got {offset!r}"
            )
        stop = len(log) if limit is None else offset + limit
        if part.removed:  # compaction left holes: the offsets it removed are not read
            kept = [o for o in range(offset, len(log)) if o not in part.removed]
            return [log[o] for o in kept[: stop - offset]]
        return log[offset:stop]

    def events(self, topic: str) -> list[Event]:
        """Every event ``topic`` still keeps, partition by partition, in offset order."""
        t = self.topic(topic)
        t.expire()
        return [e for part in t.partitions for e in part.retained()]

    def end_transaction(
        self, txn: str, writes: Mapping[tuple[str, int], list[int]], *, committed: bool
    ) -> None:
        """Commit or abort transaction ``txn``, which wrote ``writes`` (offsets per partition).

        Committed, its events become readable by ``read_committed``
        consumers; aborted, they never do (``read_uncommitted`` ones have read
        them all along).  Kafka writes a control record to each partition for
        this; here no offset is spent on it.
        """
        sim = self.sim
        for (topic, p), offsets in writes.items():
            part = self.topic(topic).partitions[p]
            part.ended(txn, offsets, committed)
            for st in part.states:
                if st.owner is not None:
                    st.owner.wake()
        sim.trace.record(
            sim.now,
            "txn-committed" if committed else "txn-aborted",
            self.name,
            detail=f"{txn}: {sum(len(o) for o in writes.values())} event(s)",
        )

    def add_partitions(self, topic: str, count: int) -> Topic:
        """Grow ``topic`` to ``count`` partitions (Kafka's ``kafka-topics --alter --partitions``).

        Partitions can only be added.  A key's partition is its hash modulo the
        partition count, so adding partitions moves keys: the events of one key
        published before and after the change sit in two partitions, and nothing
        orders them across the two any more.  Every group reading the topic
        rebalances to take the new partitions on.
        """
        t = self.topic(topic)
        checks.integer("count", count, min=len(t.partitions) + 1, max=checks.MAX_PARTITIONS)
        t.grow(count)
        sim = self.sim
        sim.trace.record(
            sim.now, "repartitioned", self.name, None, topic, detail=f"now {count} partitions"
        )
        for g in self.groups.values():
            if topic in g.topics:
                g.partitions_added(t)
                g.rebalance()
        return t

    def compact(self, topic: str) -> int:
        """Compact ``topic`` now (see :meth:`Topic.compact`); return how many events it removed."""
        return self.topic(topic).compact()

    def end_offsets(self, topic: str) -> list[int]:
        """The log end offset of each partition of ``topic``."""
        return [len(p.log) for p in self.topic(topic).partitions]

    def __repr__(self) -> str:
        return (
            f"<Broker {self.name} topics={list(self.topics)} groups={list(self.groups)}"
            f" latency={self.latency}>"
        )

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

Buffers: a topic may be given a ``capacity``, the most events a partition may
hold that a group has not yet received.  What a full buffer does is a stated
``policy``: ``"block"`` the producer until there is room, ``"reject"`` the
publish with :class:`~evtlib.errors.BufferFullError`, or ``"drop-oldest"``,
which discards the oldest waiting event for that group and counts it.

Network latency (a :class:`~evtlib.distributions.Duration`) is drawn per
delivery; :class:`NetworkFaults` drop, duplicate or delay deliveries with a
probability.  Everything is seeded by the simulation.
"""

from __future__ import annotations

import zlib
from abc import ABCMeta
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .distributions import Duration, as_duration
from .errors import BufferFullError
from .events import Event
from .sim import Scheduler

if TYPE_CHECKING:  # pragma: no cover
    from .consumer import Consumer

__all__ = [
    "Broker",
    "Topic",
    "Partition",
    "Group",
    "PartitionState",
    "NetworkFaults",
    "TopicPartition",
    "partition_for",
    "POLICIES",
]

POLICIES = ("block", "reject", "drop-oldest")


def partition_for(key: str, partitions: int) -> int:
    """The partition for ``key``: a stable CRC-32 hash modulo ``partitions``."""
    return zlib.crc32(key.encode("utf-8")) % partitions


class TopicPartition(NamedTuple):
    """A (topic, partition) pair."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(frozen=True)
class NetworkFaults:
    """Faults on the way from broker to consumer, each with a probability.

    ``drop``: the delivery never arrives (at-least-once fetches it again;
    at-most-once has already committed, so the event is lost and counted).
    ``duplicate``: the consumer receives it twice.  ``delay``: it arrives
    ``extra`` ms later than the latency alone would make it.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    extra: Duration | float = 100.0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "delay"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {p!r}")
        object.__setattr__(self, "extra", as_duration(self.extra, "extra"))

    @property
    def active(self) -> bool:
        return bool(self.drop or self.duplicate or self.delay)


class Partition:
    """One partition of a topic: an append-only log of events."""

    __slots__ = ("topic", "index", "log", "appended", "states", "_name")

    def __init__(self, topic: Topic, index: int) -> None:
        self.topic = topic
        self.index = index
        self.log: list[Event] = []
        #: When each offset was appended (ms): lag over time is computed from it.
        self.appended = array("d")
        #: The state of every group that reads this partition.
        self.states: list[PartitionState] = []
        self._name = f"{topic.name}[{index}]"

    @property
    def end(self) -> int:
        """The log end offset: the offset the next event will get."""
        return len(self.log)

    def __repr__(self) -> str:
        return f"<Partition {self._name} end={len(self.log)}>"


class Topic:
    """A named stream of events, split into partitions."""

    def __init__(
        self, broker: Broker, name: str, partitions: int, capacity: int | None, policy: str
    ) -> None:
        self.broker = broker
        self.name = name
        self.partitions = [Partition(self, i) for i in range(partitions)]
        self.capacity = capacity
        self.policy = policy
        self.published = 0
        self.rejected = 0
        self._rr = 0
        self._blocked: list[Callable[[], None]] = []

    def partition_of(self, key: str | None) -> int:
        """The partition an event with ``key`` goes to (round-robin when ``key`` is None)."""
        n = len(self.partitions)
        if key is None:
            p = self._rr % n
            self._rr += 1
            return p
        return partition_for(key, n)

    def partition_of_peek(self, key: str | None) -> int:
        """The partition the next event with ``key`` would go to, without taking a turn."""
        n = len(self.partitions)
        return self._rr % n if key is None else partition_for(key, n)

    def has_room(self, partition: int) -> bool:
        """Whether every group has room for one more waiting event in ``partition``."""
        cap = self.capacity
        if cap is None:
            return True
        part = self.partitions[partition]
        end = len(part.log)
        return all(end - s.position < cap for s in part.states)

    def __repr__(self) -> str:
        ends = [len(p.log) for p in self.partitions]
        cap = "" if self.capacity is None else f" capacity={self.capacity} policy={self.policy}"
        return f"<Topic {self.name} partitions={len(ends)} ends={ends}{cap}>"


class PartitionState:
    """What one group knows about one partition: owner, offsets and counts.

    ``committed`` is the group's committed offset (the next event it has not
    finished); ``position`` is the next offset the owner will fetch.  Lag is
    ``log end - committed``.
    """

    __slots__ = (
        "group",
        "partition",
        "tp",
        "owner",
        "committed",
        "position",
        "done",
        "inflight",
        "generation",
        "attempts",
        "max_delivered",
        "dropped",
        "lost",
        "handled",
        "redelivered",
        "commits",
        "last_commit",
        "start",
        "skipped",
    )

    def __init__(self, group: Group, partition: Partition, start: int) -> None:
        self.group = group
        self.partition = partition
        self.tp = TopicPartition(partition.topic.name, partition.index)
        self.owner: Consumer | None = None
        self.committed = start
        self.position = start
        self.done = start
        self.inflight: int | None = None
        self.generation = 0
        #: Delivery counts of offsets delivered more than once (pruned on commit).
        self.attempts: dict[int, int] = {}
        self.max_delivered = start - 1
        self.dropped = 0
        self.lost = 0
        self.handled = 0
        self.redelivered = 0
        self.commits: list[tuple[float, int]] = []
        self.last_commit = 0.0
        #: Where the group started reading this partition.
        self.start = start
        #: Offsets dropped from this group's buffer (drop-oldest): never delivered.
        self.skipped: set[int] = set()

    @property
    def lag(self) -> int:
        """Events published but not yet committed by this group."""
        return len(self.partition.log) - self.committed

    @property
    def waiting(self) -> int:
        """Events published but not yet fetched by this group."""
        return len(self.partition.log) - self.position

    def __repr__(self) -> str:
        owner = self.owner.name if self.owner is not None else None
        return (
            f"<PartitionState {self.group.name} {self.tp} owner={owner} committed={self.committed}"
            f" position={self.position} end={len(self.partition.log)} lag={self.lag}>"
        )


class Group:
    """A consumer group: its members, who owns which partition, and offsets."""

    def __init__(self, broker: Broker, name: str, start: str, session_timeout: float) -> None:
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = session_timeout
        self.topics: list[str] = []
        self.members: list[Consumer] = []
        self.states: dict[TopicPartition, PartitionState] = {}
        self.rebalances = 0

    # -- membership ----------------------------------------------------------

    def _subscribe(self, topic: Topic) -> None:
        if topic.name in self.topics:
            return
        self.topics.append(topic.name)
        for part in topic.partitions:
            start = 0 if self.start == "earliest" else len(part.log)
            st = PartitionState(self, part, start)
            part.states.append(st)
            self.states[st.tp] = st

    def join(self, consumer: Consumer) -> None:
        """Add ``consumer`` and rebalance."""
        if consumer in self.members:
            raise ValueError(
                f"consumer {consumer.name!r} is already a member of group {self.name!r}"
            )
        self.members.append(consumer)
        self.rebalance()

    def leave(self, consumer: Consumer) -> None:
        """Remove ``consumer`` (gracefully or after a crash) and rebalance."""
        if consumer in self.members:
            self.members.remove(consumer)
            self.rebalance()

    def rebalance(self) -> None:
        """Give every partition one live owner, round-robin in join order.

        A partition that changes owner is handed over at the committed
        offset: the new owner starts there.  A live former owner commits what
        it has finished before it lets go (as Kafka consumers do on revoke).
        """
        sim = self.broker.sim
        live = [m for m in self.members if m.alive]
        changes = []
        for tp, st in self.states.items():
            eligible = [m for m in live if tp.topic in m.topics]
            # Spread the partitions of every topic round-robin over the members.
            new = eligible[tp.partition % len(eligible)] if eligible else None
            old = st.owner
            if new is old:
                continue
            if old is not None and old.alive and st.done > st.committed:
                old._commit(st)
            if old is not None:
                old._revoke(st)
            st.owner = new
            st.generation += 1
            st.inflight = None
            st.position = st.committed
            st.done = st.committed
            if new is not None:
                new._assign(st)
            changes.append(f"{tp}->{new.name if new else '-'}")
        self.rebalances += 1
        sim.trace.record(sim.now, "rebalanced", self.name, detail=", ".join(changes) or "no change")
        for m in live:
            m._pump()

    # -- offsets -------------------------------------------------------------

    def reset_offsets(self, offset: int | str = "earliest") -> None:
        """Move every partition's committed offset (a replay, or a skip to the end).

        ``offset`` is ``"earliest"``, ``"latest"`` or an int offset applied to
        every partition (clamped to the log).  Owners restart from there.
        """
        for st in self.states.values():
            end = len(st.partition.log)
            if offset == "earliest":
                new = 0
            elif offset == "latest":
                new = end
            elif isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
                new = min(offset, end)
            else:
                raise ValueError(
                    f"offset must be 'earliest', 'latest' or an int >= 0, got {offset!r}"
                )
            st.committed = st.position = st.done = new
            st.generation += 1
            owner = st.owner
            if owner is not None and owner._inflight.pop(st, None) is not None:
                owner._busy -= 1  # the delivery in flight is stale: free its slot now
            st.inflight = None
            st.commits.append((self.broker.sim.now, new))
        self.broker.sim.trace.record(
            self.broker.sim.now, "rewind", self.name, detail=f"reset to {offset}"
        )
        for m in self.members:
            if m.alive:
                m._pump()

    def lag(self) -> int:
        """Total lag: events published but not committed, over all partitions."""
        return sum(st.lag for st in self.states.values())

    def assignment(self) -> dict[str, str | None]:
        """Who owns each partition: ``{"orders[0]": "billing-1", ...}``."""
        return {str(tp): (st.owner.name if st.owner else None) for tp, st in self.states.items()}

    def stats(self) -> dict[str, int]:
        """Counts over every partition: the terms of the conservation law.

        ``published = handled_first + in_flight + waiting + dropped + lost``,
        where ``handled_first`` counts each offset once, however many times it
        was handled.
        """
        published = sum(len(st.partition.log) for st in self.states.values())
        in_flight = sum(1 for st in self.states.values() if st.inflight is not None)
        waiting = sum(st.waiting for st in self.states.values())
        return {
            "published": published,
            "committed": sum(st.committed for st in self.states.values()),
            "lag": self.lag(),
            "in_flight": in_flight,
            "waiting": waiting,
            "handled": sum(st.handled for st in self.states.values()),
            "redelivered": sum(st.redelivered for st in self.states.values()),
            "dropped": sum(st.dropped for st in self.states.values()),
            "lost": sum(st.lost for st in self.states.values()),
        }

    def __repr__(self) -> str:
        names = [m.name + ("" if m.alive else "(down)") for m in self.members]
        return f"<Group {self.name} topics={self.topics} members={names} lag={self.lag()}>"


def _check_new_topic(topics: Mapping[str, Any], name: Any, partitions: Any) -> None:
    """What every backend checks of a new topic: its name and partition count."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"topic name must be a non-empty str, got {name!r}")
    if name in topics:
        raise ValueError(f"topic name must be unique, {name!r} already exists")
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise TypeError(f"partitions must be an int, got {partitions!r}")
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")


class Broker(metaclass=ABCMeta):  # noqa: B024 - an interface by registration, concrete itself
    """Topics, their partitions and the consumer groups that read them.

    ``Broker`` is also the interface that producers, consumers and patterns
    accept: a backend over a real system (``evtlib.adapters.rabbitmq``)
    offers the same public surface (``sim``, ``topics``, ``topic()``,
    ``create_topic()``, ``group()``, ``publish()``) and declares it with
    ``Broker.register(ItsBroker)``, so ``isinstance(b, Broker)`` holds for it.

    Parameters
    ----------
    sim:
        The simulation that owns the clock, the randomness and the trace.
    latency:
        Network latency per delivery, in ms (a number or a Duration).
    faults:
        :class:`NetworkFaults` applied to every delivery, or None.
    name:
        The broker's name in the trace.
    """

    def __init__(
        self,
        sim: Scheduler,
        *,
        latency: Duration | float = 0.0,
        faults: NetworkFaults | None = None,
        name: str = "broker",
    ) -> None:
        if not isinstance(sim, Scheduler):
            raise TypeError(f"sim must be a Simulation or another runner, got {sim!r}")
        self.sim = sim
        self.name = sim.register_name(name, "broker")
        self.latency = as_duration(latency, "latency")
        if faults is not None and not isinstance(faults, NetworkFaults):
            raise TypeError(f"faults must be NetworkFaults or None, got {faults!r}")
        self.faults = faults
        self.rng = sim.rng_for(name)
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        self.consumers: list[Consumer] = []
        self.producers: list[Any] = []

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        capacity: int | None = None,
        policy: str = "block",
    ) -> Topic:
        """Create topic ``name`` with ``partitions`` partitions and return it."""
        _check_new_topic(self.topics, name, partitions)
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            raise ValueError(f"capacity must be an int >= 1 or None, got {capacity!r}")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        topic = Topic(self, name, partitions, capacity, policy)
        self.topics[name] = topic
        return topic

    def topic(self, name: str) -> Topic:
        """The topic called ``name``; ``KeyError`` naming the known topics if none."""
        try:
            return self.topics[name]
        except (KeyError, TypeError):
            known = ", ".join(self.topics) or "none yet"
            raise KeyError(f"unknown topic {name!r}; known topics: {known}") from None

    def group(self, name: str, *, start: str = "earliest", session_timeout: float = 0.0) -> Group:
        """The consumer group ``name``, created on first use.

        ``start`` (``"earliest"`` or ``"latest"``) says where a new group
        begins reading; ``session_timeout`` is how long (ms) the group waits
        before it notices a crashed member and rebalances.
        """
        g = self.groups.get(name)
        if g is None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"group name must be a non-empty str, got {name!r}")
            if start not in ("earliest", "latest"):
                raise ValueError(f"start must be 'earliest' or 'latest', got {start!r}")
            if not session_timeout >= 0:
                raise ValueError(f"session_timeout must be >= 0 ms, got {session_timeout!r}")
            g = self.groups[name] = Group(self, name, start, session_timeout)
        return g

    # -- publishing ----------------------------------------------------------

    def publish(self, topic: str, event: Event, *, actor: str = "client") -> tuple[int, int]:
        """Append ``event`` to its partition of ``topic``; return ``(partition, offset)``.

        On a full buffer the topic's policy applies: ``"reject"`` raises
        :class:`BufferFullError`; ``"drop-oldest"`` discards the oldest
        waiting event of each full group (counted); ``"block"`` also raises
        :class:`BufferFullError` here, because only a :class:`Producer` can
        wait: it checks :meth:`Topic.has_room` first and waits for room.
        """
        t = self.topics.get(topic)
        if t is None:
            self.topic(topic)  # raises the helpful KeyError
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        assert t is not None
        p = t.partition_of(event.key)
        part = t.partitions[p]
        sim = self.sim
        trace = sim.trace
        if t.capacity is not None and not t.has_room(p):
            if t.policy == "drop-oldest":
                self._drop_oldest(part)
            else:
                t.rejected += 1
                trace.record(sim.now, "rejected", actor, event.id, topic, p, -1, t.policy)
                raise BufferFullError(
                    f"the buffer of {topic}[{p}] is full (capacity={t.capacity}, "
                    f"policy={t.policy!r}): {event.id} was not published"
                )
        offset = len(part.log)
        part.log.append(event)
        part.appended.append(sim.now)
        t.published += 1
        if trace.enabled:
            trace.record(sim.now, "published", actor, event.id, topic, p, offset)
        for st in part.states:
            owner = st.owner
            if owner is not None and st.inflight is None and owner._busy < owner.concurrency:
                owner._pump()
        return p, offset

    def _drop_oldest(self, part: Partition) -> None:
        cap = part.topic.capacity
        end = len(part.log)
        sim = self.sim
        for st in part.states:
            if end - st.position >= cap:  # type: ignore[operator]
                victim = part.log[st.position]
                sim.trace.record(
                    sim.now,
                    "dropped",
                    st.group.name,
                    victim.id,
                    part.topic.name,
                    part.index,
                    st.position,
                    "buffer full: oldest dropped",
                )
                st.dropped += 1
                st.skipped.add(st.position)
                st.position += 1
                if st.committed < st.position and st.inflight is None:
                    st.committed = st.done = st.position
                    st.commits.append((sim.now, st.committed))

    def _room_freed(self, topic: Topic) -> None:
        waiters, topic._blocked = topic._blocked, []
        for wake in waiters:
            wake()

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
        log = t.partitions[partition].log
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= len(log):
            raise ValueError(
                f"offset must be an int in 0..{len(log)} (the log end), got {offset!r}"
            )
        return log[offset:] if limit is None else log[offset : offset + limit]

    def events(self, topic: str) -> list[Event]:
        """Every event of ``topic``, partition by partition, in offset order."""
        return [e for part in self.topic(topic).partitions for e in part.log]

    def end_offsets(self, topic: str) -> list[int]:
        """The log end offset of each partition of ``topic``."""
        return [len(p.log) for p in self.topic(topic).partitions]

    def __repr__(self) -> str:
        return (
            f"<Broker {self.name} topics={list(self.topics)} groups={list(self.groups)}"
            f" latency={self.latency}>"
        )

"""What a consumer group knows about one partition: its owner and its offsets, with rules.

A :class:`PartitionState` is where a group's position in one partition
lives, as aiokafka's ``subscription_state`` holds a consumer's positions.
Its offsets change only through its methods, which keep
``committed <= done <= position``: the group hands the partition over, the
owning consumer fetches, finishes and commits, the broker drops from a full
buffer, and nobody else writes its fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from .group import Group
    from .log import Partition
    from .protocols import Member

__all__ = ["PartitionState", "TopicPartition"]


class TopicPartition(NamedTuple):
    """A (topic, partition) pair."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


class PartitionState:
    """What one group knows about one partition: owner, offsets and counts.

    ``committed`` is the group's committed offset (the next event it has not
    finished); ``done`` is the offset after the last event it finished;
    ``position`` is the next offset the owner will fetch.  Lag is
    ``log end - committed``.

    The state owns its rule, ``committed <= done <= position``: its fields
    are read by anyone and changed only by its own methods (:meth:`fetch`,
    :meth:`finish`, :meth:`commit`, :meth:`rewind`, :meth:`hand_over`...).
    ``generation`` guards against stale deliveries: it moves on at every
    hand-over, rewind, timeout and retry, and a delivery made under an older
    generation may run its handler but not commit.  (A consumer's ``epoch``
    guards the other way round: work scheduled before the consumer crashed,
    restarted or stopped is ignored.)
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
        "revoking",
        "next_owner",
        "expired",
    )

    def __init__(self, group: Group, partition: Partition, start: int) -> None:
        self.group = group
        self.partition = partition
        self.tp = TopicPartition(partition.topic.name, partition.index)
        self.owner: Member | None = None
        self.committed = start
        self.position = start
        self.done = start
        self.inflight: int | None = None
        self.generation = 0
        #: Delivery counts of offsets delivered more than once (pruned on commit).
        self.attempts: dict[int, int] = {}
        self.max_delivered = start - 1
        #: Always 0 on a log: Kafka drops nothing for a slow group (kept in the
        #: group's stats so a learner sees it stay 0).
        self.dropped = 0
        self.lost = 0
        self.handled = 0
        self.redelivered = 0
        self.commits: list[tuple[float, int]] = []
        self.last_commit = 0.0
        #: Where the group started reading this partition.
        self.start = start
        #: A rebalance waits for the owner's handling in flight to end; then
        #: the partition goes to ``next_owner`` (Kafka's group does the same).
        self.revoking = False
        self.next_owner: Member | None = None
        #: Events retention deleted before this group read them.
        self.expired = 0

    # -- the rules: every change of offsets goes through these ------------------
    #
    # The invariant ``committed <= done <= position`` holds after each call:
    # nothing is committed that is not finished, nothing finished that was not
    # fetched.  ``generation`` counts hand-overs and rewinds: a delivery made
    # under an older generation is stale and may not commit.

    def fetch(self) -> int:
        """Take the next offset (:attr:`position`) for delivery; return its attempt number.

        (It returns no tuple: this runs once per delivery, and an allocation
        less keeps the cycle collector quieter on long traced runs.)
        """
        offset = self.position
        self.position = offset + 1
        self.inflight = offset
        if offset <= self.max_delivered:
            attempt = self.attempts.get(offset, 1) + 1
            self.attempts[offset] = attempt
            self.redelivered += 1
        else:
            attempt = 1
            self.max_delivered = offset
        return attempt

    def commit_fetched(self, offset: int, now: float) -> None:
        """At-most-once: commit ``offset`` as it is fetched, before it is handled."""
        self.committed = self.done = offset + 1
        self.commits.append((now, offset + 1))
        self.last_commit = now

    def finish(self, offset: int) -> None:
        """The delivery of ``offset`` ended and its work is done (ready to commit)."""
        self.inflight = None
        self.done = offset + 1

    def release(self) -> None:
        """The delivery in flight ended without its work done; nothing to fetch again."""
        self.inflight = None

    def hold(self, offset: int) -> None:
        """Keep ``offset`` in flight while its retry waits: the partition waits behind it."""
        self.generation += 1
        self.inflight = offset

    def refetch(self, offset: int) -> None:
        """Deliver ``offset`` again next (a retry, or a delivery lost in the network)."""
        self.inflight = None
        self.position = offset
        if self.done > offset:
            self.done = max(self.committed, offset)

    def time_out(self, offset: int) -> None:
        """The delivery of ``offset`` was given up: a new generation, fetched again."""
        self.generation += 1
        self.inflight = None
        self.position = self.committed if self.committed <= offset else offset
        self.done = min(self.done, self.position)

    def rewind(self) -> None:
        """Back to the committed offset (a crashed owner forgets what it had not committed)."""
        self.position = self.done = self.committed
        self.generation += 1

    def hand_over(self, owner: Member | None) -> None:
        """Give the partition to ``owner``, who resumes at the committed offset."""
        self.owner = owner
        self.revoking = False
        self.next_owner = None
        self.generation += 1
        self.inflight = None
        self.position = self.done = self.committed

    def reset(self, offset: int, now: float) -> None:
        """Move the committed offset to ``offset`` (a replay, or a skip to the end)."""
        self.committed = self.position = self.done = offset
        self.generation += 1
        self.inflight = None
        self.commits.append((now, offset))

    def commit(self, now: float) -> int:
        """Commit what is done; return the committed offset."""
        self.committed = self.done
        self.commits.append((now, self.done))
        if self.attempts:
            for off in [o for o in self.attempts if o < self.done]:
                del self.attempts[off]
        self.last_commit = now
        return self.committed

    def commit_done(self, offset: int, now: float, handled: bool = False) -> None:
        """The hot path's commit right after an event: ``offset`` is done and committed.

        ``handled`` counts it as handled too (one call for both).  Only when
        nothing was redelivered (then :meth:`commit` has nothing to clean up).
        """
        if handled:
            self.handled += 1
        self.inflight = None
        self.committed = self.done = offset + 1
        self.commits.append((now, offset + 1))
        self.last_commit = now

    def commit_at(self, offset: int, now: float) -> int:
        """Commit ``offset`` as the next to read (a manual commit); fetching resumes there."""
        self.done = offset
        if self.position < offset:
            self.position = offset
        return self.commit(now)

    def fell_off(self, offset: int, now: float) -> range:
        """The log no longer keeps this group's position: jump to ``offset``.

        Retention deleted events the group had not read (Kafka's consumer
        finds its position out of range and resets it by
        ``auto.offset.reset``).  Returns the offsets skipped, counted as
        ``expired``: the group never handles them, and nobody tells it.
        """
        skipped = range(self.position, offset) if offset > self.position else range(0)
        self.expired += len(skipped)
        self.committed = self.done = self.position = offset
        self.generation += 1
        self.commits.append((now, offset))
        return skipped

    def skip_removed(self, removed: set[int]) -> None:
        """Step over offsets compaction removed (never delivered, nothing lost: a newer one stays)."""
        while self.position in removed:
            if self.done == self.position:
                self.done += 1
            self.position += 1

    def count_handled(self) -> None:
        self.handled += 1

    def count_lost(self) -> None:
        self.lost += 1

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

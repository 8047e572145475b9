"""Topics: a named stream split into partitions, kept by retention, never full.

A :class:`Topic` holds its partitions (:class:`~evtlib.log.Partition`) and its
settings (the broker's, with the topic's own overrides: ``retention.ms``,
``cleanup.policy``, ``delete.retention.ms``).  As in Kafka it has no room
to run out of: a slow group lags, and retention deletes what it has not
read.  :class:`KeyedPartitions` says where an event goes: its key's stable
hash, round-robin without a key.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .log import Partition

if TYPE_CHECKING:  # pragma: no cover
    from .broker import Broker

__all__ = ["Topic", "KeyedPartitions", "partition_for"]


def partition_for(key: str, partitions: int) -> int:
    """The partition for ``key``: a stable CRC-32 hash modulo ``partitions``."""
    return zlib.crc32(key.encode("utf-8")) % partitions


class KeyedPartitions:
    """How a topic picks an event's partition: by its key (a stable hash), round-robin without one.

    Shared by the simulated :class:`Topic` and a real backend's topic, so both
    place every key where the other would.
    """

    partitions: Sequence[Any]
    _rr: int = 0

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


class Topic(KeyedPartitions):
    """A named stream of events, split into partitions."""

    # No capacity: Kafka never refuses or holds back a publish because a group is slow.

    def __init__(
        self,
        broker: Broker,
        name: str,
        partitions: int,
        settings: Mapping[str, Any],
    ) -> None:
        self.broker = broker
        self.name = name
        #: The topic's effective settings (the broker's, with the topic's own overrides).
        self.settings: Mapping[str, Any] = MappingProxyType(dict(settings))
        self.cleanup_policy: str = settings.get("cleanup.policy", "delete")
        #: How long an event is kept (ms), or None: for ever (a compacted topic).
        self.retention: float | None = (
            None if self.cleanup_policy == "compact" else settings.get("retention.ms")
        )
        self.partitions: list[Partition] = [Partition(self, i) for i in range(partitions)]
        self.published = 0
        self._rr = 0

    def grow(self, count: int) -> None:
        """Add partitions up to ``count`` (see :meth:`Broker.add_partitions`)."""
        self.partitions.extend(Partition(self, i) for i in range(len(self.partitions), count))

    def compact(self) -> int:
        """Compact every partition now (``cleanup.policy="compact"``); return how many were removed.

        Each partition keeps the latest event of each key; a tombstone (data
        ``None``) stays ``delete.retention.ms`` after the first compaction that
        kept it.  The removed offsets are traced as ``compacted``.
        """
        if self.cleanup_policy != "compact":
            raise ValueError(
                f"topic {self.name!r} has cleanup.policy={self.cleanup_policy!r}: compaction needs"
                " cleanup.policy='compact' (create_topic(..., settings={'cleanup.policy': 'compact'}))"
            )
        sim = self.broker.sim
        keep_tombstones = float(self.settings.get("delete.retention.ms", 0))
        n = 0
        for part in self.partitions:
            for offset in part.compact(sim.now, keep_tombstones):
                n += 1
                sim.trace.record(
                    sim.now,
                    "compacted",
                    self.broker.name,
                    part.log[offset].id,
                    self.name,
                    part.index,
                    offset,
                    "a later event has the same key"
                    if part.log[offset].data is not None
                    else "tombstone past delete.retention.ms",
                )
        return n

    def expire(self) -> int:
        """Delete what retention says is too old, now; return how many events went.

        The simulation also does this whenever a consumer reads the log.
        Each deleted event is traced as ``expired`` at the time it expired.
        """
        sim = self.broker.sim
        n = 0
        for part in self.partitions:
            for offset, when in part.expire(sim.now):
                n += 1
                sim.trace.record(
                    when,
                    "expired",
                    self.broker.name,
                    part.log[offset].id,
                    self.name,
                    part.index,
                    offset,
                    f"older than retention.ms={self.retention:g}",
                )
        return n

    def __repr__(self) -> str:
        ends = [len(p.log) for p in self.partitions]
        return f"<Topic {self.name} partitions={len(ends)} ends={ends}>"

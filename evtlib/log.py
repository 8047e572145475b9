"""A partition's log: append, retention, compaction.

Each partition of a topic is an append-only log in which every event gets
the next *offset* (0, 1, 2, ...).  Offsets never change and are never
reused.  What the log keeps is the topic's policy, as in Kafka
(``cleanup.policy``):

* ``"delete"``: an event is deleted once it is older than ``retention.ms``,
  whether or not anyone has read it.  The *log start offset* moves past it;
  a group whose position is behind the log start has lost those events (see
  :meth:`~evtlib.offsets.PartitionState.fell_off`).
* ``"compact"``: compaction keeps the latest event of each key and removes
  the earlier ones; a *tombstone* (an event whose data is ``None``) removes
  its key's earlier events and is itself removed at the first compaction
  at least ``delete.retention.ms`` after the compaction that first kept it.

Simplifications, said plainly: Kafka deletes and compacts whole segments
(``segment.ms``, 7 days by default), checked every
``log.retention.check.interval.ms`` (5 minutes) and never the active segment,
so real events can outlive their retention a little and the newest ones
are never compacted.  Here each event is deleted as soon as it is older than
the retention, checked whenever the log is read, and compaction is a step
you call (:meth:`Partition.compact`), so experiments show the rule itself.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from .events import Event

if TYPE_CHECKING:  # pragma: no cover
    from .offsets import PartitionState
    from .topic import Topic

__all__ = ["Partition"]


class Partition:
    """One partition of a topic: an append-only log of events, and what it still keeps."""

    __slots__ = (
        "topic",
        "index",
        "log",
        "appended",
        "states",
        "start",
        "removed",
        "expires_at",
        "check_at",
        "deleted",
        "aborted",
        "_open",
        "_tombstones",
        "_name",
    )

    def __init__(self, topic: Topic, index: int) -> None:
        self.topic = topic
        self.index = index
        #: Every event appended, by offset (deleted ones too: in-flight deliveries may still
        #: read them; :meth:`retained` is what the log keeps).
        self.log: list[Event] = []
        #: When each offset was appended (ms): lag over time is computed from it.
        self.appended = array("d")
        #: The state of every group that reads this partition.
        self.states: list[PartitionState] = []
        #: The log start offset: every offset before it was deleted by retention.
        self.start = 0
        #: Offsets removed by compaction (after the log start).
        self.removed: set[int] = set()
        #: When the oldest retained event expires (ms); ``inf`` while nothing will.
        self.expires_at = math.inf
        #: When a reader must look again before fetching (retention due, or holes from
        #: compaction): the delivery loop's one cheap test.
        self.check_at = math.inf
        #: How many events retention deleted.
        self.deleted = 0
        #: Offsets written by transactions that were aborted (read_committed skips them).
        self.aborted: set[int] = set()
        # Open transactions: id -> their first offset here (read_committed stops before it).
        self._open: dict[str, int] = {}
        # Tombstones kept by a compaction: offset -> when that compaction ran.
        self._tombstones: dict[int, float] = {}
        self._name = f"{topic.name}[{index}]"

    @property
    def end(self) -> int:
        """The log end offset: the offset the next event will get."""
        return len(self.log)

    def append(self, event: Event, now: float) -> int:
        """Append ``event`` at ``now``; return its offset."""
        offset = len(self.log)
        self.log.append(event)
        self.appended.append(now)
        if self.expires_at == math.inf and self.start == offset:
            retention = self.topic.retention
            if retention is not None:
                self.expires_at = now + retention
                self.check_at = min(self.check_at, self.expires_at)
        return offset

    def expire(self, now: float) -> list[tuple[int, float]]:
        """Delete every event older than the retention at ``now``; return ``(offset, when)`` of each.

        ``when`` is the moment it expired (its append time plus the retention).
        """
        retention = self.topic.retention
        if retention is None or now < self.expires_at:
            return []
        gone = []
        appended, start, end = self.appended, self.start, len(self.log)
        while start < end and appended[start] + retention <= now:
            if start not in self.removed:
                gone.append((start, appended[start] + retention))
            start += 1
        self.start = start
        self.deleted += len(gone)
        self.removed = {o for o in self.removed if o >= start}
        self._tombstones = {o: t for o, t in self._tombstones.items() if o >= start}
        self.expires_at = appended[start] + retention if start < end else math.inf
        self.check_at = -math.inf if self.removed else self.expires_at
        return gone

    def compact(self, now: float, delete_retention: float) -> list[int]:
        """Keep the latest event of each key; return the offsets removed now.

        A tombstone (data ``None``) that is the latest of its key is kept
        until ``delete_retention`` ms after the compaction that first kept
        it, then removed too.
        """
        latest: dict[str | None, int] = {}
        for o in range(self.start, len(self.log)):
            if o not in self.removed:
                latest[self.log[o].key] = o
        keep = set(latest.values())
        out = []
        for o in range(self.start, len(self.log)):
            if o in self.removed:
                continue
            if o not in keep:
                out.append(o)
            elif self.log[o].data is None:  # a tombstone, the latest of its key
                first = self._tombstones.setdefault(o, now)
                if now - first >= delete_retention:
                    out.append(o)
                    del self._tombstones[o]
        self.removed.update(out)
        if self.removed:
            self.check_at = -math.inf  # readers skip the holes
        return out

    # -- transactions (Kafka: transactional.id, isolation.level) -------------

    @property
    def stable_end(self) -> int:
        """The last stable offset: where a ``read_committed`` reader must stop (an open transaction)."""
        return min(self._open.values()) if self._open else len(self.log)

    def written_in(self, txn: str, offset: int) -> None:
        """``offset`` was appended by transaction ``txn``, still open."""
        self._open.setdefault(txn, offset)
        self.check_at = -math.inf  # readers look at the stable end before fetching

    def ended(self, txn: str, offsets: list[int], committed: bool) -> None:
        """Transaction ``txn`` committed (its events become readable) or aborted (they never do)."""
        self._open.pop(txn, None)
        if not committed:
            self.aborted.update(offsets)
        if not (self._open or self.aborted or self.removed):
            self.check_at = self.expires_at

    def retained(self) -> list[Event]:
        """The events the log still keeps, in offset order."""
        removed = self.removed
        return [e for o, e in enumerate(self.log[self.start :], self.start) if o not in removed]

    def keeps(self, offset: int) -> bool:
        """Whether the log still keeps ``offset`` (not deleted, not compacted away)."""
        return self.start <= offset < len(self.log) and offset not in self.removed

    def __repr__(self) -> str:
        start = f" start={self.start}" if self.start else ""
        return f"<Partition {self._name}{start} end={len(self.log)}>"

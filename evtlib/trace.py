"""The trace: every step of a simulation, in order, for reading and drawing.

A :class:`Trace` is a compact, append-only record of what happened:
``published``, ``delivered``, ``handled``, ``committed``, ``failed``,
``redelivered``, ``dropped``, ``rebalanced``, ``crashed`` and so on.  Each
record carries the time, the actor (producer, consumer, broker...), the event
id, and where it applies the topic, partition and offset.

It is stored as one plain tuple per record, in :class:`TraceRecord`'s field
order (``-1`` stands for no partition or offset), so writing a record is one
append and a long run costs about 110 bytes per record; it can be switched
off entirely.  Read it back as :class:`TraceRecord` named tuples, filtered, as
a list of dicts for a table, or (fast, for pictures) as the raw rows with
:meth:`Trace.rows`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

__all__ = ["Trace", "TraceRecord", "KINDS"]

#: The kinds of record the core writes; patterns add their own.
KINDS = (
    "published",
    "blocked",
    "rejected",
    "delivered",
    "redelivered",
    "handled",
    "failed",
    "committed",
    "commit-rejected",
    "dropped",
    "duplicated",
    "delayed",
    "lost",
    "joined",
    "left",
    "crashed",
    "restarted",
    "paused",
    "resumed",
    "rebalanced",
    "timeout",
    "rewind",
    "evicted",
    "expired",
    "compacted",
    "repartitioned",
    "ack-lost",
    "deduplicated",
    "txn-committed",
    "txn-aborted",
)

_VERBS = {
    "published": "{actor} published {event} to {where}",
    "blocked": "{actor} is blocked: the buffer of {where} is full",
    "rejected": "the broker rejected {event} from {actor}: the buffer of {where} is full",
    "delivered": "the broker delivered {event} from {where} to {actor}",
    "redelivered": "the broker delivered {event} from {where} to {actor} again",
    "handled": "{actor} handled {event}",
    "failed": "{actor} failed to handle {event}",
    "committed": "{actor} committed {where}",
    "commit-rejected": "{actor} may no longer commit {where}: the partition moved",
    "dropped": "{event} was dropped on its way to {actor}",
    "duplicated": "the network delivered {event} to {actor} twice",
    "delayed": "the network delayed {event} on its way to {actor}",
    "lost": "{event} was lost for {actor}",
    "joined": "{actor} joined its group",
    "left": "{actor} left its group",
    "crashed": "{actor} crashed",
    "restarted": "{actor} restarted",
    "paused": "{actor} paused",
    "resumed": "{actor} resumed",
    "rebalanced": "group {actor} rebalanced",
    "revoked": "{actor} gave up {where} in a rebalance: it stops there",
    "assigned": "{actor} was given {where} after a rebalance: it resumes there",
    "extended": "{actor} got more time for {event} before the broker redelivers it",
    "timeout": "{actor} did not finish {event} in time",
    "rewind": "group {actor} moved its offsets",
    "evicted": "{actor} was evicted from its group: still handling {event} after max.poll.interval.ms",
    "expired": "retention deleted {event} from {where}",
    "compacted": "compaction removed {event} from {where}",
    "repartitioned": "{actor} added partitions to {where}",
    "ack-lost": "{actor} heard no acknowledgement for {event} and will send it again",
    "deduplicated": "{actor} recognised {event} as a producer retry: not appended twice",
    "requeued": "{actor} put unacknowledged messages of {where} back in their queue",
    "ack-ignored": "{actor}'s acknowledgement of {event} came too late and was ignored",
    "kept-copy": "{actor} kept a copy of {event} after its delete: it will be delivered again",
    "txn-committed": "{actor} committed a transaction: read_committed readers may read its events",
    "txn-aborted": "{actor} aborted a transaction: read_committed readers never see its events",
    # Written by the patterns (evtlib.patterns):
    "retried": "{actor} will try {event} again",
    "dead-lettered": "{actor} moved {event} to the dead-letter queue",
    "redriven": "{actor} sent {event} back to {where}",
    "skipped-duplicate": "{actor} had already processed {event}: skipped",
    "processed-ids-expired": "{actor} forgot old processed ids",
    "processed-ids-lost": "{actor} lost its in-memory processed ids",
    "outbox-written": "{actor} wrote the change and {event} to the outbox in one transaction",
    "db-written": "{actor} wrote the change to its database",
    "marked-sent": "{actor} marked {event} as sent in the outbox",
    "duplicate-published": "{actor} published {event} again to {where}",
    "outbox-cleaned": "{actor} deleted sent rows from the outbox",
    "crash-point": "{actor} crashed at a named crash point",
    "compensated": "{actor} compensated {event}",
}


class TraceRecord(NamedTuple):
    """One step of a simulation."""

    time: float
    kind: str
    actor: str
    event_id: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    detail: str | None = None

    def sentence(self) -> str:
        """Describe the step in plain words, for a learner."""
        where = self.topic or ""
        if self.partition is not None:
            where += f"[{self.partition}]"
        if self.offset is not None:
            where += f"@{self.offset}"
        template = _VERBS.get(self.kind, "{actor}: " + self.kind + " {event}")
        text = template.format(actor=self.actor, event=self.event_id or "", where=where or "-")
        text = " ".join(text.split())
        if self.detail:
            text += f" ({self.detail})"
        return f"t={self.time:g} ms: {text}"


class Trace:
    """An append-only list of :class:`TraceRecord`, stored as plain tuples.

    ``enabled=False`` turns :meth:`record` into a no-op.  Records may be
    appended slightly out of time order (a delivery is written when its
    handling ends); reading always returns them sorted by time, and in the
    order they were written when times are equal.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        # (time, kind, actor, event_id, topic, partition, offset, detail); -1 for "none".
        self._rows: list[tuple] = []
        self._last = float("-inf")
        self._unsorted = False

    def record(
        self,
        time: float,
        kind: str,
        actor: str,
        event_id: str | None = None,
        topic: str | None = None,
        partition: int = -1,
        offset: int = -1,
        detail: str | None = None,
    ) -> None:
        """Append one record (a no-op while the trace is disabled)."""
        if not self.enabled:
            return
        if time < self._last:
            self._unsorted = True
        else:
            self._last = time
        self._rows.append((time, kind, actor, event_id, topic, partition, offset, detail))

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[tuple]:
        """The stored rows, sorted by time: tuples in :class:`TraceRecord`'s field order.

        The fast way to read a long trace (a picture of 14,000 records): no
        record object per row.  A partition or offset below 0 means None.
        The list is the trace's own: read it, never change it.
        """
        return self._sorted_rows()

    def _sorted_rows(self) -> list[tuple]:
        if self._unsorted:
            # A stable sort keeps the writing order of records with equal times.
            self._rows.sort(key=_time_of)
            self._unsorted = False
        return self._rows

    @staticmethod
    def _row(row: tuple) -> TraceRecord:
        time, kind, actor, event_id, topic, p, o, detail = row
        return TraceRecord(
            time,
            kind,
            actor,
            event_id,
            topic,
            None if p is None or p < 0 else p,
            None if o is None or o < 0 else o,
            detail,
        )

    def __iter__(self) -> Iterator[TraceRecord]:
        row = self._row
        for r in self._sorted_rows():
            yield row(r)

    def __getitem__(self, k: int) -> TraceRecord:
        return self._row(self._sorted_rows()[k])

    def records(self) -> list[TraceRecord]:
        """All records, sorted by time."""
        return list(self)

    def filter(
        self,
        kind: str | Iterable[str] | None = None,
        actor: str | Iterable[str] | None = None,
        event_id: str | None = None,
        topic: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[TraceRecord]:
        """The records that match every given criterion."""
        kinds = _as_set(kind, "kind")
        actors = _as_set(actor, "actor")
        out = []
        for r in self._sorted_rows():
            if kinds is not None and r[1] not in kinds:
                continue
            if actors is not None and r[2] not in actors:
                continue
            if event_id is not None and r[3] != event_id:
                continue
            if topic is not None and r[4] != topic:
                continue
            t = r[0]
            if since is not None and t < since:
                continue
            if until is not None and t > until:
                continue
            out.append(self._row(r))
        return out

    def counts(self) -> dict[str, int]:
        """How many records of each kind, in the order kinds first appeared."""
        return dict(Counter(r[1] for r in self._sorted_rows()))

    def to_dicts(self, records: Iterable[TraceRecord] | None = None) -> list[dict[str, Any]]:
        """The records as plain dicts (for a table, JSON or a DataFrame)."""
        rows = self if records is None else records
        return [r._asdict() for r in rows]

    def clear(self) -> None:
        """Forget every record."""
        self.__init__(self.enabled)  # type: ignore[misc]

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"<Trace {state} records={len(self)}>"


def _time_of(row: tuple) -> float:
    return row[0]


def _as_set(value: str | Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    try:
        return frozenset(value)
    except TypeError:
        raise TypeError(f"{name} must be a str or an iterable of str, got {value!r}") from None

"""The trace: every step of a simulation, in order, for reading and drawing.

A :class:`Trace` is a compact, append-only record of what happened:
``published``, ``delivered``, ``handled``, ``committed``, ``failed``,
``redelivered``, ``dropped``, ``rebalanced``, ``crashed`` and so on.  Each
record carries the time, the actor (producer, consumer, broker...), the event
id, and where it applies the topic, partition and offset.

It is stored column by column (arrays of numbers, lists of shared strings) so
that a long run costs tens of bytes per record, and it can be switched off
entirely.  Read it back as :class:`TraceRecord` tuples, filtered, or as a list
of dicts for a table.
"""

from __future__ import annotations

from array import array
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
    "timeout": "{actor} did not finish {event} in time",
    "rewind": "group {actor} moved its offsets",
    # Written by the patterns (evtlib.patterns):
    "retried": "{actor} will try {event} again",
    "dead-lettered": "{actor} moved {event} to the dead-letter queue",
    "redriven": "{actor} sent {event} back to {where}",
    "skipped-duplicate": "{actor} had already processed {event}: skipped",
    "processed-ids-expired": "{actor} forgot old processed ids",
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
    """An append-only, column-stored list of :class:`TraceRecord`.

    ``enabled=False`` turns :meth:`record` into a no-op.  Records may be
    appended slightly out of time order (a delivery is written when its
    handling ends); reading always returns them sorted by time, and in the
    order they were written when times are equal.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._time = array("d")
        self._kind: list[str] = []
        self._actor: list[str] = []
        self._event: list[str | None] = []
        self._topic: list[str | None] = []
        self._partition = array("i")
        self._offset = array("q")
        self._detail: list[str | None] = []
        self._last = float("-inf")
        self._order: list[int] | None = []  # None: needs sorting

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
            self._order = None
        else:
            self._last = time
            if self._order is not None:
                self._order.append(len(self._kind))
        self._time.append(time)
        self._kind.append(kind)
        self._actor.append(actor)
        self._event.append(event_id)
        self._topic.append(topic)
        self._partition.append(partition)
        self._offset.append(offset)
        self._detail.append(detail)

    def __len__(self) -> int:
        return len(self._kind)

    def _sorted_index(self) -> list[int]:
        if self._order is None:
            times = self._time
            self._order = sorted(range(len(times)), key=times.__getitem__)
            self._last = times[self._order[-1]] if self._order else float("-inf")
        return self._order

    def _row(self, i: int) -> TraceRecord:
        p = self._partition[i]
        o = self._offset[i]
        return TraceRecord(
            self._time[i],
            self._kind[i],
            self._actor[i],
            self._event[i],
            self._topic[i],
            None if p < 0 else p,
            None if o < 0 else o,
            self._detail[i],
        )

    def __iter__(self) -> Iterator[TraceRecord]:
        for i in self._sorted_index():
            yield self._row(i)

    def __getitem__(self, k: int) -> TraceRecord:
        return self._row(self._sorted_index()[k])

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
        for i in self._sorted_index():
            if kinds is not None and self._kind[i] not in kinds:
                continue
            if actors is not None and self._actor[i] not in actors:
                continue
            if event_id is not None and self._event[i] != event_id:
                continue
            if topic is not None and self._topic[i] != topic:
                continue
            t = self._time[i]
            if since is not None and t < since:
                continue
            if until is not None and t > until:
                continue
            out.append(self._row(i))
        return out

    def counts(self) -> dict[str, int]:
        """How many records of each kind, in the order kinds first appeared."""
        return dict(Counter(self._kind))

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


def _as_set(value: str | Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    try:
        return frozenset(value)
    except TypeError:
        raise TypeError(f"{name} must be a str or an iterable of str, got {value!r}") from None

"""An event store: one stream per aggregate, appends with an expected version, snapshots.

In *event sourcing* the events are the write model.  To decide a command, a
service loads **one aggregate's own stream** (every event of ``order-1``,
nothing else), folds it into the aggregate's current state, checks the
command against that state and appends the new events **with the version it
read** (``expected_version``).  If another writer appended to the stream in
between, the append is refused with a :class:`ConcurrencyError` naming the
stream, the version expected and the version found: the command is retried
on fresh state, or given up (optimistic concurrency).  A *snapshot* keeps
the folded state at some version, so a load replays only the events after
it.

:class:`EventStore` keeps the streams and snapshots in memory, in a fixed
order, with no clock of its own: the same calls give the same store.
:class:`SqliteEventStore` keeps them in SQLite, in one table whose primary
key is ``(stream, version)``: two processes that read the same version
cannot both insert the next one (the ``eventsourcing`` library's recorders
work this way; EventStoreDB checks an ``expectedRevision``).  :class:`Repository` is what a command
handler uses: ``load`` (latest snapshot + the tail of the stream), ``save``
(append with the loaded version; snapshot every ``snapshot_every`` events)
and ``execute`` (load, decide, save, retry on a conflict).

    >>> repo = Repository(EventStore(), lambda s, e: s + 1, 0)
    >>> a, b = repo.load("order-1"), repo.load("order-1")   # two writers read version 0
    >>> repo.save(a, [("OrderPlaced", {"total": 30})])
    1
    >>> repo.save(b, [("OrderPlaced", {"total": 40})])
    Traceback (most recent call last):
    ...
    evtlib.patterns.event_store.ConcurrencyError: stream 'order-1' is at version 1, the append expected version 0: another writer appended first; load the stream again and retry the command
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .. import checks
from ..errors import EvtlibError
from ..events import Event
from .sqlite import ClosedDatabaseError, open_db, peek

__all__ = [
    "ANY",
    "EventStore",
    "SqliteEventStore",
    "Snapshot",
    "Loaded",
    "Repository",
    "ConcurrencyError",
    "CommandRejected",
]

#: ``expected_version=ANY`` appends without the check (EventStoreDB's ``StreamState.Any``):
#: the naive twin, which lets two writers who read the same state both append.
ANY: Final = "any"


class ConcurrencyError(EvtlibError):
    """Raised when an append's expected version is not the stream's version: another writer appended first."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream!r} is at version {actual}, the append expected version {expected}:"
            " another writer appended first; load the stream again and retry the command"
        )


class CommandRejected(EvtlibError):
    """Raised by a ``decide`` function when the aggregate's current state refuses the command."""


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's folded ``state`` after the first ``version`` events of ``stream``."""

    stream: str
    version: int
    state: Any


class EventStore:
    """Streams of events, one per aggregate id, each with a version (its number of events).

    ``append(stream, events, expected_version=v)`` adds ``events`` only if
    the stream has exactly ``v`` events (``0``: it must not exist yet), and
    returns the new version; otherwise it raises :class:`ConcurrencyError`
    and appends nothing.  ``read(stream, from_version=n)`` returns the
    events from the ``n``-th on (1-based).  ``events_read`` counts every
    event ``read`` has returned: what loading aggregates costs.
    """

    def __init__(self) -> None:
        self._streams: dict[str, list[Event]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._all: list[tuple[str, int]] = []
        self._ids: set[str] = set()
        #: How many events :meth:`read` has returned so far.
        self.events_read = 0

    @property
    def streams(self) -> list[str]:
        """The stream names, in the order they were created."""
        return list(self._streams)

    def version(self, stream: str) -> int:
        """How many events ``stream`` holds (0 if it does not exist)."""
        return len(self._streams.get(checks.name("stream", stream), ()))

    def append(self, stream: str, events: Iterable[Event], *, expected_version: int | str) -> int:
        """Append ``events`` to ``stream`` if it is at ``expected_version``; return the new version.

        ``expected_version`` is the version the writer read (``0`` for a new
        stream), or :data:`ANY` to skip the check.  All or nothing: on a
        conflict nothing is appended.
        """
        new = self._checked(stream, events, expected_version)
        current = self._streams.get(stream, [])
        if expected_version != ANY and expected_version != len(current):
            raise ConcurrencyError(stream, int(expected_version), len(current))
        seen = [e.id for e in new if e.id in self._ids]
        if seen:
            raise ValueError(f"event ids must be unique in the store, got {seen}")
        current = self._streams.setdefault(stream, current)
        for e in new:
            current.append(e)
            self._ids.add(e.id)
            self._all.append((stream, len(current)))
        return len(current)

    @staticmethod
    def _checked(stream: str, events: Iterable[Event], expected_version: int | str) -> list[Event]:
        """The events of an append, checked: a stream name, Events, unique ids, a version rule."""
        checks.name("stream", stream)
        new = list(events)
        if not new:
            raise ValueError(f"events must hold at least one event for stream {stream!r}, got []")
        for e in new:
            checks.instance("events", e, Event, "Event")
        if expected_version != ANY:
            checks.integer("expected_version", expected_version, min=0)
        ids = [e.id for e in new]
        if len(set(ids)) != len(ids):
            raise ValueError(f"event ids must be unique in the store, got {ids}")
        return new

    def read(self, stream: str, from_version: int = 1) -> list[Event]:
        """The events of ``stream`` from the ``from_version``-th on (1-based), in order."""
        checks.name("stream", stream)
        checks.integer("from_version", from_version, min=1)
        out = self._streams.get(stream, [])[from_version - 1 :]
        self.events_read += len(out)
        return list(out)

    def read_all(self) -> list[Event]:
        """Every event of every stream in the order they were appended (for projections)."""
        return [self._streams[s][v - 1] for s, v in self._all]

    def save_snapshot(self, stream: str, version: int, state: Any) -> Snapshot:
        """Keep ``state`` as the fold of the first ``version`` events of ``stream`` (a deep copy)."""
        checks.name("stream", stream)
        checks.integer("version", version, min=1, max=max(1, self.version(stream)))
        if version > self.version(stream):
            raise ValueError(
                f"version must be <= {self.version(stream)}, the version of stream"
                f" {stream!r}, got {version}"
            )
        snap = Snapshot(stream, version, copy.deepcopy(state))
        self._snapshots[stream] = snap
        return snap

    def snapshot(self, stream: str) -> Snapshot | None:
        """The latest snapshot of ``stream``, or None."""
        return self._snapshots.get(checks.name("stream", stream))

    def __repr__(self) -> str:
        return (
            f"<EventStore streams={len(self._streams)} events={len(self._all)}"
            f" snapshots={len(self._snapshots)}>"
        )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    stream   TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL UNIQUE,
    id       TEXT    NOT NULL UNIQUE,
    event    TEXT    NOT NULL,
    PRIMARY KEY (stream, version)
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream  TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state   TEXT NOT NULL
);
"""


class SqliteEventStore(EventStore):
    """The same event store in SQLite: a row per event, primary key ``(stream, version)``.

    ``db`` is a connection, a file path or None (in memory).  Two stores
    opened on the same file are two processes sharing one event store: an
    append checks the version inside an ``IMMEDIATE`` transaction, and the
    primary key refuses a second row for the same version even if a check
    were skipped.  Events are stored as JSON (:meth:`Event.to_json`);
    snapshot states must be JSON values (a copy comes back on each read).
    """

    def __init__(self, db: sqlite3.Connection | str | None = None) -> None:
        super().__init__()
        self.db = open_db(db)
        self.db.executescript(_SCHEMA)

    @property
    def streams(self) -> list[str]:
        """The stream names, in the order they were created."""
        rows = self.db.execute(
            "SELECT stream FROM events GROUP BY stream ORDER BY MIN(position)"
        ).fetchall()
        return [r[0] for r in rows]

    def version(self, stream: str) -> int:
        """How many events ``stream`` holds (0 if it does not exist)."""
        checks.name("stream", stream)
        row = self.db.execute(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,)
        ).fetchone()
        return int(row[0])

    def append(self, stream: str, events: Iterable[Event], *, expected_version: int | str) -> int:
        """Append ``events`` if ``stream`` is at ``expected_version`` (or :data:`ANY`), in one transaction."""
        new = self._checked(stream, events, expected_version)
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.ProgrammingError as exc:
            raise ClosedDatabaseError(f"db must be an open sqlite3 connection ({exc})") from None
        try:
            current = self.version(stream)
            if expected_version != ANY and expected_version != current:
                raise ConcurrencyError(stream, int(expected_version), current)
            base = current if expected_version == ANY else int(expected_version)
            position = db.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0]
            try:
                db.executemany(
                    "INSERT INTO events (stream, version, position, id, event) VALUES (?, ?, ?, ?, ?)",
                    [
                        (stream, base + i, position + i, e.id, e.to_json())
                        for i, e in enumerate(new, 1)
                    ],
                )
            except sqlite3.IntegrityError as exc:
                if "events.id" in str(exc):
                    raise ValueError(
                        f"event ids must be unique in the store, got {[e.id for e in new]}"
                    ) from None
                raise ConcurrencyError(stream, base, self.version(stream)) from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return base + len(new)

    def read(self, stream: str, from_version: int = 1) -> list[Event]:
        """The events of ``stream`` from the ``from_version``-th on (1-based), in order."""
        checks.name("stream", stream)
        checks.integer("from_version", from_version, min=1)
        rows = self.db.execute(
            "SELECT event FROM events WHERE stream = ? AND version >= ? ORDER BY version",
            (stream, from_version),
        ).fetchall()
        self.events_read += len(rows)
        return [Event.from_json(r[0]) for r in rows]

    def read_all(self) -> list[Event]:
        """Every event of every stream in the order they were appended."""
        rows = self.db.execute("SELECT event FROM events ORDER BY position").fetchall()
        return [Event.from_json(r[0]) for r in rows]

    def save_snapshot(self, stream: str, version: int, state: Any) -> Snapshot:
        """Keep ``state`` (a JSON value) as the fold of the first ``version`` events of ``stream``."""
        checks.name("stream", stream)
        top = self.version(stream)
        checks.integer("version", version, min=1, max=max(1, top))
        if version > top:
            raise ValueError(
                f"version must be <= {top}, the version of stream {stream!r}, got {version}"
            )
        try:
            text = json.dumps(state, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"state must be a JSON value to be kept in SQLite, got {state!r} ({exc})"
            ) from None
        self.db.execute(
            "INSERT INTO snapshots (stream, version, state) VALUES (?, ?, ?)"
            " ON CONFLICT(stream) DO UPDATE SET version = excluded.version, state = excluded.state",
            (stream, version, text),
        )
        return Snapshot(stream, version, json.loads(text))

    def snapshot(self, stream: str) -> Snapshot | None:
        """The latest snapshot of ``stream``, or None."""
        checks.name("stream", stream)
        row = self.db.execute(
            "SELECT version, state FROM snapshots WHERE stream = ?", (stream,)
        ).fetchone()
        return None if row is None else Snapshot(stream, int(row[0]), json.loads(row[1]))

    def __repr__(self) -> str:
        events = peek(self.db, "SELECT COUNT(*) FROM events")
        streams = peek(self.db, "SELECT COUNT(DISTINCT stream) FROM events")
        snaps = peek(self.db, "SELECT COUNT(*) FROM snapshots")
        return f"<SqliteEventStore streams={streams} events={events} snapshots={snaps}>"


@dataclass(frozen=True)
class Loaded:
    """An aggregate as a command handler sees it: its ``state`` at ``version``.

    ``replayed`` events were folded to get it, starting from the snapshot
    at ``snapshot_version`` (0: no snapshot, a full replay).
    """

    stream: str
    state: Any
    version: int
    replayed: int
    snapshot_version: int = 0


class Repository:
    """Load and save one kind of aggregate: ``fold(state, event)`` from ``initial``.

    ``snapshot_every`` (an int >= 1, or None) keeps a snapshot each time a
    save carries the stream past a multiple of it.  New events are built by
    :meth:`save` from ``(type, data)`` pairs: id ``"<stream>@<version>"``,
    ``key`` the stream, ``source`` the repository's ``source``.
    """

    def __init__(
        self,
        store: EventStore,
        fold: Callable[[Any, Event], Any],
        initial: Any,
        *,
        snapshot_every: int | None = None,
        source: str = "orders",
    ) -> None:
        self.store = checks.instance("store", store, EventStore, "EventStore")
        self.fold = checks.function("fold", fold, "(state, event) -> state")
        self.initial = initial
        if snapshot_every is not None:
            checks.integer("snapshot_every", snapshot_every, min=1)
        self.snapshot_every = snapshot_every
        self.source = checks.name("source", source)

    def load(self, stream: str) -> Loaded:
        """The aggregate ``stream``: its latest snapshot (if any), then the events after it.

        A repository made without ``snapshot_every`` ignores snapshots: a full replay.
        """
        snap = self.store.snapshot(stream) if self.snapshot_every is not None else None
        start = snap.version if snap else 0
        state = copy.deepcopy(snap.state) if snap else copy.deepcopy(self.initial)
        tail = self.store.read(stream, start + 1)
        for e in tail:
            state = self.fold(state, e)
        return Loaded(stream, state, start + len(tail), len(tail), start)

    def save(
        self,
        loaded: Loaded,
        changes: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        now: float = 0.0,
        check: bool = True,
    ) -> int:
        """Append ``changes`` (``(type, data)`` pairs) to the stream ``loaded`` came from.

        The append expects ``loaded.version`` (``check=False``: :data:`ANY`,
        the naive twin).  Returns the new version; raises
        :class:`ConcurrencyError` if another writer appended first.
        """
        checks.instance("loaded", loaded, Loaded, "Loaded (from Repository.load)")
        if not changes:
            return loaded.version
        stream = loaded.stream
        base = self.store.version(stream) if not check else loaded.version
        events = [
            Event(
                id=f"{stream}@{base + i}",
                type=kind,
                time=float(now),
                source=self.source,
                key=stream,
                data=dict(data),
            )
            for i, (kind, data) in enumerate(changes, 1)
        ]
        version = self.store.append(
            stream, events, expected_version=loaded.version if check else ANY
        )
        every = self.snapshot_every
        if every is not None and version // every > (version - len(events)) // every:
            state = loaded.state
            if check:
                for e in events:
                    state = self.fold(state, e)
                self.store.save_snapshot(stream, version, state)
            else:  # another writer may have appended in between: fold the stream as it is
                self.store.save_snapshot(stream, version, self._replay(stream))
        return version

    def _replay(self, stream: str) -> Any:
        state = copy.deepcopy(self.initial)
        for e in self.store.read(stream):
            state = self.fold(state, e)
        return state

    def execute(
        self,
        stream: str,
        decide: Callable[[Any], Sequence[tuple[str, Mapping[str, Any]]]],
        *,
        retries: int = 1,
        now: float = 0.0,
    ) -> int:
        """Load ``stream``, ``decide(state)`` the new events, save them; retry on a conflict.

        ``decide`` raises :class:`CommandRejected` when the state refuses the
        command (that propagates).  After ``retries`` conflicts the last
        :class:`ConcurrencyError` propagates too.  Returns the new version.
        """
        checks.integer("retries", retries, min=0)
        checks.function("decide", decide, "(state) -> [(type, data), ...]")
        for attempt in range(retries + 1):
            loaded = self.load(stream)
            try:
                return self.save(loaded, decide(loaded.state), now=now)
            except ConcurrencyError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def __repr__(self) -> str:
        every = "" if self.snapshot_every is None else f" snapshot_every={self.snapshot_every}"
        return f"<Repository {getattr(self.fold, '__name__', 'fold')}{every} {self.store!r}>"

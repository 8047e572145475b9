"""What an idempotent consumer remembers: three stores behind one interface.

:class:`ProcessedStore` is the interface; :class:`SqliteIdStore` keeps a
``processed(consumer, event_id)`` table, :class:`SqlitePositionStore` a
``tracking`` row per partition, :class:`MemoryIdStore` a dict beside a dict
state.  Each runs an effect and its own bookkeeping in one transaction (see
:mod:`evtlib.patterns.idempotent` for the consumer that uses them).
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable
from typing import Any

from .. import checks
from ..consumer import Delivery
from ..events import Event
from .sqlite import is_closed, open_db, peek, transaction

__all__ = [
    "Effect",
    "ProcessedStore",
    "SqliteIdStore",
    "SqlitePositionStore",
    "MemoryIdStore",
]

#: Effect signature: ``effect(conn_or_state, event)``; a sqlite3 connection
#: inside an open transaction for the SQLite stores, the state dict for
#: :class:`MemoryIdStore`.  Raise to fail (the transaction is rolled back).
Effect = Callable[[Any, Event], Any]

Check = Callable[[str], None]


def no_crash(point: str) -> None:
    return None


def check_retention(retention_ms: Any) -> float | None:
    if retention_ms is None:
        return None
    if isinstance(retention_ms, bool) or not isinstance(retention_ms, (int, float)):
        raise ValueError(f"retention_ms must be a number of ms >= 0 or None, got {retention_ms!r}")
    if not retention_ms >= 0:
        raise ValueError(f"retention_ms must be a number of ms >= 0 or None, got {retention_ms!r}")
    return float(retention_ms)


def open_store_db(db: sqlite3.Connection | str | None, schema: str | None) -> sqlite3.Connection:
    """A checked connection from ``db`` (see :func:`~evtlib.patterns.sqlite.open_db`), with ``schema`` run."""
    db = open_db(db)
    if schema is not None:
        if not isinstance(schema, str):
            raise TypeError(f"schema must be SQL text or None, got {schema!r}")
        db.executescript(schema)
    return db


class ProcessedStore:
    """What an idempotent consumer remembers, and where its effects go.

    Subclasses implement :meth:`apply` (run the effect unless the delivery
    was already processed; return whether it ran), :meth:`contains`,
    :meth:`apply_naive` (the effect alone, for the naive twin) and may
    implement :meth:`cleanup` (retention).
    """

    retention_ms: float | None = None
    forgotten = 0

    def apply(
        self,
        consumer: str,
        delivery: Delivery,
        effect: Effect,
        *,
        now: float,
        atomic: bool = True,
        check: Check = no_crash,
    ) -> bool:
        """Apply ``effect`` for ``delivery`` once; ``False`` if it was a duplicate."""
        raise NotImplementedError

    def contains(self, consumer: str, delivery: Delivery) -> bool:
        """Whether ``consumer`` has already processed ``delivery``."""
        raise NotImplementedError

    def crashed(self) -> int:
        """The consumer's process died; return how many processed ids it took with it.

        A database keeps them (0); an in-memory store loses them.
        """
        return 0

    def apply_naive(self, effect: Effect, event: Event, check: Check = no_crash) -> None:
        """Run ``effect`` in a transaction of its own, remembering nothing."""
        raise NotImplementedError

    def cleanup(self, now: float) -> int:
        """Forget processed ids older than ``retention_ms``; return how many."""
        return 0

    @property
    def closed(self) -> bool:
        """Whether the store can no longer be used (its database connection was closed)."""
        return False


class SqliteIdStore(ProcessedStore):
    """Processed event ids in a SQLite table, keyed by ``(consumer, event_id)``.

    Parameters
    ----------
    db:
        A connection (from :func:`~evtlib.patterns.connect`), a path, or None
        for a new in-memory database.
    schema:
        SQL run once to create the effect's tables (e.g. :data:`LEDGER_SCHEMA`).
    retention_ms:
        Delete ids processed more than this many ms ago (None: keep forever).
    """

    def __init__(
        self,
        db: sqlite3.Connection | str | None = None,
        *,
        schema: str | None = None,
        retention_ms: float | None = None,
    ) -> None:
        self.retention_ms = check_retention(retention_ms)
        self.db = open_store_db(db, schema)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS processed ("
            " consumer TEXT NOT NULL, event_id TEXT NOT NULL, processed_at REAL NOT NULL,"
            " PRIMARY KEY (consumer, event_id))"
        )
        self.forgotten = 0

    def _insert(self, consumer: str, delivery: Delivery, now: float) -> bool:
        try:
            self.db.execute(
                "INSERT INTO processed (consumer, event_id, processed_at) VALUES (?, ?, ?)",
                (consumer, delivery.event.id, now),
            )
        except sqlite3.IntegrityError:
            return False  # the primary key says: already done
        return True

    def apply(
        self,
        consumer: str,
        delivery: Delivery,
        effect: Effect,
        *,
        now: float,
        atomic: bool = True,
        check: Check = no_crash,
    ) -> bool:
        db = self.db
        if atomic:
            with transaction(db):
                if not self._insert(consumer, delivery, now):
                    return False  # leaving the block commits an empty transaction
                check("before-effect")
                effect(db, delivery.event)
                check("after-effect")
            check("after-commit")
            return True
        # Not atomic: effect and memory in two transactions (the mistake to show).
        if self.contains(consumer, delivery):
            return False
        check("before-effect")
        with transaction(db):
            effect(db, delivery.event)
        check("after-effect")
        with transaction(db):
            self._insert(consumer, delivery, now)
        check("after-commit")
        return True

    def contains(self, consumer: str, delivery: Delivery) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM processed WHERE consumer = ? AND event_id = ?",
            (consumer, delivery.event.id),
        ).fetchone()
        return row is not None

    def apply_naive(self, effect: Effect, event: Event, check: Check = no_crash) -> None:
        check("before-effect")
        with transaction(self.db):
            effect(self.db, event)
        check("after-effect")
        check("after-commit")

    def cleanup(self, now: float) -> int:
        if self.retention_ms is None:
            return 0
        with transaction(self.db):
            n = self.db.execute(
                "DELETE FROM processed WHERE processed_at < ?", (now - self.retention_ms,)
            ).rowcount
        self.forgotten += n
        return n

    def processed_ids(self, consumer: str | None = None) -> list[str]:
        """The processed event ids (of one consumer group, or all), oldest first."""
        sql = "SELECT event_id FROM processed"
        args: tuple[str, ...] = ()
        if consumer is not None:
            sql += " WHERE consumer = ?"
            args = (consumer,)
        return [r[0] for r in self.db.execute(sql + " ORDER BY processed_at, event_id", args)]

    @property
    def closed(self) -> bool:
        """Whether :attr:`db` has been closed (a closed connection never reopens)."""
        return is_closed(self.db)

    def __repr__(self) -> str:
        n = peek(self.db, "SELECT count(*) FROM processed")
        keep = "forever" if self.retention_ms is None else f"{self.retention_ms:g}ms"
        return f"<SqliteIdStore processed={n} retention={keep} forgotten={self.forgotten}>"


class SqlitePositionStore(ProcessedStore):
    """The next offset to process, per ``(consumer, topic, partition)``, in SQLite.

    Written in the same transaction as the effect, so the position and the
    output move together.  Parameters ``db`` and ``schema`` as for
    :class:`SqliteIdStore`; there is nothing to retain but one row per partition.
    """

    def __init__(
        self, db: sqlite3.Connection | str | None = None, *, schema: str | None = None
    ) -> None:
        self.db = open_store_db(db, schema)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS tracking ("
            " consumer TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
            " position INTEGER NOT NULL, PRIMARY KEY (consumer, topic, partition))"
        )

    def position(self, consumer: str, topic: str, partition: int) -> int:
        """The next offset ``consumer`` will apply in ``topic[partition]`` (0 if none yet)."""
        row = self.db.execute(
            "SELECT position FROM tracking WHERE consumer = ? AND topic = ? AND partition = ?",
            (consumer, topic, partition),
        ).fetchone()
        return 0 if row is None else row[0]

    def _advance(self, consumer: str, delivery: Delivery) -> None:
        self.db.execute(
            "INSERT INTO tracking (consumer, topic, partition, position) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (consumer, topic, partition)"
            " DO UPDATE SET position = max(position, excluded.position)",
            (consumer, delivery.topic, delivery.partition, delivery.offset + 1),
        )

    def apply(
        self,
        consumer: str,
        delivery: Delivery,
        effect: Effect,
        *,
        now: float,
        atomic: bool = True,
        check: Check = no_crash,
    ) -> bool:
        db = self.db
        if atomic:
            with transaction(db):
                if self.contains(consumer, delivery):
                    return False
                check("before-effect")
                effect(db, delivery.event)
                check("after-effect")
                self._advance(consumer, delivery)
            check("after-commit")
            return True
        if self.contains(consumer, delivery):
            return False
        check("before-effect")
        with transaction(db):
            effect(db, delivery.event)
        check("after-effect")
        with transaction(db):
            self._advance(consumer, delivery)
        check("after-commit")
        return True

    def contains(self, consumer: str, delivery: Delivery) -> bool:
        return delivery.offset < self.position(consumer, delivery.topic, delivery.partition)

    def apply_naive(self, effect: Effect, event: Event, check: Check = no_crash) -> None:
        check("before-effect")
        with transaction(self.db):
            effect(self.db, event)
        check("after-effect")
        check("after-commit")

    def positions(self) -> dict[tuple[str, str, int], int]:
        """Every tracking row: ``{(consumer, topic, partition): position}``."""
        cur = self.db.execute("SELECT consumer, topic, partition, position FROM tracking")
        return {(c, t, p): pos for c, t, p, pos in cur}

    @property
    def closed(self) -> bool:
        """Whether :attr:`db` has been closed (a closed connection never reopens)."""
        return is_closed(self.db)

    def __repr__(self) -> str:
        if peek(self.db, "SELECT 1") == "closed":
            return "<SqlitePositionStore db=closed>"
        return f"<SqlitePositionStore positions={self.positions()}>"


class MemoryIdStore(ProcessedStore):
    """Processed ids and a state dict, in memory: for small examples.

    ``state`` (a dict, default empty) is what the effect changes in place:
    ``effect(state, event)``; it stands for the system the effect changes (a
    payment provider, a database), which outlives the consumer.  "Atomic" here
    means: if the effect or a crash interrupts, the state and the ids are put
    back as they were.

    The processed ids live in the consumer's process: a crash loses them
    (:meth:`crashed`), as a real in-memory set dies with its process, so the
    redeliveries after a crash are applied again.  ``durable=True`` says they
    are kept somewhere that survives (then it stands for a database table).
    """

    def __init__(
        self,
        state: dict[str, Any] | None = None,
        *,
        retention_ms: float | None = None,
        durable: bool = False,
    ) -> None:
        if state is not None and not isinstance(state, dict):
            raise TypeError(f"state must be a dict or None, got {type(state).__name__}: {state!r}")
        self.durable = checks.boolean("durable", durable)
        self.retention_ms = check_retention(retention_ms)
        self.state: dict[str, Any] = {} if state is None else state
        self.processed: dict[tuple[str, str], float] = {}
        self.forgotten = 0

    def _snapshot(self) -> tuple[dict[str, Any], dict[tuple[str, str], float]]:
        return copy.deepcopy(self.state), dict(self.processed)

    def _restore(self, snap: tuple[dict[str, Any], dict[tuple[str, str], float]]) -> None:
        self.state.clear()
        self.state.update(snap[0])
        self.processed = snap[1]

    def apply(
        self,
        consumer: str,
        delivery: Delivery,
        effect: Effect,
        *,
        now: float,
        atomic: bool = True,
        check: Check = no_crash,
    ) -> bool:
        key = (consumer, delivery.event.id)
        if key in self.processed:
            return False
        if atomic:
            snap = self._snapshot()
            try:
                self.processed[key] = now
                check("before-effect")
                effect(self.state, delivery.event)
                check("after-effect")
            except BaseException:
                self._restore(snap)
                raise
            check("after-commit")
            return True
        check("before-effect")
        self.apply_naive(effect, delivery.event)
        check("after-effect")
        self.processed[key] = now
        check("after-commit")
        return True

    def contains(self, consumer: str, delivery: Delivery) -> bool:
        return (consumer, delivery.event.id) in self.processed

    def crashed(self) -> int:
        """The consumer's process died: the ids it held in memory are gone (unless durable).

        Returns how many were forgotten.
        """
        if self.durable:
            return 0
        n = len(self.processed)
        self.processed = {}
        return n

    def apply_naive(self, effect: Effect, event: Event, check: Check = no_crash) -> None:
        check("before-effect")
        snap = copy.deepcopy(self.state)
        try:
            effect(self.state, event)
        except BaseException:
            self.state.clear()
            self.state.update(snap)
            raise
        check("after-effect")
        check("after-commit")

    def cleanup(self, now: float) -> int:
        if self.retention_ms is None:
            return 0
        cutoff = now - self.retention_ms
        old = [k for k, t in self.processed.items() if t < cutoff]
        for k in old:
            del self.processed[k]
        self.forgotten += len(old)
        return len(old)

    def processed_ids(self, consumer: str | None = None) -> list[str]:
        """The processed event ids (of one consumer group, or all), oldest first."""
        return [e for (c, e) in self.processed if consumer is None or c == consumer]

    def __repr__(self) -> str:
        keep = "forever" if self.retention_ms is None else f"{self.retention_ms:g}ms"
        return (
            f"<MemoryIdStore processed={len(self.processed)} retention={keep}"
            f" state={_short(self.state)}>"
        )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

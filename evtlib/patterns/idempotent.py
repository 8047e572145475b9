"""Idempotent consumer: a duplicate delivery changes nothing.

At-least-once delivery means duplicates: a consumer that crashes after its
effect but before committing its offset gets the event again; an outbox
relay that crashes after publishing publishes again; the network may
deliver twice.  :class:`NaiveConsumer` applies every delivery, so a
customer is charged twice.  :class:`IdempotentConsumer` remembers what it
has done, *in the same transaction as the effect*, and skips the rest
(traced as ``skipped-duplicate``).

Three stores, one interface (:class:`ProcessedStore`):

* :class:`SqliteIdStore`: a ``processed(consumer, event_id)`` table with that
  pair as PRIMARY KEY (Eventuate's way).  The row is inserted first, inside
  the handler's transaction; a duplicate key means "already done, skip".
  Catches every duplicate, however it arrived.
* :class:`SqlitePositionStore`: a ``tracking(consumer, topic, partition,
  position)`` row written with the output (eventsourcing's way); an event at
  an offset below the stored position is skipped.  One row per partition, no
  retention needed, but it only recognises *redeliveries* of an offset: the
  same event published twice sits at two offsets and is applied twice.
* :class:`MemoryIdStore`: a dict of processed ids beside a dict state, for
  small examples (the "transaction" is a snapshot restored on failure).

The ``consumer`` column holds the consumer *group*: a redelivery after a
rebalance goes to another member of the same group, which must see the id.

``atomic=False`` writes the effect and the processed row in two separate
transactions; a crash between them (crash point ``"after-effect"``) leaves
an effect without its row, and the redelivery applies it again.
``retention_ms`` deletes old processed ids; shorter than the redelivery
window, it lets duplicates back in (:func:`retention_demo`).

Crash points, in the order the consumer reaches them::

    BEGIN; INSERT processed / SELECT position   <- "before-effect"
    effect(conn, event)                         <- "after-effect"
    (UPSERT position); COMMIT                   <- "after-commit" (offset not committed yet)

A crash raises :class:`~evtlib.patterns.crashes.SimulatedCrash` in the
handler (traced as ``failed``), then the consumer crashes and restarts
``restart_after`` ms later; the broker redelivers from the committed offset.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..broker import Broker, NetworkFaults
from ..consumer import Consumer, Delivery
from ..distributions import Uniform
from ..events import Event
from ..faults import crash
from ..sim import URGENT, Simulation
from .crashes import (
    CrashPlan,
    CrashSpec,
    SimulatedCrash,
    check_connection,
    connect,
    peek,
    transaction,
)

__all__ = [
    "IDEMPOTENT_CRASH_POINTS",
    "LEDGER_SCHEMA",
    "ProcessedStore",
    "SqliteIdStore",
    "SqlitePositionStore",
    "MemoryIdStore",
    "IdempotentConsumer",
    "NaiveConsumer",
    "charge_customer",
    "ledger",
    "RetentionDemo",
    "retention_demo",
    "idempotent_sweep",
    "SWEEP_TWINS",
]

#: Where a scenario may crash an idempotent (or naive) consumer.
IDEMPOTENT_CRASH_POINTS = ("before-effect", "after-effect", "after-commit")

#: Effect signature: ``effect(conn_or_state, event)``; a sqlite3 connection
#: inside an open transaction for the SQLite stores, the state dict for
#: :class:`MemoryIdStore`.  Raise to fail (the transaction is rolled back).
Effect = Callable[[Any, Event], Any]

#: Tables for :func:`charge_customer`, the running example's effect.
#: ``charges`` has no key on ``event_id`` on purpose: a constraint there would
#: be a hidden de-duplication, and the naive twin must be able to charge twice.
LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    n        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    amount   NUMERIC NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (
    customer TEXT PRIMARY KEY,
    charged  NUMERIC NOT NULL
);
"""


def charge_customer(target: sqlite3.Connection | dict[str, Any], event: Event) -> None:
    """The running example's effect: charge ``event.data["customer"]`` its ``total``.

    With a SQLite connection it inserts a ``charges`` row and adds to
    ``balances`` (see :data:`LEDGER_SCHEMA`); with a dict state it does the
    same to ``state["charges"]`` (a list of event ids) and
    ``state["balances"]``.  Works on ``OrderPlaced`` events from the outbox.
    """
    customer = event.data["customer"]
    amount = event.data["total"]
    if isinstance(target, sqlite3.Connection):
        target.execute(
            "INSERT INTO charges (event_id, customer, amount) VALUES (?, ?, ?)",
            (event.id, customer, amount),
        )
        target.execute(
            "INSERT INTO balances (customer, charged) VALUES (?, ?)"
            " ON CONFLICT (customer) DO UPDATE SET charged = charged + excluded.charged",
            (customer, amount),
        )
    else:
        target.setdefault("charges", []).append(event.id)
        balances = target.setdefault("balances", {})
        balances[customer] = balances.get(customer, 0) + amount


def ledger(store: ProcessedStore | sqlite3.Connection | Mapping[str, Any]) -> dict[str, Any]:
    """The example's state as plain data: ``{"balances": {...}, "charges": [event ids]}``."""
    if isinstance(store, MemoryIdStore):
        store = store.state
    elif isinstance(store, (SqliteIdStore, SqlitePositionStore)):
        store = store.db
    if isinstance(store, sqlite3.Connection):
        balances = dict(store.execute("SELECT customer, charged FROM balances ORDER BY customer"))
        charges = [r[0] for r in store.execute("SELECT event_id FROM charges ORDER BY n")]
        return {"balances": balances, "charges": charges}
    return {
        "balances": dict(sorted(store.get("balances", {}).items())),
        "charges": list(store.get("charges", [])),
    }


# -- stores ------------------------------------------------------------------

Check = Callable[[str], None]


def _no_crash(point: str) -> None:
    return None


def _check_retention(retention_ms: Any) -> float | None:
    if retention_ms is None:
        return None
    if isinstance(retention_ms, bool) or not isinstance(retention_ms, (int, float)):
        raise ValueError(f"retention_ms must be a number of ms >= 0 or None, got {retention_ms!r}")
    if not retention_ms >= 0:
        raise ValueError(f"retention_ms must be a number of ms >= 0 or None, got {retention_ms!r}")
    return float(retention_ms)


def _open_db(db: sqlite3.Connection | str | None, schema: str | None) -> sqlite3.Connection:
    if db is None:
        db = ":memory:"
    if isinstance(db, str):
        db = connect(db)
    check_connection(db)
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
        check: Check = _no_crash,
    ) -> bool:
        """Apply ``effect`` for ``delivery`` once; ``False`` if it was a duplicate."""
        raise NotImplementedError

    def contains(self, consumer: str, delivery: Delivery) -> bool:
        """Whether ``consumer`` has already processed ``delivery``."""
        raise NotImplementedError

    def apply_naive(self, effect: Effect, event: Event, check: Check = _no_crash) -> None:
        """Run ``effect`` in a transaction of its own, remembering nothing."""
        raise NotImplementedError

    def cleanup(self, now: float) -> int:
        """Forget processed ids older than ``retention_ms``; return how many."""
        return 0


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
        self.retention_ms = _check_retention(retention_ms)
        self.db = _open_db(db, schema)
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
        check: Check = _no_crash,
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

    def apply_naive(self, effect: Effect, event: Event, check: Check = _no_crash) -> None:
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
        self.db = _open_db(db, schema)
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
        check: Check = _no_crash,
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

    def apply_naive(self, effect: Effect, event: Event, check: Check = _no_crash) -> None:
        check("before-effect")
        with transaction(self.db):
            effect(self.db, event)
        check("after-effect")
        check("after-commit")

    def positions(self) -> dict[tuple[str, str, int], int]:
        """Every tracking row: ``{(consumer, topic, partition): position}``."""
        cur = self.db.execute("SELECT consumer, topic, partition, position FROM tracking")
        return {(c, t, p): pos for c, t, p, pos in cur}

    def __repr__(self) -> str:
        if peek(self.db, "SELECT 1") == "closed":
            return "<SqlitePositionStore db=closed>"
        return f"<SqlitePositionStore positions={self.positions()}>"


class MemoryIdStore(ProcessedStore):
    """Processed ids and a state dict, in memory: for small examples.

    ``state`` (a dict, default empty) is what the effect changes in place:
    ``effect(state, event)``.  "Atomic" here means: if the effect or a crash
    interrupts, the state and the ids are put back as they were.
    """

    def __init__(
        self, state: dict[str, Any] | None = None, *, retention_ms: float | None = None
    ) -> None:
        if state is not None and not isinstance(state, dict):
            raise TypeError(f"state must be a dict or None, got {type(state).__name__}: {state!r}")
        self.retention_ms = _check_retention(retention_ms)
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
        check: Check = _no_crash,
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

    def apply_naive(self, effect: Effect, event: Event, check: Check = _no_crash) -> None:
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


# -- consumers ---------------------------------------------------------------


class _EffectConsumer(Consumer):
    """A consumer whose handling is ``effect`` on a store, with crash points."""

    def __init__(
        self,
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        effect: Effect,
        store: ProcessedStore,
        *,
        crash_at: CrashSpec = None,
        restart_after: float = 50.0,
        **kwargs: Any,
    ) -> None:
        if not callable(effect):
            raise TypeError(
                f"effect must be callable as effect(conn_or_state, event), got {effect!r}"
            )
        if not isinstance(store, ProcessedStore):
            raise TypeError(
                "store must be a SqliteIdStore, SqlitePositionStore or MemoryIdStore,"
                f" got {type(store).__name__}: {store!r}"
            )
        if (
            isinstance(restart_after, bool)
            or not isinstance(restart_after, (int, float))
            or not restart_after > 0
        ):
            raise ValueError(f"restart_after must be a number of ms > 0, got {restart_after!r}")
        if "handler" in kwargs:
            raise TypeError("pass effect=..., not handler=...: the effect is the handler here")
        self.effect = effect
        self.store = store
        self.crashes = CrashPlan.coerce(crash_at, IDEMPOTENT_CRASH_POINTS)
        self.restart_after = float(restart_after)
        self.applied = 0
        self.skipped = 0
        super().__init__(broker, name, topics, None, **kwargs)

    def _crashed_at(self, exc: SimulatedCrash, delivery: Delivery) -> None:
        # The handler dies at the crash point (the core traces it as failed);
        # then the whole consumer goes down and comes back: redelivery follows.
        sim = self.sim
        sim.trace.record(
            sim.now,
            "crash-point",
            self.name,
            delivery.event.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            exc.point,
        )
        sim.schedule(0, self._go_down, priority=URGENT)

    def _go_down(self) -> None:
        if self.alive:
            crash(self.sim, self, at=self.sim.now, restart_after=self.restart_after)


class IdempotentConsumer(_EffectConsumer):
    """A consumer that applies each event's effect once, however often it is delivered.

    Parameters
    ----------
    broker, name, topics:
        As for :class:`~evtlib.consumer.Consumer`.
    effect:
        ``effect(conn_or_state, event)``: the handler's change (see :data:`Effect`).
    store:
        A :class:`SqliteIdStore`, :class:`SqlitePositionStore` or :class:`MemoryIdStore`.
    atomic:
        ``True`` (the pattern): the processed row and the effect in one
        transaction.  ``False``: two transactions, to show what goes wrong.
    crash_at:
        Crash points (:data:`IDEMPOTENT_CRASH_POINTS`) and visits to crash at.
    restart_after:
        How long (ms) the consumer stays down after a crash point fires.
    **kwargs:
        Passed to :class:`~evtlib.consumer.Consumer` (``service_time``,
        ``ack_timeout``, ``group``, ...).

    Counts: :attr:`applied` (effects run) and :attr:`skipped` (duplicates).
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        effect: Effect,
        store: ProcessedStore,
        *,
        atomic: bool = True,
        crash_at: CrashSpec = None,
        restart_after: float = 50.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(atomic, bool):
            raise TypeError(f"atomic must be True or False, got {atomic!r}")
        self.atomic = atomic
        super().__init__(
            broker,
            name,
            topics,
            effect,
            store,
            crash_at=crash_at,
            restart_after=restart_after,
            **kwargs,
        )

    def process(self, delivery: Delivery) -> None:
        """Apply the effect unless the store has seen this delivery (then: skip, traced)."""
        sim = self.sim
        forgotten = self.store.cleanup(sim.now)
        if forgotten:
            sim.trace.record(
                sim.now,
                "processed-ids-expired",
                self.name,
                detail=f"{forgotten} ids older than {self.store.retention_ms:g} ms forgotten",
            )
        try:
            done = self.store.apply(
                self.group.name,
                delivery,
                self.effect,
                now=sim.now,
                atomic=self.atomic,
                check=self.crashes.check,
            )
        except SimulatedCrash as exc:
            self._crashed_at(exc, delivery)
            raise
        if done:
            self.applied += 1
        else:
            self.skipped += 1
            sim.trace.record(
                sim.now,
                "skipped-duplicate",
                self.name,
                delivery.event.id,
                delivery.topic,
                delivery.partition,
                delivery.offset,
                f"already processed by group {self.group.name}",
            )

    def __repr__(self) -> str:
        state = "running" if self.alive else "down"
        return (
            f"<IdempotentConsumer {self.name} {type(self.store).__name__}"
            f" atomic={self.atomic} {state} applied={self.applied} skipped={self.skipped}>"
        )


class NaiveConsumer(_EffectConsumer):
    """The naive twin: applies the effect on every delivery, duplicates included.

    Same parameters as :class:`IdempotentConsumer` (without ``atomic``); the
    store only provides the database or state the effect writes to.
    """

    def process(self, delivery: Delivery) -> None:
        """Apply the effect, whatever happened before."""
        try:
            self.store.apply_naive(self.effect, delivery.event, self.crashes.check)
        except SimulatedCrash as exc:
            self._crashed_at(exc, delivery)
            raise
        self.applied += 1

    def __repr__(self) -> str:
        state = "running" if self.alive else "down"
        return f"<NaiveConsumer {self.name} {state} applied={self.applied}>"


# -- demonstrations ----------------------------------------------------------


@dataclass(frozen=True)
class RetentionDemo:
    """What :func:`retention_demo` found: was the late duplicate applied again?"""

    retention_ms: float
    redelivered_after_ms: float
    applied: int
    skipped: int
    charged: float
    expected: float
    trace: tuple[str, ...]

    @property
    def duplicate_applied(self) -> bool:
        return self.charged != self.expected


def retention_demo(
    retention_ms: float, redelivered_after_ms: float, seed: int = 0
) -> RetentionDemo:
    """One order, charged by an idempotent consumer, then delivered again later.

    The same ``OrderPlaced`` event is published again ``redelivered_after_ms``
    ms after the first time (as an outbox relay does after a crash, or a
    redrive from a dead-letter queue).  The store forgets ids older than
    ``retention_ms``: with a retention shorter than the redelivery window
    the id is gone and the customer is charged twice.
    """
    retention = _check_retention(retention_ms)
    if retention is None:
        raise ValueError("retention_ms must be a number of ms >= 0, got None")
    if (
        isinstance(redelivered_after_ms, bool)
        or not isinstance(redelivered_after_ms, (int, float))
        or not redelivered_after_ms > 0
    ):
        raise ValueError(
            f"redelivered_after_ms must be a number of ms > 0, got {redelivered_after_ms!r}"
        )
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("orders")
    store = SqliteIdStore(schema=LEDGER_SCHEMA, retention_ms=retention)
    billing = IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    event = Event(
        id=sim.next_id("evt"),
        type="OrderPlaced",
        time=0.0,
        source="orders",
        key="order-000001",
        data={"order_id": "order-000001", "customer": "ada", "total": 30},
    )
    broker.publish("orders", event, actor="relay")
    # The relay publishes the same event again (say, after a crash before marking it sent).
    sim.schedule(redelivered_after_ms, partial(broker.publish, actor="relay"), "orders", event)
    sim.run()
    charged = ledger(store)["balances"].get("ada", 0)
    return RetentionDemo(
        retention_ms=retention,
        redelivered_after_ms=float(redelivered_after_ms),
        applied=billing.applied,
        skipped=billing.skipped,
        charged=charged,
        expected=30,
        trace=tuple(r.sentence() for r in sim.trace),
    )


#: The variants :func:`idempotent_sweep` compares.
SWEEP_TWINS = ("naive", "id-set", "position", "memory", "id-set non-atomic")


def _sweep_store(twin: str) -> ProcessedStore:
    if twin == "memory":
        return MemoryIdStore()
    if twin == "position":
        return SqlitePositionStore(schema=LEDGER_SCHEMA)
    return SqliteIdStore(schema=LEDGER_SCHEMA)


def _schedule_run(seed: int, twin: str, n_events: int = 6) -> dict[str, Any]:
    """One random fault schedule for one twin: what it charged vs. what it should have."""
    sim = Simulation(seed, trace=False)
    rng = sim.rng_for("fault-schedule")
    republish = rng.random() < 0.5
    faults = NetworkFaults(duplicate=rng.choice((0.0, 0.2)), drop=rng.choice((0.0, 0.1)))
    broker = Broker(sim, latency=Uniform(1, 5), faults=faults)
    broker.create_topic("orders", partitions=2)
    plan = {
        p: [v for v in range(1, n_events + 1) if rng.random() < 0.15]
        for p in IDEMPOTENT_CRASH_POINTS
    }
    store = _sweep_store(twin)
    kwargs: dict[str, Any] = {"service_time": Uniform(1, 10), "crash_at": plan}
    if rng.random() < 0.3:
        kwargs["ack_timeout"] = 9.0
    if twin == "naive":
        consumer: _EffectConsumer = NaiveConsumer(
            broker, "billing", "orders", charge_customer, store, **kwargs
        )
    else:
        consumer = IdempotentConsumer(
            broker,
            "billing",
            "orders",
            charge_customer,
            store,
            atomic=twin != "id-set non-atomic",
            **kwargs,
        )
    events = []
    t = 0.0
    for i in range(1, n_events + 1):
        t += rng.choice((5, 20, 60))
        e = Event(
            id=f"evt-{i:06d}",
            type="OrderPlaced",
            time=t,
            source="orders",
            key=f"order-{i:06d}",
            data={"order_id": f"order-{i:06d}", "customer": f"c{i % 3}", "total": 10 * i},
        )
        events.append(e)
        sim.schedule_at(t, broker.publish, "orders", e)
        if republish and rng.random() < 0.4:
            sim.schedule_at(t + rng.choice((1, 30, 200)), broker.publish, "orders", e)
    if rng.random() < 0.5:
        crash(sim, consumer, at=rng.uniform(0, t), restart_after=rng.choice((10, 100)))
    sim.run(until=t + 5000)
    state = ledger(store)
    expected: dict[str, float] = {}
    for e in events:
        expected[e.data["customer"]] = expected.get(e.data["customer"], 0) + e.data["total"]
    got_charges = sorted(state["charges"])
    want = sorted(e.id for e in events)
    extra = len(got_charges) - len(set(got_charges)) + len(set(got_charges) - set(want))
    missing = len(set(want) - set(got_charges))
    return {
        "ok": state["balances"] == expected and got_charges == want,
        "extra_charges": extra,
        "missing_charges": missing,
        "republish": republish,
        "finished": consumer.group.lag() == 0,
    }


def idempotent_sweep(n_schedules: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Tally every consumer variant over ``n_schedules`` random fault schedules.

    Each schedule (seeds ``seed..``) mixes network duplicates and drops, ack
    timeouts, crash points, a consumer crash and, on about half of them,
    the same event published twice (as an outbox relay does).  Returns
    ``{"schedules": n, "<variant>": {"failed_schedules",
    "failed_with_republish", "extra_charges", "missing_charges",
    "unfinished"}, ...}``.
    """
    if isinstance(n_schedules, bool) or not isinstance(n_schedules, int) or n_schedules < 1:
        raise ValueError(f"n_schedules must be an int >= 1, got {n_schedules!r}")
    keys = (
        "failed_schedules",
        "failed_with_republish",
        "extra_charges",
        "missing_charges",
        "unfinished",
    )
    tallies: dict[str, Any] = {"schedules": n_schedules}
    for twin in SWEEP_TWINS:
        t = tallies[twin] = dict.fromkeys(keys, 0)
        for i in range(n_schedules):
            r = _schedule_run(seed + i, twin)
            t["failed_schedules"] += not r["ok"]
            t["failed_with_republish"] += (not r["ok"]) and r["republish"]
            t["extra_charges"] += r["extra_charges"]
            t["missing_charges"] += r["missing_charges"]
            t["unfinished"] += not r["finished"]
    return tallies

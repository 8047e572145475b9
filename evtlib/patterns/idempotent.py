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

The stores live in :mod:`evtlib.patterns.idempotent_stores`; the retention
demonstration and the sweep in :mod:`evtlib.patterns.idempotent_scenarios`.

Crash points, in the order the consumer reaches them::

    BEGIN; INSERT processed / SELECT position   <- "before-effect"
    effect(conn, event)                         <- "after-effect"
    (UPSERT position); COMMIT                   <- "after-commit" (offset not committed yet)

A crash raises :class:`~evtlib.patterns.crashes.SimulatedCrash` in the
handler (traced as ``failed``), then the consumer crashes and restarts
``restart_after`` ms later; the broker redelivers from the committed offset.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from .. import checks
from ..broker import Broker
from ..consumer import Consumer, Delivery
from ..events import Event
from ..faults import crash
from ..sim import URGENT
from .crashes import CrashPlan, CrashSpec, SimulatedCrash
from .idempotent_stores import (
    Effect,
    MemoryIdStore,
    ProcessedStore,
    SqliteIdStore,
    SqlitePositionStore,
)
from .sqlite import ClosedDatabaseError, check_int64

__all__ = [
    "IDEMPOTENT_CRASH_POINTS",
    "LEDGER_SCHEMA",
    "IdempotentConsumer",
    "NaiveConsumer",
    "charge_customer",
    "ledger",
]

#: Where a scenario may crash an idempotent (or naive) consumer.
IDEMPOTENT_CRASH_POINTS = ("before-effect", "after-effect", "after-commit")

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
        check_int64("the event's data['total']", amount)
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
    source: sqlite3.Connection | Mapping[str, Any]
    if isinstance(store, MemoryIdStore):
        source = store.state
    elif isinstance(store, (SqliteIdStore, SqlitePositionStore)):
        source = store.db
    elif isinstance(store, ProcessedStore):
        raise TypeError(
            "store must be a SqliteIdStore, SqlitePositionStore or MemoryIdStore,"
            f" a sqlite3 connection or a state dict, got {store!r}"
        )
    else:
        source = store
    if isinstance(source, sqlite3.Connection):
        balances = dict(source.execute("SELECT customer, charged FROM balances ORDER BY customer"))
        charges = [r[0] for r in source.execute("SELECT event_id FROM charges ORDER BY n")]
        return {"balances": balances, "charges": charges}
    return {
        "balances": dict(sorted(source.get("balances", {}).items())),
        "charges": list(source.get("charges", [])),
    }


class _EffectConsumer(Consumer):
    """A consumer whose handling is ``effect`` on a store, with crash points."""

    #: How many times a delivery is retried while the store's connection is
    #: closed before the consumer gives up (then the run stops with an error).
    CLOSED_STORE_RETRIES = 3

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
        self._closed_failures = 0
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

    def crash(self) -> None:
        """Die now, and lose what the process held in memory (an in-memory id-set)."""
        super().crash()
        forgotten = self.store.crashed()
        if forgotten:
            sim = self.sim
            sim.trace.record(
                sim.now,
                "processed-ids-lost",
                self.name,
                detail=f"{forgotten} processed ids were in its memory",
            )

    def retry_after(self, delivery: Delivery, error: BaseException) -> float:
        """Retry as a consumer does, unless the store's connection is closed for good.

        A closed SQLite connection never reopens, so retrying cannot help: after
        :attr:`CLOSED_STORE_RETRIES` retries the consumer stops and the run
        stops with :class:`~evtlib.patterns.sqlite.ClosedDatabaseError`.
        """
        if self.store.closed:
            self._closed_failures += 1
            if self._closed_failures > self.CLOSED_STORE_RETRIES:
                self.sim.schedule(0, self._give_up, delivery, error, priority=URGENT)
        else:
            self._closed_failures = 0
        return super().retry_after(delivery, error)

    def _give_up(self, delivery: Delivery, error: BaseException) -> None:
        if self.alive:
            self.stop()
        raise ClosedDatabaseError(
            f"consumer {self.name!r}: its store's SQLite connection was closed during the run;"
            f" gave up after {self._closed_failures} attempts at {delivery.event.id}"
            f" ({error}). A closed connection never reopens: give the consumer a new store."
        )


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
        checks.boolean("atomic", atomic)
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

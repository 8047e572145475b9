"""Transactional outbox: the business change and its event, in one transaction.

The problem.  A service that changes its database *and* publishes an event
makes two writes to two systems.  No transaction spans both, so a crash
between them leaves them disagreeing: the order is saved but nobody hears
of it (a *lost* event), or everybody hears of an order that was never saved
(an *invented* event).  :class:`DualWriteService` is that naive twin, in
both orders (``"db-first"`` and ``"publish-first"``).

The pattern.  :class:`OrderService` writes the order *and* an outbox row
holding the event (as JSON, with Debezium's columns ``id, aggregatetype,
aggregateid, type, payload``) in ONE local SQLite transaction: both or
neither.  An :class:`OutboxRelay` (a polling publisher) then reads unsent rows
in the order of the outbox sequence (``seq``), publishes each, and marks it
sent.  That order is commit order only with one writer (as here) or a
sequence handed out in commit order; with concurrent writers a transaction
can take a lower ``seq`` and commit later.  If the relay dies after
publishing a row but before marking it, it publishes the row again when it
restarts: the outbox turns "maybe lost" into "at least once", and the
duplicates are real (traced as ``duplicate-published``).  Consumers must be
idempotent: see :mod:`evtlib.patterns.idempotent`.  The scenarios and the
sweep that compare the outbox with its naive twin live in
:mod:`evtlib.patterns.outbox_scenarios`.

Lifecycle of one order, with the crash points a scenario may request::

    BEGIN; INSERT order; INSERT outbox row   <- "before-commit" (rolled back)
    COMMIT                                   <- "after-commit"
    ... relay polls: publish                 <- "relay-after-publish" (duplicate later)
    UPDATE outbox SET sent_at                <- "relay-after-mark" (harmless)

Two details real relays get wrong.  Rows must be *inserted* in the order
they *commit*, or a polling relay that remembers "the last seq I sent" skips
a row that commits late (a known bug class in event stores); here one writer
and ``AUTOINCREMENT`` keep the two orders equal, and the relay asks for every
row whose ``sent_at`` is NULL rather than "everything after seq N".  And the
outbox row itself is never changed except for ``sent_at``: a log-tailing
relay (Debezium) does not even do that, it remembers its position in the
database log instead, and deletes nothing; a polling relay must write its
progress somewhere, and :meth:`OutboxRelay.cleanup` removes old sent rows.

Quick start::

    sim = Simulation(seed=1)
    broker = Broker(sim); broker.create_topic("orders")
    service = OrderService(sim)
    relay = OutboxRelay(sim, service.db, broker, "orders", poll_interval=100, until=1000)
    service.place_order("ada", 30)
    sim.run()

Everything is deterministic: ids come from the simulation, timestamps
(``created_at``, ``sent_at``) are simulated milliseconds, SQL is
parameterised, and events are stored as JSON, never pickled.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

from .. import checks
from ..broker import Broker
from ..errors import BufferFullError
from ..events import Event
from ..protocols import BrokerBackend
from ..sim import URGENT, Scheduler, Timer
from .crashes import CrashPlan, CrashSpec, SimulatedCrash
from .sqlite import (
    ClosedDatabaseError,
    check_amount,
    check_connection,
    open_db,
    peek,
    transaction,
)

__all__ = [
    "OUTBOX_CRASH_POINTS",
    "DUAL_WRITE_ORDERS",
    "TWINS",
    "SimulatedCrash",
    "create_outbox_schema",
    "OrderService",
    "DualWriteService",
    "OutboxRelay",
]

#: Where a scenario may crash the outbox's processes (service and relay).
OUTBOX_CRASH_POINTS = ("before-commit", "after-commit", "relay-after-publish", "relay-after-mark")
#: The naive twin's two orders of writing.
DUAL_WRITE_ORDERS = ("db-first", "publish-first")
#: The three variants the scenarios compare.
TWINS = ("outbox", "dual-write db-first", "dual-write publish-first")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id       TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    total    NUMERIC NOT NULL,
    status   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- insert order (= commit order with one writer)
    id            TEXT NOT NULL UNIQUE,               -- the event id
    aggregatetype TEXT NOT NULL,
    aggregateid   TEXT NOT NULL,                      -- becomes the message key
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL CHECK (json_valid(payload)),
    created_at    REAL NOT NULL,                      -- simulated ms
    sent_at       REAL                                -- NULL until the relay published it
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""


def create_outbox_schema(db: sqlite3.Connection) -> sqlite3.Connection:
    """Create the ``orders`` and ``outbox`` tables (if missing) in ``db``; return ``db``."""
    check_connection(db)
    have = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('orders', 'outbox')"
    ).fetchone()[0]
    if have < 2:
        db.executescript(_SCHEMA)
    return db


def _open(db: sqlite3.Connection | str | None) -> sqlite3.Connection:
    return create_outbox_schema(open_db(db))


def _check_order(customer: Any, total: Any) -> None:
    if not isinstance(customer, str) or not customer:
        raise TypeError(f"customer must be a non-empty str, got {customer!r}")
    check_amount("total", total)


class _OrderWriter:
    """What both twins share: a database, a name in the trace, crash points."""

    kind = "service"

    def __init__(
        self,
        sim: Scheduler,
        db: sqlite3.Connection | str | None = None,
        *,
        name: str = "order-service",
        crash_at: CrashSpec = None,
    ) -> None:
        checks.instance("sim", sim, Scheduler, "Simulation or another runner")
        crashes = CrashPlan.coerce(crash_at, OUTBOX_CRASH_POINTS)
        self.sim = sim
        self.db = _open(db)
        # Everything is checked: only now take the name (a refused call leaves it free).
        self.name = sim.register_name(name, self.kind)
        self.crashes = crashes
        self.placed = 0
        self.committed = 0
        self.crashed = 0

    def _new_event(self, customer: str, total: float) -> Event:
        sim = self.sim
        order_id = sim.next_id("order")
        return Event(
            id=sim.next_id("evt"),
            type="OrderPlaced",
            time=sim.now,
            source=self.name,
            key=order_id,
            data={"order_id": order_id, "customer": customer, "total": total},
        )

    def _insert_order(self, event: Event) -> None:
        d = event.data
        self.db.execute(
            "INSERT INTO orders (id, customer, total, status) VALUES (?, ?, ?, 'placed')",
            (d["order_id"], d["customer"], d["total"]),
        )

    def _check(self, point: str) -> None:
        self.crashes.check(point)

    def _died(self, crash: SimulatedCrash, event: Event) -> None:
        # The process is gone; it is stateless, so it is back at once.
        sim = self.sim
        self.crashed += 1
        sim.trace.record(sim.now, "crashed", self.name, event.id, detail=crash.point)
        sim.trace.record(sim.now, "restarted", self.name)

    def orders(self) -> list[dict[str, Any]]:
        """The rows of the ``orders`` table, as dicts."""
        cur = self.db.execute("SELECT id, customer, total, status FROM orders ORDER BY id")
        return [dict(zip(("id", "customer", "total", "status"), row, strict=True)) for row in cur]

    def _ensure_open(self) -> None:
        try:
            self.db.execute("SELECT 1")
        except sqlite3.ProgrammingError as exc:
            raise ClosedDatabaseError(
                f"{self.name}: db must be an open sqlite3 connection, got a closed one ({exc})"
            ) from None


class OrderService(_OrderWriter):
    """The pattern: write the order and its outbox row in ONE transaction.

    Parameters
    ----------
    sim:
        The simulation (clock, ids, trace).
    db:
        A ``sqlite3.Connection`` (open it with :func:`~evtlib.patterns.connect`),
        a file path, or None for a fresh in-memory database.  The ``orders``
        and ``outbox`` tables are created if missing.
    name:
        The service's name: the events' ``source`` and the actor in the trace.
    crash_at:
        Crash points to fire (see :class:`~evtlib.patterns.crashes.CrashPlan`);
        the service visits ``"before-commit"`` and ``"after-commit"``.

    :meth:`place_order` never talks to the broker: publishing is the relay's job.
    """

    def place_order(self, customer: str, total: float) -> Event:
        """Save a new order and its ``OrderPlaced`` event atomically; return the event.

        A crash at ``"before-commit"`` rolls both rows back and raises
        :class:`SimulatedCrash`; at ``"after-commit"`` both rows are saved
        (the relay will publish the event) but the caller still sees the crash.
        """
        _check_order(customer, total)
        self._ensure_open()
        event = self._new_event(customer, total)
        self.placed += 1
        sim = self.sim
        try:
            with transaction(self.db):
                self._insert_order(event)
                self.db.execute(
                    "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, created_at)"
                    " VALUES (?, 'Order', ?, ?, ?, ?)",
                    (event.id, event.key, event.type, event.to_json(), sim.now),
                )
                self._check("before-commit")
            self.committed += 1
            sim.trace.record(sim.now, "outbox-written", self.name, event.id, detail=event.key)
            self._check("after-commit")
        except SimulatedCrash as crash:
            self._died(crash, event)
            raise
        return event

    def outbox(self) -> list[dict[str, Any]]:
        """The rows of the ``outbox`` table in ``seq`` order, as dicts (payload as JSON text)."""
        cols = (
            "seq",
            "id",
            "aggregatetype",
            "aggregateid",
            "type",
            "payload",
            "created_at",
            "sent_at",
        )
        cur = self.db.execute(
            "SELECT seq, id, aggregatetype, aggregateid, type, payload, created_at, sent_at"
            " FROM outbox ORDER BY seq"
        )
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def __repr__(self) -> str:
        unsent = peek(self.db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return (
            f"<OrderService {self.name} placed={self.placed} committed={self.committed}"
            f" crashed={self.crashed} unsent={unsent}>"
        )


class DualWriteService(_OrderWriter):
    """The naive twin: write the database, publish to the broker, two separate writes.

    Parameters are those of :class:`OrderService`, plus ``broker`` and
    ``topic`` to publish to, and ``order``: ``"db-first"`` (commit, then
    publish: a crash in between *loses* the event) or ``"publish-first"``
    (publish, then write: a crash before the commit *invents* an event for an
    order that does not exist).  It visits ``"before-commit"`` and
    ``"after-commit"``; the relay's points are never reached.
    """

    def __init__(
        self,
        sim: Scheduler,
        broker: Broker,
        topic: str,
        db: sqlite3.Connection | str | None = None,
        *,
        order: str = "db-first",
        name: str = "order-service",
        crash_at: CrashSpec = None,
    ) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        broker.topic(topic)  # a KeyError naming the known topics
        if order not in DUAL_WRITE_ORDERS:
            raise ValueError(f"order must be one of {DUAL_WRITE_ORDERS}, got {order!r}")
        super().__init__(sim, db, name=name, crash_at=crash_at)
        self.broker = broker
        self.topic = topic
        self.order = order

    def place_order(self, customer: str, total: float) -> Event:
        """Save the order and publish its event, one after the other; return the event."""
        _check_order(customer, total)
        self._ensure_open()
        event = self._new_event(customer, total)
        self.placed += 1
        sim = self.sim
        try:
            if self.order == "publish-first":
                self.broker.publish(self.topic, event, actor=self.name)
            with transaction(self.db):
                self._insert_order(event)
                self._check("before-commit")
            self.committed += 1
            sim.trace.record(sim.now, "db-written", self.name, event.id, detail=event.key)
            self._check("after-commit")
            if self.order == "db-first":
                self.broker.publish(self.topic, event, actor=self.name)
        except SimulatedCrash as crash:
            self._died(crash, event)
            raise
        return event

    def __repr__(self) -> str:
        return (
            f"<DualWriteService {self.name} order={self.order} placed={self.placed}"
            f" committed={self.committed} crashed={self.crashed}>"
        )


class OutboxRelay:
    """A polling publisher: unsent outbox rows -> the broker, in ``seq`` order.

    Parameters
    ----------
    sim, db, broker, topic:
        The simulation, the database holding the ``outbox`` table (a
        connection or a path), and where to publish.
    poll_interval:
        Milliseconds between polls (> 0).
    batch_size:
        At most this many rows per poll (>= 1).
    name:
        The relay's name in the trace (the ``actor`` of its publishes).
    crash_at:
        Crash points to fire; the relay visits ``"relay-after-publish"`` and
        ``"relay-after-mark"`` once per row.
    restart_after:
        How long (ms) a crashed relay stays down (default: ``poll_interval``).
    retention_ms:
        If given, every poll also deletes sent rows older than this (see :meth:`cleanup`).
    until:
        Stop polling after this time (ms), so ``sim.run()`` can end.
    start:
        Start polling now (default) or wait for :meth:`start`.

    Each poll reads ``SELECT ... WHERE sent_at IS NULL ORDER BY seq``,
    publishes each row's event (key = the aggregate id) and then marks it
    with ``sent_at``.  The relay keeps nothing in memory that it needs: after
    a crash it resumes from the table, so a row published but not yet marked
    is published again.  :attr:`publish_counts` is the *observer's* view (how
    often each event id went out), kept to make those duplicates visible; the
    relay never uses it to decide anything.
    """

    def __init__(
        self,
        sim: Scheduler,
        db: sqlite3.Connection | str | None,
        broker: Broker,
        topic: str,
        *,
        poll_interval: float = 100.0,
        batch_size: int = 10,
        name: str = "relay",
        crash_at: CrashSpec = None,
        restart_after: float | None = None,
        retention_ms: float | None = None,
        until: float | None = None,
        start: bool = True,
    ) -> None:
        checks.instance("sim", sim, Scheduler, "Simulation or another runner")
        checks.instance("broker", broker, BrokerBackend, "Broker")
        broker.topic(topic)
        checks.boolean("start", start)
        crashes = CrashPlan.coerce(crash_at, OUTBOX_CRASH_POINTS)
        if not _positive(poll_interval):
            raise ValueError(f"poll_interval must be a number of ms > 0, got {poll_interval!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if restart_after is not None and not _positive(restart_after):
            raise ValueError(
                f"restart_after must be a number of ms > 0 or None, got {restart_after!r}"
            )
        if retention_ms is not None:
            _check_retention(retention_ms)
        if until is not None and not (_number(until) and until >= sim.now):
            raise ValueError(f"until must be a time >= now ({sim.now:g} ms) or None, got {until!r}")
        self.sim = sim
        self.db = _open(db)
        self.broker = broker
        self.topic = topic
        self.poll_interval = float(poll_interval)
        self.batch_size = batch_size
        self.name = sim.register_name(name, "relay")  # everything is checked by now
        self.crashes = crashes
        self.restart_after = self.poll_interval if restart_after is None else float(restart_after)
        self.retention_ms = retention_ms
        self.until = until
        self.alive = True
        self.running = False
        self.polls = 0
        #: Polls that found no unsent row: a query for nothing.
        self.empty_polls = 0
        self.published = 0
        self.duplicates = 0
        self.cleaned = 0
        self.crashed = 0
        self.publish_counts: Counter[str] = Counter()
        self._timer: Timer | None = None
        if start:
            self.start()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start polling (the first poll runs now)."""
        if self.running:
            raise ValueError(f"relay {self.name!r} is already running")
        self.running = True
        self._schedule(0.0)

    def stop(self) -> None:
        """Stop polling; unsent rows stay in the table for the next relay."""
        self.running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, delay: float) -> None:
        if self.until is not None and self.sim.now + delay > self.until:
            self.running = False
            self._timer = None
            return
        self._timer = self.sim.timer(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not (self.running and self.alive):
            return
        self.poll()
        if self.running and self.alive:
            self._schedule(self.poll_interval)

    def _crash(self, crash: SimulatedCrash, event_id: str) -> None:
        sim = self.sim
        self.alive = False
        self.crashed += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        sim.trace.record(sim.now, "crashed", self.name, event_id, self.topic, detail=crash.point)
        sim.schedule(self.restart_after, self._restart, priority=URGENT)

    def _restart(self) -> None:
        sim = self.sim
        self.alive = True
        sim.trace.record(sim.now, "restarted", self.name, detail="resuming from the outbox table")
        if self.running:
            self._schedule(0.0)

    # -- the work ------------------------------------------------------------

    def poll(self) -> int:
        """Publish up to ``batch_size`` unsent rows, oldest first; return how many went out.

        Also callable by hand (a "step" button).  A full buffer stops the
        batch: the row stays unsent and is tried again next poll.
        """
        if not self.alive:
            raise ValueError(f"relay {self.name!r} is down (crashed); it restarts on its own")
        sim = self.sim
        try:
            rows = self.db.execute(
                "SELECT seq, id, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (self.batch_size,),
            ).fetchall()
        except sqlite3.ProgrammingError as exc:
            raise ClosedDatabaseError(
                f"relay {self.name!r}: db must be an open sqlite3 connection, got a closed one ({exc})"
            ) from None
        self.polls += 1
        if not rows:
            self.empty_polls += 1
        sent = 0
        for seq, event_id, payload in rows:
            event = Event.from_json(payload)
            try:
                self.broker.publish(self.topic, event, actor=self.name)
            except BufferFullError as exc:
                sim.trace.record(
                    sim.now, "relay-publish-failed", self.name, event_id, detail=str(exc)
                )
                break
            sent += 1
            self.published += 1
            self.publish_counts[event_id] += 1
            if self.publish_counts[event_id] > 1:
                self.duplicates += 1
                sim.trace.record(
                    sim.now,
                    "duplicate-published",
                    self.name,
                    event_id,
                    self.topic,
                    detail=f"outbox seq {seq} published {self.publish_counts[event_id]} times:"
                    " it was not marked sent before a crash",
                )
            try:
                self.crashes.check("relay-after-publish")
                with transaction(self.db):
                    self.db.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (sim.now, seq))
                sim.trace.record(sim.now, "marked-sent", self.name, event_id, detail=f"seq {seq}")
                self.crashes.check("relay-after-mark")
            except SimulatedCrash as crash:
                self._crash(crash, event_id)
                return sent
        if self.retention_ms is not None:
            self.cleanup(self.retention_ms)
        return sent

    def cleanup(self, retention_ms: float) -> int:
        """Delete sent rows whose ``sent_at`` is more than ``retention_ms`` ago; return how many.

        Unsent rows are never deleted.  The count adds up in :attr:`cleaned`.
        """
        _check_retention(retention_ms)
        sim = self.sim
        with transaction(self.db):
            n = self.db.execute(
                "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                (sim.now - retention_ms,),
            ).rowcount
        if n:
            self.cleaned += n
            sim.trace.record(sim.now, "outbox-cleaned", self.name, detail=f"{n} sent rows deleted")
        return n

    def pending(self) -> int:
        """How many rows wait to be published."""
        return self.db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    def __repr__(self) -> str:
        state = "down" if not self.alive else ("polling" if self.running else "stopped")
        return (
            f"<OutboxRelay {self.name} -> {self.topic} {state} every {self.poll_interval:g}ms"
            f" published={self.published} duplicates={self.duplicates}"
            f" pending={peek(self.db, 'SELECT count(*) FROM outbox WHERE sent_at IS NULL')}"
            f" cleaned={self.cleaned}>"
        )


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float))


def _positive(x: Any) -> bool:
    return _number(x) and x > 0 and x != float("inf")


def _check_retention(retention_ms: Any) -> None:
    if not _number(retention_ms) or not retention_ms >= 0:
        raise ValueError(f"retention_ms must be a number of ms >= 0, got {retention_ms!r}")

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
in commit order, publishes each, and marks it sent.  If the relay dies after
publishing a row but before marking it, it publishes the row again when it
restarts: the outbox turns "maybe lost" into "at least once", and the
duplicates are real (traced as ``duplicate-published``).  Consumers must be
idempotent: see :mod:`evtlib.patterns.idempotent`.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..broker import Broker
from ..errors import BufferFullError
from ..events import Event
from ..sim import URGENT, Scheduler, Simulation, Timer
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
    "OUTBOX_CRASH_POINTS",
    "DUAL_WRITE_ORDERS",
    "TWINS",
    "SimulatedCrash",
    "create_outbox_schema",
    "OrderService",
    "DualWriteService",
    "OutboxRelay",
    "Outcome",
    "run_outbox_scenario",
    "crash_sweep",
    "outbox_sweep",
    "sweep",
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
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- insert order = commit order
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
    if db is None:
        db = ":memory:"
    if isinstance(db, str):
        db = connect(db)
    return create_outbox_schema(check_connection(db))


def _check_order(customer: Any, total: Any) -> None:
    if not isinstance(customer, str) or not customer:
        raise TypeError(f"customer must be a non-empty str, got {customer!r}")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not total >= 0:
        raise ValueError(f"total must be a number >= 0, got {total!r}")


class _OrderWriter:
    """What both twins share: a database, a name in the trace, crash points."""

    kind = "service"

    def __init__(
        self,
        sim: Scheduler,
        db: sqlite3.Connection | str | None = None,
        *,
        name: str = "orders",
        crash_at: CrashSpec = None,
    ) -> None:
        if not isinstance(sim, Scheduler):
            raise TypeError(f"sim must be a Simulation or another runner, got {sim!r}")
        self.sim = sim
        self.db = _open(db)
        self.name = sim.register_name(name, self.kind)
        self.crashes = CrashPlan.coerce(crash_at, OUTBOX_CRASH_POINTS)
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
            raise ValueError(
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
        """The rows of the ``outbox`` table in commit order, as dicts (payload as JSON text)."""
        cols = ("seq", "id", "aggregatetype", "aggregateid", "type", "payload")
        cols += ("created_at", "sent_at")
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
        name: str = "orders",
        crash_at: CrashSpec = None,
    ) -> None:
        if not isinstance(broker, Broker):
            raise TypeError(f"broker must be a Broker, got {broker!r}")
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
    """A polling publisher: unsent outbox rows -> the broker, in commit order.

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
        if not isinstance(sim, Scheduler):
            raise TypeError(f"sim must be a Simulation or another runner, got {sim!r}")
        if not isinstance(broker, Broker):
            raise TypeError(f"broker must be a Broker, got {broker!r}")
        broker.topic(topic)
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
        self.name = sim.register_name(name, "relay")
        self.crashes = CrashPlan.coerce(crash_at, OUTBOX_CRASH_POINTS)
        self.restart_after = self.poll_interval if restart_after is None else float(restart_after)
        self.retention_ms = retention_ms
        self.until = until
        self.alive = True
        self.running = False
        self.polls = 0
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
            raise ValueError(
                f"relay {self.name!r}: db must be an open sqlite3 connection, got a closed one ({exc})"
            ) from None
        self.polls += 1
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


# -- scenarios ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one outbox (or dual-write) scenario did, counted from the database and the topic.

    ``lost``: orders committed whose event was never published.  ``invented``:
    events published for orders that were rolled back.  ``duplicates``:
    publications beyond the first of an event.  ``ok`` means nothing was
    lost or invented (duplicates are allowed: consumers de-duplicate).
    """

    twin: str
    seed: int
    attempted: int
    committed: int
    published: int
    lost: int
    invented: int
    duplicates: int
    crashes: tuple[tuple[str, int], ...] = ()
    lost_orders: tuple[str, ...] = ()
    invented_orders: tuple[str, ...] = ()
    in_commit_order: bool = True
    trace_kinds: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def rolled_back(self) -> int:
        """Orders whose transaction never committed."""
        return self.attempted - self.committed

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.invented == 0


def _twin(pattern: bool, order: str) -> str:
    if order not in DUAL_WRITE_ORDERS:
        raise ValueError(f"order must be one of {DUAL_WRITE_ORDERS}, got {order!r}")
    return "outbox" if pattern else f"dual-write {order}"


def _run(seed: int, twin: str, plan: CrashPlan, n_orders: int, trace: bool = True) -> Outcome:
    sim = Simulation(seed, trace=trace)
    broker = Broker(sim)
    broker.create_topic("orders")
    rng = sim.rng_for("orders-client")
    service: OrderService | DualWriteService
    relay = None
    if twin == "outbox":
        service = OrderService(sim, crash_at=plan)
        relay = OutboxRelay(sim, service.db, broker, "orders", poll_interval=100, crash_at=plan)
    else:
        order = twin.removeprefix("dual-write ")
        service = DualWriteService(sim, broker, "orders", order=order, crash_at=plan)

    def place(i: int) -> None:
        try:
            service.place_order(f"customer-{i % 3 + 1}", 10 + rng.randrange(90))
        except SimulatedCrash:
            pass  # the client gets no answer; the trace shows the crash

    t = 0.0
    for i in range(n_orders):
        t += rng.choice((10, 30, 70, 150))
        sim.schedule_at(t, place, i)
    sim.run(until=t)
    if relay is not None:
        # Let the relay drain the table (its crashes only delay it).
        while relay.pending() or not relay.alive:
            sim.run(until=sim.now + relay.poll_interval)
        relay.stop()
    sim.run()

    committed = {row[0] for row in service.db.execute("SELECT id FROM orders")}
    events = broker.events("orders")
    published_keys = [e.key for e in events]
    first_seen = list(dict.fromkeys(published_keys))
    lost = sorted(committed - set(published_keys))
    invented = sorted(set(published_keys) - committed)
    # Order ids grow with commit order here (one writer), so first publications
    # in commit order means the ids appear sorted.
    in_order = first_seen == sorted(first_seen)
    return Outcome(
        twin=twin,
        seed=seed,
        attempted=n_orders,
        committed=len(committed),
        published=len(events),
        lost=len(lost),
        invented=len(invented),
        duplicates=len(events) - len({e.id for e in events}),
        crashes=tuple(plan.fired),
        lost_orders=tuple(lost),
        invented_orders=tuple(invented),
        in_commit_order=in_order,
        trace_kinds=sim.trace.counts(),
    )


def _check_n_orders(n_orders: Any) -> None:
    if isinstance(n_orders, bool) or not isinstance(n_orders, int) or n_orders < 1:
        raise ValueError(f"n_orders must be an int >= 1, got {n_orders!r}")


def run_outbox_scenario(
    seed: int,
    pattern: bool = True,
    crash_points: str | Iterable[str] | Mapping[str, int | Iterable[int]] | None = None,
    n_orders: int = 8,
    *,
    order: str = "db-first",
    crash_rate: float = 0.1,
    trace: bool = True,
) -> Outcome:
    """Place ``n_orders`` orders under a random crash schedule and count what happened.

    ``pattern=True`` runs :class:`OrderService` + :class:`OutboxRelay`;
    ``False`` runs :class:`DualWriteService` in the given ``order``.
    ``crash_points`` (default: all of :data:`OUTBOX_CRASH_POINTS`) are the
    points the schedule draws from: each visit of each point crashes with
    probability ``crash_rate``, drawn from ``seed``.  ``crash_points`` may
    also be an explicit mapping ``{point: [visits]}``.  Same seed, same outcome.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    _check_n_orders(n_orders)
    if not (_number(crash_rate) and 0 <= crash_rate < 1):
        raise ValueError(f"crash_rate must be a probability in [0, 1), got {crash_rate!r}")
    twin = _twin(pattern, order)
    if crash_points is None:
        crash_points = OUTBOX_CRASH_POINTS
    if isinstance(crash_points, str):
        crash_points = (crash_points,)
    if isinstance(crash_points, Mapping):
        plan = CrashPlan(crash_points, allowed=OUTBOX_CRASH_POINTS, param="crash_points")
    else:
        points = list(crash_points)
        CrashPlan(points, allowed=OUTBOX_CRASH_POINTS, param="crash_points")  # validates
        rng = Simulation(seed).rng_for("fault-schedule")
        visits: dict[str, list[int]] = {}
        for point in points:
            visits[point] = [v for v in range(1, n_orders + 1) if rng.random() < crash_rate]
        plan = CrashPlan(visits, allowed=OUTBOX_CRASH_POINTS, param="crash_points")
    return _run(seed, twin, plan, n_orders, trace)


def crash_sweep(n_orders: int = 3, visit: int = 2) -> list[Outcome]:
    """One crash at each point, for each twin: a table of what each crash does.

    For every twin in :data:`TWINS` and every point it visits, run
    ``n_orders`` orders with a single crash at that point's ``visit``-th
    visit.  Returns one :class:`Outcome` per (twin, point), in order.
    """
    _check_n_orders(n_orders)
    if isinstance(visit, bool) or not isinstance(visit, int) or not 1 <= visit <= n_orders:
        raise ValueError(f"visit must be an int in 1..n_orders ({n_orders}), got {visit!r}")
    out = []
    for twin in TWINS:
        points = OUTBOX_CRASH_POINTS if twin == "outbox" else OUTBOX_CRASH_POINTS[:2]
        for point in points:
            plan = CrashPlan({point: visit}, allowed=OUTBOX_CRASH_POINTS)
            out.append(_run(0, twin, plan, n_orders))
    return out


def outbox_sweep(n_schedules: int = 1000, seed: int = 0, n_orders: int = 8) -> dict[str, Any]:
    """Tally every twin over ``n_schedules`` random crash schedules (seeds ``seed..``).

    Returns ``{"schedules": n, "<twin>": {"failed_schedules", "lost",
    "invented", "duplicates", "crashes", "out_of_order"}, ...}``: the
    naive twins fail on a share of schedules, the outbox on none (its
    duplicates are expected and handled by idempotent consumers).
    """
    if isinstance(n_schedules, bool) or not isinstance(n_schedules, int) or n_schedules < 1:
        raise ValueError(f"n_schedules must be an int >= 1, got {n_schedules!r}")
    tallies: dict[str, Any] = {"schedules": n_schedules}
    keys = ("failed_schedules", "lost", "invented", "duplicates", "crashes", "out_of_order")
    for twin in TWINS:
        tallies[twin] = dict.fromkeys(keys, 0)
    for i in range(n_schedules):
        for twin in TWINS:
            o = run_outbox_scenario(
                seed + i,
                pattern=twin == "outbox",
                order=twin.removeprefix("dual-write ") if twin != "outbox" else "db-first",
                n_orders=n_orders,
                trace=False,
            )
            t = tallies[twin]
            t["failed_schedules"] += not o.ok
            t["lost"] += o.lost
            t["invented"] += o.invented
            t["duplicates"] += o.duplicates
            t["crashes"] += len(o.crashes)
            t["out_of_order"] += not o.in_commit_order
    return tallies


#: The closing note's name for :func:`outbox_sweep`.
sweep = outbox_sweep

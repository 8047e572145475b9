"""Notebook 08: exactly-once, stated honestly.  Where duplicates come from, and who removes them.

:func:`duplicate_sources` runs the same ten orders through one source of
duplicates at a time, on the broker profile and setting that claims to
remove it, and counts the extra charges a naive billing handler makes:

* a **producer retry** after a lost acknowledgement: Kafka's idempotent
  producer (``enable.idempotence``, on by default) removes it;
* a **republish** of the same event (an outbox relay that crashed between
  publishing and marking, a redrive): SQS FIFO drops a deduplication id seen
  in the last 5 minutes, Azure Service Bus one seen within its duplicate
  detection window (off by default; 10 minutes when on).  Kafka's
  idempotent producer does not: a new send is not a retry;
* a **redelivery** after billing charged and failed before acknowledging:
  no broker setting removes it, because the charge is billing's own side
  effect.  Only an idempotent consumer (a processed id in the charge's own
  transaction) does.

:func:`transaction_demo` shows what Kafka's transactions do cover: a
consume-transform-produce step that crashes mid-transaction publishes its
output once for ``read_committed`` readers, and the side effect (the card
charged) still happens twice.

Pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker, NetworkFaults
from ...consumer import Consumer
from ...distributions import Schedule
from ...events import Event
from ...producer import Producer
from ...sim import Simulation

__all__ = [
    "SOURCES",
    "CASES",
    "DuplicateCase",
    "duplicate_sources",
    "draw_duplicate_sources",
    "TransactionDemo",
    "transaction_demo",
    "resend",
]

MINUTE = 60_000.0
RETRY = "producer retry (an ack lost)"
REPUBLISH_1 = "the same event sent again 1 min later"
REPUBLISH_15 = "the same event sent again 15 min later"
REDELIVERY = "redelivery (charged, then died before the ack)"
#: The sources of duplicates, in the order the picture shows them.
SOURCES = (RETRY, REPUBLISH_1, REPUBLISH_15, REDELIVERY)


class DuplicateCase(NamedTuple):
    """One run: a source of duplicates, where it ran, and what billing charged."""

    source: str
    setting: str
    orders: int
    charges: int
    #: What the broker dropped as a duplicate (producer retries it recognised, deduplicated sends).
    removed_by_broker: int

    @property
    def extra_charges(self) -> int:
        """Charges beyond one per order."""
        return self.charges - self.orders


class _Billing:
    """Billing's ledger in SQLite; naive (charge every delivery) or idempotent (processed ids)."""

    def __init__(self, idempotent: bool) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.execute("CREATE TABLE charges (event_id TEXT NOT NULL)")
        self.db.execute("CREATE TABLE processed (event_id TEXT PRIMARY KEY)")
        self.idempotent = idempotent

    def charge(self, event: Event) -> None:
        """One transaction: (skip a known id,) record the id, charge."""
        db = self.db
        db.execute("BEGIN")
        try:
            if self.idempotent:
                if db.execute("SELECT 1 FROM processed WHERE event_id = ?", (event.id,)).fetchone():
                    db.execute("ROLLBACK")
                    return
                db.execute("INSERT INTO processed VALUES (?)", (event.id,))
            db.execute("INSERT INTO charges VALUES (?)", (event.id,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def charges(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM charges").fetchone()[0])


def _run(
    source: str,
    profile: str,
    settings: dict[str, Any] | None,
    *,
    orders: int,
    seed: int,
    idempotent: bool = False,
    later: float | None = None,
) -> tuple[int, int]:
    """(charges, removed by the broker) for one source of duplicates on one profile."""
    sim = Simulation(seed)
    faults = NetworkFaults(ack_loss=0.3) if source == RETRY else None
    broker = Broker(sim, latency=1, profile=profile, settings=settings, faults=faults)
    broker.create_topic("orders")
    billing = _Billing(idempotent)
    failed_once: set[str] = set()

    def handle(event: Event) -> None:
        billing.charge(event)
        # Every third order: billing charged, then failed before acknowledging (a crash, a
        # timeout): the broker delivers it again.
        if source == REDELIVERY and int(str(event.key).rsplit("-", 1)[1]) % 3 == 0:
            if event.id not in failed_once:
                failed_once.add(event.id)
                raise ConnectionError("billing died before it acknowledged")

    Consumer(broker, "billing", "orders", handle, retry_delay=50)
    producer = Producer(
        broker, "order-service", "orders", Schedule([10.0 * i for i in range(orders)])
    )
    if source in (REPUBLISH_1, REPUBLISH_15):
        if later is None:
            later = MINUTE if source == REPUBLISH_1 else 15 * MINUTE

        def republish_all() -> None:
            for event in list(producer.emitted):  # the same events, the same ids, sent again
                broker.publish("orders", event, actor="relay")

        sim.schedule_at(10.0 * orders + later, republish_all)
    sim.run()
    counts = sim.trace.counts()
    removed = counts.get("deduplicated", 0) + counts.get("duplicate-ignored", 0)
    if source == RETRY:
        removed = producer.retries - (counts.get("published", 0) - orders)
    return billing.charges(), removed


#: (source, label, profile, settings, idempotent consumer?)
CASES: tuple[tuple[str, str, str, dict[str, Any] | None, bool], ...] = (
    (RETRY, "kafka, enable.idempotence=false", "kafka", {"enable.idempotence": False}, False),
    (RETRY, "kafka, idempotent producer (default)", "kafka", None, False),
    (REPUBLISH_1, "kafka, idempotent producer", "kafka", None, False),
    (REPUBLISH_1, "service-bus, detection off (default)", "service-bus", None, False),
    (REPUBLISH_1, "service-bus, duplicate detection on", "service-bus",
     {"RequiresDuplicateDetection": True}, False),
    (REPUBLISH_1, "sqs-fifo (5 min deduplication)", "sqs-fifo", None, False),
    (REPUBLISH_15, "service-bus, duplicate detection on", "service-bus",
     {"RequiresDuplicateDetection": True}, False),
    (REPUBLISH_15, "sqs-fifo (5 min deduplication)", "sqs-fifo", None, False),
    (REPUBLISH_15, "any broker + idempotent consumer", "sqs-fifo", None, True),
    (REDELIVERY, "kafka, idempotent producer", "kafka", None, False),
    (REDELIVERY, "sqs-fifo (5 min deduplication)", "sqs-fifo", None, False),
    (REDELIVERY, "service-bus, duplicate detection on", "service-bus",
     {"RequiresDuplicateDetection": True}, False),
    (REDELIVERY, "any broker + idempotent consumer", "kafka", None, True),
)  # fmt: skip


def duplicate_sources(*, orders: int = 10, seed: int = 0) -> list[DuplicateCase]:
    """Each source of duplicates on the brokers and settings of :data:`CASES`; one row each.

    Ten orders (``orders``), a naive billing handler that charges each
    delivery, unless the case names the idempotent consumer.  ``extra_charges``
    is what the customer paid too much.
    """
    checks.integer("orders", orders, min=3, max=200)
    checks.integer("seed", seed)
    out = []
    for source, label, profile, settings, idempotent in CASES:
        charges, removed = _run(
            source, profile, settings, orders=orders, seed=seed, idempotent=idempotent
        )
        out.append(DuplicateCase(source, label, orders, charges, removed))
    return out


def resend(
    profile: str, after_ms: float, settings: dict[str, Any] | None = None, *, orders: int = 3
) -> int:
    """Charges by a naive billing when ``orders`` orders are each sent again ``after_ms`` later.

    The same events (same ids) are published a second time on ``profile``
    with ``settings``: what an outbox relay that crashed, or a redrive, does.
    """
    checks.number("after_ms", after_ms, min=0)
    checks.integer("orders", orders, min=1, max=200)
    charges, _ = _run(REPUBLISH_1, profile, settings, orders=orders, seed=0, later=after_ms)
    return charges


def draw_duplicate_sources(cases: Sequence[DuplicateCase], ax: Any = None) -> Any:
    """Extra charges per case, grouped by source of duplicates; return the Axes.

    One horizontal bar per case, its number at its end; a case with no
    extra charge shows a 0 and a hollow bar, so "removed" does not rely on
    colour.  Groups are separated and titled by their source.
    """
    import matplotlib.pyplot as plt

    from ...viz.style import COLORS

    cases = list(cases)
    if not cases:
        raise ValueError("cases must hold at least one DuplicateCase")
    order = list(dict.fromkeys(c.source for c in cases))
    rows: list[tuple[str, DuplicateCase | None]] = []
    for source in order:
        rows.append((source, None))
        rows.extend((source, c) for c in cases if c.source == source)
    if ax is None:
        _, ax = plt.subplots(figsize=(10.5, 0.34 * len(rows) + 1.2), layout="constrained")
    top = max(c.extra_charges for c in cases) or 1
    labels = []
    for i, (source, case) in enumerate(rows):
        y = len(rows) - 1 - i
        if case is None:
            labels.append(f"{source}:")
            continue
        extra = case.extra_charges
        hurt = extra > 0
        ax.barh(
            y,
            extra if hurt else top * 0.01,
            color=COLORS["failed"] if hurt else "white",
            edgecolor=COLORS["failed"] if hurt else COLORS["handled"],
            hatch="" if hurt else "//",
            height=0.7,
        )
        ax.annotate(
            f"{extra}" + ("" if hurt else "  (removed)"),
            (extra if hurt else top * 0.01, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=10,
        )
        labels.append(f"  {case.setting}")
    ax.set_yticks(range(len(rows) - 1, -1, -1), labels, fontsize=10)
    for tick, (_, case) in zip(ax.get_yticklabels(), rows, strict=True):
        if case is None:
            tick.set_fontweight("bold")
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel(f"extra charges for {cases[0].orders} orders")
    ax.set_title("where duplicates come from, and what removes them", loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


class TransactionDemo(NamedTuple):
    """What :func:`transaction_demo` counted."""

    isolation: str
    payments_seen: int
    card_charges: int
    aborted: int


def transaction_demo(isolation: str = "read_committed", *, seed: int = 0) -> TransactionDemo:
    """Kafka consume-transform-produce, crashing once mid-transaction.

    Billing reads ``OrderPlaced``, charges the card (an outside side
    effect) and publishes ``PaymentTaken`` in a Kafka transaction.  On its
    first try it crashes before committing: the transaction is aborted (as
    the coordinator does when the producer's transactional id is fenced or
    times out) and the order is delivered again.  A downstream reader with
    ``isolation.level=isolation`` counts the ``PaymentTaken`` events it sees.
    """
    checks.one_of("isolation", isolation, ("read_committed", "read_uncommitted"))
    sim = Simulation(seed)
    broker = Broker(sim, latency=1, settings={"isolation.level": isolation})
    broker.create_topic("orders")
    broker.create_topic("payments")
    card = Counter[str]()
    payments = Producer(broker, "billing-out", "payments")
    aborted = 0

    def bill(event: Event) -> None:
        nonlocal aborted
        txn = payments.begin()
        order = str(event.key)
        card[order] += 1  # the payment provider charges the card: outside Kafka
        txn.emit("PaymentTaken", order, {"order_id": order})
        if order == "order-2" and card[order] == 1:
            txn.abort()  # the process died before commit: its transaction is aborted
            aborted += 1
            raise ConnectionError("billing died before committing its transaction")
        txn.commit()

    Consumer(broker, "billing", "orders", bill, retry_delay=50)
    seen = Counter[str]()
    Consumer(broker, "ledger", "payments", lambda e: seen.update([str(e.key)]))
    Producer(broker, "order-service", "orders", Schedule([0.0, 10.0, 20.0]))
    sim.run()
    return TransactionDemo(isolation, sum(seen.values()), sum(card.values()), aborted)

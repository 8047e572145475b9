"""Benefits and failure modes (notebook 06): each reproduced with the core alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Constant, Rate, Schedule, Uniform
from ...events import Event
from ...faults import crash, pause
from ...producer import Producer
from ...sim import Simulation
from ...trace import TraceRecord
from .base import Run, key_of, make_order

__all__ = [
    "DualWrite",
    "PaymentProvider",
    "shop_services",
    "story",
    "dual_write",
    "out_of_order",
    "status_tally",
    "poison_message",
    "retry_storm",
    "lag_spiral",
    "schema_drift",
    "drift_tally",
    "REQUIRED",
    "MODES",
    "can_read",
    "compatibility",
    "half_finished",
    "order_tally",
]


def shop_services(
    seed: int = 5,
    *,
    orders: int = 40,
    rate: float = 40.0,
    email_service_ms: float = 10.0,
    email_consumers: int = 1,
    email_outage: tuple[float, float] | None = None,
) -> Run:
    """The shop with a chain of reactions: orders -> billing -> shipping -> e-mail.

    Billing reacts to ``OrderPlaced`` with ``PaymentCaptured`` (topic
    ``payments``); shipping reacts to that with ``OrderShipped`` (topic
    ``shipments``); e-mail and analytics read ``shipments`` and ``orders``.
    Each reaction keeps the order's correlation id.  The e-mail group has
    ``email_consumers`` members taking ``email_service_ms`` ms each;
    ``email_outage=(at, duration)`` crashes the first of them for a while.
    ``consumers`` are, in order: billing, shipping, analytics, then the
    e-mail members.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    for name in ("orders", "payments", "shipments"):
        broker.create_topic(name, partitions=2)
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("email", session_timeout=0)

    # A reaction is published by the consumer itself (the trace names it as the actor).
    def capture(e: Event) -> None:
        broker.publish(
            "payments",
            e.reaction(
                id=sim.next_id("evt"),
                type="PaymentCaptured",
                time=sim.now,
                source="billing",
                data={"order_id": e.data["order_id"], "amount": e.data["total"]},
            ),
            actor="billing",
        )

    def ship(e: Event) -> None:
        broker.publish(
            "shipments",
            e.reaction(
                id=sim.next_id("evt"),
                type="OrderShipped",
                time=sim.now,
                source="shipping",
                data={"order_id": e.data["order_id"]},
            ),
            actor="shipping",
        )

    billing = Consumer(broker, "billing", "orders", capture, service_time=Uniform(4, 8))
    shipping = Consumer(broker, "shipping", "payments", ship, service_time=Uniform(4, 8))
    analytics = Consumer(broker, "analytics", "orders", service_time=2.0)
    emails = tuple(
        Consumer(
            broker,
            f"email-{i + 1}",
            "shipments",
            group="email",
            service_time=Constant(email_service_ms),
        )
        for i in range(email_consumers)
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), count=orders, make=make_order)
    if email_outage is not None:
        at, duration = email_outage
        crash(sim, emails[0], at=at, restart_after=duration)
    sim.run()
    return Run(sim, broker, shop_, (billing, shipping, analytics, *emails))


def story(run: Run, key: str) -> list[TraceRecord]:
    """Everything that happened because of one order: its correlation id, followed.

    Finds the ``OrderPlaced`` event with ``key``, collects every event in
    any topic that carries its correlation id, and returns the trace
    records about those events, in time order.
    """
    first = next(
        (e for e in run.broker.events("orders") if e.key == key and e.causation_id is None),
        None,
    )
    if first is None:
        raise KeyError(f"no order with key {key!r} was published to 'orders'")
    ids = {
        e.id
        for t in run.broker.topics
        for e in run.broker.events(t)
        if e.correlation_id == first.correlation_id
    }
    return [r for r in run.trace if r.event_id in ids]


@dataclass(frozen=True)
class DualWrite:
    """The result of :func:`dual_write`: the database, the topic, and the crashes."""

    db: tuple[str, ...]
    published: tuple[str, ...]
    crashed: tuple[str, ...]
    publish_first: bool

    def tally(self) -> dict[str, int]:
        """Orders in both places, only in the database, only in the topic."""
        db, pub = set(self.db), set(self.published)
        return {
            "in both": len(db & pub),
            "only in the database": len(db - pub),
            "only in the topic": len(pub - db),
        }


def dual_write(
    *, seed: int = 5, orders: int = 40, crash_rate: float = 0.1, publish_first: bool = False
) -> DualWrite:
    """The order service writes its database and publishes, as two separate steps.

    For each order it inserts a row into its (in-memory) orders table and
    publishes ``OrderPlaced``; with probability ``crash_rate`` the process
    dies between the two steps and the second never happens.  Row first
    (the default): an order with no event.  ``publish_first=True``: an event
    about an order that was never saved.
    """
    if not 0.0 <= crash_rate <= 1.0:
        raise ValueError(f"crash_rate must be a probability between 0 and 1, got {crash_rate!r}")
    sim = Simulation(seed=seed)
    broker = Broker(sim)
    broker.create_topic("orders")
    producer = Producer(broker, "orders-service", "orders")
    rng = sim.rng_for("orders-service-crashes")
    table: list[str] = []
    crashed: list[str] = []

    def place(i: int) -> None:
        key = f"order-{i}"
        steps = ("publish", "insert") if publish_first else ("insert", "publish")
        for k, step in enumerate(steps):
            if step == "insert":
                table.append(key)
            else:
                producer.emit("OrderPlaced", key, {"order_id": key, "total": 10 + (i * 7) % 90})
            if k == 0 and rng.random() < crash_rate:
                crashed.append(key)  # the process dies here; the second step never runs
                return

    for i in range(1, orders + 1):
        sim.schedule(i * 10.0, place, i)
    sim.run()
    published = tuple(key_of(e) for e in broker.events("orders"))
    return DualWrite(tuple(table), published, tuple(crashed), publish_first)


_STEPS = ("OrderPlaced", "OrderPaid", "OrderShipped")
_STATUS = {"OrderPlaced": "placed", "OrderPaid": "paid", "OrderShipped": "shipped"}


def out_of_order(*, seed: int = 6, orders: int = 30, keyed: bool = False) -> Run:
    """Each order goes placed -> paid -> shipped; a status view folds the events.

    The three events of an order are published 5 ms apart to a topic with
    two partitions, read by a group of two consumers whose speed varies.
    With ``keyed=False`` events carry no key and are spread round-robin, so
    an order's events sit in different partitions and may be applied out of
    order; with ``keyed=True`` the order id is the key and they are not.
    ``info["status"]`` is the view's final status of every order.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=Uniform(1, 10))
    broker.create_topic("orders", partitions=2)
    status: dict[str, str] = {}
    applied: list[str] = []

    def apply(e: Event) -> None:
        status[e.data["order_id"]] = _STATUS[e.type]
        applied.append(e.data["order_id"])

    members = tuple(
        Consumer(
            broker,
            f"status-view-{i + 1}",
            "orders",
            apply,
            group="status-view",
            service_time=Uniform(1, 20),
        )
        for i in range(2)
    )

    def make(i: int, rng: Any) -> tuple[str, str | None, dict[str, Any]]:
        n, step = (i - 1) // 3 + 1, (i - 1) % 3
        order = f"order-{n}"
        return _STEPS[step], (order if keyed else None), {"order_id": order}

    shop_ = Producer(broker, "shop", "orders", Rate(200.0), count=3 * orders, make=make)
    sim.run()
    info = {"status": dict(sorted(status.items(), key=lambda kv: int(kv[0].split("-")[1])))}
    return Run(sim, broker, shop_, members, tuple(applied), info)


def status_tally(run: Run) -> dict[str, int]:
    """How many orders of :func:`out_of_order` end ``shipped`` (right) or not (wrong)."""
    final = Counter(run.info["status"].values())
    right = final.get("shipped", 0)
    return {"shows shipped": right, "shows an older status": sum(final.values()) - right}


def poison_message(
    *, seed: int = 1, orders: int = 50, poison: int = 5, until: float = 1500.0
) -> Run:
    """One malformed order (a negative total) makes billing's handler raise, every time.

    At-least-once billing retries it every 50 ms forever; its partition is
    stuck behind it (head-of-line blocking) while the other partition flows.
    The run stops at ``until`` ms because it would never end on its own.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", partitions=2)

    def charge(e: Event) -> None:
        if e.data["total"] < 0:
            raise ValueError(f"total must be >= 0, got {e.data['total']}")

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        total = -5 if i == poison else 10 + (i * 7) % 90
        return "OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "total": total}

    billing = Consumer(broker, "billing", "orders", charge, service_time=5.0, retry_delay=50.0)
    shop_ = Producer(broker, "shop", "orders", Rate(50.0), count=orders, make=make)
    sim.run(until=until)
    return Run(sim, broker, shop_, (billing,))


class PaymentProvider:
    """A downstream service that is down for a while, then falls over again when overloaded.

    It is down from ``down_from`` to ``down_until`` ms.  Afterwards, if more
    than ``capacity`` calls arrive within one ``window`` ms, it falls over
    for ``recover_ms`` more.  Every call is recorded as ``(time, ok)``.
    """

    def __init__(
        self,
        sim: Simulation,
        *,
        down_from: float,
        down_until: float,
        capacity: int,
        window: float = 2.0,
        recover_ms: float = 150.0,
    ) -> None:
        self.sim = sim
        self.down = [(down_from, down_until)]
        self.capacity = capacity
        self.window = window
        self.recover_ms = recover_ms
        self.calls: list[tuple[float, bool]] = []

    def _is_down(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.down)

    def charge(self, event: Event) -> None:
        """Charge an order, or raise ``ConnectionError`` when down or overloaded."""
        t = self.sim.now
        recent = sum(1 for s, _ in self.calls if t - self.window < s <= t)
        ok = not self._is_down(t)
        if ok and recent >= self.capacity:
            self.down.append((t, t + self.recover_ms))  # overloaded: it falls over
            ok = False
        self.calls.append((t, ok))
        if not ok:
            raise ConnectionError("payment provider unavailable")

    def __repr__(self) -> str:
        failed = sum(1 for _, ok in self.calls if not ok)
        return f"<PaymentProvider calls={len(self.calls)} failed={failed} outages={len(self.down)}>"


def retry_storm(
    *,
    seed: int = 2,
    consumers: int = 8,
    orders: int = 160,
    retry_delay: float = 100.0,
    capacity: int = 5,
    until: float = 2000.0,
) -> Run:
    """Billing consumers retry a failed payment in step and keep the provider down.

    A flash sale puts ``orders`` orders in ``consumers`` partitions at once,
    while the payment provider is down (until 300 ms).  Every billing
    consumer fails at the same moment and retries every ``retry_delay`` ms
    (no jitter), so their retries arrive together: when there are more than
    ``capacity`` of them, the provider falls over again as soon as it is
    back.  Handling takes 4-8 ms, so consumers that get through drift apart.
    ``info["provider"]`` is the :class:`PaymentProvider`, with every call.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", partitions=consumers)
    provider = PaymentProvider(sim, down_from=0.0, down_until=300.0, capacity=capacity)
    members = tuple(
        Consumer(
            broker,
            f"billing-{i + 1}",
            "orders",
            provider.charge,
            group="billing",
            service_time=Uniform(4.0, 8.0),
            retry_delay=retry_delay,
        )
        for i in range(consumers)
    )
    shop_ = Producer(
        broker, "shop", "orders", Schedule([0.0] * orders), count=orders, make=_spread(consumers)
    )
    sim.run(until=until)
    return Run(sim, broker, shop_, members, (), {"provider": provider})


def _spread(partitions: int):
    """A ``make`` whose keys go round the partitions in turn (for an even flash sale)."""
    from ...broker import partition_for

    keys: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while min(len(v) for v in keys.values()) < 1000:
        n += 1
        k = f"order-{n}"
        keys[partition_for(k, partitions)].append(k)

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        key = keys[(i - 1) % partitions][(i - 1) // partitions]
        return "OrderPlaced", key, {"order_id": key, "total": 10 + (i * 7) % 90}

    return make


def lag_spiral(
    pause_ms: float,
    *,
    seed: int = 1,
    rate: float = 60.0,
    service_ms: float = 10.0,
    deadline_ms: float = 300.0,
    until: float = 6000.0,
) -> Run:
    """A short hiccup recovers; a slightly longer one makes billing fall further and further behind.

    Orders arrive at ``rate`` a second for 4 s; billing needs ``service_ms``
    per order, so normally it is busy ``rate * service_ms / 1000`` of the
    time.  It pauses for ``pause_ms`` at 1 s.  An order's payment
    authorisation is valid for ``deadline_ms``: when billing reaches an
    order whose authorisation has expired, it spends the time anyway, asks
    for a new authorisation (valid ``deadline_ms`` from now) and publishes
    the *same* event again at the end of ``orders`` to retry it: the same
    id and the same data, as every retry in this course (an event is an
    immutable fact).  Billing counts the attempts itself, by event id, as a
    queue broker counts deliveries; after three it gives up.  Once the
    backlog is older than the deadline, every order costs two or three
    attempts: billing's real capacity drops exactly when it is behind.
    ``info`` counts the ``requeued`` publications and the ``gave_up``
    orders; :meth:`Run.effects` lists the orders given up.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    shop_ = Producer(broker, "shop", "orders", Rate(rate), until=4000.0, make=make_order)
    attempts: dict[str, int] = {}  # event id -> attempts so far (billing's own memory)
    authorised: dict[str, float] = {}  # event id -> when its current authorisation was issued
    gave_up: list[str] = []
    requeued = [0]

    def charge(e: Event) -> None:
        if sim.now - authorised.get(e.id, e.time) <= deadline_ms:
            return  # charged in time
        attempt = attempts.get(e.id, 1)
        if attempt >= 3:
            gave_up.append(key_of(e))
            return
        attempts[e.id] = attempt + 1
        authorised[e.id] = sim.now  # a new authorisation, valid from now
        broker.publish("orders", e, actor="billing")  # the same event, unchanged: a retry
        requeued[0] += 1

    billing = Consumer(broker, "billing", "orders", charge, service_time=service_ms)
    pause(sim, billing, at=1000.0, duration=pause_ms)
    sim.run(until=until)
    info = {"requeued": requeued[0], "gave_up": len(gave_up)}
    return Run(sim, broker, shop_, (billing,), tuple(gave_up), info)


#: The readers and the changes :func:`schema_drift` offers.
READERS = ("defaulting", "strict")
CHANGES = ("rename", "additive")


def schema_drift(
    *,
    seed: int = 7,
    orders: int = 40,
    switch_at: int = 21,
    reader: str = "defaulting",
    change: str = "rename",
) -> Run:
    """The order service changes the shape of ``OrderPlaced`` under an analytics reader written for the old one.

    From order ``switch_at`` on, the producer sends the new shape, without
    bumping the event's ``version``: nothing tells a consumer that the
    shape changed.  ``change="rename"`` replaces ``total`` by
    ``amount_cents`` (a breaking change); ``change="additive"`` adds
    ``amount_cents`` and keeps ``total`` (a compatible one).

    Analytics adds up ``total``.  A ``"defaulting"`` reader takes
    ``data.get("total", 0)``: on a renamed event it silently counts 0 (this
    is not Fowler's Tolerant Reader, which ignores the fields it does not
    use but still requires those it does).  A ``"strict"`` reader takes
    ``data["total"]``: it raises ``KeyError``, and at-least-once delivery
    retries the event for ever, blocking its partition like a poison message.

    ``info`` has the ``true_revenue``, the ``counted_revenue``, each order's
    ``outcome`` (counted right, counted as 0, not read: see
    :func:`drift_tally`) and the orders sent in the new shape (``changed``).
    """
    from ... import checks

    checks.one_of("reader", reader, READERS)
    checks.one_of("change", change, CHANGES)
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    counted: dict[str, int] = {}

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        total = 10 + (i * 7) % 90
        data: dict[str, Any] = {"order_id": f"order-{i}", "total": total}
        if i >= switch_at:
            if change == "rename":
                del data["total"]
            data["amount_cents"] = total * 100
        return "OrderPlaced", f"order-{i}", data

    def add(e: Event) -> None:
        counted[e.data["order_id"]] = (
            e.data["total"] if reader == "strict" else e.data.get("total", 0)
        )

    analytics = Consumer(broker, "analytics", "orders", add, service_time=5.0, retry_delay=50.0)
    shop_ = Producer(broker, "shop", "orders", Rate(50.0), count=orders, make=make)
    sim.run(until=2000.0)
    truth = {f"order-{i}": 10 + (i * 7) % 90 for i in range(1, orders + 1)}
    outcome = {
        k: "not read"
        if k not in counted
        else "counted right"
        if counted[k] == v
        else "counted as 0"
        for k, v in truth.items()
    }
    info = {
        "true_revenue": sum(truth.values()),
        "counted_revenue": sum(counted.values()),
        "outcome": outcome,
        "changed": tuple(f"order-{i}" for i in range(switch_at, orders + 1)),
    }
    return Run(sim, broker, shop_, (analytics,), tuple(counted), info)


def drift_tally(run: Run, *, changed_only: bool = False) -> dict[str, int]:
    """For :func:`schema_drift`: orders counted right, counted as 0, and never read (stuck behind).

    ``changed_only=True`` counts only the orders sent in the new shape.
    """
    keys = run.info["changed"] if changed_only else run.info["outcome"]
    tally = Counter(run.info["outcome"][k] for k in keys)
    return {k: tally.get(k, 0) for k in ("counted right", "counted as 0", "not read")}


class _Required:
    """The marker of a field without a default (a reader fails if the event lacks it)."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: A schema field without a default: ``{"order_id": REQUIRED, "note": ""}``.
REQUIRED: Any = _Required()

#: The compatibility modes of Confluent Schema Registry (the non-transitive ones).
MODES = ("BACKWARD", "FORWARD", "FULL")


def can_read(reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
    """Whether a reader expecting ``reader`` can read events written with ``writer`` (Avro's rule).

    A schema maps each field name to its default, or to :data:`REQUIRED`.
    Fields the writer has and the reader does not are ignored; a field the
    reader needs and the writer lacks is filled from the reader's default,
    and without one the read fails.  Field types are not modelled.
    """
    for name, schema in (("reader", reader), ("writer", writer)):
        if not isinstance(schema, Mapping):
            raise TypeError(
                f"{name} must be a mapping field -> default (or REQUIRED), got {schema!r}"
            )
    return all(field in writer or default is not REQUIRED for field, default in reader.items())


def compatibility(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, bool]:
    """Which compatibility modes accept ``new`` as the next version after ``old``.

    As Confluent Schema Registry defines them: ``BACKWARD`` (its default)
    means consumers using the new schema can read data written with the old
    one (new readers of old events: the upcaster's direction); ``FORWARD``
    means consumers using the old schema can read data written with the new
    one (old readers of new events: the direction of schema drift);
    ``FULL`` means both.
    """
    backward = can_read(new, old)
    forward = can_read(old, new)
    return {"BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward}


def half_finished(*, seed: int = 8, orders: int = 40, stock: int = 30) -> Run:
    """Billing and inventory both react to ``OrderPlaced``, each in its own transaction.

    Billing charges every order; inventory reserves one item per order
    while it has ``stock`` left and refuses the rest.  Nothing ties the two
    together, so the orders inventory refuses stay charged: customers pay
    for goods that will never ship.  ``info`` lists the ``charged`` and
    ``reserved`` orders; :meth:`Run.effects` is empty.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", partitions=2)
    charged: list[str] = []
    reserved: list[str] = []
    left = [stock]

    def charge(e: Event) -> None:
        charged.append(key_of(e))

    def reserve(e: Event) -> None:
        if left[0] > 0:
            left[0] -= 1
            reserved.append(key_of(e))

    billing = Consumer(broker, "billing", "orders", charge, service_time=Uniform(2, 6))
    inventory = Consumer(broker, "inventory", "orders", reserve, service_time=Uniform(2, 6))
    shop_ = Producer(broker, "shop", "orders", Rate(50.0), count=orders, make=make_order)
    sim.run()
    info = {"charged": tuple(charged), "reserved": tuple(reserved)}
    return Run(sim, broker, shop_, (billing, inventory), (), info)


def order_tally(run: Run) -> dict[str, int]:
    """For :func:`half_finished`: orders charged and reserved, or charged but never reserved."""
    reserved = set(run.info["reserved"])
    charged = run.info["charged"]
    both = sum(1 for k in charged if k in reserved)
    return {"charged and reserved": both, "charged, nothing to ship": len(charged) - both}

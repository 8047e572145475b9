"""Delivery guarantees (notebook 04): a crash under each mode, slowness, an outage, a slow consumer per broker."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Exponential, Rate
from ...faults import crash
from ...producer import Producer
from ...queues import QueueBroker
from ...sim import Simulation
from ...trace import Trace
from .base import Run, key_of, make_order

#: The timeout that redelivers, per profile: the setting :func:`slow_email` sets.
TIMEOUTS = {
    "kafka": "max.poll.interval.ms",
    "rabbitmq": "consumer_timeout",
    "sqs": "VisibilityTimeout",
    "service-bus": "LockDuration",
}

__all__ = [
    "billing_crash",
    "charge_tally",
    "slow_email",
    "consumer_outage",
    "backpressure",
    "SETUPS",
    "TIMEOUTS",
    "time_blocked",
]


def billing_crash(
    delivery: Literal["at-least-once", "at-most-once"] = "at-least-once",
    *,
    seed: int = 1,
    orders: int = 20,
    rate: float = 100.0,
    service_ms: float = 10.0,
    crash_at: float = 85.0,
    restart_after: float = 50.0,
    commit_every: int = 5,
) -> Run:
    """Billing charges one card per ``OrderPlaced`` and crashes once, mid-work.

    The shop publishes ``orders`` orders at ``rate`` a second; billing takes
    ``service_ms`` per charge and commits every ``commit_every`` charges (or
    when it catches up).  It crashes at ``crash_at`` ms and restarts
    ``restart_after`` ms later.  ``effects`` are the orders charged, in
    order: the same crash loses one under ``"at-most-once"`` and charges
    some twice under ``"at-least-once"``.
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    charged: list[str] = []
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("billing", session_timeout=0)
    billing = Consumer(
        broker,
        "billing",
        "orders",
        lambda e: charged.append(key_of(e)),
        service_time=service_ms,
        delivery=delivery,
        commit_every=commit_every,
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), count=orders, make=make_order)
    crash(sim, billing, at=crash_at, restart_after=restart_after)
    sim.run()
    return Run(sim, broker, shop_, (billing,), tuple(charged))


def charge_tally(run: Run) -> dict[str, int]:
    """How many orders were charged once, more than once, and never."""
    counts = Counter(run.effects)
    out = {"charged once": 0, "charged twice": 0, "never charged": 0}
    for event in run.producer.emitted:
        n = counts.get(key_of(event), 0)
        if n == 0:
            out["never charged"] += 1
        elif n == 1:
            out["charged once"] += 1
        else:
            out["charged twice"] += 1
    return out


def slow_email(
    *, seed: int = 27, orders: int = 12, poll_interval_ms: float = 40.0, profile: str = "kafka"
) -> Run:
    """The e-mail service sometimes takes longer than its broker's timeout allows.

    Sending takes 15 ms on average (exponential: mostly quick, now and then
    slow).  On the ``kafka`` profile (the default) the timeout is
    ``max.poll.interval.ms`` (``poll_interval_ms``; Kafka's default is 5
    minutes, here 40 ms so that a slow send outlasts it): a member still
    handling when it runs out is evicted from the group, its partitions are
    reassigned, its late commit fails (``CommitFailedException``) and the
    event is delivered again, while the slow first attempt still sends its
    e-mail.  On a queue profile the same number sets that broker's own
    timeout (see :data:`TIMEOUTS`).  ``effects`` are the orders e-mailed.
    """
    checks.one_of("profile", profile, tuple(TIMEOUTS))
    checks.number("poll_interval_ms", poll_interval_ms, above=0)
    sim = Simulation(seed=seed)
    settings = {TIMEOUTS[profile]: poll_interval_ms}
    broker = Broker(sim, profile=profile, settings=settings, latency=1.0)
    broker.create_topic("orders")
    sent: list[str] = []
    email = Consumer(
        broker,
        "email",
        "orders",
        lambda e: sent.append(key_of(e)),
        service_time=Exponential(15.0),
    )
    shop_ = Producer(broker, "shop", "orders", Rate(20.0), count=orders, make=make_order)
    sim.run()
    return Run(sim, broker, shop_, (email,), tuple(sent))


def consumer_outage(
    *,
    seed: int = 3,
    rate: float = 50.0,
    service_ms: float = 5.0,
    down_at: float = 500.0,
    down_for: float = 600.0,
    until: float = 2000.0,
) -> Run:
    """Shipping is down for ``down_for`` ms; orders wait in the broker meanwhile.

    Orders arrive at ``rate`` a second until ``until`` ms.  Shipping crashes
    at ``down_at`` and restarts ``down_for`` ms later, then works through the
    backlog faster than orders arrive (``service_ms`` per order).
    """
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders")
    shipped: list[str] = []
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("shipping", session_timeout=0)
    shipping = Consumer(
        broker, "shipping", "orders", lambda e: shipped.append(key_of(e)), service_time=service_ms
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), until=until, make=make_order)
    crash(sim, shipping, at=down_at, restart_after=down_for)
    sim.run()
    return Run(sim, broker, shop_, (shipping,), tuple(shipped))


#: The broker settings :func:`backpressure` compares, by what a full queue does on each.
SETUPS = (
    "kafka",
    "rabbitmq drop-head",
    "rabbitmq reject-publish",
    "service-bus",
    "sqs",
)
# A 100 KB document with each order on service-bus, so that a 1 MB quota holds about 10 of them.
_DOCUMENT = "x" * 100_000


def backpressure(
    setup: str = "kafka",
    *,
    seed: int = 3,
    orders: int = 100,
    rate: float = 50.0,
    service_ms: float = 40.0,
    bound: int = 10,
    retention_ms: float | None = None,
) -> Run:
    """A consumer slower than its producer, on one broker ``setup``; what did the producer see?

    The shop publishes ``orders`` orders at ``rate`` a second (one every
    20 ms by default); shipping takes ``service_ms`` per order (40 ms: half
    as fast).  ``setup`` is one of :data:`SETUPS`:

    * ``"kafka"``: every publish is accepted and the group lags; the log
      keeps events for ``retention.ms`` (``retention_ms``, default Kafka's
      7 days) and deletes them then, read or not;
    * ``"rabbitmq drop-head"``: the queue holds ``bound`` ready messages
      (``x-max-length``); the default ``x-overflow="drop-head"`` drops (or
      dead-letters) the oldest: the publish succeeds;
    * ``"rabbitmq reject-publish"``: ``x-overflow="reject-publish"``, the
      broker nacks the new message: the producer is told;
    * ``"service-bus"``: the topic's size quota (``MaxSizeInMegabytes``) is
      1 MB and each order carries a 100 KB document, so about ``bound``
      orders fit; a send past the quota fails with QuotaExceeded (real
      quotas are 1 to 80 GB: scaled down, as retention is);
    * ``"sqs"``: practically unbounded: every message is accepted and waits.

    ``info``: ``accepted`` and ``refused`` (what the producer was told),
    ``dropped`` (by a full RabbitMQ queue), ``deleted_unread`` (by Kafka's
    retention), ``shipped``, ``blocked_ms`` (how long the producer waited to
    publish: the ``blocked``/``unblocked`` records of the trace),
    ``peak_backlog`` (orders accepted and not yet shipped or dropped) and
    ``backlog`` (its series, ``[(ms, orders), ...]``).
    """
    checks.one_of("setup", setup, SETUPS)
    checks.integer("orders", orders, min=1)
    checks.number("rate", rate, above=0)
    checks.number("service_ms", service_ms, above=0)
    checks.integer("bound", bound, min=1)
    if retention_ms is not None:
        checks.number("retention_ms", retention_ms, above=0)
        if setup != "kafka":
            raise ValueError(
                f"retention_ms applies to setup='kafka' (a log's retention.ms), got setup={setup!r}:"
                " a queue keeps a message until it is acknowledged or its time to live runs out"
            )
    sim = Simulation(seed=seed)
    profile = setup.split()[0]
    settings: dict[str, Any] = {}
    group_settings: dict[str, Any] | None = None
    make = make_order
    if setup == "kafka" and retention_ms is not None:
        settings["retention.ms"] = retention_ms
    elif profile == "rabbitmq":
        group_settings = {"x-max-length": bound, "x-overflow": setup.split()[1]}
    elif setup == "service-bus":
        settings["MaxSizeInMegabytes"] = 1
        make = _with_document(bound)
    broker = Broker(sim, profile=profile, settings=settings, latency=1.0)
    broker.create_topic("orders")
    if group_settings is not None:
        assert isinstance(broker, QueueBroker)  # a queue profile: its queue's own limits
        broker.group("shipping", settings=group_settings)
    shipped: list[str] = []
    shipping = Consumer(
        broker,
        "shipping",
        "orders",
        lambda e: shipped.append(key_of(e)),
        service_time=service_ms,
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), count=orders, make=make)
    sim.run()
    trace = sim.trace
    dropped = [
        r for r in trace.filter(kind="dead-lettered") if (r.detail or "").startswith("maxlen")
    ]
    backlog = _backlog(shop_, trace.filter(kind="handled", actor="shipping"), dropped)
    stats = broker.groups["shipping"].stats()
    info = {
        "accepted": shop_.published,
        "refused": shop_.rejected,
        "dropped": len(dropped),
        "deleted_unread": stats.get("expired", 0) if setup == "kafka" else 0,
        "shipped": len(set(shipped)),
        "blocked_ms": time_blocked(trace, shop_.name),
        "peak_backlog": max(n for _, n in backlog),
        "backlog": backlog,
    }
    return Run(sim, broker, shop_, (shipping,), tuple(shipped), info)


def _with_document(bound: int) -> Any:
    def make(i: int, rng: Any) -> tuple[str, str | None, Any]:
        type_, key, data = make_order(i, rng)
        return type_, key, {**data, "document": _DOCUMENT[: 1_000_000 // bound]}

    return make


def _backlog(producer: Producer, handled: list[Any], dropped: list[Any]) -> list[tuple[float, int]]:
    """Orders accepted and not yet shipped or dropped, after each change: ``[(ms, n), ...]``."""
    changes: list[tuple[float, int]] = [(e.time, +1) for e in producer.emitted]
    seen: set[str | None] = set()
    for r in handled:
        if r.event_id not in seen:  # a redelivery shipped again leaves the backlog once
            seen.add(r.event_id)
            changes.append((r.time, -1))
    changes.extend((r.time, -1) for r in dropped)
    changes.sort(key=lambda c: (c[0], -c[1]))
    out, n = [(0.0, 0)], 0
    for t, d in changes:
        n += d
        out.append((t, n))
    return out


def time_blocked(trace: Trace, actor: str) -> float:
    """How long ``actor`` waited to publish (ms): each ``blocked`` record until its ``unblocked``.

    A simulated broker never makes a producer wait (none of the simulated
    brokers slows a producer because a consumer is slow), so this is 0 in
    every simulation; the RabbitMQ adapter traces a real blocked connection
    (a memory or disk alarm) the same way.
    """
    total, since = 0.0, None
    for r in trace.filter(actor=actor, kind=("blocked", "unblocked")):
        if r.kind == "blocked" and since is None:
            since = r.time
        elif r.kind == "unblocked" and since is not None:
            total += r.time - since
            since = None
    return total

"""Notebook 03 (brokers compared): the same small shop on five broker profiles, side by side.

Each function builds the shop on one profile (``"kafka"``, ``"rabbitmq"``,
``"sqs"``, ``"sqs-fifo"``, ``"service-bus"``), with that broker's own
defaults unless an argument says otherwise, runs it and returns what
happened as plain data (a dict of counts, or a :class:`BrokerRun` holding
the trace); the ``draw_*`` functions draw it.  Everything is seeded: the
same arguments give the same result.  Simulated time costs nothing, so the
real defaults are used as they are (SQS's 4-day retention, Kafka's 5-minute
``max.poll.interval.ms``).

One idea per function, as the notebook takes them:

1. :func:`late_subscriber`: what a subscription made after six orders sees.
2. :func:`retention`: what survives a consumer's outage of some days.
3. :func:`order_run`: competing consumers, and the order of each order's events.
4. :func:`timeout_run`: the timeout that redelivers, and how much it redelivers.
5. :func:`full_queue`: what a bounded queue does with more than it holds.
6. :func:`poison`: a message that always fails, and who dead-letters it.
7. :func:`duplicates`: the same order sent twice, and who drops the copy.

:func:`keep_table` is the table to keep, generated from :mod:`evtlib.profiles`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Duration, Uniform
from ...errors import BufferFullError
from ...events import Event
from ...profiles import PROFILES
from ...sim import Simulation
from ...trace import Trace

__all__ = [
    "PROFILES_COMPARED",
    "QUEUE_PROFILES",
    "TIMEOUT_SETTING",
    "BrokerRun",
    "late_subscriber",
    "late_subscribers",
    "draw_late_subscribers",
    "retention",
    "retention_table",
    "draw_retention",
    "order_run",
    "order_table",
    "order_schedule",
    "ORDERED_PROFILES",
    "draw_order",
    "timeout_run",
    "draw_timeouts",
    "full_queue",
    "full_queue_table",
    "draw_full_queue",
    "poison",
    "poison_broker",
    "poison_table",
    "draw_poison",
    "duplicates",
    "duplicates_table",
    "draw_duplicates",
    "keep_table",
]

#: The five profiles, in the order the notebook shows them.
PROFILES_COMPARED = ("kafka", "rabbitmq", "sqs", "sqs-fifo", "service-bus")
QUEUE_PROFILES = PROFILES_COMPARED[1:]

#: Each profile's timeout that ends a delivery the consumer holds too long.
TIMEOUT_SETTING = {
    "kafka": "max.poll.interval.ms",
    "rabbitmq": "consumer_timeout",
    "sqs": "VisibilityTimeout",
    "sqs-fifo": "VisibilityTimeout",
    "service-bus": "LockDuration",
}

#: Each profile's limit of deliveries before the broker dead-letters (None: it has none).
DELIVERY_LIMIT = {
    "kafka": None,
    "rabbitmq": "x-delivery-limit",
    "sqs": "maxReceiveCount",
    "sqs-fifo": "maxReceiveCount",
    "service-bus": "MaxDeliveryCount",
}

MINUTE = 60_000.0
DAY = 86_400_000.0


@dataclass(frozen=True)
class BrokerRun:
    """One run of the shop on one profile: its trace, its counts and a few words."""

    profile: str
    trace: Trace
    counts: Mapping[str, Any]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<BrokerRun {self.profile} {dict(self.counts)}>"


def _profile(name: str) -> str:
    checks.one_of("profile", name, PROFILES_COMPARED)
    return name


def _order(i: int, t: float, **data: Any) -> Event:
    """The shop's ``i``-th order, keyed by its order id (the MessageGroupId on SQS FIFO)."""
    return Event(
        id=f"evt-{i:03d}",
        type="OrderPlaced",
        time=t,
        key=f"order-{i}",
        source="order-service",
        data={"order_id": f"order-{i}", "total": 10 + (i * 7) % 90, **data},
    )


def _shop(
    profile: str,
    settings: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    partitions: int = 3,
    trace: bool = True,
    **options: Any,
) -> tuple[Simulation, Any]:
    """A simulation and a broker of ``profile`` with the topic ``orders``."""
    sim = Simulation(seed, trace=trace)
    broker = Broker(sim, profile=profile, settings=dict(settings or {}), **options)
    broker.create_topic("orders", partitions if profile == "kafka" else 1)
    return sim, broker


def _publish(sim: Simulation, broker: Any, event: Event, at: float) -> None:
    sim.schedule(at, lambda: broker.publish("orders", event, actor="order-service"))


def _bars(tallies: Mapping[str, Mapping[str, int]], ax: Any = None, **options: Any) -> Any:
    """Grouped bars (:func:`~evtlib.viz.patterns.draw_tallies`) on a figure with fixed margins.

    A layout engine would measure every label to place the legend; the
    margins here are worked out from the labels' lengths instead, which
    keeps the notebook quick.
    """
    import matplotlib.pyplot as plt

    from ...viz.patterns import draw_tallies

    if ax is None:
        n_out = len(options.get("order") or ()) or 2
        width = min(12.0, max(7.0, (0.45 * len(tallies) + 0.6) * n_out + 3.5))
        legend = 0.8 + 0.075 * max(len(k) for k in tallies)  # inches
        fig = plt.figure(figsize=(width, 3.8))
        fig.subplots_adjust(left=0.75 / width, right=1 - legend / width, top=0.9, bottom=0.13)
        ax = fig.add_subplot()
    return draw_tallies(tallies, ax, **options)


def _handled_ids(trace: Trace, consumer: str) -> list[str]:
    return [r.event_id for r in trace.filter(kind="handled", actor=consumer) if r.event_id]


# -- 1. the late subscriber -------------------------------------------------------------


def late_subscriber(profile: str, offset_reset: str = "latest") -> dict[str, int]:
    """Six orders, then a new subscription ``loyalty``, then six more: what it handles.

    On kafka ``offset_reset`` is the new group's ``auto.offset.reset``; a
    queue broker has no such choice (``"earliest"`` is its own error, which
    says why).  Returns ``{"before it subscribed": n, "after it subscribed": m}``,
    out of six each.
    """
    _profile(profile)
    checks.one_of("offset_reset", offset_reset, ("latest", "earliest"))
    sim, broker = _shop(profile)
    for i in range(1, 7):
        _publish(sim, broker, _order(i, i * 10.0), i * 10.0)

    def subscribe() -> None:
        if profile == "kafka":
            broker.group("loyalty", start=offset_reset)
        elif offset_reset != "latest":
            broker.group("loyalty", start=offset_reset)  # raises: no history to read
        Consumer(broker, "loyalty", "orders", service_time=2)

    sim.schedule(100.0, subscribe)
    for i in range(7, 13):
        _publish(sim, broker, _order(i, 100.0 + i * 10.0), 100.0 + i * 10.0)
    sim.run()
    seen = {int(e.split("-")[1]) for e in _handled_ids(sim.trace, "loyalty")}
    return {
        "before it subscribed": sum(1 for i in seen if i <= 6),
        "after it subscribed": sum(1 for i in seen if i > 6),
    }


def late_subscribers() -> dict[str, dict[str, int]]:
    """:func:`late_subscriber` on every profile (kafka with both resets), by label."""
    out = {
        "kafka, latest (default)": late_subscriber("kafka", "latest"),
        "kafka, earliest": late_subscriber("kafka", "earliest"),
    }
    for p in QUEUE_PROFILES:
        out[p] = late_subscriber(p)
    return out


def draw_late_subscribers(tallies: Mapping[str, Mapping[str, int]], ax: Any = None) -> Any:
    """What the late subscription handled, per profile, as bars."""
    return _bars(
        tallies,
        ax,
        order=("before it subscribed", "after it subscribed"),
        ylabel="orders handled by loyalty (of 6)",
        title="a subscription made after 6 orders: which orders does it get?",
    )


# -- 2. retention -----------------------------------------------------------------------


def retention(profile: str, outage_days: float = 5.0) -> dict[str, int]:
    """Ten orders in the first ten minutes; billing is down for ``outage_days`` days.

    Billing's subscription (its group, its queue) exists from the start;
    its consumer comes back after the outage.  Analytics reads every order
    at once.  Each broker keeps what billing has not read as long as its
    default says: Kafka ``retention.ms`` (7 days, read or not), SQS
    ``MessageRetentionPeriod`` (4 days), Service Bus ``DefaultMessageTimeToLive``
    (not set: kept), RabbitMQ (kept until acknowledged).  Returns
    ``handled by billing``, ``deleted before billing came back`` and
    ``read by analytics`` (of 10).
    """
    _profile(profile)
    checks.number("outage_days", outage_days, min=0, max=30)
    sim, broker = _shop(profile, trace=False)
    if profile == "kafka":
        broker.group("billing", start="earliest")
    Consumer(broker, "analytics", "orders", service_time=2)
    billing = Consumer(broker, "billing", "orders", service_time=2, start=False)
    if profile != "kafka":
        billing.group.subscribe(broker.topic("orders"))
    for i in range(1, 11):
        _publish(sim, broker, _order(i, i * MINUTE), i * MINUTE)
    sim.schedule(outage_days * DAY + 11 * MINUTE, billing.start)
    sim.run()
    handled = int(broker.groups["billing"].stats()["handled"])
    return {
        "handled by billing": handled,
        "deleted before billing came back": 10 - handled,
        "read by analytics": int(broker.groups["analytics"].stats()["handled"]),
    }


def retention_table(outage_days: float = 5.0) -> dict[str, dict[str, int]]:
    """:func:`retention` on every profile."""
    return {p: retention(p, outage_days) for p in PROFILES_COMPARED}


def draw_retention(tallies: Mapping[str, Mapping[str, int]], ax: Any = None) -> Any:
    """What billing found after its outage, per profile, as bars."""
    return _bars(
        tallies,
        ax,
        order=("handled by billing", "deleted before billing came back"),
        ylabel="orders (of 10)",
        title="billing comes back after an outage: what is still there?",
    )


# -- 3. competing consumers and order ---------------------------------------------------

_LIFECYCLE = ("OrderPlaced", "OrderPaid", "OrderShipped")

#: The setting that keeps one key's messages in order on each queue profile.
ORDER_FEATURE = {
    "kafka": None,  # partitions: always on
    "rabbitmq": "x-single-active-consumer",
    "sqs": None,  # standard queues have none
    "sqs-fifo": None,  # always on: the key is the MessageGroupId
    "service-bus": "RequiresSession",
}


def order_run(
    profile: str,
    consumers: int = 3,
    ordered: bool = False,
    seed: int = 1,
    *,
    settings: Mapping[str, Any] | None = None,
) -> BrokerRun:
    """Four orders, each ``OrderPlaced``, ``OrderPaid``, ``OrderShipped``, to competing consumers.

    The twelve events are published 1 ms apart; ``consumers`` members of
    group ``shipping`` take 5 to 25 ms each.  ``ordered`` turns on the
    profile's own ordering feature where it is a setting (RabbitMQ
    ``x-single-active-consumer``, Service Bus ``RequiresSession``); Kafka
    (3 partitions, the order id as key) and SQS FIFO (the key is the
    MessageGroupId) always keep it; SQS standard has none.  ``settings``,
    if given, are the profile's settings instead (the build exercise).  Counts:
    ``orders out of order`` (of 4), ``finished at`` (ms), ``busiest share``
    (% of the events one member handled).
    """
    _profile(profile)
    checks.integer("consumers", consumers, min=1, max=6)
    checks.boolean("ordered", ordered)
    feature = ORDER_FEATURE[profile]
    if settings is None:
        settings = {feature: True} if ordered and feature else {}
    sim, broker = _shop(profile, settings, seed=seed)
    for n in range(1, consumers + 1):
        Consumer(broker, f"shipping-{n}", "orders", group="shipping", service_time=Uniform(5, 25))
    events = []
    for k, order in enumerate((14, 15, 16, 17)):
        for j, kind in enumerate(_LIFECYCLE):
            i = 3 * k + j + 1
            e = Event(
                id=f"evt-{i:03d}",
                type=kind,
                time=float(i),
                key=f"order-{order}",
                source="order-service",
            )
            events.append(e)
            _publish(sim, broker, e, float(i))
    sim.run()
    first: dict[str, float] = {}
    by: dict[str, int] = {}
    for r in sim.trace.filter(kind="handled"):
        if r.event_id is not None and r.event_id not in first:
            first[r.event_id] = r.time
            by[r.actor] = by.get(r.actor, 0) + 1
    out_of_order = 0
    for order in (14, 15, 16, 17):
        mine = [e.id for e in events if e.key == f"order-{order}"]
        if sorted(mine, key=lambda eid: (first[eid], eid)) != mine:
            out_of_order += 1
    counts = {
        "orders out of order": out_of_order,
        "finished at": round(max(first.values())),
        "busiest share": round(100 * max(by.values()) / len(events)),
    }
    info = {"feature": feature if ordered else None, "consumers": consumers}
    return BrokerRun(profile, sim.trace, counts, info)


def order_table(consumers: int = 3, seed: int = 1) -> list[dict[str, Any]]:
    """:func:`order_run` on every profile, with and without its ordering setting."""
    rows = []
    for p in PROFILES_COMPARED:
        for ordered in (False, True) if ORDER_FEATURE[p] else (False,):
            run = order_run(p, consumers, ordered, seed)
            how = {
                "kafka": "partitions, key = order id",
                "sqs": "none (best effort)",
                "sqs-fifo": "message group = order id",
            }.get(p) or (f"{ORDER_FEATURE[p]}" if ordered else "default")
            rows.append({"profile": p, "order kept by": how, **run.counts})
    return rows


#: The profiles of the build exercise: every one that can keep a key in order.
ORDERED_PROFILES = ("kafka", "rabbitmq", "sqs-fifo", "service-bus")


def order_schedule(settings_for: Any, seed: int, trace: bool = False) -> Any:
    """One schedule of the build exercise: ``settings_for(profile)`` on one profile, one timing.

    The seed picks the profile (:data:`ORDERED_PROFILES` in turn), the
    number of shipping consumers (1 to 3) and the handling times.  Returns
    the first rule broken as a :class:`~evtlib.course.scenarios.build_check.Breach`
    (``"reordered"``: an order's events handled out of order; ``"error"``: not
    a dict of the profile's settings), or None.
    """
    from .build_check import Breach

    profile = ORDERED_PROFILES[seed % len(ORDERED_PROFILES)]
    consumers = 1 + (seed // len(ORDERED_PROFILES)) % 3
    chosen = settings_for(profile)
    if not isinstance(chosen, Mapping):
        return Breach(
            seed,
            "settings are a dict",
            "error",
            f"settings_for({profile!r}) returned {chosen!r}, not a dict of settings",
        )
    run = order_run(profile, consumers, seed=seed, settings=chosen)
    tr = run.trace if trace else None
    c = run.counts
    if c["orders out of order"]:
        return Breach(
            seed,
            "every order's events in order",
            "reordered",
            f"on {profile} with {consumers} consumers and settings {dict(chosen)!r},"
            f" {c['orders out of order']} of 4 orders were handled out of order",
            tr,
        )
    return None


def draw_order(run: BrokerRun, ax: Any = None) -> Any:
    """The run's timeline, one colour per order; the title says what was kept."""
    from ...viz import draw_timeline

    e_to_order = {
        f"evt-{3 * k + j + 1:03d}": f"order-{o}"
        for k, o in enumerate((14, 15, 16, 17))
        for j in range(3)
    }
    c = run.counts
    title = (
        f"{run.profile}"
        + (f" + {run.info['feature']}" if run.info.get("feature") else "")
        + f", {run.info['consumers']} consumers: {c['orders out of order']} of 4 orders out of"
        f" order, done at {c['finished at']} ms"
    )
    drawn = draw_timeline(
        run.trace,
        ax,
        color_by="correlation",
        broker=e_to_order,
        hide=("committed", "joined", "rebalanced"),
        held=False,
        title=title,
    )
    ax = drawn.ax
    # Not colour alone: each handling is numbered with its step in its order (1 placed,
    # 2 paid, 3 shipped), and the legend names each order's colour.
    lane = {a: -i for i, a in enumerate(drawn.lanes)}
    seen: set[str] = set()
    for r in run.trace.filter(kind="handled"):
        if r.event_id in seen or r.event_id is None:
            continue
        seen.add(r.event_id)
        step = (int(r.event_id.split("-")[1]) - 1) % 3 + 1
        ax.annotate(
            f"{step}",
            (r.time, lane[r.actor]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    from matplotlib.lines import Line2D

    from ...viz.style import first_seen_colors

    color_of = first_seen_colors()
    color_of(None)  # as draw_timeline does: the first colour goes to "no event"
    handles = list(ax.get_legend().legend_handles)
    handles.append(Line2D([], [], ls="", label="1-3: step in order"))
    for o in (14, 15, 16, 17):
        handles.append(
            Line2D(
                [], [], ls="", marker="s", ms=7, color=color_of(f"order-{o}"), label=f"order-{o}"
            )
        )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=10,
        frameon=False,
        borderaxespad=0,
    )
    return ax


# -- 4. the timeout that redelivers ------------------------------------------------------


class _StallsOnce(Duration):
    """The first handling takes ``slow`` ms, every later one ``fast``: a member that hangs once."""

    def __init__(self, slow: float, fast: float) -> None:
        self.slow = slow
        self.fast = fast
        self.mean = fast
        self._calls = 0

    def sample(self, rng: Any) -> float:
        self._calls += 1
        return self.slow if self._calls == 1 else self.fast

    def sampler(self, rng: Any) -> Any:
        return lambda: self.sample(rng)


def timeout_run(profile: str, stall: float = 1.5) -> BrokerRun:
    """Billing has two members; ``billing-1`` hangs on its first order for ``stall`` x the timeout.

    The timeout is the profile's own default (:data:`TIMEOUT_SETTING`).
    Six orders arrive at once.  RabbitMQ's members take up to 3
    unacknowledged messages each (``basic.qos`` prefetch 3); an SQS or Service
    Bus member receives one message at a time (SQS ``MaxNumberOfMessages``
    and Service Bus ``PrefetchCount`` defaults); Kafka's members own
    partitions (3, keyed by order).  Counts: ``timeout (ms)``,
    ``redelivered`` (deliveries after the timeout), ``handled twice``.
    """
    _profile(profile)
    checks.number("stall", stall, above=1.0, max=10.0)
    timeout = float(PROFILES[profile].settings[TIMEOUT_SETTING[profile]])
    options: dict[str, Any] = {"prefetch": 3} if profile == "rabbitmq" else {}
    sim, broker = _shop(profile, **options)
    slow = _StallsOnce(stall * timeout, 10.0)
    Consumer(broker, "billing-1", "orders", group="billing", service_time=slow)
    Consumer(broker, "billing-2", "orders", group="billing", service_time=10.0)
    for i in range(1, 7):
        _publish(sim, broker, _order(i, float(i)), float(i))
    sim.run()
    handled: dict[str, int] = {}
    for r in sim.trace.filter(kind="handled"):
        if r.event_id is not None:
            handled[r.event_id] = handled.get(r.event_id, 0) + 1
    counts = {
        "timeout (ms)": int(timeout),
        "redelivered": sum(1 for _ in sim.trace.filter(kind="redelivered")),
        "handled twice": sum(1 for n in handled.values() if n > 1),
    }
    return BrokerRun(profile, sim.trace, counts, {"setting": TIMEOUT_SETTING[profile]})


def draw_timeouts(runs: Mapping[str, BrokerRun], fig: Any = None) -> Any:
    """One timeline per run, stacked, each on its own time scale (minutes); return the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter

    from ...viz import draw_timeline

    n = len(runs)
    if fig is None:
        fig = plt.figure(figsize=(10, 2.1 * n))
        # Fixed margins (cheaper than a layout engine): lane names left, legends right.
        fig.subplots_adjust(left=0.1, right=0.78, top=1 - 0.3 / (2.1 * n), bottom=0.5 / (2.1 * n))
        fig.subplots_adjust(hspace=0.95)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    minutes = FuncFormatter(lambda x, _: f"{x / MINUTE:g}")
    for ax, (name, run) in zip(axes, runs.items(), strict=True):
        c = run.counts
        timeout = c["timeout (ms)"]
        draw_timeline(
            run.trace,
            ax,
            hide=("committed", "delivered", "published"),
            title=(
                f"{name}: {run.info['setting']} = {timeout / MINUTE:g} min;"
                f" {c['redelivered']} redelivered, {c['handled twice']} handled twice"
            ),
        )
        ax.xaxis.set_major_locator(FixedLocator([0, timeout / 2, timeout, 1.5 * timeout]))
        ax.xaxis.set_major_formatter(minutes)
        ax.set_xlabel("simulated time (min)")
    return fig


# -- 5. a full queue ----------------------------------------------------------------------


def full_queue(
    profile: str, limit: int = 5, overflow: str = "drop-head", orders: int = 12
) -> dict[str, int]:
    """``orders`` orders while billing is down; the queue holds ``limit`` of them.

    RabbitMQ: ``x-max-length = limit`` with ``x-overflow`` = ``overflow``
    (``"drop-head"``: the oldest message goes to the dead-letter exchange,
    reason ``maxlen``; ``"reject-publish"``: the publisher gets a nack).
    Service Bus: a 1 MB ``MaxSizeInMegabytes`` quota, each order about
    1/``limit`` MB, so it too holds about ``limit``: the sender gets
    ``QuotaExceeded``.  SQS and Kafka keep all of them (SQS stores
    unlimited messages; Kafka keeps them for ``retention.ms``).  Counts:
    ``accepted``, ``refused (publisher told)``, ``dropped (publisher not told)``,
    ``handled`` (after billing came back).
    """
    _profile(profile)
    checks.integer("limit", limit, min=1, max=20)
    checks.one_of("overflow", overflow, ("drop-head", "reject-publish"))
    checks.integer("orders", orders, min=1, max=40)
    settings: dict[str, Any] = {}
    pad = ""
    if profile == "rabbitmq":
        settings = {"x-max-length": limit, "x-overflow": overflow}
    elif profile == "service-bus":
        settings = {"MaxSizeInMegabytes": 1}
        pad = "x" * (1_048_576 // limit - 400)
    sim, broker = _shop(profile, settings, trace=False)
    billing = Consumer(broker, "billing", "orders", service_time=2, start=False)
    if profile == "kafka":
        billing.group.subscribe(broker.topic("orders"))
    accepted = refused = 0
    for i in range(1, orders + 1):
        try:
            broker.publish("orders", _order(i, 0.0, pad=pad), actor="order-service")
            accepted += 1
        except BufferFullError:
            refused += 1
    sim.schedule(1000.0, billing.start)
    sim.run()
    stats = broker.groups["billing"].stats()
    handled = int(stats["handled"])
    return {
        "accepted": accepted,
        "refused (publisher told)": refused,
        "dropped (publisher not told)": accepted - handled,
        "handled": handled,
    }


def full_queue_table(limit: int = 5, orders: int = 12) -> dict[str, dict[str, int]]:
    """:func:`full_queue` on every profile, RabbitMQ with both overflow settings."""
    out = {}
    for p in PROFILES_COMPARED:
        if p == "rabbitmq":
            out["rabbitmq, drop-head"] = full_queue(p, limit, "drop-head", orders)
            out["rabbitmq, reject-publish"] = full_queue(p, limit, "reject-publish", orders)
        else:
            out[p] = full_queue(p, limit, orders=orders)
    return out


def draw_full_queue(tallies: Mapping[str, Mapping[str, int]], ax: Any = None) -> Any:
    """What happened to each order sent to a full queue, per profile, as bars."""
    return _bars(
        tallies,
        ax,
        order=("accepted", "refused (publisher told)", "dropped (publisher not told)", "handled"),
        ylabel="orders",
        title="12 orders while billing is down; its queue holds about 5",
    )


# -- 6. a poison message ------------------------------------------------------------------


#: How billing's code gives a failed order back, per profile: RabbitMQ ``basic.nack`` with
#: requeue and Service Bus ``Abandon`` at once; on SQS the message simply is not deleted and
#: becomes visible again after ``VisibilityTimeout`` (30 s); on Kafka billing's own code
#: retries, here every 30 s too.
POISON_RETRY_MS = {
    "kafka": 30_000.0,
    "rabbitmq": 0.0,
    "sqs": 30_000.0,
    "sqs-fifo": 30_000.0,
    "service-bus": 0.0,
}


def _poison_run(profile: str, limit: int | None, minutes: float) -> tuple[Any, dict[str, int]]:
    _profile(profile)
    checks.number("minutes", minutes, above=0, max=60)
    settings = {}
    if limit is not None:
        name = DELIVERY_LIMIT[profile]
        if name is None:
            raise ValueError(
                f"limit must be None on the kafka profile, got {limit!r}: Kafka has no delivery"
                " limit and no native dead-letter queue (your code publishes to a dead-letter"
                " topic)"
            )
        settings[name] = checks.integer("limit", limit, min=1, max=50)
    options: dict[str, Any] = {} if profile == "kafka" else {"prefetch": 2}
    sim, broker = _shop(profile, settings, trace=False, **options)

    def charge(event: Event) -> None:
        if event.id == "evt-003":
            raise ValueError("the card number is unreadable")

    Consumer(
        broker,
        "billing",
        "orders",
        charge,
        service_time=5,
        retry_delay=POISON_RETRY_MS[profile],
    )
    for i in range(1, 7):
        _publish(sim, broker, _order(i, float(i)), float(i))
    sim.run(until=minutes * MINUTE)
    stats = broker.groups["billing"].stats()
    return broker, {
        "deliveries of the poison order": 1 + int(stats["redelivered"]),
        "dead-lettered by the broker": int(stats.get("dead_lettered", 0)),
        "good orders handled": int(stats["handled"]),
    }


def poison(profile: str, limit: int | None = None, minutes: float = 10.0) -> dict[str, int]:
    """Six orders; ``evt-003`` always fails.  Who stops delivering it, and when?

    Billing gives a failed order back as each broker's client does
    (:data:`POISON_RETRY_MS`).  ``limit`` sets the profile's own delivery
    limit (:data:`DELIVERY_LIMIT`: RabbitMQ ``x-delivery-limit``, SQS
    ``maxReceiveCount``, Service Bus ``MaxDeliveryCount``); None keeps the
    default (RabbitMQ 20, Service Bus 10, SQS none: no redrive policy).  Kafka
    has no such setting.  The run lasts ``minutes``.  Counts: ``deliveries of
    the poison order``, ``dead-lettered by the broker``, ``good orders handled``
    (of 5).
    """
    return _poison_run(profile, limit, minutes)[1]


def poison_broker(profile: str, limit: int | None = None, minutes: float = 10.0) -> Any:
    """The broker of :func:`poison` after its run, to draw (:func:`~evtlib.viz.draw_flow`)."""
    return _poison_run(profile, limit, minutes)[0]


def poison_table(minutes: float = 10.0) -> dict[str, dict[str, int]]:
    """:func:`poison` on every profile with its defaults, and SQS with a redrive policy."""
    out = {p: poison(p, minutes=minutes) for p in PROFILES_COMPARED}
    out["sqs, maxReceiveCount 5"] = poison("sqs", 5, minutes)
    return out


def draw_poison(tallies: Mapping[str, Mapping[str, int]], ax: Any = None) -> Any:
    """How often the poison order was delivered and who dead-lettered it, as bars."""
    return _bars(
        tallies,
        ax,
        order=(
            "deliveries of the poison order",
            "dead-lettered by the broker",
            "good orders handled",
        ),
        ylabel="deliveries / orders",
        title="one order always fails: who stops delivering it?",
    )


# -- 7. duplicates ------------------------------------------------------------------------


def duplicates(
    profile: str, resend_after_min: float = 1.0, detection: bool = False, seed: int = 1
) -> dict[str, int]:
    """Ten orders; the order service sends orders 3 and 7 again ``resend_after_min`` later.

    A resend of the same event (same id) after a timeout that hid the
    first send's success.  SQS FIFO drops it within its 5-minute
    deduplication interval; Service Bus with ``detection``
    (``RequiresDuplicateDetection``, off by default) within its 10-minute
    window; the others deliver it again.  On SQS standard a few handled
    messages are also delivered again by SQS itself (``duplicates=0.1``, a
    rate chosen for the picture: AWS says only "occasionally").  Kafka's
    idempotent producer removes the duplicates of its own retries of one
    send, not an application's second send.  Counts: ``orders``, ``handled``,
    ``handled more than once``.
    """
    _profile(profile)
    checks.number("resend_after_min", resend_after_min, min=0, max=30)
    checks.boolean("detection", detection)
    settings = {}
    if detection:
        if profile != "service-bus":
            raise ValueError(
                f"detection must be False on the {profile} profile, got True:"
                " RequiresDuplicateDetection is a Service Bus setting (SQS FIFO always"
                " deduplicates within 5 minutes)"
            )
        settings["RequiresDuplicateDetection"] = True
    options: dict[str, Any] = {"duplicates": 0.1} if profile == "sqs" else {}
    sim, broker = _shop(profile, settings, seed=seed, trace=False, **options)
    Consumer(broker, "billing", "orders", service_time=2)
    for i in range(1, 11):
        _publish(sim, broker, _order(i, i * 1000.0), i * 1000.0)
    for i in (3, 7):
        at = i * 1000.0 + resend_after_min * MINUTE
        _publish(sim, broker, _order(i, i * 1000.0), at)
    sim.run()
    stats = broker.groups["billing"].stats()
    handled = int(stats["handled"])
    return {
        "orders": 10,
        "handled": handled,
        "handled more than once": handled - 10,
    }


def duplicates_table(resend_after_min: float = 1.0) -> dict[str, dict[str, int]]:
    """:func:`duplicates` on every profile, Service Bus with and without detection."""
    out = {p: duplicates(p, resend_after_min) for p in PROFILES_COMPARED}
    out["service-bus, duplicate detection"] = duplicates("service-bus", resend_after_min, True)
    return out


def draw_duplicates(tallies: Mapping[str, Mapping[str, int]], ax: Any = None) -> Any:
    """How many handlings the resent orders caused, per profile, as bars."""
    return _bars(
        tallies,
        ax,
        order=("handled", "handled more than once"),
        ylabel="handlings of 10 orders",
        title="orders 3 and 7 sent twice: who handles them twice?",
    )


# -- the table to keep ------------------------------------------------------------------------


def _setting(profile: str, name: str) -> str:
    """``name = value`` for one setting of ``profile``, its value shown in its unit."""
    s = PROFILES[profile].setting(name)
    v = s.default
    if v is None:
        shown = "not set"
    elif s.unit == "ms":
        shown = _duration(float(v))
    else:
        shown = f"{v}"
    return f"`{name}` {shown}"


def _duration(ms: float) -> str:
    for unit, size in (("days", DAY), ("h", 3_600_000.0), ("min", MINUTE), ("s", 1000.0)):
        if ms >= size and ms % size == 0 or ms >= 10 * size:
            return f"{ms / size:g} {unit}"
    return f"{ms:g} ms"


def keep_table() -> str:
    """The table to keep, as Markdown: one row per question, one column per broker.

    Defaults come from :mod:`evtlib.profiles` (so they cannot drift from the
    simulation); the words are the behaviours the notebook showed.
    """
    s = _setting
    rows = [
        (
            "a new subscriber sees history?",
            f"only with `auto.offset.reset` earliest (default: {s('kafka', 'auto.offset.reset')})",
            "no: a queue gets what is published after it is bound",
            "no: a queue subscribed to SNS gets what is published after",
            "no (as SQS)",
            "no: a subscription gets what is published after it exists",
        ),
        (
            "how long kept",
            f"{s('kafka', 'retention.ms')}, read or not",
            f"until acknowledged; {s('rabbitmq', 'x-message-ttl')}",
            f"until deleted; {s('sqs', 'MessageRetentionPeriod')}",
            f"as SQS: {s('sqs-fifo', 'MessageRetentionPeriod')}",
            f"until completed; {s('service-bus', 'DefaultMessageTimeToLive')} (never expires)",
        ),
        (
            "competing consumers share",
            "partitions: one member per partition",
            "messages, one by one",
            "messages, one by one",
            "message groups, one by one",
            "messages (sessions: one receiver per session)",
        ),
        (
            "order per key",
            "per partition (the key picks it)",
            f"one consumer and no requeues; {s('rabbitmq', 'x-single-active-consumer')}",
            "best effort only",
            "per MessageGroupId",
            f"per session: {s('service-bus', 'RequiresSession')}",
        ),
        (
            "the timeout that redelivers",
            f"{s('kafka', 'max.poll.interval.ms')}: member evicted, partitions reassigned",
            f"{s('rabbitmq', 'consumer_timeout')}: channel closed, all its unacked requeued"
            " (up to 4.2)",
            f"{s('sqs', 'VisibilityTimeout')}: that message visible again",
            f"{s('sqs-fifo', 'VisibilityTimeout')}: that message visible again",
            f"{s('service-bus', 'LockDuration')}: that message's lock lost",
        ),
        (
            "a full queue",
            "no length limit: retention deletes",
            f"{s('rabbitmq', 'x-max-length')}; {s('rabbitmq', 'x-overflow')}"
            " (or reject-publish: a nack)",
            "practically unbounded",
            "practically unbounded",
            f"{s('service-bus', 'MaxSizeInMegabytes')} MB quota: the send fails",
        ),
        (
            "who dead-letters a poison message",
            "nobody: your code, to a dead-letter topic",
            f"the broker: {s('rabbitmq', 'x-delivery-limit')} (from 4.0)",
            f"the broker, with a redrive policy: {s('sqs', 'maxReceiveCount')}",
            f"as SQS: {s('sqs-fifo', 'maxReceiveCount')}",
            f"the broker: {s('service-bus', 'MaxDeliveryCount')}",
        ),
        (
            "duplicates",
            f"{s('kafka', 'enable.idempotence')}: a producer retry is not appended twice",
            "a redelivery after a lost ack; publisher confirms",
            "at-least-once: occasional duplicates",
            f"dropped within {s('sqs-fifo', 'deduplication interval')}",
            f"{s('service-bus', 'RequiresDuplicateDetection')}; window"
            f" {_duration(float(PROFILES['service-bus'].settings['DuplicateDetectionHistoryTimeWindow']))}",
        ),
    ]
    head = "| | Kafka | RabbitMQ (quorum queue) | SQS standard | SQS FIFO | Azure Service Bus |"
    lines = [head, "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| **" + row[0] + "** | " + " | ".join(row[1:]) + " |")
    return "\n".join(lines)

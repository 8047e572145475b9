"""Explorers of notebook 04, delivery guarantees: a crash's cost, and an outage against retention.

* :func:`crash_outcomes` crashes billing once under both delivery modes
  (:func:`~evtlib.course.scenarios.billing_crash`) and tallies what each did
  to every order; :func:`draw_crash_outcomes` draws the two tallies.
  Knobs: when the crash comes, how often billing commits, how long it is down.
* :func:`outage_retention` stops shipping for a while on a broker with the
  ``kafka`` profile and a short ``retention.ms``; :func:`draw_outage_retention`
  draws the consumer lag and counts the orders the log deleted before
  shipping read them.  Knobs: the outage and the retention.
* :func:`three_timeouts` runs the same slow e-mail service on four
  profiles, each with its own timeout set to the same value, and says
  what each timeout redelivered.
* :func:`producer_experience` runs the same slow consumer on each broker
  setting of :data:`~evtlib.course.scenarios.delivery.SETUPS`
  (:func:`~evtlib.course.scenarios.backpressure`); :func:`draw_backpressure`
  draws what the producer experienced beside the backlog.  Knobs: how slow
  shipping is, the queues' bound, Kafka's retention.

Pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

from typing import Any, Literal

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Exponential, Rate
from ...faults import crash
from ...producer import Producer
from ...sim import Simulation
from .base import Run, key_of, make_order
from .delivery import SETUPS, TIMEOUTS, backpressure, billing_crash, charge_tally

__all__ = [
    "MODES",
    "crash_outcomes",
    "draw_crash_outcomes",
    "RESETS",
    "outage_retention",
    "draw_outage_retention",
    "producer_experience",
    "draw_backpressure",
    "three_timeouts",
]

#: Kafka's ``auto.offset.reset`` values: where a group whose offset fell off the log restarts.
RESETS = ("latest", "earliest")
#: The two delivery modes compared.
MODES: tuple[Literal["at-most-once", "at-least-once"], ...] = ("at-most-once", "at-least-once")


def crash_outcomes(
    *, crash_at: float = 85.0, commit_every: int = 5, restart_after: float = 50.0, seed: int = 1
) -> dict[str, dict[str, int]]:
    """The same crash under both modes: ``{mode: charge_tally}`` for 20 orders."""
    checks.number("crash_at", crash_at, min=0)
    checks.integer("commit_every", commit_every, min=1)
    checks.number("restart_after", restart_after, min=0)
    return {
        mode: charge_tally(
            billing_crash(
                mode,
                seed=seed,
                crash_at=crash_at,
                commit_every=commit_every,
                restart_after=restart_after,
            )
        )
        for mode in MODES
    }


def draw_crash_outcomes(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """The two tallies of :func:`crash_outcomes` side by side."""
    from ...viz import draw_outcomes

    lost = tallies["at-most-once"]["never charged"]
    twice = tallies["at-least-once"]["charged twice"]
    return draw_outcomes(
        tallies["at-most-once"],
        tallies["at-least-once"],
        labels=MODES,
        ax=ax,
        order=("charged once", "charged twice", "never charged"),
        unit="orders",
        title=f"the same crash: {lost} never charged, or {twice} charged twice",
    )


def outage_retention(
    *,
    down_for: float = 600.0,
    retention_ms: float = 800.0,
    reset: str = "latest",
    rate: float = 50.0,
    down_at: float = 500.0,
    until: float = 2000.0,
    seed: int = 3,
) -> Run:
    """Shipping is down ``down_for`` ms on a Kafka-like log that keeps events ``retention_ms``.

    The broker has the ``kafka`` profile with ``retention.ms`` set to
    ``retention_ms`` (Kafka's default is 7 days; a short one here so that
    an outage can outlast it).  Retention deletes events whether or not
    anyone read them.  When shipping comes back and its committed offset
    is no longer in the log, the group is reset as ``auto.offset.reset``
    (``reset``) says: ``"latest"`` (Kafka's default) jumps to the end,
    skipping every order still waiting; ``"earliest"`` goes to the oldest
    order still kept.  ``info`` has ``published``, ``shipped`` and
    ``expired`` (the group's count of orders it never read).
    """
    checks.number("down_for", down_for, min=0)
    checks.number("retention_ms", retention_ms, above=0)
    checks.one_of("reset", reset, RESETS)
    sim = Simulation(seed=seed)
    settings = {"retention.ms": retention_ms, "auto.offset.reset": reset}
    broker = Broker(sim, profile="kafka", settings=settings, latency=1.0)
    broker.create_topic("orders")
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("shipping", session_timeout=0)
    shipped: list[str] = []
    shipping = Consumer(
        broker, "shipping", "orders", lambda e: shipped.append(key_of(e)), service_time=5.0
    )
    shop_ = Producer(broker, "shop", "orders", Rate(rate), until=until, make=make_order)
    if down_for > 0:
        crash(sim, shipping, at=down_at, restart_after=down_for)
    sim.run()
    stats = shipping.group.stats()
    info = {"published": shop_.published, "shipped": len(set(shipped)), "expired": stats["expired"]}
    return Run(sim, broker, shop_, (shipping,), tuple(shipped), info)


def draw_outage_retention(run: Run, ax: Any = None) -> Any:
    """The consumer lag of :func:`outage_retention`, titled with what retention deleted."""
    from ...viz import draw_consumer_lag

    info = run.info
    return draw_consumer_lag(
        run.group,
        ax=ax,
        title=f"{info['shipped']} of {info['published']} orders shipped, {info['expired']} never read",
    )


def producer_experience(
    *,
    service_ms: float = 40.0,
    bound: int = 10,
    retention_ms: float | None = None,
    seed: int = 3,
) -> dict[str, dict[str, Any]]:
    """The same slow shipping on every broker setting: ``{setup: info}`` (see :func:`backpressure`).

    ``retention_ms`` is Kafka's ``retention.ms`` (None: its default, 7
    days); ``bound`` the RabbitMQ queues' ``x-max-length`` and about how
    many orders fit in the Service Bus quota.
    """
    return {
        setup: dict(
            backpressure(
                setup,
                service_ms=service_ms,
                bound=bound,
                retention_ms=retention_ms if setup == "kafka" else None,
                seed=seed,
            ).info
        )
        for setup in SETUPS
    }


def draw_backpressure(infos: dict[str, dict[str, Any]], ax: Any = None) -> Any:
    """What the producer experienced per setting, beside the backlog over time; the Figure.

    ``ax``: two Axes to draw on (an explorer's redraw), or None for a new figure.
    """
    import matplotlib.pyplot as plt

    from ...viz.producer import draw_backlog, draw_producer_experience

    if ax is None:
        fig, axes = plt.subplots(
            1, 2, figsize=(15, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1.35, 1]}
        )
    else:
        axes = ax
        fig = axes[0].figure
    told = sum(i["refused"] for i in infos.values())
    silent = sum(i["dropped"] + i["deleted_unread"] for i in infos.values())
    draw_producer_experience(
        infos,
        axes[0],
        title=f"the producer: never blocked; told of {told} refusals, not told of {silent} losses",
    )
    draw_backlog(infos, axes[1], title="orders accepted and not yet shipped")
    return fig


def three_timeouts(
    *, timeout_ms: float = 40.0, seed: int = 27, orders: int = 12
) -> dict[str, dict[str, Any]]:
    """One slow e-mail service on each broker, each with its own timeout at ``timeout_ms``.

    The service handles two e-mails at a time (``concurrency=2``: two
    partitions on ``kafka``, two unacknowledged messages on a queue), 15 ms
    each on average, now and then much longer.  Per profile: ``timeout``
    (the setting), ``did`` (what the first expiry did, in the trace's
    words), ``redelivered`` (the orders delivered again) and ``late``
    (those whose own handling outlasted the timeout).
    """
    checks.number("timeout_ms", timeout_ms, above=0)
    out: dict[str, dict[str, Any]] = {}
    for profile, setting in TIMEOUTS.items():
        sim = Simulation(seed=seed)
        broker = Broker(sim, profile=profile, settings={setting: timeout_ms}, latency=1.0)
        broker.create_topic("orders", partitions=2 if profile == "kafka" else 1)
        Consumer(broker, "email", "orders", service_time=Exponential(15.0), concurrency=2)
        Producer(broker, "shop", "orders", Rate(40.0), count=orders, make=make_order)
        sim.run()
        trace = sim.trace
        expiries = trace.filter(kind=("timeout", "evicted"))
        late = {r.event_id for r in expiries}
        redelivered = list(dict.fromkeys(r.event_id for r in trace.filter(kind="redelivered")))
        keys = {e.id: key_of(e) for e in broker.producers[0].emitted}
        out[profile] = {
            "timeout": setting,
            "did": expiries[0].detail if expiries else "nothing: no handling outlasted it",
            "redelivered": [keys[i] for i in redelivered],
            "late": [keys[i] for i in redelivered if i in late],
        }
    return out

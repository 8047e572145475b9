"""Explorers of notebook 01, events: chains of reactions, and a schema rolled out halfway.

* :func:`reaction_chains` runs the shop's chain (order -> payment -> shipping
  -> e-mail) for a few orders; :func:`draw_chains` draws it coloured by
  correlation id.  Knobs: how far apart the orders are, how slow payment is.
* :func:`schema_rollout` reads a log where some ``OrderPlaced`` events are
  still version 1 (``total`` in euros) and the rest version 2
  (``total_cents``), with three readers; :func:`draw_rollout` draws the
  outcome per reader.  Knobs: the share of old events, and what a failing
  reader does (stop at the failure, as an at-least-once consumer does, or skip).

Scenarios are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Schedule
from ...events import Event, Upcaster
from ...producer import Producer
from ...sim import Simulation
from .base import Run

__all__ = [
    "reaction_chains",
    "draw_chains",
    "READERS",
    "ON_ERROR",
    "ROLLOUT_OUTCOMES",
    "schema_rollout",
    "draw_rollout",
]

_CHAIN = (
    ("payment", "orders", "PaymentCaptured", "payments"),
    ("shipping", "payments", "ParcelShipped", "shipments"),
    ("email", "shipments", "CustomerNotified", "notifications"),
)


def reaction_chains(
    *, orders: int = 2, gap_ms: float = 3.0, payment_ms: float = 6.0, seed: int = 1
) -> Run:
    """``orders`` orders ``gap_ms`` apart, each setting off payment -> shipping -> e-mail.

    Payment takes ``payment_ms`` per order, shipping 4 ms, e-mail 2 ms;
    each reaction is made with ``event.reaction(...)``, so it carries the
    correlation id of the order that started its chain.  ``effects`` lists
    the ``CustomerNotified`` events' correlation ids, in the order the
    chains finished.
    """
    checks.integer("orders", orders, min=1)
    checks.number("gap_ms", gap_ms, min=0)
    checks.number("payment_ms", payment_ms, min=0)
    if orders > 20:
        raise ValueError(f"orders must be <= 20 (a timeline stays legible), got {orders}")
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1)
    for topic in ("orders", "payments", "shipments", "notifications"):
        broker.create_topic(topic)
    done: list[str] = []
    took: dict[str, float] = {}

    def reacting(service: str, new_type: str, topic: str) -> Any:
        def handle(event: Event) -> None:
            reaction = event.reaction(id=sim.next_id(), type=new_type, time=sim.now, source=service)
            broker.publish(topic, reaction, actor=service)
            if new_type == "CustomerNotified":
                done.append(str(reaction.correlation_id))
                took[str(reaction.correlation_id)] = sim.now

        return handle

    producer = Producer(
        broker, "order-service", "orders", Schedule([i * gap_ms for i in range(orders)])
    )
    times = {"payment": payment_ms, "shipping": 4.0, "email": 2.0}
    consumers = tuple(
        Consumer(
            broker, service, source, reacting(service, new_type, topic), service_time=times[service]
        )
        for service, source, new_type, topic in _CHAIN
    )
    sim.run()
    for order in producer.emitted:
        took[order.id] -= order.time
    return Run(sim, broker, producer, consumers, tuple(done), {"order_to_email_ms": took})


def draw_chains(run: Run, ax: Any = None) -> Any:
    """The run of :func:`reaction_chains` as a timeline, one colour per correlation id."""
    from ...viz import draw_timeline

    took = run.info["order_to_email_ms"]
    fastest, slowest = min(took.values()), max(took.values())
    title = (
        f"{len(took)} chains, one per correlation id: order to e-mail {fastest:g} to {slowest:g} ms"
    )
    return draw_timeline(
        run.trace,
        ax=ax,
        broker=run.broker,
        color_by="correlation",
        hide=("committed", "joined", "rebalanced"),
        title=title,
    )


#: The readers :func:`schema_rollout` compares.
READERS = ("strict", "defaulting", "upcaster")
#: What a reader does when reading an event raises: stop there (at-least-once) or skip it.
ON_ERROR = ("stop", "skip")
#: The outcomes :func:`schema_rollout` counts, per reader.
ROLLOUT_OUTCOMES = ("read right", "silently wrong", "failed", "stuck behind a failure")


def _rollout_log(events: int, old: int) -> list[Event]:
    log = []
    for i in range(1, events + 1):
        euros = 10 + (i * 7) % 90
        if i <= old:  # the oldest events were written before the change
            data: dict[str, Any] = {"order_id": f"order-{i}", "total": euros}
            version = 1
        else:
            data = {"order_id": f"order-{i}", "total_cents": euros * 100}
            version = 2
        log.append(
            Event(
                id=f"evt-{i:06d}",
                type="OrderPlaced",
                time=float(i),
                source="order-service",
                key=f"order-{i}",
                data=data,
                version=version,
            )
        )
    return log


def schema_rollout(
    *, old_share: float = 50, events: int = 40, on_error: str = "stop"
) -> dict[str, dict[str, int]]:
    """Three readers of ``total_cents`` (version 2) meet a log still ``old_share`` % version 1.

    Version 1 said ``total`` (euros); version 2 says ``total_cents``.  The
    oldest ``old_share`` % of ``events`` events are version 1.  Readers:

    * ``strict``: ``data["total_cents"]``, raises ``KeyError`` on an old event;
    * ``defaulting``: ``data.get("total_cents", 0)``, reads an old order as 0, silently
      (not Fowler's Tolerant Reader, which ignores fields it does not use but
      still requires the ones it does);
    * ``upcaster``: an :class:`~evtlib.Upcaster` v1 -> v2 first, then strict.

    ``on_error`` is what a reader does when reading raises: ``"stop"`` (an
    at-least-once consumer retries the same event for ever: everything
    behind it waits) or ``"skip"``.  Returns ``{reader: {outcome: count}}``
    with the outcomes of :data:`ROLLOUT_OUTCOMES`.
    """
    checks.number("old_share", old_share, min=0)
    if old_share > 100:
        raise ValueError(f"old_share must be a percentage from 0 to 100, got {old_share!r}")
    checks.integer("events", events, min=1)
    checks.one_of("on_error", on_error, ON_ERROR)
    log = _rollout_log(events, round(events * old_share / 100))
    upcaster = Upcaster()
    upcaster.register(
        "OrderPlaced", 1, lambda d: {"order_id": d["order_id"], "total_cents": d["total"] * 100}
    )
    truth = {
        e.id: (e.data["total"] * 100 if e.version == 1 else e.data["total_cents"]) for e in log
    }
    readers = {
        "strict": lambda e: e.data["total_cents"],
        "defaulting": lambda e: e.data.get("total_cents", 0),
        "upcaster": lambda e: upcaster.upcast(e).data["total_cents"],
    }
    out: dict[str, dict[str, int]] = {}
    for name, read in readers.items():
        tally = dict.fromkeys(ROLLOUT_OUTCOMES, 0)
        for k, event in enumerate(log):
            try:
                cents = read(event)
            except KeyError:
                tally["failed"] += 1
                if on_error == "stop":
                    tally["stuck behind a failure"] += len(log) - k - 1
                    break
                continue
            tally["read right" if cents == truth[event.id] else "silently wrong"] += 1
        out[name] = tally
    return out


def draw_rollout(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """The outcome per reader of :func:`schema_rollout`, as grouped bars."""
    from ...viz import draw_tallies

    events = sum(next(iter(tallies.values())).values())
    wrong = tallies["defaulting"]["silently wrong"]
    return draw_tallies(
        tallies,
        ax=ax,
        order=ROLLOUT_OUTCOMES,
        ylabel="events",
        title=f"{events} events: the defaulting reader got {wrong} wrong and said nothing",
    )

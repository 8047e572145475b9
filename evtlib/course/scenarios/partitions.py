"""Explorer of notebook 02: what the key does to per-order order, with more or fewer partitions.

:func:`key_order` publishes the life of a few orders (placed, paid, shipped,
back to back) to a topic read by a group of shipping consumers, with the
order id as the key or with no key (round-robin over the partitions);
:func:`draw_key_order` draws the run, one colour per order, and says how
many orders were handled out of their own order.

Pure and seeded: the same arguments give the same run.
"""

from __future__ import annotations

from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Rate, Uniform
from ...producer import Producer
from ...sim import Simulation
from .base import Run

__all__ = ["KEYS", "LIFE", "key_order", "draw_key_order"]

#: The key choices :func:`key_order` offers.
KEYS = ("order id", "none")
#: An order's events, in the order they are published.
LIFE = ("OrderPlaced", "OrderPaid", "OrderShipped")


def key_order(
    *,
    key: str = "order id",
    partitions: int = 3,
    consumers: int = 3,
    orders: int = 4,
    seed: int = 3,
) -> Run:
    """``orders`` orders, three events each, handled by ``consumers`` members of one group.

    ``key="order id"`` keys each event by its order (one order, one
    partition); ``key="none"`` publishes without a key, so the events go
    round-robin over ``partitions``.  Handling takes a random 1 to 10 ms.
    ``info["out_of_order"]`` lists the orders whose events were handled in
    another order than published; ``effects`` are the handled event types
    as ``"order-N:Type"``.
    """
    checks.one_of("key", key, KEYS)
    checks.integer("partitions", partitions, min=1, max=12)
    checks.integer("consumers", consumers, min=1, max=12)
    checks.integer("orders", orders, min=1, max=12)
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders", partitions=partitions)
    names = [f"order-{14 + n}" for n in range(orders)]

    def make(i: int, rng: Any) -> tuple[str, str | None, dict[str, Any]]:
        order = names[(i - 1) // 3]
        return LIFE[(i - 1) % 3], (order if key == "order id" else None), {"order_id": order}

    producer = Producer(
        broker, "order-service", "orders", Rate(per_second=500), count=3 * orders, make=make
    )
    handled: list[str] = []
    members = tuple(
        Consumer(
            broker,
            f"shipping-{n}",
            "orders",
            lambda e: handled.append(f"{e.data['order_id']}:{e.type}"),
            group="shipping",
            service_time=Uniform(1, 10),
        )
        for n in range(1, consumers + 1)
    )
    sim.run()
    wrong = []
    for order in names:
        seen = [h.split(":")[1] for h in handled if h.split(":")[0] == order]
        if seen != list(LIFE):
            wrong.append(order)
    return Run(sim, broker, producer, members, tuple(handled), {"out_of_order": tuple(wrong)})


def draw_key_order(run: Run, ax: Any = None) -> Any:
    """The run of :func:`key_order` as a timeline, one colour per order."""
    from ...viz import draw_timeline

    order_of = {e.id: e.data["order_id"] for e in run.producer.emitted}
    wrong = run.info["out_of_order"]
    title = (
        f"{len(wrong)} of {len(order_of) // 3} orders handled out of order: {', '.join(wrong)}"
        if wrong
        else f"every one of the {len(order_of) // 3} orders handled in order"
    )
    return draw_timeline(
        run.trace,
        ax=ax,
        color_by="correlation",
        broker=order_of,
        hide=("committed", "joined", "rebalanced"),
        title=title,
    )

"""Notebook 02's scenarios: keys and order, adding partitions, retention, compaction, erasure.

:func:`key_order` publishes the life of a few orders (placed, paid, shipped,
back to back) to a topic read by a group of shipping consumers, with the
order id as the key or with no key (round-robin over the partitions);
:func:`draw_key_order` draws the run, one colour per order, and says how
many orders were handled out of their own order.


:func:`grow_partitions` adds a partition to a topic in the middle of the
orders' lives: keys move, and per-key order breaks across the change.
:func:`retention_run` shows a group that joins after events expired;
:func:`compaction_run` and :func:`draw_compaction` show a compacted topic
keeping the latest value per key and a tombstone removing one;
:func:`shred_demo` shows crypto-shredding (with a toy cipher).

Pure and seeded: the same arguments give the same run.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Rate, Schedule, Uniform
from ...events import Event
from ...producer import Producer
from ...sim import Simulation
from ...topic import partition_for
from .base import Run

__all__ = [
    "KEYS",
    "LIFE",
    "key_order",
    "draw_key_order",
    "grow_partitions",
    "retention_run",
    "compaction_run",
    "draw_compaction",
    "shred_demo",
]

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


# ---------------------------------------------------------------- adding partitions


def grow_partitions(*, grow_to: int | None = 4, handling: float = 8.0) -> Run:
    """Four orders' lives on 3 partitions; after the payments the topic grows to ``grow_to``.

    ``OrderPlaced`` of ``order-14`` .. ``order-17``, then their
    ``OrderPaid``, are published 1 ms apart from t=0; at t=10 ms the topic
    grows to ``grow_to`` partitions (``None``: it stays at 3); from t=11 ms
    each order's ``OrderShipped`` follows, ``order-17``'s first.  A shipping group of three consumers handles
    each event in ``handling`` ms.  ``info``: ``moved`` (key -> (old, new)
    partition), ``out_of_order`` (orders handled in another order than
    published) and ``grown_at``.
    """
    if grow_to is not None:
        checks.integer("grow_to", grow_to, min=4, max=12)
    checks.number("handling", handling, above=0)
    sim = Simulation(seed=7)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders", partitions=3)
    names = [f"order-{14 + n}" for n in range(4)]
    # every order placed, then every order paid; then shipped, the last order first
    life = [(LIFE[k], order) for k in (0, 1) for order in names]
    life += [(LIFE[2], order) for order in reversed(names)]
    times = [float(i) for i in range(8)] + [11.0 + i for i in range(4)]
    events = iter(life)

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        kind, order = next(events)
        return kind, order, {"order_id": order}

    producer = Producer(broker, "order-service", "orders", Schedule(times), make=make)
    handled: list[str] = []
    members = tuple(
        Consumer(
            broker,
            f"shipping-{n}",
            "orders",
            lambda e: handled.append(f"{e.data['order_id']}:{e.type}"),
            group="shipping",
            service_time=handling,
        )
        for n in range(1, 4)
    )
    if grow_to is not None:
        sim.schedule_at(10.0, broker.add_partitions, "orders", grow_to)
    sim.run()
    moved = {}
    if grow_to is not None:
        moved = {
            n: (partition_for(n, 3), partition_for(n, grow_to))
            for n in names
            if partition_for(n, 3) != partition_for(n, grow_to)
        }
    wrong = [
        order
        for order in names
        if [h.split(":")[1] for h in handled if h.split(":")[0] == order] != list(LIFE)
    ]
    return Run(
        sim,
        broker,
        producer,
        members,
        tuple(handled),
        {"moved": moved, "out_of_order": tuple(wrong), "grown_at": 10.0 if grow_to else None},
    )


# ---------------------------------------------------------------- retention


def retention_run(*, retention: float = 50.0, join_at: float = 100.0) -> Run:
    """Orders every 5 ms from t=0 to 145 ms on a topic kept ``retention`` ms; a group joins at ``join_at``.

    The new group (``invoicing``) starts at ``"earliest"``: the oldest event
    the log still keeps.  ``info``: ``handled``, ``missed`` (deleted by
    retention before the group existed) and ``log_start_at_join`` (the
    oldest offset the log still kept when the group joined).
    """
    checks.number("retention", retention, above=0)
    checks.number("join_at", join_at, min=0)
    sim = Simulation(seed=7)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders", partitions=1, retention=retention)
    producer = Producer(broker, "order-service", "orders", Rate(per_second=200), count=30)
    late: list[Consumer] = []

    at_join: list[int] = []

    def join() -> None:
        broker.topic("orders").expire()  # what retention deleted by now, traced as expired
        at_join.append(broker.topic("orders").partitions[0].start)
        broker.group("invoicing", start="earliest")
        late.append(Consumer(broker, "invoicing", "orders", service_time=1))

    sim.schedule_at(join_at, join)
    sim.run()
    group = broker.group("invoicing")
    return Run(
        sim,
        broker,
        producer,
        tuple(late),
        (),
        {
            "handled": group.stats()["handled"],
            "missed": producer.published - group.stats()["handled"],
            "log_start_at_join": at_join[0] if at_join else None,
        },
    )


# ---------------------------------------------------------------- compaction


def compaction_run(*, delete_retention: float = 100.0) -> dict[str, Any]:
    """Customer addresses on a compacted topic: compact, erase one customer, compact twice.

    ``customers`` (one partition, ``cleanup.policy=compact``,
    ``delete.retention.ms=delete_retention``) gets five ``AddressChanged``
    events for three customers, then a tombstone for ``customer-2`` (data
    ``None``: erase).  Compaction runs at t=10 ms, and again at
    t=10 + ``delete_retention`` ms.  Returns ``stages``: for each moment,
    its label and every offset as ``(offset, key, value or None, kept)``.
    """
    checks.number("delete_retention", delete_retention, above=0)
    sim = Simulation(seed=7)
    broker = Broker(sim, latency=1)
    broker.create_topic(
        "customers",
        settings={"cleanup.policy": "compact", "delete.retention.ms": delete_retention},
    )
    facts = [
        ("customer-1", "1 Main St"),
        ("customer-2", "22 Oak Ave"),
        ("customer-1", "5 Elm Rd"),
        ("customer-3", "9 Pine Ln"),
        ("customer-2", "7 Bay Rd"),
        ("customer-2", None),
    ]
    for i, (key, address) in enumerate(facts):
        data = None if address is None else {"address": address}
        kind = "CustomerErased" if address is None else "AddressChanged"
        broker.publish(
            "customers",
            Event(id=f"c-{i + 1}", type=kind, time=float(i), source="accounts", key=key, data=data),
            actor="accounts",
        )
    part = broker.topic("customers").partitions[0]

    def stage(label: str) -> tuple[str, list[tuple[int, str, Any, bool]]]:
        return label, [
            (o, e.key or "", None if e.data is None else e.data["address"], part.keeps(o))
            for o, e in enumerate(part.log)
        ]

    stages = [stage("as published")]
    sim.run(until=10.0)
    broker.compact("customers")
    stages.append(stage("compacted at t=10 ms"))
    sim.run(until=10.0 + delete_retention)
    broker.compact("customers")
    stages.append(stage(f"compacted again at t={10 + delete_retention:g} ms"))
    return {"stages": stages, "broker": broker, "sim": sim}


def draw_compaction(
    stages: list[tuple[str, list[tuple[int, str, Any, bool]]]], ax: Any = None
) -> Any:
    """The compacted log at each stage: a box per offset, removed ones hatched and greyed."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ...viz.style import COLORS, PALETTE

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.3 + 1.1 * len(stages)), layout="constrained")
    rows = len(stages)
    for r, (label, cells) in enumerate(stages):
        y = rows - 1 - r
        ax.text(-0.15, y + 0.4, label, ha="right", va="center", fontsize=10)
        for o, key, value, kept in cells:
            tomb = value is None
            face = ("#FFFFFF" if tomb else PALETTE[int(key[-1]) - 1]) if kept else "#DDDDDD"
            ax.add_patch(
                plt.Rectangle(
                    (o, y),
                    0.92,
                    0.8,
                    facecolor=face,
                    alpha=0.35 if kept and not tomb else 1.0,
                    edgecolor=COLORS["actor"],
                    hatch="" if kept else "xx",
                    linestyle="--" if tomb else "-",
                )
            )
            text = f"@{o} {key}\n{'(tombstone)' if tomb else value}"
            ax.text(
                o + 0.46,
                y + 0.4,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="black" if kept else "#444444",
                bbox=None if kept else {"facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            )
    ax.set_xlim(-2.6, max(len(c) for _, c in stages) + 0.1)
    ax.set_ylim(-0.2, rows)
    ax.axis("off")
    ax.legend(
        handles=[
            Patch(facecolor="#FFFFFF", edgecolor=COLORS["actor"], label="kept"),
            Patch(
                facecolor="#DDDDDD",
                hatch="xx",
                edgecolor=COLORS["actor"],
                label="removed by compaction",
            ),
            Patch(
                facecolor="#FFFFFF",
                edgecolor=COLORS["actor"],
                linestyle="--",
                label="tombstone (value None)",
            ),
        ],
        loc="upper left",
        bbox_to_anchor=(0.0, 0.0),
        ncol=3,
        fontsize=9,
    )
    ax.set_title(
        "topic customers (cleanup.policy=compact): the latest value per key, and a tombstone",
        loc="left",
    )
    return ax


# ---------------------------------------------------------------- crypto-shredding


def _keystream(key: bytes, n: int) -> bytes:
    out = b""
    block = 0
    while len(out) < n:
        out += hashlib.sha256(key + block.to_bytes(4, "big")).digest()
        block += 1
    return out[:n]


def _toy_encrypt(key: bytes, text: str) -> str:
    raw = text.encode()
    return bytes(a ^ b for a, b in zip(raw, _keystream(key, len(raw)), strict=True)).hex()


def _toy_decrypt(key: bytes, hexed: str) -> str:
    raw = bytes.fromhex(hexed)
    return bytes(a ^ b for a, b in zip(raw, _keystream(key, len(raw)), strict=True)).decode()


def shred_demo(*, seed: int = 7) -> dict[str, Any]:
    """Crypto-shredding with a toy cipher: personal fields encrypted with a key per customer.

    Three ``OrderPlaced`` events on a plain (delete-policy) topic carry the
    customer's address encrypted with that customer's key, and the order
    total in clear.  ``read(event)`` decrypts with the key store; deleting
    ``customer-2``'s key (``forget``) leaves the events untouched but makes
    its address unreadable everywhere a copy exists.  The cipher is a toy
    (a SHA-256 keystream): real systems use a vetted cipher (AES-GCM) and a
    key management service.
    """
    sim = Simulation(seed=seed)
    rng = sim.rng_for("keys")
    keys = {f"customer-{n}": rng.randbytes(16) for n in (1, 2, 3)}
    addresses = {"customer-1": "1 Main St", "customer-2": "22 Oak Ave", "customer-3": "9 Pine Ln"}
    broker = Broker(sim, latency=1)
    broker.create_topic("orders")
    for i, (customer, address) in enumerate(addresses.items(), 1):
        broker.publish(
            "orders",
            Event(
                id=f"evt-{i:06d}",
                type="OrderPlaced",
                time=float(i),
                source="order-service",
                key=f"order-{i}",
                data={
                    "customer": customer,
                    "total": 10 * i,
                    "address": _toy_encrypt(keys[customer], address),
                },
            ),
            actor="order-service",
        )

    def read(event: Event) -> str:
        key = keys.get(event.data["customer"])
        address = (
            "<shredded: key deleted>" if key is None else _toy_decrypt(key, event.data["address"])
        )
        return f"{event.key} {event.data['customer']} total={event.data['total']} address={address}"

    def forget(customer: str) -> None:
        del keys[customer]

    return {"broker": broker, "keys": keys, "read": read, "forget": forget}

"""Small seeded scenarios shared by the tests/test_viz_*.py modules."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import evtlib as ev  # noqa: E402
from evtlib import faults  # noqa: E402

PNG_DIR = os.environ.get("EVTLIB_VIZ_PNG_DIR")  # set it to keep the pictures


def save(fig, name: str) -> None:
    """Render ``fig`` to PNG (always: drawing errors show up here); keep it if asked."""
    import io

    fig.savefig(io.BytesIO(), format="png")
    if PNG_DIR:
        os.makedirs(PNG_DIR, exist_ok=True)
        fig.savefig(os.path.join(PNG_DIR, name + ".png"))


def shop(n: int = 10, *, consumers: int = 2, crash_at: float | None = 60, seed: int = 3):
    """Orders into 3 partitions; billing (n consumers) and an analytics read model."""
    sim = ev.Simulation(seed=seed)
    broker = ev.Broker(sim, latency=ev.Uniform(1, 5))
    broker.create_topic("orders", 3)
    broker.create_topic("orders.dlq", 1)
    ev.Producer(broker, "shop", "orders", ev.Poisson(50), count=n)
    members = [
        ev.Consumer(broker, f"billing-{i + 1}", "orders", group="billing", service_time=20)
        for i in range(consumers)
    ]
    ev.ReadModel(
        broker,
        "totals",
        "orders",
        lambda s, e: {**s, e.key: e.data["total"]},
        group="analytics",
        service_time=5,
    )
    if crash_at is not None:
        faults.crash(sim, members[-1], at=crash_at)
    return sim, broker

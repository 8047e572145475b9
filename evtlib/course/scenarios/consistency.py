"""Eventual consistency (notebook 05): the shop under load, and its lag."""

from __future__ import annotations

from ... import checks
from ...broker import Broker
from ...consumer import Consumer
from ...distributions import Exponential, Poisson
from ...producer import Producer
from ...sim import Simulation
from .base import Run, make_order

__all__ = [
    "shop",
    "lag_summary",
]


def shop(
    seed: int = 4,
    *,
    consumers: int = 1,
    rate: float = 50.0,
    service_ms: float = 15.0,
    duration_ms: float = 3000.0,
    partitions: int = 4,
) -> Run:
    """The shop under load: ``rate`` orders a second for ``duration_ms`` ms.

    Orders arrive at random (Poisson) into ``partitions`` partitions; the
    analytics group has ``consumers`` members, each taking ``service_ms`` ms
    per order on average (exponential).  One consumer keeps up while
    ``rate * service_ms / 1000`` (its utilisation) is below 1; above, the
    lag grows for as long as the load lasts.  The run continues until the
    backlog is gone.
    """
    checks.integer("consumers", consumers, min=1)
    sim = Simulation(seed=seed, trace=False)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("orders", partitions=partitions)
    members = tuple(
        Consumer(
            broker,
            f"analytics-{i + 1}",
            "orders",
            group="analytics",
            service_time=Exponential(service_ms),
        )
        for i in range(consumers)
    )
    shop_ = Producer(broker, "shop", "orders", Poisson(rate), until=duration_ms, make=make_order)
    sim.run()
    return Run(sim, broker, shop_, members)


def lag_summary(run: Run) -> dict[str, float]:
    """Worst consumer lag (events) and consistency-lag percentiles (ms) of a run's group."""
    from ...metrics import lag_series, percentiles

    series = lag_series(run.group, step=10.0)
    lags = [x for c in run.consumers for x in c.lags]
    p = percentiles(lags, (50, 99))
    return {
        "orders": run.producer.published,
        "max consumer lag": max(series.total),
        "p50 consistency lag ms": round(p[50], 1),
        "p99 consistency lag ms": round(p[99], 1),
        "caught up at ms": round(run.sim.now, 1),
    }

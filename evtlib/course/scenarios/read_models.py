"""Explorer of notebook 05: how long must a page wait to show a customer their own order?

:func:`own_writes` runs the sales dashboard of notebook 05 (a read model
folding ``OrderPlaced`` events, 12 ms per event on average) at a chosen
load; :func:`draw_own_writes` draws each order's consistency lag against a
page's waiting budget (``timeout_ms``) and says how many customers would
see their own order within it.  Knobs: the load and the budget.

Pure and seeded: the same arguments give the same run.
"""

from __future__ import annotations

from typing import Any

from ... import checks
from ...broker import Broker
from ...distributions import Exponential, Poisson
from ...events import Event
from ...producer import Producer
from ...readmodel import ReadModel
from ...sim import Simulation
from .base import Run

__all__ = ["add_order", "own_writes", "draw_own_writes"]


def add_order(state: dict[str, Any], event: Event) -> dict[str, Any]:
    """The dashboard's fold: count the orders, add up the revenue."""
    return {
        "orders": state.get("orders", 0) + 1,
        "revenue": state.get("revenue", 0) + event.data["total"],
    }


def own_writes(
    *, rate: float = 50.0, timeout_ms: float = 100.0, until: float = 3000.0, seed: int = 4
) -> Run:
    """The dashboard at ``rate`` orders a second, and a page that waits up to ``timeout_ms``.

    A customer who placed an order and opens the dashboard sees it if the
    read model applied it within ``timeout_ms`` (the page waits for the
    order's position, then gives up and shows what it has).
    ``info["within"]`` counts the orders applied within the budget,
    ``info["orders"]`` all of them.
    """
    checks.number("rate", rate, above=0, max=500)
    checks.number("timeout_ms", timeout_ms, min=0)
    sim = Simulation(seed=seed)
    broker = Broker(sim, latency=5)
    broker.create_topic("orders", partitions=2)
    dashboard = ReadModel(broker, "dashboard", "orders", add_order, service_time=Exponential(12))
    shop_ = Producer(broker, "shop", "orders", Poisson(rate), until=until)
    sim.run()
    lags = list(dashboard.lags)
    info = {
        "orders": len(lags),
        "within": sum(1 for lag in lags if lag <= timeout_ms),
        "timeout_ms": timeout_ms,
    }
    return Run(sim, broker, shop_, (dashboard,), (), info)


def draw_own_writes(run: Run, ax: Any = None) -> Any:
    """Each order's consistency lag, the page's budget as a line, and the share within it."""
    from ...viz import draw_consistency_lag

    info = run.info
    share = 100 * info["within"] / max(info["orders"], 1)
    return draw_consistency_lag(
        run.consumer,
        ax=ax,
        target=info["timeout_ms"],
        title=f"{share:.0f} % of {info['orders']} customers see their order within {info['timeout_ms']:g} ms",
    )

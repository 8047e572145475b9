"""How long a learner waits after moving a slider: re-simulate, redraw.

An explorer's callback re-runs a scenario and redraws its pictures.  This
measures that round trip for a 2,000-event scenario (the parameter change:
one consumer -> two), drawing a consumer-lag chart and a timeline and
rendering them with Agg, as the inline backend does.  It also times a
500-event timeline on its own.

Prints one JSON line: {"update_median_ms": ..., "timeline_500_ms": ...}.
Targets on a 2-core machine: update <= 250 ms, timeline <= 500 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import evtlib as ev  # noqa: E402
from evtlib.viz import draw_consumer_lag, draw_timeline  # noqa: E402

RUNS = 7


def scenario(events: int, consumers: int, seed: int = 1) -> tuple[ev.Simulation, ev.Broker]:
    """The shop: orders at 100/s into 4 partitions, billing with ``consumers`` members."""
    sim = ev.Simulation(seed=seed)
    broker = ev.Broker(sim, latency=ev.Uniform(1, 5))
    broker.create_topic("orders", 4)
    ev.Producer(broker, "shop", "orders", ev.Poisson(100), count=events)
    for i in range(consumers):
        ev.Consumer(broker, f"billing-{i + 1}", "orders", group="billing", service_time=8)
    ev.ReadModel(broker, "totals", "orders", lambda s, e: s, group="analytics", service_time=2)
    sim.run()
    return sim, broker


def update(consumers: int) -> float:
    """One slider change: simulate, draw lag + timeline, render; return ms."""
    t0 = time.perf_counter()
    sim, broker = scenario(2000, consumers)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    fig.subplots_adjust(left=0.1, right=0.83, hspace=0.35)
    draw_consumer_lag(broker.group("billing"), top, step=50)
    draw_timeline(sim.trace, bottom)
    fig.canvas.draw()
    plt.close(fig)
    return (time.perf_counter() - t0) * 1000


def timeline_alone(events: int) -> float:
    sim, _ = scenario(events, 2)
    t0 = time.perf_counter()
    drawn = draw_timeline(sim.trace)
    drawn.ax.figure.canvas.draw()
    plt.close(drawn.ax.figure)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    update(1)  # warm up imports, fonts and caches
    updates = [update(1 + i % 2) for i in range(RUNS)]
    timelines = [timeline_alone(500) for _ in range(RUNS)]
    print(
        json.dumps(
            {
                "update_median_ms": round(statistics.median(updates), 1),
                "timeline_500_ms": round(statistics.median(timelines), 1),
            }
        )
    )


if __name__ == "__main__":
    main()

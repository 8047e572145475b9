"""How long a learner waits after moving a slider: re-simulate, redraw.

An explorer's callback re-runs a scenario and redraws its pictures.  This
measures that round trip for a 2,000-event scenario (the parameter change:
one consumer -> two), drawing a consumer-lag chart and a timeline and
rendering them with Agg, as the inline backend does.  It also times a
500-event timeline on its own.

It runs after ``evtlib.course.setup()``, as an explorer does in a notebook
(the course's figure style; the imported objects set aside from the cycle
collector).  For scale, it also times matplotlib alone: creating and drawing
the same two empty Axes (``empty_figure_ms``), which no picture can beat.

Prints one JSON line:
{"update_median_ms": ..., "timeline_500_ms": ..., "empty_figure_ms": ..., ...}.
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
from evtlib.course import setup  # noqa: E402
from evtlib.viz import draw_consumer_lag, draw_timeline  # noqa: E402

RUNS = 15


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


def _two_panels():
    """The explorer's figure: a lag chart above a timeline."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 7))
    fig.subplots_adjust(left=0.1, right=0.83, hspace=0.35)
    return fig, axes


def update(consumers: int) -> float:
    """One slider change: simulate, draw lag + timeline, render; return ms."""
    t0 = time.perf_counter()
    sim, broker = scenario(2000, consumers)
    fig, (top, bottom) = _two_panels()
    draw_consumer_lag(broker.group("billing"), top, step=50)
    draw_timeline(sim.trace, bottom)
    fig.canvas.draw()
    plt.close(fig)
    return (time.perf_counter() - t0) * 1000


def empty_figure() -> float:
    """matplotlib's own share: the same figure, two empty Axes, drawn."""
    t0 = time.perf_counter()
    fig, _ = _two_panels()
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
    setup()  # what the first cell of every notebook does
    update(1)  # warm up imports, fonts and caches
    # Interleaved, so that the machine's noise hits all three alike.
    updates, timelines, empties = [], [], []
    for i in range(RUNS):
        updates.append(update(1 + i % 2))
        timelines.append(timeline_alone(500))
        empties.append(empty_figure())
    update_ms = statistics.median(updates)
    empty_ms = statistics.median(empties)
    print(
        json.dumps(
            {
                "update_median_ms": round(update_ms, 1),
                "timeline_500_ms": round(statistics.median(timelines), 1),
                "empty_figure_ms": round(empty_ms, 1),
                "update_vs_empty_figure": round(update_ms / empty_ms, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

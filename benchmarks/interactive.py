"""How long a learner waits after moving a slider: re-simulate, redraw, encode.

An explorer's callback re-runs a scenario and redraws its pictures.  This
measures that round trip in the kernel, through :func:`evtlib.viz.explore`
itself, for a 2,000-event scenario (the parameter change: one consumer ->
two and back), drawing a consumer-lag chart above a timeline and encoding
the PNG the browser receives.

* ``update_median_ms``: a slider move to parameters not seen before (the
  explorer's cache emptied first): simulate, clear and redraw the same
  figure in place, encode the PNG.  Target on a 2-core machine: <= 120 ms.
* ``update_next_step_ms``: a move one step on, after the explorer ran that
  scenario ahead (as it does in a kernel while the learner looks at the
  picture): clear, redraw, encode.
* ``update_cached_ms``: a move back to parameters seen before: the kept
  picture is sent again.
* ``recreate_ms``: the way explorers worked before, for comparison: a new
  figure per move, rendered as IPython's inline backend renders it (a
  tight bounding box: drawn twice, compressed at the default level).
* ``scenario_ms``: the simulation alone.
* ``empty_figure_ms``: matplotlib alone, creating and drawing the same two
  empty Axes: the machine's baseline.  Machines are noisy: compare ratios
  to it (``*_vs_empty_figure``) between runs, not raw milliseconds.

It runs after ``evtlib.course.setup()``, as an explorer does in a notebook
(the course's figure style; the imported objects set aside from the cycle
collector).  Measurements are interleaved, so the machine's noise hits all
alike.  Prints one JSON line.
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
from evtlib.viz import draw_consumer_lag, draw_timeline, explore  # noqa: E402

RUNS = 15
EVENTS = 2000


def scenario(consumers: int, events: int = EVENTS, seed: int = 1) -> ev.Broker:
    """The shop: orders at 100/s into 4 partitions, billing with ``consumers`` members."""
    sim = ev.Simulation(seed=seed)
    broker = ev.Broker(sim, latency=ev.Uniform(1, 5))
    broker.create_topic("orders", 4)
    ev.Producer(broker, "shop", "orders", ev.Poisson(100), count=events)
    for i in range(consumers):
        ev.Consumer(broker, f"billing-{i + 1}", "orders", group="billing", service_time=8)
    ev.ReadModel(broker, "totals", "orders", lambda s, e: s, group="analytics", service_time=2)
    sim.run()
    return broker


def _two_panels():
    """The explorer's figure: a lag chart above a timeline."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 7))
    fig.subplots_adjust(left=0.1, right=0.83, hspace=0.35)
    return fig, axes


def draw(broker: ev.Broker, ax=None):
    """The explorer's picture; with ``ax`` (the two Axes) it redraws in place."""
    if ax is None:
        fig, ax = _two_panels()
    top, bottom = ax
    draw_consumer_lag(broker.group("billing"), top, step=50)
    draw_timeline(broker.sim.trace, bottom)
    return top.figure


def recreate(consumers: int) -> float:
    """Before: simulate, a new figure, rendered as the inline backend does; return ms."""
    from IPython.core.pylabtools import print_figure

    t0 = time.perf_counter()
    fig = draw(scenario(consumers))
    print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)
    return (time.perf_counter() - t0) * 1000


def empty_figure() -> float:
    """matplotlib's own share: the same figure, two empty Axes, drawn."""
    t0 = time.perf_counter()
    fig, _ = _two_panels()
    fig.canvas.draw()
    plt.close(fig)
    return (time.perf_counter() - t0) * 1000


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    setup()  # what the first cell of every notebook does
    box = explore(lambda consumers: scenario(consumers), draw, consumers=(1, 2))
    slider = box.children[0]

    def move() -> None:
        slider.value = 2 if slider.value == 1 else 1

    recreate(1)  # warm up imports, fonts and caches
    move()
    cold, ahead, warm, before, sims, empties = [], [], [], [], [], []
    for i in range(RUNS):
        box.look_ahead = False
        box.cache_clear()  # this move re-simulates and redraws
        cold.append(timed(move))
        box.cache_clear()
        box.look_ahead = True
        move()  # a learner's move: the other value is simulated ahead while they look
        box.wait_ahead()
        ahead.append(timed(move))  # the next step: drawn, not simulated
        warm.append(timed(move))  # back again: the kept picture
        before.append(recreate(1 + i % 2))
        sims.append(timed(lambda: scenario(2)))
        empties.append(empty_figure())
    empty_ms = statistics.median(empties)
    out = {
        "update_median_ms": round(statistics.median(cold), 1),
        "update_next_step_ms": round(statistics.median(ahead), 1),
        "update_cached_ms": round(statistics.median(warm), 1),
        "recreate_ms": round(statistics.median(before), 1),
        "scenario_ms": round(statistics.median(sims), 1),
        "empty_figure_ms": round(empty_ms, 1),
    }
    for name in ("update_median_ms", "update_next_step_ms", "recreate_ms"):
        ratio = name.removesuffix("_ms").removesuffix("_median") + "_vs_empty_figure"
        out[ratio] = round(out[name] / empty_ms, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

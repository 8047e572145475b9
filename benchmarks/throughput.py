"""Throughput benchmark: evtlib against SimPy and a bare heapq floor, in one run.

The workload: one Poisson producer, one topic with 4 partitions, two consumer
groups of two consumers each, exponential network latency and service time,
200,000 events (so 400,000 deliveries).  Measured, in deliveries per second
of wall time (median of ``--repeat`` runs):

* ``evtlib``: the library with the trace off;
* ``evtlib_traced``: the same with the trace on;
* ``simpy``: the same workload written directly on SimPy (a store per
  partition and group, a process per consumer);
* ``heapq_floor``: a bare heapq loop doing one arrival and one completion per
  delivery with a no-op handler: the least any simulation must do.

``bytes_per_trace_record`` is measured with tracemalloc on a smaller run.
Prints one JSON line.  Usage: ``python benchmarks/throughput.py [--events N]``.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import random
import statistics
import time
import tracemalloc
import zlib

import evtlib as ev

RATE_PER_S = 1000.0  # one event per ms on average
LATENCY_MS = 0.5
SERVICE_MS = 1.0
PARTITIONS = 4
GROUPS = 2
CONSUMERS_PER_GROUP = 2


def _make(i: int, rng: random.Random) -> tuple[str, str, dict]:
    return "OrderPlaced", f"order-{i % 1000}", {"n": i}


def run_evtlib(events: int, trace: bool) -> tuple[int, float]:
    sim = ev.Simulation(seed=1, trace=trace)
    broker = ev.Broker(sim, latency=ev.Exponential(LATENCY_MS))
    broker.create_topic("orders", PARTITIONS)
    ev.Producer(broker, "shop", "orders", ev.Poisson(RATE_PER_S), make=_make, count=events)
    consumers = []
    for g in range(GROUPS):
        for c in range(CONSUMERS_PER_GROUP):
            consumers.append(
                ev.Consumer(
                    broker,
                    f"g{g}-c{c}",
                    "orders",
                    None,
                    group=f"g{g}",
                    service_time=ev.Exponential(SERVICE_MS),
                )
            )
    t0 = time.perf_counter()
    sim.run()
    elapsed = time.perf_counter() - t0
    deliveries = sum(len(c.handled_at) for c in consumers)
    return deliveries, elapsed


def run_simpy(events: int) -> tuple[int, float]:
    import simpy

    env = simpy.Environment()
    rng = random.Random(1)
    expo = rng.expovariate
    stores = [[simpy.Store(env) for _ in range(PARTITIONS)] for _ in range(GROUPS)]
    handled = [0]
    lam_arrival = RATE_PER_S / 1000.0

    def producer():
        for i in range(1, events + 1):
            yield env.timeout(expo(lam_arrival))
            key = f"order-{i % 1000}"
            p = zlib.crc32(key.encode()) % PARTITIONS
            item = (i, key, env.now)
            for g in range(GROUPS):
                stores[g][p].put(item)

    def consumer(mine):
        while True:
            gets = [s.get() for s in mine]
            yield env.any_of(gets)
            items = []
            for g in gets:
                if g.triggered:
                    items.append(g.value)
                else:
                    g.cancel()
            for _item in items:
                yield env.timeout(expo(1 / LATENCY_MS) + expo(1 / SERVICE_MS))
                handled[0] += 1

    env.process(producer())
    for g in range(GROUPS):
        for c in range(CONSUMERS_PER_GROUP):
            mine = [stores[g][p] for p in range(PARTITIONS) if p % CONSUMERS_PER_GROUP == c]
            env.process(consumer(mine))
    t0 = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - t0
    return handled[0], elapsed


def run_floor(events: int) -> tuple[int, float]:
    rng = random.Random(1)
    expo = rng.expovariate
    t0 = time.perf_counter()
    queue: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    now = 0.0
    lam_arrival = RATE_PER_S / 1000.0 / GROUPS  # one arrival per delivery
    deliveries = events * GROUPS
    t = 0.0
    for _ in range(deliveries):
        t += expo(lam_arrival * GROUPS)
        seq += 1
        push(queue, (t, seq, 0))
        # Interleave: process everything due before the next arrival.
        while queue and queue[0][0] <= t:
            now, _, kind = pop(queue)
            if kind == 0:  # arrival: schedule its completion
                seq += 1
                push(queue, (now + expo(1 / LATENCY_MS) + expo(1 / SERVICE_MS), seq, 1))
            else:  # completion: a no-op handler
                pass
    while queue:
        now, _, kind = pop(queue)
        if kind == 0:
            seq += 1
            push(queue, (now + expo(1 / LATENCY_MS) + expo(1 / SERVICE_MS), seq, 1))
    elapsed = time.perf_counter() - t0
    return deliveries, elapsed


def bytes_per_record(events: int) -> float:
    gc.collect()
    tracemalloc.start()
    sim = ev.Simulation(seed=1, trace=True)
    broker = ev.Broker(sim, latency=ev.Exponential(LATENCY_MS))
    broker.create_topic("orders", PARTITIONS)
    ev.Producer(broker, "shop", "orders", ev.Poisson(RATE_PER_S), make=_make, count=events)
    for g in range(GROUPS):
        for c in range(CONSUMERS_PER_GROUP):
            ev.Consumer(
                broker, f"g{g}-c{c}", "orders", None, group=f"g{g}", service_time=ev.Exponential(1)
            )
    sim.run()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = snap.filter_traces([tracemalloc.Filter(True, ev.trace.__file__)]).statistics("filename")
    size = sum(s.size for s in stats)
    return size / len(sim.trace)


def median_rate(fn, *args, repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        gc.collect()
        n, dt = fn(*args)
        rates.append(n / dt)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # Interleave the contenders so machine noise hits them alike.
    results: dict[str, list[float]] = {
        "evtlib": [],
        "evtlib_traced": [],
        "simpy": [],
        "heapq_floor": [],
    }
    for _ in range(args.repeat):
        for name, fn, extra in (
            ("heapq_floor", run_floor, ()),
            ("evtlib", run_evtlib, (False,)),
            ("evtlib_traced", run_evtlib, (True,)),
            ("simpy", run_simpy, ()),
        ):
            gc.collect()
            n, dt = fn(args.events, *extra)
            results[name].append(n / dt)
    out = {k: round(statistics.median(v)) for k, v in results.items()}
    out["bytes_per_trace_record"] = round(bytes_per_record(min(args.events, 20_000)), 1)
    out["evtlib_vs_simpy"] = round(out["evtlib"] / out["simpy"], 2)
    out["evtlib_vs_floor"] = round(out["evtlib"] / out["heapq_floor"], 2)
    out["traced_vs_floor"] = round(out["evtlib_traced"] / out["heapq_floor"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

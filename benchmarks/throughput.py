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
  delivery with a no-op handler: the least any simulation must do;
* ``fused_loop``: the workload's broker semantics (an event per publish, a
  log per partition, one owner per partition in each group, a committed
  offset per delivery) written by hand as one loop, with tuples for events
  and no classes, trace, metrics, checks or faults: about the best a
  library of these semantics could do in pure Python.

Competing consumers on one queue, the queue family's shape, in the same
run: one subscription of 4 consumers on one queue (``queue_rabbitmq``,
``queue_sqs``: ``Broker(sim, profile=...)``, prefetch 1, the same producer,
latency and service time; ``events`` deliveries), against the same group
shape on the log (``kafka_one_group``: one group of 4 consumers, one per
partition of 4).  ``queue_rabbitmq_vs_kafka`` and ``queue_sqs_vs_kafka``
are their ratios to that row.

The ratios (``evtlib_vs_floor``...) are the median of the ratios within
each round, where the contenders run back to back: this machine's speed
drifts by up to 2x, and a ratio within a round is steadier than a ratio of
medians.  ``bytes_per_trace_record`` is measured with tracemalloc on a smaller run.
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


def run_one_group(events: int, profile: str) -> tuple[int, float]:
    """One subscription (group) of 4 competing consumers: a queue profile, or kafka's 4 partitions."""
    sim = ev.Simulation(seed=1, trace=False)
    broker = ev.Broker(sim, profile=profile, latency=ev.Exponential(LATENCY_MS))
    broker.create_topic("orders", PARTITIONS if profile == "kafka" else 1)
    if profile == "kafka":
        broker.group("g", start="earliest")
    ev.Producer(broker, "shop", "orders", ev.Poisson(RATE_PER_S), make=_make, count=events)
    consumers = [
        ev.Consumer(
            broker, f"c{c}", "orders", None, group="g", service_time=ev.Exponential(SERVICE_MS)
        )
        for c in range(GROUPS * CONSUMERS_PER_GROUP)
    ]
    t0 = time.perf_counter()
    sim.run()
    elapsed = time.perf_counter() - t0
    deliveries = sum(len(c.handled_at) for c in consumers)
    assert deliveries == events, (profile, deliveries)
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


def run_fused(events: int) -> tuple[int, float]:
    rng = random.Random(1)
    expo = rng.expovariate
    logs: list[list[tuple]] = [[] for _ in range(PARTITIONS)]
    committed = [[0] * PARTITIONS for _ in range(GROUPS)]
    position = [[0] * PARTITIONS for _ in range(GROUPS)]
    busy = [[False] * CONSUMERS_PER_GROUP for _ in range(GROUPS)]
    owned = [
        [
            [p for p in range(PARTITIONS) if p % CONSUMERS_PER_GROUP == c]
            for c in range(CONSUMERS_PER_GROUP)
        ]
        for _ in range(GROUPS)
    ]
    partition_of: dict[str, int] = {}
    queue: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    handled = 0
    lam_arrival = RATE_PER_S / 1000.0
    lam_latency, lam_service = 1 / LATENCY_MS, 1 / SERVICE_MS

    def fetch(g: int, c: int, now: float) -> None:
        # The consumer's next delivery, if one of its partitions has one.
        nonlocal seq
        for p in owned[g][c]:
            pos = position[g][p]
            if pos < len(logs[p]):
                position[g][p] = pos + 1
                busy[g][c] = True
                seq += 1
                push(queue, (now + expo(lam_latency) + expo(lam_service), seq, 1, g, c, p, pos))
                return
        busy[g][c] = False

    t0 = time.perf_counter()
    seq += 1
    push(queue, (expo(lam_arrival), seq, 0, 0, 0, 0, 1))
    while queue:
        now, _, kind, g, c, p, i = pop(queue)
        if kind == 0:  # the producer publishes event i
            key = f"order-{i % 1000}"
            p = partition_of.get(key)
            if p is None:
                p = partition_of[key] = zlib.crc32(key.encode()) % PARTITIONS
            logs[p].append((f"evt-{i:06d}", "OrderPlaced", now, "shop", key, {"n": i}))
            c = p % CONSUMERS_PER_GROUP
            for g in range(GROUPS):
                if not busy[g][c]:
                    fetch(g, c, now)
            if i < events:
                seq += 1
                push(queue, (now + expo(lam_arrival), seq, 0, 0, 0, 0, i + 1))
        else:  # consumer c of group g finished offset i of partition p
            handled += 1
            committed[g][p] = i + 1
            fetch(g, c, now)
    elapsed = time.perf_counter() - t0
    return handled, elapsed


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # Interleave the contenders so machine noise hits them alike.
    results: dict[str, list[float]] = {
        "evtlib": [],
        "evtlib_traced": [],
        "simpy": [],
        "heapq_floor": [],
        "fused_loop": [],
        "kafka_one_group": [],
        "queue_rabbitmq": [],
        "queue_sqs": [],
    }
    for _ in range(args.repeat):
        for name, fn, extra in (
            ("heapq_floor", run_floor, ()),
            ("evtlib", run_evtlib, (False,)),
            ("evtlib_traced", run_evtlib, (True,)),
            ("simpy", run_simpy, ()),
            ("fused_loop", run_fused, ()),
            ("kafka_one_group", run_one_group, ("kafka",)),
            ("queue_rabbitmq", run_one_group, ("rabbitmq",)),
            ("queue_sqs", run_one_group, ("sqs",)),
        ):
            gc.collect()
            n, dt = fn(args.events, *extra)
            results[name].append(n / dt)
    out: dict[str, float] = {k: round(statistics.median(v)) for k, v in results.items()}
    out["bytes_per_trace_record"] = round(bytes_per_record(min(args.events, 20_000)), 1)

    # Ratios are taken within each round (the contenders ran back to back,
    # so a slow spell of the machine hits both sides), then the median.
    def ratio(a: str, b: str) -> float:
        return round(
            statistics.median(x / y for x, y in zip(results[a], results[b], strict=True)), 2
        )

    out["evtlib_vs_simpy"] = ratio("evtlib", "simpy")
    out["traced_vs_untraced"] = ratio("evtlib_traced", "evtlib")
    out["evtlib_vs_floor"] = ratio("evtlib", "heapq_floor")
    out["traced_vs_floor"] = ratio("evtlib_traced", "heapq_floor")
    out["fused_loop_vs_floor"] = ratio("fused_loop", "heapq_floor")
    out["queue_rabbitmq_vs_kafka"] = ratio("queue_rabbitmq", "kafka_one_group")
    out["queue_sqs_vs_kafka"] = ratio("queue_sqs", "kafka_one_group")
    out["queue_rabbitmq_vs_evtlib"] = ratio("queue_rabbitmq", "evtlib")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

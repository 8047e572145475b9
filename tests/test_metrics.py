"""Metrics: lag over time, Burrow-style lag status, percentiles and throughput."""

from __future__ import annotations

import math

from conftest import make_broker
from evtlib import (
    Consumer,
    Producer,
    Rate,
    Schedule,
    consistency_lags,
    group_status,
    lag_series,
    lag_status,
    percentiles,
    throughput,
)


def one_consumer(service=10, **kw):
    sim, broker = make_broker()
    c = Consumer(broker, "c", "orders", service_time=service, **kw)
    return sim, broker, c, broker.group("c").states[("orders", 0)]


def test_lag_series_rebuilds_lag_over_time():
    """Lag is published minus committed at every sample time, per partition and in total."""
    sim, broker, c, st = one_consumer()
    Producer(broker, "p", "orders", Schedule([0, 0, 0]))
    sim.run()
    s = lag_series(broker.group("c"), step=10)
    assert s.group == "c" and s.times == [0.0, 10.0, 20.0, 30.0]
    assert s.partitions == {"orders[0]": [3, 2, 1, 0]} and s.total == [3, 2, 1, 0]


def test_lag_series_adds_the_end_time_and_works_without_a_trace():
    """With the trace off lag still works, and an until between steps is sampled too."""
    sim, broker, c, st = one_consumer()
    sim.trace.enabled = False
    Producer(broker, "p", "orders", Schedule([0, 0]))
    sim.run()
    s = lag_series(broker.group("c"), step=8, until=20)
    assert s.times == [0.0, 8.0, 16.0, 20.0] and s.total == [2, 2, 1, 0]


def test_lag_status_ok_when_caught_up():
    """A group whose lag reached zero is OK."""
    sim, broker, c, st = one_consumer()
    Producer(broker, "p", "orders", Schedule([0, 0]))
    sim.run(until=2000)
    assert lag_status(st) == "OK"


def test_lag_status_warn_when_lag_grows_while_commits_move():
    """A consumer slower than its producer commits but falls behind: WARN."""
    sim, broker, c, st = one_consumer(service=100)
    Producer(broker, "p", "orders", Rate(20), until=3000)
    sim.run(until=2000)
    assert st.lag > 0 and lag_status(st) == "WARN"


def test_lag_status_stall_when_a_live_owner_does_not_commit():
    """A live owner whose committed offset does not move while lag is above zero: STALL."""
    sim, broker, c, st = one_consumer()
    c.pause()
    Producer(broker, "p", "orders", Schedule([10]))
    sim.run(until=2000)
    assert lag_status(st) == "STALL"


def test_lag_status_stop_when_nobody_consumes():
    """No live owner and lag above zero: STOP."""
    sim, broker, c, st = one_consumer()
    c.crash()
    Producer(broker, "p", "orders", Schedule([10]))
    sim.run(until=2000)
    assert lag_status(st) == "STOP"
    assert group_status(broker.group("c")) == {"orders[0]": "STOP", "group": "STOP"}


def test_lag_status_rewind_when_offsets_go_back():
    """A reset that moves the committed offset back shows as REWIND."""
    sim, broker, c, st = one_consumer()
    Producer(broker, "p", "orders", Schedule([0, 0]))
    sim.run(until=500)
    c.pause()
    broker.group("c").reset_offsets("earliest")
    sim.run(until=600)
    assert lag_status(st) == "REWIND"
    assert lag_status(st, window=50) == "STALL"  # the rewind is older than 50 ms


def test_group_status_reports_the_worst_partition():
    """group_status gives each partition's status and the worst under 'group'."""
    sim, broker = make_broker(partitions=2)
    c = Consumer(broker, "c", "orders")
    p = Producer(broker, "p", "orders")
    p.emit("T", "order-4")  # partition 0, handled
    sim.run(until=10)
    c.pause()
    p.emit("T", "order-1")  # partition 1, stuck behind the pause
    sim.run(until=2000)
    assert group_status(broker.group("c")) == {
        "orders[0]": "OK",
        "orders[1]": "STALL",
        "group": "STALL",
    }


def test_percentiles_use_the_nearest_rank():
    """Nearest-rank percentiles pick real values from the data."""
    assert percentiles(range(1, 101)) == {50: 50, 95: 95, 99: 99}
    assert percentiles([30, 10, 20], qs=(50, 100)) == {50: 20, 100: 30}
    assert math.isnan(percentiles([])[50])


def test_throughput_counts_per_window():
    """Throughput is events per second in consecutive windows."""
    assert throughput([100, 200, 1500]) == [(1000.0, 2.0), (2000.0, 1.0)]
    assert throughput([100, 200, 1500], until=3000) == [(1000.0, 2.0), (2000.0, 1.0), (3000.0, 0.0)]
    assert throughput([50], window=100) == [(100.0, 10.0)]
    assert throughput([]) == [(1000.0, 0.0)]


def test_consistency_lags_are_handled_time_minus_event_time():
    """Consistency lag is how long an event took to take effect in a consumer."""
    sim, broker, c, st = one_consumer(service=10)
    Producer(broker, "p", "orders", Schedule([0, 5]))
    sim.run()
    assert consistency_lags(c) == ([10.0, 20.0], [10.0, 15.0])


def test_lag_series_of_a_group_that_started_at_latest_ignores_earlier_events():
    """A group that joined at 'latest' was never behind on what came before it."""
    sim, broker = make_broker()
    p = Producer(broker, "p", "orders")
    for _ in range(5):
        p.emit("T", "k")
    broker.group("late", start="latest")
    Consumer(broker, "c", "orders", group="late", service_time=10)
    sim.run(until=5)
    p.emit("T", "k")
    sim.run()
    series = lag_series(broker.group("late"), step=5)
    assert max(series.total) == 1 and series.total[-1] == 0
    assert series.total[0] == 0

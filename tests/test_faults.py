"""Scheduled faults: crash, restart and pause at simulated times."""

from __future__ import annotations

from conftest import handled, make_broker
from evtlib import Consumer, Producer, Schedule, crash, pause, restart


def kinds(sim, *ks):
    return [(r.time, r.kind, r.actor) for r in sim.trace.filter(kind=ks)]


def test_crash_and_restart_after_happen_at_their_times():
    """crash(at, restart_after) crashes then restarts the consumer at the stated times."""
    sim, broker = make_broker()
    broker.group("c", session_timeout=0)  # noticed at once: the fault's timing is the subject
    c = Consumer(broker, "c", "orders")
    crash(sim, c, at=100, restart_after=50)
    sim.run(until=120)
    assert not c.alive and c.assignment == []
    sim.run()
    assert c.alive and c.assignment == ["orders[0]"]
    assert kinds(sim, "crashed", "restarted") == [
        (100.0, "crashed", "c"),
        (150.0, "restarted", "c"),
    ]


def test_restart_brings_a_crashed_consumer_back():
    """restart(at) rejoins the group, and the consumer catches up on what it missed."""
    sim, broker = make_broker()
    broker.group("c", session_timeout=0)  # noticed at once: the fault's timing is the subject
    c = Consumer(broker, "c", "orders")
    c.crash()
    Producer(broker, "p", "orders", Schedule([10, 20]))
    restart(sim, c, at=50)
    sim.run()
    assert [r.time for r in sim.trace.filter(kind="handled")] == [50.0, 50.0]


def test_crash_on_a_consumer_that_is_already_down_is_a_no_op():
    """A scheduled crash of a crashed consumer does nothing, and so does restarting a live one."""
    sim, broker = make_broker()
    c = Consumer(broker, "c", "orders")
    crash(sim, c, at=10)
    crash(sim, c, at=20)
    restart(sim, c, at=30)
    restart(sim, c, at=40)
    sim.run()
    assert kinds(sim, "crashed", "restarted") == [(10.0, "crashed", "c"), (30.0, "restarted", "c")]


def test_faults_run_before_other_work_due_at_the_same_time():
    """A crash at t happens before a handling that would finish at t, so that work is redone."""
    sim, broker = make_broker()
    broker.group("c", session_timeout=0)  # noticed at once: the fault's timing is the subject
    c = Consumer(broker, "c", "orders", service_time=10)
    Producer(broker, "p", "orders").emit("T", "k")
    crash(sim, c, at=10, restart_after=1)
    sim.run()
    assert [r.time for r in sim.trace.filter(kind="handled")] == [21.0]


def test_pause_for_a_duration_keeps_partitions_and_delays_work():
    """pause(at, duration) stops fetching for that long without a rebalance."""
    sim, broker = make_broker()
    c = Consumer(broker, "c", "orders")
    pause(sim, c, at=5, duration=100)
    Producer(broker, "p", "orders", Schedule([0, 10, 20]))
    sim.run(until=50)
    assert c.paused and c.assignment == ["orders[0]"]
    sim.run()
    assert [r.time for r in sim.trace.filter(kind="handled")] == [0.0, 105.0, 105.0]
    assert broker.group("c").rebalances == 1  # only the initial join
    assert kinds(sim, "paused", "resumed") == [(5.0, "paused", "c"), (105.0, "resumed", "c")]


def test_crashed_member_partitions_go_to_the_survivor():
    """After a scheduled crash the surviving member of the group handles everything."""
    sim, broker = make_broker(partitions=2)
    c1 = Consumer(broker, "c1", "orders", group="g")
    Consumer(broker, "c2", "orders", group="g")
    crash(sim, c1, at=1)
    Producer(broker, "p", "orders", Schedule([5, 6, 7, 8]))
    sim.run()
    assert {r.actor for r in sim.trace.filter(kind="handled")} == {"c2"}
    assert len(handled(sim)) == 4

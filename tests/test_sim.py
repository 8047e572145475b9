"""The simulation core: clock, scheduler order, run(until), ids and randomness."""

from __future__ import annotations

import pytest

from evtlib import Simulation
from evtlib.errors import EmptySchedule
from evtlib.sim import LATE, NORMAL, URGENT, ScheduledCall


def test_calls_run_in_time_order():
    """Calls run by due time, not by the order they were scheduled."""
    sim = Simulation()
    out = []
    sim.schedule(30, out.append, "c")
    sim.schedule(10, out.append, "a")
    sim.schedule(20, out.append, "b")
    sim.run()
    assert out == ["a", "b", "c"]


def test_same_time_orders_by_priority_then_sequence():
    """At equal times lower priority runs first, and equal priorities run in scheduling order."""
    sim = Simulation()
    out = []
    sim.schedule(5, out.append, "late", priority=LATE)
    sim.schedule(5, out.append, "normal-1")
    sim.schedule(5, out.append, "urgent", priority=URGENT)
    sim.schedule(5, out.append, "normal-2", priority=NORMAL)
    sim.run()
    assert out == ["urgent", "normal-1", "normal-2", "late"]


def test_clock_reads_the_time_of_the_running_call():
    """Inside a call, sim.now is the call's due time."""
    sim = Simulation()
    seen = []
    sim.schedule(7.5, lambda: seen.append(sim.now))
    sim.run()
    assert seen == [7.5]


def test_call_may_schedule_more_work_at_the_same_time():
    """A zero-delay call scheduled from a call runs after everything already due then."""
    sim = Simulation()
    out = []

    def first():
        out.append("first")
        sim.schedule(0, out.append, "child")

    sim.schedule(1, first)
    sim.schedule(1, out.append, "sibling")
    sim.run()
    assert out == ["first", "sibling", "child"]


def test_run_until_includes_calls_at_until_and_stops_the_clock_there():
    """run(until) runs calls due at until, leaves later ones queued and sets the clock to until."""
    sim = Simulation()
    out = []
    sim.schedule(10, out.append, 10)
    sim.schedule(20, out.append, 20)
    sim.schedule(21, out.append, 21)
    assert sim.run(until=20) == 20.0
    assert out == [10, 20]
    assert sim.now == 20.0
    assert [c.time for c in sim.scheduled()] == [21.0]


def test_run_until_with_nothing_scheduled_moves_the_clock():
    """run(until) on an empty schedule still advances the clock to until."""
    sim = Simulation()
    assert sim.run(until=100) == 100.0
    assert sim.now == 100.0


def test_run_without_until_stops_at_the_last_call():
    """run() empties the schedule and leaves the clock at the last call's time."""
    sim = Simulation()
    sim.schedule(3, lambda: None)
    sim.schedule(8, lambda: None)
    assert sim.run() == 8.0
    assert sim.scheduled() == []
    assert sim.peek() == float("inf")


def test_run_can_continue_in_slices():
    """Running in slices makes the same calls as one long run."""
    sim = Simulation()
    out = []
    for t in (5, 15, 25):
        sim.schedule(t, out.append, t)
    sim.run(until=10)
    sim.run(until=10)  # a zero-length slice is allowed
    sim.run(until=30)
    assert out == [5, 15, 25]


def test_step_runs_exactly_one_call():
    """step() runs the next call and advances the clock to it."""
    sim = Simulation()
    out = []
    sim.schedule(4, out.append, "a")
    sim.schedule(9, out.append, "b")
    sim.step()
    assert out == ["a"] and sim.now == 4.0
    sim.step()
    assert out == ["a", "b"] and sim.now == 9.0


def test_step_on_empty_schedule_raises_empty_schedule():
    """step() with nothing scheduled raises EmptySchedule."""
    with pytest.raises(EmptySchedule, match="nothing is scheduled"):
        Simulation().step()


def test_schedule_at_uses_absolute_time():
    """schedule_at runs the call at the given simulated time."""
    sim = Simulation()
    sim.run(until=10)
    seen = []
    sim.schedule_at(25, lambda: seen.append(sim.now))
    sim.run()
    assert seen == [25.0]


def test_scheduled_lists_waiting_calls_in_run_order_with_names():
    """scheduled() shows time, priority and a readable name for each waiting call."""
    sim = Simulation()

    def tick():
        pass

    sim.schedule(5, tick, priority=LATE)
    sim.schedule(5, tick, priority=URGENT)
    sim.schedule(1, print)
    calls = sim.scheduled()
    assert calls == [
        ScheduledCall(1.0, NORMAL, "print"),
        ScheduledCall(5.0, URGENT, tick.__qualname__),
        ScheduledCall(5.0, LATE, tick.__qualname__),
    ]


def test_cancelled_timer_does_not_run_and_is_not_listed():
    """A cancelled Timer never fires and disappears from scheduled()."""
    sim = Simulation()
    out = []
    t = sim.timer(5, out.append, "x")
    keep = sim.timer(6, out.append, "y")
    assert [c.time for c in sim.scheduled()] == [5.0, 6.0]
    t.cancel()
    t.cancel()  # harmless twice
    assert [c.time for c in sim.scheduled()] == [6.0]
    sim.run()
    assert out == ["y"]
    assert "cancelled" in repr(t) and "pending" in repr(keep)


def test_ids_count_per_prefix_with_six_digits():
    """next_id gives evt-000001, evt-000002, ... and a separate counter per prefix."""
    sim = Simulation()
    assert sim.next_id() == "evt-000001"
    assert sim.next_id() == "evt-000002"
    assert sim.next_id("cmd") == "cmd-000001"
    assert sim.next_id("evt") == "evt-000003"


def test_rng_for_is_a_function_of_seed_and_name():
    """The same seed and name give the same draws; another name or seed gives others."""
    a = [Simulation(3).rng_for("billing").random() for _ in range(2)]
    assert a[0] == a[1]
    assert Simulation(3).rng_for("billing").random() != Simulation(3).rng_for("ship").random()
    assert Simulation(3).rng_for("billing").random() != Simulation(4).rng_for("billing").random()


def test_rng_for_does_not_depend_on_other_components():
    """Asking for another component's generator first does not change this one's draws."""
    s1 = Simulation(9)
    s2 = Simulation(9)
    s2.rng_for("other").random()
    assert s1.rng_for("me").random() == s2.rng_for("me").random()


def test_register_name_claims_each_name_once():
    """A name is returned when claimed, and refused the second time."""
    sim = Simulation()
    assert sim.register_name("billing", "consumer") == "billing"
    with pytest.raises(ValueError, match="consumer name must be unique.*'billing' is taken"):
        sim.register_name("billing", "consumer")


def test_repr_shows_state():
    """The repr shows seed, clock, schedule size and trace size, no address."""
    sim = Simulation(seed=5)
    sim.schedule(1, print)
    assert repr(sim) == "<Simulation seed=5 now=0ms scheduled=1 trace=0 records>"


def test_name_taken_tells_whether_a_name_is_claimed():
    """A composite can ask before it registers several names, so a clash registers none."""
    sim = Simulation(0)
    assert not sim.name_taken("billing")
    sim.register_name("billing")
    assert sim.name_taken("billing")

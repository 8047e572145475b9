"""The chaos experiment: the patterns keep every invariant, the naive twins do not."""

from __future__ import annotations

import pytest

from evtlib.course.chaos import (
    INVARIANTS,
    FaultSchedule,
    Fulfilment,
    NaiveFulfilment,
    chaos_experiment,
    random_schedule,
    run_schedule,
)


@pytest.fixture(scope="module")
def thousand():
    """1,000 random fault schedules through both, run once for the module."""
    return chaos_experiment(1000)


def test_patterns_keep_every_invariant_over_1000_schedules(thousand):
    """With outbox, idempotent + DLQ fulfilment and the saga, every tally is 0."""
    assert thousand.schedules == 1000
    assert thousand.pattern == dict.fromkeys(INVARIANTS, 0)
    assert thousand.pattern_failed == []


def test_naive_twins_break_every_invariant(thousand):
    """The same schedules through the naive twins break each of the four invariants."""
    assert all(thousand.naive[k] > 0 for k in INVARIANTS), thousand.naive
    assert len(thousand.naive_failed) > 100


def test_faults_really_happened_to_the_patterns(thousand):
    """The zeros are earned: sagas compensated, flagged, and events dead-lettered."""
    d = thousand.pattern_details
    assert d["rolled back"] > 0 and d["needs-attention"] > 0 and d["dead-lettered"] > 0
    assert d["orders saved"] < d["orders placed"]  # some orders rolled back before commit


def test_same_seed_same_schedule_and_same_result():
    """A schedule is a pure function of its seed, and so is a run."""
    assert random_schedule(7) == random_schedule(7)
    a, b = run_schedule(7), run_schedule(7)
    assert a.counts == b.counts and a.details == b.details


def test_a_dual_write_crash_after_commit_loses_the_event():
    """Naive: a crash between commit and publish leaves an order nobody hears of."""
    s = random_schedule(0)
    s = FaultSchedule(
        seed=0,
        orders=tuple(o._replace(fault="ok", card="ok") for o in s.orders),
        service_crashes={"after-commit": [1]},
    )
    naive = run_schedule(s, patterns=False)
    assert naive.counts["events lost"] == 1
    assert isinstance(naive.fulfilment, NaiveFulfilment)
    pattern = run_schedule(s)
    assert pattern.ok and isinstance(pattern.fulfilment, Fulfilment)
    assert pattern.details["sagas"] == len(s.orders)


def test_a_network_duplicate_is_skipped_by_the_idempotent_fulfilment():
    """Every delivery duplicated: the naive twin fulfils orders twice, the pattern once."""
    s = random_schedule(1)
    s = FaultSchedule(seed=1, orders=tuple(o._replace(fault="ok") for o in s.orders), duplicate=1.0)
    assert run_schedule(s, patterns=False).counts["effects duplicated"] > 0
    run = run_schedule(s)
    assert run.ok and run.fulfilment.skipped > 0


def test_a_poison_order_is_dead_lettered_not_vanished():
    """A malformed order: the pattern dead-letters it, the naive twin forgets it."""
    s = random_schedule(2)
    s = FaultSchedule(seed=2, orders=tuple(o._replace(fault="poison") for o in s.orders[:1]))
    pattern = run_schedule(s)
    assert pattern.ok and pattern.details["dead-lettered"] == 1
    naive = run_schedule(s, patterns=False)
    assert naive.counts["events vanished"] == 1 and len(naive.fulfilment.swallowed) == 1


def test_describe_names_the_faults():
    """A schedule describes itself in one line."""
    text = random_schedule(3).describe()
    assert text.startswith("3 orders")


def test_bad_arguments_name_the_value():
    """Misuse is refused with a message naming the value."""
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        chaos_experiment(0)
    with pytest.raises(TypeError, match="seed must be an int"):
        random_schedule("x")  # type: ignore[arg-type]


def test_fulfilment_checks_its_start_function_before_taking_its_name():
    """A non-callable start is refused before the consumer registers (a re-run works)."""
    from evtlib import Broker, Simulation
    from evtlib.course.chaos import Fulfilment, NaiveFulfilment

    for cls in (Fulfilment, NaiveFulfilment):
        broker = Broker(Simulation(1))
        for topic in ("orders", "orders.dlq"):
            broker.create_topic(topic)
        with pytest.raises(TypeError, match=r"start must be callable"):
            cls(broker, "not a function")
        cls(broker, lambda event: None)

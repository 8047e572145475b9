"""Retry policies: backoff, jitter, validation, and the retry storm they prevent."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Producer, Simulation
from evtlib.patterns.dlq import DeadLetterConsumer
from evtlib.patterns.dlq_scenarios import FlakyService, ServiceUnavailable, retry_storm
from evtlib.patterns.retry import BACKOFFS, JITTERS, RetryPolicy

# -- backoff ---------------------------------------------------------------------


def test_fixed_backoff_waits_base_every_time():
    """Fixed backoff waits the same base every time."""
    p = RetryPolicy(5, backoff="fixed", base=250, jitter="none")
    assert p.delays() == [250.0, 250.0, 250.0, 250.0]


def test_exponential_backoff_doubles_then_stops_at_the_cap():
    """Exponential backoff doubles from base and never exceeds the cap."""
    p = RetryPolicy(7, backoff="exponential", base=100, cap=1000, jitter="none")
    assert p.delays() == [100.0, 200.0, 400.0, 800.0, 1000.0, 1000.0]


def test_one_attempt_means_no_retries():
    """max_attempts=1 gives up after the first failure: no waits at all."""
    p = RetryPolicy(1)
    assert p.delays(random.Random(0)) == []
    assert p.gives_up_after(1)


def test_huge_attempt_numbers_do_not_overflow():
    """A very late attempt is capped, not an OverflowError."""
    p = RetryPolicy(5, base=1, cap=60_000, jitter="none")
    assert p.delay(5000) == 60_000.0


def test_jitter_is_reproducible_with_a_seeded_generator():
    """The same seed gives the same jittered waits."""
    p = RetryPolicy(6, jitter="full")
    assert p.delays(random.Random("s")) == p.delays(random.Random("s"))
    assert p.delays(random.Random("s")) != p.delays(random.Random("t"))


def test_repr_shows_the_policy():
    """The repr states the policy and no memory address."""
    text = repr(RetryPolicy(4, backoff="exponential", base=50, cap=800, jitter="equal"))
    assert text == "<RetryPolicy max_attempts=4 exponential base=50ms cap=800 jitter=equal>"
    assert "0x" not in text


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(1, 60),
    base=st.floats(0, 10_000, allow_nan=False),
    extra=st.floats(0, 100_000, allow_nan=False),
    backoff=st.sampled_from(BACKOFFS),
    jitter=st.sampled_from(JITTERS),
    seed=st.integers(0, 2**32),
)
def test_jittered_delay_stays_within_its_bounds(attempt, base, extra, backoff, jitter, seed):
    """none = the backoff; full in [0, backoff]; equal in [backoff/2, backoff]; never past the cap."""
    p = RetryPolicy(3, backoff=backoff, base=base, cap=base + extra, jitter=jitter)
    bound = p.backoff_for(attempt)
    d = p.delay(attempt, random.Random(seed))
    assert bound <= p.cap
    if jitter == "none":
        assert d == bound
    elif jitter == "full":
        assert 0.0 <= d <= bound
    else:
        assert bound / 2 <= d <= bound


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0, 1000, allow_nan=False),
    extra=st.floats(0, 100_000, allow_nan=False),
    attempts=st.integers(2, 40),
)
def test_exponential_backoff_never_shrinks(base, extra, attempts):
    """Without jitter, each wait is at least as long as the one before."""
    p = RetryPolicy(attempts, base=base, cap=base + extra, jitter="none")
    waits = p.delays()
    assert all(a <= b for a, b in zip(waits, waits[1:], strict=False))


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts must be >= 1"),
        ({"max_attempts": -3}, ValueError, "got -3"),
        ({"max_attempts": 2.5}, TypeError, "max_attempts must be an int"),
        ({"max_attempts": True}, TypeError, "max_attempts must be an int"),
        ({"base": -1}, ValueError, "base must be >= 0 ms, got -1"),
        ({"base": float("nan")}, TypeError, "base must be a number"),
        ({"base": 500, "cap": 100}, ValueError, "cap must be >= base (500 ms), got 100"),
        ({"cap": float("inf")}, ValueError, "cap must be finite"),
        ({"jitter": "random"}, ValueError, "jitter must be one of"),
        ({"backoff": "linear"}, ValueError, "backoff must be one of"),
    ],
)
def test_bad_policy_is_refused_with_a_message_naming_it(kwargs, error, words):
    """Every bad parameter raises an error that names it and the rule."""
    with pytest.raises(error) as info:
        RetryPolicy(**kwargs)
    assert words in str(info.value)


def test_jitter_without_a_generator_is_refused():
    """Jitter needs a seeded generator: no silent fallback to global randomness."""
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        RetryPolicy(3, jitter="full").delay(1)


def test_attempt_zero_is_refused():
    """Attempts count from 1."""
    with pytest.raises(ValueError, match="attempt must be an int >= 1"):
        RetryPolicy(3).delay(0, random.Random(0))


# -- the policy inside a consumer ------------------------------------------------


def test_consumer_waits_what_the_policy_says_and_traces_it():
    """A DeadLetterConsumer waits 100, then 200 ms, and traces each wait as 'retried'."""
    sim = Simulation(0)
    broker = Broker(sim)
    broker.create_topic("orders")
    broker.create_topic("orders.dlq")

    def always_fail(event):
        raise RuntimeError("database unavailable")

    policy = RetryPolicy(3, backoff="exponential", base=100, jitter="none")
    DeadLetterConsumer(broker, "billing", "orders", always_fail, policy=policy)
    Producer(broker, "shop", "orders").emit("OrderPlaced", "order-1")
    sim.run()
    retried = sim.trace.filter(kind="retried")
    assert [r.time for r in retried] == [0.0, 100.0]
    assert [r.detail for r in retried] == [
        "attempt 1 of 3 failed; next in 100 ms",
        "attempt 2 of 3 failed; next in 200 ms",
    ]
    assert [r.time for r in sim.trace.filter(kind="dead-lettered")] == [300.0]


# -- the shared dependency and the retry storm -----------------------------------


def test_flaky_service_is_down_then_sheds_load_per_window():
    """Down until 250 ms; then 2 calls per 100 ms window succeed and the rest are shed."""
    sim = Simulation(0)
    svc = FlakyService(sim, capacity=2, window=100, down_until=250)
    with pytest.raises(ServiceUnavailable, match="down"):
        svc.call("a")
    sim.run(until=300)
    svc.call("a")
    svc.call("b")
    with pytest.raises(ServiceUnavailable, match="overloaded"):
        svc.call("c")
    sim.run(until=400)
    svc.call("c")
    assert [c[2] for c in svc.calls] == ["down", "ok", "ok", "overloaded", "ok"]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"capacity": 0}, "capacity must be an int >= 1"),
        ({"window": 0}, "window must be > 0 ms"),
        ({"down_until": -5}, "down_until must be >= 0 ms"),
    ],
)
def test_flaky_service_refuses_bad_settings(kwargs, words):
    """A service with an impossible setting is refused with a message naming it."""
    with pytest.raises(ValueError, match=words):
        FlakyService(Simulation(0), **kwargs)


def test_retries_without_jitter_come_back_in_step():
    """Without jitter all 20 clients retry in the same instant: every retry round is one spike."""
    storm = retry_storm("none")
    assert storm.peak_retries == 20
    spikes = [b for b in storm.buckets if b.retries]
    assert [b.start for b in spikes] == [100.0, 300.0, 700.0, 1500.0, 3100.0]
    assert [b.retries for b in spikes] == [20, 20, 15, 10, 5]
    assert storm.succeeded == 20 and storm.dead_lettered == 0


def test_full_jitter_flattens_the_storm():
    """Full jitter spreads the same retries: the peak per bucket falls to a quarter or less."""
    calm = retry_storm("full")
    storm = retry_storm("none")
    assert calm.peak_retries * 4 <= storm.peak_retries
    assert calm.attempts <= storm.attempts
    assert calm.finished_at < storm.finished_at
    assert calm.succeeded == 20


def test_storm_buckets_add_up_and_repeat():
    """Buckets account for every call, and the same seed gives the same buckets."""
    a = retry_storm("equal", seed=3)
    b = retry_storm("equal", seed=3)
    assert a.buckets == b.buckets
    assert sum(x.attempts for x in a.buckets) == a.attempts == len(a.service.calls)
    assert all(x.ok + x.failed == x.attempts for x in a.buckets)
    assert len(a.sim.trace.filter(kind="called")) == a.attempts


def test_retry_storm_refuses_a_bad_jitter_name():
    """An unknown jitter name is refused before anything runs."""
    with pytest.raises(ValueError, match="jitter must be one of"):
        retry_storm("decorrelated")


def test_flaky_service_checks_everything_before_taking_its_name():
    """A refused FlakyService leaves its name free, so the fixed call works; sim must be a runner."""
    sim = Simulation(0)
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        FlakyService(sim, capacity=0)
    FlakyService(sim)
    with pytest.raises(TypeError, match="sim must be a Simulation or another runner, got None"):
        FlakyService(None)

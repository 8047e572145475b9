"""Non-blocking retry topics vs blocking retries (evtlib.patterns.retry_topics)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Simulation
from evtlib.patterns.retry_topics import (
    RetryTopics,
    per_key_order_kept,
    retry_topic_names,
    retry_topics_run,
)

DELAYS = (10.0, 20.0, 40.0)

# A story: (gap before it in ms, order number, attempts that fail), one event per entry.
stories = st.lists(
    st.tuples(st.integers(0, 30), st.integers(1, 3), st.integers(0, 4)), min_size=1, max_size=12
)


def run_story(mode, entries):
    story, failures, t = [], {}, 0.0
    for i, (gap, order, fails) in enumerate(entries):
        t += gap
        story.append((t, f"order-{order}", f"Step{i}"))
        failures[(f"order-{order}", f"Step{i}")] = fails
    return retry_topics_run(mode, story=story, failures=failures, delays=DELAYS, service_time=2)


def test_spring_default_names():
    """Retry topics are suffixed -retry-<index>, the dead-letter topic -dlt (Spring's defaults)."""
    assert retry_topic_names("orders", 2) == (["orders-retry-0", "orders-retry-1"], "orders-dlt")


def test_retry_topics_let_a_later_event_of_the_same_order_overtake():
    """With retry topics, order-1's OrderCancelled is handled before its OrderPlaced."""
    run = retry_topics_run("retry-topics")
    assert not run.order_kept
    assert run.overtaken == ["order-1"]
    types = [h.event.type for h in run.chain.handled if h.event.key == "order-1"]
    assert types == ["OrderCancelled", "OrderPlaced"]
    placed = next(h for h in run.chain.handled if h.event.id == "evt-000001")
    assert (placed.topic, placed.attempt) == ("orders-retry-1", 3)


def test_blocking_retries_keep_the_order_and_make_everything_wait():
    """Blocking: same story, order kept, every later event waits behind the failing one."""
    blocking = retry_topics_run("blocking")
    flowing = retry_topics_run("retry-topics")
    assert blocking.order_kept and blocking.overtaken == []
    assert min(blocking.waited.values()) > 200  # all wait for the 100 + 200 ms of retries
    others = [w for e, w in flowing.waited.items() if e != "evt-000001"]
    assert max(others) < 10  # with retry topics only the failing event waits


def test_attempts_run_out_into_the_dead_letter_topic():
    """An event that fails every attempt lands once on orders-dlt, with the error and attempts."""
    for mode in ("retry-topics", "blocking"):
        run = retry_topics_run(mode, failures={("order-3", "OrderPlaced"): 99})
        (letter,) = run.chain.dead_letters
        assert letter.event.key == "order-3" and letter.attempts == 4
        assert letter.error_type == "TimeoutError" and letter.original_topic == "orders"
        assert [e.id for e in run.chain.broker.events("orders-dlt")] == [letter.event.id]


@settings(max_examples=60, deadline=None)
@given(stories)
def test_blocking_retries_never_reorder_a_key(entries):
    """Property: with blocking retries, per key, events are handled in published order."""
    run = run_story("blocking", entries)
    assert run.order_kept, run.chain.handled_order()


@settings(max_examples=60, deadline=None)
@given(stories, st.sampled_from(["blocking", "retry-topics"]))
def test_every_event_is_handled_or_dead_lettered_exactly_once(entries, mode):
    """Property: nothing is lost or doubled: each event is handled once or dead-lettered once."""
    run = run_story(mode, entries)
    handled = Counter(h.event.id for h in run.chain.handled)
    dead = Counter(d.event.id for d in run.chain.dead_letters)
    assert set(handled) | set(dead) == {e.id for _, e in run.published}
    assert not set(handled) & set(dead)
    assert max([*handled.values(), *dead.values()]) == 1
    fails = dict(((f"order-{o}", f"Step{i}"), n) for i, (_, o, n) in enumerate(entries))
    for _, e in run.published:
        assert (e.id in dead) == (fails[(e.key, e.type)] > len(DELAYS))


def test_per_key_order_kept_sees_an_overtake():
    """The checker itself: a later event first is a reorder; other keys do not count."""
    run = retry_topics_run("retry-topics")
    events = [e for _, e in run.published]
    assert not per_key_order_kept(events, run.chain.handled)
    assert per_key_order_kept(events, [h for h in run.chain.handled if h.event.key != "order-1"])


def test_bad_input_is_refused_with_the_rule():
    """Mode, delays and the broker are checked, naming the value."""
    sim = Simulation(0)
    broker = Broker(sim)
    broker.create_topic("orders")
    with pytest.raises(ValueError, match="mode"):
        RetryTopics(broker, "b", "orders", print, mode="sideways")
    with pytest.raises(ValueError, match="delays must be numbers of ms > 0"):
        RetryTopics(broker, "b", "orders", print, delays=(100, 0))
    with pytest.raises(ValueError, match="at least one"):
        RetryTopics(broker, "b", "orders", print, delays=())
    with pytest.raises(KeyError, match="unknown topic"):
        RetryTopics(broker, "b", "payments", print)
    with pytest.raises(ValueError, match="mode"):
        retry_topics_run("sideways")


def test_repr_shows_the_state():
    """The chain's repr names mode, topic, delays and counts."""
    run = retry_topics_run("retry-topics")
    assert repr(run.chain) == (
        "<RetryTopics billing retry-topics orders delays=[100.0, 200.0, 400.0] handled=7"
        " dead_lettered=0>"
    )


def test_the_explorer_pair_shows_when_retry_topics_keep_or_break_the_order():
    """A retry due before the next event of its order keeps the order; four failures dead-letter."""
    from evtlib.course.scenarios.dead_letters import draw_retry_topics_pair, retry_topics_pair

    quick = retry_topics_pair(fails=1, first_delay=20)
    assert [r.order_kept for r in quick] == [True, True]
    slow = retry_topics_pair(fails=1, first_delay=100)
    assert [r.order_kept for r in slow] == [True, False]
    gone = retry_topics_pair(fails=4)
    assert [len(r.chain.dead_letters) for r in gone] == [1, 1]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw_retry_topics_pair(gone)
    assert "dead-lettered" in [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match="fails"):
        retry_topics_pair(fails=5)

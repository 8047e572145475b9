"""The course's scenarios: each shows what its docstring promises, the same way every run."""

from __future__ import annotations

from collections import Counter

import pytest

from evtlib import lag_series
from evtlib.course import scenarios as S


def test_same_crash_loses_under_at_most_once():
    """At-most-once: the crash loses the order being charged and duplicates nothing."""
    run = S.billing_crash("at-most-once")
    tally = S.charge_tally(run)
    assert tally["never charged"] == 1
    assert tally["charged twice"] == 0
    assert run.group.stats()["lost"] == 1


def test_same_crash_duplicates_under_at_least_once():
    """At-least-once: the same crash charges some orders twice and loses none."""
    run = S.billing_crash("at-least-once")
    tally = S.charge_tally(run)
    assert tally["never charged"] == 0
    assert tally["charged twice"] >= 1
    assert sum(tally.values()) == run.producer.published


def test_committing_every_event_leaves_no_duplicate_here():
    """With commit_every=1 the crash hits before the effect, so the redelivery is no duplicate."""
    tally = S.charge_tally(S.billing_crash("at-least-once", commit_every=1))
    assert tally == {"charged once": 20, "charged twice": 0, "never charged": 0}


def test_scenarios_are_deterministic():
    """The same arguments give the same trace."""
    a, b = S.billing_crash(seed=3), S.billing_crash(seed=3)
    assert a.trace.records() == b.trace.records()
    assert S.lag_summary(S.shop(rate=70)) == S.lag_summary(S.shop(rate=70))


def test_slow_email_times_out_and_sends_twice():
    """Kafka evicts a member still handling after max.poll.interval.ms; its late commit fails and the event is
    redelivered while the first attempt finishes."""
    run = S.slow_email()
    assert run.trace.filter(kind="evicted") and run.trace.filter(kind="commit-rejected")
    assert max(Counter(run.effects).values()) == 2


def test_outage_buffers_then_catches_up():
    """While shipping is down its lag grows; afterwards it handles every order."""
    run = S.consumer_outage()
    series = lag_series(run.group, step=100)
    assert max(series.total) >= 25
    assert series.total[-1] == 0
    assert len(run.effects) == run.producer.published


def test_more_consumers_cut_lag_until_partitions_run_out():
    """Three consumers lag less than one; beyond the 4 partitions more change nothing."""
    one = S.lag_summary(S.shop(rate=80, consumers=1))
    three = S.lag_summary(S.shop(rate=80, consumers=3))
    assert three["max consumer lag"] < one["max consumer lag"]
    four = S.lag_summary(S.shop(rate=80, consumers=4))
    six = S.lag_summary(S.shop(rate=80, consumers=6))
    assert four == six


def test_shop_rejects_zero_consumers():
    """A shop needs at least one analytics consumer."""
    with pytest.raises(ValueError, match="consumers must be an int >= 1"):
        S.shop(consumers=0)


def test_story_follows_the_correlation_id():
    """The story of one order spans all three topics and every service."""
    run = S.shop_services()
    records = S.story(run, "order-7")
    actors = {r.actor for r in records}
    assert {"shop", "billing", "shipping", "email-1"} <= actors
    assert {r.topic for r in records if r.topic} == {"orders", "payments", "shipments"}
    with pytest.raises(KeyError, match="order-999"):
        S.story(run, "order-999")


def test_email_outage_does_not_slow_billing():
    """An e-mail outage leaves billing's consistency lag exactly as it was."""
    calm = S.shop_services()
    outage = S.shop_services(email_outage=(200.0, 400.0))
    assert list(calm.consumers[0].lags) == list(outage.consumers[0].lags)
    assert max(outage.consumers[3].lags) > max(calm.consumers[3].lags)


@pytest.mark.parametrize("publish_first", [False, True])
def test_dual_write_leaves_one_side_without_the_other(publish_first):
    """A crash between the two writes leaves an order without event (or an event without order)."""
    result = S.dual_write(publish_first=publish_first)
    tally = result.tally()
    orphans = tally["only in the topic"] if publish_first else tally["only in the database"]
    assert orphans == len(result.crashed) > 0
    assert tally["in both"] + orphans == 40


def test_unkeyed_events_get_applied_out_of_order():
    """Without a key some orders end with an older status; keyed by order id none do."""
    assert S.status_tally(S.out_of_order(keyed=False))["shows an older status"] > 0
    assert S.status_tally(S.out_of_order(keyed=True))["shows an older status"] == 0


def test_poison_message_blocks_only_its_partition():
    """The poison partition stalls with growing lag; the other one keeps flowing."""
    from evtlib import group_status

    run = S.poison_message()
    status = group_status(run.group)
    assert sorted(v for k, v in status.items() if k != "group") == ["OK", "STALL"]
    assert run.consumer.failures > 10


def test_retry_storm_needs_more_retriers_than_capacity():
    """Retries in step knock the provider over again only when they outnumber its capacity."""
    few = S.retry_storm(consumers=5).info["provider"]
    many = S.retry_storm(consumers=8).info["provider"]
    assert len(few.down) == 1
    assert len(many.down) > 2


def test_lag_spiral_has_a_tipping_point():
    """A 350 ms pause recovers; a 400 ms pause spirals into requeues and give-ups."""
    assert S.lag_spiral(350).info["gave_up"] == 0
    spiral = S.lag_spiral(400)
    assert spiral.info["gave_up"] > 50
    assert spiral.group.lag() > 0
    # A retry publishes the same event again: no new id, no changed data.
    published = spiral.broker.events("orders")
    assert len(published) == spiral.producer.published + spiral.info["requeued"]
    assert len({e.id for e in published}) == spiral.producer.published


def test_schema_drift_defaulting_is_wrong_strict_is_stuck():
    """A defaulting reader under-counts revenue; a strict one stops at the first renamed event."""
    defaulting = S.schema_drift()
    assert defaulting.info["counted_revenue"] < defaulting.info["true_revenue"]
    assert defaulting.group.lag() == 0
    strict = S.schema_drift(reader="strict")
    assert strict.group.lag() == 20
    assert strict.trace.filter(kind="failed")[0].detail == "KeyError: 'total'"


def test_half_finished_orders_stay_charged():
    """Orders inventory refuses are still charged: nothing undoes the payment."""
    run = S.half_finished()
    assert S.order_tally(run) == {"charged and reserved": 30, "charged, nothing to ship": 10}

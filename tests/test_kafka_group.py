"""Kafka group membership as Kafka runs it: heartbeats, session timeouts, eager and cooperative rebalances.

Every test cites the Kafka documentation of the behaviour it checks:

* consumer configs: https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms,
  https://kafka.apache.org/documentation/#consumerconfigs_heartbeat.interval.ms,
  https://kafka.apache.org/documentation/#consumerconfigs_max.poll.interval.ms,
  https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy
* the broker's floor: https://kafka.apache.org/documentation/#brokerconfigs_group.min.session.timeout.ms
* background heartbeats (KIP-62):
  https://cwiki.apache.org/confluence/display/KAFKA/KIP-62%3A+Allow+consumer+to+send+heartbeats+from+a+background+thread
* incremental (cooperative) rebalancing (KIP-429):
  https://cwiki.apache.org/confluence/display/KAFKA/KIP-429%3A+Kafka+Consumer+Incremental+Rebalance+Protocol
* eager vs cooperative revocation: https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy
  and the ConsumerPartitionAssignor.RebalanceProtocol javadoc
  https://kafka.apache.org/documentation/javadoc/org/apache/kafka/clients/consumer/ConsumerPartitionAssignor.RebalanceProtocol.html
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Consumer, Producer, Schedule, Simulation, crash
from evtlib.group import STRATEGIES, Stop, sticky_assign
from evtlib.profiles import profile

HB = 3_000  # heartbeat.interval.ms, Kafka's default


def shop(strategy="eager", partitions=4, session_timeout=None, settings_=None):
    sim = Simulation(0)
    broker = Broker(sim, settings={"partition.assignment.strategy": strategy, **(settings_ or {})})
    broker.create_topic("orders", partitions)
    group = broker.group("g", start="earliest", session_timeout=session_timeout)
    return sim, broker, group


class Spans(Consumer):
    """A consumer that notes when each of its handlings began and ended, per partition."""

    def __init__(self, *args, spans, **kwargs):
        super().__init__(*args, **kwargs)
        self.spans = spans

    def process(self, delivery):
        self.spans[delivery.partition].append((delivery.time, self.sim.now, self.name))


# -- settings -----------------------------------------------------------------------


def test_the_kafka_profile_simulates_session_heartbeat_and_assignment_strategy():
    """session.timeout.ms 45 s, heartbeat.interval.ms 3 s, and the eager default of
    partition.assignment.strategy ([RangeAssignor, CooperativeStickyAssignor] rebalances eagerly):
    https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"""
    kafka = profile("kafka")
    assert kafka.settings["session.timeout.ms"] == 45_000
    assert kafka.settings["heartbeat.interval.ms"] == HB
    assert kafka.settings["partition.assignment.strategy"] == "eager"
    assert kafka.settings["group.min.session.timeout.ms"] == 6_000
    for name in ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"):
        assert kafka.setting(name).simulated
    assert STRATEGIES == ("eager", "cooperative-sticky")
    with pytest.raises(ValueError, match="partition.assignment.strategy must be one of 'eager'"):
        Broker(Simulation(0), settings={"partition.assignment.strategy": "range"})


def test_a_groups_session_timeout_defaults_to_the_brokers_session_timeout_ms():
    """A group takes session.timeout.ms (45 s by default) unless it sets its own:
    https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms"""
    sim = Simulation(0)
    assert Broker(sim, name="a").group("g").session_timeout == 45_000
    tuned = Broker(sim, name="b", settings={"session.timeout.ms": 10_000})
    assert tuned.group("g").session_timeout == 10_000
    assert tuned.group("h", session_timeout=6_000).session_timeout == 6_000
    assert tuned.group("i", session_timeout=0).session_timeout == 0  # evtlib's instant detection


# -- heartbeats and the session timeout -----------------------------------------


def crash_and_notice(crash_at, joined_at=0.0, timeout=10_000):
    sim, broker, group = shop(partitions=2, session_timeout=timeout)
    a = Consumer(broker, "a", "orders", group="g", start=False)
    Consumer(broker, "b", "orders", group="g")
    sim.schedule_at(joined_at, a.start)
    sim.schedule_at(crash_at, a.crash)  # after its start (scheduled first)
    sim.run()
    (left,) = sim.trace.filter(kind="left", actor="a")
    return sim, group, left


@settings(max_examples=60)
@given(
    joined=st.floats(0, 10_000, allow_nan=False),
    after=st.floats(0, 60_000, allow_nan=False),
)
def test_a_crash_is_noticed_between_session_timeout_minus_heartbeat_and_session_timeout(
    joined, after
):
    """Heartbeats go every heartbeat.interval.ms; the coordinator removes a member
    session.timeout.ms after the last one, so detection takes (timeout - interval, timeout]:
    https://kafka.apache.org/documentation/#consumerconfigs_heartbeat.interval.ms"""
    _, group, left = crash_and_notice(joined + after, joined)
    delay = left.time - (joined + after)
    assert 10_000 - HB - 1e-6 < delay <= 10_000 + 1e-6
    assert "session timeout" in left.detail and "session.timeout.ms=10000" in left.detail
    assert [m.name for m in group.members] == ["b"]


def test_the_crashed_members_partitions_stay_stopped_until_it_expires_then_move():
    """Until the session times out the partitions of a crashed member are not handled by anyone:
    https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms"""
    sim, broker, group = shop(partitions=2, session_timeout=10_000)
    a = Consumer(broker, "a", "orders", group="g", service_time=5)
    Consumer(broker, "b", "orders", group="g", service_time=5)
    assert group.assignment() == {"orders[0]": "a", "orders[1]": "b"}
    Producer(broker, "p", "orders", Schedule([i * 1000.0 for i in range(20)]))
    crash(sim, a, at=4_500)  # last heartbeat at 3000: expires at 13000
    sim.run()
    (stop,) = [s for s in group.stops if s.why == "a crashed"]
    assert stop == Stop("orders[0]", 4_500, 13_000, "a crashed")
    handled_p0 = [r.time for r in sim.trace.filter(kind="handled") if r.partition == 0]
    assert not [t for t in handled_p0 if 4_500 < t < 13_000]
    assert group.assignment() == {"orders[0]": "b", "orders[1]": "b"}
    (assigned,) = [r for r in sim.trace.filter(kind="assigned") if r.partition == 0]
    assert assigned.actor == "b" and "stopped 8500 ms (a crashed)" in assigned.detail


def test_a_slow_handler_keeps_heartbeating():
    """KIP-62: heartbeats come from a background thread, so a handling longer than the session
    timeout (but within max.poll.interval.ms) does not get the member removed:
    https://cwiki.apache.org/confluence/display/KAFKA/KIP-62%3A+Allow+consumer+to+send+heartbeats+from+a+background+thread"""
    sim, broker, group = shop(partitions=1, session_timeout=10_000)
    Consumer(broker, "slow", "orders", group="g", service_time=60_000)
    Producer(broker, "p", "orders", Schedule([0, 0]))
    sim.run()
    assert not sim.trace.filter(kind=["left", "evicted"])
    assert [r.time for r in sim.trace.filter(kind="handled")] == [60_000, 120_000]


def test_a_graceful_stop_leaves_at_once():
    """close() sends LeaveGroup: the group rebalances now, not after the session timeout:
    https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms"""
    sim, broker, group = shop(partitions=2, session_timeout=45_000)
    a = Consumer(broker, "a", "orders", group="g")
    Consumer(broker, "b", "orders", group="g")
    sim.schedule_at(100, a.stop)
    sim.run()
    assert sim.now == 100
    assert group.assignment() == {"orders[0]": "b", "orders[1]": "b"}
    assert [(r.time, r.kind) for r in sim.trace.filter(kind=["left", "rebalanced"])][-2:] == [
        (100, "left"),
        (100, "rebalanced"),
    ]


def test_a_process_restarted_before_its_member_expired_joins_as_a_new_member():
    """Without static membership a restarted consumer is a new member; the rebalance it starts
    waits for the old member, which never rejoins, until its session times out:
    https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms"""
    sim, broker, group = shop(partitions=2, session_timeout=10_000)
    a = Consumer(broker, "a", "orders", group="g", service_time=5)
    Consumer(broker, "b", "orders", group="g", service_time=5)
    Producer(broker, "p", "orders", Schedule([i * 500.0 for i in range(40)]))
    crash(sim, a, at=1_000, restart_after=1_000)
    sim.run(until=5_000)
    assert [m.name for m in group.members] == ["a(old)", "b", "a"]
    assert group.rebalancing and [m.name for m in group.awaiting] == ["a(old)"]
    still = [s for s in group.stops if s.end is None]  # stopped now, since the crash or the revoke
    assert {s.partition for s in still} == {"orders[0]", "orders[1]"} and still[0].length is None
    # Eager: b revoked its partition too, so nothing at all flows while the group waits.
    assert not [r for r in sim.trace.filter(kind="handled") if 2_000 < r.time < 5_000]
    sim.run()
    (left,) = sim.trace.filter(kind="left", actor="a")
    assert left.time == 10_000  # last heartbeat at 0 (it joined at 0, crashed at 1000)
    assert [m.name for m in group.members] == ["b", "a"] and not group.rebalancing
    assert sorted(group.assignment().values()) == ["a", "b"]
    assert group.lag() == 0


# -- eager and cooperative rebalancing ----------------------------------------------


def join_mid_stream(strategy):
    """Three busy members of a 6-partition topic; a fourth joins at 205 ms."""
    sim, broker, group = shop(strategy, partitions=6, session_timeout=0)
    for name, service in (("a", 100), ("b", 250), ("c", 400)):
        Consumer(broker, name, "orders", group="g", service_time=service)
    Producer(broker, "p", "orders", Schedule([i * 20.0 for i in range(30)]))
    d = Consumer(broker, "d", "orders", group="g", service_time=10, start=False)
    sim.schedule_at(205, d.start)
    sim.run()
    return sim, group


def test_eager_stops_every_partition_until_the_last_member_rejoins():
    """Eager: every member revokes all its partitions at the rebalance and nothing flows until the
    busiest member has rejoined at its next poll:
    https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"""
    sim, group = join_mid_stream("eager")
    during = [s for s in group.stops if s.start >= 205]
    assert sorted(s.partition for s in during) == [
        f"orders[{p}]" for p in range(6) if p not in (2, 5)
    ]
    # c handled orders[2] (or [5]) until it could poll: everyone else waited for it.
    (ended,) = {s.end for s in during}
    assert ended > 205 and all(s.why.startswith("eager") for s in during)
    revoked = sim.trace.filter(kind="revoked")
    assert {r.actor for r in revoked} >= {"a", "b"}
    (done,) = [r for r in sim.trace.filter(kind="rebalanced") if r.time == ended]
    assert "->d" in done.detail


def test_cooperative_sticky_stops_only_the_partitions_that_move():
    """Cooperative-sticky: members keep their partitions; only those that move are revoked (first
    round) and handed to the new owner (second round), the rest keep flowing (KIP-429):
    https://cwiki.apache.org/confluence/display/KAFKA/KIP-429%3A+Kafka+Consumer+Incremental+Rebalance+Protocol"""
    sim, group = join_mid_stream("cooperative-sticky")
    during = [s for s in group.stops if s.start >= 205]
    assert 1 <= len(during) <= 2 and all(
        s.why == "cooperative rebalance: moves to d" for s in during
    )
    rounds = [r.detail for r in sim.trace.filter(kind="rebalanced") if r.time >= 205]
    assert rounds[0].startswith("round 1 (cooperative-sticky): ") and "->-" in rounds[0]
    assert rounds[1].startswith("round 2 (cooperative-sticky): ") and "->d" in rounds[1]
    owners = group.assignment()
    assert sorted(owners.values()).count("d") == len(during)


def test_eager_stops_more_partition_time_than_cooperative():
    """The point of KIP-429: the same join stops less with cooperative rebalancing:
    https://cwiki.apache.org/confluence/display/KAFKA/KIP-429%3A+Kafka+Consumer+Incremental+Rebalance+Protocol"""
    totals = {}
    for s in STRATEGIES:
        _, group = join_mid_stream(s)
        totals[s] = sum(x.length for x in group.stops if x.start >= 205)
    assert totals["eager"] > totals["cooperative-sticky"] > 0


def test_a_member_that_never_rejoins_is_removed_after_the_rebalance_timeout():
    """The rebalance timeout is max.poll.interval.ms: a member that has not rejoined by then is
    removed, even if its session would last longer:
    https://kafka.apache.org/documentation/#consumerconfigs_max.poll.interval.ms"""
    sim, broker, group = shop(
        partitions=2, session_timeout=60_000, settings_={"max.poll.interval.ms": 20_000}
    )
    a = Consumer(broker, "a", "orders", group="g")
    Consumer(broker, "b", "orders", group="g")
    crash(sim, a, at=1_000)
    c = Consumer(broker, "c", "orders", group="g", start=False)
    sim.schedule_at(2_000, c.start)
    sim.run()
    (left,) = sim.trace.filter(kind="left", actor="a")
    assert left.time == 22_000 and "rebalance timeout" in left.detail
    assert not group.rebalancing and sorted(group.assignment().values()) == ["b", "c"]


def test_sticky_assign_keeps_owners_and_balances():
    """The sticky assignors keep as many partitions with their owners as a balanced assignment
    allows: https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"""
    sim, broker, group = shop("cooperative-sticky", partitions=5, session_timeout=0)
    a = Consumer(broker, "a", "orders", group="g")
    b = Consumer(broker, "b", "orders", group="g")
    before = group.assignment()
    c = Consumer(broker, "c", "orders", group="g")
    after = group.assignment()
    counts = defaultdict(int)
    for owner in after.values():
        counts[owner] += 1
    assert sorted(counts.values()) == [1, 2, 2]
    moved = [p for p in before if before[p] != after[p]]
    assert len(moved) == counts["c"] == 1
    target = sticky_assign(list(group.states.values()), [a, b, c])
    assert {str(tp): m.name for tp, m in target.items()} == after


# -- never two members at once, over random schedules --------------------------------


@st.composite
def schedules(draw):
    return {
        "strategy": draw(st.sampled_from(STRATEGIES)),
        "partitions": draw(st.integers(1, 6)),
        "members": draw(st.integers(1, 4)),
        "session_timeout": draw(st.sampled_from([0, 50, 4_000])),
        "service": draw(st.sampled_from([1, 7, 30])),
        "concurrency": draw(st.sampled_from([1, 1, 2])),
        "commit_every": draw(st.sampled_from([1, 3])),
        "faults": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["crash", "stop", "join"]),
                    st.integers(0, 3),
                    st.floats(0, 600, allow_nan=False),
                    st.sampled_from([None, 20, 200]),
                ),
                max_size=5,
            )
        ),
        "seed": draw(st.integers(0, 5)),
    }


@settings(max_examples=80)
@given(schedules())
def test_two_members_never_handle_one_partition_at_once(cfg):
    """Each partition has one owner; a rebalance hands it over only after the former owner let go,
    eager or cooperative, under joins, crashes, restarts and stops:
    https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"""
    sim = Simulation(cfg["seed"])
    broker = Broker(sim, settings={"partition.assignment.strategy": cfg["strategy"]})
    broker.create_topic("orders", cfg["partitions"])
    group = broker.group("g", start="earliest", session_timeout=cfg["session_timeout"])
    spans = defaultdict(list)
    members = []

    def member(i, start=True):
        c = Spans(
            broker,
            f"m{i}",
            "orders",
            group="g",
            service_time=cfg["service"],
            concurrency=cfg["concurrency"],
            commit_every=cfg["commit_every"],
            spans=spans,
            start=start,
        )
        members.append(c)
        return c

    for i in range(cfg["members"]):
        member(i)
    Producer(broker, "p", "orders", Schedule([i * 10.0 for i in range(60)]))
    extra = len(members)
    for kind, who, at, back in cfg["faults"]:
        if kind == "join":
            sim.schedule_at(at, member(extra, start=False).start)
            extra += 1
        elif who < cfg["members"]:
            c = members[who]
            if kind == "crash":
                crash(sim, c, at=at, restart_after=back)
            else:
                sim.schedule_at(at, lambda c=c: c.alive and c.stop())
    sim.run()
    for p, handled in spans.items():
        handled.sort()
        for (s1, e1, m1), (s2, e2, m2) in zip(handled, handled[1:], strict=False):
            assert e1 <= s2 or m1 == m2, f"orders[{p}]: {m1} {s1}-{e1} overlaps {m2} {s2}-{e2}"
    assert not group.rebalancing  # every rebalance completed
    if any(m.alive for m in group.members):
        assert group.lag() == 0  # at-least-once: nothing lost
    for s in group.stops:
        assert s.end is None or s.end > s.start


# -- the course scenario ------------------------------------------------------------


def test_the_rebalancing_scenario_stops_less_under_cooperative_sticky():
    """The course's picture: eager stops every member's partitions at each rebalance, cooperative
    only the ones that move; the crashed member's partitions wait for its session timeout either way:
    https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evtlib.course.scenarios.rebalancing import (
        CRASH,
        REBALANCE,
        draw_rebalancing,
        rebalancing_run,
        stopped_ms,
    )
    from evtlib.viz.describe import describe

    eager, coop = (rebalancing_run(s) for s in STRATEGIES)
    assert eager.noticed_at == coop.noticed_at == 12_000  # last heartbeat at 6000, + 6 s
    a, b = stopped_ms(eager), stopped_ms(coop)
    assert a[REBALANCE] > 2 * b[REBALANCE] > 0
    assert 2 * 5_000 <= a[CRASH] and 2 * 5_000 <= b[CRASH] <= 2 * 6_000
    for run in (eager, coop):
        crash_stops = [
            s for spans in run.stopped.values() for s in spans if s[2] == "billing-2 crashed"
        ]
        assert len(crash_stops) == 2 and all(s[0] == 7_000 for s in crash_stops)
        assert not run.group.rebalancing and run.group.lag() == 0
    moved = [p for p, spans in coop.stopped.items() if any("moves to" in s[2] for s in spans)]
    assert moved == ["orders[5]"]
    assert rebalancing_run("eager").stopped == eager.stopped  # seeded: the same every time
    fig = draw_rebalancing([eager, coop])
    text = describe(fig)
    assert "eager" in text and "cooperative-sticky" in text and "group notices" in text
    assert CRASH in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match="strategy must be one of 'eager', 'cooperative-sticky'"):
        rebalancing_run("range")

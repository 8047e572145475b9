"""Misuse is refused with the right exception and a message naming the parameter and the value."""

from __future__ import annotations

import datetime
import math

import pytest

from evtlib import (
    Broker,
    BufferFullError,
    CommitError,
    Constant,
    Consumer,
    EmptySchedule,
    Event,
    Exponential,
    FrozenEventError,
    NetworkFaults,
    Poisson,
    Producer,
    Rate,
    ReadModel,
    Schedule,
    Simulation,
    Uniform,
    Upcaster,
    crash,
    lag_series,
    lag_status,
    pause,
    percentiles,
    throughput,
)


class World:
    """A small simulation at t=10 ms with a running, a crashed and an unstarted consumer."""

    def __init__(self) -> None:
        self.sim = Simulation(0)
        self.broker = Broker(self.sim)
        self.broker.create_topic("orders", 1)
        self.c = Consumer(self.broker, "c", "orders")
        self.down = Consumer(self.broker, "down", "orders", group="down")
        self.down.crash()
        self.idle = Consumer(self.broker, "idle", "orders", group="idle", start=False)
        self.p = Producer(self.broker, "p", "orders")
        self.sim.run(until=10)
        self.e = Event(id="evt-000001", type="OrderPlaced", time=0, key="k", data={"total": 1})
        self.up = Upcaster()
        self.up.register("OrderPlaced", 1, dict)
        self.full = Broker(self.sim, profile="rabbitmq", name="full")
        self.full.create_topic("orders")
        self.full.group("slow", settings={"x-max-length": 1, "x-overflow": "reject-publish"})
        Consumer(self.full, "slow", "orders", group="slow", start=False)
        self.full.publish("orders", self.e)


def event(**kw):
    fields = dict(id="evt-1", type="OrderPlaced", time=0)
    fields.update(kw)
    return Event(**fields)


CASES = [
    # -- simulation --
    ("seed", lambda w: Simulation(seed="7"), TypeError, r"seed must be an int, got '7'"),
    (
        "delay<0",
        lambda w: w.sim.schedule(-1, print),
        ValueError,
        r"delay must be a finite number of ms >= 0, got -1",
    ),
    (
        "delay-nan",
        lambda w: w.sim.schedule(math.nan, print),
        ValueError,
        r"delay must be a finite number of ms >= 0, got nan",
    ),
    (
        "timer<0",
        lambda w: w.sim.timer(-2, print),
        ValueError,
        r"delay must be a finite number of ms >= 0, got -2",
    ),
    ("fn", lambda w: w.sim.schedule(1, 42), TypeError, r"fn must be callable, got 42"),
    (
        "at-past",
        lambda w: w.sim.schedule_at(5, print),
        ValueError,
        r"time must be >= now \(10 ms\), got 5",
    ),
    (
        "until-past",
        lambda w: w.sim.run(until=5),
        ValueError,
        r"until must be >= now \(10 ms\).*got 5",
    ),
    (
        "until-type",
        lambda w: w.sim.run(until="soon"),
        TypeError,
        r"until must be a number of ms, got 'soon'",
    ),
    ("rng-name", lambda w: w.sim.rng_for(""), ValueError, r"name must be a non-empty str, got ''"),
    ("empty-step", lambda w: Simulation().step(), EmptySchedule, r"nothing is scheduled"),
    # -- broker and topics --
    (
        "unknown-topic",
        lambda w: w.broker.topic("payments"),
        KeyError,
        r"unknown topic 'payments'; known topics: orders",
    ),
    (
        "publish-unknown-topic",
        lambda w: w.broker.publish("payments", w.e),
        KeyError,
        r"unknown topic 'payments'",
    ),
    (
        "partitions=0",
        lambda w: w.broker.create_topic("t", 0),
        ValueError,
        r"partitions must be an int in 1..10000, got 0",
    ),
    (
        "partitions-float",
        lambda w: w.broker.create_topic("t", 2.0),
        TypeError,
        r"partitions must be an int in 1..10000, got 2.0",
    ),
    (
        "topic-twice",
        lambda w: w.broker.create_topic("orders"),
        ValueError,
        r"topic name must be unique, 'orders' already exists",
    ),
    (
        "topic-name",
        lambda w: w.broker.create_topic(""),
        ValueError,
        r"topic name must be a non-empty str, got ''",
    ),
    (
        "capacity-on-kafka",
        lambda w: w.broker.create_topic("t", capacity=5),
        ValueError,
        r"capacity must be None on the kafka profile, got 5: a Kafka topic has no capacity",
    ),
    (
        "policy-on-kafka",
        lambda w: w.broker.create_topic("t", policy="drop-oldest"),
        ValueError,
        r"policy must be None on the kafka profile, got 'drop-oldest'",
    ),
    (
        "latency<0",
        lambda w: Broker(w.sim, latency=-1, name="b2"),
        ValueError,
        r"latency must be a finite number of ms >= 0 or a Duration, got -1",
    ),
    (
        "faults-type",
        lambda w: Broker(w.sim, faults={"drop": 0.1}, name="b2"),
        TypeError,
        r"faults must be NetworkFaults or None, got \{'drop': 0.1\}",
    ),
    (
        "broker-name",
        lambda w: Broker(w.sim),
        ValueError,
        r"broker name must be unique in this simulation, 'broker' is taken",
    ),
    (
        "publish-non-event",
        lambda w: w.broker.publish("orders", {"id": "x"}),
        TypeError,
        r"event must be an Event, got dict: \{'id': 'x'\}",
    ),
    (
        "publish-full",
        lambda w: w.full.publish("orders", w.e.replace(id="evt-2")),
        BufferFullError,
        r"the queue of slow is full \(x-max-length, x-overflow='reject-publish'\): the broker nacked evt-2",
    ),
    (
        "read-partition",
        lambda w: w.broker.read("orders", 5),
        ValueError,
        r"partition must be an int in 0..0 for 'orders', got 5",
    ),
    (
        "read-offset",
        lambda w: w.broker.read("orders", 0, 3),
        ValueError,
        r"offset must be an int in 0..0 \(the log end\), got 3",
    ),
    (
        "group-start",
        lambda w: w.broker.group("g", start="middle"),
        ValueError,
        r"start must be one of 'earliest', 'latest', got 'middle'",
    ),
    (
        "session-timeout",
        lambda w: w.broker.group("g", session_timeout=-1),
        ValueError,
        r"session_timeout must be a finite number of ms >= 0, got -1",
    ),
    (
        "reset-offset",
        lambda w: w.c.group.reset_offsets(-1),
        ValueError,
        r"offset must be 'earliest', 'latest' or an int >= 0, got -1",
    ),
    ("reset-offset-str", lambda w: w.c.group.reset_offsets("first"), ValueError, r"got 'first'"),
    # -- network faults and durations --
    (
        "drop>1",
        lambda w: NetworkFaults(drop=1.5),
        ValueError,
        r"drop must be a probability between 0 and 1, got 1.5",
    ),
    (
        "duplicate<0",
        lambda w: NetworkFaults(duplicate=-0.1),
        ValueError,
        r"duplicate must be a probability between 0 and 1, got -0.1",
    ),
    (
        "delay-prob-type",
        lambda w: NetworkFaults(delay="often"),
        ValueError,
        r"delay must be a probability between 0 and 1, got 'often'",
    ),
    (
        "extra<0",
        lambda w: NetworkFaults(extra=-1),
        ValueError,
        r"extra must be a finite number of ms >= 0 or a Duration, got -1",
    ),
    ("constant-inf", lambda w: Constant(math.inf), ValueError, r"ms must be finite, got inf"),
    ("uniform-order", lambda w: Uniform(5, 1), ValueError, r"high must be >= low \(5\), got 1"),
    ("exponential-mean", lambda w: Exponential(0), ValueError, r"mean must be > 0, got 0"),
    ("rate=0", lambda w: Rate(0), ValueError, r"per_second must be > 0, got 0"),
    (
        "poisson-type",
        lambda w: Poisson("fast"),
        TypeError,
        r"per_second must be a number, got 'fast'",
    ),
    (
        "schedule-decreasing",
        lambda w: Schedule([5, 3]),
        ValueError,
        r"times must not decrease, got times\[1\]=3 after 5",
    ),
    (
        "schedule-negative",
        lambda w: Schedule([-1]),
        ValueError,
        r"times\[i\] must be >= 0 ms, got -1",
    ),
    # -- events --
    (
        "data-datetime",
        lambda w: event(data={"when": datetime.date(2024, 1, 1)}),
        TypeError,
        r"data\['when'\] must be JSON-serialisable.*got date datetime.date\(2024, 1, 1\)",
    ),
    (
        "data-nan",
        lambda w: event(data={"items": [1, math.nan]}),
        TypeError,
        r"data\['items'\]\[1\] must be JSON-serialisable, got the float nan",
    ),
    (
        "data-key",
        lambda w: event(data={1: "a"}),
        TypeError,
        r"data keys must be str for JSON, got the key 1",
    ),
    (
        "data-set",
        lambda w: event(data={"a": 1}).data.__setitem__("total", 9),
        FrozenEventError,
        r"cannot set 'total'",
    ),
    (
        "attr-set",
        lambda w: setattr(w.e, "type", "OrderCancelled"),
        FrozenEventError,
        r"cannot set 'type' on evt-000001",
    ),
    (
        "attr-del",
        lambda w: delattr(w.e, "data"),
        FrozenEventError,
        r"cannot delete 'data' on evt-000001",
    ),
    ("event-id", lambda w: event(id=""), TypeError, r"id must be a non-empty str, got ''"),
    ("event-key", lambda w: event(key=7), TypeError, r"key must be a non-empty str or None, got 7"),
    (
        "event-time",
        lambda w: event(time=-1),
        ValueError,
        r"time must be a finite number of ms >= 0, got -1",
    ),
    (
        "event-version",
        lambda w: event(version=0),
        ValueError,
        r"version must be an int >= 1, got 0",
    ),
    (
        "replace-unknown",
        lambda w: w.e.replace(colour="red"),
        TypeError,
        r"replace\(\) got unknown fields \['colour'\]",
    ),
    (
        "from-dict-missing",
        lambda w: Event.from_dict({"id": "x"}),
        ValueError,
        r"missing \['time', 'type'\]",
    ),
    (
        "from-dict-type",
        lambda w: Event.from_dict([("id", "x")]),
        TypeError,
        r"d must be a mapping, got list",
    ),
    (
        "upcaster-twice",
        lambda w: w.up.register("OrderPlaced", 1, dict),
        ValueError,
        r"an upcaster for OrderPlaced v1 is already registered",
    ),
    (
        "upcaster-version",
        lambda w: w.up.register("OrderPlaced", 0, dict),
        ValueError,
        r"from_version must be an int >= 1, got 0",
    ),
    # -- consumers --
    (
        "consumer-name-twice",
        lambda w: Consumer(w.broker, "c", "orders"),
        ValueError,
        r"consumer name must be unique in this simulation, 'c' is taken",
    ),
    (
        "consumer-unknown-topic",
        lambda w: Consumer(w.broker, "c2", "payments"),
        KeyError,
        r"unknown topic 'payments'",
    ),
    (
        "consumer-no-topics",
        lambda w: Consumer(w.broker, "c2", []),
        ValueError,
        r"topics must name at least one topic, got an empty list",
    ),
    (
        "join-twice",
        lambda w: w.c.group.join(w.c),
        ValueError,
        r"consumer 'c' is already a member of group 'c'",
    ),
    ("start-twice", lambda w: w.c.start(), ValueError, r"consumer 'c' is already started"),
    (
        "delivery",
        lambda w: Consumer(w.broker, "c2", "orders", delivery="exactly-once"),
        ValueError,
        r"delivery must be one of 'at-least-once', 'at-most-once', got 'exactly-once'",
    ),
    (
        "commit_every=0",
        lambda w: Consumer(w.broker, "c2", "orders", commit_every=0),
        ValueError,
        r"commit_every must be an int >= 1, got 0",
    ),
    (
        "concurrency-bool",
        lambda w: Consumer(w.broker, "c2", "orders", concurrency=True),
        TypeError,
        r"concurrency must be an int >= 1, got True",
    ),
    (
        "ack_timeout=0",
        lambda w: Consumer(w.broker, "c2", "orders", ack_timeout=0),
        ValueError,
        r"ack_timeout must be a finite number of ms > 0 or None, got 0",
    ),
    (
        "ack_timeout-at-most-once",
        lambda w: Consumer(w.broker, "c2", "orders", delivery="at-most-once", ack_timeout=5),
        ValueError,
        r"ack_timeout needs delivery='at-least-once', got ack_timeout=5 with delivery='at-most-once'",
    ),
    (
        "retry_delay<0",
        lambda w: Consumer(w.broker, "c2", "orders", retry_delay=-5),
        ValueError,
        r"retry_delay must be a finite number of ms >= 0, got -5",
    ),
    (
        "service_time<0",
        lambda w: Consumer(w.broker, "c2", "orders", service_time=-3),
        ValueError,
        r"service_time must be a finite number of ms >= 0 or a Duration, got -3",
    ),
    (
        "service_time-type",
        lambda w: Consumer(w.broker, "c2", "orders", service_time="fast"),
        TypeError,
        r"service_time must be a number of ms or a Duration.*got 'fast'",
    ),
    (
        "handler-type",
        lambda w: Consumer(w.broker, "c2", "orders", "print"),
        TypeError,
        r"handler must be callable \(handler\(event\)\) or None, got 'print'",
    ),
    (
        "fold-type",
        lambda w: ReadModel(w.broker, "rm", "orders", None),
        TypeError,
        r"fold must be callable \(fold\(state, event\) -> new state\), got None",
    ),
    (
        "commit-beyond-end",
        lambda w: w.c.commit("orders", 0, 5),
        ValueError,
        r"offset must be an int between 0 and the log end \(0\) of orders\[0\], got 5",
    ),
    (
        "commit-unknown-partition",
        lambda w: w.c.commit("orders", 7, 0),
        KeyError,
        r"group 'c' does not read orders\[7\]",
    ),
    (
        "commit-not-owner",
        lambda w: w.idle.commit("orders", 0, 0),
        CommitError,
        r"idle does not own orders\[0\]",
    ),
    (
        "crash-crashed",
        lambda w: w.down.crash(),
        ValueError,
        r"consumer 'down' is not running, so it cannot crash",
    ),
    (
        "restart-running",
        lambda w: w.c.restart(),
        ValueError,
        r"consumer 'c' is running; only a crashed consumer restarts",
    ),
    (
        "restart-never-started",
        lambda w: w.idle.restart(),
        ValueError,
        r"consumer 'idle' was never started",
    ),
    ("stop-crashed", lambda w: w.down.stop(), ValueError, r"consumer 'down' is not running"),
    ("resume-not-paused", lambda w: w.c.resume(), ValueError, r"consumer 'c' is not paused"),
    # -- producers --
    (
        "producer-unknown-topic",
        lambda w: Producer(w.broker, "p2", "payments"),
        KeyError,
        r"unknown topic 'payments'",
    ),
    (
        "producer-name-twice",
        lambda w: Producer(w.broker, "p", "orders"),
        ValueError,
        r"producer name must be unique in this simulation, 'p' is taken",
    ),
    (
        "arrivals-type",
        lambda w: Producer(w.broker, "p2", "orders", [0, 1]),
        TypeError,
        r"arrivals must be Schedule, Rate, Poisson or None, got \[0, 1\]",
    ),
    (
        "endless-poisson",
        lambda w: Producer(w.broker, "p2", "orders", Poisson(5)),
        ValueError,
        r"an endless arrival process needs count=\.\.\. or until=\.\.\..*got Poisson\(per_second=5\.0\)",
    ),
    (
        "count<0",
        lambda w: Producer(w.broker, "p2", "orders", Rate(1), count=-1),
        ValueError,
        r"count must be an int >= 0 or None, got -1",
    ),
    (
        "producer-until<0",
        lambda w: Producer(w.broker, "p2", "orders", Rate(1), until=-5),
        ValueError,
        r"until must be a time >= 0 ms or None, got -5",
    ),
    (
        "publish-non-event-producer",
        lambda w: w.p.publish("evt"),
        TypeError,
        r"event must be an Event, got str: 'evt'",
    ),
    # -- faults and metrics --
    (
        "crash-at-past",
        lambda w: crash(w.sim, w.c, at=3),
        ValueError,
        r"at must be a time >= now \(10 ms\), got 3",
    ),
    (
        "crash-at-not-a-number",
        lambda w: crash(w.sim, w.c, at="20"),
        TypeError,
        r"at must be a time in ms, got '20'",
    ),
    (
        "crash-not-consumer",
        lambda w: crash(w.sim, "c", at=20),
        TypeError,
        r"consumer must be a Consumer, got 'c'",
    ),
    (
        "restart_after=0",
        lambda w: crash(w.sim, w.c, at=20, restart_after=0),
        ValueError,
        r"restart_after must be > 0 ms or None, got 0",
    ),
    (
        "pause-duration",
        lambda w: pause(w.sim, w.c, at=20, duration=0),
        ValueError,
        r"duration must be a finite number of ms > 0, got 0",
    ),
    (
        "lag-step",
        lambda w: lag_series(w.c.group, step=0),
        ValueError,
        r"step must be > 0 ms, got 0",
    ),
    (
        "lag-window",
        lambda w: lag_status(w.c.group.states[("orders", 0)], window=-1),
        ValueError,
        r"window must be > 0 ms, got -1",
    ),
    (
        "percentile-q",
        lambda w: percentiles([1, 2], qs=(0,)),
        ValueError,
        r"percentiles must be in \(0, 100\], got 0",
    ),
    (
        "throughput-window",
        lambda w: throughput([1], window=0),
        ValueError,
        r"window must be > 0 ms, got 0",
    ),
    (
        "trace-filter-kind",
        lambda w: w.sim.trace.filter(kind=5),
        TypeError,
        r"kind must be a str or an iterable of str, got 5",
    ),
    # -- found by trying it as a new user would (issue: one owner for every piece of state) --
    (
        "schedule-inf",
        lambda w: w.sim.schedule(math.inf, print),
        ValueError,
        r"delay must be a finite number of ms >= 0, got inf",
    ),
    (
        "run-until-inf",
        lambda w: w.sim.run(until=math.inf),
        ValueError,
        r"until must be a finite number of ms \(use until=None",
    ),
    (
        "event-time-inf",
        lambda w: event(time=math.inf),
        ValueError,
        r"time must be a finite number of ms >= 0, got inf",
    ),
    (
        "retry_delay-inf",
        lambda w: Consumer(w.broker, "c2", "orders", retry_delay=math.inf),
        ValueError,
        r"retry_delay must be a finite number of ms >= 0, got inf",
    ),
    (
        "read-limit<0",
        lambda w: w.broker.read("orders", 0, 0, limit=-1),
        ValueError,
        r"limit must be an int >= 0, got -1",
    ),
    (
        "partitions-huge",
        lambda w: w.broker.create_topic("huge", 10**9),
        ValueError,
        r"partitions must be an int in 1..10000, got 1000000000",
    ),
    (
        "latency-inf",
        lambda w: Broker(w.sim, name="b-inf", latency=math.inf),
        ValueError,
        r"latency must be a finite number of ms >= 0 or a Duration, got inf",
    ),
    (
        "service_time-inf",
        lambda w: Consumer(w.broker, "c2", "orders", service_time=math.inf),
        ValueError,
        r"service_time must be a finite number of ms >= 0 or a Duration, got inf",
    ),
    (
        "service_time-nan",
        lambda w: Consumer(w.broker, "c2", "orders", service_time=math.nan),
        ValueError,
        r"service_time must be a finite number of ms >= 0 or a Duration, got nan",
    ),
    (
        "group-conflicting-start",
        lambda w: w.broker.group("c", start="earliest"),
        ValueError,
        r"start must be 'latest', the start of the existing group 'c', got 'earliest'",
    ),
    (
        "group-conflicting-timeout",
        lambda w: w.broker.group("c", session_timeout=500),
        ValueError,
        r"session_timeout must be 45000 ms, the session timeout of the existing group 'c', got 500",
    ),
    (
        "pause-overlap",
        lambda w: (pause(w.sim, w.c, at=100, duration=300), pause(w.sim, w.c, at=200, duration=50)),
        ValueError,
        r"a pause of 'c' from 200 to 250 ms overlaps the one already planned from 100 to 400 ms",
    ),
    (
        "crash-not-started",
        lambda w: crash(w.sim, w.idle, at=50),
        ValueError,
        r"consumer 'idle' was created with start=False and has not started",
    ),
]


@pytest.mark.parametrize("bad, exc, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_message_naming_it(bad, exc, message):
    """The call raises the stated exception, and the message names the parameter and value."""
    w = World()
    with pytest.raises(exc, match=message):
        bad(w)


def test_there_are_many_distinct_cases():
    """The table covers at least 30 distinct misuses."""
    assert len({c[0] for c in CASES}) == len(CASES) >= 30

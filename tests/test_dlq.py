"""The dead-letter queue: retry, give up visibly, inspect, redrive; and the invariants."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Consumer, Event, NetworkFaults, Producer, Simulation, crash, thaw
from evtlib.patterns.dlq import (
    DEAD_LETTER_TYPE,
    DeadLetterConsumer,
    DeadLetterQueue,
    DeadLetterRecord,
    conservation,
)
from evtlib.patterns.dlq_scenarios import dlq_sweep, head_of_line
from evtlib.patterns.retry import JITTERS, RetryPolicy

NO_JITTER = RetryPolicy(3, backoff="exponential", base=100, jitter="none")


def setup(partitions: int = 1, seed: int = 0) -> tuple[Simulation, Broker, Producer]:
    """A broker with an 'orders' topic, its 'orders.dlq' and a producer 'shop'."""
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("orders", partitions)
    broker.create_topic("orders.dlq")
    return sim, broker, Producer(broker, "shop", "orders")


def poison_handler(seen: list[str]):
    """A handler that records what it handled and fails on data {'poison': True}."""

    def handle(event: Event) -> None:
        if event.data.get("poison"):
            raise ValueError(f"cannot bill {event.key}")
        seen.append(event.id)

    return handle


# -- the pattern, step by step ---------------------------------------------------


def test_poison_event_is_dead_lettered_and_the_partition_moves_on():
    """After 3 failed attempts the poison event goes to the DLQ and the events behind it are handled."""
    sim, broker, shop = setup()
    seen: list[str] = []
    billing = DeadLetterConsumer(
        broker, "billing", "orders", poison_handler(seen), policy=NO_JITTER
    )
    first = shop.emit("OrderPlaced", "order-1", {"total": 10})
    bad = shop.emit("OrderPlaced", "order-2", {"poison": True})
    last = shop.emit("OrderPlaced", "order-3", {"total": 30})
    sim.run()
    assert seen == [first.id, last.id]
    assert billing.group.lag() == 0
    [record] = DeadLetterQueue(broker, "orders.dlq").list()
    assert record.event == bad
    assert (record.reason, record.attempts, record.error_type) == ("failed", 3, "ValueError")
    assert record.error_message == "cannot bill order-2"
    assert (record.first_failure, record.last_failure, record.dead_lettered_at) == (
        0.0,
        300.0,
        300.0,
    )
    assert (record.topic, record.partition, record.offset) == ("orders", 0, 1)
    assert (record.group, record.consumer) == ("billing", "billing")


def test_dead_letter_event_is_a_reaction_to_the_original():
    """The DLQ event keeps the key and correlation id and names the original as its cause."""
    sim, broker, shop = setup()
    DeadLetterConsumer(broker, "billing", "orders", poison_handler([]), policy=RetryPolicy(1))
    bad = shop.emit("OrderPlaced", "order-9", {"poison": True})
    sim.run()
    [letter] = broker.events("orders.dlq")
    assert letter.type == DEAD_LETTER_TYPE
    assert (letter.key, letter.causation_id, letter.correlation_id) == ("order-9", bad.id, bad.id)
    assert letter.source == "billing"


def test_validator_rejects_invalid_events_without_retrying():
    """An event the validator refuses is dead-lettered at once as 'rejected'."""
    sim, broker, shop = setup()
    calls: list[str] = []

    def positive_total(event: Event) -> bool:
        return event.data["total"] > 0

    DeadLetterConsumer(
        broker, "billing", "orders", lambda e: calls.append(e.id), validator=positive_total
    )
    shop.emit("OrderPlaced", "order-1", {"total": -5})
    shop.emit("OrderPlaced", "order-2", {"total": 5})
    sim.run()
    [record] = DeadLetterQueue(broker, "orders.dlq").list()
    assert (record.reason, record.attempts, record.error_type) == ("rejected", 1, "ValidationError")
    assert "positive_total returned False" in record.error_message
    assert calls == ["evt-000002"]
    assert sim.trace.filter(kind="retried") == []


def test_a_validator_that_raises_rejects_and_keeps_the_error():
    """A validator's exception rejects the event and is recorded, not swallowed."""
    sim, broker, shop = setup()

    def needs_total(event: Event) -> bool:
        return event.data["total"] >= 0

    DeadLetterConsumer(broker, "billing", "orders", lambda e: None, validator=needs_total)
    shop.emit("OrderPlaced", "order-1", {})
    sim.run()
    [record] = DeadLetterQueue(broker, "orders.dlq").list()
    assert (record.reason, record.error_type, record.error_message) == (
        "rejected",
        "KeyError",
        "'total'",
    )


def test_events_older_than_the_ttl_expire():
    """An event delivered more than ttl ms after its time is dead-lettered as 'expired'."""
    sim, broker, _ = setup()
    seen: list[str] = []
    DeadLetterConsumer(broker, "billing", "orders", lambda e: seen.append(e.id), ttl=1000)
    sim.run(until=1500)
    broker.publish("orders", Event("evt-old", "OrderPlaced", 0.0, key="order-1"))
    broker.publish("orders", Event("evt-new", "OrderPlaced", 1200.0, key="order-1"))
    sim.run()
    [record] = DeadLetterQueue(broker, "orders.dlq").list()
    assert (record.event.id, record.reason, record.error_type) == (
        "evt-old",
        "expired",
        "TTLExpired",
    )
    assert record.error_message == "age 1500 ms > ttl 1000 ms"
    assert seen == ["evt-new"]


def test_retries_that_outlive_the_ttl_expire():
    """A failing event whose next attempt comes after its ttl is dead-lettered as 'expired'."""
    sim, broker, shop = setup()
    DeadLetterConsumer(
        broker,
        "billing",
        "orders",
        poison_handler([]),
        policy=RetryPolicy(10, backoff="fixed", base=400, jitter="none"),
        ttl=1000,
    )
    shop.emit("OrderPlaced", "order-1", {"poison": True})
    sim.run()
    [record] = DeadLetterQueue(broker, "orders.dlq").list()
    assert (record.reason, record.attempts, record.dead_lettered_at) == ("expired", 4, 1200.0)
    assert (record.first_failure, record.last_failure) == (0.0, 800.0)


def test_the_dead_letter_record_is_plain_json():
    """A record survives JSON both ways, and its event comes back byte-identical."""
    sim, broker, shop = setup()
    DeadLetterConsumer(broker, "billing", "orders", poison_handler([]), policy=RetryPolicy(2))
    bad = shop.emit("OrderPlaced", "order-1", {"poison": True, "items": [1, 2.5, "x"]})
    sim.run()
    [letter] = broker.events("orders.dlq")
    text = json.dumps(thaw(letter.data), sort_keys=True)
    record = DeadLetterRecord.from_dict(json.loads(text))
    assert record == DeadLetterRecord.from_event(letter)
    assert Event.from_dict(json.loads(text)["event"]).to_json() == bad.to_json()
    assert record.to_json() == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_reprs_show_state():
    """Consumer, queue and record reprs show their state and no memory address."""
    sim, broker, shop = setup()
    c = DeadLetterConsumer(broker, "billing", "orders", poison_handler([]), policy=RetryPolicy(1))
    shop.emit("OrderPlaced", "order-1", {"poison": True})
    sim.run()
    q = DeadLetterQueue(broker, "orders.dlq")
    texts = [repr(c), repr(q), repr(q.list()[0])]
    assert texts[1] == "<DeadLetterQueue orders.dlq records=1 pending=1 reasons={'failed': 1}>"
    assert "dead_lettered=1" in texts[0]
    assert texts[2].startswith("<DeadLetterRecord evt-000001 failed attempts=1 from=orders[0]@0")
    assert not any("0x" in t for t in texts)


# -- inspection and redrive ------------------------------------------------------


def test_count_by_reason_and_error_type():
    """count_by groups the records, most common first."""
    sim, broker, shop = setup()
    DeadLetterConsumer(
        broker,
        "billing",
        "orders",
        poison_handler([]),
        policy=RetryPolicy(1),
        validator=lambda e: "total" in e.data,
    )
    shop.emit("OrderPlaced", "order-1", {"total": 1, "poison": True})
    shop.emit("OrderPlaced", "order-2", {})
    shop.emit("OrderPlaced", "order-3", {"total": 1, "poison": True})
    sim.run()
    q = DeadLetterQueue(broker, "orders.dlq")
    assert q.count_by("reason") == {"failed": 2, "rejected": 1}
    assert q.count_by("error_type") == {"ValueError": 2, "ValidationError": 1}
    assert q.count_by("key") == {"order-1": 1, "order-2": 1, "order-3": 1}
    assert len(q) == 3


def test_redrive_goes_back_to_the_source_at_the_given_rate():
    """Redrive republishes the same events, 4 per second, as new offsets of the source topic."""
    sim, broker, shop = setup()
    broken = {"on": True}
    seen: list[str] = []

    def handle(event: Event) -> None:
        if broken["on"]:
            raise ConnectionError("payments is down")
        seen.append(event.id)

    DeadLetterConsumer(broker, "billing", "orders", handle, policy=RetryPolicy(1))
    sent = [shop.emit("OrderPlaced", f"order-{i}") for i in range(3)]
    sim.run()
    broken["on"] = False
    q = DeadLetterQueue(broker, "orders.dlq")
    plan = q.redrive(rate=4)
    assert [(s.time, s.event_id, s.topic) for s in plan] == [
        (0.0, "evt-000001", "orders"),
        (250.0, "evt-000002", "orders"),
        (500.0, "evt-000003", "orders"),
    ]
    assert q.pending() == [] and q.redrive() == []  # nothing is redriven twice
    sim.run()
    assert seen == [e.id for e in sent]
    assert broker.events("orders")[3:] == sent  # same events, new offsets 3, 4, 5
    assert [r.time for r in sim.trace.filter(kind="redriven")] == [0.0, 250.0, 500.0]


def test_redrive_to_another_topic_and_only_some_records():
    """Redrive can pick records and send them to a parking topic instead."""
    sim, broker, shop = setup()
    broker.create_topic("orders.parked")
    DeadLetterConsumer(
        broker,
        "billing",
        "orders",
        poison_handler([]),
        policy=RetryPolicy(1),
        validator=lambda e: "total" in e.data,
    )
    shop.emit("OrderPlaced", "order-1", {"total": 1, "poison": True})
    rejected = shop.emit("OrderPlaced", "order-2", {})
    sim.run()
    q = DeadLetterQueue(broker, "orders.dlq")
    plan = q.redrive("orders.parked", rate=1, where=lambda r: r.reason == "rejected")
    sim.run()
    assert [s.event_id for s in plan] == [rejected.id]
    assert broker.events("orders.parked") == [rejected]
    assert [r.reason for r in q.pending()] == ["failed"]


# -- head-of-line blocking: the naive twin ---------------------------------------


def test_naive_consumer_blocks_the_partition_and_lag_climbs():
    """Retrying a poison event forever blocks everything behind it: lag only grows."""
    naive = head_of_line(dead_letter=False)
    lag = naive.lag.total
    assert naive.handled == 4 and naive.stuck == 36
    assert lag[-1] == 36
    blocked = lag[lag.index(1) :]  # from the poison event on
    assert all(a <= b for a, b in zip(blocked, blocked[1:], strict=False))
    assert naive.sim.peek() < float("inf")  # still retrying: it would never stop


def test_dead_letter_consumer_unblocks_the_partition():
    """The same run with a DeadLetterConsumer: lag returns to zero and nothing is stuck."""
    fixed = head_of_line(dead_letter=True)
    assert (fixed.handled, fixed.dead_lettered, fixed.stuck) == (39, 1, 0)
    assert fixed.lag.total[-1] == 0
    assert max(fixed.lag.total) < 10


# -- per-key order: the known trade-off ------------------------------------------


def test_redrive_breaks_order_per_key():
    """A redriven OrderPlaced arrives after the OrderShipped published behind it."""
    sim, broker, shop = setup()
    down = {"on": True}
    applied: list[str] = []

    def handle(event: Event) -> None:
        if event.type == "OrderPlaced" and down["on"]:
            raise ConnectionError("inventory is down")
        applied.append(event.type)

    DeadLetterConsumer(broker, "billing", "orders", handle, policy=NO_JITTER)
    placed = shop.emit("OrderPlaced", "order-1")
    shipped = shop.emit("OrderShipped", "order-1")
    sim.run()
    down["on"] = False
    DeadLetterQueue(broker, "orders.dlq").redrive(rate=1)
    sim.run()
    produced = [placed.type, shipped.type]
    assert applied == ["OrderShipped", "OrderPlaced"] != produced


# -- errors ----------------------------------------------------------------------


def bad_consumer(broker: Broker, **kwargs) -> DeadLetterConsumer:
    """Build a DeadLetterConsumer named 'bad' with ``kwargs``."""
    handler = kwargs.pop("handler", lambda e: None)
    return DeadLetterConsumer(broker, "bad", "orders", handler, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"validator": "not a function"}, TypeError, "validator must be callable"),
        ({"ttl": 0}, ValueError, "ttl must be > 0 ms or None, got 0"),
        ({"ttl": -10}, ValueError, "ttl must be > 0 ms"),
        ({"dlq": "nope.dlq"}, KeyError, "unknown dead-letter topic 'nope.dlq'"),
        ({"dlq": "orders"}, ValueError, "dlq must differ from the topics"),
        ({"policy": 3}, TypeError, "policy must be a RetryPolicy"),
        ({"handler": None}, TypeError, "handler must be callable"),
        ({"delivery": "at-most-once"}, ValueError, "delivery must be 'at-least-once'"),
    ],
)
def test_bad_consumer_settings_are_refused(kwargs, error, words):
    """Each bad setting raises an error naming it, before the consumer joins."""
    sim, broker, _ = setup()
    with pytest.raises(error) as info:
        bad_consumer(broker, **kwargs)
    assert words in str(info.value)
    assert broker.group("bad").members == []


def test_default_dlq_topic_must_exist():
    """Without dlq=..., '<topic>.dlq' is used, and its absence is reported."""
    sim = Simulation(0)
    broker = Broker(sim)
    broker.create_topic("payments")
    with pytest.raises(KeyError, match=r"payments\.dlq.*broker.create_topic"):
        DeadLetterConsumer(broker, "p", "payments", lambda e: None)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rate": 0}, ValueError, "rate must be > 0 events per second, got 0"),
        ({"rate": -2}, ValueError, "rate must be > 0"),
        ({"rate": float("inf")}, ValueError, "rate must be finite"),
        ({"to": "nowhere"}, KeyError, "unknown topic 'nowhere'"),
        ({"to": "orders.dlq"}, ValueError, "must not be the dead-letter topic"),
        ({"limit": -1}, ValueError, "limit must be an int >= 0"),
        ({"where": "reason == failed"}, TypeError, "where must be callable"),
    ],
)
def test_bad_redrive_is_refused(kwargs, error, words):
    """Each bad redrive argument raises an error naming it; nothing is scheduled."""
    sim, broker, _ = setup()
    q = DeadLetterQueue(broker, "orders.dlq")
    with pytest.raises(error) as info:
        q.redrive(**kwargs)
    assert words in str(info.value)
    assert sim.scheduled() == [] and q.redriven == []


def test_unknown_dlq_topic_and_bad_count_field():
    """A view of a missing topic, or counting by an unknown field, is refused."""
    sim, broker, _ = setup()
    with pytest.raises(KeyError, match="unknown DLQ topic 'orders.dead'"):
        DeadLetterQueue(broker, "orders.dead")
    with pytest.raises(ValueError, match="field must be one of"):
        DeadLetterQueue(broker, "orders.dlq").count_by("colour")
    with pytest.raises(KeyError, match="unknown group 'ghosts'"):
        conservation(broker, "ghosts")


def test_a_topic_that_is_not_a_dlq_is_not_read_as_one():
    """Reading an ordinary topic as a DLQ says what went wrong."""
    sim, broker, shop = setup()
    shop.emit("OrderPlaced", "order-1")
    with pytest.raises(ValueError, match="is a OrderPlaced, not a EventDeadLettered"):
        DeadLetterQueue(broker, "orders").list()


# -- invariants, property-based --------------------------------------------------

FAULTS = ("ok", "ok", "poison", "transient", "invalid", "stale")

event_plans = st.lists(
    st.tuples(
        st.integers(0, 2000),  # publish time
        st.integers(1, 5),  # key
        st.sampled_from(FAULTS),
        st.integers(1, 4),  # how many tries a transient fault fails
    ),
    max_size=25,
)


def run_plan(plan, *, partitions, max_attempts, jitter, seed, crash_at=None, stop=None):
    """Publish ``plan`` into 'orders' read by two DeadLetterConsumers in group 'billing'."""
    sim = Simulation(seed)
    broker = Broker(sim)
    broker.create_topic("orders", partitions)
    broker.create_topic("orders.dlq")
    tries: dict[str, int] = {}

    def handle(event: Event) -> None:
        n = tries[event.id] = tries.get(event.id, 0) + 1
        fault = event.data["fault"]
        if fault == "poison" or (fault == "transient" and n <= event.data["fails"]):
            raise RuntimeError(f"{fault} fault on try {n}")

    policy = RetryPolicy(max_attempts, base=40, jitter=jitter)
    members = [
        DeadLetterConsumer(
            broker,
            name,
            "orders",
            handle,
            group="billing",
            policy=policy,
            validator=lambda e: e.data["fault"] != "invalid",
            ttl=2500,
            service_time=5,
        )
        for name in ("billing-1", "billing-2")
    ]
    published: list[Event] = []
    for i, (t, key, fault, fails) in enumerate(plan):
        event = Event(
            f"evt-{i:03d}",
            "OrderPlaced",
            t,
            "shop",
            f"order-{key}",
            {"fault": fault, "fails": fails, "amount": i + 1},
        )
        published.append(event)
        late = 3000 if fault == "stale" else 0  # published long after it happened
        sim.schedule_at(t + late, broker.publish, "orders", event)
    if crash_at is not None:
        crash(sim, members[0], at=crash_at, restart_after=300)
    sim.run(until=stop)
    return sim, broker, members, published


@settings(max_examples=200, deadline=None)
@given(
    plan=event_plans,
    partitions=st.integers(1, 3),
    max_attempts=st.integers(1, 4),
    jitter=st.sampled_from(JITTERS),
    seed=st.integers(0, 1000),
    crash_at=st.none() | st.integers(0, 2500),
    stop=st.integers(0, 6000),
)
def test_nothing_vanishes(plan, partitions, max_attempts, jitter, seed, crash_at, stop):
    """At any moment published = handled + dead-lettered + in flight + waiting; at the end nothing waits."""
    sim, broker, members, published = run_plan(
        plan,
        partitions=partitions,
        max_attempts=max_attempts,
        jitter=jitter,
        seed=seed,
        crash_at=crash_at,
        stop=stop,
    )
    book = conservation(broker, "billing")
    assert book.balanced and book.vanished == 0
    assert book.published == len([p for p in plan if p[0] + 3000 * (p[2] == "stale") <= stop])
    sim.run()
    book = conservation(broker, "billing")
    assert book.balanced
    assert book.in_flight == book.waiting == 0
    assert book.handled + book.dead_lettered == book.published == len(plan)
    dead_ids = {r.event.id for r in DeadLetterQueue(broker, "orders.dlq").list()}
    for event in published:
        fault = event.data["fault"]
        if fault in ("poison", "invalid", "stale"):
            assert event.id in dead_ids  # never handled, so it must be in the DLQ


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    key=st.none() | st.text(min_size=1, max_size=8),
    time=st.floats(0, 1e6, allow_nan=False),
    version=st.integers(1, 5),
    reason=st.sampled_from(("failed", "rejected")),
)
def test_dead_lettered_content_is_unchanged(data, key, time, version, reason):
    """The event inside the DLQ, and the one redriven from it, equal the original: same id, same JSON."""
    sim = Simulation(0)
    broker = Broker(sim)
    broker.create_topic("orders")
    broker.create_topic("orders.dlq")
    original = Event("evt-x", "OrderPlaced", time, "shop", key, data, version=version)

    def fail(event: Event) -> None:
        raise ValueError("no")

    DeadLetterConsumer(
        broker,
        "billing",
        "orders",
        fail,
        policy=RetryPolicy(2, jitter="none"),
        validator=(lambda e: False) if reason == "rejected" else None,
    )
    sim.schedule_at(time, broker.publish, "orders", original)
    sim.run()
    q = DeadLetterQueue(broker, "orders.dlq")
    [record] = q.list()
    assert record.reason == reason
    assert record.event == original and record.event.id == original.id
    assert record.event.to_json() == original.to_json()
    [letter] = broker.events("orders.dlq")
    json.dumps(thaw(letter.data))  # plain JSON all the way down
    q.redrive(rate=10)
    sim.run()
    again = broker.events("orders")[1]
    assert again == original and again.to_json() == original.to_json()


def idempotent_fold(state: dict, event: Event) -> dict:
    """Add the event's amount to its key once: an id already applied is skipped."""
    if event.id in state["processed"]:
        return state
    state["processed"].add(event.id)
    state["totals"][event.key] = state["totals"].get(event.key, 0) + event.data["amount"]
    return state


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 100), st.booleans()), max_size=20),
    partitions=st.integers(1, 3),
    redrives=st.integers(1, 3),
    duplicate=st.sampled_from((0.0, 0.3)),
    seed=st.integers(0, 1000),
)
def test_redrive_into_an_idempotent_consumer_equals_first_time_success(
    amounts, partitions, redrives, duplicate, seed
):
    """Dead-letter some events, fix the cause, redrive (even several times): same state as if nothing failed."""

    def run(failing: bool) -> dict:
        sim = Simulation(seed)
        broker = Broker(sim, faults=NetworkFaults(duplicate=duplicate))
        broker.create_topic("orders", partitions)
        broker.create_topic("orders.dlq")
        state: dict = {"processed": set(), "totals": {}}
        down = {"on": failing}

        def handle(event: Event) -> None:
            if down["on"] and event.data["flaky"]:
                raise ConnectionError("ledger database is down")
            idempotent_fold(state, event)

        DeadLetterConsumer(broker, "ledger", "orders", handle, policy=RetryPolicy(2, base=10))
        for i, (key, amount, flaky) in enumerate(amounts):
            broker.publish(
                "orders",
                Event(
                    f"evt-{i:03d}",
                    "PaymentReceived",
                    0.0,
                    "shop",
                    f"acct-{key}",
                    {"amount": amount, "flaky": flaky},
                ),
            )
        sim.run()
        down["on"] = False
        for _ in range(redrives):
            # A fresh view each time: an operator redriving the same records again.
            DeadLetterQueue(broker, "orders.dlq").redrive(rate=50)
            sim.run()
        return state

    assert run(failing=True) == run(failing=False)


def test_redrive_without_idempotency_double_counts():
    """The same redrive twice into a non-idempotent fold counts payments twice: why idempotency matters."""
    sim, broker, shop = setup()
    totals: dict[str, int] = {}
    down = {"on": True}

    def handle(event: Event) -> None:
        if down["on"]:
            raise ConnectionError("down")
        totals[event.key] = totals.get(event.key, 0) + event.data["amount"]

    DeadLetterConsumer(broker, "ledger", "orders", handle, policy=RetryPolicy(1))
    shop.emit("PaymentReceived", "acct-1", {"amount": 5})
    sim.run()
    down["on"] = False
    DeadLetterQueue(broker, "orders.dlq").redrive()
    DeadLetterQueue(broker, "orders.dlq").redrive()  # a second view knows nothing of the first
    sim.run()
    assert totals == {"acct-1": 10}


# -- the sweep -------------------------------------------------------------------


def test_dlq_sweep_pattern_never_loses_or_sticks():
    """Over 150 random fault schedules the naive twin gets stuck; the pattern never loses or blocks."""
    result = dlq_sweep(150, seed=1)
    naive, pattern = result.naive, result.pattern
    assert naive.stuck_events > 0 and naive.schedules_blocked > 0 and naive.lag_at_end > 0
    assert naive.vanished == 0
    assert pattern.vanished == 0 and pattern.stuck_events == 0 and pattern.lag_at_end == 0
    assert pattern.handled + pattern.dead_lettered == pattern.published == naive.published
    assert pattern.dead_lettered >= result.poison_events
    # After one redrive only poison remains: every transient dead-letter recovered.
    assert pattern.dead_lettered - pattern.recovered_by_redrive == result.poison_events


def test_consumer_on_plain_consumer_is_the_naive_twin():
    """The plain Consumer is the naive twin: it retries the poison event forever."""
    sim, broker, shop = setup()
    Consumer(broker, "billing", "orders", poison_handler([]), retry_delay=100)
    shop.emit("OrderPlaced", "order-1", {"poison": True})
    shop.emit("OrderPlaced", "order-2")
    sim.run(until=1000)
    assert len(sim.trace.filter(kind="failed")) == 11
    assert broker.group("billing").lag() == 2

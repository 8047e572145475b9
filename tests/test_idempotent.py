"""Idempotent consumer vs. naive consumer: unit scenarios, errors and proven invariants.

Property tests run 200 examples each (``settings(max_examples=200)``).
The sweep test runs 500 schedules to stay fast; ``idempotent_sweep(1000)`` gives the
numbers quoted in the course (same outcome: zero failures for the id-set stores).
"""

from __future__ import annotations

import math
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Event, NetworkFaults, Simulation, Uniform, crash
from evtlib.patterns import (
    IDEMPOTENT_CRASH_POINTS,
    LEDGER_SCHEMA,
    ClosedDatabaseError,
    IdempotentConsumer,
    MemoryIdStore,
    NaiveConsumer,
    SqliteIdStore,
    SqlitePositionStore,
    charge_customer,
    connect,
    idempotent_sweep,
    ledger,
    retention_demo,
)

EXAMPLES = 200


def order(i: int, customer: str = "ada", total: int = 30) -> Event:
    return Event(
        id=f"evt-{i:06d}",
        type="OrderPlaced",
        time=0.0,
        source="orders",
        key=f"order-{i:06d}",
        data={"order_id": f"order-{i:06d}", "customer": customer, "total": total},
    )


@pytest.fixture
def world():
    sim = Simulation(seed=3)
    broker = Broker(sim)
    broker.create_topic("orders")
    # Crashes are noticed at once (session_timeout=0, a simplification of Kafka's 45 s).
    broker.group("billing", session_timeout=0)
    return sim, broker


# -- unit scenarios --------------------------------------------------------------


def test_id_set_skips_a_republished_event(world):
    """The same event published twice is charged once; the second is traced as skipped."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    billing = IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    broker.publish("orders", order(1))
    broker.publish("orders", order(1))
    sim.run()
    assert ledger(store) == {"balances": {"ada": 30}, "charges": ["evt-000001"]}
    assert (billing.applied, billing.skipped) == (1, 1)
    (skip,) = sim.trace.filter(kind="skipped-duplicate")
    assert skip.event_id == "evt-000001" and skip.offset == 1 and "group billing" in skip.detail
    assert store.processed_ids("billing") == ["evt-000001"]


def test_naive_consumer_charges_twice(world):
    """Without a memory of processed ids, a duplicate is a second charge."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    naive = NaiveConsumer(broker, "billing", "orders", charge_customer, store)
    broker.publish("orders", order(1))
    broker.publish("orders", order(1))
    sim.run()
    assert ledger(store)["balances"] == {"ada": 60} and naive.applied == 2


def test_memory_store_for_small_examples(world):
    """The in-memory store de-duplicates a dict state the same way."""
    sim, broker = world
    store = MemoryIdStore()
    IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    for e in (order(1), order(2, "bob", 5), order(1)):
        broker.publish("orders", e)
    sim.run()
    assert store.state == {
        "charges": ["evt-000001", "evt-000002"],
        "balances": {"ada": 30, "bob": 5},
    }


def test_position_store_skips_redeliveries_not_republications():
    """A tracking position catches a redelivered offset, but not the same event at a new offset."""
    sim = Simulation(seed=4)
    broker = Broker(sim, faults=NetworkFaults(duplicate=1.0))
    broker.create_topic("orders")
    store = SqlitePositionStore(schema=LEDGER_SCHEMA)
    billing = IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    broker.publish("orders", order(1))
    sim.run()
    assert billing.skipped == 1 and ledger(store)["balances"] == {"ada": 30}
    assert store.position("billing", "orders", 0) == 1
    broker.publish("orders", order(1))  # republished: offset 1, not below the position
    sim.run()
    assert ledger(store)["balances"] == {"ada": 60}
    assert store.positions() == {("billing", "orders", 0): 2}


def test_atomic_crash_after_effect_rolls_back_both(world):
    """atomic=True: a crash after the effect, before the commit, leaves neither; the redelivery charges once."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    billing = IdempotentConsumer(
        broker, "billing", "orders", charge_customer, store, crash_at="after-effect"
    )
    broker.publish("orders", order(1))
    sim.run(until=0)  # delivered, crashed at the point, down for 50 ms
    assert not billing.alive and sim.trace.filter(kind="crash-point")[0].detail == "after-effect"
    assert ledger(store)["charges"] == [] and store.processed_ids() == []
    sim.run()
    assert ledger(store) == {"balances": {"ada": 30}, "charges": ["evt-000001"]}
    kinds = [r.kind for r in sim.trace.filter(actor="billing")]
    assert kinds.index("failed") < kinds.index("crashed") < kinds.index("restarted")
    assert billing.skipped == 0 and billing.applied == 1


def test_non_atomic_crash_between_effect_and_row_double_charges(world):
    """atomic=False: the effect commits, the crash loses the row, the redelivery charges again."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    IdempotentConsumer(
        broker, "billing", "orders", charge_customer, store, atomic=False, crash_at="after-effect"
    )
    broker.publish("orders", order(1))
    sim.run(until=0)
    # Right after the crash: an effect without its processed row.
    assert ledger(store)["charges"] == ["evt-000001"] and store.processed_ids() == []
    sim.run()
    assert ledger(store)["balances"] == {"ada": 60}


def test_crash_after_commit_is_skipped_on_redelivery(world):
    """Crash after the transaction, before the offset commit: redelivered, recognised, skipped."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    billing = IdempotentConsumer(
        broker, "billing", "orders", charge_customer, store, crash_at="after-commit"
    )
    broker.publish("orders", order(1))
    sim.run()
    assert ledger(store)["balances"] == {"ada": 30} and billing.skipped == 1
    delivered = sim.trace.filter(actor="billing", kind=("delivered", "redelivered"))
    assert [(r.kind, r.time) for r in delivered] == [("delivered", 0), ("redelivered", 50)]


def test_failing_effect_rolls_back_and_retries(world):
    """An effect that raises halfway leaves nothing behind; the retry applies it once."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    calls = []

    def flaky(conn, event):
        charge_customer(conn, event)
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("payment gateway timed out")

    IdempotentConsumer(broker, "billing", "orders", flaky, store, retry_delay=10)
    broker.publish("orders", order(1))
    sim.run(until=0)
    assert ledger(store)["charges"] == [] and store.processed_ids() == []
    sim.run()
    assert len(calls) == 2 and ledger(store)["balances"] == {"ada": 30}


def test_processed_rows_are_keyed_by_group(world):
    """Two groups each process the event once; the consumer column holds the group."""
    sim, broker = world
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    IdempotentConsumer(broker, "billing-1", "orders", charge_customer, store, group="billing")
    IdempotentConsumer(broker, "audit-1", "orders", lambda c, e: None, store, group="audit")
    broker.publish("orders", order(1))
    sim.run()
    rows = store.db.execute("SELECT consumer, event_id FROM processed ORDER BY consumer").fetchall()
    assert rows == [("audit", "evt-000001"), ("billing", "evt-000001")]


def test_retention_shorter_than_redelivery_lets_duplicates_in():
    """Ids kept longer than the redelivery window block the duplicate; shorter ones let it in."""
    safe = retention_demo(retention_ms=1000, redelivered_after_ms=500)
    assert not safe.duplicate_applied and (safe.applied, safe.skipped) == (1, 1)
    unsafe = retention_demo(retention_ms=100, redelivered_after_ms=500)
    assert unsafe.duplicate_applied and unsafe.charged == 60 and unsafe.applied == 2
    assert any("forgot old processed ids" in line for line in unsafe.trace)


def test_memory_retention_forgets_old_ids():
    """cleanup(now) deletes ids older than retention_ms and counts them."""
    store = MemoryIdStore(retention_ms=100)
    sim = Simulation(seed=0)
    broker = Broker(sim)
    broker.create_topic("orders")
    IdempotentConsumer(broker, "billing", "orders", charge_customer, store)
    broker.publish("orders", order(1))
    sim.run()
    assert store.cleanup(100) == 0 and store.cleanup(100.5) == 1 and store.forgotten == 1


def test_reprs_show_state_without_addresses(world):
    """Stores and consumers describe themselves without memory addresses."""
    sim, broker = world
    ids, pos, mem = SqliteIdStore(), SqlitePositionStore(), MemoryIdStore(retention_ms=5)
    c = IdempotentConsumer(broker, "billing", "orders", charge_customer, mem)
    n = NaiveConsumer(broker, "naive", "orders", charge_customer, mem)
    for obj, text in (
        (ids, "<SqliteIdStore processed=0 retention=forever"),
        (pos, "<SqlitePositionStore positions={}>"),
        (mem, "<MemoryIdStore processed=0 retention=5ms"),
        (c, "<IdempotentConsumer billing MemoryIdStore atomic=True running"),
        (n, "<NaiveConsumer naive running applied=0>"),
    ):
        assert repr(obj).startswith(text) and "0x" not in repr(obj)


# -- clear errors ------------------------------------------------------------------


def test_effect_must_be_callable(world):
    """effect must be callable."""
    _, broker = world
    with pytest.raises(
        TypeError, match=r"effect must be callable as effect\(conn_or_state, event\), got 42"
    ):
        IdempotentConsumer(broker, "billing", "orders", 42, MemoryIdStore())  # type: ignore[arg-type]


def test_store_of_the_wrong_type(world):
    """store must be one of the three stores."""
    _, broker = world
    with pytest.raises(
        TypeError,
        match="store must be a SqliteIdStore, SqlitePositionStore or MemoryIdStore, got dict",
    ):
        IdempotentConsumer(broker, "billing", "orders", charge_customer, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, "10"])
def test_retention_must_not_be_negative(bad):
    """retention_ms must be a number >= 0."""
    with pytest.raises(ValueError, match=r"retention_ms must be a number of ms >= 0 or None, got"):
        SqliteIdStore(retention_ms=bad)
    with pytest.raises(ValueError, match=r"retention_ms must be a number of ms >= 0 or None, got"):
        MemoryIdStore(retention_ms=bad)


def test_unknown_crash_point(world):
    """An unknown crash point names itself and the allowed ones."""
    _, broker = world
    with pytest.raises(
        ValueError,
        match=r"unknown crash point 'between'; allowed: 'before-effect', 'after-effect', 'after-commit'",
    ):
        IdempotentConsumer(
            broker, "b", "orders", charge_customer, MemoryIdStore(), crash_at="between"
        )


def test_atomic_must_be_a_bool(world):
    """atomic is True or False, not a truthy string."""
    _, broker = world
    with pytest.raises(TypeError, match="atomic must be True or False, got 'yes'"):
        IdempotentConsumer(broker, "b", "orders", charge_customer, MemoryIdStore(), atomic="yes")  # type: ignore[arg-type]


def test_restart_after_must_be_positive(world):
    """restart_after must be > 0 ms."""
    _, broker = world
    with pytest.raises(ValueError, match="restart_after must be a number of ms > 0, got 0"):
        NaiveConsumer(broker, "b", "orders", charge_customer, MemoryIdStore(), restart_after=0)


def test_handler_is_not_accepted(world):
    """The effect is the handler: passing handler= as well is a TypeError."""
    _, broker = world
    with pytest.raises(TypeError, match="pass effect=..., not handler="):
        IdempotentConsumer(broker, "b", "orders", charge_customer, MemoryIdStore(), handler=print)


def test_closed_connection_for_a_store():
    """A closed connection is a ValueError naming the rule."""
    db = connect()
    db.close()
    with pytest.raises(ValueError, match="db must be an open sqlite3 connection, got a closed one"):
        SqliteIdStore(db)
    with pytest.raises(ValueError, match="db must be an open sqlite3 connection, got a closed one"):
        SqlitePositionStore(db)


def test_bad_store_arguments():
    """schema must be SQL text; a memory state must be a dict."""
    with pytest.raises(TypeError, match="schema must be SQL text or None, got 3"):
        SqliteIdStore(schema=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"state must be a dict or None, got list: \[\]"):
        MemoryIdStore([])  # type: ignore[arg-type]


def test_bad_demo_and_sweep_arguments():
    """The demonstrations check their numbers."""
    with pytest.raises(ValueError, match="redelivered_after_ms must be a number of ms > 0, got 0"):
        retention_demo(100, 0)
    with pytest.raises(
        ValueError, match="retention_ms must be a number of ms >= 0 or None, got -5"
    ):
        retention_demo(-5, 10)
    with pytest.raises(ValueError, match="n_schedules must be an int >= 1, got -1"):
        idempotent_sweep(-1)


# -- proven invariants ---------------------------------------------------------------

crash_plans = st.fixed_dictionaries(
    {p: st.lists(st.integers(1, 8), max_size=2) for p in IDEMPOTENT_CRASH_POINTS}
)


@st.composite
def schedules(draw, republish: bool = True):
    """Events, how often each is published, network faults, crash points and a consumer crash."""
    n = draw(st.integers(1, 6))
    copies = draw(st.lists(st.integers(1, 3 if republish else 1), min_size=n, max_size=n))
    return {
        "seed": draw(st.integers(0, 10_000)),
        "totals": draw(st.lists(st.integers(1, 50), min_size=n, max_size=n)),
        "copies": copies,
        "duplicate": draw(st.sampled_from([0.0, 0.3, 1.0])),
        "drop": draw(st.sampled_from([0.0, 0.2])),
        "plan": draw(crash_plans),
        "crash_at": draw(st.none() | st.floats(0, 100)),
        "ack_timeout": draw(st.sampled_from([None, 9.0])),
        "partitions": draw(st.sampled_from([1, 2])),
    }


def run_schedule(s, store, check):
    """Run schedule ``s`` against an idempotent consumer on ``store``, calling ``check`` after every step."""
    sim = Simulation(s["seed"])
    broker = Broker(
        sim, latency=Uniform(1, 5), faults=NetworkFaults(duplicate=s["duplicate"], drop=s["drop"])
    )
    broker.create_topic("orders", s["partitions"])
    # Crashes are noticed at once (session_timeout=0, a simplification of Kafka's 45 s).
    broker.group("billing", session_timeout=0)
    consumer = IdempotentConsumer(
        broker,
        "billing",
        "orders",
        charge_customer,
        store,
        crash_at=s["plan"],
        service_time=Uniform(1, 10),
        ack_timeout=s["ack_timeout"],
    )
    events = [order(i, f"c{i % 2}", total) for i, total in enumerate(s["totals"], 1)]
    for k, (e, copies) in enumerate(zip(events, s["copies"], strict=True)):
        for c in range(copies):
            sim.schedule(5 * k + 40 * c, partial(broker.publish, actor="relay"), "orders", e)
    if s["crash_at"] is not None:
        crash(sim, consumer, at=s["crash_at"], restart_after=30)
    while sim.peek() <= 10_000:
        sim.step()
        check(sim, broker, store)
    assert consumer.group.lag() == 0, "every published event was committed in the end"
    expected: dict[str, int] = {}
    for e in events:
        expected[e.data["customer"]] = expected.get(e.data["customer"], 0) + e.data["total"]
    state = ledger(store)
    # Each distinct event applied exactly once:
    assert state["balances"] == expected
    assert sorted(state["charges"]) == [e.id for e in events]
    return consumer


def processed_iff_effect(sim, broker, store):
    """A processed row exists if and only if its effect does (and the effect exists once)."""
    charges = ledger(store)["charges"]
    assert len(charges) == len(set(charges))
    assert set(store.processed_ids("billing")) == set(charges)


@settings(max_examples=EXAMPLES, deadline=None)
@given(s=schedules())
def test_sqlite_id_set_applies_each_event_once(s):
    """Any mix of republications, network duplicates, drops, timeouts and crashes (between or
    inside the transaction) ends with each distinct event applied once; at every step a
    processed row exists iff its effect does."""
    run_schedule(s, SqliteIdStore(schema=LEDGER_SCHEMA), processed_iff_effect)


@settings(max_examples=EXAMPLES, deadline=None)
@given(s=schedules())
def test_a_durable_memory_id_set_applies_each_event_once(s):
    """An in-memory store whose ids survive a crash (durable) keeps the SQLite one's promise."""
    run_schedule(s, MemoryIdStore(durable=True), processed_iff_effect)


@settings(max_examples=EXAMPLES, deadline=None)
@given(s=schedules(republish=False))
def test_position_store_applies_each_offset_once(s):
    """With redeliveries only, a tracking position gives each event once; the position never
    decreases, and the effects are exactly those of the offsets below it."""
    last: dict = {}

    def check(sim, broker, store):
        positions = store.positions()
        for key, pos in positions.items():
            assert pos >= last.get(key, 0), "a tracking position never decreases"
        last.update(positions)
        below = [
            e.id
            for (_, topic, p), pos in positions.items()
            for e in broker.read(topic, p, 0, limit=pos)
        ]
        assert sorted(ledger(store)["charges"]) == sorted(below)

    run_schedule(s, SqlitePositionStore(schema=LEDGER_SCHEMA), check)


def test_sweep_over_random_schedules():
    """Over 500 random fault schedules the naive and non-atomic consumers overcharge,
    the id-set stores never; the position store fails only where events were republished."""
    tallies = idempotent_sweep(500, seed=0)
    assert tallies["id-set"]["failed_schedules"] == 0 and tallies["id-set"]["extra_charges"] == 0
    memory = tallies["memory"]  # its ids die with the process: it fails exactly where it crashed
    assert memory["failed_schedules"] == memory["failed_with_crash"] > 0
    assert tallies["naive"]["failed_schedules"] > 0
    assert tallies["id-set non-atomic"]["failed_schedules"] > 0
    position = tallies["position"]
    assert position["failed_schedules"] == position["failed_with_republish"] > 0
    assert all(tallies[t]["missing_charges"] == 0 for t in tallies if t != "schedules")
    assert all(tallies[t]["unfinished"] == 0 for t in tallies if t != "schedules")


@pytest.mark.parametrize("store_type", [SqliteIdStore, SqlitePositionStore])
@pytest.mark.parametrize("consumer_type", [IdempotentConsumer, NaiveConsumer])
def test_a_store_closed_mid_run_stops_the_run_after_bounded_retries(store_type, consumer_type):
    """Closing the store's connection mid-run: a few retries, then a clear error (not retries for ever)."""
    sim = Simulation(1)
    broker = Broker(sim)
    broker.create_topic("orders")
    store = store_type(schema=LEDGER_SCHEMA)
    billing = consumer_type(broker, "billing", "orders", charge_customer, store)
    for i in range(3):
        sim.schedule(i * 10, broker.publish, "orders", order(i))
    sim.schedule(15, store.db.close)
    with pytest.raises(ClosedDatabaseError, match=r"'billing'.*closed.*gave up after 4 attempts"):
        sim.run(until=60_000)
    assert sim.now < 1_000  # it gave up within a few retry delays
    failed = [r for r in sim.trace if r.kind == "failed"]
    assert len(failed) == 1 + consumer_type.CLOSED_STORE_RETRIES == 4
    assert not billing.alive
    sim.run(until=60_000)  # running on does not retry for ever either
    assert len([r for r in sim.trace if r.kind == "failed"]) == 4


def test_other_handler_failures_are_still_retried_until_they_pass():
    """Handler failures with an open store are still retried as before (no give-up)."""
    sim = Simulation(1)
    broker = Broker(sim)
    broker.create_topic("orders")
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    fails = [6]

    def flaky(conn, event):
        if fails[0] > 0:
            fails[0] -= 1
            raise RuntimeError("payment provider down")
        charge_customer(conn, event)

    billing = IdempotentConsumer(broker, "billing", "orders", flaky, store)
    broker.publish("orders", order(1))
    sim.run()
    assert billing.applied == 1 and ledger(store)["balances"] == {"ada": 30}


def test_an_amount_sqlite_cannot_hold_is_a_clear_error():
    """An event whose total does not fit in SQLite's INTEGER fails with the rule, not OverflowError."""
    store = SqliteIdStore(schema=LEDGER_SCHEMA)
    with pytest.raises(
        ValueError, match=r"data\['total'\] must fit in a signed 64-bit integer.*got 10{30}"
    ):
        charge_customer(store.db, order(1, total=10**30))


def test_a_crash_wipes_an_in_memory_id_set_so_a_redelivery_is_applied_again():
    """A real in-memory set dies with its process: after a crash the consumer has forgotten what
    it processed, and the redelivery of events handled but not committed charges again."""
    sim = Simulation(0)
    broker = Broker(sim)
    broker.create_topic("orders")
    store = MemoryIdStore()
    billing = IdempotentConsumer(
        broker, "billing", "orders", charge_customer, store, commit_every=10, service_time=5
    )
    for i in (1, 2, 3):
        broker.publish("orders", order(i))
    crash(sim, billing, at=12, restart_after=10)  # 1 and 2 handled, not committed; 3 in hand
    sim.run()
    assert ledger(store)["charges"] == [f"evt-00000{i}" for i in (1, 2, 1, 2, 3)]
    (lost,) = sim.trace.filter(kind="processed-ids-lost")
    assert lost.detail == "2 processed ids were in its memory"
    durable = MemoryIdStore(durable=True)
    assert durable.crashed() == 0

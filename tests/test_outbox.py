"""Transactional outbox vs. dual write: unit scenarios, errors and proven invariants.

Property tests run 300 examples each (``settings(max_examples=300)``).
"""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Broker, Consumer, Event, Simulation
from evtlib.patterns import (
    OUTBOX_CRASH_POINTS,
    CrashPlan,
    DualWriteService,
    OrderService,
    OutboxRelay,
    SimulatedCrash,
    connect,
    crash_sweep,
    outbox_sweep,
    run_outbox_scenario,
)

EXAMPLES = 300


@pytest.fixture
def world():
    sim = Simulation(seed=1)
    broker = Broker(sim)
    broker.create_topic("orders")
    return sim, broker


def _rows(db: sqlite3.Connection, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # table: a constant


# -- the service -------------------------------------------------------------


def test_order_and_outbox_row_are_written_together(world):
    """place_order saves the order and its event as JSON in one transaction."""
    sim, broker = world
    service = OrderService(sim)
    event = service.place_order("ada", 30)
    assert service.orders() == [
        {"id": event.key, "customer": "ada", "total": 30, "status": "placed"}
    ]
    (row,) = service.outbox()
    assert row["seq"] == 1 and row["id"] == event.id and row["aggregateid"] == event.key
    assert row["aggregatetype"] == "Order" and row["type"] == "OrderPlaced"
    assert row["sent_at"] is None and row["created_at"] == sim.now
    assert Event.from_json(row["payload"]) == event
    assert json.loads(row["payload"])["data"] == {
        "order_id": event.key,
        "customer": "ada",
        "total": 30,
    }
    assert broker.events("orders") == []  # the service never publishes


def test_crash_before_commit_rolls_back_both_rows(world):
    """A crash before the commit leaves neither the order nor its outbox row."""
    sim, broker = world
    service = OrderService(sim, crash_at="before-commit")
    with pytest.raises(SimulatedCrash, match="before-commit"):
        service.place_order("ada", 30)
    assert _rows(service.db, "orders") == 0 and _rows(service.db, "outbox") == 0
    assert [r.kind for r in sim.trace] == ["crashed", "restarted"]
    service.place_order("bob", 20)  # the service is back
    assert _rows(service.db, "orders") == 1


def test_crash_after_commit_keeps_the_event_for_the_relay(world):
    """After the commit the event is safe: the relay publishes it although the caller saw a crash."""
    sim, broker = world
    service = OrderService(sim, crash_at="after-commit")
    with pytest.raises(SimulatedCrash):
        service.place_order("ada", 30)
    relay = OutboxRelay(sim, service.db, broker, "orders", until=500)
    sim.run()
    assert [e.key for e in broker.events("orders")] == ["order-000001"]
    assert relay.pending() == 0


# -- the relay ---------------------------------------------------------------


def test_relay_publishes_in_seq_order_and_marks_rows_sent(world):
    """Rows go out in seq order (oldest first), keyed by aggregate id, with a simulated sent_at."""
    sim, broker = world
    service = OrderService(sim)
    relay = OutboxRelay(sim, service.db, broker, "orders", poll_interval=100, until=1000)
    placed = []
    for i, t in enumerate((10, 20, 30)):
        sim.schedule_at(t, lambda i=i: placed.append(service.place_order(f"c{i}", 10 * i)))
    sim.run()
    assert broker.events("orders") == placed
    assert [r["sent_at"] for r in service.outbox()] == [100.0, 100.0, 100.0]
    assert relay.published == 3 and relay.duplicates == 0 and relay.polls == 11
    assert relay.empty_polls == 10  # every poll but the one at 100 ms found nothing


def test_relay_crash_after_publish_publishes_again_visibly(world):
    """A relay that dies before marking a row publishes it again, and the trace says so."""
    sim, broker = world
    service = OrderService(sim)
    service.place_order("ada", 30)
    relay = OutboxRelay(
        sim, service.db, broker, "orders", crash_at="relay-after-publish", restart_after=40
    )
    sim.run(until=300)
    relay.stop()
    events = broker.events("orders")
    assert len(events) == 2 and events[0] == events[1]
    dup = sim.trace.filter(kind="duplicate-published")
    assert len(dup) == 1 and dup[0].event_id == events[0].id and dup[0].time == 40
    assert "not marked sent" in dup[0].detail
    assert [r.kind for r in sim.trace.filter(actor="relay")][:3] == [
        "published",
        "crashed",
        "restarted",
    ]
    assert relay.duplicates == 1 and relay.crashed == 1 and relay.pending() == 0


def test_relay_crash_after_mark_is_harmless(world):
    """Dying after marking the row sent loses and duplicates nothing."""
    sim, broker = world
    service = OrderService(sim)
    service.place_order("ada", 30)
    service.place_order("bob", 40)
    relay = OutboxRelay(sim, service.db, broker, "orders", crash_at="relay-after-mark", until=900)
    sim.run()
    assert [e.key for e in broker.events("orders")] == ["order-000001", "order-000002"]
    assert relay.crashed == 1 and relay.duplicates == 0


def test_relay_batch_size_limits_each_poll(world):
    """With batch_size=2, five rows need three polls."""
    sim, broker = world
    service = OrderService(sim)
    for i in range(5):
        service.place_order(f"c{i}", i)
    relay = OutboxRelay(sim, service.db, broker, "orders", batch_size=2, start=False)
    assert [relay.poll(), relay.poll(), relay.poll(), relay.poll()] == [2, 2, 1, 0]


def test_relay_keeps_a_row_the_broker_rejected(world):
    """A nacked publish stops the batch; the row stays unsent and is tried again.

    RabbitMQ: a full queue with x-overflow=reject-publish nacks the publish
    (a Kafka topic never refuses for a slow consumer).
    """
    sim = Simulation(seed=2)
    broker = Broker(sim, profile="rabbitmq")
    broker.create_topic("orders")
    broker.group("idle", settings={"x-max-length": 1, "x-overflow": "reject-publish"})
    Consumer(broker, "idle", "orders", start=False)  # a queue that nobody reads
    service = OrderService(sim)
    service.place_order("ada", 1)
    service.place_order("bob", 2)
    relay = OutboxRelay(sim, service.db, broker, "orders", start=False)
    assert relay.poll() == 1
    assert relay.pending() == 1
    assert len(sim.trace.filter(kind="relay-publish-failed")) == 1


def test_cleanup_deletes_only_old_sent_rows(world):
    """cleanup(retention_ms) removes sent rows older than the retention, counted; unsent rows stay."""
    sim, broker = world
    service = OrderService(sim)
    relay = OutboxRelay(sim, service.db, broker, "orders", start=False)
    service.place_order("ada", 1)
    relay.poll()  # sent at 0
    sim.run(until=500)
    service.place_order("bob", 2)
    relay.poll()  # sent at 500
    service.place_order("cy", 3)  # unsent
    sim.run(until=1000)
    assert relay.cleanup(600) == 1  # only the row sent at 0
    assert relay.cleanup(600) == 0
    assert relay.cleanup(0) == 1
    assert relay.cleaned == 2 and [r["id"] for r in service.outbox()] == ["evt-000003"]
    assert len(sim.trace.filter(kind="outbox-cleaned")) == 2


def test_relay_resumes_from_a_file_database(tmp_path, world):
    """A relay started later, on its own connection to the same file, publishes what waits."""
    sim, broker = world
    path = str(tmp_path / "orders.db")
    OrderService(sim, path).place_order("ada", 30)
    relay = OutboxRelay(sim, path, broker, "orders", until=0)
    sim.run()
    assert [e.key for e in broker.events("orders")] == ["order-000001"] and relay.pending() == 0


# -- the naive twin ------------------------------------------------------------


def test_dual_write_db_first_loses_the_event(world):
    """Commit, crash, never publish: the order exists, nobody hears of it."""
    sim, broker = world
    service = DualWriteService(sim, broker, "orders", crash_at="after-commit")
    with pytest.raises(SimulatedCrash):
        service.place_order("ada", 30)
    assert _rows(service.db, "orders") == 1 and broker.events("orders") == []


def test_dual_write_publish_first_invents_an_event(world):
    """Publish, crash before the commit: everybody hears of an order that does not exist."""
    sim, broker = world
    service = DualWriteService(
        sim, broker, "orders", order="publish-first", crash_at="before-commit"
    )
    with pytest.raises(SimulatedCrash):
        service.place_order("ada", 30)
    assert _rows(service.db, "orders") == 0 and len(broker.events("orders")) == 1


def test_crash_sweep_table():
    """One crash at each point: the outbox never fails, each naive order fails at one point."""
    table = {(o.twin, o.crashes[0][0]): o for o in crash_sweep()}
    assert len(table) == 8
    assert all(o.ok for (twin, _), o in table.items() if twin == "outbox")
    assert table[("outbox", "relay-after-publish")].duplicates == 1
    assert table[("dual-write db-first", "after-commit")].lost_orders == ("order-000002",)
    assert table[("dual-write publish-first", "before-commit")].invented_orders == ("order-000002",)
    failing = sorted(k for k, o in table.items() if not o.ok)
    assert failing == [
        ("dual-write db-first", "after-commit"),
        ("dual-write publish-first", "before-commit"),
    ]


def test_scenarios_are_deterministic():
    """The same seed gives the same outcome, trace counts included."""
    a = run_outbox_scenario(11, pattern=True, n_orders=6)
    b = run_outbox_scenario(11, pattern=True, n_orders=6)
    assert a == b and a.trace_kinds == b.trace_kinds


def test_reprs_show_state_without_addresses(world):
    """Every object a learner touches has a readable repr."""
    sim, broker = world
    service = OrderService(sim)
    relay = OutboxRelay(sim, service.db, broker, "orders", start=False)
    naive = DualWriteService(sim, broker, "orders", name="naive")
    plan = CrashPlan("after-commit", allowed=OUTBOX_CRASH_POINTS)
    for obj, text in (
        (service, "<OrderService order-service placed=0"),
        (relay, "<OutboxRelay relay -> orders stopped"),
        (naive, "<DualWriteService naive order=db-first"),
        (plan, "<CrashPlan planned={'after-commit': [1]}"),
    ):
        assert repr(obj).startswith(text) and "0x" not in repr(obj)


# -- clear errors --------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -5, math.nan, math.inf, "10", True])
def test_poll_interval_must_be_positive(world, bad):
    """poll_interval <= 0 (or not a finite number) is refused, naming the parameter."""
    sim, broker = world
    with pytest.raises(ValueError, match=r"poll_interval must be a number of ms > 0, got"):
        OutboxRelay(sim, None, broker, "orders", poll_interval=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_batch_size_must_be_a_positive_int(world, bad):
    """batch_size < 1 or not an int is refused."""
    sim, broker = world
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got"):
        OutboxRelay(sim, None, broker, "orders", batch_size=bad)


def test_unknown_crash_point_names_value_and_allowed(world):
    """An unknown crash point is a ValueError listing the allowed points."""
    sim, _ = world
    with pytest.raises(
        ValueError, match=r"unknown crash point 'mid-commit'; allowed: 'before-commit'"
    ):
        OrderService(sim, crash_at="mid-commit")
    with pytest.raises(ValueError, match=r"crash_points names an unknown crash point 'x'"):
        run_outbox_scenario(0, crash_points=["x"])


def test_crash_visit_must_count_from_one(world):
    """Visits are counted from 1."""
    sim, _ = world
    with pytest.raises(ValueError, match=r"visits must be ints >= 1 .* got 0"):
        OrderService(sim, crash_at={"after-commit": 0})


def test_closed_connection_is_a_clear_value_error(world):
    """A closed connection is a ValueError at the call, not a ProgrammingError deep inside."""
    sim, broker = world
    db = connect()
    db.close()
    with pytest.raises(ValueError, match="db must be an open sqlite3 connection, got a closed one"):
        OrderService(sim, db)
    service = OrderService(sim, name="orders-2")
    relay = OutboxRelay(sim, service.db, broker, "orders", start=False)
    service.db.close()
    with pytest.raises(ValueError, match="db must be an open sqlite3 connection"):
        service.place_order("ada", 30)
    with pytest.raises(ValueError, match="db must be an open sqlite3 connection"):
        relay.poll()


def test_connection_with_an_open_transaction_is_refused(world):
    """The patterns own their transactions: a connection mid-transaction is refused."""
    sim, _ = world
    db = connect()
    db.execute("BEGIN")
    with pytest.raises(ValueError, match="db has an open transaction"):
        OrderService(sim, db)


def test_db_of_the_wrong_type(world):
    """db must be a connection or a path."""
    sim, _ = world
    with pytest.raises(TypeError, match="db must be a sqlite3.Connection, got dict"):
        OrderService(sim, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, "1"])
def test_retention_must_not_be_negative(world, bad):
    """cleanup and the relay refuse a negative (or non-number) retention."""
    sim, broker = world
    relay = OutboxRelay(sim, None, broker, "orders", start=False)
    with pytest.raises(ValueError, match=r"retention_ms must be a number of ms >= 0, got"):
        relay.cleanup(bad)
    with pytest.raises(ValueError, match=r"retention_ms must be a number of ms >= 0"):
        OutboxRelay(sim, None, broker, "orders", name="r2", retention_ms=bad)


def test_bad_order_arguments(world):
    """Orders need a customer name and a total >= 0; dual writes need a known order."""
    sim, broker = world
    service = OrderService(sim)
    with pytest.raises(TypeError, match="customer must be a non-empty str, got ''"):
        service.place_order("", 3)
    with pytest.raises(ValueError, match="total must be a number >= 0, got -3"):
        service.place_order("ada", -3)
    with pytest.raises(
        ValueError, match=r"order must be one of \('db-first', 'publish-first'\), got 'sideways'"
    ):
        DualWriteService(sim, broker, "orders", order="sideways")
    with pytest.raises(KeyError, match="unknown topic 'nope'"):
        OutboxRelay(sim, service.db, broker, "nope")


def test_bad_scenario_arguments():
    """Scenario runners check their numbers."""
    with pytest.raises(ValueError, match="n_orders must be an int >= 1, got 0"):
        run_outbox_scenario(0, n_orders=0)
    with pytest.raises(ValueError, match=r"crash_rate must be a probability in \[0, 1\), got 1.5"):
        run_outbox_scenario(0, crash_rate=1.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        run_outbox_scenario("0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_schedules must be an int >= 1, got 0"):
        outbox_sweep(0)


# -- proven invariants ----------------------------------------------------------

visits = st.lists(st.integers(1, 6), max_size=3)
plans = st.fixed_dictionaries({p: visits for p in OUTBOX_CRASH_POINTS})


@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 10_000), plan=plans, n_orders=st.integers(1, 6))
def test_outbox_never_loses_or_invents(seed, plan, n_orders):
    """For any crash schedule: every committed order's event is published, in seq order
    (commit order here: one writer),
    no rolled-back order's event ever is, and duplicates are exactly the relay's
    crashes between publishing and marking."""
    o = run_outbox_scenario(seed, pattern=True, crash_points=plan, n_orders=n_orders)
    assert o.lost == 0 and o.invented == 0 and o.ok
    assert o.in_seq_order
    assert o.committed == n_orders - sum(1 for p, _ in o.crashes if p == "before-commit")
    republished = sum(1 for p, _ in o.crashes if p == "relay-after-publish")
    assert o.duplicates == republished == o.trace_kinds.get("duplicate-published", 0)
    assert o.published == o.committed + o.duplicates


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    plan=plans,
    n_orders=st.integers(1, 6),
    order=st.sampled_from(["db-first", "publish-first"]),
)
def test_dual_write_fails_exactly_at_its_crash_points(seed, plan, n_orders, order):
    """The naive twin loses one event per crash after the commit (db-first), or invents
    one per crash before the commit (publish-first); it never duplicates."""
    o = run_outbox_scenario(seed, pattern=False, crash_points=plan, n_orders=n_orders, order=order)
    fired = [p for p, _ in o.crashes]
    assert "relay-after-publish" not in fired and o.duplicates == 0
    if order == "db-first":
        assert o.lost == fired.count("after-commit") and o.invented == 0
    else:
        assert o.invented == fired.count("before-commit") and o.lost == 0


def test_sweep_over_1000_random_schedules():
    """Over 1,000 random fault schedules the naive twins fail often, the outbox never."""
    tallies = outbox_sweep(1000, seed=0)
    assert tallies["outbox"]["failed_schedules"] == 0
    assert tallies["outbox"]["lost"] == tallies["outbox"]["invented"] == 0
    assert tallies["outbox"]["duplicates"] > 0  # real, and handled downstream
    assert tallies["dual-write db-first"]["failed_schedules"] > 0
    assert tallies["dual-write db-first"]["lost"] > 0
    assert tallies["dual-write publish-first"]["invented"] > 0


def test_a_plain_sqlite3_connection_works_too(world):
    """A connection in sqlite3's default (implicit transaction) mode is used with explicit ones."""
    sim, broker = world
    db = sqlite3.connect(":memory:")
    service = OrderService(sim, db)
    relay = OutboxRelay(sim, db, broker, "orders", until=100, retention_ms=0)
    service.place_order("ada", 3)
    sim.run()
    assert len(broker.events("orders")) == 1 and relay.cleaned == 1 and not db.in_transaction
    db.close()
    assert "unsent=closed" in repr(service) and "pending=closed" in repr(relay)


def test_a_database_path_in_a_missing_folder_names_the_path(world, tmp_path):
    """OrderService(db=<a path in a missing folder>) names the path, not just 'unable to open'."""
    sim, _ = world
    path = str(tmp_path / "no-such-folder" / "shop.db")
    with pytest.raises(
        ValueError, match=r"db must be ':memory:' or a SQLite file in an existing folder"
    ) as info:
        OrderService(sim, db=path)
    assert repr(path) in str(info.value)
    with pytest.raises(ValueError, match=r"path must be .* got '.*no-such-folder.*shop.db'"):
        connect(path)
    OrderService(sim)  # the refused one registered no name: the default name is still free


def test_an_amount_sqlite_cannot_hold_is_refused_with_the_rule(world):
    """A total of 10**30 is refused before the transaction (not SQLite's OverflowError); inf too."""
    sim, broker = world
    service = OrderService(sim)
    with pytest.raises(
        ValueError, match=r"total must fit in a signed 64-bit integer .* got 10{30}"
    ):
        service.place_order("ada", 10**30)
    with pytest.raises(ValueError, match=r"total must be a finite number >= 0 .* got inf"):
        service.place_order("ada", math.inf)
    dual = DualWriteService(sim, broker, "orders", name="dual")
    with pytest.raises(ValueError, match=r"total must fit in a signed 64-bit integer"):
        dual.place_order("ada", 2**63)
    service.place_order("ada", 2**63 - 1)  # the largest that fits
    assert service.orders()[0]["total"] == 2**63 - 1
    assert service.placed == 1 and len(service.outbox()) == 1


def test_a_refused_constructor_registers_no_name(world):
    """A typo fixed and run again (as in a notebook) does not fail with 'name taken'."""
    sim, broker = world
    with pytest.raises(ValueError, match="unknown crash point 'befor-commit'"):
        OrderService(sim, crash_at="befor-commit")
    service = OrderService(sim, crash_at="before-commit")
    with pytest.raises(ValueError, match="unknown crash point 'relay-after-pub'"):
        OutboxRelay(sim, service.db, broker, "orders", crash_at="relay-after-pub")
    with pytest.raises(TypeError, match="start must be True or False"):
        OutboxRelay(sim, service.db, broker, "orders", start="no")
    with pytest.raises(ValueError, match="unknown crash point"):
        DualWriteService(sim, broker, "orders", name="dual", crash_at="nowhere")
    OutboxRelay(sim, service.db, broker, "orders", crash_at="relay-after-publish")
    DualWriteService(sim, broker, "orders", name="dual")


def test_the_service_is_named_apart_from_its_topic(world):
    """The order service is 'order-service' (the events' source), the topic 'orders'."""
    sim, broker = world
    service = OrderService(sim)
    event = service.place_order("ada", 30)
    assert service.name == "order-service" and event.source == "order-service"
    assert "order-service wrote the change" in sim.trace.filter(kind="outbox-written")[0].sentence()

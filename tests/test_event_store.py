"""The event store: streams per aggregate, expected-version appends, snapshots."""

from __future__ import annotations

import doctest
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtlib import Event
from evtlib.patterns import event_store
from evtlib.patterns.event_store import (
    ANY,
    CommandRejected,
    ConcurrencyError,
    EventStore,
    Repository,
    SqliteEventStore,
)

#: The contract suite runs on every backend (in memory; SQLite in memory).
BACKENDS = pytest.mark.parametrize("make", [EventStore, SqliteEventStore], ids=["memory", "sqlite"])


def ev(i: int, stream: str = "order-1", kind: str = "Added", qty: int = 1) -> Event:
    return Event(id=f"e{i}", type=kind, time=0.0, source="t", key=stream, data={"qty": qty})


def total(state: int, event: Event) -> int:
    return state + event.data["qty"]


def test_docstring_example_runs():
    """The module's doctest (two writers, one conflict) holds."""
    assert doctest.testmod(event_store).failed == 0


@BACKENDS
def test_append_and_read_one_stream_at_a_time(make):
    """Each stream has its own versions; read returns only that stream's events."""
    store = make()
    assert store.append("order-1", [ev(1), ev(2)], expected_version=0) == 2
    assert store.append("order-2", [ev(3, "order-2")], expected_version=0) == 1
    assert store.append("order-1", [ev(4)], expected_version=2) == 3
    assert [e.id for e in store.read("order-1")] == ["e1", "e2", "e4"]
    assert [e.id for e in store.read("order-1", from_version=3)] == ["e4"]
    assert store.read("nothing") == [] and store.version("nothing") == 0
    assert [e.id for e in store.read_all()] == ["e1", "e2", "e3", "e4"]
    assert repr(store) == f"<{type(store).__name__} streams=2 events=4 snapshots=0>"


@BACKENDS
def test_a_stale_expected_version_is_refused_and_named(make):
    """The conflict names the stream, the version expected and the version found; nothing is appended."""
    store = make()
    store.append("order-1", [ev(1)], expected_version=0)
    with pytest.raises(ConcurrencyError) as err:
        store.append("order-1", [ev(2)], expected_version=0)
    assert (err.value.stream, err.value.expected, err.value.actual) == ("order-1", 0, 1)
    assert "'order-1' is at version 1" in str(err.value) and "expected version 0" in str(err.value)
    assert store.version("order-1") == 1
    with pytest.raises(ConcurrencyError):  # a new stream must not exist yet... and vice versa
        store.append("order-9", [ev(3, "order-9")], expected_version=2)
    assert "order-9" not in store.streams


@BACKENDS
def test_any_skips_the_check(make):
    """ANY is the naive twin: a stale writer appends anyway."""
    store = make()
    store.append("order-1", [ev(1)], expected_version=0)
    assert store.append("order-1", [ev(2)], expected_version=ANY) == 2


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: s.append("", [ev(1)], expected_version=0), ValueError, "stream must be"),
        (lambda s: s.append("a", [], expected_version=0), ValueError, "at least one event"),
        (lambda s: s.append("a", ["x"], expected_version=0), TypeError, "events must be an Event"),
        (lambda s: s.append("a", [ev(1)], expected_version=-1), ValueError, "expected_version"),
        (lambda s: s.append("a", [ev(1)], expected_version="2"), TypeError, "expected_version"),
        (lambda s: s.append("a", [ev(1), ev(1)], expected_version=0), ValueError, "unique"),
        (lambda s: s.read("a", from_version=0), ValueError, "from_version must be an int >= 1"),
        (lambda s: s.save_snapshot("a", 1, {}), ValueError, "version must be <= 0"),
    ],
)
@BACKENDS
def test_bad_input_is_named(make, call, error, match):
    """Each misuse names the parameter, the rule and the value."""
    with pytest.raises(error, match=match):
        call(make())


@BACKENDS
def test_repository_snapshots_bound_the_replay(make):
    """With a snapshot every 10 events, a load folds at most 9 events; the state is the full fold."""
    store = make()
    repo = Repository(store, total, 0, snapshot_every=10)
    for _ in range(25):
        repo.execute("order-1", lambda s: [("Added", {"qty": 2})])
    loaded = repo.load("order-1")
    assert (loaded.state, loaded.version, loaded.snapshot_version, loaded.replayed) == (
        50,
        25,
        20,
        5,
    )
    assert store.snapshot("order-1").version == 20
    assert Repository(store, total, 0).load("order-1").replayed == 25  # no snapshots: all of it


@BACKENDS
def test_execute_retries_a_conflict_on_fresh_state_and_rejections_propagate(make):
    """A conflicting save is retried after a fresh load; a rejected command raises CommandRejected."""
    store = make()
    repo = Repository(store, total, 0)
    seen = []

    def decide(state):
        seen.append(state)
        if len(seen) == 1:  # another writer sneaks in after our load
            store.append("order-1", [ev(99)], expected_version=store.version("order-1"))
        return [("Added", {"qty": 1})]

    assert repo.execute("order-1", decide, retries=1) == 2
    assert seen == [0, 1]

    def refuse(state):
        raise CommandRejected("no")

    with pytest.raises(CommandRejected):
        repo.execute("order-1", refuse)


@BACKENDS
def test_execute_gives_up_after_its_retries(make):
    """With retries=0 the first conflict propagates."""
    store = make()
    repo = Repository(store, total, 0)

    def decide(state):
        store.append("order-1", [ev(store.version("order-1") + 100)], expected_version=ANY)
        return [("Added", {"qty": 1})]

    with pytest.raises(ConcurrencyError):
        repo.execute("order-1", decide, retries=0)


@BACKENDS
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_racing_writers_exactly_one_append_wins_per_version(make, data):
    """Writers load, then append expecting what they loaded: among those that loaded a version, exactly one wins."""
    writers = data.draw(st.integers(2, 5))
    # Each writer loads once, then appends once: any interleaving that keeps its load first.
    todo = {w: ["load", "append"] for w in range(writers)}
    order = []
    while todo:
        w = data.draw(st.sampled_from(sorted(todo)))
        order.append((w, todo[w].pop(0)))
        if not todo[w]:
            del todo[w]
    store = make()
    repo = Repository(store, total, 0)
    loaded, won, lost = {}, {}, {}
    for w, op in order:
        if op == "load":
            loaded[w] = repo.load("order-1")
        else:
            try:
                won[w] = repo.save(loaded[w], [("Added", {"qty": 1})])
            except ConcurrencyError as exc:
                assert exc.expected == loaded[w].version < exc.actual
                lost[w] = exc
    by_version: dict[int, list[int]] = {}
    for w, got in loaded.items():
        by_version.setdefault(got.version, []).append(w)
    for version, ws in by_version.items():
        assert sum(w in won for w in ws) == 1, (version, ws, won)
    assert sorted(won.values()) == list(range(1, store.version("order-1") + 1))
    assert len(won) + len(lost) == writers


@BACKENDS
@settings(max_examples=100, deadline=None)
@given(
    quantities=st.lists(st.integers(-5, 9), min_size=1, max_size=40),
    every=st.integers(1, 7),
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=40),
)
def test_snapshot_plus_tail_equals_full_replay(make, quantities, every, batches):
    """Whatever the batch sizes and snapshot interval, a load from snapshot + tail equals a full replay."""
    store = make()
    repo = Repository(store, lambda s, e: [*s, e.data["qty"]], [], snapshot_every=every)
    it = iter(quantities)
    for size in batches:
        batch = [q for _, q in zip(range(size), it, strict=False)]
        if not batch:
            break
        repo.execute("order-1", lambda s, b=batch: [("Added", {"qty": q}) for q in b])
    loaded = repo.load("order-1")
    full = reduce(lambda s, e: [*s, e.data["qty"]], store.read("order-1"), [])
    assert loaded.state == full
    assert loaded.version == store.version("order-1")
    assert loaded.replayed <= every + max(batches) - 1
    snap = store.snapshot("order-1")
    if snap is not None:
        assert snap.state == full[: snap.version]


@BACKENDS
def test_a_snapshot_is_a_copy(make):
    """A fold that mutates its state cannot change a snapshot already kept."""
    store = make()

    def mutating(state, event):
        state.append(event.data["qty"])
        return state

    repo = Repository(store, mutating, [], snapshot_every=1)
    repo.execute("order-1", lambda s: [("Added", {"qty": 1})])
    repo.execute("order-1", lambda s: [("Added", {"qty": 2})])
    assert store.snapshot("order-1").state == [1, 2]
    assert repo.load("order-1").state == [1, 2]


def test_repository_checks_its_arguments():
    """Bad repository arguments name themselves."""
    with pytest.raises(TypeError, match="store must be an EventStore"):
        Repository({}, total, 0)
    with pytest.raises(ValueError, match="snapshot_every must be an int >= 1, got 0"):
        Repository(EventStore(), total, 0, snapshot_every=0)
    with pytest.raises(TypeError, match="fold must be callable"):
        Repository(EventStore(), 3, 0)


def test_two_processes_on_one_sqlite_file_conflict(tmp_path):
    """Two stores on one file are two processes: the second append at the same version is refused."""
    path = str(tmp_path / "events.db")
    a, b = SqliteEventStore(path), SqliteEventStore(path)
    ra, rb = Repository(a, total, 0), Repository(b, total, 0)
    ra.save(ra.load("order-1"), [("Added", {"qty": 1})])
    seen_a, seen_b = ra.load("order-1"), rb.load("order-1")  # both read version 1
    assert rb.save(seen_b, [("Added", {"qty": 2})]) == 2
    with pytest.raises(
        ConcurrencyError, match="'order-1' is at version 2, the append expected version 1"
    ):
        ra.save(seen_a, [("Added", {"qty": 3})])
    assert [e.data["qty"] for e in a.read("order-1")] == [1, 2]
    assert a.read("order-1")[1] == b.read("order-1")[1]  # the event round-trips through JSON


def test_the_primary_key_refuses_a_second_row_for_a_version():
    """Even a writer that skipped the check cannot insert version 1 twice: SQLite refuses it."""
    import sqlite3

    store = SqliteEventStore()
    store.append("order-1", [ev(1)], expected_version=0)
    with pytest.raises(
        sqlite3.IntegrityError, match="UNIQUE constraint failed: events.stream, events.version"
    ):
        store.db.execute(
            "INSERT INTO events (stream, version, position, id, event) VALUES ('order-1', 1, 9, 'x', '{}')"
        )


def test_sqlite_snapshots_must_be_json_and_a_closed_db_is_named():
    """A state JSON cannot hold is refused by name; a closed database says so."""
    from evtlib.patterns.sqlite import ClosedDatabaseError

    store = SqliteEventStore()
    store.append("order-1", [ev(1)], expected_version=0)
    with pytest.raises(TypeError, match="state must be a JSON value"):
        store.save_snapshot("order-1", 1, {1, 2})
    store.db.close()
    assert repr(store) == "<SqliteEventStore streams=closed events=closed snapshots=closed>"
    with pytest.raises(ClosedDatabaseError):
        store.append("order-1", [ev(2)], expected_version=1)

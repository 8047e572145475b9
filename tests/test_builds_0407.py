"""The fault schedules behind the build exercises of notebooks 04-07: each wrong idea breaks its invariant."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from evtlib import Consumer  # noqa: E402
from evtlib.course.exercises import nb04, nb05, nb06, nb07  # noqa: E402
from evtlib.course.scenarios.build_check import sweep  # noqa: E402
from evtlib.course.scenarios.builds_04_07 import (  # noqa: E402
    billing_schedule,
    fold_schedule,
    relay_schedule,
    retry_schedule,
)
from evtlib.course.solutions import nb04 as s03  # noqa: E402
from evtlib.course.solutions import nb05 as s04  # noqa: E402
from evtlib.course.solutions import nb06 as s05  # noqa: E402
from evtlib.course.solutions import nb07 as s06  # noqa: E402

N = 40  # schedules per sweep here; the notebooks' checks run 200


def _billing(delivery="at-least-once", commit_every=1, handler=True):
    def start_billing(broker, charge):
        return Consumer(
            broker,
            "billing",
            "orders",
            charge if handler else None,
            service_time=10,
            delivery=delivery,
            commit_every=commit_every,
        )

    return start_billing


def _fold(remember):
    def fold(state, event):
        if remember(state, event):
            return state
        return {
            "orders": state.get("orders", 0) + 1,
            "revenue": state.get("revenue", 0) + event.data["total"],
            "last": event.id,
            "t": event.time,
        }

    return fold


def _relay(mark_first=False, mark=True, order="ASC"):
    def relay_once(conn, publish, now):
        rows = conn.execute(
            f"SELECT seq, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq {order}"
        ).fetchall()
        for seq, payload in rows:
            if mark and mark_first:
                conn.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (now, seq))
            publish(payload)
            if mark and not mark_first:
                conn.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (now, seq))

    return relay_once


@pytest.mark.parametrize(
    ("run_one", "answer"),
    [
        (billing_schedule, s03.ex4()),
        (billing_schedule, _billing(commit_every=3)),
        (fold_schedule, s04.ex4()),
        (retry_schedule, s05.ex4()),
        (retry_schedule, lambda attempt, rng: rng.uniform(0, 300)),
        (relay_schedule, s06.ex4()),
    ],
    ids=[
        "03-solution",
        "03-commit-every-3",
        "04-solution",
        "05-solution",
        "05-jitter-only",
        "06-solution",
    ],
)
def test_a_right_answer_keeps_every_invariant(run_one, answer):
    """The solutions (and other right answers) break no schedule."""
    assert sweep(run_one, answer, schedules=N).ok


@pytest.mark.parametrize(
    ("run_one", "answer", "kind"),
    [
        (billing_schedule, _billing(delivery="at-most-once"), "missing"),
        (billing_schedule, _billing(handler=False), "missing"),
        (billing_schedule, _billing(commit_every=10), "extra"),
        (billing_schedule, lambda broker, charge: None, "error"),
        (fold_schedule, _fold(lambda s, e: False), "extra"),
        (fold_schedule, _fold(lambda s, e: s.get("last") == e.id), "extra"),
        (fold_schedule, _fold(lambda s, e: e.time <= s.get("t", -1)), "missing"),
        (fold_schedule, lambda s, e: 42, "error"),
        (retry_schedule, lambda attempt, rng: 100, "storm"),
        (retry_schedule, lambda attempt, rng: min(2000, 100 * 2 ** (attempt - 1)), "storm"),
        (retry_schedule, lambda attempt, rng: 10_000, "missing"),
        (retry_schedule, lambda attempt, rng: -1, "error"),
        (relay_schedule, _relay(mark_first=True), "missing"),
        (relay_schedule, _relay(mark=False), "extra"),
        (relay_schedule, _relay(order="DESC"), "order"),
        (
            relay_schedule,
            lambda conn, publish, now: conn.execute("SELECT nope FROM outbox"),
            "error",
        ),
    ],
)
def test_each_wrong_idea_breaks_its_invariant(run_one, answer, kind):
    """A wrong answer fails some schedule, and the first failure has the kind its hint is written for."""
    verdict = sweep(run_one, answer, schedules=N)
    assert verdict.failed > 0 and verdict.first is not None
    assert verdict.first.kind == kind, verdict.first
    assert verdict.first.trace is not None  # kept for the timeline


def test_a_schedule_is_the_same_on_every_run():
    """Same answer, same seed: the same breach, word for word."""
    near = s06.near_miss_ex4()
    first = [relay_schedule(near, seed) for seed in range(15)]
    again = [relay_schedule(near, seed) for seed in range(15)]
    assert [b and b.detail for b in first] == [b and b.detail for b in again]
    assert any(first)


@pytest.mark.parametrize("module", [nb04, nb05, nb06, nb07], ids=["nb04", "nb05", "nb06", "nb07"])
def test_each_build_check_prints_a_hint_and_never_raises(module, capsys):
    """No answer, and an answer of the wrong shape: a hint each, no exception."""
    assert module.check_ex4(None) is False
    assert "not answered yet. Hint:" in capsys.readouterr().out
    assert module.check_ex4(42, schedules=5, draw=False) is False
    assert "Not yet" in capsys.readouterr().out

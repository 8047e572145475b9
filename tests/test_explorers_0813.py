"""Notebooks 08-13: the explorers' scenario functions and the build exercises' sweeps."""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from evtlib.course.scenarios import build_check as bc  # noqa: E402
from evtlib.course.scenarios import idempotency as nb07s  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fast(fn, *args, budget_ms=300.0, **kwargs):
    """Run ``fn`` once and return its result; fail if it is far from an explorer's blink."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    assert (time.perf_counter() - t0) * 1000 < budget_ms * 4  # loose: a shared 2-core machine
    return result


# --------------------------------------------------------------------------- the build check


def test_sweep_counts_breaches_and_keeps_the_first_trace():
    def run_one(answer, seed, trace):
        if seed % 10 == 3:
            return bc.Breach(seed, "inv", "extra", "broke", "TRACE" if trace else None)
        return None

    v = bc.sweep(run_one, object(), schedules=50)
    assert (v.failed, v.first.seed, v.first.trace, v.kinds) == (5, 3, "TRACE", {"extra": 5})
    assert v.near_miss and not v.ok


def test_build_check_prints_hints_for_none_shape_wrong_and_near(capsys):
    hints = {"none": "H-none", "wrong": "H-wrong", "near": "H-near", "error": "H-error"}

    def run_with(share):
        def run_one(answer, seed, trace):
            return bc.Breach(seed, "inv", "k", "d") if seed % 100 < share else None

        return run_one

    kw = {"hints": hints, "what": "it holds", "draw": False, "schedules": 100}
    assert bc.build_check("ex9", None, run_one=run_with(0), **kw) is False
    assert "not answered yet. Hint: H-none" in capsys.readouterr().out
    assert bc.build_check("ex9", 3, run_one=run_with(0), **kw) is False
    assert "H-wrong" in capsys.readouterr().out
    assert bc.build_check("ex9", len, run_one=run_with(90), **kw) is False
    out = capsys.readouterr().out
    assert "Not yet (90 of 100" in out and "H-wrong" in out and "schedule 0" in out
    assert bc.build_check("ex9", len, run_one=run_with(5), **kw) is False
    assert "a near miss" in (out := capsys.readouterr().out) and "H-near" in out
    assert bc.build_check("ex9", len, run_one=run_with(0), **kw) is True
    assert "Correct! 100 fault schedules, it holds" in capsys.readouterr().out


def test_build_check_reports_the_learners_exception_and_never_raises(capsys):
    def run_one(answer, seed, trace):
        return answer()

    hints = {"none": "n", "wrong": "w", "near": "x", "error": "H-error"}
    ok = bc.build_check(
        "ex9", lambda: 1 / 0, run_one=run_one, hints=hints, what="w", draw=False, schedules=3
    )
    assert ok is False
    assert "ZeroDivisionError" in (out := capsys.readouterr().out) and "H-error" in out


# --------------------------------------------------------------------------- notebook 08


def test_republish_run_id_set_vs_position_and_retention():
    kept = _fast(nb07s.republish_run, "id-set", 1000, 500)
    forgot = nb07s.republish_run("id-set", 100, 500)
    position = nb07s.republish_run("position", 1000, 500)
    assert kept.extra == 0 and kept.skipped == 1
    assert forgot.extra == 15 and forgot.forgotten > 0
    assert position.extra == 15  # a republish sits at a new offset
    assert nb07s.republish_run("id-set", 1000, 500) == kept  # seeded
    nb07s.draw_republish_run(forgot)


def test_republish_run_names_a_bad_store():
    with pytest.raises(ValueError, match="store"):
        nb07s.republish_run("ids")


def test_variant_sweep_only_the_atomic_id_set_never_fails():
    tallies = _fast(nb07s.variant_sweep, budget_ms=200)
    assert tallies["id-set"]["failed schedules"] == 0
    assert tallies["naive"]["failed schedules"] > tallies["position"]["failed schedules"] > 0
    assert tallies["id-set non-atomic"]["extra charges"] > 0
    assert all(t["missing charges"] == 0 for t in tallies.values())
    quiet = nb07s.variant_sweep(republish=0.0, duplicate=0.0, crashes=0.0)
    assert all(t["failed schedules"] == 0 for t in quiet.values())
    ax = nb07s.draw_variant_sweep(tallies)
    nb07s.draw_variant_sweep(quiet, ax=ax)


def test_billing_schedule_finds_duplicates_and_rollback_misses():
    from evtlib.course.solutions.nb08 import ex4, near_miss_ex4
    from evtlib.patterns import charge_customer

    naive = bc.sweep(nb07s.billing_schedule, charge_customer, schedules=40)
    assert naive.failed > 20 and set(naive.kinds) == {"extra"}
    assert bc.sweep(nb07s.billing_schedule, ex4(), schedules=200).ok
    memory = bc.sweep(nb07s.billing_schedule, near_miss_ex4(), schedules=200)
    assert memory.near_miss and set(memory.kinds) == {"missing"}
    assert memory.first.trace is not None  # drawn as the first breaking schedule's timeline


# --------------------------------------------------------------------------- notebook 09


def test_poison_run_policy_decides_how_long_the_partition_waits():
    from evtlib.course.scenarios import dead_letters as nb08s

    quick = _fast(nb08s.poison_run)
    slow = nb08s.poison_run(max_attempts=8, base=500, poison=3)
    assert (quick.handled, quick.dead_lettered, quick.stuck) == (39, 1, 0)
    assert slow.stuck > 0 and slow.handled < quick.handled
    ax = nb08s.draw_poison_run(quick)
    nb08s.draw_poison_run(slow, ax=ax)
    with pytest.raises(ValueError, match="poison"):
        nb08s.poison_run(poison=9)


def test_storm_run_jitter_spreads_the_retries():
    from evtlib.course.scenarios import dead_letters as nb08s

    none, full = _fast(nb08s.storm_run, "none"), nb08s.storm_run("full")
    assert none.peak_retries == 20 > full.peak_retries
    assert none.finished_at > full.finished_at
    nb08s.draw_storm_run(full)


def test_retry_schedule_sorts_the_ways_a_decision_fails():
    from evtlib.course.scenarios import dead_letters as nb08s
    from evtlib.course.solutions.nb09 import ex4, near_miss_ex4

    assert bc.sweep(nb08s.retry_schedule, ex4()).ok
    near = bc.sweep(nb08s.retry_schedule, near_miss_ex4())
    assert near.near_miss and set(near.kinds) == {"gave-up"}
    forever = bc.sweep(nb08s.retry_schedule, lambda e, a: 100, schedules=30)
    assert set(forever.kinds) == {"blocked"} and not forever.near_miss
    at_once = bc.sweep(nb08s.retry_schedule, lambda e, a: None, schedules=30)
    assert set(at_once.kinds) == {"gave-up"} and not at_once.near_miss
    slow = bc.sweep(nb08s.retry_schedule, lambda e, a: None if a > 4 else 2000, schedules=60)
    assert "slow" in slow.kinds
    bad = bc.sweep(nb08s.retry_schedule, lambda e, a: "soon", schedules=5)
    assert set(bad.kinds) == {"error"}


# --------------------------------------------------------------------------- notebook 10


def test_checkout_run_failing_step_and_compensation():
    from evtlib.course.scenarios import sagas as nb09s

    declined = _fast(nb09s.checkout_run)
    assert declined.saga.state == "compensated" and declined.coupons == {"saga-000001": "restored"}
    shipping = nb09s.checkout_run("shipping", times=5)
    assert (
        shipping.saga.state == "needs-attention"
        and not shipping.coupons["saga-000001"] == "restored"
    )
    stuck = nb09s.checkout_run(failing_compensation="stock", compensation_times=9)
    assert stuck.saga.state == "needs-attention" and stuck.shop.reservations
    assert nb09s.checkout_run("none").saga.state == "completed"
    ax = nb09s.draw_checkout_run(declined)
    nb09s.draw_checkout_run(stuck, ax=getattr(ax, "ax", ax))
    with pytest.raises(ValueError, match="failing_step"):
        nb09s.checkout_run("pay")


def test_fault_sweep_only_the_naive_sequence_leaves_orders_half_done():
    from evtlib.course.scenarios import sagas as nb09s

    tallies = _fast(nb09s.fault_sweep, budget_ms=200)
    assert tallies["orchestration"]["half-done"] == 0 < tallies["naive"]["half-done"]
    calm = nb09s.fault_sweep(step_failure=0.0, duplicate=0.0, schedules=5)
    assert calm["orchestration"]["completed"] == 5
    nb09s.draw_fault_sweep(tallies)


def test_inventory_schedule_catches_missing_and_doubled_compensations():
    from evtlib.course.scenarios import sagas as nb09s
    from evtlib.course.solutions.nb10 import ex4, near_miss_ex4

    assert bc.sweep(nb09s.inventory_schedule, ex4()).ok
    near = bc.sweep(nb09s.inventory_schedule, near_miss_ex4())
    assert near.near_miss and set(near.kinds) == {"units"}
    silent = bc.sweep(nb09s.inventory_schedule, lambda state, event: [], schedules=10)
    assert set(silent.kinds) == {"stuck"}
    bad = bc.sweep(nb09s.inventory_schedule, lambda state, event: ["StockReserved"], schedules=3)
    assert set(bad.kinds) == {"error"}


# --------------------------------------------------------------------------- notebook 11


def test_chaos_run_and_rated_chaos():
    from evtlib.course.scenarios import whole_shop as nb10s

    naive = _fast(nb10s.chaos_run, 0, False)
    assert not naive.ok and naive.sim.trace.enabled
    assert nb10s.chaos_run(0, True).ok
    nb10s.draw_chaos_run(naive)
    tallies = _fast(nb10s.rated_chaos, budget_ms=250)
    assert not any(tallies["patterns"].values()) and sum(tallies["naive"].values()) > 0
    calm = nb10s.rated_chaos(crashes=0.0, duplicate=0.0, faulty=0.0, declined=0.0, schedules=3)
    assert not any(calm["naive"].values())
    nb10s.draw_rated_chaos(tallies)
    assert nb10s.rated_schedule(3) == nb10s.rated_schedule(3)


def test_fulfilment_schedule_finds_duplicates_and_vanished_orders():
    from evtlib.course.scenarios import whole_shop as nb10s
    from evtlib.course.solutions.nb11 import ex3, near_miss_ex3

    assert bc.sweep(nb10s.fulfilment_schedule, ex3(), schedules=60).ok
    assert set(bc.sweep(nb10s.fulfilment_schedule, near_miss_ex3(), schedules=30).kinds) == {
        "vanished"
    }

    def naive(event, seen, start_saga):
        start_saga(event)

    assert set(bc.sweep(nb10s.fulfilment_schedule, naive, schedules=30).kinds) == {"duplicated"}


# --------------------------------------------------------------------------- notebook 12


def test_coupling_and_callback_runs():
    from evtlib.course.scenarios import related_styles as nb11s

    coupling = _fast(nb11s.coupling_run)
    assert coupling["request"]["failed"] == 20 and coupling["event"]["charged"] == 40
    assert nb11s.coupling_run(0, 800)["request"]["failed"] > 20
    callbacks = _fast(nb11s.callback_run)
    assert callbacks["notification"]["failed callbacks"] > 0
    assert callbacks["state transfer"]["callbacks"] == 0
    assert nb11s.callback_run(down_for=0)["notification"]["failed callbacks"] == 0
    ax = nb11s.draw_coupling_run(coupling)
    nb11s.draw_coupling_run(nb11s.coupling_run(0, 800), ax=ax)
    nb11s.draw_callback_run(callbacks)
    with pytest.raises(ValueError, match="down_for"):
        nb11s.coupling_run(down_for=0)


def test_projection_schedule_sorts_wrong_folds():
    from evtlib.course.scenarios import related_styles as nb11s
    from evtlib.course.solutions.nb12 import ex3, near_miss_ex3
    from evtlib.course.styles import fixed_stock

    assert bc.sweep(nb11s.projection_schedule, ex3()).ok
    assert set(bc.sweep(nb11s.projection_schedule, near_miss_ex3(), schedules=20).kinds) == {
        "mutated"
    }
    assert "error" in bc.sweep(nb11s.projection_schedule, fixed_stock, schedules=20).kinds
    assert set(bc.sweep(nb11s.projection_schedule, lambda s, e: s, schedules=20).kinds) == {"wrong"}


# --------------------------------------------------------------------------- the notebooks' shape

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[01][0-9]-*.ipynb"))


def _code_cells(number: str) -> list[dict]:
    (path,) = [p for p in NOTEBOOKS if p.name.startswith(number)]
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _tagged(cells: list[dict], tag: str) -> list[int]:
    return [i for i, c in enumerate(cells) if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("number", ["07", "08", "09", "10", "11", "12"])
def test_predictions_ask_first_and_reveal_after_the_experiment(number):
    """At least 2 predict cells; each leaves my_guess = None and a later cell (not the next) reveals it."""
    cells = _code_cells(number)
    predicts = _tagged(cells, "predict")
    assert len(predicts) >= 2
    for i in predicts:
        source = "".join(cells[i]["source"])
        assert "my_guess = None" in source and "reveal(" not in source
        reveal_at = next(
            j for j in range(i + 1, len(cells)) if "reveal(my_guess" in "".join(cells[j]["source"])
        )
        assert reveal_at > i + 1, (
            f"cell {i}: the experiment must run between the guess and the reveal"
        )


@pytest.mark.parametrize("number", ["07", "08", "09", "10", "11"])
def test_explorers_and_a_build_exercise(number):
    """At least 2 explorers (one call each, output ignored) and a build-exercise cell whose check waits for an answer."""
    cells = _code_cells(number)
    explorers = [
        i
        for i in _tagged(cells, "nbval-ignore-output")
        if "explore(" in "".join(cells[i]["source"])
    ]
    assert len(explorers) >= 2
    (build,) = _tagged(cells, "build-exercise")
    source = "".join(cells[build]["source"])
    assert "\nanswer = None" in source and "def " in source
    assert "not answered yet" in "".join(
        "".join(o.get("text", "")) for o in cells[build]["outputs"]
    )

"""Every exercise check accepts its solution and rejects a missing answer."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import evtlib.course.exercises
import evtlib.course.solutions


def _pairs():
    for mod in pkgutil.iter_modules(evtlib.course.solutions.__path__):
        sol = importlib.import_module(f"evtlib.course.solutions.{mod.name}")
        ex = importlib.import_module(f"evtlib.course.exercises.{mod.name}")
        names = sorted(n for n in dir(sol) if n.startswith("ex") and callable(getattr(sol, n)))
        for n in names:
            yield pytest.param(ex, sol, n, id=f"{mod.name}.{n}")


PAIRS = list(_pairs())


@pytest.mark.parametrize(("ex", "sol", "name"), PAIRS)
def test_solution_passes_its_check(ex, sol, name, capsys):
    """The teacher's solution is accepted by the learner's check."""
    check = getattr(ex, f"check_{name}")
    assert check(getattr(sol, name)()) is True
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(("ex", "sol", "name"), PAIRS)
def test_unanswered_exercise_gets_a_hint(ex, sol, name, capsys):
    """An unanswered exercise is not correct, does not raise, and prints a hint."""
    check = getattr(ex, f"check_{name}")
    assert check(None) is False
    assert "Hint" in capsys.readouterr().out


def test_every_exercise_module_has_solutions():
    """No notebook's exercises are left without tested solutions."""
    ex_mods = {m.name for m in pkgutil.iter_modules(evtlib.course.exercises.__path__)}
    sol_mods = {m.name for m in pkgutil.iter_modules(evtlib.course.solutions.__path__)}
    assert ex_mods == sol_mods
    for name in ex_mods:
        ex = importlib.import_module(f"evtlib.course.exercises.{name}")
        sol = importlib.import_module(f"evtlib.course.solutions.{name}")
        checks = {n[len("check_") :] for n in dir(ex) if n.startswith("check_ex")}
        answers = {n for n in dir(sol) if n.startswith("ex")}  # near_miss_exN are not answers
        assert checks == answers, name


# Wrong answers a learner might give where no generic one will do.
def _special_wrong_answers() -> dict[str, object]:
    from evtlib import Upcaster
    from evtlib.course.exercises.nb01 import STOCK_RESERVED

    v2_only = Upcaster()  # the notebook's first step, and no second one: stops at v2
    v2_only.register("OrderPlaced", 1, lambda d: {**d, "currency": "EUR"})
    return {
        # The cause itself, not a reaction to it.
        "nb01.ex2": STOCK_RESERVED,
        "nb01.ex3": v2_only,
        # One key for everything: in order, but one partition does all the work.
        "nb02.ex3": lambda type, data: "orders",
        # Counts the orders but keeps the last total, not the largest.
        "nb05.ex1": lambda state, event: {
            "orders": state.get("orders", 0) + 1,
            "largest": event.data["total"],
        },
    }


def _wrong(answer):
    """A near miss of the right ``answer``: off by one, one entry changed, one item extra."""
    if isinstance(answer, bool):
        return not answer
    if isinstance(answer, int):
        return answer + 1
    if isinstance(answer, float):
        return answer * 1.5 + 1
    if isinstance(answer, str):
        return answer + "-not"
    if isinstance(answer, dict):
        first = next(iter(answer))
        return {**answer, first: _wrong(answer[first])}
    if isinstance(answer, list):
        return answer[:-1]
    if isinstance(answer, set):
        return answer | {"not-this"}
    raise TypeError(f"no generic wrong answer for {type(answer).__name__}: add one above")


@pytest.mark.parametrize(("ex", "sol", "name"), PAIRS)
def test_a_near_miss_is_not_accepted(ex, sol, name, request, capsys):
    """A check that accepted anything would pass the tests above: each rejects a near miss."""
    exercise_id = request.node.callspec.id
    special = _special_wrong_answers()
    near_miss = getattr(sol, f"near_miss_{name}", None)  # a build exercise's own near miss
    if exercise_id in special:
        wrong = special[exercise_id]
    elif near_miss is not None:
        wrong = near_miss()
    else:
        wrong = _wrong(getattr(sol, name)())
    check = getattr(ex, f"check_{name}")
    assert check(wrong) is False, f"{exercise_id} accepted {wrong!r}"
    assert "Not yet" in capsys.readouterr().out

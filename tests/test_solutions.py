"""Every exercise check accepts its solution and rejects a missing answer."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import evtlib.exercises
import evtlib.solutions


def _pairs():
    for mod in pkgutil.iter_modules(evtlib.solutions.__path__):
        sol = importlib.import_module(f"evtlib.solutions.{mod.name}")
        ex = importlib.import_module(f"evtlib.exercises.{mod.name}")
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
    ex_mods = {m.name for m in pkgutil.iter_modules(evtlib.exercises.__path__)}
    sol_mods = {m.name for m in pkgutil.iter_modules(evtlib.solutions.__path__)}
    assert ex_mods == sol_mods
    for name in ex_mods:
        ex = importlib.import_module(f"evtlib.exercises.{name}")
        sol = importlib.import_module(f"evtlib.solutions.{name}")
        checks = {n[len("check_") :] for n in dir(ex) if n.startswith("check_ex")}
        answers = {n for n in dir(sol) if n.startswith("ex")}
        assert checks == answers, name

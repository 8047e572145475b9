"""Predict, then observe: the learner commits to a guess before an experiment runs.

A prediction cell (tagged ``predict``) asks a question and leaves a value
for the learner to fill in::

    # How many of the 20 orders will be charged twice?
    my_guess = None

The experiment runs in the next cell, and :func:`reveal` compares::

    reveal(my_guess, charged_twice, why="the two orders handled after the last commit")

It prints one short verdict, the same on every run (so nbval can compare
it), and reads well on a static page where ``my_guess`` is still ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

__all__ = ["reveal", "verdict"]


def verdict(
    guess: Any,
    actual: Any,
    *,
    why: str,
    tolerance: float = 0.0,
    choices: Collection[Any] | None = None,
) -> str:
    """The text :func:`reveal` prints: how ``guess`` compares with ``actual``, and why.

    Numbers within ``tolerance`` (absolute) count as right.  ``choices``, if
    given, lists the answers the question offered: a guess outside them is
    pointed out rather than judged.
    """
    if not isinstance(why, str) or not why:
        raise ValueError(f"why must be a non-empty str (the reason behind the result), got {why!r}")
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    answer = f"The result: {actual!r}. Why: {why}."
    if guess is None:
        return f"No prediction yet: write yours in the cell above and run both again. {answer}"
    if choices is not None and guess not in choices:
        listed = ", ".join(repr(c) for c in choices)
        return f"Your prediction {guess!r} is not one of the choices ({listed}). {answer}"
    if _close(guess, actual, tolerance):
        return f"Your prediction {guess!r} was right. {answer}"
    return f"Your prediction was {guess!r}. {answer}"


def reveal(
    guess: Any,
    actual: Any,
    *,
    why: str,
    tolerance: float = 0.0,
    choices: Collection[Any] | None = None,
) -> None:
    """Print how the learner's ``guess`` compares with the ``actual`` result, and why."""
    print(verdict(guess, actual, why=why, tolerance=tolerance, choices=choices))


def _close(guess: Any, actual: Any, tolerance: float) -> bool:
    numbers = (int, float)
    if (
        isinstance(guess, numbers)
        and isinstance(actual, numbers)
        and not isinstance(guess, bool)
        and not isinstance(actual, bool)
    ):
        return math.isclose(guess, actual, abs_tol=tolerance)
    if isinstance(guess, str) and isinstance(actual, str):
        return guess.strip().lower() == actual.strip().lower()
    return bool(guess == actual)

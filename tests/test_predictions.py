"""Predict, then observe: the verdict a prediction cell prints."""

from __future__ import annotations

import pytest

from evtlib.course.predictions import reveal, verdict


def test_no_guess_still_gives_the_answer_and_the_reason():
    """On a static page (no guess yet) the learner still reads the result and why."""
    text = verdict(None, 2, why="two orders were handled after the last commit")
    assert text.startswith("No prediction yet") and "2" in text and "last commit" in text


def test_a_right_guess_within_tolerance_and_a_wrong_one():
    """Numbers compare with a tolerance; strings ignore case and spaces; a miss says the result."""
    assert "was right" in verdict(3, 2.5, why="w", tolerance=0.5)
    assert "was right" in verdict(" Latest", "latest", why="w")
    miss = verdict(1, 2, why="w")
    assert "was 1" in miss and "The result: 2" in miss


def test_a_guess_outside_the_choices_is_pointed_out(capsys):
    """A guess that was not one of the offered answers is named as such."""
    reveal("maybe", "yes", why="w", choices=("yes", "no"))
    assert "not one of the choices ('yes', 'no')" in capsys.readouterr().out


def test_bad_arguments_are_refused():
    """A reveal without a reason, or with a negative tolerance, is a mistake."""
    with pytest.raises(ValueError, match="why must be a non-empty str"):
        verdict(1, 1, why="")
    with pytest.raises(ValueError, match="tolerance must be a number >= 0, got -1"):
        verdict(1, 1, why="w", tolerance=-1)

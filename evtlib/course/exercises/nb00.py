"""Checks for the warm-up exercise of notebook 00 (start here)."""

from __future__ import annotations

from typing import Any

from ..helpers import check

__all__ = ["check_ex1"]


def check_ex1(answer: Any) -> bool:
    """Warm-up: how many services react to each ``OrderPlaced`` in the running example?"""
    return check(
        "ex1",
        answer,
        expected=5,
        hint="Count the services drawn to the right of the `orders` topic in the flow graph "
        "(or the groups in `broker.groups`). Answer with an int.",
    )

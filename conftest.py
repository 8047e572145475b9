"""Notebook 13 runs on a real RabbitMQ: skip it, with the reason, when none answers.

nbval has no per-notebook skip marker, so this hook adds one to the items of
``13-on-a-real-broker.ipynb`` when RabbitMQ is unreachable, unless
``EVTLIB_REQUIRE_RABBITMQ=1`` (set by ``.ci/run`` and the tests workflow): then
the notebook runs and fails loudly if there is no broker.

It lives at the repository's root, where pytest finds it for ``tests`` and
``notebooks`` alike, so that ``notebooks/`` holds nothing but the lessons.
"""

from __future__ import annotations

import os

import pytest

NEEDS_RABBITMQ = ("13-on-a-real-broker.ipynb",)


def _rabbitmq_problem() -> str | None:
    try:
        from evtlib.adapters import rabbitmq
    except ImportError as exc:
        return str(exc)
    problem = rabbitmq.reachable()
    if problem is not None and rabbitmq.HOW_TO_START not in problem:
        problem = f"{problem}; {rabbitmq.HOW_TO_START}"
    return problem


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = [item for item in items if item.path.name in NEEDS_RABBITMQ]
    if not chosen or os.environ.get("EVTLIB_REQUIRE_RABBITMQ") == "1":
        return
    problem = _rabbitmq_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=f"notebook 13 needs a running RabbitMQ: {problem}")
    for item in chosen:
        item.add_marker(skip)

"""Build exercises: run the learner's code under a seeded sweep of fault schedules.

A build exercise (notebooks 08-12) asks the learner to write a function (a
handler, a retry policy, a compensation, a fold).  Its check runs that
function through about 200 fault schedules, each drawn from one seed, and
answers with the first schedule that breaks an invariant, drawn as a
timeline, plus a hint that depends on how it failed:

* no answer yet (``None``): what to write;
* a wrong answer (not a function, or breaking many schedules): the idea;
* a near miss (breaking only a few schedules): what those few have in common.

A schedule runner is ``run_one(answer, seed, trace) -> Breach | None``: it
builds one seeded run around ``answer``, checks the invariants from what
really happened, and returns the first one broken (``None`` if all held).
Called with ``trace=True`` it keeps the trace, for the picture.

Like every course check, :func:`build_check` prints and never raises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import checks

__all__ = ["Breach", "SweepVerdict", "sweep", "build_check", "NEAR_MISS_SHARE"]

#: At most this share of broken schedules (and at least one) makes a near miss.
NEAR_MISS_SHARE = 0.25


@dataclass(frozen=True)
class Breach:
    """The first invariant one schedule broke.

    ``kind`` sorts the failure for the hint (``"extra"``, ``"missing"``,
    ``"error"``...); ``detail`` says what happened, in a sentence;
    ``trace`` is the run's trace when it was kept (for the timeline).
    """

    seed: int
    invariant: str
    kind: str
    detail: str
    trace: Any = None


@dataclass(frozen=True)
class SweepVerdict:
    """How an answer fared over a sweep: how many schedules broke, and the first."""

    schedules: int
    failed: int
    first: Breach | None
    kinds: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def near_miss(self) -> bool:
        return 0 < self.failed <= NEAR_MISS_SHARE * self.schedules


def _safe_run(
    run_one: Callable[[Any, int, bool], Breach | None], answer: Any, seed: int, trace: bool
) -> Breach | None:
    try:
        return run_one(answer, seed, trace)
    except Exception as exc:  # the learner's code raised outside what the harness expects
        return Breach(seed, "the run finishes", "error", f"it raised {type(exc).__name__}: {exc}")


def sweep(
    run_one: Callable[[Any, int, bool], Breach | None],
    answer: Any,
    *,
    schedules: int = 200,
    seed: int = 0,
) -> SweepVerdict:
    """Run ``answer`` through schedules ``seed .. seed+schedules-1``; tally the breaches.

    The first breaking schedule is run again with its trace kept.
    """
    checks.integer("schedules", schedules, min=1)
    checks.integer("seed", seed, min=0)
    failed, first = 0, None
    kinds: Counter[str] = Counter()
    for s in range(seed, seed + schedules):
        breach = _safe_run(run_one, answer, s, False)
        if breach is None:
            continue
        failed += 1
        kinds[breach.kind] += 1
        if first is None:
            first = _safe_run(run_one, answer, s, True) or breach
    return SweepVerdict(schedules, failed, first, dict(kinds))


def _draw(breach: Breach, title: str) -> None:
    if breach.trace is None:
        return
    try:
        from ...viz import draw_timeline
    except ImportError:  # pragma: no cover - matplotlib missing: the text says it all
        return
    draw_timeline(breach.trace, hide=("committed", "joined", "rebalanced"), title=title)


def build_check(
    name: str,
    answer: Any,
    *,
    run_one: Callable[[Any, int, bool], Breach | None],
    hints: Mapping[str, str],
    what: str,
    schedules: int = 200,
    seed: int = 0,
    accepts: Callable[[Any], str | None] | None = None,
    draw: bool = True,
) -> bool:
    """Check a build exercise: print ``Correct`` or ``Not yet`` with a hint; never raise.

    ``hints`` has ``"none"`` (no answer yet), ``"wrong"`` and ``"near"``, and
    may have one per breach kind (``"error"``, ``"missing"``...), used first.
    ``what`` names the invariants in a few words ("every order charged
    once").  ``accepts(answer)`` returns why an answer has the wrong shape
    (or ``None``); by default any callable is accepted.
    """
    if answer is None or answer is ...:
        print(f"{name}: not answered yet. Hint: {hints['none']}")
        return False
    shape = (
        accepts(answer)
        if accepts is not None
        else (None if callable(answer) else f"a function is due, got {type(answer).__name__}")
    )
    if shape is not None:
        print(f"{name}: Not yet ({shape}). Hint: {hints['wrong']}")
        return False
    verdict = sweep(run_one, answer, schedules=schedules, seed=seed)
    if verdict.ok:
        print(f"{name}: Correct! {verdict.schedules} fault schedules, {what} in every one.")
        return True
    first = verdict.first
    assert first is not None
    if first.kind in hints:
        hint = hints[first.kind]
    else:
        hint = hints["near"] if verdict.near_miss else hints["wrong"]
    closeness = "a near miss: " if verdict.near_miss else ""
    print(
        f"{name}: Not yet ({closeness}{verdict.failed} of {verdict.schedules} fault schedules"
        f" break it). The first, schedule {first.seed}, breaks '{first.invariant}':"
        f" {first.detail}. Hint: {hint}"
    )
    if draw:
        _draw(first, f"schedule {first.seed}: {first.detail}")
    return False

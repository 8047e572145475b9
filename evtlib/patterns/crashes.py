"""Simulated process crashes at named points.

A pattern that must survive crashes names the places where its process
could die (``"before-commit"``, ``"after-commit"``, ...).  A scenario asks
for a crash at a point with a :class:`CrashPlan`; when the code reaches that
point it calls :meth:`CrashPlan.check`, which raises :class:`SimulatedCrash`
on the planned visit.  Whatever was not committed to the database is rolled
back, exactly as a real database does when the connection of a dead process
goes away; whatever lived only in memory is gone.

    >>> plan = CrashPlan({"after-commit": [2]}, allowed=("before-commit", "after-commit"))
    >>> plan.check("after-commit")  # first visit: no crash
    >>> plan.check("after-commit")
    Traceback (most recent call last):
    ...
    evtlib.patterns.crashes.SimulatedCrash: simulated crash at 'after-commit' (visit 2)

The SQLite helpers the patterns share live in :mod:`evtlib.patterns.sqlite`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import EvtlibError

__all__ = [
    "SimulatedCrash",
    "CrashPlan",
    "CrashSpec",
]


class SimulatedCrash(EvtlibError):
    """Raised at a named crash point: the simulated process dies right there."""

    def __init__(self, point: str, visit: int) -> None:
        super().__init__(f"simulated crash at {point!r} (visit {visit})")
        self.point = point
        self.visit = visit


class CrashPlan:
    """Which named crash points fire, and on which visit.

    Parameters
    ----------
    at:
        A point name, an iterable of names (each crashes on its first visit),
        or a mapping ``{point: visit}`` / ``{point: [visits]}``, visits
        counted from 1.
    allowed:
        The point names the component knows; any other name is a
        ``ValueError`` naming the value and the allowed ones.
    param:
        The parameter name used in error messages.

    Every :meth:`check` counts a visit of its point; :attr:`fired` lists the
    crashes that happened, in order, as ``(point, visit)``.
    """

    def __init__(
        self,
        at: str | Iterable[str] | Mapping[str, int | Iterable[int]] | None = None,
        *,
        allowed: Iterable[str],
        param: str = "crash_at",
    ) -> None:
        self.allowed = tuple(allowed)
        self._plan: dict[str, frozenset[int]] = {}
        if at is None:
            items: list[tuple[str, int | Iterable[int]]] = []
        elif isinstance(at, str):
            items = [(at, 1)]
        elif isinstance(at, Mapping):
            items = list(at.items())
        else:
            try:
                items = [(p, 1) for p in at]
            except TypeError:
                raise TypeError(
                    f"{param} must be a point name, a list of names or a mapping "
                    f"point -> visits, got {at!r}"
                ) from None
        for point, visits in items:
            if point not in self.allowed:
                raise ValueError(
                    f"{param} names an unknown crash point {point!r}; "
                    f"allowed: {', '.join(repr(a) for a in self.allowed)}"
                )
            vs = [visits] if isinstance(visits, int) else list(visits)
            for v in vs:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(
                        f"{param}[{point!r}] visits must be ints >= 1 (1 = the first visit), got {v!r}"
                    )
            self._plan[point] = self._plan.get(point, frozenset()) | frozenset(vs)
        self.visits: dict[str, int] = {}
        self.fired: list[tuple[str, int]] = []

    @classmethod
    def coerce(
        cls,
        at: CrashSpec,
        allowed: Iterable[str],
        param: str = "crash_at",
    ) -> CrashPlan:
        """``at`` itself if it is a :class:`CrashPlan` (checked), else a new plan."""
        allowed = tuple(allowed)
        if isinstance(at, CrashPlan):
            for point in at.planned:
                if point not in allowed:
                    raise ValueError(
                        f"{param} names an unknown crash point {point!r}; "
                        f"allowed: {', '.join(repr(a) for a in allowed)}"
                    )
            return at
        return cls(at, allowed=allowed, param=param)

    def check(self, point: str) -> None:
        """Count a visit of ``point``; raise :class:`SimulatedCrash` if it is planned."""
        if point not in self.allowed:  # a bug in the caller, not in the scenario
            raise ValueError(f"unknown crash point {point!r}; allowed: {self.allowed}")
        visit = self.visits.get(point, 0) + 1
        self.visits[point] = visit
        if visit in self._plan.get(point, ()):
            self.fired.append((point, visit))
            raise SimulatedCrash(point, visit)

    @property
    def planned(self) -> dict[str, list[int]]:
        """The plan: ``{point: [visits]}``."""
        return {p: sorted(v) for p, v in self._plan.items()}

    def __repr__(self) -> str:
        return f"<CrashPlan planned={self.planned} fired={self.fired}>"


#: What a scenario may pass as ``crash_at``: a point, several points (each
#: crashes on its first visit), a mapping ``point -> visit or visits``
#: (1 = the first time the code gets there), or a ready :class:`CrashPlan`.
CrashSpec = CrashPlan | str | Iterable[str] | Mapping[str, int | Iterable[int]] | None

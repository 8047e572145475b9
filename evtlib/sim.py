"""The simulation: a clock, a scheduler, seeded randomness and ids.

Everything in evtlib happens on a :class:`Simulation`.  Time is simulated and
counted in milliseconds; nothing reads the wall clock.  Work is scheduled as
callbacks in one heap ordered by ``(time, priority, sequence)``, so two runs
with the same seed make the same calls in the same order and produce the same
trace, byte for byte, on every machine.

    >>> sim = Simulation(seed=7)
    >>> sim.schedule(5, print, "five ms later")
    >>> sim.run()
    five ms later
    >>> sim.now
    5.0

Randomness comes from the simulation too.  :meth:`Simulation.rng_for` hands
each component its own generator, derived from the seed and the component's
name, so adding a consumer does not change the random draws of the others.
"""

from __future__ import annotations

import random
from abc import ABCMeta
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any, NamedTuple

from .errors import EmptySchedule
from .trace import Trace

__all__ = ["Simulation", "Timer", "ScheduledCall", "URGENT", "NORMAL", "LATE"]

#: Priorities for calls due at the same time: lower runs first.
URGENT = 0
NORMAL = 1
LATE = 2


class ScheduledCall(NamedTuple):
    """One entry of :meth:`Simulation.scheduled`: what will run, and when."""

    time: float
    priority: int
    what: str


class Timer:
    """A cancellable scheduled call, returned by :meth:`Simulation.timer`."""

    __slots__ = ("time", "cancelled", "_fn", "_args")

    def __init__(self, time: float, fn: Callable[..., Any], args: tuple) -> None:
        self.time = time
        self.cancelled = False
        self._fn = fn
        self._args = args

    def cancel(self) -> None:
        """Stop the call from running; cancelling twice is harmless."""
        self.cancelled = True

    def _fire(self) -> None:
        if not self.cancelled:
            self._fn(*self._args)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "pending"
        return f"<Timer at={self.time:g}ms {_describe(self._fn)} {state}>"


def _describe(fn: Callable[..., Any]) -> str:
    if isinstance(fn, Timer):
        return _describe(fn._fn)
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    label = getattr(owner, "name", None)
    if isinstance(label, str) and "." in name:
        return f"{name}[{label}]"
    return name


class Simulation(metaclass=ABCMeta):  # noqa: B024 - an interface by registration, concrete itself
    """A deterministic discrete-event simulation.

    It is also the interface of a runner: a real-time runner for a real
    broker (``evtlib.adapters.rabbitmq.RealTime``) offers ``now``,
    ``schedule``, ``timer``, ``run``, ``trace``, ``rng_for``, ``next_id`` and
    ``register_name`` too, and declares it with ``Simulation.register``.

    Parameters
    ----------
    seed:
        Seeds every random choice made by the simulation and its components.
    trace:
        Record a :class:`~evtlib.trace.Trace` of every step (default ``True``).
        Switch it off for long benchmarks; metrics keep working.

    The clock starts at ``0.0`` ms.  :meth:`schedule` queues a call,
    :meth:`step` runs the next one, :meth:`run` runs until a time or until
    nothing is left, and :meth:`scheduled` shows what is waiting.
    """

    _scope = "simulation"  # how error messages name this kind of runner
    #: False: time moves only when the simulation runs, so a time in the past
    #: is a mistake.  (On a wall clock, :class:`~evtlib.adapters.rabbitmq.RealTime`,
    #: "now" has moved on by the time it is checked, and a past time means now.)
    wall_clock = False

    def __init__(self, seed: int = 0, *, trace: bool = True) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self.now: float = 0.0
        self.rng = random.Random(seed)
        self.trace = Trace(enabled=trace)
        self._queue: list[tuple] = []
        self._seq = count()
        self._ids: dict[str, count] = {}
        self._names: set[str] = set()

    # -- time and scheduling -------------------------------------------------

    def schedule(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> None:
        """Call ``fn(*args)`` after ``delay`` ms of simulated time."""
        if not delay >= 0:  # also catches NaN
            raise ValueError(f"delay must be >= 0 ms, got {delay!r}")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        heappush(self._queue, (self.now + delay, priority, next(self._seq), fn, args))

    def schedule_at(
        self, time: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> None:
        """Call ``fn(*args)`` at simulated ``time`` (ms), which must not be in the past."""
        if not time >= self.now:
            raise ValueError(f"time must be >= now ({self.now:g} ms), got {time!r}")
        self.schedule(time - self.now, fn, *args, priority=priority)

    def timer(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> Timer:
        """Like :meth:`schedule`, but return a :class:`Timer` that can be cancelled."""
        if not delay >= 0:
            raise ValueError(f"delay must be >= 0 ms, got {delay!r}")
        t = Timer(self.now + delay, fn, args)
        heappush(self._queue, (t.time, priority, next(self._seq), t._fire, ()))
        return t

    def _push(self, time: float, fn: Callable[..., Any], args: tuple, priority: int = NORMAL):
        # Fast path for the library's own hot loops: no validation.
        heappush(self._queue, (time, priority, next(self._seq), fn, args))

    def peek(self) -> float:
        """The time of the next scheduled call, or ``inf`` if nothing is scheduled."""
        return self._queue[0][0] if self._queue else float("inf")

    def step(self) -> None:
        """Run the next scheduled call; raise :class:`EmptySchedule` if there is none."""
        if not self._queue:
            raise EmptySchedule("nothing is scheduled")
        time, _, _, fn, args = heappop(self._queue)
        self.now = time
        fn(*args)

    def run(self, until: float | None = None) -> float:
        """Run scheduled calls in order, up to and including time ``until``.

        With ``until=None`` run until nothing is left.  Afterwards the clock
        reads ``until`` (if given).  Returns the clock.
        """
        queue = self._queue
        if until is None:
            limit = float("inf")
        else:
            if isinstance(until, bool) or not isinstance(until, (int, float)):
                raise TypeError(f"until must be a number of ms, got {until!r}")
            if not until >= self.now:
                raise ValueError(
                    f"until must be >= now ({self.now:g} ms): time only moves forward, got {until!r}"
                )
            limit = until
        while queue and queue[0][0] <= limit:
            time, _, _, fn, args = heappop(queue)
            self.now = time
            fn(*args)
        if until is not None:
            self.now = float(until)
        return self.now

    def scheduled(self) -> list[ScheduledCall]:
        """What is waiting to run, in the order it will run."""
        out = []
        for time, prio, _seq, fn, _args in sorted(self._queue, key=lambda e: e[:3]):
            target = getattr(fn, "__self__", None)
            if isinstance(target, Timer):
                if target.cancelled:
                    continue
                fn = target._fn
            out.append(ScheduledCall(time, prio, _describe(fn)))
        return out

    # -- randomness and ids --------------------------------------------------

    def rng_for(self, name: str) -> random.Random:
        """A random generator for the component called ``name``.

        Derived from the simulation's seed and the name (not from Python's
        salted ``hash``), so it is the same on every run and every machine.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        return random.Random(f"{self.seed}/{name}")

    def next_id(self, prefix: str = "evt") -> str:
        """The next id with ``prefix``: ``evt-000001``, ``evt-000002``, ..."""
        counter = self._ids.get(prefix)
        if counter is None:
            counter = self._ids[prefix] = count(1)
        return f"{prefix}-{next(counter):06d}"

    def register_name(self, name: str, kind: str = "component") -> str:
        """Claim a unique component name; raise ``ValueError`` if it is taken."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{kind} name must be a non-empty str, got {name!r}")
        if name in self._names:
            raise ValueError(f"{kind} name must be unique in this {self._scope}, {name!r} is taken")
        self._names.add(name)
        return name

    def __repr__(self) -> str:
        return (
            f"<Simulation seed={self.seed} now={self.now:g}ms scheduled={len(self._queue)}"
            f" trace={len(self.trace)} records>"
        )

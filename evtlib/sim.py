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

import math
import random
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any, NamedTuple

from .errors import EmptySchedule
from .trace import Trace

__all__ = [
    "Scheduler",
    "Simulation",
    "Timer",
    "ScheduledCall",
    "PendingCall",
    "describe",
    "URGENT",
    "NORMAL",
    "LATE",
]

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
    """A cancellable scheduled call, returned by :meth:`Scheduler.timer`."""

    __slots__ = ("time", "cancelled", "target", "args")

    def __init__(self, time: float, fn: Callable[..., Any], args: tuple) -> None:
        self.time = time
        self.cancelled = False
        #: The call the timer will make, and its arguments.
        self.target = fn
        self.args = args

    def cancel(self) -> None:
        """Stop the call from running; cancelling twice is harmless."""
        self.cancelled = True

    def __call__(self) -> None:
        """Make the call, unless cancelled (the scheduler calls this when it is due)."""
        if not self.cancelled:
            self.target(*self.args)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "pending"
        return f"<Timer at={self.time:g}ms {describe(self.target)} {state}>"


class PendingCall(NamedTuple):
    """One call waiting in a scheduler, as :meth:`Scheduler.pending` lists it."""

    time: float
    fn: Callable[..., Any]
    args: tuple


def describe(fn: Callable[..., Any]) -> str:
    """A readable name for a scheduled call: ``Consumer._complete[billing]``."""
    if isinstance(fn, Timer):
        return describe(fn.target)
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, Timer):
        return describe(owner.target)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    label = getattr(owner, "name", None)
    if isinstance(label, str) and "." in name:
        return f"{name}[{label}]"
    return name


def _unwrap(fn: Callable[..., Any], args: tuple) -> tuple[Callable[..., Any], tuple] | None:
    """The call an entry will make: a Timer's target, or None if it was cancelled."""
    if isinstance(fn, Timer):
        return None if fn.cancelled else (fn.target, fn.args)
    return fn, args


class Scheduler:
    """The scheduling core a runner is built on: one heap of calls, names, ids, randomness.

    Entries are ``(time, priority, sequence, fn, args)``, so calls due at the
    same time run by priority, then in the order they were scheduled.  Two
    runners share it (as SimPy's ``RealtimeEnvironment`` shares
    ``Environment``): :class:`Simulation`, whose clock moves only when it
    runs, and the real-time runner of a real broker
    (``evtlib.adapters.rabbitmq.RealTime``), whose clock is the wall clock.
    They differ only in ``now``, :meth:`step` and :meth:`run`.
    """

    #: How error messages name this kind of runner.
    scope = "runner"
    #: False: time moves only when the runner runs, so a time in the past is a
    #: mistake.  True (a wall clock): "now" has moved on by the time it is
    #: checked, and a past time means now.
    wall_clock = False
    now: float

    def __init__(self, seed: int = 0, *, trace: bool = True) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.trace = Trace(enabled=trace)
        self._queue: list[tuple] = []
        self._seq = count()
        self._ids: dict[str, count] = {}
        self._names: set[str] = set()
        #: Goes into every id from :meth:`next_id` when set (see there).
        self.namespace: str | None = None

    # -- scheduling ------------------------------------------------------------

    def schedule(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> None:
        """Call ``fn(*args)`` after ``delay`` ms."""
        _check_delay(delay)
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        heappush(self._queue, (self.now + delay, priority, next(self._seq), fn, args))

    def schedule_at(
        self, time: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> None:
        """Call ``fn(*args)`` at ``time`` (ms); in a simulation it must not be in the past."""
        now = self.now
        if isinstance(time, bool) or not isinstance(time, (int, float)):
            raise TypeError(f"time must be a number of ms, got {time!r}")
        if self.wall_clock:
            if not math.isfinite(time):
                raise ValueError(f"time must be a finite number of ms, got {time!r}")
            time = max(time, now)
        elif not time >= now:
            raise ValueError(f"time must be >= now ({now:g} ms), got {time!r}")
        self.schedule(time - now, fn, *args, priority=priority)

    def timer(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> Timer:
        """Like :meth:`schedule`, but return a :class:`Timer` that can be cancelled."""
        _check_delay(delay)
        t = Timer(self.now + delay, fn, args)
        heappush(self._queue, (t.time, priority, next(self._seq), t, ()))
        return t

    def post(
        self, time: float, fn: Callable[..., Any], args: tuple = (), priority: int = NORMAL
    ) -> None:
        """Call ``fn(*args)`` at ``time``, unchecked: the fast path of the library's own loops.

        The caller guarantees ``time >= now`` and a callable ``fn``; learners
        use :meth:`schedule`, which checks both.
        """
        heappush(self._queue, (time, priority, next(self._seq), fn, args))

    def peek(self) -> float:
        """The time of the next call that will run, or ``inf`` if nothing is scheduled."""
        q = self._queue
        while q and isinstance(q[0][3], Timer) and q[0][3].cancelled:
            heappop(q)
        return q[0][0] if q else float("inf")

    def scheduled(self) -> list[ScheduledCall]:
        """What is waiting to run, in the order it will run (cancelled timers left out)."""
        out = []
        for time, prio, _seq, fn, args in sorted(self._queue, key=lambda e: e[:3]):
            call = _unwrap(fn, args)
            if call is not None:
                out.append(ScheduledCall(time, prio, describe(call[0])))
        return out

    def pending(self, owner: object) -> list[PendingCall]:
        """The calls waiting to run on methods of ``owner``, in the order they will run.

        This is how a component asks what it has scheduled (a consumer, for
        the deliveries a crash cuts off) without reading the scheduler's heap.
        """
        out = []
        for time, _prio, _seq, fn, args in sorted(self._queue, key=lambda e: e[:3]):
            call = _unwrap(fn, args)
            if call is not None and getattr(call[0], "__self__", None) is owner:
                out.append(PendingCall(time, call[0], call[1]))
        return out

    def _next(self) -> tuple[float, Callable[..., Any], tuple]:
        """Take the next entry off the heap; :class:`EmptySchedule` if there is none."""
        if not self._queue:
            raise EmptySchedule(f"nothing is scheduled in this {self.scope}")
        time, _, _, fn, args = heappop(self._queue)
        return time, fn, args

    def step(self) -> None:
        """Run the next scheduled call; raise :class:`EmptySchedule` if there is none."""
        raise NotImplementedError  # pragma: no cover - each runner has its own clock

    def run(self, until: float | None = None) -> float:
        """Run scheduled calls up to time ``until`` (or until none is left); return the clock."""
        raise NotImplementedError  # pragma: no cover - each runner has its own clock

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
        """The next id with ``prefix``: ``evt-000001``, ``evt-000002``, ...

        With a :attr:`namespace` it goes in the middle (``evt-run7-000001``),
        so processes that publish to one real broker make distinct ids.
        """
        counter = self._ids.get(prefix)
        if counter is None:
            counter = self._ids[prefix] = count(1)
        middle = f"-{self.namespace}" if self.namespace else ""
        return f"{prefix}{middle}-{next(counter):06d}"

    def name_taken(self, name: str) -> bool:
        """Whether a component already claimed ``name`` (so a composite can check all its names first)."""
        return name in self._names

    def register_name(self, name: str, kind: str = "component") -> str:
        """Claim a unique component name; raise ``ValueError`` if it is taken."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{kind} name must be a non-empty str, got {name!r}")
        if name in self._names:
            raise ValueError(f"{kind} name must be unique in this {self.scope}, {name!r} is taken")
        self._names.add(name)
        return name


def _check_delay(delay: Any) -> None:
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise TypeError(f"delay must be a finite number of ms >= 0, got {delay!r}")
    if not 0 <= delay < math.inf:  # also refuses NaN
        raise ValueError(f"delay must be a finite number of ms >= 0, got {delay!r}")


class Simulation(Scheduler):
    """A deterministic discrete-event simulation.

    Parameters
    ----------
    seed:
        Seeds every random choice made by the simulation and its components.
    trace:
        Record a :class:`~evtlib.trace.Trace` of every step (default ``True``).
        Switch it off for long benchmarks; metrics keep working.

    The clock starts at ``0.0`` ms and moves only as calls run:
    :meth:`schedule` queues a call, :meth:`step` runs the next one,
    :meth:`run` runs until a time or until nothing is left, and
    :meth:`scheduled` shows what is waiting.
    """

    scope = "simulation"

    def __init__(self, seed: int = 0, *, trace: bool = True) -> None:
        super().__init__(seed, trace=trace)
        self.now = 0.0

    def step(self) -> None:
        """Run the next scheduled call; raise :class:`EmptySchedule` if there is none."""
        time, fn, args = self._next()
        self.now = time
        fn(*args)

    def run(self, until: float | None = None) -> float:
        """Run scheduled calls in order, up to and including time ``until``.

        With ``until=None`` run until nothing is left.  Afterwards the clock
        reads ``until`` (if given).  Returns the clock.
        """
        queue = self._queue
        if until is None:
            limit = math.inf
        else:
            if isinstance(until, bool) or not isinstance(until, (int, float)):
                raise TypeError(f"until must be a number of ms, got {until!r}")
            if not until >= self.now:
                raise ValueError(
                    f"until must be >= now ({self.now:g} ms): time only moves forward, got {until!r}"
                )
            if until == math.inf:
                raise ValueError(
                    "until must be a finite number of ms (use until=None to run until "
                    "nothing is left), got inf"
                )
            limit = until
        while queue and queue[0][0] <= limit:
            time, _, _, fn, args = heappop(queue)
            self.now = time
            fn(*args)
        if until is not None:
            self.now = float(until)
        return self.now

    def __repr__(self) -> str:
        return (
            f"<Simulation seed={self.seed} now={self.now:g}ms scheduled={len(self._queue)}"
            f" trace={len(self.trace)} records>"
        )

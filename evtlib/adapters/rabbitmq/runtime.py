"""The real-time runner: the scheduling core of a simulation, on the wall clock.

:class:`RealTime` is to :class:`~evtlib.sim.Simulation` what SimPy's
``RealtimeEnvironment`` is to its ``Environment``: the same scheduler
(:class:`~evtlib.sim.Scheduler`: ``schedule``, ``timer``, ``post``,
``pending``, ``rng_for``, ``next_id``, ``register_name``, the trace), with
another clock, :meth:`~RealTime.step` and :meth:`~RealTime.run`.  The
patterns schedule their timers (relay polling, retry backoff, saga
timeouts) on it unchanged; in between, it pumps the network I/O of every
broker attached to it, which is where deliveries reach consumers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...errors import EmptySchedule
from ...sim import Scheduler, describe

__all__ = ["RealTime"]


class RealTime(Scheduler):
    """The runner of a real broker: a wall clock, timers, seeded names and a trace.

    It shares the scheduling core of :class:`~evtlib.sim.Simulation`
    (:class:`~evtlib.sim.Scheduler`), so the patterns schedule their timers on
    it unchanged; it differs only in the clock, :meth:`step` and :meth:`run`.
    ``now`` is the wall clock in ms since the epoch.  :meth:`run` fires timers
    when they are due and, in between, pumps the network I/O of every broker
    attached to it, which is where deliveries reach consumers.  Everything
    runs in the calling thread: a handler never runs concurrently with
    another.

    ``seed`` seeds :meth:`rng_for` (retry jitter, failure injection), so the
    random choices repeat even though timings do not.  ``namespace``, if
    given, goes into every id from :meth:`next_id` (``evt-run7-000001``):
    use one per process when several processes publish to the same broker,
    so event ids stay unique.
    """

    scope = "runner"
    #: The clock moves on its own: a fault scheduled "at now" (read a moment
    #: ago) is already in the past when it is checked, and happens now.
    wall_clock = True

    def __init__(self, seed: int = 0, *, trace: bool = True, namespace: str | None = None):
        super().__init__(seed, trace=trace)
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ValueError(f"namespace must be a non-empty str or None, got {namespace!r}")
        self.namespace = namespace
        self._pumps: list[Callable[[float], None]] = []
        self._origin = time.time() * 1000.0 - time.monotonic() * 1000.0
        #: Deliveries seen so far (what :meth:`run` watches to know the broker is quiet).
        self.activity = 0

    @property
    def now(self) -> float:
        """Wall-clock time in ms since the epoch (advancing monotonically)."""
        return self._origin + time.monotonic() * 1000.0

    @now.setter
    def now(self, value: float) -> None:
        raise AttributeError(f"now is the wall clock here: it cannot be set (to {value!r})")

    def _fire_due(self) -> None:
        while self.peek() <= self.now:
            _, fn, args = self._next()
            fn(*args)

    # -- running -----------------------------------------------------------------

    def attach(self, pump: Callable[[float], None]) -> None:
        """Register ``pump(seconds)``, which waits up to that long for network I/O."""
        self._pumps.append(pump)

    def detach(self, pump: Callable[[float], None]) -> None:
        """Stop pumping ``pump`` (a broker that closed)."""
        if pump in self._pumps:
            self._pumps.remove(pump)

    def _wait(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if not self._pumps:
            time.sleep(seconds)
            return
        share = seconds / len(self._pumps)
        for pump in list(self._pumps):
            pump(share)

    def step(self) -> None:
        """Wait for the next timer (pumping I/O meanwhile) and fire it.

        Raises :class:`~evtlib.errors.EmptySchedule`, as a simulation does,
        when no timer is waiting.
        """
        due = self.peek()
        if due == float("inf"):
            raise EmptySchedule(f"nothing is scheduled in this {self.scope}")
        while self.now < due:
            self._wait(min(0.05, (due - self.now) / 1000.0))
        self._fire_due()

    def run(self, until: float | None = None, *, quiet: float = 300.0) -> float:
        """Fire timers and pump I/O until time ``until`` (ms since the epoch).

        With ``until=None``, run until no timer is waiting and no delivery
        has arrived for ``quiet`` ms.  Returns the clock.
        """
        last, quiet_since = self.activity, self.now
        while True:
            self._fire_due()
            now = self.now
            if until is not None:
                if now >= until:
                    return now
                limit = until
            else:
                if self.activity != last:
                    last, quiet_since = self.activity, now
                if self.peek() == float("inf") and now - quiet_since >= quiet:
                    return now
                limit = now + quiet
            self._wait(min(0.02, (min(limit, self.peek()) - now) / 1000.0))

    def run_until(self, condition: Callable[[], bool], *, timeout: float = 10_000.0) -> float:
        """Run until ``condition()`` is true; raise ``TimeoutError`` after ``timeout`` ms."""
        deadline = self.now + timeout
        while True:
            self._fire_due()
            if condition():
                return self.now
            now = self.now
            if now >= deadline:
                raise TimeoutError(
                    f"condition {describe(condition)} still false after {timeout:g} ms"
                )
            self._wait(min(0.01, (min(deadline, self.peek()) - now) / 1000.0))

    def __repr__(self) -> str:
        return (
            f"<RealTime seed={self.seed} timers={len(self.scheduled())} "
            f"brokers={len(self._pumps)} trace={len(self.trace)} records>"
        )

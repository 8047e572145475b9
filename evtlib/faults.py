"""Faults on a schedule: crash, restart, pause and resume consumers.

Each function schedules the fault at a simulated time, so a scenario reads as
a list of what goes wrong when:

    crash(sim, billing, at=500, restart_after=1000)
    pause(sim, shipping, at=200, duration=300)

Faults on deliveries (drop, duplicate, delay with a probability) are
:class:`~evtlib.broker.NetworkFaults`, given to the broker.
"""

from __future__ import annotations

import math

from . import checks
from .consumer import Consumer
from .protocols import Runner
from .sim import URGENT, Scheduler

__all__ = ["crash", "pause", "restart"]


def _check(sim: Runner, consumer: Consumer, at: float) -> None:
    if not isinstance(sim, Scheduler):
        raise TypeError(f"sim must be a Simulation or another runner, got {sim!r}")
    if not isinstance(consumer, Consumer):
        raise TypeError(f"consumer must be a Consumer, got {consumer!r}")
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise TypeError(f"at must be a time in ms, got {at!r}")
    if not math.isfinite(at):
        raise ValueError(f"at must be a finite time in ms, got {at!r}")
    # On a wall clock, now has moved on since the caller read it: a past time means now.
    if not sim.wall_clock and not at >= sim.now:
        raise ValueError(f"at must be a time >= now ({sim.now:g} ms), got {at!r}")
    if not consumer.started:
        raise ValueError(
            f"consumer {consumer.name!r} was created with start=False and has not started:"
            " call its start() before scheduling faults for it"
        )


def crash(
    sim: Runner, consumer: Consumer, *, at: float, restart_after: float | None = None
) -> None:
    """Crash ``consumer`` at time ``at``; restart it ``restart_after`` ms later if given."""
    _check(sim, consumer, at)
    if restart_after is not None and not (
        isinstance(restart_after, (int, float)) and restart_after > 0
    ):
        raise ValueError(f"restart_after must be > 0 ms or None, got {restart_after!r}")
    sim.schedule_at(at, _crash_if_alive, consumer, priority=URGENT)
    if restart_after is not None:
        sim.schedule_at(at + restart_after, _restart_if_down, consumer, priority=URGENT)


def restart(sim: Runner, consumer: Consumer, *, at: float) -> None:
    """Restart a crashed ``consumer`` at time ``at``."""
    _check(sim, consumer, at)
    sim.schedule_at(at, _restart_if_down, consumer, priority=URGENT)


def pause(sim: Runner, consumer: Consumer, *, at: float, duration: float) -> None:
    """Pause ``consumer`` at ``at`` for ``duration`` ms (it keeps its partitions)."""
    _check(sim, consumer, at)
    duration = checks.ms("duration", duration, positive=True)
    # Pauses of one consumer may not overlap: pausing a paused consumer is an error,
    # and it would strike inside run(), far from this call.  Ask what is scheduled.
    planned = sim.pending(consumer)
    starts = [c.time for c in planned if c.fn == consumer.pause]
    ends = [c.time for c in planned if c.fn == consumer.resume]
    if consumer.paused:
        starts.insert(0, sim.now)  # a pause under way: it ends at its planned resume
    for begin, end in zip(starts, ends, strict=False):
        if at <= end and begin <= at + duration:
            raise ValueError(
                f"a pause of {consumer.name!r} from {at:g} to {at + duration:g} ms overlaps the one"
                f" already planned from {begin:g} to {end:g} ms: pauses of one consumer must not overlap"
            )
    sim.schedule_at(at, consumer.pause, priority=URGENT)
    sim.schedule_at(at + duration, consumer.resume, priority=URGENT)


def _crash_if_alive(consumer: Consumer) -> None:
    if consumer.alive:
        consumer.crash()


def _restart_if_down(consumer: Consumer) -> None:
    if not consumer.alive:
        consumer.restart()

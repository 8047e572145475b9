"""Metrics: consumer lag, consistency lag, throughput and lag status.

*Consumer lag* is how far a group is behind a partition: log end offset
minus committed offset.  :func:`lag_series` rebuilds it over time from what
the broker recorded (when each offset was appended, when each commit was
made), so it works with the trace switched off.

*Consistency lag* is how long an event took to take effect in a consumer:
handled time minus the event's time.  :func:`consistency_lags` gives it per
event, :func:`percentiles` summarises it.

:func:`lag_status` classifies a group the way LinkedIn's Burrow does:
``OK`` (lag reached zero, or is falling), ``WARN`` (lag growing),
``STALL`` (a live owner, but the committed offset has not moved while lag is
above zero), ``STOP`` (nobody is consuming: no live owner and lag above
zero), ``REWIND`` (the committed offset went back).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .broker import Group, PartitionState
from .consumer import Consumer

__all__ = [
    "LagSeries",
    "lag_at",
    "lag_series",
    "consistency_lags",
    "percentiles",
    "throughput",
    "lag_status",
    "group_status",
    "STATUSES",
]

STATUSES = ("OK", "WARN", "STALL", "STOP", "REWIND")


class LagSeries(NamedTuple):
    """Consumer lag of one group sampled at ``times``: per partition and in total."""

    group: str
    times: list[float]
    partitions: dict[str, list[int]]
    total: list[int]


def _committed_at(st: PartitionState, t: float, start: int) -> int:
    commits = st.commits
    i = bisect_right(commits, (t, math.inf))
    return commits[i - 1][1] if i else start


def lag_at(st: PartitionState, t: float) -> int:
    """The lag of one partition for its group at time ``t`` (never negative)."""
    published = bisect_right(st.partition.appended, t)
    # Before its first commit a group stands where it started ("latest" skips the past).
    return max(0, published - _committed_at(st, t, st.start))


def lag_series(group: Group, *, step: float = 10.0, until: float | None = None) -> LagSeries:
    """Consumer lag of ``group`` every ``step`` ms from 0 to ``until`` (default: now)."""
    if not step > 0:
        raise ValueError(f"step must be > 0 ms, got {step!r}")
    end = group.broker.sim.now if until is None else until
    if not end >= 0:
        raise ValueError(f"until must be >= 0 ms, got {until!r}")
    n = int(end // step) + 1
    times = [i * step for i in range(n)]
    if times[-1] < end:
        times.append(end)
    parts = {}
    for tp, st in group.states.items():
        parts[str(tp)] = [lag_at(st, t) for t in times]
    total = [sum(col) for col in zip(*parts.values(), strict=True)] if parts else [0] * len(times)
    return LagSeries(group.name, times, parts, total)


def consistency_lags(consumer: Consumer) -> tuple[list[float], list[float]]:
    """``(handled times, lags)`` of every event ``consumer`` handled, in ms."""
    return list(consumer.handled_at), list(consumer.lags)


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[float, float]:
    """Nearest-rank percentiles of ``values``: ``{50: ..., 95: ..., 99: ...}``."""
    data = sorted(values)
    out = {}
    for q in qs:
        if not 0 < q <= 100:
            raise ValueError(f"percentiles must be in (0, 100], got {q!r}")
        if not data:
            out[q] = math.nan
            continue
        rank = max(1, math.ceil(q / 100 * len(data)))
        out[q] = data[rank - 1]
    return out


def throughput(
    times: Iterable[float], *, window: float = 1000.0, until: float | None = None
) -> list[tuple[float, float]]:
    """Events per second in consecutive windows of ``window`` ms: ``[(window end, rate), ...]``."""
    if not window > 0:
        raise ValueError(f"window must be > 0 ms, got {window!r}")
    ts = sorted(times)
    end = until if until is not None else (ts[-1] if ts else 0.0)
    out: list[tuple[float, float]] = []
    t0 = 0.0
    i = 0
    while t0 < end or (t0 == 0 and not out):
        t1 = t0 + window
        j = bisect_right(ts, t1, lo=i)
        out.append((t1, (j - i) * 1000.0 / window))
        i = j
        t0 = t1
    return out


def lag_status(st: PartitionState, *, window: float = 1000.0, now: float | None = None) -> str:
    """Burrow's status of one partition over the last ``window`` ms."""
    if not window > 0:
        raise ValueError(f"window must be > 0 ms, got {window!r}")
    now = st.group.broker.sim.now if now is None else now
    t0 = max(0.0, now - window)
    recent = [c for c in st.commits if t0 < c[0] <= now]
    before = _committed_at(st, t0, st.start)
    prev = before
    for _, off in recent:
        if off < prev:
            return "REWIND"
        prev = off
    lag_now = lag_at(st, now)
    if lag_now == 0:
        return "OK"
    if any(lag_at(st, t) == 0 for t, _ in recent):
        return "OK"
    moved = prev != before
    owner = st.owner
    if not moved:
        if owner is None or not owner.alive:
            return "STOP"
        return "STALL"
    if lag_now > lag_at(st, t0):
        return "WARN"
    return "OK"


def group_status(
    group: Group, *, window: float = 1000.0, now: float | None = None
) -> dict[str, str]:
    """Status of every partition of ``group`` and the worst of them under ``"group"``."""
    rank = {s: i for i, s in enumerate(STATUSES)}
    out = {str(tp): lag_status(st, window=window, now=now) for tp, st in group.states.items()}
    worst = max(out.values(), key=rank.__getitem__, default="OK")
    out["group"] = worst
    return out

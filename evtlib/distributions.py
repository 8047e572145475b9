"""Seeded random durations and arrival processes.

Durations (network latency, service time) are in simulated milliseconds:
:class:`Constant`, :class:`Uniform` and :class:`Exponential`.  Arrivals say
when a producer publishes: :class:`Schedule` (explicit times),
:class:`Rate` (evenly spaced) and :class:`Poisson` (random, memoryless).
Every draw uses a generator handed in by the simulation, never the global one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "Duration",
    "Constant",
    "Uniform",
    "Exponential",
    "as_duration",
    "Arrivals",
    "Schedule",
    "Rate",
    "Poisson",
]


def _number(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not positive and not value >= 0:
        raise ValueError(f"{name} must be >= 0 ms, got {value!r}")
    if math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


class Duration:
    """A random (or fixed) duration in ms; subclasses say how it is drawn."""

    mean: float

    def sample(self, rng: random.Random) -> float:
        raise NotImplementedError

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument function that draws from ``rng`` (fast in loops)."""
        return lambda: self.sample(rng)


@dataclass(frozen=True)
class Constant(Duration):
    """Always ``ms`` milliseconds."""

    ms: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "ms", _number("ms", self.ms))

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.ms

    def sample(self, rng: random.Random) -> float:
        return self.ms

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        ms = self.ms
        return lambda: ms


@dataclass(frozen=True)
class Uniform(Duration):
    """Anywhere between ``low`` and ``high`` ms, equally likely."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low = _number("low", self.low)
        high = _number("high", self.high)
        if high < low:
            raise ValueError(f"high must be >= low ({low:g}), got {high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def mean(self) -> float:  # type: ignore[override]
        return (self.low + self.high) / 2

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        low, span, r = self.low, self.high - self.low, rng.random
        return lambda: low + span * r()


@dataclass(frozen=True)
class Exponential(Duration):
    """Random with mean ``mean`` ms: mostly short, sometimes long (memoryless)."""

    mean: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _number("mean", self.mean, positive=True))

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        # The same draw as rng.expovariate(1 / mean), without its call overhead.
        r, lam, log = rng.random, 1.0 / self.mean, math.log
        return lambda: -log(1.0 - r()) / lam


def as_duration(value: Duration | float | int, name: str) -> Duration:
    """``value`` as a :class:`Duration`: a number means :class:`Constant`."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of ms or a Duration (Constant, Uniform, Exponential), "
            f"got {value!r}"
        )
    if not 0 <= value < math.inf:  # NaN fails too
        raise ValueError(f"{name} must be a finite number of ms >= 0 or a Duration, got {value!r}")
    return Constant(value)


class Arrivals:
    """When a producer publishes: an iterator of gaps (ms) between events."""

    def gaps(self, rng: random.Random) -> Iterator[float]:
        raise NotImplementedError


@dataclass(frozen=True)
class Schedule(Arrivals):
    """Publish at exactly these times (ms, not decreasing)."""

    times: tuple[float, ...]

    def __init__(self, times: Iterable[float]) -> None:
        ts = tuple(_number("times[i]", t) for t in times)
        for i in range(1, len(ts)):
            if ts[i] < ts[i - 1]:
                raise ValueError(
                    f"times must not decrease, got times[{i}]={ts[i]:g} after {ts[i - 1]:g}"
                )
        object.__setattr__(self, "times", ts)

    def gaps(self, rng: random.Random) -> Iterator[float]:
        prev = 0.0
        for t in self.times:
            yield t - prev
            prev = t


@dataclass(frozen=True)
class Rate(Arrivals):
    """``per_second`` events every simulated second, evenly spaced."""

    per_second: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "per_second", _number("per_second", self.per_second, positive=True)
        )

    def gaps(self, rng: random.Random) -> Iterator[float]:
        gap = 1000.0 / self.per_second
        yield 0.0
        while True:
            yield gap


@dataclass(frozen=True)
class Poisson(Arrivals):
    """On average ``per_second`` events a second, at random (exponential gaps)."""

    per_second: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "per_second", _number("per_second", self.per_second, positive=True)
        )

    def gaps(self, rng: random.Random) -> Iterator[float]:
        lam = self.per_second / 1000.0
        expo = rng.expovariate
        while True:
            yield expo(lam)

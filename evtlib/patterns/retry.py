"""Retry policies: how many times to try, and how long to wait in between.

A failed call is often worth trying again: the database was busy, the
network blinked.  How long to wait matters.  Retrying at once hammers a
dependency that is already struggling; waiting a fixed time makes every
client that failed together retry together.  The usual answer (AWS's
"Exponential Backoff and Jitter") is *capped exponential backoff with
jitter*:

    delay = min(cap, base * 2 ** (attempt - 1))      # exponential backoff
    delay = uniform(0, delay)                         # "full" jitter

A :class:`RetryPolicy` is that formula as a small frozen value.  It does not
wait or retry by itself: a consumer asks it :meth:`RetryPolicy.delay` after
each failure (see :class:`evtlib.patterns.dlq.DeadLetterConsumer`), and gives
up after ``max_attempts``.

    >>> import random
    >>> policy = RetryPolicy(max_attempts=4, backoff="exponential", base=100, jitter="none")
    >>> [policy.delay(n) for n in (1, 2, 3)]
    [100.0, 200.0, 400.0]
    >>> policy.delays()
    [100.0, 200.0, 400.0]
    >>> 0 <= RetryPolicy(4, jitter="full").delay(3, random.Random(1)) <= 400
    True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["RetryPolicy", "BACKOFFS", "JITTERS"]

#: How the wait grows with each failed attempt.
BACKOFFS = ("fixed", "exponential")

#: How randomness spreads the wait: ``none`` (exactly the backoff), ``full``
#: (anywhere in ``[0, backoff]``), ``equal`` (half fixed, half random:
#: ``[backoff/2, backoff]``).
JITTERS = ("none", "full", "equal")

# 2 ** 1000 still fits in a float; larger exponents would overflow, and the
# cap has long been reached by then anyway.
_MAX_EXPONENT = 1000


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number of ms, got {value!r}")
    if math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry a failed event and how long to wait before each retry.

    Parameters
    ----------
    max_attempts:
        How many times an event is tried in all (the first try included)
        before the consumer gives up on it.  ``1`` means "never retry".
    backoff:
        ``"fixed"``: wait ``base`` ms every time.  ``"exponential"``: wait
        ``base``, ``2 * base``, ``4 * base``, ... ms.
    base:
        The first wait, in ms (>= 0).
    cap:
        The longest wait, in ms (>= ``base``): exponential growth stops here.
    jitter:
        ``"none"``, ``"full"`` or ``"equal"`` (see :data:`JITTERS`).  Jitter
        spreads the retries of clients that failed at the same moment, so
        they do not all come back at the same moment.
    """

    max_attempts: int = 3
    backoff: str = "exponential"
    base: float = 100.0
    cap: float = 30_000.0
    jitter: str = "full"

    def __post_init__(self) -> None:
        n = self.max_attempts
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"max_attempts must be an int, got {n!r}")
        if n < 1:
            raise ValueError(f"max_attempts must be >= 1 (the first try counts), got {n}")
        if self.backoff not in BACKOFFS:
            raise ValueError(f"backoff must be one of {BACKOFFS}, got {self.backoff!r}")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {JITTERS}, got {self.jitter!r}")
        base = _number("base", self.base)
        if base < 0:
            raise ValueError(f"base must be >= 0 ms, got {self.base!r}")
        cap = _number("cap", self.cap)
        if cap < base:
            raise ValueError(f"cap must be >= base ({base:g} ms), got {self.cap!r}")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "cap", cap)

    def backoff_for(self, attempt: int) -> float:
        """The wait (ms) after failed ``attempt`` before jitter: the upper bound of :meth:`delay`."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(
                f"attempt must be an int >= 1 (the attempt that failed), got {attempt!r}"
            )
        if self.backoff == "fixed":
            return self.base
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """How long (ms) to wait after failed ``attempt`` (1, 2, ...) before the next one.

        With jitter, the wait is drawn from ``rng``: pass a seeded generator
        (``sim.rng_for(name)``), never the global one, so runs repeat.
        """
        d = self.backoff_for(attempt)
        if self.jitter == "none":
            return d
        if not isinstance(rng, random.Random):
            raise TypeError(
                f"jitter={self.jitter!r} draws random waits: rng must be a random.Random "
                f"(for example sim.rng_for('name')), got {rng!r}"
            )
        if self.jitter == "full":
            return rng.uniform(0.0, d)
        return d / 2 + rng.uniform(0.0, d / 2)

    def gives_up_after(self, attempt: int) -> bool:
        """Whether failed ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The waits between every pair of attempts: ``max_attempts - 1`` numbers (for a plot)."""
        return [self.delay(n, rng) for n in range(1, self.max_attempts)]

    def __repr__(self) -> str:
        cap = f" cap={self.cap:g}" if self.backoff == "exponential" else ""
        return (
            f"<RetryPolicy max_attempts={self.max_attempts} {self.backoff}"
            f" base={self.base:g}ms{cap} jitter={self.jitter}>"
        )

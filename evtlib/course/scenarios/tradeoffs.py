"""Explorers of notebook 06: the knobs behind a retry storm and a lag spiral.

* :func:`storm` runs :func:`~evtlib.course.scenarios.retry_storm` with a
  chosen number of billing consumers retrying in step and a chosen retry
  delay; :func:`draw_storm_lag` draws the group's lag, titled with the
  provider's outages.
* :func:`spiral` runs :func:`~evtlib.course.scenarios.lag_spiral` with a
  chosen pause and load; :func:`draw_spiral` draws the lag, titled with the
  retries (the same events published again) and the orders given up.

Pure and seeded: the same arguments give the same run.
"""

from __future__ import annotations

from typing import Any

from ... import checks
from .base import Run
from .failure_modes import lag_spiral, retry_storm

__all__ = ["storm", "draw_storm_lag", "spiral", "draw_spiral"]


def storm(*, consumers: int = 8, retry_delay: float = 100.0, capacity: int = 5) -> Run:
    """``consumers`` billing consumers retrying every ``retry_delay`` ms, in step, on a provider taking ``capacity``."""
    checks.integer("consumers", consumers, min=1, max=16)
    checks.number("retry_delay", retry_delay, above=0)
    return retry_storm(consumers=consumers, retry_delay=retry_delay, capacity=capacity)


def draw_storm_lag(run: Run, ax: Any = None) -> Any:
    """The billing group's lag during a retry storm, titled with the provider's outages."""
    from ...viz import draw_consumer_lag

    provider = run.info["provider"]
    outages = len(provider.down)
    failed = sum(1 for _, ok in provider.calls if not ok)
    return draw_consumer_lag(
        run.group,
        ax=ax,
        title=(
            f"{len(run.consumers)} consumers in step: {outages} outage{'s' if outages != 1 else ''}, "
            f"{failed} of {len(provider.calls)} calls failed"
        ),
    )


def spiral(*, pause_ms: float = 400.0, rate: float = 60.0) -> Run:
    """Billing pauses ``pause_ms`` at 1 s under ``rate`` orders a second; expired orders are retried."""
    checks.number("pause_ms", pause_ms, above=0)
    checks.number("rate", rate, above=0, max=90)
    return lag_spiral(pause_ms, rate=rate)


def draw_spiral(run: Run, ax: Any = None) -> Any:
    """The lag of :func:`spiral`, titled with what the spiral cost."""
    from ...viz import draw_consumer_lag

    info = run.info
    return draw_consumer_lag(
        run.group,
        ax=ax,
        title=f"{info['requeued']} retries (the same events published again), {info['gave_up']} orders given up",
    )

"""Solutions to notebook 03's exercises (delivery guarantees)."""

from __future__ import annotations

from ...metrics import lag_series
from ..scenarios import billing_crash, charge_tally, consumer_outage


def ex1() -> int:
    """Everything handled since the last commit is handled again: count the doubles."""
    return charge_tally(billing_crash("at-least-once", commit_every=10))["charged twice"]


def ex2() -> str:
    """``drop-oldest`` discards waiting events; the producer is never told."""
    return "drop-oldest"


def ex3() -> int:
    """The lag peaks just before shipping comes back."""
    run = consumer_outage(down_for=1000.0)
    return max(lag_series(run.group, step=10.0).total)

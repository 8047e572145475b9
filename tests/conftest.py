"""Shared test set-up: a reproducible hypothesis profile and tiny builders."""

from __future__ import annotations

from hypothesis import settings

from evtlib import Broker, Simulation

# CI must be reproducible: no example database, a derandomized search, no deadline.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.load_profile("ci")


def make_broker(
    seed: int = 0, partitions: int = 1, topic: str = "orders", **broker_kwargs
) -> tuple[Simulation, Broker]:
    """A simulation and a broker with one topic of ``partitions`` partitions."""
    sim = Simulation(seed)
    broker = Broker(sim, **broker_kwargs)
    broker.create_topic(topic, partitions)
    return sim, broker


def handled(sim: Simulation, actor: str | None = None) -> list[str]:
    """The ids of the events ``actor`` (or anyone) handled, in trace order."""
    return [r.event_id for r in sim.trace.filter(kind="handled", actor=actor)]

"""What every course scenario returns (:class:`Run`), and the shop's order maker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...broker import Broker, Group
from ...consumer import Consumer
from ...events import Event
from ...producer import Producer
from ...sim import Simulation
from ...trace import Trace

__all__ = [
    "Run",
    "make_order",
    "key_of",
]


@dataclass(frozen=True)
class Run:
    """What a scenario leaves behind, ready to inspect or draw.

    ``effects`` lists what the consumers *did* (the keys of the orders they
    acted on, in the order they acted), so duplicates and gaps are visible.
    ``info`` holds the few numbers a scenario adds (what was given up, what
    a read model ended with...).
    """

    sim: Simulation
    broker: Broker
    producer: Producer
    consumers: tuple[Consumer, ...]
    effects: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def trace(self) -> Trace:
        """The simulation's trace."""
        return self.sim.trace

    @property
    def consumer(self) -> Consumer:
        """The first consumer (most scenarios have one)."""
        return self.consumers[0]

    @property
    def group(self) -> Group:
        """The group of the first consumer."""
        return self.consumers[0].group

    def __repr__(self) -> str:
        names = [c.name for c in self.consumers]
        return (
            f"<Run seed={self.sim.seed} now={self.sim.now:g}ms published={self.producer.published}"
            f" consumers={names} effects={len(self.effects)}>"
        )


def make_order(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
    """The shop's ``i``-th order, as a :class:`~evtlib.Producer` ``make`` function wants it."""
    return "OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "total": 10 + (i * 7) % 90}


def key_of(event: Event) -> str:
    """The key of one of the shop's events (they are all keyed by their order)."""
    if event.key is None:
        raise ValueError(f"the shop's events are keyed by order, got one without a key: {event!r}")
    return event.key

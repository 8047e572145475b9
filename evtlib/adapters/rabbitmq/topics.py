"""Topics on RabbitMQ: a durable direct exchange, its partitions, and which partition a key goes to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...broker import partition_for

if TYPE_CHECKING:  # pragma: no cover
    from .broker import RabbitBroker

__all__ = ["RabbitTopic", "RabbitPartition"]


@dataclass(frozen=True)
class RabbitPartition:
    """A partition of a RabbitMQ topic: only its index (queues keep no log)."""

    index: int


class RabbitTopic:
    """A topic on RabbitMQ: a durable direct exchange and its partition count.

    Keys map to partitions exactly as in the simulation
    (:func:`~evtlib.broker.partition_for`: CRC-32), round-robin without a key.
    RabbitMQ never refuses a publish for want of room in a topic (an alarm
    blocks the whole connection instead).
    """

    def __init__(self, broker: RabbitBroker, name: str, partitions: int) -> None:
        self.broker = broker
        self.name = name
        self.partitions = tuple(RabbitPartition(i) for i in range(partitions))
        self.published = 0
        self.rejected = 0
        self._rr = 0

    def partition_of(self, key: str | None) -> int:
        """The partition an event with ``key`` goes to (round-robin when ``key`` is None)."""
        n = len(self.partitions)
        if key is None:
            p = self._rr % n
            self._rr += 1
            return p
        return partition_for(key, n)

    def partition_of_peek(self, key: str | None) -> int:
        """The partition the next event with ``key`` would go to, without taking a turn."""
        n = len(self.partitions)
        return self._rr % n if key is None else partition_for(key, n)

    def __repr__(self) -> str:
        return f"<RabbitTopic {self.name} partitions={len(self.partitions)} published={self.published}>"

"""Topics on RabbitMQ: a durable direct exchange, its partitions, and which partition a key goes to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...topic import KeyedPartitions

if TYPE_CHECKING:  # pragma: no cover
    from .broker import RabbitBroker

__all__ = ["RabbitTopic", "RabbitPartition"]


@dataclass(frozen=True)
class RabbitPartition:
    """A partition of a RabbitMQ topic: only its index (queues keep no log)."""

    index: int


class RabbitTopic(KeyedPartitions):
    """A topic on RabbitMQ: a durable direct exchange and its partition count.

    Keys map to partitions exactly as in the simulation (the same
    :class:`~evtlib.topic.KeyedPartitions`: CRC-32), round-robin without a key.
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

    def __repr__(self) -> str:
        return f"<RabbitTopic {self.name} partitions={len(self.partitions)} published={self.published}>"

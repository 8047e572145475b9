"""Read models: consumers that fold events into a query-side view."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import checks
from .broker import Broker
from .consumer import Consumer, Delivery
from .events import Event
from .outcome import SETTLED, Outcome
from .protocols import BrokerBackend
from .queues import QueueBroker

__all__ = ["ReadModel"]


class ReadModel(Consumer):
    """A consumer that folds events into a state: a query-side view.

    ``fold(state, event) -> new state`` is applied to every event in order;
    :attr:`state` is the result so far and :attr:`positions` the next offset
    it has applied in each partition, so a caller can ask whether the model
    has caught up with a write (:meth:`has_applied`).

    Positions only move forward.  A delivery of an offset the model has
    already applied (a slow attempt that timed out and finished after the
    redelivery, or any other duplicate) is not folded again: it is settled.
    A queue (``profile="rabbitmq"``, ``"sqs"``, ...) has no offsets, so the
    model cannot tell a redelivered message from a new one there: a message
    handled twice (a visibility timeout or lock that ran out, an SQS
    duplicate) is folded twice unless ``fold`` is idempotent (or an
    :class:`~evtlib.patterns.idempotent.IdempotentConsumer` does the work).
    """

    def __init__(
        self,
        broker: BrokerBackend,
        name: str,
        topics: str | Iterable[str],
        fold: Callable[[Any, Event], Any],
        initial: Any = None,
        **kwargs: Any,
    ) -> None:
        checks.function("fold", fold, "fold(state, event) -> new state")
        self.fold = fold
        self.state = {} if initial is None else initial
        self.initial = self.state
        self.positions: dict[tuple[str, int], int] = {}
        self.applied = 0
        super().__init__(broker, name, topics, None, **kwargs)

    def process(self, delivery: Delivery) -> Outcome | None:
        where = (delivery.topic, delivery.partition)
        offset = delivery.offset
        if 0 <= offset < self.positions.get(where, 0):
            return SETTLED  # applied already: folding it again would undo later events
        self.state = self.fold(self.state, delivery.event)
        if offset >= 0:  # a queue (RabbitMQ) has no offsets: -1
            self.positions[where] = offset + 1
        self.applied += 1
        return None

    def rewound(self, state: Any) -> None:
        """A replay: the model applies again from the group's new committed offset."""
        super().rewound(state)
        self.positions[(state.tp.topic, state.tp.partition)] = state.committed

    def has_applied(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the event at ``offset`` of ``topic[partition]`` is in :attr:`state`."""
        return self.positions.get((topic, partition), 0) > offset

    def caught_up(self) -> bool:
        """Whether every published event of its topics has been applied.

        On a queue broker (``profile="rabbitmq"``, ``"sqs"``, ``"sqs-fifo"``,
        ``"service-bus"``), which has no offsets: whether its subscription
        has nothing waiting (delayed messages included) and nothing in
        flight (a message a member holds, handling it or waiting to retry
        it, is not applied yet).  On a real RabbitMQ, whether its group has
        nothing left waiting.
        """
        if isinstance(self.broker, QueueBroker):
            stats = self.group.stats()
            return stats["waiting"] == 0 and stats["in_flight"] == 0
        if not isinstance(self.broker, Broker):
            return self.group.lag() == 0
        return all(
            self.positions.get((t, p.index), 0) >= len(p.log)
            for t in self.topics
            for p in self.broker.topic(t).partitions
        )

    def __repr__(self) -> str:
        return f"<ReadModel {self.name} applied={self.applied} state={_short(self.state)}>"


def _short(state: Any, limit: int = 60) -> str:
    text = repr(dict(state) if isinstance(state, Mapping) else state)
    return text if len(text) <= limit else text[: limit - 3] + "..."

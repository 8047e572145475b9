"""How a delivery's handling ended: a value each broker backend maps in one place.

A consumer's :meth:`~evtlib.consumer.Consumer.handle` returns an
:class:`Outcome`; the backend turns it into what its broker understands,
as aio-pika's ``ProcessContext`` turns a handler's result into ``ack`` or
``reject``:

==================  =========================  ===================================
outcome             simulated broker           RabbitMQ (quorum queues)
==================  =========================  ===================================
``ACK``             commit the offset          ``basic.ack``
``retry(ms)``       hold the partition, then   hold the message, then
                    fetch the offset again     ``basic.nack(requeue=True)``
``SETTLED``         commit, not counted as     ``basic.ack``
                    handled
``dead_letter(r)``  publish the record to the  ``basic.reject(requeue=False)`` to
                    dead-letter topic, commit  the queue's dead-letter exchange,
                                               or publish the record and ack
==================  =========================  ===================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from . import checks

__all__ = ["Outcome", "ACK", "SETTLED", "retry", "dead_letter", "OutcomeKind"]

OutcomeKind = Literal["ack", "retry", "settled", "dead-letter"]
KINDS: tuple[OutcomeKind, ...] = ("ack", "retry", "settled", "dead-letter")


@dataclass(frozen=True)
class Outcome:
    """The end of one delivery's handling.

    ``kind``: ``"ack"`` (handled), ``"retry"`` (failed: try again after
    ``delay`` ms, ``error`` says why), ``"settled"`` (finished with but not
    handled) or ``"dead-letter"`` (give up: ``record`` goes to the
    dead-letter ``topic``).
    """

    kind: OutcomeKind
    delay: float = 0.0
    error: BaseException | None = None
    record: Any = None
    topic: str | None = None

    def __post_init__(self) -> None:
        checks.one_of("kind", self.kind, KINDS)

    def __repr__(self) -> str:
        if self.kind == "retry":
            why = f" {type(self.error).__name__}" if self.error is not None else ""
            return f"<Outcome retry after {self.delay:g} ms{why}>"
        if self.kind == "dead-letter":
            return f"<Outcome dead-letter to {self.topic}>"
        return f"<Outcome {self.kind}>"


#: Handled: acknowledge (commit).
ACK = Outcome("ack")
#: Finished with but not handled (for example dead-lettered by the handler itself).
SETTLED = Outcome("settled")


def retry(delay: float, error: BaseException | None = None) -> Outcome:
    """Failed: deliver the same event again after ``delay`` ms."""
    return Outcome("retry", checks.ms("delay", delay), error)


def dead_letter(record: Any, topic: str) -> Outcome:
    """Give up on the event: ``record`` (a dead-letter record) goes to ``topic``."""
    return Outcome("dead-letter", record=record, topic=checks.name("topic", topic))

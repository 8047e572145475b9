"""How a delivery's handling ended: a value each broker backend maps in one place.

A consumer's :meth:`~evtlib.consumer.Consumer.handle` returns an
:class:`Outcome`; the backend turns it into what its broker understands,
as aio-pika's ``ProcessContext`` turns a handler's result into ``ack`` or
``reject``:

==================  =========================  ===================================
outcome             simulated broker           RabbitMQ (quorum queues)
==================  =========================  ===================================
``ACK``             commit the offset          ``basic.ack``
``failed(error)``   at-least-once: as          at-least-once: as ``retry`` after
                    ``retry`` after the        the consumer's ``retry_after``;
                    consumer's                 auto-ack: a loss, traced
                    ``retry_after``;
                    at-most-once: a loss
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

__all__ = ["Outcome", "ACK", "SETTLED", "failed", "retry", "dead_letter", "OutcomeKind"]

OutcomeKind = Literal["ack", "failed", "retry", "settled", "dead-letter"]
KINDS: tuple[OutcomeKind, ...] = ("ack", "failed", "retry", "settled", "dead-letter")


@dataclass(frozen=True)
class Outcome:
    """The end of one delivery's handling.

    ``kind``: ``"ack"`` (handled), ``"failed"`` (the handler raised
    ``error``: the consumer's delivery mode and retry policy decide what
    follows), ``"retry"`` (try again after ``delay`` ms), ``"settled"`` (finished with but not
    handled) or ``"dead-letter"`` (give up: ``letter``, which carries
    ``record``, goes to the dead-letter ``topic``).
    """

    kind: OutcomeKind
    delay: float = 0.0
    error: BaseException | None = None
    record: Any = None
    letter: Any = None
    topic: str | None = None

    def __post_init__(self) -> None:
        checks.one_of("kind", self.kind, KINDS)

    def __repr__(self) -> str:
        if self.kind == "failed":
            return f"<Outcome failed {type(self.error).__name__}: {self.error}>"
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


def failed(error: BaseException) -> Outcome:
    """The handler raised ``error``."""
    return Outcome("failed", error=error)


def dead_letter(record: Any, letter: Any, topic: str) -> Outcome:
    """Give up on the event: ``letter`` (an event carrying ``record``) goes to ``topic``.

    ``record`` is the :class:`~evtlib.patterns.dlq.DeadLetterRecord` (why,
    after how many attempts); a broker with native dead-lettering may move
    the message itself instead of publishing ``letter``.
    """
    return Outcome("dead-letter", record=record, letter=letter, topic=checks.name("topic", topic))

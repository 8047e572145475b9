"""What a subscription keeps: each message's copy in its queue, and each member's work."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..delivery import Delivery
from ..events import Event

if TYPE_CHECKING:  # pragma: no cover
    from ..consumer import Consumer
    from ..sim import Timer

__all__ = ["QueuedMessage", "Member"]


class QueuedMessage:
    """One copy of a message in one subscription's queue.

    ``state`` is ``"delayed"`` (not visible yet), ``"waiting"``,
    ``"in-flight"`` (a member holds it), ``"deleted"``, ``"dead-lettered"``,
    ``"expired"`` or ``"dropped"``; ``count`` is its delivery count
    (deliveries so far); ``receipt`` identifies its latest delivery, so an
    acknowledgement of an earlier one is recognised as late.
    """

    __slots__ = (
        "seq",
        "event",
        "topic",
        "count",
        "receipt",
        "holder",
        "handled",
        "state",
        "since",
        "size",
        "deadline",
        "received",
        "record",
        "dead_at",
        "delivery",
    )

    def __init__(self, seq: int, event: Event, topic: str, since: float, size: int = 0) -> None:
        self.seq = seq
        #: Its size in bytes where the broker counts sizes (Service Bus quotas), else 0.
        self.size = size
        #: When it entered the queue (time to live and retention count from here).
        self.since = since
        self.event = event
        self.topic = topic
        self.count = 0
        self.receipt = 0
        self.holder: Member | None = None
        self.handled = 0
        self.state = "waiting"
        #: When the profile's timeout of its current delivery falls due (ms), and when that
        #: delivery was sent (SQS caps a message's total visibility timeout from here).
        self.deadline = 0.0
        self.received = 0.0
        #: What the application said when it dead-lettered it (its record), if it did.
        self.record: object = None
        #: When it was dead-lettered (ms), if it was.
        self.dead_at = 0.0
        #: Its current (latest) delivery, while one is in flight.
        self.delivery: Delivery | None = None

    def __lt__(self, other: QueuedMessage) -> bool:
        return self.seq < other.seq

    def __repr__(self) -> str:
        return f"<QueuedMessage {self.event.id} {self.state} deliveries={self.count}>"


class Member:
    """What a subscription knows of one member: the messages it holds, and its work."""

    __slots__ = (
        "consumer",
        "unacked",
        "transit",
        "buffer",
        "working",
        "held",
        "closed",
        "load",
        "cap",
    )

    def __init__(self, consumer: Consumer, cap: int) -> None:
        self.consumer = consumer
        #: Messages on their way, waiting in the client, handled or held for a retry
        #: (transit + buffer + working + held, kept as one number: it is read on every
        #: hand-out); it takes more only below ``cap``, its prefetch.
        self.load = 0
        self.cap = cap
        #: Messages the broker counts as this member's (unacknowledged), by seq.
        self.unacked: dict[int, QueuedMessage] = {}
        self.transit = 0  # sent, not arrived yet
        self.buffer: deque[tuple[QueuedMessage, int, Delivery]] = deque()  # arrived, waiting
        self.working = 0  # being handled now
        self.held: dict[tuple[int, int], Timer] = {}  # (seq, receipt) failed, waiting to retry
        #: Its channel was closed (RabbitMQ consumer_timeout): it takes nothing until the
        #: handlings it is busy with end and it opens a new channel.
        self.closed = False

"""The queue of one subscription: the messages in it and what can happen to each.

A message is *waiting* (in arrival order), *in flight* (a member holds it),
or gone for good: *deleted* (acknowledged), *dead-lettered* (the broker moved
it to its dead-letter queue, with a reason) or *expired* (its time to live or
retention ran out unread).  :class:`MessageQueue` keeps those states and the
counts of the conservation law; :class:`~evtlib.queues.subscription.Subscription`
adds the members that take messages and the mapping of their outcomes.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from .. import checks
from ..events import Event
from .messages import QueuedMessage

if TYPE_CHECKING:  # pragma: no cover
    from ..sim import Timer
    from .broker import QueueBroker
    from .rules import QueueRules

__all__ = ["MessageQueue"]

_COUNTS = (
    "published",
    "delivered",
    "redelivered",
    "handled",
    "handled_first",
    "settled",
    "deleted",
    "dead_lettered",
    "lost",
    "retried",
    "timeouts",
    "ignored_acks",
    "expired",
    "rejected",
    "duplicated",
    "redriven",
    "acked",
    "lettered",
    "extended",
)


#: The states a message does not leave (except by a redrive, which ages it again).
_GONE = frozenset(("deleted", "dead-lettered", "expired", "dropped"))


class MessageQueue:
    """A subscription's queue: waiting messages, messages in flight, and where the others went."""

    def __init__(self, broker: QueueBroker, name: str, rules: QueueRules) -> None:
        self.broker = broker
        self.name = name
        self.rules = rules
        # A heap of (seq, message): arrival order.  Entries whose state is no longer
        # "waiting" (expired, dropped while waiting) are skipped when they come to the top.
        self._ready: list[tuple[int, QueuedMessage]] = []
        # Every delivery's deadline (the profile's timeout), in the order they fall due: the
        # timeout is the same for the whole queue, so one timer for the earliest is enough.
        self._deadlines: deque[tuple[float, QueuedMessage, int]] = deque()
        # Deadlines moved by an extension or a renewed lock, out of that order: a heap of
        # (deadline, seq, receipt, message).  An entry whose deadline is no longer the
        # message's (moved again, or the delivery ended) is skipped.
        self._moved: list[tuple[float, int, int, QueuedMessage]] = []
        self._deadline_timer: Timer | None = None
        self._deadline_at = 0.0
        # Messages by age, for the time to live (applied lazily, traced when they expired).
        self._aging: deque[tuple[float, QueuedMessage]] = deque()
        self._waiting = 0  # waiting or delayed messages
        self._keys_in_flight: dict[str, int] = {}
        self._seq = 0
        self._in_flight = 0
        # Dead letters still in the dead-letter queue: (message, reason, deliveries).
        self._dead: list[tuple[QueuedMessage, str, int]] = []
        self._counts = dict.fromkeys(_COUNTS, 0)
        #: Bytes of the messages it keeps (waiting, in flight, dead letters), where sizes count.
        self.stored_bytes = 0

    def dispatch(self) -> None:
        """Hand waiting messages out (the subscription's)."""
        raise NotImplementedError  # pragma: no cover - the subscription's

    def _timed_out(self, msg: QueuedMessage, receipt: int) -> None:
        raise NotImplementedError  # pragma: no cover - the subscription's

    def enqueue(self, event: Event, topic: str, size: int = 0) -> bool:
        """A copy of ``event``, published to ``topic``, joins the queue; False if refused.

        A full RabbitMQ queue (``x-max-length``) drops its oldest waiting
        message (``x-overflow="drop-head"``: dead-lettered, reason
        ``maxlen``) or refuses the new one (``"reject-publish"``: the
        publisher gets a nack).  Only waiting messages count, as in RabbitMQ.
        ``size`` (bytes) counts towards :attr:`stored_bytes`.
        """
        rules = self.rules
        sim = self.broker.sim
        if rules.max_length is not None and self._waiting >= rules.max_length:
            if rules.overflow == "reject-publish":
                self._counts["rejected"] += 1
                return False
            oldest = self._oldest_waiting()
            if oldest is not None:
                self._finish(oldest, "dead-lettered", "maxlen", self.broker.name)
        self._seq += 1
        msg = QueuedMessage(self._seq, event, topic, sim.now, size)
        self.stored_bytes += size
        self._counts["published"] += 1
        self._waiting += 1
        if rules.ttl is not None:
            self._aging.append((msg.since, msg))
        if rules.delay:
            msg.state = "delayed"
            sim.post(sim.now + rules.delay, self._visible, (msg,))
            return True
        heapq.heappush(self._ready, (msg.seq, msg))
        self.dispatch()
        return True

    def _visible(self, msg: QueuedMessage) -> None:
        if msg.state == "delayed":  # SQS DelaySeconds are over
            msg.state = "waiting"
            heapq.heappush(self._ready, (msg.seq, msg))
            self.dispatch()

    def _oldest_waiting(self) -> QueuedMessage | None:
        ready = self._ready
        while ready:
            seq, msg = heapq.heappop(ready)
            if msg.state == "waiting" and seq == msg.seq:  # not a stale entry
                return msg
        return None

    def expire(self) -> int:
        """Apply the time to live now; return how many messages it removed.

        The simulation does this whenever it hands out messages or is asked
        for its counts.  Each removed message is traced at the time it
        expired: dead-lettered or ``expired`` (deleted), per the profile.
        """
        ttl = self.rules.ttl
        if ttl is None:
            return 0
        aging = self._aging
        now = self.broker.sim.now
        n = 0
        while aging and aging[0][0] + ttl <= now:
            since, msg = aging.popleft()
            if msg.state in ("waiting", "delayed") and since == msg.since:
                self._expired(msg, since + ttl)
                n += 1
        return n

    def _take(self) -> QueuedMessage | None:
        """The first waiting message that may go now (one per key in flight, if so ruled)."""
        ready = self._ready
        if not self.rules.one_per_key:
            return self._oldest_waiting()
        skipped = []
        found = None
        while ready:
            seq, msg = heapq.heappop(ready)
            if msg.state != "waiting" or seq != msg.seq:
                continue  # a stale entry
            if msg.event.key is None or msg.event.key not in self._keys_in_flight:
                found = msg
                break
            skipped.append(msg)
        for msg in skipped:
            heapq.heappush(ready, (msg.seq, msg))
        return found

    # -- what happens to a message -------------------------------------------------

    def _detach(self, msg: QueuedMessage) -> None:
        """The message is no longer in flight: forget its holder and timer."""
        if msg.state != "in-flight":
            return
        if msg.holder is not None:
            msg.holder.unacked.pop(msg.seq, None)
        msg.holder = None
        msg.delivery = None
        self._in_flight -= 1
        msg.state = "detached"  # the caller says where it goes
        if not self._in_flight:  # nothing left to time out: forget the deadlines
            self._deadlines.clear()
            self._moved.clear()
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
                self._deadline_timer = None
        key = msg.event.key
        if self.rules.one_per_key and key is not None:
            left = self._keys_in_flight[key] - 1
            if left:
                self._keys_in_flight[key] = left
            else:
                del self._keys_in_flight[key]

    def _delete(self, msg: QueuedMessage) -> None:
        self._finish(msg, "deleted")

    def _return(self, msg: QueuedMessage) -> None:
        """Back to the queue, in its place; or dead-lettered if it used up its deliveries."""
        self._detach(msg)
        rules = self.rules
        limit = rules.max_deliveries
        if limit is not None and msg.count >= limit:
            self._dead_letter(msg, rules.limit_reason, self.broker.name)
            return
        msg.state = "waiting"
        self._waiting += 1
        now = self.broker.sim.now
        if rules.ttl is not None and now - msg.since >= rules.ttl:
            self._expired(msg, now)  # it outlived its time to live while in flight
            return
        heapq.heappush(self._ready, (msg.seq, msg))

    def _dead_letter(self, msg: QueuedMessage, reason: str, actor: str) -> None:
        self._finish(msg, "dead-lettered", reason, actor)

    def _expired(self, msg: QueuedMessage, when: float) -> None:
        """Its time to live (retention) was over at ``when``: dead-lettered or deleted.

        A message in flight expires when it comes back, if it ever does.
        """
        rules = self.rules
        why = f"{rules.ttl_setting}={rules.ttl:g} ms"
        if rules.ttl_dead_letters:
            reason = f"{rules.ttl_reason} ({why})"
            self._finish(msg, "dead-lettered", reason, self.broker.name, when)
        else:
            self._finish(msg, "expired", why, self.broker.name, when)

    def _finish(
        self,
        msg: QueuedMessage,
        state: str,
        reason: str = "",
        actor: str = "",
        when: float | None = None,
    ) -> None:
        """The message leaves the queue for good: ``deleted``, ``dead-lettered`` or ``expired``."""
        if msg.state in ("waiting", "delayed"):
            self._waiting -= 1  # its heap entry, if any, is skipped when it comes to the top
        self._detach(msg)
        msg.state = state
        aging = self._aging
        if aging and aging[0][1] is msg:  # forget the oldest entries of messages that are gone
            aging.popleft()
            while aging and aging[0][1].state in _GONE:
                aging.popleft()
        if state != "dead-lettered":  # a dead letter still takes room (Service Bus counts it)
            self.stored_bytes -= msg.size
        self._counts["deleted" if state == "deleted" else state.replace("-", "_")] += 1
        if state == "deleted":
            return
        sim = self.broker.sim
        time = sim.now if when is None else when
        if state == "dead-lettered":
            msg.dead_at = time
            self._dead.append((msg, reason, msg.count))
            detail = (
                f"{reason} after {msg.count} deliveries: moved to"
                f" {self.rules.dead_letter_place} of {self.name}"
            )
        else:
            detail = f"{reason}: deleted from {self.name} unread"
        sim.trace.record(time, state, actor, msg.event.id, msg.topic, detail=detail)

    def _check_deadlines(self) -> None:
        """Time out every delivery whose deadline has come and that is still unacknowledged."""
        self._deadline_timer = None
        now = self.broker.sim.now
        deadlines = self._deadlines
        moved = self._moved
        while deadlines and deadlines[0][0] <= now:
            due, msg, receipt = deadlines.popleft()
            if msg.deadline == due:  # not moved by an extension since
                self._timed_out(msg, receipt)
        while moved and moved[0][0] <= now:
            due, _, receipt, msg = heapq.heappop(moved)
            if msg.deadline == due:
                self._timed_out(msg, receipt)
        self._arm()

    def _arm(self) -> None:
        """Set the one deadline timer for the earliest deadline still to come."""
        heads = []
        if self._deadlines:
            heads.append(self._deadlines[0][0])
        if self._moved:
            heads.append(self._moved[0][0])
        if not heads:
            return
        due = min(heads)
        timer = self._deadline_timer
        if timer is not None:
            if self._deadline_at <= due:
                return
            timer.cancel()
        sim = self.broker.sim
        self._deadline_at = due
        self._deadline_timer = sim.timer(max(0.0, due - sim.now), self._check_deadlines)

    def _move_deadline(self, msg: QueuedMessage, receipt: int, due: float) -> None:
        """The deadline of ``msg``'s current delivery is now ``due`` (extended or renewed)."""
        msg.deadline = due
        heapq.heappush(self._moved, (due, msg.seq, receipt, msg))
        self._arm()

    def dead_letters(self) -> list[tuple[Event, str, int]]:
        """What the broker dead-lettered and still keeps: ``(message, reason, deliveries)``."""
        self.expire()
        return [(m.event, reason, count) for m, reason, count in self._dead]

    def letters(self) -> list[tuple[QueuedMessage, str]]:
        """The dead letters it keeps, oldest first, as ``(message, reason)``.

        Each message keeps its delivery count (``count``), the time it was
        dead-lettered (``dead_at``) and the application's record, if the
        application dead-lettered it (``record``): what a view such as
        :class:`~evtlib.patterns.dlq.DeadLetterQueue` reads.
        """
        self.expire()
        return [(m, reason) for m, reason, _ in self._dead]

    def redrive(
        self,
        limit: int | None = None,
        *,
        actor: str = "operator",
        messages: list[QueuedMessage] | None = None,
    ) -> int:
        """Move dead letters back into this queue (only this one), oldest first; return how many.

        Each goes back as a new message at the end of the queue, its delivery
        count and its time to live starting again, its event (id, data)
        unchanged: SQS's redrive to the source queue
        (``StartMessageMoveTask``) does this; on RabbitMQ and Service Bus an
        operator does it (a shovel; receiving from the dead-letter queue and
        sending again).  The subscription's other consumers and the topic's
        other subscriptions get nothing.  Counted as ``redriven``; the
        message leaves ``dead_lettered``, so the conservation law holds.
        ``messages`` picks which dead letters (those of :meth:`letters` still
        here); ``limit`` caps how many.
        """
        if limit is not None:
            checks.integer("limit", limit, min=0)
        self.expire()
        pool = self._dead
        if messages is not None:
            wanted = {id(m) for m in messages}
            pool = [d for d in pool if id(d[0]) in wanted]
        take = pool if limit is None else pool[:limit]
        gone = {id(d[0]) for d in take}
        self._dead = [d for d in self._dead if id(d[0]) not in gone]
        sim = self.broker.sim
        for msg, reason, _ in take:
            self._counts["dead_lettered"] -= 1
            self._counts["redriven"] += 1
            self._seq += 1
            msg.seq = self._seq  # at the end of the queue
            msg.count = 0
            msg.since = sim.now
            msg.record = None
            msg.state = "waiting"
            self._waiting += 1
            if self.rules.ttl is not None:
                self._aging.append((msg.since, msg))
            heapq.heappush(self._ready, (msg.seq, msg))
            sim.trace.record(
                sim.now,
                "redriven",
                actor,
                msg.event.id,
                msg.topic,
                detail=f"from {self.rules.dead_letter_place} of {self.name} ({reason})",
            )
        self.dispatch()
        return len(take)

    def waiting(self) -> list[Event]:
        """The messages waiting in the queue, in the order they will be taken."""
        self.expire()
        return [m.event for seq, m in sorted(self._ready) if m.state == "waiting" and seq == m.seq]

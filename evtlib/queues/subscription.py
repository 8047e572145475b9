"""A subscription on a queue broker: one queue, its competing consumers, and what each outcome does.

A subscription is the queue family's consumer group.  Its queue holds a copy
of every message published to its topics since it subscribed.  Its members
compete: each free member takes the next message (one at a time, up to its
prefetch), waits the network latency and its service time, then calls
:meth:`Consumer.handle <evtlib.consumer.Consumer.handle>`; the
:class:`~evtlib.outcome.Outcome` is mapped in one place, :meth:`Subscription.settle`,
as :class:`~evtlib.adapters.rabbitmq.groups.RabbitGroup` does on a real
RabbitMQ.

A message taken by a member is *in flight* until the member acknowledges it
(deleted) or gives it back (waiting again, its delivery count grown by one).
The profile's own timeout bounds how long a member may keep it:

* SQS ``VisibilityTimeout`` and Service Bus ``LockDuration``: per message.
  When it expires the message is visible again and another member may take
  it while the first is still handling it: a duplicate.  The first member's
  late acknowledgement is ignored (SQS: an outdated receipt handle; Service
  Bus: ``MessageLockLostException``).
* RabbitMQ ``consumer_timeout``: up to RabbitMQ 4.2 a delivery not
  acknowledged in time closes the consumer's *channel*, and **all** of that
  channel's unacknowledged messages are requeued, not only the late one.
  (From 4.3 quorum queues cancel only that consumer and return its
  timed-out messages; the simulation models 4.2.)

A crashed or stopped member's channel (connection) closes: its unacknowledged
messages go back to the queue at once.  Messages go back to their place in
the queue (by arrival), so the next free member takes them first.

Native dead-lettering: a message given back after the profile's limit of
deliveries (Service Bus ``MaxDeliveryCount``, RabbitMQ quorum queues'
``x-delivery-limit``, SQS ``maxReceiveCount`` when a redrive policy is
configured) is moved to the subscription's dead letters with the broker's
reason, counted and traced (``dead-lettered``, by the broker).  RabbitMQ
drops such a message when its queue has no dead-letter exchange; the
simulation gives every queue one.  From RabbitMQ 4.3 only failed deliveries
count towards the limit; here every return counts (4.0-4.2).

More time for a slow handling: :meth:`Subscription.extend` (SQS
``ChangeMessageVisibility``, Service Bus ``RenewMessageLock``; RabbitMQ has
none) and :meth:`Subscription.renew_locks` (renewal while a member handles a
message, as Service Bus's processor does).  :meth:`Subscription.pause` stops
a member taking messages; what it holds keeps its clock running.

Order: with more than one member, or a redelivery, the order of one key is
lost.  The profiles' own remedies: RabbitMQ ``x-single-active-consumer``
(one member at a time gets the messages), SQS FIFO message groups (the
event's key is the MessageGroupId: one message of a group in flight at a
time) and Service Bus sessions (``RequiresSession``: likewise per SessionId;
Service Bus locks a whole session to one receiver for a while, here each
message of a session may go to another member, still one at a time and in
order).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .. import checks
from ..delivery import Delivery
from ..errors import EvtlibError
from ..events import Event
from ..outcome import Outcome
from .messages import Member, QueuedMessage
from .queue import MessageQueue

if TYPE_CHECKING:  # pragma: no cover
    from ..consumer import Consumer
    from ..sim import Timer
    from .broker import QueueBroker
    from .rules import QueueRules

__all__ = ["Subscription", "QueuedMessage", "LockLostError"]


class LockLostError(EvtlibError):
    """A delivery's lock or visibility is no longer its consumer's: it cannot be extended.

    Service Bus ``MessageLockLostException``; SQS refusing a receipt handle that
    is no longer the message's latest.
    """


class Subscription(MessageQueue):
    """One subscription (queue) on a queue broker and its competing consumers.

    It satisfies :class:`~evtlib.protocols.GroupBackend`: consumers call
    :meth:`subscribe`, :meth:`join`, :meth:`leave` and :meth:`rejoin`.
    ``settings`` are the broker's with this subscription's overrides.
    """

    def __init__(
        self, broker: QueueBroker, name: str, rules: QueueRules, settings: Mapping[str, Any]
    ) -> None:
        super().__init__(broker, name, rules)
        #: A queue has no history: a subscription starts with what is published after it.
        self.start = "latest"
        #: A closed channel is seen at once: a crashed member's messages return at once.
        self.session_timeout = 0.0
        self.settings: Mapping[str, Any] = MappingProxyType(dict(settings))
        self.topics: list[str] = []
        self.members: list[Consumer] = []
        self.rebalances = 0
        self._order: list[Member] = []  # the members in join order
        self._members: dict[str, Member] = {}
        self._rr = 0
        self._receipts = 0
        # Automatic renewal while a member handles a message: (every, by, max_duration).
        self._renewal: tuple[float, float | None, float] | None = None
        self._renewing: dict[tuple[int, int], Timer] = {}
        #: The dead-letter topic its dead letters are listed under (set by a
        #: :class:`~evtlib.patterns.dlq.DeadLetterConsumer` that joins), or None.
        self.dead_letter_topic: str | None = None

    # -- membership ----------------------------------------------------------------

    def subscribe(self, topic: Any) -> None:
        """Get a copy of every message published to ``topic`` from now on."""
        if topic.name not in self.topics:
            self.topics.append(topic.name)

    def join(self, consumer: Consumer) -> None:
        """Add ``consumer`` as a competing consumer; it takes messages when it has room."""
        if consumer in self.members:
            raise ValueError(
                f"consumer {consumer.name!r} is already a member of subscription {self.name!r}"
            )
        if consumer.ack_timeout is not None:
            rules = self.rules
            raise ValueError(
                f"ack_timeout must be None on the {self.broker.profile.name} profile, got"
                f" {consumer.ack_timeout!r}: the broker's own timeout applies"
                f" ({rules.timeout_setting}={rules.timeout:g} ms; set it in settings=)"
            )
        self.members.append(consumer)
        cap = max(self.broker.prefetch, consumer.concurrency)
        ms = self._members[consumer.name] = Member(consumer, cap)
        self._order.append(ms)
        self.rebalances += 1
        self.dispatch()

    def leave(self, consumer: Consumer) -> None:
        """Remove ``consumer``: its channel closes, its unacknowledged messages go back at once."""
        if consumer not in self.members:
            return
        self.members.remove(consumer)
        ms = self._members.pop(consumer.name)
        self._order.remove(ms)
        for timer in ms.held.values():
            timer.cancel()
        back = sorted(ms.unacked.values())
        if back:
            sim = self.broker.sim
            sim.trace.record(
                sim.now,
                "requeued",
                self.broker.name,
                None,
                ", ".join(self.topics),
                detail=f"{consumer.name}'s channel closed: {len(back)} unacknowledged"
                f" message(s) back in {self.name}",
            )
        for msg in back:
            self._return(msg)
        self.rebalances += 1
        self.dispatch()

    def rejoin(self, consumer: Consumer) -> None:
        """``consumer`` is back after a crash: it joins again (leaving first if still listed)."""
        if consumer in self.members:
            self.leave(consumer)
        self.join(consumer)

    def use_dead_letter_topic(self, topic: str) -> None:
        """List this subscription's dead letters under ``topic`` (RabbitMQ: its dead-letter exchange).

        One subscription has one dead-letter queue: a second, different topic is an error.
        """
        if self.dead_letter_topic not in (None, topic):
            raise ValueError(
                f"dlq must be {self.dead_letter_topic!r} for subscription {self.name!r}, got"
                f" {topic!r}: a queue has one dead-letter queue, and its members share it"
            )
        self.dead_letter_topic = topic

    # -- pausing a member ------------------------------------------------------------

    def pause(self, consumer: str) -> None:
        """Pause member ``consumer`` (a name): it takes no new messages until :meth:`resume`.

        What a paused consumer means on a queue: the broker sends it nothing
        more, and it starts no handling of what it already holds (messages
        in its prefetch buffer stay there); a handling in progress finishes
        and is acknowledged.  The messages it holds are still its own: their
        visibility timeout or lock keeps running (no automatic renewal for
        them, which only covers handlings in progress), so a long pause
        hands them back to the queue and to the other members, with their
        delivery count grown.  On RabbitMQ the ``consumer_timeout`` of a held
        message closes the whole channel, as ever.  (Kafka's ``pause()``
        likewise stops fetching while the member keeps its partitions.)
        Same as ``consumer.pause()``.
        """
        self._member(consumer).consumer.pause()

    def resume(self, consumer: str) -> None:
        """Resume member ``consumer`` (a name) after :meth:`pause`: it takes messages again."""
        ms = self._member(consumer)
        ms.consumer.resume()
        self.resumed(ms.consumer)

    def resumed(self, consumer: Consumer) -> None:
        """``consumer`` was resumed: it starts on what it holds and takes messages again."""
        ms = self._members.get(consumer.name)
        if ms is None or ms.consumer is not consumer or consumer.paused:
            return
        self._start(ms)
        self.dispatch()

    def _member(self, consumer: str) -> Member:
        ms = self._members.get(consumer) if isinstance(consumer, str) else None
        if ms is None:
            known = ", ".join(self._members) or "none"
            raise KeyError(
                f"consumer must name a member of subscription {self.name!r}, got {consumer!r};"
                f" members: {known}"
            )
        return ms

    def released(self, state: Any) -> None:
        """Nothing to do: a queue hands messages over, never partitions."""

    # -- handing messages out ------------------------------------------------------

    def dispatch(self) -> None:
        """Hand waiting messages to members with room, one by one, round-robin."""
        ttl = self.rules.ttl
        aging = self._aging
        if ttl is not None and aging and aging[0][0] + ttl <= self.broker.sim.now:
            self.expire()  # the oldest message has outlived its time to live
        while self._ready:
            ms = self._next_member()
            if ms is None:
                return
            msg = self._take()
            if msg is None:
                return
            self._send(ms, msg)

    def _next_member(self) -> Member | None:
        order = self._order
        if self.rules.single_active:  # the first live member is active; the others wait
            for ms in order:
                c = ms.consumer
                if c.alive:
                    free = ms.load < ms.cap
                    return ms if free and not c.paused and not ms.closed else None
            return None
        n = len(order)
        rr = self._rr
        for k in range(n):
            i = (rr + k) % n
            ms = order[i]
            c = ms.consumer
            if c.alive and not c.paused and not ms.closed and ms.load < ms.cap:
                self._rr = i + 1
                return ms
        return None

    def _send(self, ms: Member, msg: QueuedMessage) -> None:
        broker = self.broker
        sim = broker.sim
        consumer = ms.consumer
        msg.count += 1
        self._receipts += 1
        receipt = msg.receipt = self._receipts
        msg.holder = ms
        msg.state = "in-flight"
        self._waiting -= 1
        self._in_flight += 1
        key = msg.event.key
        if self.rules.one_per_key and key is not None:
            self._keys_in_flight[key] = self._keys_in_flight.get(key, 0) + 1
        ms.unacked[msg.seq] = msg
        ms.transit += 1
        ms.load += 1
        self._counts["delivered" if msg.count == 1 else "redelivered"] += 1
        arrive = sim.now + broker.latency_sample()
        delivery = Delivery(
            msg.event, msg.topic, 0, -1, msg.count, self.name, consumer.name, arrive
        )
        msg.delivery = delivery
        if consumer.delivery == "at-most-once":
            self._delete(msg)  # auto-ack: the broker deletes it as it sends it
        elif self.rules.timeout is not None:
            msg.received = now = sim.now
            due = msg.deadline = now + self.rules.timeout
            self._deadlines.append((due, msg, receipt))
            if self._deadline_timer is None:
                self._deadline_at = due
                self._deadline_timer = sim.timer(self.rules.timeout, self._check_deadlines)
        sim.post(arrive, self._arrive, (ms, msg, receipt, delivery))

    def _arrive(self, ms: Member, msg: QueuedMessage, receipt: int, delivery: Delivery) -> None:
        if self._members.get(ms.consumer.name) is not ms:
            return  # its channel closed on the way: the message went back already
        ms.transit -= 1
        if ms.closed and (msg.holder is not ms or msg.receipt != receipt):
            ms.load -= 1
            return  # it came on the channel that closed: the message went back already
        sim = self.broker.sim
        if sim.trace.enabled:
            again = delivery.attempt > 1
            sim.trace.record(
                sim.now,
                "redelivered" if again else "delivered",
                ms.consumer.name,
                msg.event.id,
                msg.topic,
                -1,
                -1,
                f"attempt {delivery.attempt}" if again else None,
            )
        ms.buffer.append((msg, receipt, delivery))
        self._start(ms)

    def _start(self, ms: Member) -> None:
        consumer = ms.consumer
        sim = self.broker.sim
        while ms.buffer and ms.working < consumer.concurrency and not consumer.paused:
            msg, receipt, delivery = ms.buffer.popleft()
            ms.working += 1
            done = sim.now + consumer.service_time.sample(consumer.rng)
            sim.post(done, self._complete, (ms, msg, receipt, delivery))
            if self._renewal is not None and msg.state == "in-flight":
                every = self._renewal[0]
                self._renewing[msg.seq, receipt] = sim.timer(
                    every, self._renew, ms, msg, receipt, sim.now
                )

    def _complete(self, ms: Member, msg: QueuedMessage, receipt: int, delivery: Delivery) -> None:
        consumer = ms.consumer
        if self._members.get(consumer.name) is not ms or not consumer.alive:
            return  # crashed or stopped while handling: the work is lost, the message went back
        ms.working -= 1
        if self._renewing:
            renewing = self._renewing.pop((msg.seq, receipt), None)
            if renewing is not None:
                renewing.cancel()  # the handling is over: no more renewals
        outcome = consumer.handle(delivery)
        self.settle(ms, msg, receipt, delivery, outcome)
        if (msg.seq, receipt) not in ms.held:
            ms.load -= 1  # done with it (held for a retry, it still counts)
        if self._members.get(consumer.name) is ms:
            if ms.closed and not ms.working:
                ms.closed = False  # it noticed the closed channel and opened a new one
            self._start(ms)
        self.dispatch()

    # -- the one place that maps an outcome ----------------------------------------

    def settle(
        self, ms: Member, msg: QueuedMessage, receipt: int, delivery: Delivery, outcome: Outcome
    ) -> None:
        """Map how a delivery's handling ended to what the broker does with the message.

        ===============  ============================================================
        outcome          the broker
        ===============  ============================================================
        ``ack``          delete the message (handled)
        ``settled``      delete the message (finished with, not handled)
        ``failed``       hold it for the consumer's ``retry_after`` ms, then give it
                         back: waiting again, delivery count + 1 at the next delivery
        ``retry``        likewise, after ``outcome.delay`` ms
        ``dead-letter``  the subscription's own dead-letter queue when the outcome's
                         topic is the subscription's dead-letter topic (set by a
                         ``DeadLetterConsumer``: RabbitMQ's dead-letter exchange;
                         Service Bus ``DeadLetterMessage``; SQS: sent to the DLQ by
                         the consumer); otherwise publish ``outcome.letter`` to
                         ``outcome.topic`` and delete (counted ``lettered``)
        ===============  ============================================================

        An acknowledgement of a delivery that is no longer the message's
        latest (the visibility timeout or lock expired, the channel closed)
        is ignored and traced ``ack-ignored``: the message stays in the
        queue for its other delivery.  An at-most-once consumer's message
        was deleted when it was sent (auto-ack): a failure is a loss, traced.
        """
        consumer = ms.consumer
        sim = self.broker.sim
        counts = self._counts
        kind = outcome.kind
        if kind == "ack":
            counts["handled"] += 1
            msg.handled += 1
            if msg.handled == 1:
                counts["handled_first"] += 1
        if consumer.delivery == "at-most-once":
            if kind == "ack":
                counts["acked"] += 1  # deleted when sent, and handled
            elif kind == "settled":
                counts["settled"] += 1
            if kind in ("failed", "retry"):
                counts["lost"] += 1
                sim.trace.record(
                    sim.now,
                    "lost",
                    consumer.name,
                    msg.event.id,
                    msg.topic,
                    detail="handler failed after auto-ack: the broker had deleted it",
                )
            elif kind == "dead-letter" and outcome.letter is not None:
                counts["lettered"] += 1  # deleted when sent: the letter is all that is left
                self.broker.publish(outcome.topic or "", outcome.letter, actor=consumer.name)
            return
        if self._members.get(consumer.name) is not ms or not consumer.alive:
            return  # it crashed in its handler: the message went back with its channel
        if msg.state != "in-flight" or msg.holder is not ms or msg.receipt != receipt:
            counts["ignored_acks"] += 1
            sim.trace.record(
                sim.now,
                "ack-ignored",
                consumer.name,
                msg.event.id,
                msg.topic,
                detail=f"{kind}: {self.rules.lost_ack}",
            )
            return
        if kind == "ack":
            if self.broker.duplicate_now():  # SQS standard: a copy on another server survives
                self._counts["duplicated"] += 1
                sim.trace.record(
                    sim.now,
                    "kept-copy",
                    self.broker.name,
                    msg.event.id,
                    msg.topic,
                    detail="SQS standard (at-least-once): a copy was not deleted; it will be"
                    " delivered again",
                )
                self._return(msg)
                return
            counts["acked"] += 1
            self._delete(msg)
        elif kind == "settled":
            counts["settled"] += 1
            self._delete(msg)
        elif kind == "dead-letter":
            record = outcome.record
            mine = outcome.topic is None or outcome.topic == self.dead_letter_topic
            if self.rules.native_dead_letter and mine:
                reason = self.rules.app_reason
                if self.rules.keeps_app_reason and hasattr(record, "reason"):
                    reason = f"{record.reason}"  # the application's own reason is kept
                msg.record = record
                self._dead_letter(msg, reason, consumer.name)
            else:
                counts["lettered"] += 1
                self.broker.publish(outcome.topic or "", outcome.letter, actor=consumer.name)
                self._delete(msg)
        else:  # failed or retry: hold the message, then give it back
            counts["retried"] += 1
            if kind == "retry":
                wait = outcome.delay
            else:
                assert isinstance(outcome.error, BaseException)
                wait = consumer.retry_after(delivery, outcome.error)
            ms.held[msg.seq, receipt] = sim.timer(wait, self._give_back, ms, msg, receipt)

    def _give_back(self, ms: Member, msg: QueuedMessage, receipt: int) -> None:
        if ms.held.pop((msg.seq, receipt), None) is not None:
            ms.load -= 1
        if self._members.get(ms.consumer.name) is not ms:
            return
        if msg.state == "in-flight" and msg.holder is ms and msg.receipt == receipt:
            self._return(msg)
        self.dispatch()

    # -- more time for a delivery: SQS ChangeMessageVisibility, Service Bus RenewMessageLock ----

    def holding(self, consumer: str | None = None) -> list[Delivery]:
        """The deliveries members hold now (sent, not settled), oldest message first.

        ``consumer`` (a name) keeps one member's.  A delivery here is what
        :meth:`extend` takes, and what the consumer's handler will receive.
        """
        held = [
            m
            for name, ms in self._members.items()
            if consumer is None or name == consumer
            for m in ms.unacked.values()
        ]
        return [m.delivery for m in sorted(held) if m.delivery is not None]

    def _held_message(self, delivery: Delivery) -> QueuedMessage | None:
        ms = self._members.get(delivery.consumer)
        if ms is None:
            return None
        for m in ms.unacked.values():
            if m.delivery is delivery or (m.delivery is not None and m.delivery == delivery):
                return m
        return None

    def extend(self, delivery: Delivery, ms: float | None = None) -> float:
        """Give the message of ``delivery`` more time before the broker redelivers it.

        Returns the new deadline (ms).  What the broker offers:

        * **SQS** ``ChangeMessageVisibility``: the message stays invisible
          for ``ms`` more ms from now (required; 0 makes it visible at once).
          A message's visibility timeout may not pass 12 hours in total from
          its receipt: beyond, the request is refused (``ValueError``).  The
          next delivery starts again from the queue's ``VisibilityTimeout``.
        * **Service Bus** ``RenewMessageLock``: the lock is renewed for the
          subscription's ``LockDuration`` from now; ``ms`` must be None.
        * **RabbitMQ** has no such call (``ValueError`` says why):
          ``consumer_timeout`` limits how long a channel may keep a delivery
          unacknowledged; it is set for the node (and from 3.11.15 per queue
          or per consumer), never extended for one message.

        :class:`LockLostError` if the delivery is no longer its consumer's
        (its timeout already ran out and the message went back, it was
        settled, or the channel closed): Service Bus's
        ``MessageLockLostException``, SQS's error for a receipt handle that is
        no longer the message's.  Counted as ``extended``; traced.
        """
        rules = self.rules
        name = self.broker.profile.name
        if not rules.extendable:
            raise self._not_extendable("extend()")
        if name == "service-bus":
            if ms is not None:
                raise ValueError(
                    f"ms must be None on the service-bus profile, got {ms!r}: RenewMessageLock"
                    f" renews the lock for the subscription's LockDuration ({rules.timeout:g} ms)"
                    " from now; set LockDuration (up to 5 minutes) for a longer lock"
                )
            new = rules.timeout
        else:
            if ms is None:
                raise ValueError(
                    f"ms must be given on the {name} profile: ChangeMessageVisibility sets the"
                    " message's visibility timeout, in ms from now (0 to 43,200,000: 12 hours)"
                )
            new = checks.ms("ms", ms)
        msg = self._held_message(delivery)
        if msg is None or msg.state != "in-flight":
            raise LockLostError(
                f"{delivery.event.id} (attempt {delivery.attempt}) is no longer held by"
                f" {delivery.consumer}: {rules.lost_ack}"
            )
        sim = self.broker.sim
        now = sim.now
        assert new is not None
        if name != "service-bus" and now + new - msg.received > rules.max_visibility:
            left = msg.received + rules.max_visibility - now
            raise ValueError(
                f"ms must keep {delivery.event.id}'s visibility timeout within 12 hours"
                f" (43,200,000 ms) of its receipt at {msg.received:g} ms, got {ms!r}: at most"
                f" {left:,.0f} ms is left (SQS refuses the request; it does not shorten it)"
            )
        self._counts["extended"] += 1
        receipt = msg.receipt
        if name == "service-bus":
            detail = f"RenewMessageLock: locked for LockDuration={new:g} ms more"
        else:
            detail = f"ChangeMessageVisibility: invisible for {new:g} ms more"
        sim.trace.record(now, "extended", delivery.consumer, msg.event.id, msg.topic, detail=detail)
        if new == 0:  # visible again now: as if its timeout ran out
            msg.deadline = now
            self._timed_out(msg, receipt)
            return now
        self._move_deadline(msg, receipt, now + new)
        return now + new

    def _not_extendable(self, what: str) -> ValueError:
        return ValueError(
            f"{what} has no counterpart on the {self.broker.profile.name} profile: RabbitMQ's"
            f" consumer_timeout ({self.rules.timeout:g} ms here) limits how long a channel may"
            " keep a delivery unacknowledged; it is set for the node (and from 3.11.15 per queue"
            " by the consumer-timeout policy or x-consumer-timeout, or per consumer), not"
            " extended for one message. Raise it in settings={'consumer_timeout': ...} or"
            " acknowledge sooner"
        )

    def renew_locks(
        self, every: float | None, *, by: float | None = None, max_duration: float | None = None
    ) -> None:
        """While a member handles a message, extend its time every ``every`` ms, automatically.

        What the brokers' client libraries do: Service Bus's processor renews
        each lock it is handling (``MaxAutoLockRenewalDuration``, 5 minutes
        by default); an SQS consumer keeps a visibility "heartbeat" with
        ``ChangeMessageVisibility``.  ``by`` (SQS only): the visibility
        timeout set each time (default: the queue's ``VisibilityTimeout``).
        ``max_duration``: stop renewing after this long from the start of the
        handling (default: 5 minutes on Service Bus, as its processor; on
        SQS the 12 hours a message's visibility may last).  Only messages
        being handled are renewed: one waiting in a member's prefetch buffer,
        or held for a retry after a failure, keeps its clock running (as
        on Service Bus, where prefetched messages' locks can expire).
        ``every=None`` turns renewal off.  RabbitMQ: an error, as :meth:`extend`.
        """
        rules = self.rules
        if not rules.extendable:
            raise self._not_extendable("renew_locks()")
        if every is None:
            self._renewal = None
            return
        every = checks.ms("every", every, positive=True)
        name = self.broker.profile.name
        if by is not None and name == "service-bus":
            raise ValueError(
                f"by must be None on the service-bus profile, got {by!r}: a renewed lock lasts"
                f" the subscription's LockDuration ({rules.timeout:g} ms)"
            )
        step = rules.timeout if by is None else checks.ms("by", by, positive=True)
        assert step is not None
        if every >= step:
            raise ValueError(
                f"every must be shorter than the time each renewal gives ({step:g} ms), got"
                f" {every!r}: the lock or visibility would run out between two renewals"
            )
        if max_duration is None:
            cap = 300_000.0 if name == "service-bus" else rules.max_visibility
        else:
            cap = checks.ms("max_duration", max_duration, positive=True)
        self._renewal = (every, None if by is None else step, cap)

    def _renew(self, ms: Member, msg: QueuedMessage, receipt: int, started: float) -> None:
        key = (msg.seq, receipt)
        self._renewing.pop(key, None)
        renewal = self._renewal
        if renewal is None or msg.state != "in-flight" or msg.receipt != receipt:
            return  # the lock was lost meanwhile: nothing to renew
        if msg.holder is not ms or self._members.get(ms.consumer.name) is not ms:
            return
        every, by, cap = renewal
        sim = self.broker.sim
        now = sim.now
        if now - started >= cap:
            return  # renewed for as long as it was allowed to
        step = self.rules.timeout if by is None else by
        assert step is not None and msg.delivery is not None
        if self.broker.profile.name == "service-bus":
            self.extend(msg.delivery)
        else:
            left = msg.received + self.rules.max_visibility - now
            if left <= 0:
                return
            self.extend(msg.delivery, min(step, left))
        self._renewing[key] = sim.timer(every, self._renew, ms, msg, receipt, started)

    # -- the profile's timeout ------------------------------------------------------

    def _timed_out(self, msg: QueuedMessage, receipt: int) -> None:
        """The profile's timeout expired on an unacknowledged delivery."""
        if msg.state != "in-flight" or msg.receipt != receipt or msg.holder is None:
            return
        ms = msg.holder
        rules = self.rules
        self._counts["timeouts"] += 1
        sim = self.broker.sim
        if rules.channel_wide:  # RabbitMQ up to 4.2: the channel closes, all its unacked go back
            back = sorted(ms.unacked.values())
            ms.load -= len(ms.buffer)
            ms.buffer.clear()  # deliveries on the closed channel that it had not started
            ms.closed = ms.working > 0
            detail = (
                f"consumer_timeout={rules.timeout:g} ms: RabbitMQ (up to 4.2) closed the"
                f" channel; its {len(back)} unacknowledged message(s) are requeued"
            )
        else:
            back = [msg]
            detail = f"{rules.timeout_setting}={rules.timeout:g} ms expired: the message is"
            detail += " available again"
        sim.trace.record(
            sim.now, "timeout", ms.consumer.name, msg.event.id, msg.topic, detail=detail
        )
        for m in back:
            self._return(m)
        self.dispatch()

    # -- inspection ----------------------------------------------------------------

    def in_flight(self) -> list[Event]:
        """The messages members hold now (unacknowledged), in queue order."""
        held = [m for ms in self._members.values() for m in ms.unacked.values()]
        return [m.event for m in sorted(held)]

    def lag(self) -> int:
        """Messages waiting in the queue (not counting those in flight)."""
        self.expire()
        return self._waiting

    def assignment(self) -> dict[str, str | None]:
        """Who consumes each topic here: the live members, comma-separated (None if none)."""
        live = ", ".join(c.name for c in self.members if c.alive) or None
        return {t: live for t in self.topics}

    def stats(self) -> dict[str, int]:
        """Counts over the queue: the terms of the conservation law.

        ``published = deleted + in_flight + waiting + dead_lettered + expired``
        (``waiting`` includes messages not visible yet, SQS ``DelaySeconds``;
        ``expired``: deleted unread by retention or time to live;
        ``rejected`` publishes never entered the queue; ``duplicated``: SQS
        standard copies that survived a delete).
        ``handled`` counts every successful handling (duplicates too);
        ``handled_first`` each message once; ``redelivered``, ``timeouts``
        and ``ignored_acks`` show the duplicates' causes; ``lost`` counts
        at-most-once failures (their messages are among ``deleted``).
        Why messages were ``deleted``: ``acked`` (handled, then deleted;
        at-most-once: deleted when sent, then handled), ``settled`` (finished
        with, not handled), ``lettered`` (given up by publishing a letter to a
        dead-letter topic); a deleted message that is none of these vanished
        (an at-most-once loss).  ``extended`` counts visibility extensions and
        lock renewals (:meth:`extend`); ``redriven`` dead letters sent back.
        """
        self.expire()
        out = dict(self._counts)
        out["in_flight"] = self._in_flight
        out["waiting"] = self._waiting
        return out

    def __repr__(self) -> str:
        names = [c.name + ("" if c.alive else "(down)") for c in self.members]
        return (
            f"<Subscription {self.name} topics={self.topics} members={names}"
            f" waiting={self._waiting} in_flight={self._in_flight}>"
        )

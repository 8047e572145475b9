"""The queue family's broker: topics that fan out to one queue per subscription.

``Broker(sim, profile="sqs")`` (or ``"rabbitmq"``, ``"sqs-fifo"``,
``"service-bus"``) returns a :class:`QueueBroker`.  It satisfies
:class:`~evtlib.protocols.BrokerBackend`, so producers, consumers and
patterns run on it unchanged, but it behaves as a queue broker does:

* a **topic fans out**: a publish puts a copy of the message into every
  subscription (queue) that exists at that moment (SNS to SQS queues, a
  RabbitMQ exchange to its bound queues, a Service Bus topic to its
  subscriptions); a subscription made later gets nothing from before: the
  broker keeps no history for new subscribers;
* a **subscription** (:class:`~evtlib.queues.subscription.Subscription`, the
  consumer group) hands each message to one of its consumers and deletes it
  when that consumer acknowledges it;
* messages have **no offsets** (``Delivery.offset`` is -1) and a topic has
  no partitions: ordering comes from the profile's own feature instead.

What differs per broker is read from the profile's settings into
:class:`QueueRules`:

===========  =====================  =======================  ===================  =======================
profile      redelivers after       the broker dead-letters  order per key        full queue, duplicates
===========  =====================  =======================  ===================  =======================
rabbitmq     consumer_timeout: the  x-delivery-limit (20),   x-single-active-     x-max-length with
             channel closes, all    x-message-ttl, maxlen    consumer             x-overflow
             its unacked go back
sqs          VisibilityTimeout      maxReceiveCount, only    none (best effort)   unbounded; duplicates=p
             (per message)          if configured
sqs-fifo     VisibilityTimeout      maxReceiveCount          message group = key  dedup within 5 min
service-bus  LockDuration           MaxDeliveryCount (10),   sessions             MaxSizeInMegabytes;
             (per message)          TTL if configured        (RequiresSession)    duplicate detection
===========  =====================  =======================  ===================  =======================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .. import checks
from ..broker import find_topic
from ..distributions import Duration, as_duration
from ..errors import BufferFullError
from ..events import Event, thaw
from ..profiles import Profile, resolve
from ..profiles import profile as find_profile
from ..sim import Scheduler
from .rules import INSTEAD_OF_PARTITIONS, TOPIC_LEVEL, TTL_SETTING, QueueRules, rules_for
from .subscription import Subscription

if TYPE_CHECKING:  # pragma: no cover
    from ..consumer import Consumer
    from ..protocols import StartAt

__all__ = ["QueueBroker", "QueueTopic", "QueueRules", "rules_for"]


class QueueTopic:
    """A topic on a queue broker: it fans each message out to its subscriptions' queues.

    It has one nominal partition (index 0) so that code written for logs
    (producers, pictures) can ask; messages in it have no offsets.
    """

    def __init__(self, broker: QueueBroker, name: str) -> None:
        self.broker = broker
        self.name = name
        self.published = 0
        self.deduplicated = 0
        # FIFO deduplication: the last time each deduplication id was accepted.
        self._dedup: dict[str, float] = {}

    @property
    def partitions(self) -> list[int]:
        """One nominal partition: a queue broker's topic is not partitioned."""
        return [0]

    def partition_of_peek(self, key: str | None) -> int:
        return 0

    def partition_of(self, key: str | None) -> int:
        return 0

    def seen_recently(self, dedup_id: str, now: float, window: float) -> bool:
        """FIFO deduplication: whether ``dedup_id`` was accepted less than ``window`` ms ago.

        If not, it is remembered now.
        """
        last = self._dedup.get(dedup_id)
        if last is not None and now - last < window:
            return True
        self._dedup[dedup_id] = now
        return False

    def subscriptions(self) -> list[str]:
        """The subscriptions (queues) that get a copy of each message published now."""
        return [g.name for g in self.broker.groups.values() if self.name in g.topics]

    def __repr__(self) -> str:
        return (
            f"<QueueTopic {self.name} subscriptions={self.subscriptions()}"
            f" published={self.published}>"
        )


class QueueBroker:
    """A broker of the queue family: topics, subscriptions (groups) and their queues.

    Made by ``Broker(sim, profile=...)`` with a queue profile; the
    parameters are those of :class:`~evtlib.broker.Broker`, plus
    ``prefetch``: how many unacknowledged messages a consumer may hold
    (default 1; at least the consumer's ``concurrency``); ``duplicates``
    (``"sqs"`` only): the probability that SQS standard delivers a message
    again after it was deleted (AWS says only "occasionally", so the default
    is 0: set it to see them; the draw is seeded).  ``faults`` are not
    simulated on this family yet (an error says so).
    """

    def __init__(
        self,
        sim: Scheduler,
        *,
        profile: str | Profile,
        settings: Mapping[str, Any] | None = None,
        latency: Duration | float = 0.0,
        faults: Any = None,
        name: str = "broker",
        prefetch: int = 1,
        duplicates: float = 0.0,
    ) -> None:
        checks.instance("sim", sim, Scheduler, "Simulation or another runner")
        prof = find_profile(profile)
        if prof.family != "queue":
            raise ValueError(
                f"profile must be of the queue family for a QueueBroker, got {prof.name!r}"
                " (Broker(sim, profile=...) picks the right broker)"
            )
        effective = resolve(prof, settings, f"broker {name!r}")
        rules_for(prof, effective)  # checks the counts now, not at the first subscription
        if faults is not None:
            raise ValueError(
                f"faults are not simulated on the queue family yet (profile {prof.name!r}),"
                f" got {faults!r}; use faults=None"
            )
        self.latency = as_duration(latency, "latency")
        self.prefetch = checks.integer("prefetch", prefetch, min=1)
        self.duplicates = checks.probability("duplicates", duplicates)
        if duplicates and prof.name != "sqs":
            raise ValueError(
                f"duplicates must be 0 on the {prof.name} profile, got {duplicates!r}: only SQS"
                " standard delivers occasional duplicates by design (sqs-fifo deduplicates)"
            )
        self._sim = sim
        self.name = sim.register_name(name, "broker")
        self.faults = None
        #: The real broker this one behaves as, and its settings with the overrides applied.
        self.profile = prof
        self.settings: Mapping[str, Any] = MappingProxyType(effective)
        self.rng = sim.rng_for(name)
        self._latency = self.latency.sampler(self.rng)
        self._topics: dict[str, QueueTopic] = {}
        self._groups: dict[str, Subscription] = {}
        self.consumers: list[Consumer] = []
        self.producers: list[Any] = []

    @property
    def sim(self) -> Scheduler:
        return self._sim

    @property
    def topics(self) -> Mapping[str, QueueTopic]:
        return self._topics

    @property
    def groups(self) -> Mapping[str, Subscription]:
        """The subscriptions, by name (a group is a subscription: one queue)."""
        return self._groups

    def duplicate_now(self) -> bool:
        """Whether SQS standard keeps a copy of a message just deleted (``duplicates``, seeded)."""
        return bool(self.duplicates) and self.rng.random() < self.duplicates

    def latency_sample(self) -> float:
        """One draw of the network latency (ms), from the broker's seeded generator."""
        return self._latency()

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        capacity: int | None = None,
        policy: str | None = None,
        retention: float | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> QueueTopic:
        """Create topic ``name``: it fans out to the subscriptions that exist when a message is published.

        ``partitions`` must be 1: the error says what the broker offers
        instead.  ``capacity`` and ``policy`` must be None: a queue broker
        bounds each subscription's queue, not the topic (RabbitMQ
        ``x-max-length`` with ``x-overflow``, Service Bus ``MaxSizeInMegabytes``).
        """
        checks.name("topic name", name)
        if retention is not None or settings:
            what = "retention" if retention is not None else f"settings={dict(settings or {})!r}"
            raise ValueError(
                f"{what} is a topic setting of a log (profile='kafka'); on the"
                f" {self.profile.name} profile a topic keeps nothing: each subscription's queue"
                " keeps a message until it is acknowledged or its time to live runs out"
                f" ({TTL_SETTING[self.profile.name]}: broker.group(name, settings=...) or"
                " Broker(settings=...)); there is no log to compact or replay"
            )
        if name in self._topics:
            raise ValueError(f"topic name must be unique, {name!r} already exists")
        if partitions != 1:
            raise ValueError(
                f"partitions must be 1 on the {self.profile.name} profile, got {partitions!r}:"
                f" {INSTEAD_OF_PARTITIONS[self.profile.name]}"
            )
        for what, value in (("capacity", capacity), ("policy", policy)):
            if value is not None:
                raise ValueError(
                    f"{what} must be None on the {self.profile.name} profile, got {value!r}:"
                    " a queue broker bounds each subscription's queue, not the topic (RabbitMQ"
                    " x-max-length with x-overflow, Service Bus MaxSizeInMegabytes: settings of"
                    " broker.group(name, settings=...) or Broker(settings=...)); SQS is"
                    " practically unbounded"
                )
        topic = QueueTopic(self, name)
        self._topics[name] = topic
        return topic

    def topic(self, name: str) -> QueueTopic:
        """The topic called ``name``; ``KeyError`` naming the known topics if none."""
        return find_topic(self._topics, name)

    def group(
        self,
        name: str,
        *,
        start: StartAt | None = None,
        session_timeout: float | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Subscription:
        """The subscription ``name`` (its queue), created on first use.

        A new subscription gets only what is published after it subscribes
        to a topic: ``start="earliest"`` is an error, since the broker keeps no
        history for new subscribers.  ``settings`` overrides the broker's
        settings for this subscription (for example
        ``{"maxReceiveCount": 3}``), when it is created.
        """
        checks.name("group name", name)
        if start is not None and start != "latest":
            raise ValueError(
                f"start must be 'latest' (or None) on the {self.profile.name} profile, got"
                f" {start!r}: {self.profile.broker} keeps no history for new subscribers; a"
                " subscription gets only what is published after it exists (a log such as"
                " profile='kafka' can replay)"
            )
        if session_timeout not in (None, 0, 0.0):
            raise ValueError(
                f"session_timeout must be None or 0 on the {self.profile.name} profile, got"
                f" {session_timeout!r}: a queue broker sees a closed connection at once and"
                " returns its unacknowledged messages"
            )
        g = self._groups.get(name)
        if g is None:
            values = {**self.settings}
            if settings is not None:
                resolve(self.profile, settings, f"subscription {name!r}")  # checks them
                for key in settings:
                    if key in TOPIC_LEVEL:
                        raise ValueError(
                            f"{key!r} applies to the whole topic (duplicates are detected where"
                            f" messages are published): set it in Broker(settings=...), not for"
                            f" subscription {name!r}"
                        )
                values.update(settings)
            rules = rules_for(self.profile, values)
            g = self._groups[name] = Subscription(self, name, rules, values)
        elif settings is not None:
            raise ValueError(
                f"settings must be None for the existing subscription {name!r}, got {settings!r}"
                " (a subscription's settings are fixed when it is created)"
            )
        return g

    def publish(self, topic: str, event: Event, *, actor: str = "client") -> tuple[int, int]:
        """Put a copy of ``event`` into the queue of every subscription to ``topic``.

        Returns ``(0, -1)``: no partition to choose, no offset.  On
        ``sqs-fifo`` the event's key is its MessageGroupId (required) and its
        id the deduplication id: a second publish of the same id within the
        deduplication interval is accepted but not delivered again; likewise
        on ``service-bus`` with ``RequiresDuplicateDetection`` (the MessageId,
        within ``DuplicateDetectionHistoryTimeWindow``).  A full RabbitMQ
        queue with ``x-overflow="reject-publish"`` nacks the publish: the
        other queues keep their copy, and the publisher gets
        :class:`~evtlib.errors.BufferFullError` (a :class:`Producer` counts
        it as rejected).
        """
        t = self._topics.get(topic)
        if t is None:
            self.topic(topic)  # raises the helpful KeyError
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        assert t is not None
        sim = self._sim
        trace = sim.trace
        if self.profile.name == "sqs-fifo":
            if event.key is None:
                raise ValueError(
                    f"event.key must be set on the sqs-fifo profile (it is the MessageGroupId,"
                    f" which SQS FIFO requires), got None for {event.id}"
                )
        window = self._dedup_window()
        if window is not None:
            if t.seen_recently(self._dedup_id(event), sim.now, window):
                t.deduplicated += 1
                trace.record(
                    sim.now,
                    "deduplicated",
                    self.name,
                    event.id,
                    topic,
                    detail=f"deduplication id seen within {window:g} ms: accepted, not delivered",
                )
                return 0, -1
        subscriptions = [g for g in list(self._groups.values()) if topic in g.topics]
        size = 0
        if self.profile.name == "service-bus":
            size = len(event.to_json().encode("utf-8"))
            self._check_quota(t, event, size, subscriptions, actor)
        t.published += 1
        if trace.enabled:
            trace.record(sim.now, "published", actor, event.id, topic)
        refused = [g.name for g in subscriptions if not g.enqueue(event, topic, size)]
        if refused:
            trace.record(
                sim.now,
                "rejected",
                actor,
                event.id,
                topic,
                detail=f"nack: {', '.join(refused)} full",
            )
            raise BufferFullError(
                f"the queue of {', '.join(refused)} is full (x-max-length, x-overflow="
                f"'reject-publish'): the broker nacked {event.id} (the other queues took it)"
            )
        return 0, -1

    def _check_quota(
        self, t: QueueTopic, event: Event, size: int, subscriptions: list[Subscription], actor: str
    ) -> None:
        """Service Bus: a send that would take the topic past ``MaxSizeInMegabytes`` fails.

        A topic's size is what its subscriptions keep, dead letters included
        (each subscription holds its own copy).
        """
        quota = int(self.settings["MaxSizeInMegabytes"]) * 1_048_576
        used = sum(g.stored_bytes for g in self._groups.values() if t.name in g.topics)
        if used + size * len(subscriptions) <= quota:
            return
        sim = self._sim
        sim.trace.record(sim.now, "rejected", actor, event.id, t.name, detail="QuotaExceeded")
        raise BufferFullError(
            f"QuotaExceeded: topic {t.name!r} holds {used:,} bytes; {event.id} ({size:,} bytes"
            f" x {len(subscriptions)} subscription(s)) would pass MaxSizeInMegabytes="
            f"{self.settings['MaxSizeInMegabytes']} (dead letters count too)"
        )

    def _dedup_id(self, event: Event) -> str:
        """The id duplicates are recognised by: the event id (MessageDeduplicationId, MessageId),
        or on sqs-fifo with ``ContentBasedDeduplication`` a SHA-256 of the body, here the
        event's type, key and data: two different orders with the same content are merged."""
        if self.profile.name == "sqs-fifo" and self.settings["ContentBasedDeduplication"]:
            body = json.dumps([event.type, event.key, thaw(event.data)], sort_keys=True)
            return hashlib.sha256(body.encode("utf-8")).hexdigest()
        return event.id

    def _dedup_window(self) -> float | None:
        """How long a message id is remembered to drop duplicates, or None: no deduplication."""
        if self.profile.name == "sqs-fifo":
            return float(self.settings["deduplication interval"])
        if self.profile.name == "service-bus" and self.settings["RequiresDuplicateDetection"]:
            return float(self.settings["DuplicateDetectionHistoryTimeWindow"])
        return None

    def dead_letters(self, subscription: str) -> list[tuple[Event, str, int]]:
        """What the broker dead-lettered from ``subscription``: ``(message, reason, deliveries)``."""
        g = self._groups.get(subscription)
        if g is None:
            known = ", ".join(self._groups) or "none yet"
            raise KeyError(f"unknown subscription {subscription!r}; known: {known}")
        return g.dead_letters()

    def redrive(self, subscription: str, limit: int | None = None) -> int:
        """Send ``subscription``'s dead letters back to its own queue (see ``Subscription.redrive``)."""
        g = self._groups.get(subscription)
        if g is None:
            known = ", ".join(self._groups) or "none yet"
            raise KeyError(f"unknown subscription {subscription!r}; known: {known}")
        return g.redrive(limit)

    def extend(self, delivery: Any, ms: float | None = None) -> float:
        """Give ``delivery`` more time: its subscription's :meth:`Subscription.extend`.

        SQS ``ChangeMessageVisibility`` (``ms`` from now, 12 hours at most in
        all), Service Bus ``RenewMessageLock`` (``ms`` None: another
        ``LockDuration``); RabbitMQ has none (an error says why).  Returns the
        new deadline (ms).
        """
        g = self._groups.get(getattr(delivery, "group", None))  # type: ignore[arg-type]
        if g is None:
            raise KeyError(
                f"delivery must come from a subscription of {self.name}, got {delivery!r}"
            )
        return g.extend(delivery, ms)

    # -- what a log has and a queue broker does not ---------------------------------

    def _no_log(self, what: str) -> ValueError:
        return ValueError(
            f"{what} needs a log: the {self.profile.name} profile ({self.profile.broker}) is a"
            " queue broker, which deletes a message once it is acknowledged and keeps no"
            " offsets; use profile='kafka' to replay, compact or read a log"
        )

    def read(self, topic: str, partition: int, offset: int = 0, limit: int | None = None) -> Any:
        """A queue has no log to read: the error says so."""
        raise self._no_log("read()")

    def events(self, topic: str) -> Any:
        """A queue has no log to list: the error says so."""
        raise self._no_log("events()")

    def compact(self, topic: str) -> Any:
        """A queue has no log to compact: the error says so."""
        raise self._no_log("compact()")

    def end_offsets(self, topic: str) -> Any:
        """A queue has no offsets: the error says so."""
        raise self._no_log("end_offsets()")

    def add_partitions(self, topic: str, count: int) -> Any:
        """A queue topic has no partitions: the error says what the broker offers instead."""
        raise ValueError(
            f"add_partitions() needs a partitioned log; {INSTEAD_OF_PARTITIONS[self.profile.name]}"
        )

    def __repr__(self) -> str:
        return (
            f"<QueueBroker {self.name} profile={self.profile.name} topics={list(self._topics)}"
            f" subscriptions={list(self._groups)}>"
        )

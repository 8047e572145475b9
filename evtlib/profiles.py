"""Broker profiles: each real broker's own settings, by their own names, with their defaults.

Kafka, RabbitMQ, Amazon SQS and Azure Service Bus differ exactly where a
learner must know: whether a new subscriber sees history, how long messages
are kept, which timeout redelivers what, what a full queue does, who
dead-letters.  A :class:`Profile` lists a broker's settings under the names
its documentation uses (``"auto.offset.reset"``, ``"VisibilityTimeout"``,
``"LockDuration"``, ``"x-overflow"``), each with its default, its unit, what it
does, and where the default is documented.  Durations are in ms, as
everything in evtlib.

Two families:

* the **log** (``"kafka"``): events are kept for a retention time whatever
  anyone has read; every group reads at its own offset; a new group starts
  at the end of the log unless ``auto.offset.reset`` says ``"earliest"``;
* the **queue** (``"rabbitmq"``, ``"sqs"``, ``"sqs-fifo"``, ``"service-bus"``):
  each subscription is a queue that gets only what is published after it
  exists, hands each message to one consumer and deletes it when
  acknowledged.

``Broker(sim, profile="kafka")`` simulates the log family with Kafka's
defaults; a queue profile makes a :class:`~evtlib.queues.QueueBroker`
(:mod:`evtlib.queues`).  Each setting says whether the simulation honours it
(``simulated``); the others are listed so the tables are complete and
truthful, and asking to change one is an error that says so.

:func:`settings_table` renders every profile as a Markdown table, from this
module (so the documentation cannot drift from the code).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "Setting",
    "Profile",
    "PROFILES",
    "FAMILIES",
    "profile",
    "settings_table",
]

Family = Literal["log", "queue"]
FAMILIES: tuple[Family, ...] = ("log", "queue")

DAY = 86_400_000
MINUTE = 60_000

_KAFKA_CONSUMER = "https://kafka.apache.org/documentation/#consumerconfigs"
_KAFKA_TOPIC = "https://kafka.apache.org/documentation/#topicconfigs"
_KAFKA_PRODUCER = "https://kafka.apache.org/documentation/#producerconfigs"
_KAFKA_SESSION = "https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms"
_KAFKA_HEARTBEAT = "https://kafka.apache.org/documentation/#consumerconfigs_heartbeat.interval.ms"
_KAFKA_ASSIGNMENT = (
    "https://kafka.apache.org/documentation/#consumerconfigs_partition.assignment.strategy"
)
_KAFKA_BROKER_MIN_SESSION = (
    "https://kafka.apache.org/documentation/#brokerconfigs_group.min.session.timeout.ms"
)
_RABBIT_ACK_TIMEOUT = "https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout"
_RABBIT_MAXLEN = "https://www.rabbitmq.com/docs/maxlength"
_RABBIT_QUORUM = "https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling"
_RABBIT_SAC = "https://www.rabbitmq.com/docs/consumers#single-active-consumer"
_RABBIT_TTL = "https://www.rabbitmq.com/docs/ttl"
_SQS_ATTRS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html"
_SQS_DLQ = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"
_SQS_FIFO = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html"
_SB_LOCK = (
    "https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement"
)
_SB_DLQ = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues"
_SB_DUP = "https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection"
_SB_TTL = "https://learn.microsoft.com/azure/service-bus-messaging/message-expiration"
_SB_SESSIONS = "https://learn.microsoft.com/azure/service-bus-messaging/message-sessions"
_SB_QUOTAS = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas"


@dataclass(frozen=True)
class Setting:
    """One setting of a broker: its name there, its default, and where that is documented.

    ``unit`` is ``"ms"`` for durations (converted from the broker's own unit:
    SQS counts seconds, Service Bus ISO 8601 durations), ``"bytes"``,
    ``"count"`` or ``""``.  ``None`` as a default means "not set" (no limit,
    no dead-letter queue...).  ``simulated`` says whether evtlib honours it.
    """

    name: str
    default: Any
    unit: str
    meaning: str
    source: str
    simulated: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A broker's settings by their own names; :attr:`settings` maps each to its default."""

    name: str
    broker: str
    family: Family
    summary: str
    defs: tuple[Setting, ...] = field(repr=False)

    @property
    def settings(self) -> Mapping[str, Any]:
        """A read-only mapping from each setting's name to its default."""
        return MappingProxyType({s.name: s.default for s in self.defs})

    def setting(self, name: str) -> Setting:
        """The :class:`Setting` called ``name``; the error lists this profile's settings."""
        for s in self.defs:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.defs)
        raise KeyError(
            f"setting must be one of the {self.name} profile's settings ({known}), got {name!r}"
        )

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.defs)

    def __repr__(self) -> str:
        return (
            f"<Profile {self.name} ({self.broker}, {self.family} family) settings={len(self.defs)}>"
        )


KAFKA = Profile(
    "kafka",
    "Apache Kafka",
    "log",
    "a partitioned log kept for a retention time; each group reads at its own offset",
    (
        Setting(
            "auto.offset.reset",
            "latest",
            "",
            "where a group with no committed offset (or one that fell off the log) starts",
            _KAFKA_CONSUMER,
            simulated=True,
            choices=("latest", "earliest"),
        ),
        Setting(
            "retention.ms",
            7 * DAY,
            "ms",
            "how long an event is kept, whether or not anyone read it",
            _KAFKA_TOPIC,
            simulated=True,
        ),
        Setting(
            "retention.bytes",
            None,
            "bytes",
            "the most a partition keeps (-1 in Kafka: no limit)",
            _KAFKA_TOPIC,
        ),
        Setting(
            "cleanup.policy",
            "delete",
            "",
            "delete old events by retention, or compact: keep the latest value per key",
            _KAFKA_TOPIC,
            simulated=True,
            choices=("delete", "compact"),
        ),
        Setting(
            "delete.retention.ms",
            1 * DAY,
            "ms",
            "how long a tombstone (a null value) survives after compaction",
            _KAFKA_TOPIC,
            simulated=True,
        ),
        Setting(
            "session.timeout.ms",
            45_000,
            "ms",
            "a member not heard from (no heartbeat) for this long is removed from the group;"
            " its partitions stay stopped until then (a group may set its own)",
            _KAFKA_SESSION,
            simulated=True,
        ),
        Setting(
            "heartbeat.interval.ms",
            3_000,
            "ms",
            "how often a member heartbeats, from a background thread (KIP-62): a crash is"
            " noticed between session.timeout.ms minus this and session.timeout.ms after it",
            _KAFKA_HEARTBEAT,
            simulated=True,
        ),
        Setting(
            "group.min.session.timeout.ms",
            6_000,
            "ms",
            "a broker setting: the shortest session timeout a group may ask for (evtlib"
            " accepts shorter ones, down to 0, and says so where a scenario uses one)",
            _KAFKA_BROKER_MIN_SESSION,
        ),
        Setting(
            "partition.assignment.strategy",
            "eager",
            "",
            "eager: every member revokes every partition at each rebalance, and nothing flows"
            " until it completes (Kafka's default [RangeAssignor, CooperativeStickyAssignor]"
            " rebalances eagerly until RangeAssignor is removed); cooperative-sticky: only the"
            " partitions that move are revoked, in two rounds",
            _KAFKA_ASSIGNMENT,
            simulated=True,
            choices=("eager", "cooperative-sticky"),
        ),
        Setting(
            "max.poll.interval.ms",
            300_000,
            "ms",
            "a member that does not poll again within this is evicted; its late commit fails",
            _KAFKA_CONSUMER,
            simulated=True,
        ),
        Setting(
            "max.poll.records",
            500,
            "count",
            "the most records one poll returns",
            _KAFKA_CONSUMER,
        ),
        Setting(
            "enable.idempotence",
            True,
            "",
            "a producer retry does not duplicate (default true since 3.0; in effect from"
            " 3.0.1, 3.1.1 and 3.2.0, KAFKA-13598)",
            _KAFKA_PRODUCER,
            simulated=True,
        ),
        Setting(
            "retry.backoff.ms",
            100,
            "ms",
            "how long a producer waits before it sends a record again",
            _KAFKA_PRODUCER,
            simulated=True,
        ),
        Setting(
            "isolation.level",
            "read_uncommitted",
            "",
            "read_committed hides events of aborted or open transactions",
            _KAFKA_CONSUMER,
            simulated=True,
            choices=("read_uncommitted", "read_committed"),
        ),
        Setting(
            "buffer.memory",
            33_554_432,
            "bytes",
            "the producer's own buffer; send() blocks only when it is full",
            _KAFKA_PRODUCER,
        ),
        Setting(
            "max.block.ms",
            60_000,
            "ms",
            "how long send() blocks on a full buffer or missing metadata before failing",
            _KAFKA_PRODUCER,
        ),
    ),
)

RABBITMQ = Profile(
    "rabbitmq",
    "RabbitMQ (quorum queues, 4.x)",
    "queue",
    "a queue per subscription; competing consumers take messages one by one",
    (
        Setting(
            "consumer_timeout",
            30 * MINUTE,
            "ms",
            "an unacknowledged delivery older than this closes the channel (up to 4.2),"
            " requeueing all its unacknowledged messages",
            _RABBIT_ACK_TIMEOUT,
            simulated=True,
        ),
        Setting(
            "x-delivery-limit",
            20,
            "count",
            "deliveries after which a message is dead-lettered or dropped (20 from 4.0;"
            " unlimited before)",
            _RABBIT_QUORUM,
            simulated=True,
        ),
        Setting(
            "x-max-length",
            None,
            "count",
            "the most messages the queue holds (not set: unbounded)",
            _RABBIT_MAXLEN,
            simulated=True,
        ),
        Setting(
            "x-overflow",
            "drop-head",
            "",
            "what a full queue does: drop the oldest, or nack the publish",
            _RABBIT_MAXLEN,
            simulated=True,
            choices=("drop-head", "reject-publish"),
        ),
        Setting(
            "x-message-ttl",
            None,
            "ms",
            "how long a message may wait in the queue (not set: for ever)",
            _RABBIT_TTL,
            simulated=True,
        ),
        Setting(
            "x-single-active-consumer",
            False,
            "",
            "one consumer at a time gets the queue's messages, keeping their order",
            _RABBIT_SAC,
            simulated=True,
        ),
    ),
)

SQS = Profile(
    "sqs",
    "Amazon SQS (standard, fanned out by SNS)",
    "queue",
    "a queue per subscription; at-least-once, occasional duplicates, best-effort order",
    (
        Setting(
            "VisibilityTimeout",
            30_000,
            "ms",
            "a received message is hidden this long; not deleted by then, it is delivered again",
            _SQS_ATTRS,
            simulated=True,
        ),
        Setting(
            "MessageRetentionPeriod",
            4 * DAY,
            "ms",
            "how long a message is kept (60 s to 14 days)",
            _SQS_ATTRS,
            simulated=True,
        ),
        Setting(
            "DelaySeconds",
            0,
            "ms",
            "how long a new message stays invisible before its first delivery",
            _SQS_ATTRS,
            simulated=True,
        ),
        Setting(
            "maxReceiveCount",
            None,
            "count",
            "the redrive policy: receives after which a message moves to the dead-letter"
            " queue (no dead-letter queue unless one is configured)",
            _SQS_DLQ,
            simulated=True,
        ),
    ),
)

SQS_FIFO = Profile(
    "sqs-fifo",
    "Amazon SQS (FIFO)",
    "queue",
    "order per message group id; duplicates removed within 5 minutes",
    (
        *SQS.defs,
        Setting(
            "ContentBasedDeduplication",
            False,
            "",
            "use a hash of the body as the deduplication id",
            _SQS_ATTRS,
            simulated=True,
        ),
        Setting(
            "deduplication interval",
            5 * MINUTE,
            "ms",
            "a message with a deduplication id seen this recently is accepted but not delivered"
            " again (fixed by SQS)",
            _SQS_FIFO,
            simulated=True,
        ),
    ),
)

SERVICE_BUS = Profile(
    "service-bus",
    "Azure Service Bus (topics and subscriptions)",
    "queue",
    "a subscription per consumer group; peek-lock, sessions for order",
    (
        Setting(
            "LockDuration",
            60_000,
            "ms",
            "a peek-locked message is hidden this long (renewable; at most 5 minutes)",
            _SB_LOCK,
            simulated=True,
        ),
        Setting(
            "MaxDeliveryCount",
            10,
            "count",
            "deliveries after which the message moves to the dead-letter subqueue",
            _SB_DLQ,
            simulated=True,
        ),
        Setting(
            "DefaultMessageTimeToLive",
            None,
            "ms",
            "how long a message lives (not set: TimeSpan.MaxValue, for ever)",
            _SB_TTL,
            simulated=True,
        ),
        Setting(
            "DeadLetteringOnMessageExpiration",
            False,
            "",
            "an expired message moves to the dead-letter subqueue instead of being dropped",
            _SB_DLQ,
            simulated=True,
        ),
        Setting(
            "RequiresDuplicateDetection",
            False,
            "",
            "drop a message whose MessageId was seen within the detection window",
            _SB_DUP,
            simulated=True,
        ),
        Setting(
            "DuplicateDetectionHistoryTimeWindow",
            10 * MINUTE,
            "ms",
            "the duplicate detection window, when detection is on",
            _SB_DUP,
            simulated=True,
        ),
        Setting(
            "RequiresSession",
            False,
            "",
            "messages with one SessionId go to one receiver at a time, in order",
            _SB_SESSIONS,
            simulated=True,
        ),
        Setting(
            "MaxSizeInMegabytes",
            1024,
            "count",
            "the entity's size quota; a send beyond it fails with QuotaExceeded",
            _SB_QUOTAS,
            simulated=True,
        ),
    ),
)

#: Every profile by name.
PROFILES: Mapping[str, Profile] = MappingProxyType(
    {p.name: p for p in (KAFKA, RABBITMQ, SQS, SQS_FIFO, SERVICE_BUS)}
)


def profile(name: str | Profile) -> Profile:
    """The profile called ``name``; the error names the valid ones."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in PROFILES)
        raise ValueError(f"profile must be one of {known}, got {name!r}") from None


def resolve(prof: Profile, overrides: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """The profile's defaults with ``overrides`` applied, each checked.

    A name the profile does not have, a setting the simulation does not
    honour yet, or a value outside a setting's choices is a ``ValueError``
    that says which (``where`` names the broker or topic for the message).
    """
    values = dict(prof.settings)
    if overrides is None:
        return values
    if not isinstance(overrides, Mapping):
        raise TypeError(f"settings must be a mapping of setting names to values, got {overrides!r}")
    for name, value in overrides.items():
        try:
            s = prof.setting(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if not s.simulated:
            raise ValueError(
                f"{name!r} is a real {prof.broker} setting that evtlib does not simulate yet"
                f" ({where}); the simulated ones are: "
                + ", ".join(x.name for x in prof.defs if x.simulated)
            )
        if s.choices and value not in s.choices:
            listed = ", ".join(repr(c) for c in s.choices)
            raise ValueError(f"{name} must be one of {listed} ({where}), got {value!r}")
        if s.unit == "ms" and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
        ):
            raise ValueError(f"{name} must be a number of ms > 0 ({where}), got {value!r}")
        values[name] = value
    return values


def _show(value: Any, unit: str) -> str:
    if value is None:
        return "not set"
    if unit == "ms" and isinstance(value, (int, float)):
        for size, word in ((DAY, "days"), (3_600_000, "h"), (MINUTE, "min"), (1000, "s")):
            if value >= size and value % size == 0:
                n = value // size
                return f"{value:,} ms ({n:g} {'day' if word == 'days' and n == 1 else word})"
        return f"{value:,} ms"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    return f"`{value}`"


def settings_table(profiles: Mapping[str, Profile] | None = None) -> str:
    """Every profile's settings as Markdown: name, default, meaning, simulated, source."""
    out = []
    for p in (profiles or PROFILES).values():
        out.append(f"### `{p.name}`: {p.broker} ({p.family} family)\n")
        out.append(f"{p.summary[0].upper()}{p.summary[1:]}.\n")
        out.append("| setting | default | what it does | simulated | source |")
        out.append("|---|---|---|---|---|")
        for s in p:
            out.append(
                f"| `{s.name}` | {_show(s.default, s.unit)} | {s.meaning} |"
                f" {'yes' if s.simulated else 'not yet'} | [docs]({s.source}) |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m evtlib.profiles > docs/brokers.md (then keep the intro)
    print(settings_table())

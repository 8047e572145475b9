"""What each queue broker does with an unacknowledged, failing or old message: its rules.

:func:`rules_for` reads a queue profile's settings (with overrides) into a
:class:`QueueRules`, the one place where the four brokers' differences are
spelled out; the subscription only follows the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import checks
from ..profiles import Profile

__all__ = ["QueueRules", "rules_for", "INSTEAD_OF_PARTITIONS", "TOPIC_LEVEL", "TTL_SETTING"]


@dataclass(frozen=True)
class QueueRules:
    """What one queue broker does with an unacknowledged or failing message.

    ``timeout`` (ms) and ``timeout_setting`` name the broker's own timeout;
    ``channel_wide`` is RabbitMQ's: the timeout closes the consumer's
    channel and requeues all its unacknowledged messages.
    ``max_deliveries`` is how many deliveries a message gets before the
    broker dead-letters it (None: no limit), with ``limit_reason``.
    ``native_dead_letter`` says whether the application's dead-letter outcome
    ends in the subscription's own dead-letter queue (every queue profile:
    RabbitMQ ``basic.reject`` to the dead-letter exchange, Service Bus
    ``DeadLetterMessage``, and on SQS, which has no such call, the consumer
    sending the message to the queue's dead-letter queue and deleting it);
    otherwise a dead-letter outcome publishes the letter to the dead-letter
    topic.  ``app_reason`` is the reason the broker records then, unless
    ``keeps_app_reason``: the application's own reason is kept (Service Bus
    ``DeadLetterReason``; SQS: whatever the consumer sends).
    ``one_per_key``: at most one message per key in flight (SQS FIFO
    message groups, Service Bus sessions); ``single_active``: one consumer
    at a time gets the messages (RabbitMQ single active consumer).
    ``max_length`` and ``overflow``: RabbitMQ's bounded queue.  ``ttl`` (ms):
    how long a message may stay in the queue; past it, it is dead-lettered
    with ``ttl_reason`` if ``ttl_dead_letters``, else deleted (counted
    ``expired``).  ``delay`` (ms): SQS ``DelaySeconds``.  ``extendable``: a
    consumer may give a delivery more time (SQS ``ChangeMessageVisibility``,
    Service Bus ``RenewMessageLock``), up to ``max_visibility`` ms from its
    receipt (SQS: 12 hours).
    """

    timeout: float | None
    timeout_setting: str
    channel_wide: bool
    max_deliveries: int | None
    limit_reason: str
    native_dead_letter: bool
    app_reason: str
    lost_ack: str
    dead_letter_place: str
    keeps_app_reason: bool = False
    extendable: bool = False
    max_visibility: float = 0.0
    one_per_key: bool = False
    single_active: bool = False
    max_length: int | None = None
    overflow: str = "drop-head"
    ttl: float | None = None
    ttl_setting: str = ""
    ttl_dead_letters: bool = False
    ttl_reason: str = "expired"
    delay: float = 0.0


def _count(name: str, value: Any, low: int) -> int | None:
    if value is None:
        return None
    return checks.integer(name, value, min=low)


def _ms(value: Any) -> float | None:
    return None if value is None else float(value)


def rules_for(prof: Profile, settings: Mapping[str, Any]) -> QueueRules:
    """The :class:`QueueRules` of queue profile ``prof`` with ``settings`` in effect."""
    if prof.name == "rabbitmq":
        limit = _count("x-delivery-limit", settings["x-delivery-limit"], 0)
        return QueueRules(
            timeout=float(settings["consumer_timeout"]),
            timeout_setting="consumer_timeout",
            channel_wide=True,
            # A quorum queue dead-letters a message returned more than x-delivery-limit times.
            max_deliveries=None if limit is None else limit + 1,
            limit_reason="delivery_limit",
            native_dead_letter=True,
            app_reason="rejected",
            lost_ack="the channel was closed by consumer_timeout: the ack cannot be sent",
            dead_letter_place="the queue's dead-letter exchange",
            single_active=bool(settings["x-single-active-consumer"]),
            max_length=_count("x-max-length", settings["x-max-length"], 0),
            overflow=settings["x-overflow"],
            ttl=_ms(settings["x-message-ttl"]),
            ttl_setting="x-message-ttl",
            ttl_dead_letters=True,  # to the dead-letter exchange, reason expired
            ttl_reason="expired",
        )
    if prof.name in ("sqs", "sqs-fifo"):
        receives = _count("maxReceiveCount", settings["maxReceiveCount"], 1)
        return QueueRules(
            timeout=float(settings["VisibilityTimeout"]),
            timeout_setting="VisibilityTimeout",
            channel_wide=False,
            max_deliveries=receives,
            limit_reason="maxReceiveCount exceeded",
            # SQS has no call to dead-letter a message: the consumer sends it to the
            # dead-letter queue itself and deletes it from the source queue.
            native_dead_letter=True,
            app_reason="sent to the dead-letter queue by the consumer",
            keeps_app_reason=True,
            lost_ack="DeleteMessage with an outdated receipt handle: the message was received again",
            dead_letter_place="the redrive policy's dead-letter queue",
            # ChangeMessageVisibility: at most 12 hours in all from the receipt.
            extendable=True,
            max_visibility=43_200_000.0,
            one_per_key=prof.name == "sqs-fifo",
            ttl=_ms(settings["MessageRetentionPeriod"]),
            ttl_setting="MessageRetentionPeriod",
            delay=float(settings["DelaySeconds"]),
        )
    if prof.name == "service-bus":
        deliveries = _count("MaxDeliveryCount", settings["MaxDeliveryCount"], 1)
        _count(
            "MaxSizeInMegabytes", settings["MaxSizeInMegabytes"], 1
        )  # checked here, used on publish
        return QueueRules(
            timeout=float(settings["LockDuration"]),
            timeout_setting="LockDuration",
            channel_wide=False,
            max_deliveries=deliveries,
            limit_reason="MaxDeliveryCountExceeded",
            native_dead_letter=True,
            app_reason="dead-lettered by the application",
            lost_ack="MessageLockLostException: the lock expired and the message was delivered again",
            dead_letter_place="the subscription's $DeadLetterQueue",
            keeps_app_reason=True,
            extendable=True,  # RenewMessageLock: another LockDuration from now
            max_visibility=float("inf"),
            one_per_key=bool(settings["RequiresSession"]),
            ttl=_ms(settings["DefaultMessageTimeToLive"]),
            ttl_setting="DefaultMessageTimeToLive",
            ttl_dead_letters=bool(settings["DeadLetteringOnMessageExpiration"]),
            ttl_reason="TTLExpiredException",
        )
    raise ValueError(f"profile must be of the queue family, got {prof.name!r} ({prof.family})")


#: Where each queue profile says how long a message is kept.
TTL_SETTING = {
    "rabbitmq": "x-message-ttl",
    "sqs": "MessageRetentionPeriod",
    "sqs-fifo": "MessageRetentionPeriod",
    "service-bus": "DefaultMessageTimeToLive",
}

#: Settings of the topic (the publishing side), not of one subscription.
TOPIC_LEVEL = (
    "deduplication interval",
    "RequiresDuplicateDetection",
    "DuplicateDetectionHistoryTimeWindow",
)

#: What a queue broker offers instead of partitions, per profile.
INSTEAD_OF_PARTITIONS = {
    "rabbitmq": "a queue has no partitions; for order use x-single-active-consumer"
    " (settings={'x-single-active-consumer': True})",
    "sqs": "an SQS queue has no partitions; for order per key use profile='sqs-fifo',"
    " where the event's key is the MessageGroupId",
    "sqs-fifo": "an SQS FIFO queue has no partitions: the event's key is the MessageGroupId,"
    " and each message group is delivered in order",
    "service-bus": "a Service Bus topic has no partitions to choose; for order per key use"
    " sessions (settings={'RequiresSession': True}): the event's key is the SessionId",
}

"""Solutions to notebook 03's exercises (brokers compared)."""

from __future__ import annotations

from ...profiles import PROFILES


def ex1() -> list[str]:
    """Only a log keeps history for a new group: Kafka with ``auto.offset.reset=earliest``."""
    return ["kafka"]


def ex2() -> int:
    """Service Bus dead-letters a message after ``MaxDeliveryCount`` deliveries (10)."""
    return int(PROFILES["service-bus"].settings["MaxDeliveryCount"])


def ex3() -> int:
    """The closed channel returns all three unacknowledged messages (RabbitMQ up to 4.2)."""
    return 3

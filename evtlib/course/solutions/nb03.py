"""Solutions to notebook 03's exercises (brokers compared)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def ex4() -> Callable[[str], dict[str, Any]]:
    """RabbitMQ: single active consumer; Service Bus: sessions (the key is the SessionId);
    Kafka and SQS FIFO need nothing (partitions by key, message groups)."""

    def settings_for(profile: str) -> dict[str, Any]:
        return {
            "rabbitmq": {"x-single-active-consumer": True},
            "service-bus": {"RequiresSession": True},
        }.get(profile, {})

    return settings_for


def near_miss_ex4() -> Callable[[str], dict[str, Any]]:
    """Sessions on Service Bus, but RabbitMQ left as it is: its consumers still race."""

    def settings_for(profile: str) -> dict[str, Any]:
        return {"RequiresSession": True} if profile == "service-bus" else {}

    return settings_for

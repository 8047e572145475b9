"""Notebook 09: on a queue broker the broker itself dead-letters, and never knows the exception."""

from __future__ import annotations

from evtlib.course.scenarios.dead_letters import native_dead_letters


def test_each_queue_broker_moves_the_message_after_its_own_count():
    """RabbitMQ past x-delivery-limit 20, SQS at maxReceiveCount, Service Bus at MaxDeliveryCount 10."""
    rows = {r["broker"]: r for r in native_dead_letters()}
    assert (rows["rabbitmq"]["deliveries"], rows["rabbitmq"]["why it moved"]) == (
        21,
        "delivery_limit",
    )
    assert (rows["sqs"]["deliveries"], rows["sqs"]["why it moved"]) == (3, "maxReceiveCount")
    assert rows["service-bus"]["why it moved"] == "MaxDeliveryCountExceeded"
    assert rows["service-bus"]["deliveries"] == 10
    assert {r["the LookupError"] for r in rows.values()} == {"not recorded"}

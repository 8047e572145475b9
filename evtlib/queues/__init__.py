"""The queue family in simulation: RabbitMQ queues, SQS (standard and FIFO), Service Bus.

``Broker(sim, profile="sqs")`` returns a :class:`QueueBroker`: topics fan
out to one queue per subscription; competing consumers take messages one
by one; each broker's own timeout redelivers and its own limit
dead-letters (see :mod:`evtlib.queues.subscription`).
"""

from .broker import QueueBroker, QueueTopic
from .queue import MessageQueue
from .rules import QueueRules, rules_for
from .subscription import QueuedMessage, Subscription

__all__ = [
    "QueueBroker",
    "QueueTopic",
    "QueueRules",
    "Subscription",
    "MessageQueue",
    "QueuedMessage",
    "rules_for",
]

"""The queue family in simulation: RabbitMQ queues, SQS (standard and FIFO), Service Bus.

``Broker(sim, profile="sqs")`` returns a :class:`QueueBroker`: topics fan
out to one queue per subscription; competing consumers take messages one
by one; each broker's own timeout redelivers and its own limit
dead-letters (see :mod:`evtlib.queues.subscription`).

A handling slower than SQS's visibility timeout is delivered again, to
another consumer, while the first still works on it:

    >>> from evtlib import Broker, Consumer, Event, Simulation
    >>> sim = Simulation(0)
    >>> b = Broker(sim, profile="sqs", settings={"VisibilityTimeout": 1000})
    >>> _ = b.create_topic("orders")
    >>> slow = Consumer(b, "slow", "orders", group="billing", service_time=1500)
    >>> fast = Consumer(b, "fast", "orders", group="billing", service_time=100)
    >>> _ = b.publish("orders", Event(id="e1", type="OrderPlaced", time=0))
    >>> _ = sim.run()
    >>> [(r.time, r.actor, r.kind) for r in sim.trace if r.kind in ("handled", "ack-ignored")]
    [(1100.0, 'fast', 'handled'), (1500.0, 'slow', 'handled'), (1500.0, 'slow', 'ack-ignored')]
    >>> stats = b.groups["billing"].stats()
    >>> stats["handled"], stats["handled_first"], stats["deleted"]
    (2, 1, 1)
"""

from .broker import QueueBroker, QueueTopic
from .queue import MessageQueue
from .rules import QueueRules, rules_for
from .subscription import LockLostError, QueuedMessage, Subscription

__all__ = [
    "QueueBroker",
    "QueueTopic",
    "QueueRules",
    "Subscription",
    "MessageQueue",
    "QueuedMessage",
    "LockLostError",
    "rules_for",
]

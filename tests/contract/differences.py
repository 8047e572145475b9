"""Where the simulated rabbitmq profile and a real RabbitMQ 3.10 (through the adapter) differ.

The contract suite runs every scenario on ``Broker(sim, profile="rabbitmq")``
as well as on the real broker (:mod:`evtlib.adapters.rabbitmq`, RabbitMQ 3.10
from Debian).  The two are not the same thing: the simulation models
RabbitMQ's quorum queues as documented for current releases, one queue per
subscription; the adapter builds evtlib's topics on a 3.10 node with one
queue per group *and partition*.  Each entry here names one difference and
its reason.  A contract test that asserts something else on the simulated
profile asks ``backend.differs(name)`` with one of these names, and
``test_rabbitmq_profile.py`` shows each difference on its own; a name no
test uses, or a test naming a difference that is not here, fails.

Sources: www.rabbitmq.com/docs/quorum-queues (delivery limit, 20 by default
from 4.0), www.rabbitmq.com/docs/consumers (consumer_timeout, single active
consumer), www.rabbitmq.com/docs/dlx (x-death reasons), and the adapter's
module docstring for how it maps topics, partitions and groups.
"""

from __future__ import annotations

#: name -> (what differs, why).
DIFFERENCES: dict[str, tuple[str, str]] = {
    "partitions": (
        "the simulated rabbitmq profile refuses partitions > 1 (a topic fans out to one queue per"
        " subscription); the adapter makes one quorum queue per group and partition, routed by"
        " the key's CRC-32",
        "RabbitMQ has no partitioned topics: partitions are the adapter's construction (exchange"
        " + one queue per partition with single active consumer) to give evtlib's per-key order;"
        " the simulated profile models a plain RabbitMQ queue, whose own feature for order is"
        " x-single-active-consumer",
    ),
    "assignment": (
        "assignment() on the simulated profile is {topic: 'member-1, member-2'} (every live member"
        " competes for every message); on the adapter it is {'orders[0]': 'member-1', ...}, one"
        " active consumer per partition queue",
        "follows from 'partitions': competing consumers on one queue take messages one by one",
    ),
    "order-with-competing-consumers": (
        "with two members on one queue the simulated profile loses per-key order (whichever"
        " member is free takes the next message); the adapter keeps it (each partition's queue"
        " has a single active consumer)",
        "RabbitMQ's documented behaviour for competing consumers on one queue; order needs"
        " x-single-active-consumer (or one consumer)",
    ),
    "dead-letter-path": (
        "a DeadLetterConsumer on the simulated profile rejects the message on its last attempt"
        " (basic.reject to the queue's dead-letter exchange: x-death reason 'rejected'), and the"
        " record keeps the application's error type; the adapter sets x-delivery-limit ="
        " max_attempts - 1 and lets RabbitMQ dead-letter it (reason 'delivery_limit'), so the"
        " record's error_type is RabbitMQ's reason: x-death carries no error",
        "two honest ways to reach the same dead-letter queue; the reason (failed) and the attempt"
        " count agree, the error detail cannot cross a real broker's x-death header",
    ),
    "redrive-target": (
        "redrive on the simulated profile puts a dead letter back into the queue of the"
        " subscription that failed on it, and no other; the adapter republishes the event to its"
        " source topic's exchange, so every group bound to that partition gets it again (and"
        " to= another topic is refused on the simulated queue family)",
        "a queue broker's redrive goes to the source queue (SQS StartMessageMoveTask; a shovel"
        " on RabbitMQ); the adapter's republishing is its own simplification, absorbed by"
        " idempotent consumers in the other groups",
    ),
    "delivery-limit-default": (
        "the simulated profile's quorum queues dead-letter a message after x-delivery-limit=20"
        " returns by default; RabbitMQ 3.10 has no default limit: a message that always fails"
        " is redelivered for ever unless x-delivery-limit is set",
        "the default of 20 came with RabbitMQ 4.0 (www.rabbitmq.com/docs/quorum-queues#poison-"
        "message-handling); the profile models current RabbitMQ, CI runs Debian's 3.10",
    ),
    "consumer-timeout": (
        "the simulated profile closes a channel exactly consumer_timeout ms after a delivery it"
        " did not acknowledge and requeues all of that channel's unacknowledged messages (as 3.10"
        " up to 4.2 do); on the real node the 30-minute default is only changed in its"
        " configuration, so the contract suite does not wait for it there",
        "not run against the real broker: 30 minutes per test, and changing the node's"
        " configuration is outside a test's reach (per-queue x-consumer-timeout came with"
        " 3.11.15/3.12); the simulated behaviour is tested in tests/test_queues.py",
    ),
    "unroutable": (
        "a publish to a topic no subscription is bound to is accepted and goes nowhere on the"
        " simulated profile; the adapter publishes with mandatory, so the producer gets"
        " Unroutable",
        "plain RabbitMQ drops an unroutable message unless the publisher sets mandatory (or the"
        " exchange has an alternate exchange); the adapter chooses mandatory so nothing vanishes",
    ),
    "naming": (
        "the simulated subscription is named by its group ('billing'); the adapter's queues are"
        " '<topic>.<group>.<partition>' and its dead-letter store is the queue named like the"
        " dead-letter topic ('orders.dlq'); only the adapter's group has queues()",
        "the simulation has no AMQP names to choose; the adapter needs names every client agrees on",
    ),
}

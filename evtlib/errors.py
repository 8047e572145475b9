"""The library's exceptions.

One root, :class:`EvtlibError`, for things that go wrong *inside* a
simulation and that a learner may want to catch (a full buffer that rejects a
publish, an offset that a consumer may not commit).  Misuse of the API (a
negative delay, an unknown topic, zero partitions) raises the built-in
exception that fits (``ValueError``, ``TypeError``, ``KeyError``) with a
message that names the parameter, the value and the rule.
"""

from __future__ import annotations

__all__ = [
    "EvtlibError",
    "BufferFullError",
    "CommitError",
    "EmptySchedule",
    "FrozenEventError",
]


class EvtlibError(Exception):
    """Raised for failures that belong to the simulated system itself."""


class BufferFullError(EvtlibError):
    """Raised when the broker refuses a publish.

    A full RabbitMQ queue with ``x-overflow="reject-publish"`` (the publisher
    gets a nack), or an Azure Service Bus entity past its size quota
    (``QuotaExceeded``).  A Kafka topic has no such limit.
    """


class CommitError(EvtlibError):
    """Raised when a consumer commits an offset it may not commit."""


class EmptySchedule(EvtlibError):
    """Raised by :meth:`Simulation.step` when nothing is scheduled."""


class FrozenEventError(EvtlibError, AttributeError):
    """Raised when code tries to change an event: events are immutable facts."""

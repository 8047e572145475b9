"""The interfaces between evtlib's parts, as :class:`typing.Protocol` s.

A producer, a consumer or a pattern is written against these, not against a
concrete class, so the same code runs on the simulated broker
(:class:`~evtlib.broker.Broker` on a :class:`~evtlib.sim.Simulation`) and on a
real one (``evtlib.adapters.rabbitmq``: ``RabbitBroker`` on ``RealTime``).
mypy checks that both satisfy them; nothing registers as a virtual subclass.

* :class:`Runner`: the clock, the schedule, seeded randomness, ids, the trace.
* :class:`BrokerBackend`: topics, groups, publishing.
* :class:`TopicBackend`, :class:`GroupBackend`: what a backend's topics and
  groups offer.
* :class:`Member`: what a group asks of a member, as Kafka's
  ``ConsumerRebalanceListener`` is the contract between a group and a
  consumer: partitions are :meth:`~Member.assigned` and
  :meth:`~Member.revoked`, or :meth:`~Member.rewound` by a reset of offsets;
  :meth:`~Member.wake` says there may be work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from .events import Event
from .sim import PendingCall, ScheduledCall, Timer
from .trace import Trace

__all__ = [
    "Runner",
    "BrokerBackend",
    "TopicBackend",
    "GroupBackend",
    "Member",
    "DeliveryMode",
    "StartAt",
]

#: When a consumer commits: after handling (at-least-once) or before (at-most-once).
DeliveryMode = Literal["at-least-once", "at-most-once"]
#: Where a new group starts reading a log.
StartAt = Literal["earliest", "latest"]
#: What a full buffer does to a publish.


@runtime_checkable
class Runner(Protocol):
    """A clock with a schedule: :class:`~evtlib.sim.Simulation` or a real-time runner."""

    seed: int
    trace: Trace
    wall_clock: bool
    scope: str

    @property
    def now(self) -> float: ...

    def schedule(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = ...
    ) -> None: ...

    def schedule_at(
        self, time: float, fn: Callable[..., Any], *args: Any, priority: int = ...
    ) -> None: ...

    def timer(
        self, delay: float, fn: Callable[..., Any], *args: Any, priority: int = ...
    ) -> Timer: ...

    def post(
        self, time: float, fn: Callable[..., Any], args: tuple = ..., priority: int = ...
    ) -> None: ...

    def peek(self) -> float: ...

    def scheduled(self) -> list[ScheduledCall]: ...

    def pending(self, owner: object) -> list[PendingCall]: ...

    def step(self) -> None: ...

    def run(self, until: float | None = None) -> float: ...

    def rng_for(self, name: str) -> random.Random: ...

    def next_id(self, prefix: str = ...) -> str: ...

    def name_taken(self, name: str) -> bool: ...

    def register_name(self, name: str, kind: str = ...) -> str: ...


@runtime_checkable
class Member(Protocol):
    """A member of a consumer group, as the group sees it."""

    name: str
    alive: bool
    topics: list[str]
    #: Deliveries in progress, and how many it may have at once (the group wakes it only
    #: when it has room).
    busy: int
    concurrency: int

    def assigned(self, state: Any) -> None:
        """The partition whose group state is ``state`` is now this member's."""

    def revoked(self, state: Any) -> bool:
        """The partition is taken away: commit what is finished and let go.

        Return ``False`` if the member is handling one of its events just
        then: it lets go when that handling ends, by calling the group's
        ``released(state)``.
        """
        ...

    def rewound(self, state: Any) -> None:
        """The group moved the committed offset of ``state`` (a replay or a skip)."""

    def wake(self) -> None:
        """There may be something to fetch."""


@runtime_checkable
class TopicBackend(Protocol):
    """A topic of a backend: a name and its partitions."""

    name: str

    @property
    def partitions(self) -> Sequence[Any]: ...

    def partition_of_peek(self, key: str | None) -> int: ...


@runtime_checkable
class GroupBackend(Protocol):
    """A consumer group of a backend."""

    name: str
    topics: list[str]
    members: list[Any]

    def subscribe(self, topic: Any) -> None: ...

    def join(self, member: Any) -> None: ...

    def leave(self, member: Any) -> None: ...

    def rejoin(self, member: Any) -> None: ...

    def lag(self) -> int: ...

    def assignment(self) -> dict[str, str | None]: ...


@runtime_checkable
class BrokerBackend(Protocol):
    """A broker: the simulated one or an adapter over a real one."""

    name: str
    #: The producers and consumers made on it, in order (for pictures and tallies).
    producers: list[Any]
    consumers: list[Any]

    @property
    def sim(self) -> Runner: ...

    @property
    def topics(self) -> Mapping[str, Any]: ...

    @property
    def groups(self) -> Mapping[str, Any]: ...

    def topic(self, name: str) -> Any: ...

    def create_topic(
        self,
        name: str,
        partitions: int = ...,
        *,
        capacity: int | None = ...,
        policy: str | None = ...,
    ) -> Any: ...

    def group(
        self, name: str, *, start: StartAt | None = ..., session_timeout: float | None = ...
    ) -> Any: ...

    def publish(self, topic: str, event: Event, *, actor: str = ...) -> tuple[int, int]: ...

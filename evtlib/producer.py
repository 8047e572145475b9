"""Producers: publish events to a topic, without knowing who consumes them.

A :class:`Producer` publishes to a topic on an arrival process (an explicit
:class:`~evtlib.distributions.Schedule`, a constant
:class:`~evtlib.distributions.Rate` or a :class:`~evtlib.distributions.Poisson`
stream) or when you call :meth:`Producer.emit`.  It never names a consumer:
adding one changes nothing here.

What a producer experiences when its consumers are slow depends on the
broker, as it does in reality.  On the ``kafka`` profile: nothing, every
publish is accepted and the group lags.  On a queue profile a full queue may
refuse it: RabbitMQ's ``x-overflow="reject-publish"`` nacks the publish,
Service Bus's size quota fails the send; the producer counts each in
:attr:`Producer.rejected` (and :meth:`Producer.emit` raises
:class:`~evtlib.errors.BufferFullError`).  No simulated producer ever waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import checks
from .broker import Broker
from .distributions import Arrivals
from .errors import BufferFullError
from .events import Event
from .protocols import BrokerBackend

__all__ = ["Producer", "Transaction", "default_make"]

#: ``make(i, rng) -> (type, key, data)``: what the i-th event (from 1) says.
Make = Callable[[int, Any], tuple[str, "str | None", Any]]


def default_make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
    """The running example: ``OrderPlaced`` for ``order-i``."""
    return "OrderPlaced", f"order-{i}", {"order_id": f"order-{i}", "total": 10 + (i * 7) % 90}


class Producer:
    """Publishes events to one topic.

    Parameters
    ----------
    broker:
        Where to publish.
    name:
        Unique name; it is the events' ``source`` and the actor in the trace.
    topic:
        The topic to publish to (it must exist).
    arrivals:
        When to publish on its own (None: only when :meth:`emit` is called).
    make:
        ``make(i, rng) -> (type, key, data)`` for the i-th event (from 1).
    count:
        Stop after this many events from ``arrivals``.
    until:
        Stop publishing from ``arrivals`` after this time (ms).
    """

    def __init__(
        self,
        broker: BrokerBackend,
        name: str,
        topic: str,
        arrivals: Arrivals | None = None,
        *,
        make: Make | None = None,
        count: int | None = None,
        until: float | None = None,
    ) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        self.topic = broker.topic(topic)
        if arrivals is not None and not isinstance(arrivals, Arrivals):
            raise TypeError(f"arrivals must be Schedule, Rate, Poisson or None, got {arrivals!r}")
        if make is not None and not callable(make):
            raise TypeError(f"make must be callable, got {make!r}")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise ValueError(f"count must be an int >= 0 or None, got {count!r}")
        if until is not None and not (isinstance(until, (int, float)) and until >= 0):
            raise ValueError(f"until must be a time >= 0 ms or None, got {until!r}")
        if (
            arrivals is not None
            and count is None
            and until is None
            and not hasattr(arrivals, "times")
        ):
            raise ValueError(
                "an endless arrival process needs count=... or until=... so the simulation can end,"
                f" got {arrivals!r} with count=None and until=None"
            )
        self.sim = broker.sim
        self.name = self.sim.register_name(name, "producer")
        self.broker = broker
        self.arrivals = arrivals
        self.make = make or default_make
        self.count = count
        self.until = until
        self.rng = self.sim.rng_for(name)
        self.published = 0
        #: Publishes the broker refused (a RabbitMQ nack, a Service Bus QuotaExceeded).
        self.rejected = 0
        self.emitted: list[Event] = []
        #: Sends repeated because an acknowledgement was lost (NetworkFaults.ack_loss).
        self.retries = 0
        self._i = 0
        # Lost acknowledgements (the simulated broker's NetworkFaults.ack_loss): each send then
        # carries a sequence number, and an unacknowledged one is sent again.
        self._ack_loss = 0.0
        self._backoff = 100.0
        if isinstance(broker, Broker):
            if broker.faults is not None:
                self._ack_loss = broker.faults.ack_loss
            self._backoff = float(broker.settings["retry.backoff.ms"])
        self._ack_rng = self.sim.rng_for(f"{name}/acks")
        self._seq = 0
        broker.producers.append(self)
        if arrivals is not None:
            self._gaps = arrivals.gaps(self.rng)
            self._next()

    # -- arrivals ------------------------------------------------------------

    def _next(self) -> None:
        if self.count is not None and self._i >= self.count:
            return
        try:
            gap = next(self._gaps)
        except StopIteration:
            return
        sim = self.sim
        t = sim.now + gap
        if self.until is not None and t > self.until:
            return
        sim.post(t, self._arrive, ())

    def _arrive(self) -> None:
        self._i += 1
        type_, key, data = self.make(self._i, self.rng)
        event = self._new_event(type_, key, data)
        self._send(event)
        self._next()

    # -- publishing ----------------------------------------------------------

    def trusted_event(self, type: str, key: str | None, data: Any) -> Event:
        """A new event from this producer, now: its id from the runner, its source this producer."""
        return self._new_event(type, key, data)

    def _new_event(self, type: str, key: str | None, data: Any) -> Event:
        sim = self.sim
        return Event.trusted(sim.next_id("evt"), type, float(sim.now), self.name, key, data)

    def emit(self, type: str, key: str | None = None, data: Any = None) -> Event:
        """Create an event now and publish it; return the event.

        If the broker refuses it (a full RabbitMQ queue with
        ``x-overflow="reject-publish"``, a Service Bus topic past its quota)
        this raises :class:`~evtlib.errors.BufferFullError` and counts it.
        """
        event = self._new_event(type, key, {} if data is None else data)
        self._send(event, raise_rejected=True)
        return event

    def publish(self, event: Event) -> None:
        """Publish an event made elsewhere (for example a reaction)."""
        if not isinstance(event, Event):
            raise TypeError(f"event must be an Event, got {type(event).__name__}: {event!r}")
        self._send(event, raise_rejected=True)

    def _send(self, event: Event, raise_rejected: bool = False) -> None:
        t = self.topic
        try:
            if self._ack_loss:
                self._publish(event)
            else:  # the common case, without a call
                self.broker.publish(t.name, event, actor=self.name)
        except BufferFullError:
            self.rejected += 1
            if raise_rejected:
                raise
            return
        self.published += 1
        self.emitted.append(event)

    def _publish(self, event: Event) -> None:
        if not self._ack_loss:
            self.broker.publish(self.topic.name, event, actor=self.name)
            return
        self._seq += 1
        self._send_numbered(event, self._seq)

    def _send_numbered(self, event: Event, seq: int) -> None:
        # The broker appends (or, idempotent, recognises a retry); the ack may not come back.
        broker = self.broker
        assert isinstance(broker, Broker)  # lost acks are a fault of the simulated network
        broker.publish(self.topic.name, event, actor=self.name, sequence=(self.name, seq))
        if self._ack_rng.random() < self._ack_loss:
            sim = self.sim
            backoff = self._backoff
            sim.trace.record(
                sim.now,
                "ack-lost",
                self.name,
                event.id,
                self.topic.name,
                detail=f"no acknowledgement: sent again in {backoff:g} ms",
            )
            sim.schedule(backoff, self._resend, event, seq)

    def _resend(self, event: Event, seq: int) -> None:
        self.retries += 1
        self._send_numbered(event, seq)

    def begin(self) -> Transaction:
        """Start a transaction (Kafka: ``transactional.id`` set, ``beginTransaction``).

        Events emitted through it are appended at once, but a consumer with
        ``isolation.level="read_committed"`` reads them only after
        :meth:`Transaction.commit`, and never if it is aborted.
        """
        return Transaction(self)

    def __repr__(self) -> str:
        return (
            f"<Producer {self.name} -> {self.topic.name} published={self.published}"
            f" rejected={self.rejected}>"
        )


class Transaction:
    """Events published together: readable by ``read_committed`` consumers all at once, or never.

    Made by :meth:`Producer.begin`.  :meth:`emit` publishes within it;
    :meth:`commit` or :meth:`abort` ends it.  What it does not cover: an
    effect outside the log (an e-mail, a charge) is not rolled back by an
    abort, so a consumer's side effects stay at-least-once.
    """

    def __init__(self, producer: Producer) -> None:
        broker = producer.broker
        if not isinstance(broker, Broker):
            raise TypeError(
                f"transactions need the simulated Kafka broker, got {type(broker).__name__}"
            )
        self.producer = producer
        self.broker: Broker = broker
        self.id = producer.sim.next_id("txn")
        self.state = "open"
        self.writes: dict[tuple[str, int], list[int]] = {}

    def emit(self, type: str, key: str | None = None, data: Any = None) -> Event:
        """Create an event now and publish it in this transaction; return it."""
        if self.state != "open":
            raise ValueError(f"transaction {self.id} is {self.state}: begin a new one to emit")
        producer = self.producer
        event = producer.trusted_event(type, key, {} if data is None else data)
        p, offset = self.broker.publish(
            producer.topic.name, event, actor=producer.name, txn=self.id
        )
        self.writes.setdefault((producer.topic.name, p), []).append(offset)
        producer.published += 1
        producer.emitted.append(event)
        return event

    def commit(self) -> None:
        """Make every event of the transaction readable to ``read_committed`` consumers."""
        self._end(True)

    def abort(self) -> None:
        """Give the transaction up: ``read_committed`` consumers never see its events."""
        self._end(False)

    def _end(self, committed: bool) -> None:
        if self.state != "open":
            raise ValueError(f"transaction {self.id} is already {self.state}")
        self.state = "committed" if committed else "aborted"
        self.broker.end_transaction(self.id, self.writes, committed=committed)

    def __repr__(self) -> str:
        n = sum(len(o) for o in self.writes.values())
        return f"<Transaction {self.id} {self.state} events={n}>"

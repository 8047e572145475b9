"""Non-blocking retries: retry topics with growing delays, then a dead-letter topic.

A *blocking* retry keeps a failed event at the head of its partition: the
consumer waits, tries it again, and nothing behind it moves until it
succeeds or is dead-lettered (:class:`~evtlib.patterns.dlq.DeadLetterConsumer`).
Per-key order holds, and everything behind the failed event waits.

*Non-blocking* retries, as Spring for Apache Kafka's ``@RetryableTopic``
builds them (and Uber's "reliable reprocessing" design before it), move a
failed event out of the way instead: the consumer publishes it to a retry
topic (``orders-retry-0``) with the time it is due, commits, and goes on
with the next event.  A consumer of the retry topic waits until the event
is due (Spring pauses that partition), handles it, and on another failure
forwards it to the next retry topic (``orders-retry-1``, a longer delay),
until the attempts run out and it lands on the dead-letter topic
(``orders-dlt``).  The names follow Spring's default: ``-retry-<index>``
and ``-dlt``.

What it gives up: order per key.  While an event waits in a retry topic, a
later event with the same key goes through the main topic and is handled
first.  Spring's documentation says it plainly: with this strategy you lose
Kafka's ordering guarantees for that topic.

:class:`RetryTopics` runs either way (``mode="retry-topics"`` or
``mode="blocking"``) with the same handler, delays and bookkeeping, so the
two can be compared; :func:`retry_topics_run` is the notebook's scenario.
The due time of a forwarded event is kept by the chain, keyed by where the
copy sits, as Spring keeps it in a header of the forwarded record.

Trace kinds written here: ``retried`` (with the topic it went to and when it
is due) and ``dead-lettered``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker
from ..consumer import Consumer, Delivery
from ..events import Event
from ..outcome import SETTLED, Outcome, retry
from ..sim import Simulation

__all__ = [
    "MODES",
    "RetryTopics",
    "Handled",
    "RetryTopicLetter",
    "RetryTopicsRun",
    "retry_topic_names",
    "retry_topics_run",
    "per_key_order_kept",
]

#: The two ways :class:`RetryTopics` retries a failed event.
MODES = ("retry-topics", "blocking")


class Handled(NamedTuple):
    """One successful handling: when, which event, on which topic, at which attempt."""

    time: float
    event: Event
    topic: str
    attempt: int


class RetryTopicLetter(NamedTuple):
    """An event that used up its attempts, as it lands on the dead-letter topic.

    The fields Spring's ``DeadLetterPublishingRecoverer`` adds as headers
    (``kafka_dlt-original-topic``, ``-original-offset``,
    ``kafka_dlt-exception-fqcn``, ``kafka_dlt-exception-message``): Kafka
    itself records none of them.
    """

    event: Event
    attempts: int
    original_topic: str
    original_offset: int
    error_type: str
    error_message: str
    time: float


def retry_topic_names(topic: str, retries: int) -> tuple[list[str], str]:
    """Spring's default names: ``(["<topic>-retry-0", ...], "<topic>-dlt")`` for ``retries`` topics."""
    checks.name("topic", topic)
    checks.integer("retries", retries, min=0)
    return [f"{topic}-retry-{i}" for i in range(retries)], f"{topic}-dlt"


def _check_delays(delays: Any) -> tuple[float, ...]:
    if isinstance(delays, (str, bytes)) or not isinstance(delays, Iterable):
        raise TypeError(f"delays must be a sequence of ms, got {delays!r}")
    out = tuple(delays)
    if not out:
        raise ValueError("delays must name at least one wait (one retry), got an empty sequence")
    for d in out:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d < float("inf"):
            raise ValueError(f"delays must be numbers of ms > 0, got {d!r} in {delays!r}")
    return tuple(float(d) for d in out)


class _Stage(Consumer):
    """One consumer of the chain: the main topic (stage 0) or retry topic ``stage - 1``."""

    def __init__(self, chain: RetryTopics, stage: int, name: str, topic: str, **kwargs: Any):
        self._chain = chain
        self.stage = stage
        super().__init__(chain.broker, name, topic, **kwargs)

    def process(self, delivery: Delivery) -> Outcome | None:
        return self._chain.process_stage(self, delivery)


class RetryTopics:
    """A consumer whose failed events are retried in place or through retry topics.

    Parameters
    ----------
    broker:
        The simulated Kafka broker holding ``topic``.
    name:
        The consumer's name (also its group's); the retry topics' consumers
        are ``<name>-retry-<i>``.
    topic:
        The main topic.
    handler:
        ``handler(event)``; raise to fail.
    delays:
        The waits before each retry, in ms (default 100, 200, 400: three
        retries, four attempts in all, as Spring's default ``attempts=3``
        has two).
    mode:
        ``"retry-topics"``: forward a failed event to the next retry topic
        and go on (non-blocking).  ``"blocking"``: hold the partition and
        try the same event again after the delay.
    service_time:
        Handling time per delivery (ms), for every consumer of the chain.

    The retry topics and the dead-letter topic are created if missing
    (Spring creates them too), with as many partitions as ``topic``.  After
    the last delay's attempt fails, the event goes to ``<topic>-dlt``
    (:attr:`dead_letters`).  :attr:`handled` lists every success in the
    order it happened.
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        topic: str,
        handler: Callable[[Event], Any],
        *,
        delays: Sequence[float] = (100.0, 200.0, 400.0),
        mode: str = "retry-topics",
        service_time: float = 0.0,
    ) -> None:
        checks.instance("broker", broker, Broker, "the simulated Kafka Broker (profile='kafka')")
        main = broker.topic(topic)  # a KeyError naming the known topics
        checks.function("handler", handler)
        checks.one_of("mode", mode, MODES)
        waits = _check_delays(delays)
        checks.name("name", name)
        self.broker = broker
        self.sim = broker.sim
        self.name = name
        self.topic = topic
        self.mode = mode
        self.delays = waits
        self._handler = handler
        retries, dlt = retry_topic_names(topic, len(waits) if mode == "retry-topics" else 0)
        self.retry_topics: list[str] = retries
        self.dlt = dlt
        for t in [*retries, dlt]:
            if t not in broker.topics:
                broker.create_topic(t, len(main.partitions))
        #: Every success, in the order it happened.
        self.handled: list[Handled] = []
        #: Every event that used up its attempts.
        self.dead_letters: list[RetryTopicLetter] = []
        # Where a forwarded copy sits -> (when it is due, its attempt number, where it began).
        self._due: dict[tuple[str, int, int], tuple[float, int, str, int]] = {}
        self.consumers: list[Consumer] = [_Stage(self, 0, name, topic, service_time=service_time)]
        for i, t in enumerate(retries, start=1):
            self.consumers.append(
                _Stage(self, i, f"{name}-retry-{i - 1}", t, service_time=service_time)
            )

    # -- the hook every stage calls ------------------------------------------------

    def process_stage(self, stage: _Stage, delivery: Delivery) -> Outcome | None:
        """Handle one delivery of stage ``stage`` (0: the main topic): the hook each stage calls."""
        sim = self.sim
        where = (delivery.topic, delivery.partition, delivery.offset)
        if stage.stage == 0:
            attempt = delivery.attempt
            origin = (delivery.topic, delivery.offset)
        else:
            due, attempt, first_topic, first_offset = self._due[where]
            origin = (first_topic, first_offset)
            if due > sim.now:
                # Not due yet: hold this retry topic's partition until it is.
                return retry(due - sim.now)
        try:
            self._handler(delivery.event)
        except Exception as exc:
            self._due.pop(where, None)
            return self._failed(stage, delivery, attempt, origin, exc)
        self._due.pop(where, None)
        self.handled.append(Handled(sim.now, delivery.event, delivery.topic, attempt))
        return None

    def _failed(
        self,
        stage: _Stage,
        delivery: Delivery,
        attempt: int,
        origin: tuple[str, int],
        exc: Exception,
    ) -> Outcome:
        sim = self.sim
        event = delivery.event
        why = f"{type(exc).__name__}: {exc}"
        if attempt > len(self.delays):
            return self._dead_letter(stage, delivery, attempt, origin, exc)
        delay = self.delays[attempt - 1]
        outcome: Outcome
        if self.mode == "blocking":
            then = f"the partition waits {delay:g} ms"
            outcome = retry(delay, exc)
        else:
            target = self.retry_topics[attempt - 1]
            p, offset = self.broker.publish(target, event, actor=stage.name)
            self._due[(target, p, offset)] = (sim.now + delay, attempt + 1, origin[0], origin[1])
            then = f"forwarded to {target}, due in {delay:g} ms"
            outcome = SETTLED  # commit and go on with the next event: nothing waits behind it
        sim.trace.record(
            sim.now,
            "retried",
            stage.name,
            event.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            f"attempt {attempt} failed ({why}); {then}",
        )
        return outcome

    def _dead_letter(
        self,
        stage: _Stage,
        delivery: Delivery,
        attempt: int,
        origin: tuple[str, int],
        exc: Exception,
    ) -> Outcome:
        sim = self.sim
        event = delivery.event
        self.broker.publish(self.dlt, event, actor=stage.name)
        self.dead_letters.append(
            RetryTopicLetter(
                event, attempt, origin[0], origin[1], type(exc).__name__, str(exc), sim.now
            )
        )
        sim.trace.record(
            sim.now,
            "dead-lettered",
            stage.name,
            event.id,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            f"failed after {attempt} attempt(s): {type(exc).__name__}: {exc} -> {self.dlt}",
        )
        return SETTLED

    # -- reading the result ----------------------------------------------------------

    def handled_order(self) -> dict[str, list[str]]:
        """Per key, the ids of the events handled, in the order they were handled."""
        out: dict[str, list[str]] = {}
        for h in self.handled:
            out.setdefault(str(h.event.key), []).append(h.event.id)
        return out

    def __repr__(self) -> str:
        return (
            f"<RetryTopics {self.name} {self.mode} {self.topic} delays={list(self.delays)}"
            f" handled={len(self.handled)} dead_lettered={len(self.dead_letters)}>"
        )


def per_key_order_kept(published: Sequence[Event], handled: Sequence[Handled]) -> bool:
    """Whether, for every key, events were handled in the order they were published."""
    rank = {e.id: i for i, e in enumerate(published)}
    last: dict[Any, int] = {}
    for h in handled:
        r = rank[h.event.id]
        if r < last.get(h.event.key, -1):
            return False
        last[h.event.key] = r
    return True


class RetryTopicsRun(NamedTuple):
    """What :func:`retry_topics_run` returns."""

    mode: str
    sim: Simulation
    chain: RetryTopics
    published: list[tuple[float, Event]]
    order_kept: bool
    #: Per event id: how long from publication to its (last) handling, in ms.
    waited: dict[str, float]

    @property
    def overtaken(self) -> list[str]:
        """Keys whose events were handled out of their published order."""
        rank = {e.id: i for i, (_, e) in enumerate(self.published)}
        bad: list[str] = []
        for key, ids in self.chain.handled_order().items():
            ranks = [rank[i] for i in ids]
            if ranks != sorted(ranks):
                bad.append(key)
        return bad

    def __repr__(self) -> str:
        return (
            f"<RetryTopicsRun {self.mode} handled={len(self.chain.handled)}"
            f" dead_lettered={len(self.chain.dead_letters)} per-key order kept={self.order_kept}>"
        )


#: The notebook's story: (time ms, order, event type).  order-1 is cancelled soon after it is placed.
STORY: tuple[tuple[float, str, str], ...] = (
    (0, "order-1", "OrderPlaced"),
    (20, "order-2", "OrderPlaced"),
    (40, "order-1", "OrderCancelled"),
    (60, "order-3", "OrderPlaced"),
    (80, "order-4", "OrderPlaced"),
    (100, "order-2", "OrderCancelled"),
    (120, "order-5", "OrderPlaced"),
)


def retry_topics_run(
    mode: str = "retry-topics",
    *,
    story: Sequence[tuple[float, str, str]] = STORY,
    failures: Mapping[tuple[str, str], int] | None = None,
    delays: Sequence[float] = (100.0, 200.0, 400.0),
    service_time: float = 5.0,
    seed: int = 0,
) -> RetryTopicsRun:
    """Billing on one partition of ``orders``; some events fail their first tries.

    ``story`` lists ``(time, order, type)`` publications.  ``failures``
    maps ``(order, type)`` to how many attempts fail before one succeeds
    (default: order-1's ``OrderPlaced`` fails twice: the fraud check times
    out).  ``mode`` is ``"retry-topics"`` or ``"blocking"``.
    """
    checks.one_of("mode", mode, MODES)
    fails = {("order-1", "OrderPlaced"): 2} if failures is None else dict(failures)
    for k, n in fails.items():
        checks.integer(f"failures[{k!r}]", n, min=0)
    sim = Simulation(seed)
    broker = Broker(sim, latency=1)
    broker.create_topic("orders", 1)
    left = dict(fails)

    def handle(event: Event) -> None:
        k = (str(event.key), event.type)
        if left.get(k, 0) > 0:
            left[k] -= 1
            raise TimeoutError(f"fraud check for {event.key} timed out")

    chain = RetryTopics(
        broker, "billing", "orders", handle, delays=delays, mode=mode, service_time=service_time
    )
    published: list[tuple[float, Event]] = []

    def publish(order: str, type_: str) -> None:
        event = Event(
            id=sim.next_id("evt"),
            type=type_,
            time=sim.now,
            source="order-service",
            key=order,
            data={"order_id": order},
        )
        published.append((sim.now, event))
        broker.publish("orders", event, actor="order-service")

    for t, order, type_ in story:
        checks.number("story time", t, min=0)
        sim.schedule_at(t, publish, order, type_)
    sim.run()
    events = [e for _, e in published]
    at = {e.id: t for t, e in published}
    waited = {h.event.id: h.time - at[h.event.id] for h in chain.handled}
    return RetryTopicsRun(
        mode, sim, chain, published, per_key_order_kept(events, chain.handled), waited
    )

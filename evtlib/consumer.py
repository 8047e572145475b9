"""Consumers: members of a group that fetch, handle and commit events.

A :class:`Consumer` owns some partitions of the topics it subscribes to (the
group decides which, and tells it through the member protocol:
:meth:`~Consumer.assigned`, :meth:`~Consumer.revoked`, :meth:`~Consumer.wake`).
For each owned partition it fetches the next event, waits the network
latency, spends its *service time* handling it, and commits.  It handles one
event at a time unless ``concurrency`` says otherwise, and never two of the
same partition at once, so events with the same key are handled in the order
they were published.

Delivery guarantees come from *when* it commits:

* ``"at-most-once"``: commit when the event is fetched, before the handler.
  A crash while handling loses the event, never duplicates it.  The loss is
  traced and counted here, so you can see it; a real broker counts nothing:
  its danger is that it is silent.  It does not protect against duplicates
  made elsewhere: a broker or network duplicate is still handled twice.
* ``"at-least-once"``: commit after the handler succeeds (every
  ``commit_every`` events, and whenever the consumer catches up).  A crash
  after handling but before the commit makes the next owner handle the
  event again; nothing is lost.

A handler that raises is retried after ``retry_delay`` ms (at-least-once:
the partition waits behind it; at-most-once: the event is lost).  With
``ack_timeout`` set, a delivery not finished in time is given up and
delivered again, while the slow first attempt may still finish: a duplicate.
``ack_timeout`` is a generic simplification, not a Kafka setting: Kafka's own
timeout is ``max.poll.interval.ms``, which evicts the member and moves all its
partitions (simulated, see :mod:`evtlib.group`); the queue profiles refuse
``ack_timeout`` and apply their broker's own timeout (SQS ``VisibilityTimeout``,
Service Bus ``LockDuration``, RabbitMQ ``consumer_timeout``).

How a delivery's handling ended is an :class:`~evtlib.outcome.Outcome`,
mapped to offsets in one place (``_settle`` in :mod:`evtlib.delivery`, the
delivery loop).  Variants override
one hook, :meth:`Consumer.process`, which receives the :class:`Delivery` and
calls the handler; it may return an outcome (for example a dead letter).

Two counters guard against stale work.  ``epoch`` (the consumer's) moves on
each crash, restart and stop: a completion scheduled in an earlier life is
ignored.  ``generation`` (the partition state's) moves on each hand-over,
rewind, timeout and retry: a delivery from an earlier generation may still
run its handler, but it may not commit.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from . import checks
from .broker import Broker, PartitionState, TopicPartition
from .delivery import Delivery, DeliveryLoop
from .distributions import Duration, as_duration
from .errors import CommitError
from .events import Event
from .group import Group
from .outcome import ACK, SETTLED, Outcome, failed
from .protocols import BrokerBackend, DeliveryMode

__all__ = ["Consumer", "Delivery", "DELIVERY_MODES", "SETTLED"]

DELIVERY_MODES: tuple[DeliveryMode, ...] = ("at-least-once", "at-most-once")


Handler = Callable[[Event], Any]


def _no_latency() -> float:
    return 0.0


class Consumer(DeliveryLoop):
    """A member of a consumer group that handles events from its partitions.

    Parameters
    ----------
    broker:
        The broker to read from (its runner gives clock and randomness).
    name:
        Unique name, shown in the trace.
    topics:
        A topic name or a list of them.
    group:
        The consumer group (default: the consumer's own name, a group of one).
    handler:
        ``handler(event)``, called when handling ends; raise to fail.
    service_time:
        How long handling takes, in ms (a number or a Duration).
    delivery:
        ``"at-least-once"`` (default) or ``"at-most-once"``.
    commit_every:
        At-least-once: commit after this many handled events (and when caught up).
    concurrency:
        How many partitions it may handle at the same time.
    ack_timeout:
        Give up on a delivery not finished after this many ms, and redeliver.
    retry_delay:
        Wait this many ms before a failed event is delivered again.
    start:
        ``True`` (default) joins the group now; ``False`` waits for :meth:`start`.
    """

    def __init__(
        self,
        broker: BrokerBackend,
        name: str,
        topics: str | Iterable[str],
        handler: Handler | None = None,
        *,
        group: str | None = None,
        service_time: Duration | float = 0.0,
        delivery: DeliveryMode = "at-least-once",
        commit_every: int = 1,
        concurrency: int = 1,
        ack_timeout: float | None = None,
        retry_delay: float = 100.0,
        start: bool = True,
    ) -> None:
        # Every argument is checked before the name is claimed, so a call
        # fixed after a mistake can be run again with the same name.
        checks.instance("broker", broker, BrokerBackend, "Broker")
        sim = broker.sim
        topic_list = [topics] if isinstance(topics, str) else list(topics)
        if not topic_list:
            raise ValueError("topics must name at least one topic, got an empty list")
        topic_objs = [broker.topic(t) for t in topic_list]
        checks.callable_or_none("handler", handler, "handler(event)")
        checks.one_of("delivery", delivery, DELIVERY_MODES)
        checks.integer("commit_every", commit_every, min=1)
        checks.integer("concurrency", concurrency, min=1)
        checks.optional_ms("ack_timeout", ack_timeout, positive=True)
        if ack_timeout is not None and delivery == "at-most-once":
            # At-most-once acknowledges on fetch: there is nothing left to time out or redeliver.
            raise ValueError(
                f"ack_timeout needs delivery='at-least-once', got ack_timeout={ack_timeout!r}"
                f" with delivery={delivery!r} (it acknowledges on fetch)"
            )
        retry_delay = checks.ms("retry_delay", retry_delay)
        service = as_duration(service_time, "service_time")
        if group is not None:
            checks.name("group", group)
        checks.boolean("start", start)
        self.name = sim.register_name(name, "consumer")
        self.broker = broker
        self.sim = sim
        self.topics = topic_list
        self.handler = handler
        self.service_time = service
        self.delivery = delivery
        self.commit_every = commit_every
        self.concurrency = concurrency
        self.ack_timeout = ack_timeout
        self.retry_delay = retry_delay
        self.rng = sim.rng_for(name)
        self._service = service.sampler(self.rng)
        # The default process() only calls the handler: skip the indirection.
        self._plain = type(self).process is Consumer.process
        # The simulated network: latency and faults.  A real broker's network is real.
        if isinstance(broker, Broker):
            self._latency = broker.latency.sampler(self.rng)
            self._faults = broker.faults
            self._net_rng = broker.rng
            self._max_poll = float(broker.settings["max.poll.interval.ms"])
            self._read_committed = broker.settings["isolation.level"] == "read_committed"
        else:
            self._latency = _no_latency
            self._faults = None
            self._net_rng = self.rng
            self._max_poll = math.inf
            self._read_committed = False
        self.group = broker.group(group if group is not None else name)
        for t in topic_objs:
            self.group.subscribe(t)
        self.alive = False
        self.paused = False
        self.started = False
        # Evicted by the group (no poll within max.poll.interval.ms) and not back yet.
        self._evicted = False
        self._epoch = 0
        #: Deliveries in progress now (read it; only the consumer changes it).
        self.busy = 0
        self._rr = 0
        self._owned: list[PartitionState] = []
        self._inflight: dict[PartitionState, int] = {}
        # Partitions whose offset in flight is a failed one waiting for its retry.
        self._holding: set[PartitionState] = set()
        self._since_commit: dict[PartitionState, int] = {}
        #: When each event was handled, and its consistency lag (handled - event time).
        self.handled_at = array("d")
        self.lags = array("d")
        self.failures = 0
        broker.consumers.append(self)
        if start:
            self.start()

    @property
    def evicted(self) -> bool:
        """Whether the group evicted it (a handling outlasted ``max.poll.interval.ms``) and it has
        not rejoined yet."""
        return self._evicted

    def _poll_expired(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        # Kafka: a member that does not poll again within max.poll.interval.ms is considered
        # failed; the group rebalances without it (its partitions go to others, who redo the
        # event) and its late commit fails.  It rejoins at its next poll, after the handling.
        if epoch != self._epoch or generation != st.generation or st.inflight != offset:
            return
        if not self.alive or self._evicted:
            return
        sim = self.sim
        part = st.partition
        sim.trace.record(
            sim.now,
            "evicted",
            self.name,
            part.log[offset].id,
            part.topic.name,
            part.index,
            offset,
            f"still handling after max.poll.interval.ms={self._max_poll:g}: the group rebalances without it",
        )
        self._evicted = True
        self.group.leave(self, "was evicted (max.poll.interval.ms)")

    def _rejoin_after_eviction(self) -> None:
        """The handling that got it evicted ended: its next poll rejoins the group."""
        if self._evicted and not self._inflight and self.alive:
            self._evicted = False
            sim = self.sim
            sim.trace.record(sim.now, "joined", self.name, detail=self.group.name)
            self.group.join(self)

    @property
    def epoch(self) -> int:
        """How many times this consumer started a new life (crash, restart, stop)."""
        return self._epoch

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Join the group (once); partitions are assigned by a rebalance."""
        if self.started:
            raise ValueError(f"consumer {self.name!r} is already started")
        self.started = True
        self.alive = True
        sim = self.sim
        sim.trace.record(sim.now, "joined", self.name, detail=self.group.name)
        self.group.join(self)

    def crash(self) -> None:
        """Die now: work in progress is abandoned, nothing more is committed.

        It stops heartbeating: a Kafka group notices ``session_timeout``
        after its last heartbeat (between the session timeout less one
        heartbeat interval and the session timeout after the crash), removes
        it and rebalances; its partitions stay stopped until then.  At-most-once
        deliveries in progress are lost (already committed).
        """
        if not self.alive:
            raise ValueError(f"consumer {self.name!r} is not running, so it cannot crash")
        sim = self.sim
        self.alive = False
        self._evicted = False
        self._record_cut_off()
        self._epoch += 1
        sim.trace.record(sim.now, "crashed", self.name)
        abandoned = self._abandon("crashed after commit")
        # A crashed process forgets what it had not committed: if it comes back
        # before the group notices, it resumes from the committed offsets.
        for st in self._owned:
            if st.owner is self:
                st.rewind()
        self._release_all(abandoned)
        group = self.group
        if isinstance(group, Group):
            # It stops heartbeating: the group notices after its session timeout.
            group.crashed(self)
        else:
            group.leave(self)  # a queue broker sees the closed connection at once

    def _abandon(self, why: str) -> list[PartitionState]:
        """Drop every delivery in flight (a crash or a stop); at-most-once ones are lost."""
        abandoned = []
        for st, offset in self._inflight.items():
            if st.owner is self and st.inflight == offset:
                st.release()
                abandoned.append(st)
                if self.delivery == "at-most-once" and st not in self._holding:
                    self._lose(st, offset, why)
        self._inflight.clear()
        self._holding.clear()
        self.busy = 0
        return abandoned

    def _release_all(self, states: list[PartitionState]) -> None:
        # A rebalance that waited for this member's handling may go on now.
        for st in states:
            if st.revoking and st.owner is self:
                self.group.released(st)

    def _record_cut_off(self) -> None:
        # Called as the consumer dies or leaves, before its epoch moves on.  A
        # delivery's "delivered" record is written when its handling completes;
        # the completions still scheduled now never will, so write the records
        # of those whose event had arrived (the schedule holds all we need).
        sim = self.sim
        if not sim.trace.enabled:
            return
        epoch, now = self._epoch, sim.now
        cut = [
            c
            for c in sim.pending(self)
            if c.fn == self._complete and c.args[3] == epoch and c.args[4] <= now
        ]
        for call in sorted(cut, key=lambda c: c.args[4]):  # in order of arrival
            st, offset, generation, _, arrived, attempt, _ = call.args
            if generation == st.generation and self._inflight.get(st) == offset:
                self._trace_delivered(st.partition, offset, arrived, attempt)

    def restart(self) -> None:
        """Come back after a crash and rejoin the group.

        Back before the group noticed the crash, it joins as a new member:
        the old one keeps its partitions (stopped) until its session expires.
        """
        if self.alive:
            raise ValueError(f"consumer {self.name!r} is running; only a crashed consumer restarts")
        if not self.started:
            raise ValueError(f"consumer {self.name!r} was never started")
        sim = self.sim
        self.alive = True
        self._epoch += 1
        sim.trace.record(sim.now, "restarted", self.name)
        self.group.rejoin(self)

    def stop(self) -> None:
        """Leave the group gracefully: commit what is finished, hand partitions over."""
        if not self.alive:
            raise ValueError(f"consumer {self.name!r} is not running")
        sim = self.sim
        for st in list(self._owned):
            if st.done > st.committed:
                self._commit(st)
        self.alive = False
        self._record_cut_off()
        self._epoch += 1
        abandoned = self._abandon("stopped after commit")
        sim.trace.record(sim.now, "left", self.name)
        self._release_all(abandoned)
        self.group.leave(self)

    def pause(self) -> None:
        """Stop fetching (work in progress finishes); partitions stay owned."""
        if self.paused:
            raise ValueError(f"consumer {self.name!r} is already paused")
        self.paused = True
        self.sim.trace.record(self.sim.now, "paused", self.name)

    def resume(self) -> None:
        """Fetch again after :meth:`pause`."""
        if not self.paused:
            raise ValueError(f"consumer {self.name!r} is not paused")
        self.paused = False
        self.sim.trace.record(self.sim.now, "resumed", self.name)
        self.wake()
        resumed = getattr(self.group, "resumed", None)
        if resumed is not None:
            resumed(self)  # a queue subscription hands over what waited meanwhile

    # -- the member protocol: called by the group ----------------------------

    def assigned(self, state: PartitionState) -> None:
        """The group gives this consumer the partition of ``state``."""
        self._owned.append(state)
        self._owned.sort(key=lambda s: (self.topics.index(s.tp.topic), s.tp.partition))

    def revoked(self, state: PartitionState) -> bool:
        """The group takes the partition of ``state`` away.

        While its handler runs on an event of that partition, the consumer
        keeps it and answers ``False``; when the handling ends it lets go
        (the group's ``released``).  Otherwise it commits what it has
        finished (a live consumer, as Kafka's do on revoke), forgets the
        partition and answers ``True``.
        """
        if (
            self.alive
            and not self._evicted
            and state.owner is self
            and state.inflight is not None
            and self._inflight.get(state) == state.inflight
            and state not in self._holding
        ):
            return False
        if (
            self.alive
            and not self._evicted
            and state.owner is self
            and state.done > state.committed
        ):
            self._commit(state)
        if state in self._owned:
            self._owned.remove(state)
        if self._inflight.pop(state, None) is not None:
            self.busy -= 1
        self._holding.discard(state)
        self._since_commit.pop(state, None)
        return True

    def rewound(self, state: PartitionState) -> None:
        """The group reset the offsets of ``state``: a delivery in flight is stale, its slot free."""
        if self._inflight.pop(state, None) is not None:
            self.busy -= 1
        self._holding.discard(state)

    @property
    def assignment(self) -> list[str]:
        """The partitions this consumer owns now, as ``topic[p]`` strings."""
        return [str(st.tp) for st in self._owned]

    # -- handling --------------------------------------------------------------

    def handle(self, delivery: Delivery) -> Outcome:
        """Run the hooks for one delivery and say how it ended.

        The simulated delivery loop does this inline; a real broker backend
        (:mod:`evtlib.adapters.rabbitmq`) calls it from its delivery callback
        and maps the :class:`~evtlib.outcome.Outcome` to its acknowledgements.
        """
        return self._handle(delivery, None)

    def _handle(self, delivery: Delivery, st: PartitionState | None) -> Outcome:
        try:
            if self._plain:
                if self.handler is not None:
                    self.handler(delivery.event)
                result: object = None
            else:
                result = self.process(delivery)
        except Exception as exc:  # the handler's failure is data: traced and retried
            self._traced_failure(
                delivery.event, delivery.topic, delivery.partition, delivery.offset, exc
            )
            return failed(exc)
        if isinstance(result, Outcome) and result.kind != "ack":
            return result  # settled, dead-lettered or a retry: not counted as handled
        self._handled(st, delivery.event, delivery.topic, delivery.partition, delivery.offset)
        return ACK

    def _handled(
        self, st: PartitionState | None, event: Event, topic: str, partition: int, offset: int
    ) -> None:
        if st is not None:
            st.count_handled()
        sim = self.sim
        now = sim.now
        self.handled_at.append(now)
        self.lags.append(now - event.time)
        if sim.trace.enabled:
            sim.trace.record(now, "handled", self.name, event.id, topic, partition, offset)

    def _lose(self, st: PartitionState, offset: int, why: str) -> None:
        """Count and trace an event this group will never handle (at-most-once)."""
        st.count_lost()
        sim = self.sim
        sim.trace.record(
            sim.now,
            "lost",
            self.name,
            st.partition.log[offset].id,
            st.tp.topic,
            st.tp.partition,
            offset,
            why,
        )

    def _traced_failure(
        self, event: Event, topic: str, partition: int, offset: int, exc: Exception
    ) -> None:
        self.failures += 1
        sim = self.sim
        sim.trace.record(
            sim.now,
            "failed",
            self.name,
            event.id,
            topic,
            partition,
            offset,
            f"{type(exc).__name__}: {exc}",
        )

    def retry_after(self, delivery: Delivery, error: BaseException) -> float:
        """How long (ms) to wait before a failed delivery is tried again: a hook.

        Default: the constant ``retry_delay``.  A retry policy with backoff
        overrides this; the partition waits behind the failed event meanwhile.
        """
        return self.retry_delay

    def process(self, delivery: Delivery) -> object:
        """Handle one delivery: the hook a variant overrides.  Default: ``handler(event)``.

        Raise to fail (the delivery is retried).  Return an
        :class:`~evtlib.outcome.Outcome` to end it otherwise:
        :data:`~evtlib.outcome.SETTLED` says the event is finished with but
        was not handled (its offset is committed, and it is not counted or
        traced as handled); :func:`~evtlib.outcome.dead_letter` gives it up
        to a dead-letter topic.
        """
        if self.handler is not None:
            self.handler(delivery.event)
        return None

    # -- commits -------------------------------------------------------------

    def _commit(self, st: PartitionState) -> None:
        sim = self.sim
        committed = st.commit(sim.now)
        self._since_commit.pop(st, None)
        if sim.trace.enabled:
            sim.trace.record(
                sim.now, "committed", self.name, None, st.tp.topic, st.tp.partition, committed
            )

    def commit(self, topic: str, partition: int, offset: int) -> None:
        """Commit ``offset`` (the next event to read) for a partition this consumer owns.

        Only the log family has offsets: on a queue broker each message is
        acknowledged by itself, when its handling ends.
        """
        prof = getattr(self.broker, "profile", None)
        if prof is not None and prof.family == "queue":
            raise CommitError(
                f"{self.name} reads from a {prof.name} queue, which has no offsets to commit:"
                f" {prof.broker} acknowledges each message when its handling ends (the handler"
                " returns: acknowledged; it raises: delivered again). commit() is for the kafka"
                " profile's partitions"
            )
        st = self.group.states.get(TopicPartition(topic, partition))
        if st is None:
            raise KeyError(f"group {self.group.name!r} does not read {topic}[{partition}]")
        if st.owner is not self:
            raise CommitError(
                f"{self.name} does not own {topic}[{partition}], so it may not commit it"
            )
        end = len(st.partition.log)
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= end:
            raise ValueError(
                f"offset must be an int between 0 and the log end ({end}) of {topic}[{partition}], got {offset!r}"
            )
        sim = self.sim
        committed = st.commit_at(offset, sim.now)
        self._since_commit.pop(st, None)
        if sim.trace.enabled:
            sim.trace.record(sim.now, "committed", self.name, None, topic, partition, committed)

    def __repr__(self) -> str:
        state = "running" if self.alive else ("crashed" if self.started else "not started")
        if self.paused:
            state = "paused"
        return (
            f"<Consumer {self.name} group={self.group.name} {self.delivery} {state}"
            f" owns={self.assignment} handled={len(self.handled_at)}>"
        )

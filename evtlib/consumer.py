"""Consumers: members of a group that fetch, handle and commit events.

A :class:`Consumer` owns some partitions of the topics it subscribes to (the
group decides which).  For each owned partition it fetches the next event,
waits the network latency, spends its *service time* handling it, and
commits.  It handles one event at a time unless ``concurrency`` says
otherwise, and never two of the same partition at once, so events with the
same key are handled in the order they were published.

Delivery guarantees come from *when* it commits:

* ``"at-most-once"``: commit when the event is fetched, before the handler.
  A crash while handling loses the event (counted as ``lost``), never
  duplicates it.
* ``"at-least-once"``: commit after the handler succeeds (every
  ``commit_every`` events, and whenever the consumer catches up).  A crash
  after handling but before the commit makes the next owner handle the
  event again; nothing is lost.

A handler that raises is retried after ``retry_delay`` ms (at-least-once:
the partition waits behind it; at-most-once: the event is lost).  With
``ack_timeout`` set, a delivery not finished in time is given up and
delivered again, while the slow first attempt may still finish: a duplicate.

Variants override one hook, :meth:`Consumer.process`, which receives the
:class:`Delivery` and calls the handler.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from . import checks
from .broker import Broker, Partition, PartitionState
from .distributions import Duration, as_duration
from .errors import CommitError
from .events import Event

__all__ = ["Consumer", "Delivery", "ReadModel", "DELIVERY_MODES", "SETTLED"]

DELIVERY_MODES = ("at-least-once", "at-most-once")

#: Returned by :meth:`Consumer.process` for an event settled without being handled.
SETTLED = "settled"


class Delivery(NamedTuple):
    """One delivery of an event to a consumer, with where it came from."""

    event: Event
    topic: str
    partition: int
    offset: int
    attempt: int
    group: str
    consumer: str
    time: float


Handler = Callable[[Event], Any]


class Consumer:
    """A member of a consumer group that handles events from its partitions.

    Parameters
    ----------
    broker:
        The broker to read from (its simulation gives clock and randomness).
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
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        handler: Handler | None = None,
        *,
        group: str | None = None,
        service_time: Duration | float = 0.0,
        delivery: str = "at-least-once",
        commit_every: int = 1,
        concurrency: int = 1,
        ack_timeout: float | None = None,
        retry_delay: float = 100.0,
        start: bool = True,
    ) -> None:
        if not isinstance(broker, Broker):
            raise TypeError(f"broker must be a Broker, got {broker!r}")
        sim = broker.sim
        if isinstance(topics, str):
            topics = [topics]
        topic_list = list(topics)
        if not topic_list:
            raise ValueError("topics must name at least one topic, got an empty list")
        topic_objs = [broker.topic(t) for t in topic_list]
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be one of {DELIVERY_MODES}, got {delivery!r}")
        for pname, v in (("commit_every", commit_every), ("concurrency", concurrency)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{pname} must be an int >= 1, got {v!r}")
        if ack_timeout is not None and not (
            isinstance(ack_timeout, (int, float)) and ack_timeout > 0
        ):
            raise ValueError(f"ack_timeout must be > 0 ms or None, got {ack_timeout!r}")
        if ack_timeout is not None and delivery == "at-most-once":
            # At-most-once acknowledges on fetch: there is nothing left to time out or redeliver.
            raise ValueError(
                f"ack_timeout needs delivery='at-least-once', got ack_timeout={ack_timeout!r}"
                f" with delivery={delivery!r} (it acknowledges on fetch)"
            )
        retry_delay = checks.ms("retry_delay", retry_delay)
        self.name = sim.register_name(name, "consumer")
        self.broker = broker
        self.sim = sim
        self.topics = topic_list
        self.handler = handler
        self.service_time = as_duration(service_time, "service_time")
        self.delivery = delivery
        self.commit_every = commit_every
        self.concurrency = concurrency
        self.ack_timeout = ack_timeout
        self.retry_delay = float(retry_delay)
        self.rng = sim.rng_for(name)
        self._service = self.service_time.sampler(self.rng)
        # The default process() only calls the handler: skip the indirection.
        self._plain = type(self).process is Consumer.process
        self._latency = broker.latency.sampler(self.rng)
        self.group = broker.group(group if group is not None else name)
        for t in topic_objs:
            self.group._subscribe(t)
        self.alive = False
        self.paused = False
        self.started = False
        self._epoch = 0
        self._busy = 0
        self._rr = 0
        self._owned: list[PartitionState] = []
        self._inflight: dict[PartitionState, int] = {}
        self._since_commit: dict[PartitionState, int] = {}
        #: When each event was handled, and its consistency lag (handled - event time).
        self.handled_at = array("d")
        self.lags = array("d")
        self.failures = 0
        broker.consumers.append(self)
        if start:
            self.start()

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

        The group notices after its ``session_timeout`` and rebalances.
        At-most-once deliveries in progress are lost (already committed).
        """
        if not self.alive:
            raise ValueError(f"consumer {self.name!r} is not running, so it cannot crash")
        sim = self.sim
        self.alive = False
        self._record_cut_off()
        self._epoch += 1
        sim.trace.record(sim.now, "crashed", self.name)
        for st, offset in self._inflight.items():
            if st.owner is self and st.inflight == offset:
                st.inflight = None
                if self.delivery == "at-most-once":
                    self._lose(st, offset, "crashed after commit")
        self._inflight.clear()
        self._busy = 0
        # A crashed process forgets what it had not committed: if it comes back
        # before the group notices, it resumes from the committed offsets.
        for st in self._owned:
            if st.owner is self:
                st.position = st.done = st.committed
                st.generation += 1
        timeout = self.group.session_timeout
        if timeout:
            sim.post(sim.now + timeout, self._expire, (self._epoch,))
        else:
            self.group.leave(self)

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

    def _trace_delivered(self, part: Partition, offset: int, arrived: float, attempt: int) -> None:
        self.sim.trace.record(
            arrived,
            "redelivered" if attempt > 1 else "delivered",
            self.name,
            part.log[offset].id,
            part.topic.name,
            part.index,
            offset,
            None if attempt == 1 else f"attempt {attempt}",
        )

    def _expire(self, epoch: int) -> None:
        if epoch == self._epoch and not self.alive:
            self.group.leave(self)

    def restart(self) -> None:
        """Come back after a crash and rejoin the group."""
        if self.alive:
            raise ValueError(f"consumer {self.name!r} is running; only a crashed consumer restarts")
        if not self.started:
            raise ValueError(f"consumer {self.name!r} was never started")
        sim = self.sim
        self.alive = True
        self._epoch += 1
        sim.trace.record(sim.now, "restarted", self.name)
        if self in self.group.members:
            self.group.members.remove(self)
        self.group.join(self)

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
        for st, offset in self._inflight.items():
            if st.owner is self:
                if self.delivery == "at-most-once" and st.inflight == offset:
                    # Committed at fetch and abandoned now: nobody will deliver it again.
                    self._lose(st, offset, "stopped after commit")
                st.inflight = None
        self._inflight.clear()
        self._busy = 0
        sim.trace.record(sim.now, "left", self.name)
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
        self._pump()

    # -- called by the group -------------------------------------------------

    def _assign(self, st: PartitionState) -> None:
        self._owned.append(st)
        self._owned.sort(key=lambda s: (self.topics.index(s.tp.topic), s.tp.partition))

    def _revoke(self, st: PartitionState) -> None:
        if st in self._owned:
            self._owned.remove(st)
        if self._inflight.pop(st, None) is not None:
            self._busy -= 1
        self._since_commit.pop(st, None)

    @property
    def assignment(self) -> list[str]:
        """The partitions this consumer owns now, as ``topic[p]`` strings."""
        return [str(st.tp) for st in self._owned]

    # -- the delivery loop ---------------------------------------------------

    def _pump(self) -> None:
        """Start deliveries while there is a free slot and something to fetch."""
        if not self.alive or self.paused:
            return
        owned = self._owned
        n = len(owned)
        if not n:
            return
        while self._busy < self.concurrency:
            rr = self._rr if self._rr < n else 0  # the owned list may have shrunk
            for k in range(n):
                i = rr + k
                if i >= n:
                    i -= n
                st = owned[i]
                if st.skipped and st.position in st.skipped:
                    self._skip_dropped(st)
                if st.inflight is None and st.position < len(st.partition.log):
                    self._rr = i + 1 if i + 1 < n else 0
                    self._fetch(st)
                    break
            else:
                return

    def _skip_dropped(self, st: PartitionState) -> None:
        # A rewind (crash, rebalance) must not bring back what the buffer dropped.
        skipped = st.skipped
        while st.position in skipped:
            if st.done == st.position:
                st.done += 1
            st.position += 1

    def _fetch(self, st: PartitionState) -> None:
        sim = self.sim
        offset = st.position
        st.position = offset + 1
        st.inflight = offset
        self._inflight[st] = offset
        self._busy += 1
        if offset <= st.max_delivered:
            attempt = st.attempts.get(offset, 1) + 1
            st.attempts[offset] = attempt
            st.redelivered += 1
        else:
            attempt = 1
            st.max_delivered = offset
        part = st.partition
        topic = part.topic
        if topic._blocked:
            sim.post(sim.now, self.broker._room_freed, (topic,), 0)
        now = sim.now
        if self.delivery == "at-most-once":
            st.committed = st.done = offset + 1
            st.commits.append((now, offset + 1))
            st.last_commit = now
            sim.trace.record(now, "committed", self.name, None, topic.name, part.index, offset + 1)
        arrive = now + self._latency()
        service = self._service
        faults = self.broker.faults
        dup = False
        if faults is not None and faults.active:
            r = self.broker.rng.random
            if faults.drop and r() < faults.drop:
                sim.post(arrive, self._dropped, (st, offset, st.generation, self._epoch))
                return
            if faults.delay and r() < faults.delay:
                extra = faults.extra.sample(self.broker.rng)  # type: ignore[union-attr]
                sim.trace.record(
                    now,
                    "delayed",
                    self.name,
                    part.log[offset].id,
                    topic.name,
                    part.index,
                    offset,
                    f"+{extra:g} ms",
                )
                arrive += extra
            dup = bool(faults.duplicate and r() < faults.duplicate)
        done = arrive + service()
        sim.post(
            done, self._complete, (st, offset, st.generation, self._epoch, arrive, attempt, dup)
        )
        if self.ack_timeout is not None:
            sim.post(
                now + self.ack_timeout, self._timeout, (st, offset, st.generation, self._epoch)
            )

    def _dropped(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        if epoch != self._epoch:
            return
        sim = self.sim
        part = st.partition
        event = part.log[offset]
        sim.trace.record(
            sim.now,
            "dropped",
            self.name,
            event.id,
            part.topic.name,
            part.index,
            offset,
            "lost in the network",
        )
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self._busy -= 1
        if generation == st.generation and st.inflight == offset:
            st.inflight = None
            if self.delivery == "at-most-once":
                st.lost += 1
            else:
                st.position = offset  # fetch it again
        self._pump()

    def _timeout(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        if epoch != self._epoch or generation != st.generation or st.inflight != offset:
            return
        sim = self.sim
        part = st.partition
        sim.trace.record(
            sim.now,
            "timeout",
            self.name,
            part.log[offset].id,
            part.topic.name,
            part.index,
            offset,
            f"not finished within {self.ack_timeout:g} ms",
        )
        # The delivery is given up: a new generation, the offset fetched again.
        st.generation += 1
        st.inflight = None
        # Only at-least-once consumers have an ack timeout (the constructor insists).
        st.position = st.committed if st.committed <= offset else offset
        st.done = min(st.done, st.position)
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self._busy -= 1
        self._pump()

    def _complete(
        self,
        st: PartitionState,
        offset: int,
        generation: int,
        epoch: int,
        arrived: float,
        attempt: int,
        dup: bool,
    ) -> None:
        if epoch != self._epoch:
            return  # crashed meanwhile: the work never finished
        sim = self.sim
        part = st.partition
        event = part.log[offset]
        topic = part.topic.name
        trace = sim.trace
        stale = generation != st.generation or st.owner is not self
        if trace.enabled:
            self._trace_delivered(part, offset, arrived, attempt)
        delivery: Delivery | None = None
        if self._plain:
            # The common case inline (no Delivery, no hook): call the handler.
            error = None
            try:
                if self.handler is not None:
                    self.handler(event)
            except Exception as exc:  # the handler's failure is data: traced and retried
                error = self._failed(event, topic, part.index, offset, exc)
            else:
                st.handled += 1
                now = sim.now
                self.handled_at.append(now)
                self.lags.append(now - event.time)
                if trace.enabled:
                    trace.record(now, "handled", self.name, event.id, topic, part.index, offset)
        else:
            delivery = Delivery(
                event, topic, part.index, offset, attempt, self.group.name, self.name, arrived
            )
            error = self._run_handler(delivery, st)
        if epoch != self._epoch:
            return  # crashed inside the handler: it never got to commit
        ok = error is None
        if ok and dup:
            trace.record(sim.now, "duplicated", self.name, event.id, topic, part.index, offset)
            if delivery is None:
                delivery = Delivery(
                    event, topic, part.index, offset, attempt, self.group.name, self.name, arrived
                )
            self._run_handler(delivery, st)
        if stale:
            # The partition moved on (rebalance or timeout): the effect happened,
            # but this consumer may not commit it; the new owner will redo it.
            if not ok and self.delivery == "at-most-once":
                # Committed at fetch, so the new owner will not redo it: a loss.
                self._lose(st, offset, "handler failed after commit")
            trace.record(sim.now, "commit-rejected", self.name, event.id, topic, part.index, offset)
            return
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self._busy -= 1
        st.inflight = None
        if ok:
            st.done = offset + 1
            if self.delivery == "at-least-once":
                if self.commit_every == 1 and not st.skipped and not st.attempts:
                    # Commit right after the handler, inline (what _commit does).
                    now = sim.now
                    st.committed = offset + 1
                    st.commits.append((now, offset + 1))
                    st.last_commit = now
                    if trace.enabled:
                        trace.record(
                            now, "committed", self.name, None, topic, part.index, offset + 1
                        )
                    self._pump()
                    return
                n = self._since_commit.get(st, 0) + 1
                if n >= self.commit_every or st.position >= len(part.log):
                    self._commit(st)
                else:
                    self._since_commit[st] = n
        else:
            if self.delivery == "at-least-once":
                st.generation += 1
                if delivery is None:
                    delivery = Delivery(
                        event,
                        topic,
                        part.index,
                        offset,
                        attempt,
                        self.group.name,
                        self.name,
                        arrived,
                    )
                delay = self.retry_after(delivery, error)  # type: ignore[arg-type]
                if not delay:
                    st.position = offset
                else:
                    # Hold the partition until the retry is due.
                    st.inflight = offset
                    self._inflight[st] = offset
                    self._busy += 1
                    sim.post(sim.now + delay, self._retry, (st, offset, st.generation, self._epoch))
                    return
            else:
                self._lose(st, offset, "handler failed after commit")
        self._pump()

    def _retry(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        if epoch != self._epoch or generation != st.generation or st.inflight != offset:
            return
        st.inflight = None
        st.position = offset
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self._busy -= 1
        self._pump()

    def handle(self, delivery: Delivery, state: Any) -> float | None:
        """Run the hooks for one delivery; ``None`` when done, else the wait (ms) before a retry.

        The simulated delivery loop does this inline; a real broker backend
        (:mod:`evtlib.adapters.rabbitmq`) calls it from its delivery callback
        and then acknowledges (``None``) or gives the message back after the
        wait.  ``state`` counts ``handled`` (a :class:`PartitionState`, or the
        backend's own per-partition record).
        """
        error = self._run_handler(delivery, state)
        return None if error is None else self.retry_after(delivery, error)

    def _lose(self, st: PartitionState, offset: int, why: str) -> None:
        """Count and trace an event this group will never handle (at-most-once)."""
        st.lost += 1
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

    def _failed(
        self, event: Event, topic: str, partition: int, offset: int, exc: Exception
    ) -> Exception:
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
        return exc

    def _run_handler(self, delivery: Delivery, st: PartitionState) -> Exception | None:
        sim = self.sim
        try:
            if self._plain:
                if self.handler is not None:
                    self.handler(delivery.event)
                outcome = None
            else:
                outcome = self.process(delivery)
        except Exception as exc:  # the handler's failure is data: traced and retried
            return self._failed(
                delivery.event, delivery.topic, delivery.partition, delivery.offset, exc
            )
        if outcome is SETTLED:
            return None  # finished with, not handled (for example dead-lettered): commit only
        st.handled += 1
        now = sim.now
        self.handled_at.append(now)
        self.lags.append(now - delivery.event.time)
        if sim.trace.enabled:
            sim.trace.record(
                now,
                "handled",
                self.name,
                delivery.event.id,
                delivery.topic,
                delivery.partition,
                delivery.offset,
            )
        return None

    def retry_after(self, delivery: Delivery, error: Exception) -> float:
        """How long (ms) to wait before a failed delivery is tried again: a hook.

        Default: the constant ``retry_delay``.  A retry policy with backoff
        overrides this; the partition waits behind the failed event meanwhile.
        """
        return self.retry_delay

    def process(self, delivery: Delivery) -> object:
        """Handle one delivery: the hook a variant overrides.  Default: ``handler(event)``.

        Raise to fail (the delivery is retried).  Return :data:`SETTLED` to say
        the event is finished with but was not handled (for example it was
        dead-lettered): its offset is committed, and it is not counted or
        traced as handled.
        """
        if self.handler is not None:
            self.handler(delivery.event)

    # -- commits -------------------------------------------------------------

    def _commit(self, st: PartitionState) -> None:
        sim = self.sim
        if st.skipped:
            while st.done in st.skipped:
                st.done += 1
            st.skipped = {o for o in st.skipped if o >= st.done}
            if st.position < st.done:
                st.position = st.done
        st.committed = st.done
        st.commits.append((sim.now, st.done))
        if st.attempts:
            for off in [o for o in st.attempts if o < st.done]:
                del st.attempts[off]
        st.last_commit = sim.now
        self._since_commit.pop(st, None)
        if sim.trace.enabled:
            sim.trace.record(
                sim.now, "committed", self.name, None, st.tp.topic, st.tp.partition, st.done
            )

    def commit(self, topic: str, partition: int, offset: int) -> None:
        """Commit ``offset`` (the next event to read) for a partition this consumer owns."""
        st = self.group.states.get((topic, partition))  # type: ignore[call-overload]
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
        st.done = offset
        self._commit(st)

    def __repr__(self) -> str:
        state = "running" if self.alive else ("crashed" if self.started else "not started")
        if self.paused:
            state = "paused"
        return (
            f"<Consumer {self.name} group={self.group.name} {self.delivery} {state}"
            f" owns={self.assignment} handled={len(self.handled_at)}>"
        )


class ReadModel(Consumer):
    """A consumer that folds events into a state: a query-side view.

    ``fold(state, event) -> new state`` is applied to every event in order;
    :attr:`state` is the result so far and :attr:`positions` the next offset
    it has applied in each partition, so a caller can ask whether the model
    has caught up with a write (:meth:`has_applied`).
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        fold: Callable[[Any, Event], Any],
        initial: Any = None,
        **kwargs: Any,
    ) -> None:
        if not callable(fold):
            raise TypeError(f"fold must be callable, got {fold!r}")
        self.fold = fold
        self.state = {} if initial is None else initial
        self.initial = self.state
        self.positions: dict[tuple[str, int], int] = {}
        self.applied = 0
        super().__init__(broker, name, topics, None, **kwargs)

    def retry_after(self, delivery: Delivery, error: Exception) -> float:
        """How long (ms) to wait before a failed delivery is tried again: a hook.

        Default: the constant ``retry_delay``.  A retry policy with backoff
        overrides this; the partition waits behind the failed event meanwhile.
        """
        return self.retry_delay

    def process(self, delivery: Delivery) -> None:
        self.state = self.fold(self.state, delivery.event)
        self.positions[(delivery.topic, delivery.partition)] = delivery.offset + 1
        self.applied += 1

    def has_applied(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the event at ``offset`` of ``topic[partition]`` is in :attr:`state`."""
        return self.positions.get((topic, partition), 0) > offset

    def caught_up(self) -> bool:
        """Whether every published event of its topics has been applied."""
        return all(
            self.positions.get((t, p.index), 0) >= len(p.log)
            for t in self.topics
            for p in self.broker.topic(t).partitions
        )

    def __repr__(self) -> str:
        return f"<ReadModel {self.name} applied={self.applied} state={_short(self.state)}>"


def _short(state: Any, limit: int = 60) -> str:
    text = repr(dict(state) if isinstance(state, Mapping) else state)
    return text if len(text) <= limit else text[: limit - 3] + "..."

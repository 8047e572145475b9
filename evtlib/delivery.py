"""The delivery loop of a consumer on the simulated broker.

For each partition it owns, a consumer fetches the next offset, the event
crosses the simulated network (latency; faults drop, delay or duplicate it),
the handler runs for the service time, and the delivery is *settled*: its
:class:`~evtlib.outcome.Outcome` is mapped to offsets in one place,
:meth:`DeliveryLoop._settle`.  Every change of offsets is a call on the
partition's :class:`~evtlib.offsets.PartitionState`, which keeps its rule.

:class:`DeliveryLoop` is the part of :class:`~evtlib.consumer.Consumer` that
does this; the consumer adds its lifecycle, the member protocol, the
handling hooks and commits.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .broker import NetworkFaults, Partition
from .distributions import as_duration
from .events import Event
from .offsets import PartitionState
from .outcome import ACK, Outcome, failed

if TYPE_CHECKING:  # pragma: no cover
    from .group import Group
    from .protocols import BrokerBackend, DeliveryMode, Member, Runner

__all__ = ["Delivery", "DeliveryLoop"]


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


class DeliveryLoop:
    """Fetch, deliver, handle and settle: the consumer's loop on the simulated broker."""

    # What the consumer provides (see :class:`~evtlib.consumer.Consumer`).
    name: str
    handled_at: array
    lags: array
    sim: Runner
    broker: BrokerBackend
    group: Group
    handler: Callable[[Event], Any] | None
    delivery: DeliveryMode
    commit_every: int
    concurrency: int
    ack_timeout: float | None
    alive: bool
    paused: bool
    _epoch: int
    busy: int
    _rr: int
    _plain: bool
    _owned: list[PartitionState]
    _inflight: dict[PartitionState, int]
    _holding: set[PartitionState]
    _since_commit: dict[PartitionState, int]
    _latency: Callable[[], float]
    _service: Callable[[], float]
    _faults: NetworkFaults | None
    _net_rng: random.Random
    _max_poll: float
    _read_committed: bool
    _evicted: bool

    def _handle(self, delivery: Delivery, st: PartitionState | None) -> Outcome:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _handled(
        self, st: PartitionState | None, event: Event, topic: str, partition: int, offset: int
    ) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _traced_failure(
        self, event: Event, topic: str, partition: int, offset: int, exc: Exception
    ) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _lose(self, st: PartitionState, offset: int, why: str) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _commit(self, st: PartitionState) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _poll_expired(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def _rejoin_after_eviction(self) -> None:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def retry_after(self, delivery: Delivery, error: BaseException) -> float:
        raise NotImplementedError  # pragma: no cover - the consumer's

    def wake(self) -> None:
        """Start deliveries while there is a free slot and something to fetch."""
        if not self.alive or self.busy >= self.concurrency:
            return
        owned = self._owned
        n = len(owned)
        if not n:
            return
        group = self.group
        if group.awaiting and self in group.awaiting:
            # A poll while a rebalance waits for this member: it rejoins first (eager:
            # revoking every partition), and the group wakes it again when it is over.
            group.rejoined(cast("Member", self))  # the consumer is the member
            owned = self._owned
            n = len(owned)
            if not n or not self.alive or self.busy >= self.concurrency:
                return
        if self.paused:
            return
        now = self.sim.now
        while self.busy < self.concurrency:
            rr = self._rr if self._rr < n else 0  # the owned list may have shrunk
            for k in range(n):
                i = rr + k
                if i >= n:
                    i -= n
                st = owned[i]
                if st.inflight is not None or st.revoking:
                    continue
                part = st.partition
                limit = len(part.log)
                if part.check_at <= now or st.position < part.start:
                    limit = self._tidy(st, now)  # rare: retention, compaction, transactions
                if st.position < limit:
                    self._rr = i + 1 if i + 1 < n else 0
                    self._fetch(st)
                    break
            else:
                return

    def _tidy(self, st: PartitionState, now: float) -> int:
        """Before fetching: apply retention, step over what the log no longer holds (or what
        an aborted transaction wrote, for ``read_committed``); return how far it may fetch."""
        part = st.partition
        if part.expires_at <= now:
            part.topic.expire()
        if st.position < part.start:
            self._fell_off(st)
        if part.removed and st.position in part.removed:
            st.skip_removed(part.removed)
        if self._read_committed:
            while part.aborted and st.position in part.aborted:
                st.skip_removed(part.aborted)
                if part.removed:
                    st.skip_removed(part.removed)
            return part.stable_end
        return len(part.log)

    def _fetch(self, st: PartitionState) -> None:
        sim = self.sim
        offset = st.position
        attempt = st.fetch()
        self._inflight[st] = offset
        self.busy += 1
        part = st.partition
        topic = part.topic
        now = sim.now
        if self.delivery == "at-most-once":
            st.commit_fetched(offset, now)
            sim.trace.record(now, "committed", self.name, None, topic.name, part.index, offset + 1)
        arrive = now + self._latency()
        service = self._service
        faults = self._faults
        dup = False
        if faults is not None and faults.active:
            rng = self._net_rng
            r = rng.random
            if faults.drop and r() < faults.drop:
                sim.post(arrive, self._dropped, (st, offset, st.generation, self._epoch))
                return
            if faults.delay and r() < faults.delay:
                extra = as_duration(faults.extra, "extra").sample(rng)
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
        if done - now > self._max_poll:  # known at fetch: only slow handlings pay for this
            sim.post(
                now + self._max_poll, self._poll_expired, (st, offset, st.generation, self._epoch)
            )

    def _fell_off(self, st: PartitionState) -> None:
        """Retention deleted events this group had not read: reset by ``auto.offset.reset``."""
        part = st.partition
        topic = part.topic
        reset = self.group.start  # the group's auto.offset.reset
        to = part.start if reset == "earliest" else len(part.log)
        sim = self.sim
        for offset in st.fell_off(to, sim.now):
            if offset not in part.removed:
                sim.trace.record(
                    sim.now,
                    "lost",
                    self.group.name,
                    part.log[offset].id,
                    topic.name,
                    part.index,
                    offset,
                    f"deleted by retention before {self.group.name} read it;"
                    f" auto.offset.reset={reset} moved it to {to}",
                )

    def _free(self, st: PartitionState, offset: int) -> None:
        """The slot of the delivery of ``offset`` is free again."""
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self.busy -= 1
        self._holding.discard(st)

    def _ended(self, st: PartitionState) -> None:
        """A delivery of ``st`` ended: a hand-over that waited for it goes on now."""
        if st.revoking and st.owner is self:
            self.group.released(st)

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
        self._free(st, offset)
        if generation == st.generation and st.inflight == offset:
            if self.delivery == "at-most-once":
                st.release()
                self._lose(st, offset, "lost in the network after commit")
            else:
                st.refetch(offset)  # fetch it again
            self._ended(st)
        self.wake()

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
        # (Only at-least-once consumers have an ack timeout: the constructor insists.)
        st.time_out(offset)
        self._free(st, offset)
        self._ended(st)
        self.wake()

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
        part = st.partition
        event = part.log[offset]
        topic = part.topic.name
        stale = generation != st.generation or st.owner is not self
        if self.sim.trace.enabled:
            self._trace_delivered(part, offset, arrived, attempt)
        delivery: Delivery | None = None
        outcome: Outcome
        if self._plain:
            # The common case inline (no Delivery, no hook): call the handler.
            try:
                if self.handler is not None:
                    self.handler(event)
            except Exception as exc:  # the handler's failure is data: traced and retried
                self._traced_failure(event, topic, part.index, offset, exc)
                outcome = failed(exc)
            else:
                # What _handled does, inline: this is the hot path.  (The partition's
                # handled count is kept by _settle, with the commit.)
                sim = self.sim
                now = sim.now
                self.handled_at.append(now)
                self.lags.append(now - event.time)
                if sim.trace.enabled:
                    sim.trace.record(now, "handled", self.name, event.id, topic, part.index, offset)
                outcome = ACK
        else:
            delivery = Delivery(
                event, topic, part.index, offset, attempt, self.group.name, self.name, arrived
            )
            outcome = self._handle(delivery, None)  # _settle counts it for the partition
        if epoch != self._epoch:
            return  # crashed inside the handler: it never got to commit
        if outcome.kind == "dead-letter":
            self._publish_letter(outcome)
        if dup and outcome.kind in ("ack", "settled", "dead-letter"):
            self.sim.trace.record(
                self.sim.now, "duplicated", self.name, event.id, topic, part.index, offset
            )
            if delivery is None:
                delivery = Delivery(
                    event, topic, part.index, offset, attempt, self.group.name, self.name, arrived
                )
            again = self._handle(delivery, st)
            if again.kind == "dead-letter":
                self._publish_letter(again)
        self._settle(st, offset, outcome, stale, delivery, arrived, attempt)

    def _publish_letter(self, outcome: Outcome) -> None:
        # The simulated broker has no dead-letter queue of its own: the letter is published.
        assert outcome.topic is not None
        self.broker.publish(outcome.topic, outcome.letter, actor=self.name)

    def _settle(
        self,
        st: PartitionState,
        offset: int,
        outcome: Outcome,
        stale: bool,
        delivery: Delivery | None,
        arrived: float,
        attempt: int,
    ) -> None:
        """Map a delivery's :class:`~evtlib.outcome.Outcome` to offsets: the one place.

        (A dead letter's letter is published by :meth:`_complete` first.)
        """
        sim = self.sim
        kind = outcome.kind
        if stale:
            # The partition moved on (a timeout or a hand-over): the effect happened,
            # but this consumer may not commit it; the new owner will redo it.
            if kind == "ack":
                st.count_handled()
            if kind == "failed" and self.delivery == "at-most-once":
                # Committed at fetch, so the new owner will not redo it: a loss.
                self._lose(st, offset, "handler failed after commit")
            part = st.partition
            sim.trace.record(
                sim.now,
                "commit-rejected",
                self.name,
                part.log[offset].id,
                part.topic.name,
                part.index,
                offset,
                "CommitFailedException: evicted from the group (max.poll.interval.ms)"
                if self._evicted
                else None,
            )
            if self._evicted:
                self._rejoin_after_eviction()
            return
        # The slot is free again (what _free does, inline: this is the hot path).
        if self._inflight.get(st) == offset:
            del self._inflight[st]
            self.busy -= 1
        if self._holding:
            self._holding.discard(st)
        if kind == "failed" or kind == "retry":
            if self.delivery == "at-most-once":
                st.release()
                self._lose(st, offset, "handler failed after commit")
            elif st.revoking:
                st.release()  # no retry here: the next owner starts at the committed offset
            else:
                if kind == "retry":
                    delay = outcome.delay
                else:
                    if delivery is None:
                        part = st.partition
                        delivery = Delivery(
                            part.log[offset],
                            part.topic.name,
                            part.index,
                            offset,
                            attempt,
                            self.group.name,
                            self.name,
                            arrived,
                        )
                    assert outcome.error is not None
                    delay = self.retry_after(delivery, outcome.error)
                if delay:
                    # Hold the partition until the retry is due.
                    st.hold(offset)
                    self._inflight[st] = offset
                    self._holding.add(st)
                    self.busy += 1
                    sim.post(sim.now + delay, self._retry, (st, offset, st.generation, self._epoch))
                    return
                st.hold(offset)
                st.refetch(offset)
            self._ended(st)
            self.wake()
            return
        # ack, settled, dead-letter: the offset is done.
        handled = kind == "ack"
        if self.delivery == "at-least-once":
            if self.commit_every == 1 and not st.attempts:
                # Commit right after the handler, inline (what _commit does).
                st.commit_done(offset, sim.now, handled)
                if sim.trace.enabled:
                    sim.trace.record(
                        sim.now,
                        "committed",
                        self.name,
                        None,
                        st.tp.topic,
                        st.tp.partition,
                        offset + 1,
                    )
            else:
                if handled:
                    st.count_handled()
                st.finish(offset)
                n = self._since_commit.get(st, 0) + 1
                if n >= self.commit_every or st.position >= len(st.partition.log):
                    self._commit(st)
                else:
                    self._since_commit[st] = n
        else:
            if handled:
                st.count_handled()
            st.finish(offset)
        if st.revoking and st.owner is self:  # what _ended does, inline
            self.group.released(st)
        self.wake()

    def _retry(self, st: PartitionState, offset: int, generation: int, epoch: int) -> None:
        if epoch != self._epoch or generation != st.generation or st.inflight != offset:
            return
        st.refetch(offset)
        self._free(st, offset)
        self._ended(st)
        self.wake()

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

"""Consumer groups: members, who owns which partition, and the group's offsets.

Every group sees every event of its topics (fan-out); inside a group each
partition has one owner (competing consumers).  The group talks to its
members only through the member protocol (:class:`~evtlib.protocols.Member`:
``assigned``, ``revoked``, ``rewound``, ``wake``), as Kafka's group
coordinator talks to a consumer through its rebalance listener.

Membership runs as Kafka's classic group protocol does:

* **Heartbeats.**  A member heartbeats every ``heartbeat.interval.ms`` from a
  background thread (KIP-62), so a slow handler does not stop them (that is
  what ``max.poll.interval.ms`` is for).  A crashed process stops
  heartbeating; the coordinator removes it ``session.timeout.ms`` after its
  last heartbeat, so a crash is noticed between ``session_timeout -
  heartbeat_interval`` and ``session_timeout`` after it happens.  Until then
  its partitions stay stopped.  Nothing is scheduled per heartbeat: the
  expiry is computed once, when the process dies.  A graceful stop leaves at
  once (LeaveGroup).  A process restarted before its old member expired
  joins as a *new* member; the old one still holds its partitions until it
  expires.
* **Rebalances.**  A join, a leave or an expiry starts a rebalance; it
  completes only when every member has rejoined at its next poll (an idle
  member at once, a busy one when its handling ends; a member that never
  does is removed when its session, or ``max.poll.interval.ms``, runs out).
  With ``partition.assignment.strategy="eager"`` (Kafka's default
  ``[RangeAssignor, CooperativeStickyAssignor]`` rebalances eagerly) every
  member revokes *all* its partitions as it rejoins, and nothing flows until
  the rebalance completes.  With ``"cooperative-sticky"`` members keep their
  partitions; only those that move are revoked, and a second round hands
  them to their new owners.  Either way a partition is handed over only
  after its former owner let go, so two members never handle it at once.

Simplifications, stated: members hear of a rebalance at their next poll with
no network time; the eager assignment is round-robin in join order
(:func:`assign`; Kafka's RangeAssignor gives contiguous ranges by member id);
:attr:`Group.stops` records which partitions stopped, when and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .offsets import PartitionState, TopicPartition

if TYPE_CHECKING:  # pragma: no cover
    from .broker import Broker, Topic
    from .protocols import Member

__all__ = ["Group", "Stop", "STRATEGIES", "assign", "sticky_assign"]

#: The rebalance protocols evtlib simulates (``partition.assignment.strategy``).
STRATEGIES = ("eager", "cooperative-sticky")


def assign(tp: TopicPartition, live: Sequence[Any]) -> Any | None:
    """The live member that owns ``tp``: round-robin in join order over the members that read its topic.

    Every backend's group assigns partitions with this one rule (the eager
    rebalance of the simulated Kafka group too).
    """
    eligible = [m for m in live if tp.topic in m.topics]
    return eligible[tp.partition % len(eligible)] if eligible else None


def sticky_assign(
    states: Sequence[PartitionState], members: Sequence[Any]
) -> dict[TopicPartition, Any | None]:
    """A balanced assignment that moves as few partitions as it can (the sticky assignors' goal).

    Per topic, every member that reads it gets ``n // k`` or ``n // k + 1``
    of its ``n`` partitions; a partition stays with its owner while that
    owner is under its share; the rest go to the least loaded members, in
    join order.
    """
    target: dict[TopicPartition, Any | None] = {}
    topics: dict[str, list[PartitionState]] = {}
    for st in states:
        topics.setdefault(st.tp.topic, []).append(st)
    for topic, sts in topics.items():
        eligible = [m for m in members if topic in m.topics]
        if not eligible:
            for st in sts:
                target[st.tp] = None
            continue
        base, extra = divmod(len(sts), len(eligible))
        count = {id(m): 0 for m in eligible}
        mine = {id(m) for m in eligible}
        rest = []
        for st in sts:  # keep each owner's partitions up to its share
            o = st.owner
            if o is not None and id(o) in mine and count[id(o)] < base:
                target[st.tp] = o
                count[id(o)] += 1
            else:
                rest.append(st)
        moving = []
        for st in rest:  # and one more for as many owners as there are extra partitions
            o = st.owner
            if o is not None and id(o) in mine and count[id(o)] == base and extra > 0:
                target[st.tp] = o
                count[id(o)] += 1
                extra -= 1
            else:
                moving.append(st)
        for st in moving:
            m = min(eligible, key=lambda m: count[id(m)])  # min keeps join order on ties
            target[st.tp] = m
            count[id(m)] += 1
    return target


class Stop(NamedTuple):
    """A partition that did not flow from ``start`` to ``end`` (``None``: still stopped), and why."""

    partition: str
    start: float
    end: float | None
    why: str

    @property
    def length(self) -> float | None:
        """How long it stopped, in ms (``None`` while it is still stopped)."""
        return None if self.end is None else self.end - self.start


class _OldMember:
    """The member a crashed process left behind when it restarted before the group noticed.

    It holds that process's partitions (stopped) until its session expires;
    it never heartbeats, polls or handles anything.
    """

    busy = 0
    concurrency = 0  # a publish never wakes it
    alive = False

    def __init__(self, member: Member) -> None:
        self.of = member.name
        self.name = f"{member.name}(old)"
        self.topics = list(member.topics)

    def assigned(self, state: Any) -> None:
        pass

    def revoked(self, state: Any) -> bool:
        return True

    def rewound(self, state: Any) -> None:
        pass

    def wake(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<old member of {self.of}, not expired yet>"


class Group:
    """A consumer group: its members, who owns which partition, offsets and rebalances.

    ``session_timeout`` (ms) is how long the coordinator waits without a
    heartbeat before it removes a crashed member; ``None`` takes the
    broker's ``session.timeout.ms`` (Kafka's: 45 s); 0 notices a crash at
    once (a simplification no real broker offers).  The strategy and the
    heartbeat interval are the broker's ``partition.assignment.strategy``
    and ``heartbeat.interval.ms``.
    """

    def __init__(
        self, broker: Broker, name: str, start: str, session_timeout: float | None = None
    ) -> None:
        settings = broker.settings
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = float(
            settings["session.timeout.ms"] if session_timeout is None else session_timeout
        )
        self.heartbeat_interval = float(settings["heartbeat.interval.ms"])
        self.strategy: str = settings["partition.assignment.strategy"]
        self._rebalance_timeout = float(settings["max.poll.interval.ms"])
        self.topics: list[str] = []
        self.members: list[Member] = []
        self.states: dict[TopicPartition, PartitionState] = {}
        #: Rebalance rounds completed (a cooperative rebalance that moves partitions takes two).
        self.rebalances = 0
        #: Whether a rebalance is in progress, and the members it still waits for.
        self.rebalancing = False
        self.awaiting: list[Member] = []
        self._round = 0  # which round of the rebalance in progress (cooperative: 1, 2...)
        self._rounds_started = 0
        self._round_owners: dict[TopicPartition, str | None] = {}
        self._joined_at: dict[int, float] = {}  # by id(member): the phase of its heartbeats
        self._sessions: dict[int, tuple[Any, float]] = {}  # token -> (dead member, last heartbeat)
        self._tokens = 0
        self._stopped: dict[TopicPartition, tuple[float, str, str | None]] = {}
        self._stops: list[Stop] = []
        self._unrecorded: list[tuple[float, str, PartitionState, str]] = []
        self._polling = 0

    # -- membership ----------------------------------------------------------

    def subscribe(self, topic: Topic) -> None:
        """Read ``topic`` too: one state per partition, starting per :attr:`start`."""
        if topic.name in self.topics:
            return
        self.topics.append(topic.name)
        self.partitions_added(topic)

    def partitions_added(self, topic: Topic) -> None:
        """Read the partitions of ``topic`` this group has no state for yet (new ones start empty)."""
        topic.expire()  # "earliest" is the log start as retention leaves it now
        for part in topic.partitions:
            if (topic.name, part.index) in self.states:
                continue
            start = part.start if self.start == "earliest" else len(part.log)
            st = PartitionState(self, part, start)
            part.states.append(st)
            self.states[st.tp] = st

    def join(self, member: Member) -> None:
        """Add ``member`` (its JoinGroup) and rebalance."""
        if member in self.members:
            raise ValueError(f"consumer {member.name!r} is already a member of group {self.name!r}")
        self.members.append(member)
        self._joined_at[id(member)] = self.broker.sim.now
        self.rebalance()

    def leave(self, member: Member, reason: str = "left") -> None:
        """Remove ``member`` now (a graceful LeaveGroup, or an eviction) and rebalance."""
        if member in self.members:
            self._remove(member, f"{member.name} {reason}")

    def crashed(self, member: Member) -> None:
        """``member``'s process died: its partitions stop, and its heartbeats with them.

        The coordinator removes it ``session_timeout`` after its last
        heartbeat (at once if the session timeout is 0).  Heartbeats go out
        every ``heartbeat_interval`` from its join; a session timeout no
        longer than the interval (which Kafka refuses) counts from the crash
        itself.
        """
        sim = self.broker.sim
        now = sim.now
        for st in self.states.values():
            if st.owner is member:
                self._stop(st, f"{member.name} crashed")
        if member not in self.members:
            return
        timeout = self.session_timeout
        if not timeout:
            self._remove(member, f"{member.name} crashed")
            return
        beat = self.heartbeat_interval
        last = now
        if beat < timeout:
            joined = self._joined_at.get(id(member), now)
            last = min(now, joined + math.floor((now - joined) / beat) * beat)
        self._tokens += 1
        expires = last + timeout
        self._sessions[self._tokens] = (member, last)
        sim.post(expires, self._expire, (self._tokens,))
        if self.rebalancing:
            self._bound_rebalance()

    def rejoin(self, member: Member) -> None:
        """``member``'s process is back after a crash: it joins as a new member.

        If the group has not noticed the crash yet, the old member stays
        (its partitions stopped) until its session expires.
        """
        if member in self.members:
            old = _OldMember(member)
            self.members[self.members.index(member)] = old
            self._joined_at[id(old)] = self._joined_at.pop(id(member), 0.0)
            if member in self.awaiting:
                self.awaiting[self.awaiting.index(member)] = old
            for token, (dead, last) in self._sessions.items():
                if dead is member:
                    self._sessions[token] = (old, last)
            for st in self.states.values():
                if st.owner is member:
                    member.revoked(st)  # the new process remembers nothing of it
                    st.hand_over(old)
        self.join(member)

    def _expire(self, token: int) -> None:
        entry = self._sessions.pop(token, None)
        if entry is None:
            return
        member, last = entry
        if member not in self.members or member.alive:
            return
        sim = self.broker.sim
        who = member.of if isinstance(member, _OldMember) else member.name
        sim.trace.record(
            sim.now,
            "left",
            who,
            detail=f"session timeout: no heartbeat since {last:g} ms"
            f" (session.timeout.ms={self.session_timeout:g}); the coordinator removed it",
        )
        self._remove(member, f"{who} crashed")

    def _remove(self, member: Member, why: str) -> None:
        before = None if self.rebalancing else self._owners()
        self.members.remove(member)
        self._joined_at.pop(id(member), None)
        for token in [t for t, (m, _) in self._sessions.items() if m is member]:
            del self._sessions[token]
        if member in self.awaiting:
            self.awaiting.remove(member)
        for st in self.states.values():
            if st.owner is member:
                self._stop(st, why)
                member.revoked(st)  # a member that left or was removed lets go at once
                st.hand_over(None)
        self.rebalance(before)

    # -- rebalancing ---------------------------------------------------------

    def rebalance(self, owners: dict[TopicPartition, str | None] | None = None) -> None:
        """Start a rebalance, or go on with the one in progress.

        Every member rejoins at its next poll (:meth:`rejoined`); when all
        have, and every revoked partition has been let go, partitions are
        handed out (:meth:`_complete`).  ``owners`` is who owned what before
        the change that started it (the "rebalanced" record lists what moved).
        """
        if not self.rebalancing:
            self.rebalancing = True
            self._round = 0
            self._begin_round(owners)
        self._try_complete()

    def _owners(self) -> dict[TopicPartition, str | None]:
        return {
            tp: (st.owner.name if st.owner is not None else None) for tp, st in self.states.items()
        }

    def _begin_round(self, owners: dict[TopicPartition, str | None] | None = None) -> None:
        self._round += 1
        self._rounds_started += 1
        self._round_owners = self._owners() if owners is None else owners
        self.awaiting = list(self.members)
        self._bound_rebalance()
        self._polling += 1  # revocations are traced after every idle member rejoined
        for m in list(self.awaiting):
            if m.alive and m.busy < m.concurrency:  # polling now: it rejoins at once
                self.rejoined(m)
        self._polling -= 1

    def _bound_rebalance(self) -> None:
        # A member that never rejoins is removed after max.poll.interval.ms (the rebalance
        # timeout), unless its session runs out first: only dead members need the bound.
        sim = self.broker.sim
        deadline = sim.now + self._rebalance_timeout
        for _, (m, last) in self._sessions.items():
            if m in self.awaiting and last + self.session_timeout > deadline:
                sim.post(deadline, self._rebalance_timed_out, (self._rounds_started,))
                return

    def _rebalance_timed_out(self, round_id: int) -> None:
        if not self.rebalancing or round_id != self._rounds_started:
            return
        for m in [m for m in self.awaiting if not m.alive]:
            sim = self.broker.sim
            who = m.of if isinstance(m, _OldMember) else m.name
            sim.trace.record(
                sim.now,
                "left",
                who,
                detail=f"did not rejoin within the rebalance timeout"
                f" (max.poll.interval.ms={self._rebalance_timeout:g}); the coordinator removed it",
            )
            self._remove(m, f"{who} crashed")

    def rejoined(self, member: Member) -> None:
        """``member`` polled while the rebalance waits for it: it rejoins.

        Eager: it revokes every partition it owns first (committing what it
        finished), as Kafka's ``onPartitionsRevoked`` does before the
        JoinGroup.  Cooperative: it keeps them.
        """
        if member not in self.awaiting:
            return
        self.awaiting.remove(member)
        if self.strategy == "eager":
            for st in self.states.values():
                if st.owner is member and not st.revoking:
                    self._revoke(st, "eager rebalance: every partition revoked")
        self._try_complete()

    def _revoke(self, st: PartitionState, why: str) -> None:
        owner = st.owner
        assert owner is not None
        self._stop(st, why, owner.name if owner.alive else None)
        if owner.revoked(st):
            st.hand_over(None)
        else:
            st.revoking = True  # it is handling an event of st: released() follows

    def released(self, st: PartitionState) -> None:
        """The owner of ``st`` finished the handling its revocation waited for: it lets go now."""
        if not st.revoking:
            return
        owner = st.owner
        st.revoking = False
        if owner is not None and not owner.revoked(st):
            st.revoking = True  # still busy with it (a duplicate delivery): wait again
            return
        st.hand_over(None)
        self._try_complete()

    def _try_complete(self) -> None:
        if self.rebalancing and not self.awaiting:
            if not any(st.revoking for st in self.states.values()):
                self._complete()
        self._flush()

    def _complete(self) -> None:
        """Every member rejoined and every revoked partition was let go: hand partitions out."""
        members = list(self.members)
        if self.strategy == "eager":
            for tp, st in self.states.items():
                new = assign(tp, members)
                if st.owner is None and new is not None:
                    self._give(st, new)
            self._finish_round(last=True)
            return
        target = sticky_assign(list(self.states.values()), members)
        moving = False
        for tp, st in self.states.items():
            new = target[tp]
            if st.owner is None:
                if new is not None:
                    self._give(st, new)
            elif st.owner is not new:
                self._revoke(st, f"cooperative rebalance: moves to {new.name if new else 'nobody'}")
                moving = True
        self._finish_round(last=not moving)
        if moving:
            self._begin_round()  # the revoking members rejoin: a second round hands them out
            self._try_complete()

    def _finish_round(self, last: bool) -> None:
        sim = self.broker.sim
        changes = [
            f"{tp}->{st.owner.name if st.owner else '-'}"
            for tp, st in self.states.items()
            if (st.owner.name if st.owner else None) != self._round_owners.get(tp)
        ]
        detail = ", ".join(changes) or "no change"
        if self.strategy != "eager":
            detail = f"round {self._round} ({self.strategy}): {detail}"
        self.rebalances += 1
        sim.trace.record(sim.now, "rebalanced", self.name, detail=detail)
        if last:
            self.rebalancing = False
            self._round = 0
            for m in self.members:
                if m.alive:
                    m.wake()

    def _give(self, st: PartitionState, member: Member) -> None:
        st.hand_over(member)
        member.assigned(st)
        if not member.alive:
            return
        since = self._stopped.pop(st.tp, None)
        if since is None:
            return
        start, why, _ = since
        sim = self.broker.sim
        now = sim.now
        if now > start:  # a rebalance that completed at once stopped nothing
            self._stops.append(Stop(str(st.tp), start, now, why))
            sim.trace.record(
                now,
                "assigned",
                member.name,
                None,
                st.tp.topic,
                st.tp.partition,
                st.committed,
                f"{st.tp} stopped {now - start:g} ms ({why})",
            )

    def _stop(self, st: PartitionState, why: str, by: str | None = None) -> None:
        if st.tp in self._stopped:
            return
        now = self.broker.sim.now
        self._stopped[st.tp] = (now, why, by)
        if by is not None:
            self._unrecorded.append((now, by, st, why))

    def _flush(self) -> None:
        # A revocation is traced once it is clear the partition stops for a while: a
        # rebalance that completes at once (every member idle) hands it back at once.
        if not self._unrecorded or self._polling:
            return
        sim = self.broker.sim
        for time, by, st, why in self._unrecorded:
            since = self._stopped.get(st.tp)
            if since is not None and since[0] == time:
                sim.trace.record(
                    time, "revoked", by, None, st.tp.topic, st.tp.partition, st.committed, why
                )
        self._unrecorded.clear()

    @property
    def stops(self) -> list[Stop]:
        """Every time a partition stopped (an owner crashed or left, a rebalance revoked it).

        Closed intervals first, in the order they ended, then the partitions
        still stopped now (``end=None``).
        """
        still = [Stop(str(tp), start, None, why) for tp, (start, why, _) in self._stopped.items()]
        return self._stops + sorted(still, key=lambda s: (s.start, s.partition))

    # -- offsets -------------------------------------------------------------

    def reset_offsets(self, offset: int | str = "earliest") -> None:
        """Move every partition's committed offset (a replay, or a skip to the end).

        ``offset`` is ``"earliest"``, ``"latest"`` or an int offset applied to
        every partition (clamped to the log).  Owners restart from there.
        """
        if offset not in ("earliest", "latest") and (
            isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
        ):
            raise ValueError(f"offset must be 'earliest', 'latest' or an int >= 0, got {offset!r}")
        now = self.broker.sim.now
        for name in self.topics:
            self.broker.topic(name).expire()
        for st in self.states.values():
            end = len(st.partition.log)
            if isinstance(offset, int):
                new = min(offset, end)
            else:
                new = st.partition.start if offset == "earliest" else end
            st.reset(new, now)
            if st.owner is not None:
                st.owner.rewound(st)
        self.broker.sim.trace.record(now, "rewind", self.name, detail=f"reset to {offset}")
        for m in self.members:
            if m.alive:
                m.wake()

    def lag(self) -> int:
        """Total lag: events published but not committed, over all partitions."""
        return sum(st.lag for st in self.states.values())

    def assignment(self) -> dict[str, str | None]:
        """Who owns each partition: ``{"orders[0]": "billing-1", ...}``."""
        return {str(tp): (st.owner.name if st.owner else None) for tp, st in self.states.items()}

    def stats(self) -> dict[str, int]:
        """Counts over every partition: the terms of the conservation law.

        ``published = handled_first + in_flight + waiting + dropped + lost
        + expired``, where ``handled_first`` counts each offset once, however
        many times it was handled, and ``expired`` counts what retention
        deleted before the group read it.
        """
        published = sum(len(st.partition.log) for st in self.states.values())
        in_flight = sum(1 for st in self.states.values() if st.inflight is not None)
        waiting = sum(st.waiting for st in self.states.values())
        return {
            "published": published,
            "committed": sum(st.committed for st in self.states.values()),
            "lag": self.lag(),
            "in_flight": in_flight,
            "waiting": waiting,
            "handled": sum(st.handled for st in self.states.values()),
            "redelivered": sum(st.redelivered for st in self.states.values()),
            "dropped": sum(st.dropped for st in self.states.values()),
            "lost": sum(st.lost for st in self.states.values()),
            "expired": sum(st.expired for st in self.states.values()),
        }

    def __repr__(self) -> str:
        names = [m.name + ("" if m.alive else "(down)") for m in self.members]
        state = (
            f" rebalancing(waits for {[m.name for m in self.awaiting]})" if self.rebalancing else ""
        )
        return f"<Group {self.name} topics={self.topics} members={names} lag={self.lag()}{state}>"

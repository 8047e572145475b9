"""Consumer groups: members, who owns which partition, and the group's offsets.

Every group sees every event of its topics (fan-out); inside a group each
partition has one owner (competing consumers).  When a member joins, leaves
or crashes the group *rebalances*: it talks to its members only through the
member protocol (:class:`~evtlib.protocols.Member`: ``assigned``,
``revoked``, ``rewound``, ``wake``), as Kafka's group coordinator talks to a
consumer through its rebalance listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .offsets import PartitionState, TopicPartition

if TYPE_CHECKING:  # pragma: no cover
    from .broker import Broker, Topic
    from .protocols import Member

__all__ = ["Group", "assign"]


def assign(tp: TopicPartition, live: Sequence[Any]) -> Any | None:
    """The live member that owns ``tp``: round-robin in join order over the members that read its topic.

    Every backend's group assigns partitions with this one rule.
    """
    eligible = [m for m in live if tp.topic in m.topics]
    return eligible[tp.partition % len(eligible)] if eligible else None


class Group:
    """A consumer group: its members, who owns which partition, and offsets."""

    def __init__(self, broker: Broker, name: str, start: str, session_timeout: float) -> None:
        self.broker = broker
        self.name = name
        self.start = start
        self.session_timeout = session_timeout
        self.topics: list[str] = []
        self.members: list[Member] = []
        self.states: dict[TopicPartition, PartitionState] = {}
        self.rebalances = 0

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
        """Add ``member`` and rebalance."""
        if member in self.members:
            raise ValueError(f"consumer {member.name!r} is already a member of group {self.name!r}")
        self.members.append(member)
        self.rebalance()

    def leave(self, member: Member) -> None:
        """Remove ``member`` (gracefully or after a crash) and rebalance."""
        if member in self.members:
            self.members.remove(member)
            self.rebalance()

    def rejoin(self, member: Member) -> None:
        """``member`` comes back after a crash: it joins again (once), and the group rebalances."""
        if member in self.members:
            self.members.remove(member)
        self.join(member)

    def rebalance(self) -> None:
        """Give every partition one live owner, round-robin in join order.

        A partition that changes owner is handed over at the committed
        offset: the new owner starts there.  The former owner is told first
        (:meth:`Member.revoked`), as Kafka's rebalance listener is: a live
        one commits what it has finished and lets go.  If it is handling an
        event of that partition just then, it lets go when that handling
        ends, so two members never handle one partition at once.
        """
        sim = self.broker.sim
        live = [m for m in self.members if m.alive]
        changes = []
        for tp, st in self.states.items():
            new = assign(tp, live)
            if st.revoking:
                st.next_owner = new  # a hand-over already waits: it goes to the newest choice
                continue
            if new is st.owner:
                continue
            changes.append(f"{tp}->{new.name if new else '-'}")
            self._move(st, new)
        self.rebalances += 1
        sim.trace.record(sim.now, "rebalanced", self.name, detail=", ".join(changes) or "no change")
        for m in live:
            m.wake()

    def _move(self, st: PartitionState, new: Member | None) -> None:
        old = st.owner
        if old is not None and not old.revoked(st):
            st.revoking = True  # it is handling an event of st: it calls released() after
            st.next_owner = new
            return
        st.hand_over(new)
        if new is not None:
            new.assigned(st)

    def released(self, st: PartitionState) -> None:
        """The owner of ``st`` finished the handling a rebalance waited for: hand it over now."""
        if not st.revoking:
            return
        st.revoking = False
        new = st.next_owner
        st.next_owner = None
        if new is st.owner:
            return
        if new is not None and (not new.alive or new not in self.members):
            new = None
        self._move(st, new)
        if new is not None:
            new.wake()

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
        return f"<Group {self.name} topics={self.topics} members={names} lag={self.lag()}>"

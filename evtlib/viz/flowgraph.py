"""The event-flow graph: who publishes where, and who reads what.

:func:`flow_graph` reads a running system (a :class:`~evtlib.Broker` and
everything attached to it) into a :class:`networkx.DiGraph`.  A log
(profile ``"kafka"``):

    producer -> topic -> partition -> group -> consumer -> read model

A queue broker (:class:`~evtlib.queues.QueueBroker`: profiles ``"rabbitmq"``,
``"sqs"``, ``"sqs-fifo"``, ``"service-bus"``) fans a topic out to one queue
per subscription, and the broker's own dead-letter queue hangs off each
queue that has one:

    producer -> topic (exchange) -> queue (one per subscription) -> consumer
                                        +-> dead-letter queue

Each node has a ``kind`` (producer, topic, dlq, partition, queue, group,
consumer, readmodel), a ``label`` to print and a ``layer`` (its column, left
to right), plus a snapshot of its state: how many events wait in each
partition for each group (or in each queue), what is in flight (a queue
broker's word for it: RabbitMQ "unacked", SQS "in flight", Service Bus
"locked"), what the broker dead-lettered, who crashed.  :func:`draw_flow`
draws it.

The layout is computed, not simulated: each layer is a column, and nodes
keep the order in which the system created them.  The same system always
gives the same picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from .. import checks
from ..broker import Broker
from ..metrics import lag_at
from ..protocols import BrokerBackend
from ..queues import QueueBroker
from ..readmodel import ReadModel
from ..trace import Trace
from .describe import note
from .style import COLORS

__all__ = ["flow_graph", "trace_graph", "layered_layout", "draw_flow", "LAYERS", "node_id"]

#: The column of each kind of node, left to right.
LAYERS = {
    "producer": 0,
    "topic": 1,
    "dlq": 1,
    "partition": 2,
    "queue": 2,
    "group": 3,
    "consumer": 4,
    "readmodel": 5,
}

_SHAPES = {  # one shape per role: colour is never the only way to tell them apart
    "producer": ">",
    "topic": "s",
    "dlq": "v",
    "partition": "d",
    "queue": "8",
    "group": "h",
    "consumer": "o",
    "readmodel": "D",
}


def node_id(kind: str, name: str) -> str:
    """The id of a node in a flow graph: ``"consumer:billing-1"``.

    Partitions are ``"partition:orders[0]"``, dead-letter topics
    ``"dlq:orders.dlq"``, a queue broker's subscription queues
    ``"queue:billing"`` and their dead-letter queues ``"dlq:billing (dead letters)"``.
    """
    return f"{kind}:{name}"


def _is_dlq(name: str, extra: Iterable[str]) -> bool:
    return name.endswith(".dlq") or name.endswith("-dlq") or name in extra


def _crashed_at(trace: Trace, t: float) -> set[str]:
    """Consumers that were down at time ``t``, read from the trace."""
    down: set[str] = set()
    for r in trace.filter(kind=("crashed", "restarted", "joined"), until=t):
        if r.kind == "crashed":
            down.add(r.actor)
        else:
            down.discard(r.actor)
    return down


def flow_graph(
    broker: Broker, *, at: float | None = None, dead_letter: Iterable[str] = ()
) -> nx.DiGraph:
    """The event-flow graph of ``broker`` and everything attached to it.

    Parameters
    ----------
    broker:
        The running system: its producers, topics, groups and consumers.
    at:
        Take the snapshot at this simulated time (ms) instead of now.  The
        waiting counts are then the consumer lag at that time (published
        minus committed, from the broker's history) and crashes are read
        from the trace; what was in flight is only known for "now".
    dead_letter:
        Names of dead-letter topics besides those ending in ``.dlq``/``-dlq``.

    Node attributes: ``kind``, ``label``, ``layer`` and, where they apply,
    ``end`` (partition log end), ``lag`` (group), ``alive``, ``in_flight``
    and ``owns`` (consumers).  Partition -> group edges carry ``waiting``.
    """
    checks.instance("broker", broker, BrokerBackend, "Broker")
    dead = list(dead_letter)
    now = broker.sim.now if at is None else float(at)
    down = _crashed_at(broker.sim.trace, now) if at is not None else None
    g: nx.DiGraph[str] = nx.DiGraph(at=now, snapshot=f"t={now:g} ms")

    def add(kind: str, name: str, label: str | None = None, **attrs: Any) -> str:
        nid = node_id(kind, name)
        attrs.setdefault("layer", LAYERS[kind])
        g.add_node(nid, kind=kind, name=name, label=label or name, **attrs)
        return nid

    if isinstance(broker, QueueBroker):
        _queue_graph(g, broker, add, now, down, dead)
        return g

    for p in broker.producers:
        add("producer", p.name, blocked=bool(getattr(p, "blocked", False)))
    for t in broker.topics.values():
        kind = "dlq" if _is_dlq(t.name, dead) else "topic"
        tid = add(kind, t.name)
        for part in t.partitions:
            end = sum(1 for x in part.appended if x <= now) if at is not None else len(part.log)
            pid = add("partition", f"{t.name}[{part.index}]", end=end)
            g.add_edge(tid, pid)
    for p in broker.producers:
        g.add_edge(node_id("producer", p.name), _topic_node(g, p.topic.name))
    for grp in broker.groups.values():
        gid = add("group", grp.name, lag=0)
        for tp, st in grp.states.items():
            if at is None:
                waiting, lag = st.waiting, st.lag
            else:
                waiting = lag = lag_at(st, now)
            g.nodes[gid]["lag"] += lag
            g.add_edge(node_id("partition", str(tp)), gid, waiting=waiting, lag=lag)
    for c in broker.consumers:
        alive = c.alive if down is None else (c.started and c.name not in down)
        owns = c.assignment if at is None else []
        in_flight = None
        if at is None:  # what this consumer is handling now, from the group's public state
            in_flight = sum(
                1 for st in c.group.states.values() if st.owner is c and st.inflight is not None
            )
        cid = add("consumer", c.name, alive=alive, owns=owns, in_flight=in_flight)
        g.add_edge(node_id("group", c.group.name), cid)
        if isinstance(c, ReadModel):
            rid = add("readmodel", c.name, f"{c.name}\nview")
            g.add_edge(cid, rid)
    _publishing_consumers(g, broker, now)
    return g


#: Each queue profile's words: what its topic is, what a subscription's queue is, what a
#: message held by a consumer is called, and where the broker puts its dead letters.
QUEUE_WORDS: dict[str, dict[str, str]] = {
    "rabbitmq": {
        "topic": "exchange",
        "queue": "quorum queue",
        "held": "unacked",
        "dead": "dead-letter queue (DLX)",
    },
    "sqs": {
        "topic": "SNS topic",
        "queue": "SQS queue",
        "held": "in flight",
        "dead": "dead-letter queue (redrive policy)",
    },
    "sqs-fifo": {
        "topic": "SNS FIFO topic",
        "queue": "SQS FIFO queue",
        "held": "in flight",
        "dead": "dead-letter queue (redrive policy)",
    },
    "service-bus": {
        "topic": "topic",
        "queue": "subscription",
        "held": "locked",
        "dead": "$DeadLetterQueue",
    },
}


def _holders(broker: QueueBroker, sub: Any) -> dict[str, int]:
    """How many of ``sub``'s in-flight messages each member holds (unacknowledged).

    Read from ``sub.holding()`` (every delivery a member holds now) where the
    subscription has it; otherwise from the trace: a message in flight was
    last delivered to its holder (the latest ``delivered``/``redelivered``
    record of its id by a member), and one still on the wire, with no such
    record yet, counts under ``""``.
    """
    holding = getattr(sub, "holding", None)
    if callable(holding):
        out: dict[str, int] = {}
        for d in holding():
            out[d.consumer] = out.get(d.consumer, 0) + 1
        return out
    held = [e.id for e in sub.in_flight()]
    if not held:
        return {}
    members = {c.name for c in sub.members}
    last: dict[str, str] = {}
    wanted = set(held)
    for r in broker.sim.trace.filter(kind=("delivered", "redelivered")):
        if r.event_id is not None and r.event_id in wanted and r.actor in members:
            last[r.event_id] = r.actor
    out = {}
    for eid in held:
        who = last.get(eid, "")
        out[who] = out.get(who, 0) + 1
    return out


def _queue_graph(
    g: nx.DiGraph, broker: QueueBroker, add: Any, now: float, down: set[str] | None, dead: list
) -> None:
    """The flow graph of a queue broker: topic -> one queue per subscription -> consumers.

    The numbers (waiting, in flight, dead letters) are the queue's state now;
    with ``at`` (a past time) only the structure and who was down are shown.
    """
    words = QUEUE_WORDS.get(broker.profile.name, QUEUE_WORDS["sqs"])
    snap = down is None
    for p in broker.producers:
        add("producer", p.name, blocked=bool(getattr(p, "blocked", False)))
    for t in broker.topics.values():
        kind = "dlq" if _is_dlq(t.name, dead) else "topic"
        add(kind, t.name, f"{t.name}\n({words['topic']})", published=t.published)
    for p in broker.producers:
        g.add_edge(node_id("producer", p.name), _topic_node(g, p.topic.name))
    for sub in broker.groups.values():
        stats = sub.stats() if snap else {}
        qid = add(
            "queue",
            sub.name,
            f"{sub.name}\n{words['queue']}",
            aliases=[node_id("group", sub.name)],
            waiting=stats.get("waiting"),
            in_flight=stats.get("in_flight"),
            held_word=words["held"],
        )
        for name in sub.topics:
            tid = _topic_node(g, name)
            if tid in g:
                g.add_edge(tid, qid, fanout=True)
        # The broker's own dead-letter queue: where the profile has one (SQS only with a
        # redrive policy), or where something was dead-lettered.
        n_dead = stats.get("dead_lettered", 0)
        if sub.rules.max_deliveries is not None or n_dead:
            did = add(
                "dlq",
                f"{sub.name} (dead letters)",
                f"{sub.name}\n{words['dead']}",
                layer=LAYERS["group"],
                below=True,
                dead_letters=n_dead if snap else None,
                native=True,
            )
            g.add_edge(qid, did, moved=n_dead if snap else None)
        holders = _holders(broker, sub) if snap else {}
        for c in broker.consumers:  # crashed members too: a subscription forgets them
            if c.group is not sub:
                continue
            alive = c.alive if down is None else (c.started and c.name not in down)
            cid = add(
                "consumer",
                c.name,
                alive=alive,
                owns=[],
                in_flight=holders.get(c.name, 0) if snap else None,
                held_word=words["held"],
            )
            g.add_edge(qid, cid)
            if isinstance(c, ReadModel):
                rid = add("readmodel", c.name, f"{c.name}\nview")
                g.add_edge(cid, rid)
    _publishing_consumers(g, broker, now)


def _publishing_consumers(g: nx.DiGraph, broker: Any, now: float | None) -> None:
    """Consumers that publish (reactions, dead-lettering), found in the trace: an edge to the topic."""
    for r in broker.sim.trace.filter(kind="published", until=now):
        src = node_id("consumer", r.actor)
        if src in g and r.topic is not None:
            dst = _topic_node(g, r.topic)
            if dst in g and not g.has_edge(src, dst):
                g.add_edge(src, dst)


def _topic_node(g: nx.DiGraph, name: str) -> str:
    tid = node_id("topic", name)
    return tid if tid in g else node_id("dlq", name)


def trace_graph(trace: Trace) -> nx.DiGraph:
    """A flow graph read from a trace alone: publishers -> topics -> partitions -> consumers.

    Useful when only the trace is at hand (no broker): it has no groups or
    snapshot, just who published to and who received from each partition.
    A queue broker's trace (deliveries without partitions) gets one queue
    per subscription instead, known from each consumer's ``joined`` record.
    """
    g: nx.DiGraph[str] = nx.DiGraph(at=None, snapshot=None)
    member_of = {r.actor: r.detail for r in trace.filter(kind="joined") if r.detail}
    for r in trace:
        if r.topic is None or r.kind not in ("published", "delivered", "redelivered"):
            continue
        kind = "dlq" if _is_dlq(r.topic, ()) else "topic"
        tid = node_id(kind, r.topic)
        g.add_node(tid, kind=kind, name=r.topic, label=r.topic, layer=LAYERS[kind])
        if r.kind == "published":
            if r.partition is not None:  # a log: the partition it was appended to
                pname = f"{r.topic}[{r.partition}]"
                pid = node_id("partition", pname)
                g.add_node(pid, kind="partition", name=pname, label=pname, layer=2)
                g.add_edge(tid, pid)
            who = node_id("producer", r.actor)
            if node_id("consumer", r.actor) in g:
                who = node_id("consumer", r.actor)
            elif who not in g:
                g.add_node(who, kind="producer", name=r.actor, label=r.actor, layer=0)
            g.add_edge(who, tid)
            continue
        if r.partition is None:  # a queue broker: the topic feeds the subscription's queue
            group = member_of.get(r.actor, r.actor)
            src = node_id("queue", group)
            if src not in g:
                g.add_node(
                    src,
                    kind="queue",
                    name=group,
                    label=f"{group}\nqueue",
                    layer=LAYERS["queue"],
                    aliases=[node_id("group", group)],
                )
            g.add_edge(tid, src)
        else:
            pname = f"{r.topic}[{r.partition}]"
            src = node_id("partition", pname)
            g.add_node(src, kind="partition", name=pname, label=pname, layer=2)
            g.add_edge(tid, src)
        cid = node_id("consumer", r.actor)
        if cid not in g:
            g.add_node(cid, kind="consumer", name=r.actor, label=r.actor, layer=4, alive=True)
        g.add_edge(src, cid)
    return g


def layered_layout(g: nx.DiGraph, *, dx: float = 1.0, dy: float = 1.0) -> dict[str, tuple]:
    """Positions for a layered graph: one column per ``layer``, top to bottom.

    Nodes keep the order they were added in, so the picture is the same on
    every run.  Columns are centred on y = 0 and empty layers are skipped;
    nodes with ``below=True`` go under the lowest node of the graph.
    """
    columns: dict[int, list[str]] = {}
    below: dict[int, list[str]] = {}
    for n, data in g.nodes(data=True):
        where = below if data.get("below") else columns
        where.setdefault(data.get("layer", 0), []).append(n)
    pos = {}
    xs = {layer: x for x, layer in enumerate(sorted(set(columns) | set(below)))}
    for layer, nodes in columns.items():
        top = (len(nodes) - 1) / 2
        for i, n in enumerate(nodes):
            pos[n] = (xs[layer] * dx, (top - i) * dy)
    # Nodes marked ``below`` (a queue broker's dead-letter queues) go under everything
    # else in their column, so the arrows to the consumers do not run through them.
    floor = min((y for _, y in pos.values()), default=0.0)
    for layer, nodes in below.items():
        for i, n in enumerate(nodes):
            pos[n] = (xs[layer] * dx, floor - (i + 1) * dy)
    return pos


def draw_flow(
    broker_or_graph: Broker | nx.DiGraph,
    ax: Any = None,
    *,
    snapshot: bool = True,
    highlight: Iterable[str] = (),
    at: float | None = None,
    title: str | None = None,
) -> Any:
    """Draw the event-flow graph; return the Axes.

    Parameters
    ----------
    broker_or_graph:
        A :class:`~evtlib.Broker` (its graph is built with :func:`flow_graph`)
        or a graph from :func:`flow_graph` / :func:`trace_graph`.
    ax:
        Axes to draw on (default: a new figure).
    snapshot:
        Also show the state: events waiting per partition for each group,
        events in flight, and crashed consumers (grey, with a red X).  On a
        queue broker: each queue's waiting and held messages, each consumer's
        held messages (in the broker's word: unacked, in flight, locked) and
        what the broker moved to each dead-letter queue.
    highlight:
        Node ids or names to ring in orange (the player uses it for the
        actors of the current step).
    at:
        With a broker: the snapshot time (see :func:`flow_graph`).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if isinstance(broker_or_graph, nx.DiGraph):
        g = broker_or_graph
    else:
        g = flow_graph(broker_or_graph, at=at)
    queues = any(d["kind"] == "queue" for _, d in g.nodes(data=True))
    dy = 1.4 if queues else 1.0  # a queue's label has three lines
    pos = layered_layout(g, dx=2.2, dy=dy)
    if ax is None:
        ys = [p[1] for p in pos.values()] or [0.0]
        n_rows = (max(ys) - min(ys)) / dy + 1
        _, ax = plt.subplots(figsize=(10, max(3.0, 0.7 * dy * n_rows + 1.6)), layout="constrained")
    wanted = set(highlight)

    def hot_node(n: str) -> bool:
        d = g.nodes[n]
        return n in wanted or d["name"] in wanted or any(a in wanted for a in d.get("aliases", ()))

    # Edges first, underneath.  A back edge (right to left: a consumer that
    # publishes) curves so it does not run through the nodes it passes.
    for u, v, data in g.edges(data=True):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        back = x1 <= x0
        hot = hot_node(u) and hot_node(v)
        to_dead_letters = bool(g.nodes[v].get("native"))
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops=dict(
                arrowstyle="-|>",
                color="#E07B00" if hot else ("#C44E52" if back else "#8C8C8C"),
                lw=2.0 if hot else 1.0,
                shrinkA=11,
                shrinkB=11,
                connectionstyle="arc3,rad=0.35" if back else "arc3,rad=0",
                linestyle="--" if back else (":" if to_dead_letters else "-"),
            ),
            zorder=1,
        )
        if snapshot and data.get("waiting"):
            ax.text(
                x0 + 0.62 * (x1 - x0),
                y0 + 0.62 * (y1 - y0),
                f"{data['waiting']}",
                fontsize=10,
                ha="center",
                va="center",
                color="#7A3E00",
                bbox=dict(boxstyle="round,pad=0.15", fc="#FFF3D6", ec="#E0A040", lw=0.6),
                zorder=4,
            )

    # Nodes: one scatter per kind, so the legend has one entry per kind.
    handles = []
    for kind in LAYERS:
        nodes = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
        if not nodes:
            continue
        xs = [pos[n][0] for n in nodes]
        ys = [pos[n][1] for n in nodes]
        color = _color(kind)
        faces = ["#D9D9D9" if g.nodes[n].get("alive") is False else color for n in nodes]
        ax.scatter(xs, ys, s=260, marker=_SHAPES[kind], c=faces, edgecolors="white", zorder=3)
        label = kind
        if kind == "dlq" and any(g.nodes[n].get("native") for n in nodes):
            label = "dead-letter queue"
        handles.append(Line2D([], [], ls="", marker=_SHAPES[kind], ms=9, color=color, label=label))
    hot_nodes = [n for n in g.nodes if hot_node(n)]
    if hot_nodes:
        ax.scatter(
            [pos[n][0] for n in hot_nodes],
            [pos[n][1] for n in hot_nodes],
            s=560,
            marker="o",
            facecolors="none",
            edgecolors="#E07B00",
            linewidths=2.5,
            zorder=5,
        )
    crashed = [n for n, d in g.nodes(data=True) if d.get("alive") is False]
    if snapshot and crashed:
        ax.scatter(
            [pos[n][0] for n in crashed],
            [pos[n][1] for n in crashed],
            s=200,
            marker="x",
            c="#C62828",
            linewidths=2.5,
            zorder=6,
        )
        handles.append(
            Line2D([], [], ls="", marker="x", ms=8, mew=2.5, color="#C62828", label="crashed")
        )
    if snapshot and any(d.get("waiting") for _, _, d in g.edges(data=True)):
        handles.append(
            Line2D([], [], ls="", marker="s", ms=8, mfc="#FFF3D6", mec="#E0A040", label="waiting")
        )

    # Labels: beside the node, with the snapshot numbers that matter.
    for n, d in g.nodes(data=True):
        x, y = pos[n]
        text = d["label"]
        if d["kind"] == "partition" and snapshot and "end" in d:
            text += f"  end={d['end']}"
        if d["kind"] == "group" and snapshot and d.get("lag"):
            text += f"\nlag {d['lag']}"
        if d["kind"] == "queue" and snapshot and d.get("waiting") is not None:
            text += f"\n{d['waiting']} waiting, {d['in_flight']} {d['held_word']}"
        if d["kind"] == "dlq" and snapshot and d.get("dead_letters"):
            text += f"\n{d['dead_letters']} moved by the broker"
        if d["kind"] == "consumer" and snapshot:
            if d.get("alive") is False:
                text += "\n(crashed)"
            elif d.get("in_flight"):
                text += f"\n{d['in_flight']} {d.get('held_word', 'in flight')}"
        if d["kind"] == "producer" and snapshot and d.get("blocked"):
            text += "\n(blocked)"
        ax.text(x, y - 0.3, text, ha="center", va="top", fontsize=10, zorder=7)

    # Line styles carry meaning too: say what the dashed and dotted arrows are.
    if any(pos[v][0] <= pos[u][0] for u, v in g.edges):
        handles.append(
            Line2D([], [], ls="--", color="#C44E52", label="a consumer publishing (back edge)")
        )
    if any(g.nodes[v].get("native") for _, v in g.edges):
        handles.append(Line2D([], [], ls=":", color="#8C8C8C", label="moved by the broker"))

    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 0.7)
    ax.set_axis_off()
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(handles), 5) or 1,  # two rows at most: 10 pt entries fit the width
        fontsize=10,
        frameon=False,
        columnspacing=1.2,
        handletextpad=0.3,
    )
    if title is None and snapshot and g.graph.get("snapshot"):
        title = f"event flow ({g.graph['snapshot']})"
    if title:
        ax.set_title(title)
    if any(d["kind"] == "queue" for _, d in g.nodes(data=True)):
        words = (
            "Event flow graph of a queue broker, left to right: who publishes to which topic, "
            "the topic copying each message into one queue per subscription, the consumers "
            "taking messages from their queue, and the broker's dead-letter queues (dotted "
            "arrows); each role has its own shape, every node its name"
        )
    else:
        words = (
            "Event flow graph, left to right: who publishes to which topic and partitions, "
            "which groups and consumers read them; each role has its own shape, every node its name"
        )
    note(ax, words)
    return ax


def _color(kind: str) -> str:
    """The colour of a role; a queue is drawn as its subscription (the queue family's group)."""
    return COLORS.get(kind) or COLORS["group"]

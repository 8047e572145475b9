"""The timeline: one swimlane per actor, simulated time left to right.

:func:`draw_timeline` turns a trace into a picture a learner can read like a
sequence diagram.  Each actor (producer, group, consumer) gets a lane:
producers on top, then the broker's groups, then consumers, each in the
order they first appear.  A delivery is an arrow from the lane that
published the event (at the time it was published) to the consumer's lane
(at the time it arrived).  What happened next is a marker: a square when
handled, a red X when it failed, an orange triangle when delivered again...
Every kind has its own shape (:data:`MARKERS`), named in the legend; a kind
it does not know is drawn with its initials (:func:`marker_for`), so nothing
is silently left out.

Arrows are the first thing to go when the picture gets crowded: with more
than ``max_events`` events in view only the markers are drawn.  Zoom in with
``window=(t0, t1)`` to see the arrows again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from ..broker import Broker
from ..sim import Scheduler
from ..trace import Trace, TraceRecord
from .describe import note
from .style import first_seen_colors, kind_color

__all__ = [
    "draw_timeline",
    "TimelineDrawn",
    "MARKERS",
    "MEMBERSHIP",
    "marker_for",
    "lanes_of",
    "members_view",
]

#: Marker shape of each kind of record, one shape per kind (colour is never the only
#: encoding): matplotlib's shapes for the core's kinds and the commonest pattern kinds,
#: a letter (mathtext) for the rarer kinds patterns add; unknown kinds get
#: :data:`GENERIC_MARKER`.  The legend names each shape.
MARKERS: dict[str, str] = {
    # the core (evtlib.trace.KINDS)
    "published": "o",
    "blocked": "_",
    "rejected": "x",
    "delivered": "|",
    "redelivered": ">",
    "handled": "s",
    "failed": "X",
    "committed": "2",
    "commit-rejected": "3",
    "dropped": "+",
    "duplicated": "D",
    "delayed": "1",
    "lost": "*",
    "joined": "^",
    "left": "$L$",
    "crashed": "P",
    "restarted": "H",
    "paused": "4",
    "resumed": "h",
    "rebalanced": "d",
    "revoked": "$-$",
    "assigned": "$+$",
    "timeout": "p",
    "rewind": "<",
    "evicted": "$E$",
    "expired": "$t$",
    "compacted": "$cp$",
    "repartitioned": "$N$",
    # delivery on the wire and queue brokers
    "ack-lost": "$a$",
    "ack-ignored": "$ai$",
    "deduplicated": "$dd$",
    "requeued": "$q$",
    # dead-letter queue, retries, redrive
    "retried": "8",
    "dead-lettered": "v",
    "redriven": "$R$",
    "called": "$c$",
    # idempotent consumer
    "skipped-duplicate": "$=$",
    "processed-ids-expired": "$0$",
    # transactional outbox
    "db-written": "$db$",
    "outbox-written": "$W$",
    "marked-sent": "$m$",
    "outbox-cleaned": "$k$",
    "relay-publish-failed": "$f$",
    "duplicate-published": "$2$",
    "crash-point": "$!$",
    # saga
    "saga-started": "$S$",
    "saga-moved": "$\\rightarrow$",
    "saga-duplicate": "$D$",
    "saga-reply-ignored": "$I$",
    "saga-timeout": "$\\otimes$",
    "saga-effect": "$\\star$",
    "compensating": "$\\leftarrow$",
    "compensated": "$\\checkmark$",
    "skipped": ".",
    # RabbitMQ adapter
    "reconnected": "$rc$",
    "unblocked": "$ub$",
    "undecodable": "$U$",
}
GENERIC_MARKER = "$?$"  # kept for readers of older code: marker_for() makes one per kind


def marker_for(kind: str) -> str:
    """The marker of ``kind``: :data:`MARKERS`' entry, else its initials as a glyph.

    A kind added later (``"kept-copy"``) is drawn as ``kc`` until it gets a
    shape of its own in :data:`MARKERS`; a test checks that no two kinds of
    evtlib end up with the same marker.
    """
    shape = MARKERS.get(kind)
    if shape is not None:
        return shape
    words = [w for w in re.split(r"[^A-Za-z0-9]+", kind) if w]
    initials = "".join(w[0] for w in words) if len(words) > 1 else kind[:2]
    initials = re.sub(r"[^A-Za-z0-9]", "", initials)
    return f"$\\mathrm{{{initials}}}$" if initials else GENERIC_MARKER


#: Kinds on the normal path are coloured by event (or correlation); the
#: others keep the colour of their kind, so trouble stands out.
_BY_EVENT = frozenset({"published", "delivered", "handled"})
_PRODUCING = frozenset({"published", "blocked", "rejected"})
_GROUPING = frozenset({"rebalanced", "rewind"})
_RECEIVING = frozenset({"delivered", "redelivered", "handled"})
#: What only a broker does (a queue broker's own steps): its lane goes above the consumers.
_BROKERING = frozenset(
    {"requeued", "kept-copy", "deduplicated", "expired", "dead-lettered", "redriven"}
)

#: Group membership: who joined, left or was evicted, and the group's rebalances (and, where
#: the group writes them, the partitions each member was revoked or assigned).
MEMBERSHIP = frozenset({"joined", "left", "rebalanced", "revoked", "assigned", "evicted"})

#: Records that end a member's hold on a message (its in-flight span).
_SETTLING = frozenset({"handled", "failed", "timeout", "lost", "ack-ignored", "dead-lettered"})


class TimelineDrawn(NamedTuple):
    """What :func:`draw_timeline` drew: the Axes, lanes top to bottom, counts."""

    ax: Any
    lanes: list[str]
    arrows: int
    markers: dict[str, int]
    dense: bool


def _records(source: Trace | Scheduler | Iterable[TraceRecord]) -> list[tuple[Any, ...]]:
    if isinstance(source, Scheduler):
        source = source.trace
    if isinstance(source, Trace):
        # The stored rows, in TraceRecord's field order (read by index below):
        # far cheaper than building a TraceRecord per row.
        return source.rows()
    records = list(source)
    if records and not isinstance(records[0], TraceRecord):
        raise TypeError(f"expected a Trace or TraceRecords, got {type(records[0]).__name__}")
    return sorted(records, key=lambda r: r[0])


def lanes_of(records: Iterable[tuple[Any, ...]]) -> list[str]:
    """The lanes for ``records``, top to bottom.

    Producers first (actors that publish and never receive), then groups
    (actors that rebalance or rewind) and brokers (actors that only do what
    a queue broker does: requeue, dead-letter...), then everyone else, in the order
    they first appear.  A consumer that also publishes (a reaction, a
    dead-letter) stays a consumer.  ``records`` are TraceRecords, or rows in
    their field order (read by index).
    """
    # Each (actor, kind) pair once, in order of first appearance: one cheap
    # pass over the records, then a short loop over the pairs.
    does: dict[str, set[str]] = {}
    for actor, kind in dict.fromkeys((r[2], r[1]) for r in records):
        kinds = does.get(actor)
        if kinds is None:
            kinds = does[actor] = set()
        kinds.add(kind)
    first = {a: i for i, a in enumerate(does)}

    def rank(actor: str) -> int:
        kinds = does[actor]
        if kinds & _PRODUCING and not kinds & _RECEIVING:
            return 0
        if kinds & _GROUPING or (kinds <= _BROKERING):
            return 1
        return 2

    return sorted(first, key=lambda a: (rank(a), first[a]))


def members_view(records: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``records`` with each group's ``rebalanced`` record moved into its members' lanes.

    A group rebalances as a whole, but what a learner needs to see is *whose*
    work stopped and moved: each member of the group at that time (known from
    its ``joined`` record, whose detail names the group, until it ``left`` or
    was ``evicted``) gets a copy of the record in its own lane.  A rebalance of a group with no member among the
    records keeps its group lane.  Rows keep TraceRecord's field order.
    """
    rows = list(records)
    member_of: dict[str, str] = {}
    for r in rows:
        if r[1] == "joined" and r[7]:
            member_of.setdefault(r[2], r[7])
    out: list[tuple[Any, ...]] = []
    joined: dict[str, list[str]] = {}
    for r in rows:
        if r[1] == "joined" and r[2] in member_of:
            members = joined.setdefault(member_of[r[2]], [])
            if r[2] not in members:
                members.append(r[2])
        elif r[1] in ("left", "evicted") and r[2] in member_of:
            members = joined.get(member_of[r[2]], [])
            if r[2] in members:
                members.remove(r[2])  # no longer a member: later rebalances are not its
        if r[1] == "rebalanced" and joined.get(r[2]):
            out.extend((r[0], r[1], m, *r[3:]) for m in joined[r[2]])
        else:
            out.append(r)
    return out


def draw_timeline(
    trace_or_records: Trace | Scheduler | Iterable[TraceRecord],
    ax: Any = None,
    *,
    color_by: str = "event",
    window: tuple[float, float] | None = None,
    max_events: int = 40,
    broker: Broker | Mapping[str, str] | None = None,
    hide: Iterable[str] = ("committed",),
    title: str | None = None,
    membership: bool = True,
    held: bool | None = None,
) -> TimelineDrawn:
    """Draw a swimlane timeline of a trace; return a :class:`TimelineDrawn`.

    Parameters
    ----------
    trace_or_records:
        A :class:`~evtlib.Trace`, a :class:`~evtlib.Simulation` or a list of
        :class:`~evtlib.TraceRecord` (for example ``trace.filter(...)``).
    ax:
        Axes to draw on (default: a new figure sized to the lanes).
    color_by:
        ``"event"``: each event id its own colour; ``"correlation"``: every
        event of one business request shares a colour (needs ``broker``).
    window:
        ``(t0, t1)`` in ms: draw only what happened in between (zoom).
    max_events:
        With more events than this in view, arrows are left out ("dense").
    broker:
        Where to look up correlation ids (or a mapping event id -> correlation id).
    hide:
        Kinds not to draw (default: ``committed``, which is frequent and quiet).
    membership:
        Draw group membership (:data:`MEMBERSHIP`: ``joined``, ``left``,
        ``evicted``, and each ``rebalanced`` of a group as a marker in the
        lane of every member it had then, see :func:`members_view`); False
        leaves all of them out.
    held:
        Draw, in each consumer's lane, a bar for the time it held each
        message unacknowledged (a queue broker's "in flight", "locked",
        "unacked"), from the delivery to the handling, failure or timeout
        that ended it.  Default: on for a queue broker's trace (deliveries
        without offsets), off for a log's.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.markers import MarkerStyle
    from matplotlib.ticker import MaxNLocator

    if color_by not in ("event", "correlation"):
        raise ValueError(f"color_by must be 'event' or 'correlation', got {color_by!r}")
    if not isinstance(max_events, int) or max_events < 0:
        raise ValueError(f"max_events must be an int >= 0, got {max_events!r}")
    # Records are read by index, in TraceRecord's field order: r[0] time,
    # r[1] kind, r[2] actor, r[3] event id, r[4] topic, r[5] partition,
    # r[6] offset (so a Trace's own rows can be used without conversion).
    if not isinstance(membership, bool):
        raise ValueError(f"membership must be True or False, got {membership!r}")
    if held is not None and not isinstance(held, bool):
        raise ValueError(f"held must be True, False or None (automatic), got {held!r}")
    everything = _records(trace_or_records)
    hidden = frozenset(hide)
    if membership:
        if "rebalanced" not in hidden and any(r[1] == "rebalanced" for r in everything):
            everything = members_view(everything)
    else:
        hidden |= MEMBERSHIP
    if held is None:  # a queue broker's deliveries carry no offset
        held = any(r[1] == "delivered" and r[6] in (None, -1) for r in everything)
    color_key = _color_key(color_by, broker)
    records = everything
    if window is not None:
        t0, t1 = window
        if not t1 > t0:
            raise ValueError(f"window must be (t0, t1) with t1 > t0, got {window!r}")
        records = [r for r in everything if t0 <= r[0] <= t1]
    shown = [r for r in records if r[1] not in hidden]
    # Lanes keep the order of the whole trace, so zooming does not reshuffle them.
    if window is None:
        lanes = lanes_of(shown)
    else:
        present = {r[2] for r in shown}
        lanes = [a for a in lanes_of(r for r in everything if r[1] not in hidden) if a in present]
    lane_y = {a: -i for i, a in enumerate(lanes)}
    # Colours in order of first appearance: neighbouring events never share one.
    # One pass: each event id gets its colour once, and is counted.
    color_for = first_seen_colors()
    event_color: dict[str | None, str] = {None: color_for(None)}
    for r in shown:
        if r[3] not in event_color:
            event_color[r[3]] = color_for(color_key(r[3]))
    n_events = len(event_color) - 1
    # The same as indices into the colours in use, for grouping markers by colour.
    colors = list(dict.fromkeys(event_color.values()))
    color_index = {c: i for i, c in enumerate(colors)}
    event_ci = {e: color_index[c] for e, c in event_color.items()}
    dense = n_events > max_events

    if ax is None:
        height = 1.3 + 0.42 * max(len(lanes), 1)
        fig, ax = plt.subplots(figsize=(10, height))
        # Fixed margins, worked out from the lane names (cheaper than a layout engine).
        longest = max((len(a) for a in lanes), default=4)
        fig.subplots_adjust(
            left=min(0.35, 0.03 + 0.0075 * longest),
            right=0.83,
            bottom=0.55 / height,
            top=1 - 0.35 / height,
        )

    # Lane stripes and names.
    # The stripes span the width of the Axes (x in axes units, y in data), as
    # axhspan would draw them, but as one collection rather than a patch each.
    stripes = [
        [(0, -i - 0.5), (1, -i - 0.5), (1, -i + 0.5), (0, -i + 0.5)]
        for i in range(0, len(lanes), 2)
    ]
    ax.add_collection(
        PolyCollection(
            stripes,
            facecolors="#F4F4F4",
            edgecolors="none",
            linewidths=0,
            zorder=0,
            transform=ax.get_yaxis_transform(),
        ),
        autolim=False,
    )
    ax.set_yticks([lane_y[a] for a in lanes], lanes)
    ax.set_ylim(-len(lanes) + 0.5, 0.5)
    ax.tick_params(axis="y", length=0, left=False)
    # At most seven steps of time: a learner reads the scale, not every tick
    # (and each tick label is a text to lay out and render).
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))

    # Where each (topic, partition, offset) was published, and by whom.
    arrows = 0
    if not dense:
        # A delivery's arrow starts where its message was published: the same
        # (topic, partition, offset) on a log; on a queue broker (no offsets) the
        # latest publish of the same event id to the topic before the delivery.
        origin: dict[tuple, tuple[float, str]] = {}
        starts: dict[int, tuple[float, str]] = {}
        in_view = {id(r) for r in shown} if len(shown) != len(everything) else None
        for r in everything:
            if r[1] == "published":
                origin[_place(r)] = (r[0], r[2])
            elif r[1] in ("delivered", "redelivered") and (in_view is None or id(r) in in_view):
                src = origin.get(_place(r))
                if src is not None:
                    starts[id(r)] = src
        xs, ys, us, vs, cs = [], [], [], [], []
        for r in shown:
            if r[1] not in ("delivered", "redelivered"):
                continue
            src = starts.get(id(r))
            if src is None or src[1] not in lane_y:
                continue
            t_pub, who = src
            xs.append(t_pub)
            ys.append(lane_y[who])
            us.append(r[0] - t_pub)
            vs.append(lane_y[r[2]] - lane_y[who])
            cs.append(event_color[r[3]])
        if xs:
            ax.quiver(
                np.asarray(xs),
                np.asarray(ys),
                np.asarray(us),
                np.asarray(vs),
                color=_rgba_array(cs),
                angles="xy",
                scale_units="xy",
                scale=1,
                width=0.0025,
                headwidth=5,
                headlength=7,
                headaxislength=6,
                alpha=0.8,
                zorder=2,
            )
        arrows = len(xs)

    # Holds: how long each consumer kept each message unacknowledged (queue brokers).
    spans = []
    if held:
        lo, hi = window if window is not None else (-np.inf, np.inf)
        spans = [
            sp
            for sp in sorted(
                _held_spans([r for r in everything if r[1] != "committed"]),
                key=lambda sp: (sp[0], sp[1], sp[2]),
            )
            if sp[2] in lane_y and sp[1] >= lo and sp[0] <= hi and sp[3] in event_color
        ]
        if spans:
            rows = _stack(spans)
            ax.hlines(
                [lane_y[sp[2]] - 0.2 - 0.09 * row for sp, row in zip(spans, rows, strict=True)],
                [sp[0] for sp in spans],
                [sp[1] for sp in spans],
                colors=_rgba_array([event_color[sp[3]] for sp in spans]),
                lw=2.5,
                alpha=0.55,
                zorder=2,
            )

    # Markers: one line of markers (no line) per kind and colour.  Kinds on the
    # normal path are coloured by event, so they take one per palette colour;
    # a single-colour line is drawn by stamping one marker many times, which
    # is much faster than a collection with a colour per point.  "delivered"
    # gets no marker: the arrowhead shows it, and in dense mode the handled
    # marker follows right after.
    by_kind: dict[str, list[tuple]] = {}
    for r in shown:
        if r[1] != "delivered":
            rs = by_kind.get(r[1])
            if rs is None:
                rs = by_kind[r[1]] = []
            rs.append(r)
    size = 14 if dense else 46  # marker area in points^2, as for scatter
    markers: dict[str, int] = {}
    handles = []
    for kind, rs in by_kind.items():
        shape = marker_for(kind)
        n = len(rs)
        mx = np.fromiter((r[0] for r in rs), float, n)
        my = np.fromiter((lane_y[r[2]] for r in rs), float, n)
        big = 2.2 if kind in ("crashed", "failed", "dead-lettered", "lost") else 1.0
        if kind == "published":
            big = 0.6  # a reaction is published when its cause is handled: show both
        # Filled markers get a thin white rim that keeps neighbours apart; a glyph (a
        # letter) is drawn larger and without the rim, or it would not be read.
        glyph = shape.startswith("$")
        if glyph:
            big *= 3.0
        filled = MarkerStyle(shape).is_filled() and not glyph
        style = dict(
            ls="None",
            marker=shape,
            ms=(size * big) ** 0.5,
            mew=0.4 if filled else 1.3,
            zorder=4 if big != 1 else 3,
            label=f"_{kind}",  # "_": named for readers of the Axes, not for the legend
        )
        if kind in _BY_EVENT:
            which = np.fromiter((event_ci[r[3]] for r in rs), np.intp, n)
            used, first = np.unique(which, return_index=True)
            # Colours in the order they first appear among these records.
            groups = [(colors[i], which == i) for i in used[np.argsort(first)]]
            if len(groups) == 1:
                groups = [(groups[0][0], slice(None))]
        else:
            groups = [(kind_color(kind), slice(None))]
        for color, sel in groups:
            line = Line2D(mx[sel], my[sel], color=color, mec="white" if filled else color, **style)
            ax.add_line(line)
        if kind == "crashed":
            # A crash matters to every lane: mark the moment across the chart.
            for r in rs:
                ax.axvline(r[0], color=kind_color(kind), lw=0.8, ls=":", alpha=0.7, zorder=1)
        markers[kind] = n
        legend_color = "#555555" if kind in _BY_EVENT else kind_color(kind)
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker=shape,
                ms=7,
                color=legend_color,
                mec=legend_color,
                label=f"{kind} ({n})",
            )
        )
    # Words where a marker alone does not say enough: the delivery count of a
    # redelivery, and the reason a queue broker gave when it dead-lettered a message.
    if not dense:
        again = [r for r in by_kind.get("redelivered", ()) if r[7] and r[7].startswith("attempt")]
        for r in again[:60]:
            ax.annotate(
                r[7].split()[-1],
                (r[0], lane_y[r[2]]),
                xytext=(4, 5),
                textcoords="offset points",
                fontsize=9,
                color="#7A3E00",
                zorder=6,
            )
        native = [r for r in by_kind.get("dead-lettered", ()) if r[7] and " moved to " in r[7]]
        for r in native[:12]:
            ax.annotate(
                _short_reason(r[7]),
                (r[0], lane_y[r[2]]),
                xytext=(6, -4),
                textcoords="offset points",
                fontsize=9,
                va="top",
                zorder=6,
            )
    if spans:
        handles.append(
            Line2D([], [], color="#555555", lw=2.5, alpha=0.55, label=f"unacked ({len(spans)})")
        )
    if arrows:
        handles.insert(0, Line2D([], [], color="#555555", lw=1, label=f"delivery ({arrows})"))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=10,
        frameon=False,
        borderaxespad=0,
    )

    if window is not None:
        ax.set_xlim(*window)
    elif shown:
        t_first, t_last = shown[0][0], shown[-1][0]
        pad = max((t_last - t_first) * 0.02, 1.0)
        ax.set_xlim(t_first - pad, t_last + pad)
    ax.set_xlabel("simulated time (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title is None:
        title = f"{n_events} events"
        if dense:
            title += " (dense: no arrows; zoom with window=)"
    # y=1.0 fixes the title just above the Axes (nothing is drawn above them),
    # which spares matplotlib measuring every tick label to place it.
    ax.set_title(title, loc="left", fontsize=10, y=1.0)
    note(
        ax,
        f"A timeline of {n_events} events, one lane per actor ({', '.join(lanes[:10])}"
        f"{' and more' if len(lanes) > 10 else ''}), simulated time left to right: "
        + ("arrows from publisher to consumer, " if arrows else "")
        + ("a bar in a consumer's lane while it held a message unacknowledged, " if spans else "")
        + (
            "each redelivery labelled with its delivery count, "
            if not dense and "redelivered" in by_kind
            else ""
        )
        + "one colour per event, one marker shape per kind of record",
    )
    return TimelineDrawn(ax, lanes, arrows, markers, dense)


def _place(r: tuple[Any, ...]) -> tuple[Any, ...]:
    """Where a record's message sits: (topic, partition, offset) on a log; on a queue
    broker, whose messages have no offsets, (topic, event id)."""
    if r[6] in (None, -1):
        return (r[4], r[3])
    return (r[4], r[5], r[6])


def _held_spans(records: list[tuple[Any, ...]]) -> list[tuple[float, float, str, str | None]]:
    """Each delivery's hold, ``(start, end, consumer, event id)``: from the (re)delivery to
    the first record in that lane that ends it (handled, failed, timeout...), or to the
    lane's crash or closed channel (RabbitMQ's consumer_timeout).  A hold with no end in the
    records is left out."""
    open_: dict[tuple[str, Any], float] = {}
    spans = []
    for r in records:
        kind, actor = r[1], r[2]
        if kind in ("delivered", "redelivered"):
            open_[(actor, r[3])] = r[0]
        elif kind in _SETTLING:
            start = open_.pop((actor, r[3]), None)
            if start is not None:
                spans.append((start, r[0], actor, r[3]))
            if kind == "timeout" and r[7] and "closed the channel" in r[7]:
                # RabbitMQ's consumer_timeout closes the channel: every message it held goes back.
                for key in [k for k in open_ if k[0] == actor]:
                    spans.append((open_.pop(key), r[0], actor, key[1]))
        elif kind == "crashed":
            for key in [k for k in open_ if k[0] == actor]:
                spans.append((open_.pop(key), r[0], actor, key[1]))
    return spans


def _stack(spans: list[tuple[float, float, str, Any]]) -> list[int]:
    """A row for each hold so that holds of one lane that overlap in time are drawn apart
    (a RabbitMQ member holding three unacked messages shows three bars); at most 3 rows."""
    ends: dict[str, list[float]] = {}
    rows = []
    for start, end, actor, _ in spans:
        lane = ends.setdefault(actor, [])
        for row, free_at in enumerate(lane):
            if free_at <= start:
                lane[row] = end
                break
        else:
            row = len(lane)
            lane.append(end)
        rows.append(min(row, 2))
    return rows


def _short_reason(detail: str | None) -> str:
    """The broker's reason from a dead-lettered record's detail ("delivery_limit after 3 ...")."""
    if not detail:
        return ""
    return detail.split(" after ", 1)[0].split(" (", 1)[0]


@lru_cache(maxsize=256)
def _rgba(color: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return to_rgba(color)


def _rgba_array(colors: list[str]) -> np.ndarray:
    """Colours as an (n, 4) array: matplotlib then skips parsing each one."""
    return np.array([_rgba(c) for c in colors], dtype=float).reshape(-1, 4)


def _color_key(color_by: str, broker: Broker | Mapping[str, str] | None):
    if color_by == "event":
        return lambda event_id: event_id
    if broker is None:
        raise ValueError(
            "color_by='correlation' needs broker=... (or a mapping event id -> correlation id): "
            "trace records carry the event id, the events carry the correlation id"
        )
    if isinstance(broker, Broker):
        mapping = {
            e.id: e.correlation_id
            for t in broker.topics.values()
            for p in t.partitions
            for e in p.log
        }
    else:
        mapping = dict(broker)
    return lambda event_id: mapping.get(event_id, event_id)

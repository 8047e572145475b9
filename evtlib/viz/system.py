"""Pictures of a whole system: one saga's steps over time, and a lag dashboard.

* :func:`draw_saga_timeline`: one lane per step of a saga, its actions as
  solid bars, its compensations as hatched bars labelled ``undo``, a failed
  attempt pale and ended by a cross, so "compensated in reverse order" reads
  from top-left to bottom-right and back up.  The input is a :class:`~evtlib.patterns.SagaInstance`'s
  ``history`` (plain data), so orchestrated and choreographed sagas draw alike.
* :func:`draw_isolation`: two sagas racing for the last unit, the units on
  the shelf above their attempts: what one saga read while the other held
  the unit.
* :func:`draw_dashboard`: every consumer's consistency lag beside every
  group's consumer lag, for a system of many services.
* :func:`draw_shop_system`: the capstone's architecture, from the order
  service's database (orders and outbox, one transaction) through the relay,
  the ``orders`` topic and fulfilment to the saga and its participants; each
  arrow says what it carries, its line style what kind of link it is.
* :func:`draw_causal_chain`: one order's messages across services, found by
  their correlation id, each arrow a ``causation_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .. import checks
from ..broker import Broker
from ..protocols import BrokerBackend
from .describe import note
from .lag import draw_consistency_lag, draw_consumer_lag

__all__ = [
    "SagaBar",
    "SagaTimelineDrawn",
    "saga_bars",
    "draw_saga_timeline",
    "draw_isolation",
    "draw_dashboard",
    "draw_shop_system",
    "draw_causal_chain",
]

_ACTION = "#59A14F"
_FAILED = "#C62828"
_COMPENSATION = "#B07AA1"
_END = {"completed": "#59A14F", "compensated": "#F1A340", "needs-attention": "#C62828"}


class SagaBar(NamedTuple):
    """One attempt of one step: ``phase`` is ``action`` or ``compensation``; ``ok`` its result."""

    step: str
    phase: str
    start: float
    end: float
    ok: bool


class SagaTimelineDrawn(NamedTuple):
    """What :func:`draw_saga_timeline` drew: the Axes, the lanes top to bottom, the bars."""

    ax: Any
    lanes: list[str]
    bars: list[SagaBar]
    final: str | None


def saga_bars(history: Iterable[dict[str, Any]]) -> tuple[list[SagaBar], str | None]:
    """Turn a saga's ``history`` into bars (one per attempt) and its final state.

    ``history`` is ``[{"time", "to", "label"}, ...]`` as kept by
    :class:`~evtlib.patterns.SagaInstance`: each entry says which state the
    saga moved to and why.  A state ``stock`` is the action of step
    ``stock``; ``compensate stock`` is its compensation.  An attempt ends
    when the next entry arrives; it succeeded if that entry's label is ``ok``.
    """
    entries = list(history)
    bars = []
    final = None
    for cur, nxt in zip(entries, entries[1:] + [None], strict=True):
        to = cur["to"]
        if to in _END or to in ("failed",):
            final = to
            continue
        if to == "started" or nxt is None:
            continue
        phase = "action"
        step = to
        if to.startswith("compensate "):
            phase, step = "compensation", to[len("compensate ") :]
        bars.append(
            SagaBar(step, phase, float(cur["time"]), float(nxt["time"]), nxt["label"] == "ok")
        )
    return bars, final


def draw_saga_timeline(
    saga: Any,
    ax: Any = None,
    *,
    steps: Iterable[str] | None = None,
    title: str | None = None,
) -> SagaTimelineDrawn:
    """Draw one saga's attempts over time, one lane per step; return a :class:`SagaTimelineDrawn`.

    Parameters
    ----------
    saga:
        A :class:`~evtlib.patterns.SagaInstance` (its ``history`` and its
        definition's step names are used) or a history list.
    steps:
        Lane order (default: the saga definition's steps, in order).
    title:
        Default: the saga's id, final state and path.

    Each attempt is a bar from when the saga entered the state to when it
    left it, numbered in the order the saga made them.  An action is a solid
    bar, a compensation a hatched one labelled ``undo``; an attempt that
    failed or timed out is pale and ends in a cross.  A retry's bar
    includes the wait before it was sent (the history records when the
    saga decided to retry, not when the command left).
    """
    import matplotlib.pyplot as plt

    history = getattr(saga, "history", saga)
    bars, final = saga_bars(history)
    if steps is None:
        definition = getattr(saga, "definition", None)
        steps = definition.step_names if definition is not None else []
    lanes = list(dict.fromkeys([*steps, *(b.step for b in bars)]))
    y = {s: -i for i, s in enumerate(lanes)}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.4 + 0.55 * max(len(lanes), 1)), layout="constrained")
    end = max((b.end for b in bars), default=0.0)
    span = max(end, 1.0)
    min_w = span / 150  # an instant attempt still shows as a sliver
    for i, b in enumerate(bars, start=1):
        color = _ACTION if b.phase == "action" else _COMPENSATION
        width = max(b.end - b.start, min_w)
        ax.barh(
            y[b.step],
            width,
            left=b.start,
            height=0.5,
            color=color,
            alpha=1.0 if b.ok else 0.45,
            edgecolor="white",
            hatch="//" if b.phase == "compensation" else None,
        )
        label = f"{i}" if b.phase == "action" else f"{i} undo"
        ax.text(b.start + width / 2, y[b.step] + 0.33, label, ha="center", fontsize=10)
        if not b.ok:
            ax.scatter([b.end], [y[b.step]], marker="X", s=90, color=_FAILED, zorder=4)
    if final is not None:
        ax.axvline(end, color=_END.get(final, "#555555"), lw=1.5, ls="--")
        ax.text(
            end,
            0.62,
            f"{final} ",
            color=_END.get(final, "#555555"),
            fontsize=10,
            fontweight="bold",
            va="bottom",
            ha="right",  # left of the line: the legend sits to its right
        )
    ax.set_yticks([y[s] for s in lanes], lanes)
    ax.set_ylim(-len(lanes) + 0.4, 1.0)
    ax.set_xlim(-span * 0.02, span * 1.12)
    ax.set_xlabel("simulated time (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(
        handles=_attempt_handles(),
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=10,
        frameon=False,
    )
    if title is None:
        name = getattr(saga, "id", "saga")
        title = f"{name}: {final or 'running'}"
    ax.set_title(title, loc="left", fontsize=10)
    return SagaTimelineDrawn(ax, lanes, bars, final)


def _attempt_handles() -> list[Any]:
    """Legend entries for attempts: by fill, hatch and marker, not by colour alone."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=_ACTION, edgecolor="white", label="action (solid)"),
        Patch(facecolor=_COMPENSATION, edgecolor="white", hatch="//", label="compensation (undo)"),
        Line2D(
            [],
            [],
            color=_FAILED,
            marker="X",
            markersize=9,
            linestyle="none",
            label="attempt failed or timed out\n(pale bar, a cross at its end)",
        ),
    ]


def draw_isolation(result: Mapping[str, Any], *, title: str | None = None) -> Any:
    """Two sagas and the last unit: the shelf over time above each saga's attempts; return the Figure.

    ``result`` is what :func:`~evtlib.patterns.isolation_scenario` returns:
    its ``effects`` (the local transactions that took effect, with their
    times) give the units on the shelf; each saga's ``history`` its
    attempts, drawn as in :func:`draw_saga_timeline`, one lane per saga.
    A failed reservation says what it read (``reads``) and why it failed.
    """
    import matplotlib.pyplot as plt

    for key in ("sagas", "effects", "reads", "stock_start"):
        if key not in result:
            raise ValueError(
                f"result must be what isolation_scenario returns; it has no {key!r}"
                f" (keys: {sorted(result)})"
            )
    rows = list(result["sagas"])
    reads = {r["saga_id"]: r for r in result["reads"]}
    fig, (shelf, lanes) = plt.subplots(
        2,
        1,
        sharex=True,
        figsize=(10, 2.2 + 0.62 * len(rows)),
        height_ratios=[1.0, 0.55 * len(rows) + 0.4],
        layout="constrained",
    )
    # The shelf: every reservation takes its units, every release gives them back.
    level, times, levels = int(result["stock_start"]), [0.0], [int(result["stock_start"])]
    for t, _saga, step, phase in result["effects"]:
        if step == "stock":
            level += -1 if phase == "action" else 1
            times.append(float(t))
            levels.append(level)
    end = max([float(h["time"]) for r in rows for h in r["history"]] + [t for t in times] + [1.0])
    times.append(end * 1.04)
    levels.append(level)
    shelf.step(times, levels, where="post", color=_INK, lw=1.8, label="units on the shelf")
    shelf.fill_between(times, levels, step="post", color="#BBBBBB", alpha=0.5)
    shelf.set_yticks([0, int(result["stock_start"])])
    shelf.set_ylim(-0.15, int(result["stock_start"]) + 0.5)
    shelf.set_ylabel("units on\nthe shelf", rotation=0, ha="right", va="center")
    for side in ("top", "right"):
        shelf.spines[side].set_visible(False)
    y = {i: -i for i in range(len(rows))}
    inches_per_ms = 6.4 / (end * 1.04)  # the lanes' width, about
    for i, r in enumerate(rows):
        bars, _final = saga_bars(r["history"])
        below = False  # narrow bars: their names alternate above and below the lane
        for b in bars:
            width = max(b.end - b.start, end / 150)
            lanes.barh(
                y[i],
                width,
                left=b.start,
                height=0.5,
                color=_ACTION if b.phase == "action" else _COMPENSATION,
                alpha=1.0 if b.ok else 0.45,
                edgecolor="white",
                hatch="//" if b.phase == "compensation" else None,
            )
            word = b.step if b.phase == "action" else f"undo {b.step}"
            fits = width * inches_per_ms >= 0.085 * len(word) + 0.1
            below = not below and not fits
            lanes.text(
                b.start + width / 2,
                y[i] + (-0.3 if below else 0.3),
                word,
                ha="center",
                va="top" if below else "bottom",
                fontsize=10,
            )
            if not b.ok:
                lanes.scatter([b.end], [y[i]], marker="X", s=90, color=_FAILED, zorder=4)
                if b.step == "stock" and r["saga"] in reads:
                    for panel in (shelf, lanes):
                        panel.axvline(b.end, color=_INK, lw=0.9, ls=":", zorder=0)
                    shelf.text(
                        b.end,
                        int(result["stock_start"]) + 0.45,
                        f" order {r['order']} reads the shelf",
                        fontsize=10,
                        va="top",
                    )
                    seen = reads[r["saga"]]
                    why = "sold out" if "out of stock" in (r["error"] or "") else "try again later"
                    pending = f", {seen['pending']} pending" if seen["pending"] else ""
                    lanes.text(
                        b.end + end * 0.012,
                        y[i],
                        f"read {seen['free']} free{pending}: {why}",
                        va="center",
                        fontsize=10,
                    )
    lanes.set_yticks(
        [y[i] for i in range(len(rows))], [f"order {r['order']}\n{r['saga']}" for r in rows]
    )
    lanes.set_ylim(-len(rows) + 0.3, 0.8)
    lanes.set_xlim(0, end * 1.04)
    lanes.set_xlabel("simulated time (ms)")
    for side in ("top", "right", "left"):
        lanes.spines[side].set_visible(False)
    lanes.tick_params(axis="y", length=0)
    lanes.legend(
        handles=_attempt_handles(),
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=10,
        frameon=False,
    )
    lock = "with a semantic lock" if result.get("semantic_lock") else "no lock"
    shelf.set_title(
        title or f"two orders for the last unit, {lock}: the shelf, and what each saga did",
        loc="left",
        fontsize=10,
    )
    note(
        shelf,
        "The units on the shelf over time: the first order's reservation takes the last unit,"
        " its compensation puts it back",
    )
    note(
        lanes,
        "Each saga's attempts over time, one lane per saga; a failed reservation says what it read",
    )
    return fig


def draw_dashboard(broker: Broker, *, title: str | None = None, exclude: Iterable[str] = ()) -> Any:
    """Every consumer's consistency lag (left) and every group's consumer lag (right); return the Figure.

    Consumers and groups named in ``exclude`` are left out.  The left panel
    says how long events took to take effect in each service; the right one
    how many events each group had not yet committed, over time, up to the
    last moment anything was handled (timers that only expire later, such
    as a saga's cancelled timeouts, do not stretch the picture).
    """
    import matplotlib.pyplot as plt

    checks.instance("broker", broker, BrokerBackend, "Broker")
    skip = set(exclude)
    consumers = [c for c in broker.consumers if c.name not in skip and len(c.handled_at)]
    groups = [g for g in broker.groups.values() if g.name not in skip]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    if consumers:
        draw_consistency_lag(consumers, left, title="consistency lag per service")
    else:
        left.set_title("consistency lag per service: nothing handled yet", loc="left")
    if groups:
        last = max((c.handled_at[-1] for c in consumers), default=broker.sim.now)
        until = min(broker.sim.now, last * 1.05 + 1.0)
        draw_consumer_lag(groups, right, until=until, title="consumer lag per group")
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    return fig


# -- boxes and arrows ----------------------------------------------------------------

_SERVICE = "#D6E4F0"
_TABLE = "#FCEFC7"
_TOPIC = "#E8DFF0"
_INK = "#444444"
#: What each line style means in :func:`draw_shop_system` (its legend says so too).
LINKS = {
    "message": ("-", "a message through the broker"),
    "database": ("--", "a database read or write"),
    "call": ("-.", "a call inside one process"),
    "dead-letter": (":", "dead-lettering"),
}


class _Node(NamedTuple):
    x: float
    y: float
    text: str
    face: str
    style: str = "round,pad=0.35"


class _Edge(NamedTuple):
    src: str
    dst: str
    label: str
    link: str = "message"
    at: tuple[float, float] | None = None  # label centre (inches); None: the middle
    rad: float = 0.0


def _draw_graph(ax: Any, nodes: dict[str, _Node], edges: list[_Edge]) -> None:
    """Boxes, then arrows clipped at them, then labels in white boxes; gids name each artist."""
    from matplotlib.patches import FancyArrowPatch

    boxes = {}
    for name, n in nodes.items():
        boxes[name] = ax.text(
            n.x,
            n.y,
            n.text,
            ha="center",
            va="center",
            fontsize=10,
            bbox=dict(boxstyle=n.style, fc=n.face, ec="#777777", lw=0.9),
            zorder=3,
            gid=f"node:{name}",
        )
    for e in edges:
        style, _ = LINKS[e.link]
        ax.add_patch(
            FancyArrowPatch(
                (nodes[e.src].x, nodes[e.src].y),
                (nodes[e.dst].x, nodes[e.dst].y),
                arrowstyle="-|>",
                mutation_scale=14,
                color=_INK,
                lw=1.3,
                linestyle=style,
                connectionstyle=f"arc3,rad={e.rad}",
                patchA=boxes[e.src].get_bbox_patch(),
                patchB=boxes[e.dst].get_bbox_patch(),
                shrinkA=1,
                shrinkB=2,
                zorder=4,
                gid=f"edge:{e.src}->{e.dst}",
            )
        )
        if e.label:
            (x0, y0), (x1, y1) = (nodes[e.src].x, nodes[e.src].y), (nodes[e.dst].x, nodes[e.dst].y)
            x, y = e.at or (
                (x0 + x1) / 2 + e.rad / 2 * (y1 - y0),
                (y0 + y1) / 2 - e.rad / 2 * (x1 - x0),
            )
            ax.text(
                x,
                y,
                e.label,
                ha="center",
                va="center",
                fontsize=10,
                color=_INK,
                linespacing=1.1,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9),
                zorder=6,
                gid=f"label:{e.src}->{e.dst}",
            )


def _link_legend(ax: Any, links: Iterable[str], **kw: Any) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=_INK, lw=1.3, linestyle=LINKS[k][0], label=LINKS[k][1]) for k in links
    ]
    ax.legend(handles=handles, frameon=False, fontsize=10, handlelength=2.8, **kw)


def draw_shop_system(run: Any = None, ax: Any = None, *, title: str | None = None) -> Any:
    """The whole shop with its four patterns, as boxes and labelled arrows; return the Axes.

    The order service writes the order and its ``OrderPlaced`` to the
    ``orders`` and ``outbox`` tables in one local transaction; the outbox
    relay polls the outbox, publishes to the ``orders`` topic and marks the
    row sent; fulfilment (idempotent, with an id-set of processed events)
    starts one saga per order, or retries and then dead-letters to
    ``orders.dlq``; the saga orchestrator sends commands to the participants'
    command topics and reads their replies.  The line style says what kind
    of link an arrow is (see :data:`LINKS`); the text on it what it carries.

    ``run``: a :class:`~evtlib.course.chaos.ShopRun` with the patterns, whose
    counts are written on the arrows (events published, sagas started,
    dead letters), or None for the architecture alone.
    """
    import matplotlib.pyplot as plt

    n: dict[str, int] = {}
    if run is not None:
        if not getattr(run, "patterns", False):
            raise ValueError(
                "run must be a ShopRun with the patterns (patterns=True): the naive twins have"
                f" no outbox and no relay, got {type(run).__name__} with patterns="
                f"{getattr(run, 'patterns', None)!r}"
            )
        n = dict(run.details)

    def count(key: str, unit: str) -> str:
        return f"\n({n[key]} {unit})" if key in n else ""

    nodes = {
        "order-service": _Node(0.0, 0.0, "order service", _SERVICE),
        "orders-table": _Node(2.7, 0.45, "orders (table)", _TABLE, "square,pad=0.35"),
        "outbox": _Node(2.7, -0.45, "outbox (table)", _TABLE, "square,pad=0.35"),
        "relay": _Node(5.7, -0.45, "outbox relay", _SERVICE),
        "orders": _Node(7.7, -0.45, "orders (topic)", _TOPIC),
        "fulfilment": _Node(10.3, -0.45, "fulfilment\n(idempotent:\nprocessed ids)", _SERVICE),
        "dlq": _Node(10.3, 1.15, "orders.dlq (topic)", _TOPIC),
        "orchestrator": _Node(10.3, -2.45, "order saga\norchestrator", _SERVICE),
        "commands": _Node(7.7, -2.45, "<service>.commands\n(3 topics)", _TOPIC),
        "participants": _Node(5.3, -2.45, "inventory, payments,\nshipping (services)", _SERVICE),
        "replies": _Node(7.7, -3.75, "order-orchestrator\n.replies (topic)", _TOPIC),
    }
    edges = [
        _Edge("order-service", "orders-table", "insert the order", "database", (1.25, 0.62)),
        _Edge(
            "order-service",
            "outbox",
            "insert OrderPlaced,\nsame transaction",
            "database",
            (1.2, -0.62),
        ),
        _Edge("outbox", "relay", "polls unsent\nrows", "database", (4.7, -0.05)),
        _Edge(
            "relay",
            "orders",
            "publishes, then\nmarks sent" + count("events published", "publishes"),
            "message",
            (6.8, 0.05 if n else -0.05),
        ),
        _Edge("orders", "fulfilment", "delivers", "message", (9.0, -0.22)),
        _Edge(
            "fulfilment",
            "dlq",
            "dead-letters after\nretries" + count("dead-lettered", "orders"),
            "dead-letter",
            (11.35, 0.4),
        ),
        _Edge(
            "fulfilment",
            "orchestrator",
            "starts one saga\nper order" + count("sagas", "sagas"),
            "call",
            (11.3, -1.5),
        ),
        _Edge("orchestrator", "commands", "commands", "message", (9.0, -2.22)),
        _Edge("commands", "participants", "delivers", "message", (6.5, -2.22)),
        _Edge("participants", "replies", "replies", "message", (6.1, -3.3)),
        _Edge("replies", "orchestrator", "delivers", "message", (9.55, -3.3)),
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(12.5, 6.2), layout="constrained")
    from matplotlib.patches import FancyBboxPatch

    frame = FancyBboxPatch(
        (1.7, -0.95),
        2.0,
        2.1,
        boxstyle="round,pad=0.05",
        fc="none",
        ec="#777777",
        ls="--",
        lw=1.0,
        zorder=1,
        gid="frame:order-database",
    )
    ax.add_patch(frame)
    ax.text(
        2.7,
        1.05,
        "order database:\none transaction",
        ha="center",
        va="center",
        fontsize=10,
        color=_INK,
        gid="label:order-database",
    )
    _draw_graph(ax, nodes, edges)
    ax.set_xlim(-1.0, 12.1)
    ax.set_ylim(-4.35, 1.65)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _link_legend(ax, LINKS, loc="lower left", bbox_to_anchor=(0.0, 0.0), ncols=1)
    ax.set_title(
        title
        or "the shop: outbox and relay, idempotent fulfilment with a dead-letter queue, the saga",
        loc="left",
        fontsize=10,
    )
    note(
        ax,
        "The shop's architecture: order service writes orders and outbox tables in one"
        " transaction; the relay polls the outbox and publishes to the orders topic;"
        " fulfilment reads it idempotently, dead-letters what keeps failing to orders.dlq and"
        " starts one saga per order; the orchestrator sends commands to inventory, payments"
        " and shipping and reads their replies",
    )
    return ax


def draw_causal_chain(
    events: Iterable[Any],
    ax: Any = None,
    *,
    copies: Mapping[str, int] | None = None,
    notes: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Any:
    """One story's messages as a swimlane: a lane per service, an arrow per ``causation_id``.

    ``events`` are the messages of one story (one correlation id), each once,
    in the order they happened: each is drawn in the lane of the service
    that sent it (its ``source``), one column per message, with its type, id
    and time.  An arrow joins each message to the one named by its
    ``causation_id``: the message it reacts to.  ``copies`` (event id ->
    how many times it is on the logs) writes "on the log N times" under a
    message published more than once; ``notes`` adds a line of text under
    a message.  Returns the Axes.
    """
    import matplotlib.pyplot as plt

    from .saga import _bezier, _box, _inside

    chain = list(events)
    if not chain:
        raise ValueError("events must hold at least one message of the story, got none")
    copies = dict(copies or {})
    notes = dict(notes or {})
    lanes = list(dict.fromkeys(e.source for e in chain))
    import textwrap

    texts = []
    for e in chain:
        lines = [e.type, f"{e.id}, {e.time:.0f} ms"]
        if copies.get(e.id, 1) > 1:
            lines.append(f"on the log {copies[e.id]} times")
        if e.id in notes:
            lines += textwrap.wrap(notes[e.id], 22)
        texts.append("\n".join(lines))
    width = [0.082 * max(len(line) for line in t.split("\n")) + 0.3 for t in texts]
    row = [lanes.index(e.source) for e in chain]
    # Neighbours sit in different lanes (a reply comes from another service), so the
    # columns can be closer than a box is wide; boxes in one lane must not touch.
    dx = max(width) / 2 + 0.2
    for i in range(len(chain)):
        for j in range(i + 1, len(chain)):
            if row[j] == row[i]:
                dx = max(dx, ((width[i] + width[j]) / 2 + 0.25) / (j - i))
                break
    dy = 1.15
    nodes = {
        e.id: _Node(i * dx, -row[i] * dy, t, _SERVICE)
        for i, (e, t) in enumerate(zip(chain, texts, strict=True))
    }
    boxes = {
        e.id: _box((nodes[e.id].x, nodes[e.id].y), (width[i], 0.2 * texts[i].count("\n") + 0.45))
        for i, e in enumerate(chain)
    }
    edges = []
    for e in chain:
        if e.causation_id not in nodes:
            continue
        a, b = nodes[e.causation_id], nodes[e.id]
        others = [box for k, box in boxes.items() if k not in (e.causation_id, e.id)]
        for rad in (0.0, 0.3, -0.3, 0.5, -0.5):
            if not any(
                _inside(p, box, 0.05)
                for p in _bezier((a.x, a.y), (b.x, b.y), rad)
                for box in others
            ):
                break
        edges.append(_Edge(e.causation_id, e.id, "", "message", None, rad))
    if ax is None:
        across = dx * (len(chain) - 1) + (width[0] + width[-1]) / 2 + 1.8
        _, ax = plt.subplots(figsize=(across, dy * len(lanes) + 1.2), layout="constrained")
    for i in range(0, len(lanes), 2):  # every other lane shaded, so a row reads across
        ax.axhspan(-i * dy - dy / 2, -i * dy + dy / 2, color="#F3F3F3", zorder=0)
    _draw_graph(ax, nodes, edges)
    ax.set_yticks([-i * dy for i in range(len(lanes))], lanes)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xlim(-width[0] / 2 - 0.1, dx * (len(chain) - 1) + width[-1] / 2 + 0.1)
    ax.set_ylim(-(len(lanes) - 0.5) * dy, dy / 2)
    ax.set_aspect("equal")
    from matplotlib.lines import Line2D

    ax.legend(
        handles=[
            Line2D(
                [], [], color=_INK, lw=1.3, label="arrow: causation_id (the message it reacts to)"
            )
        ],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        frameon=False,
        fontsize=10,
        borderaxespad=0.1,
    )
    correlation = chain[0].correlation_id
    ax.set_title(
        title or f"every message with correlation_id {correlation}, in the order sent",
        loc="left",
        fontsize=10,
        pad=24,
    )
    note(
        ax,
        f"One story followed across services: {len(chain)} messages with one correlation id,"
        f" one lane per service that sent them ({', '.join(lanes)}), an arrow from each"
        " message to the one it reacts to; the last was sent by "
        f"{chain[-1].source}: {chain[-1].type}",
    )
    return ax

"""A saga as a state machine: its states, its transitions, and the path one saga took.

The input is plain data, so any saga implementation can be drawn:

    states, transitions = definition.state_machine()
    draw_state_machine(states, transitions, path=saga.path)

The layout reads like the saga runs.  The happy path goes left to right on
the top row (``started``, each step, ``completed``); each ``compensate <step>``
state sits under its step, and compensation runs right to left along that
second row into ``compensated``; ``needs-attention`` sits on a third row
under the first step that can end there (the pivot).  States that fit none
of these rows are placed next to a state that leads to them.  Every
transition is a straight arrow unless a straight line would cross another
state's box, then it bends (:func:`state_layout` finds the bend); every
label is placed where it overlaps no other label, state or arrow, as far
as the estimates of text sizes go (the course's tests check the drawn
figure).  ``path`` is drawn over the graph as thick, numbered arrows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import networkx as nx

from .describe import note

__all__ = ["draw_state_machine", "state_graph", "state_layout", "StateLayout", "TERMINAL_COLORS"]

#: Colours of the states a saga ends in (their names are written on them too).
TERMINAL_COLORS = {
    "completed": "#59A14F",
    "compensated": "#F1A340",
    "needs-attention": "#C62828",
}
_STATE = "#D6E4F0"
_COMPENSATING = "#F3D9EC"
_HOT = "#E07B00"
_HOT_TEXT = "#A35200"
_COLD = "#9E9E9E"
_COLD_TEXT = "#555555"

# Sizes in inches, for a 10-point font (DejaVu Sans averages ~0.6 em a character).
_CHAR = 0.085
_LINE = 0.2
_NODE_PAD = 0.22
_DY = 1.35
_ENDS = ("completed", "compensated", "needs-attention", "failed")


def state_graph(
    states: Sequence[str], transitions: Iterable[tuple[str, str] | tuple[str, str, str]]
) -> nx.DiGraph:
    """The state machine as a graph: nodes carry ``layer``, edges ``label``."""
    g: nx.DiGraph[str] = nx.DiGraph()
    for s in states:
        g.add_node(s)
    for t in transitions:
        if len(t) not in (2, 3):
            raise ValueError(f"a transition is (src, dst) or (src, dst, label), got {t!r}")
        src, dst = t[0], t[1]
        for s in (src, dst):
            if s not in g:
                raise ValueError(f"transition {t!r} names state {s!r}, which is not in states")
        g.add_edge(src, dst, label=t[2] if len(t) == 3 else "")
    # Layers: longest distance from the first state over forward edges.
    # An edge is "back" if it returns to a state already on the current DFS path.
    forward: nx.DiGraph[str] = nx.DiGraph()
    forward.add_nodes_from(g)
    if states:
        on_path: set[str] = set()
        seen: set[str] = set()

        def visit(u: str) -> None:
            seen.add(u)
            on_path.add(u)
            for v in g.successors(u):
                if v in on_path:
                    continue  # a back edge (a retry loop): no effect on layers
                forward.add_edge(u, v)
                if v not in seen:
                    visit(v)
            on_path.discard(u)

        for s in states:
            if s not in seen:
                visit(s)
    layer = {s: 0 for s in states}
    for u in nx.topological_sort(forward):
        for v in forward.successors(u):
            layer[v] = max(layer[v], layer[u] + 1)
    nx.set_node_attributes(g, layer, "layer")
    return g


class StateLayout(NamedTuple):
    """Where :func:`draw_state_machine` puts things, in inches (y grows upwards).

    ``cells`` maps each state to its ``(column, row)`` on the grid; ``pos``
    to its centre; ``bend`` each transition ``(src, dst)`` to its ``arc3``
    curvature (0 for a straight arrow).
    """

    cells: dict[str, tuple[int, int]]
    pos: dict[str, tuple[float, float]]
    bend: dict[tuple[str, str], float]
    dx: float
    dy: float


def _main_row(g: nx.DiGraph, first: str) -> list[str]:
    """The happy path: from the first state, follow ``start``/``ok`` (else the first forward edge)."""
    row, u = [first], first
    while True:
        nxt = [v for v in g.successors(u) if v != u and v not in row]
        ok = [v for v in nxt if g.edges[u, v]["label"] in ("start", "ok")]
        plain = [v for v in nxt if not v.startswith("compens") and v not in _ENDS[1:]]
        if not (ok or plain):
            return row
        u = (ok or plain)[0]
        row.append(u)


def _grid(g: nx.DiGraph, states: Sequence[str]) -> dict[str, tuple[int, int]]:
    cells: dict[str, tuple[int, int]] = {}
    if not states:
        return cells
    for col, s in enumerate(_main_row(g, states[0])):
        cells[s] = (col, 0)
    main = dict(cells)
    for s in states:  # each compensation under its step
        if s.startswith("compensate ") and s[len("compensate ") :] in main:
            cells[s] = (main[s[len("compensate ") :]][0], 1)
    taken = set(cells.values())

    def free(col: int, row: int, step: int) -> tuple[int, int]:
        while (col, row) in taken:
            col += step
        taken.add((col, row))
        return col, row

    todo = [s for s in states if s not in cells]
    while todo:
        progress = False
        for s in list(todo):
            preds = [cells[p] for p in g.predecessors(s) if p in cells and p != s]
            if not preds:
                continue
            if s.startswith("compens"):  # compensation flows right to left on row 1
                cells[s] = free(min(c for c, _ in preds) - 1, 1, -1)
            else:  # an end (needs-attention...) on row 2, under the first step that leads to it
                on_main = [c for c, r in preds if r == 0]
                col = min(on_main) if on_main else max(c for c, _ in preds) + 1
                cells[s] = free(col, 2, 1)
            todo.remove(s)
            progress = True
        if not progress:  # unreachable states: a row of their own
            for s in todo:
                cells[s] = free(0, 3, 1)
            todo = []
    left = min(c for c, _ in cells.values())
    return {s: (c - left, r) for s, (c, r) in cells.items()}


def _node_size(text: str) -> tuple[float, float]:
    return _CHAR * len(text) + _NODE_PAD, _LINE + 0.14


def _bezier(p0: tuple[float, float], p1: tuple[float, float], rad: float, n: int = 24):
    """Points along matplotlib's ``arc3,rad=rad`` curve from ``p0`` to ``p1``."""
    (x0, y0), (x1, y1) = p0, p1
    cx = (x0 + x1) / 2 + rad * (y1 - y0)
    cy = (y0 + y1) / 2 - rad * (x1 - x0)
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t * t
        out.append((a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1))
    return out


def _inside(pt: tuple[float, float], box: tuple[float, float, float, float], pad: float) -> bool:
    x, y = pt
    x0, y0, x1, y1 = box
    return x0 - pad <= x <= x1 + pad and y0 - pad <= y <= y1 + pad


def _box(centre: tuple[float, float], size: tuple[float, float]):
    (x, y), (w, h) = centre, size
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def _overlap(a, b, pad: float = 0.04) -> bool:
    return not (
        a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1]
    )


def state_layout(
    states: Sequence[str], transitions: Iterable[tuple[str, str] | tuple[str, str, str]]
) -> StateLayout:
    """The grid, the positions and the bends :func:`draw_state_machine` uses (see the module doc)."""
    g = state_graph(states, transitions)
    cells = _grid(g, states)
    widest = max((_node_size(s)[0] for s in states), default=1.0)
    dx = max(2.3, widest + 0.95)
    # Row 2 sits a little deeper: the long arrows into needs-attention then leave
    # room under the compensations for their retry notes.
    pos = {s: (c * dx, -r * _DY - (0.3 if r >= 2 else 0.0)) for s, (c, r) in cells.items()}
    boxes = {s: _box(pos[s], _node_size(s)) for s in states}
    bend: dict[tuple[str, str], float] = {}
    for u, v in g.edges():
        if u == v:
            continue
        others = [boxes[s] for s in states if s not in (u, v)]
        for rad in (0.0, 0.25, -0.25, 0.4, -0.4, 0.6, -0.6):
            pts = _bezier(pos[u], pos[v], rad)
            if not any(_inside(p, b, 0.12) for p in pts for b in others):
                break
        bend[(u, v)] = rad
    return StateLayout(cells, pos, bend, dx, _DY)


def _place_labels(
    g: nx.DiGraph,
    layout: StateLayout,
    texts: dict[tuple[str, str], str],
    loops: dict[str, str],
) -> tuple[dict[tuple[str, str], tuple[float, float]], dict[str, tuple[float, float, str, str]]]:
    """Label positions that overlap no state, no other label and (if possible) no foreign arrow."""
    pos = layout.pos
    occupied = [_box(pos[s], _node_size(s)) for s in g]
    curves = {
        (u, v): _bezier(pos[u], pos[v], layout.bend[(u, v)], 40) for u, v in g.edges() if u != v
    }

    def clear(box, own: tuple[str, str] | None) -> bool:
        if any(_overlap(box, b) for b in occupied):
            return False
        return not any(_inside(p, box, 0.03) for e, pts in curves.items() if e != own for p in pts)

    def crossings(box) -> int:
        hit = sum(_overlap(box, b) for b in occupied) * 100
        return hit + sum(any(_inside(p, box, 0.03) for p in pts) for pts in curves.values())

    edge_at: dict[tuple[str, str], tuple[float, float]] = {}
    # Longest labels first: they have the fewest places to go.
    for e in sorted(texts, key=lambda e: (-len(texts[e]), list(g.edges()).index(e))):
        pts = curves[e]
        size = (_CHAR * len(texts[e]) + 0.12, _LINE + 0.06)
        flat = abs(pos[e[0]][1] - pos[e[1]][1]) < 1e-9 and layout.bend[e] == 0
        candidates = []
        for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78):
            x, y = pts[round(t * (len(pts) - 1))]
            if flat:  # a horizontal arrow: the label above it, then below
                candidates += [(x, y + 0.19), (x, y - 0.19)]
            else:  # on the arrow, in a white box
                candidates.append((x, y))
        chosen = next((c for c in candidates if clear(_box(c, size), e)), None)
        if chosen is None:  # crowded: at least keep clear of states and other labels
            chosen = next(
                (c for c in candidates if not any(_overlap(_box(c, size), b) for b in occupied)),
                candidates[0],
            )
        edge_at[e] = chosen
        occupied.append(_box(chosen, size))
    loop_at: dict[str, tuple[float, float, str, str]] = {}
    for s, text in loops.items():
        x, y = pos[s]
        w, h = _node_size(s)
        size = (_CHAR * len(text) + 0.1, _LINE + 0.04)
        lw = size[0]
        gap = h / 2 + size[1] / 2 + 0.05
        candidates = [
            (x, y + gap),
            (x - w / 2 + lw / 2 - 0.25, y - gap),
            (x, y - gap),
            (x + w / 2 - lw / 2 + 0.25, y - gap),
            (x - w / 2 - lw / 2 - 0.05, y + gap),
            (x + w / 2 + lw / 2 + 0.05, y + gap),
            (x - w / 2 - lw / 2 - 0.05, y - gap),
            (x + w / 2 + lw / 2 + 0.05, y - gap),
        ]
        chosen = next((c for c in candidates if clear(_box(c, size), None)), None)
        if chosen is None:  # crowded: the place crossed by the fewest arrows
            chosen = min(candidates, key=lambda c: crossings(_box(c, size)))
        loop_at[s] = (chosen[0], chosen[1], "center", "center")
        occupied.append(_box(chosen, size))
    return edge_at, loop_at


def draw_state_machine(
    states: Sequence[str],
    transitions: Iterable[tuple[str, str] | tuple[str, str, str]],
    path: Sequence[str] | None = None,
    ax: Any = None,
    *,
    title: str | None = None,
) -> Any:
    """Draw a saga's state machine and, if given, the ``path`` one saga took; return the Axes.

    Parameters
    ----------
    states:
        State names; the first is where a saga starts.
    transitions:
        ``(src, dst)`` or ``(src, dst, label)`` tuples.  A self-loop (a
        retry) is written beside its state, ``↻ retry``.
    path:
        The states one saga went through, in order; its transitions are
        drawn thick and numbered (``#1 start``, ``#2 ok``...).  A step not
        in ``transitions`` raises ``ValueError``: the picture must not show
        a path the machine cannot take.

    Every artist carries a ``gid`` saying what it is (``state:<name>``,
    ``transition:<src>-><dst>``, ``label:<src>-><dst>``, ``loop:<state>``),
    so a test can check the drawn geometry.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    transitions = list(transitions)
    g = state_graph(states, transitions)
    steps: list[tuple[str, str]] = []
    if path:
        for s in path:
            if s not in g:
                raise ValueError(f"path names state {s!r}, which is not in states")
        steps = list(zip(path, path[1:], strict=False))
        for u, v in steps:
            if not g.has_edge(u, v):
                raise ValueError(f"path takes {u!r} -> {v!r}, which is not a transition")
    layout = state_layout(states, transitions)
    pos = layout.pos
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    half = max((_node_size(s)[0] for s in states), default=1.0) / 2 + 0.3
    x_lo, x_hi = min(xs) - half, max(xs) + half
    y_lo, y_hi = min(ys) - 0.5, max(ys) + 0.6
    if ax is None:
        width, height = x_hi - x_lo, y_hi - y_lo
        _, ax = plt.subplots(figsize=(width + 0.2, height + 0.8), layout="constrained")
    taken: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(steps, start=1):
        taken.setdefault(e, []).append(i)

    def text_of(u: str, v: str) -> str:
        text = g.edges[u, v]["label"]
        if (u, v) in taken:
            text = ("#" + ",".join(map(str, taken[(u, v)])) + " " + text).strip()
        return text

    texts = {(u, v): text_of(u, v) for u, v in g.edges() if u != v and text_of(u, v)}
    loops = {u: "\u21bb " + (text_of(u, u) or "again") for u, v in g.edges() if u == v}
    for u, v in g.edges():  # "#4,#5 retry" reads "#4,#5 ↻ retry"
        if u == v and (u, v) in taken:
            loops[u] = "#" + ",".join(map(str, taken[(u, v)])) + " \u21bb " + g.edges[u, v]["label"]
    edge_at, loop_at = _place_labels(g, layout, texts, loops)

    visited = set(path or ())
    nodes = {}
    for s in g:
        x, y = pos[s]
        face = TERMINAL_COLORS.get(s) or (_COMPENSATING if "compens" in s else _STATE)
        last = bool(path) and s == path[-1]  # type: ignore[index]
        nodes[s] = ax.text(
            x,
            y,
            s,
            ha="center",
            va="center",
            fontsize=10,
            fontweight="bold" if s in visited else "normal",
            color="white" if s in ("completed", "needs-attention") else "black",
            bbox=dict(
                boxstyle="round,pad=0.4",
                fc=face,
                ec=_HOT if s in visited else "#777777",
                lw=3.0 if last else (2.0 if s in visited else 0.8),
            ),
            zorder=3,
            gid=f"state:{s}",
        )
    for u, v in g.edges():
        if u == v:
            continue
        hot = (u, v) in taken
        # Drawn after the states (higher zorder), so each arrow is clipped at the
        # boxes as they are drawn: it starts and ends at their edges.
        arrow = FancyArrowPatch(
            pos[u],
            pos[v],
            arrowstyle="-|>",
            mutation_scale=14,
            color=_HOT if hot else _COLD,
            lw=2.4 if hot else 1.0,
            connectionstyle=f"arc3,rad={layout.bend[(u, v)]}",
            patchA=nodes[u].get_bbox_patch(),
            patchB=nodes[v].get_bbox_patch(),
            shrinkA=1,
            shrinkB=1,
            zorder=5 if hot else 4,
            gid=f"transition:{u}->{v}",
        )
        ax.add_patch(arrow)
        if (u, v) in texts:
            x, y = edge_at[(u, v)]
            ax.text(
                x,
                y,
                texts[(u, v)],
                fontsize=10,
                ha="center",
                va="center",
                color=_HOT_TEXT if hot else _COLD_TEXT,
                fontweight="bold" if hot else "normal",
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9),
                zorder=6,
                gid=f"label:{u}->{v}",
            )
    for s, (x, y, ha, va) in loop_at.items():
        hot = (s, s) in taken
        ax.text(
            x,
            y,
            loops[s],
            fontsize=10,
            ha=ha,
            va=va,
            color=_HOT_TEXT if hot else _COLD_TEXT,
            fontweight="bold" if hot else "normal",
            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9),
            zorder=6,
            gid=f"loop:{s}",
        )
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.set_axis_off()
    handles = [Line2D([], [], color=_COLD, lw=1.0, label="a transition the saga can take")]
    if path:
        handles.insert(
            0, Line2D([], [], color=_HOT, lw=2.4, label="the path this saga took, numbered")
        )
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=len(handles),
        frameon=False,
        fontsize=10,
        borderaxespad=0.2,
    )
    if title is None:
        title = "saga state machine"
        if path:
            title += f": this saga went {' -> '.join(path)}"
    ax.set_title(title, loc="left", fontsize=10, wrap=True, pad=26)
    note(
        ax,
        "A saga's state machine: the happy path left to right on top, each compensation"
        " under its step running right to left into compensated, needs-attention below;"
        " arrows are transitions, labelled with what moves the saga",
    )
    return ax

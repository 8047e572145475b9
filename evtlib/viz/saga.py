"""A saga as a state machine: its states, its transitions, and the path one saga took.

The input is plain data, so any saga implementation can be drawn:

    states = ["running", "reserve-stock", "charge-card", "completed",
              "compensating", "release-stock", "compensated", "needs-attention"]
    transitions = [("running", "reserve-stock", "start"), ...]
    draw_state_machine(states, transitions, path=["running", "reserve-stock", ...])

States are laid out in columns by their distance from the first state
(ignoring edges that go back), top to bottom in the order given.  The
states a saga ends in get their colours: completed green, compensated
amber, needs-attention red.  ``path`` is drawn over the graph in orange,
with the step number on each transition it took.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

__all__ = ["draw_state_machine", "state_graph", "TERMINAL_COLORS"]

#: Colours of the states a saga ends in.
TERMINAL_COLORS = {
    "completed": "#59A14F",
    "compensated": "#F1A340",
    "needs-attention": "#C62828",
}
_STATE = "#D6E4F0"
_COMPENSATING = "#F3D9EC"


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
        State names, in the order to stack them within a column.
    transitions:
        ``(src, dst)`` or ``(src, dst, label)`` tuples.
    path:
        The states one saga went through, in order; its transitions are
        drawn in orange and numbered.  A step not in ``transitions`` raises
        ``ValueError``: the picture must not show a path the machine cannot take.
    """
    import matplotlib.pyplot as plt

    from .flowgraph import layered_layout

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
    pos = layered_layout(g, dx=3.0, dy=1.1)
    if ax is None:
        layers = [d["layer"] for _, d in g.nodes(data=True)]
        tallest = max((layers.count(k) for k in set(layers)), default=1)
        _, ax = plt.subplots(figsize=(11, max(3.0, 1.0 * tallest + 1.2)), layout="constrained")
    taken: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(steps, start=1):
        taken.setdefault(e, []).append(i)
    loops: dict[str, list[str]] = {}
    for u, v, data in g.edges(data=True):
        hot = (u, v) in taken
        text = data["label"]
        if hot:
            text = ("#" + ",".join(map(str, taken[(u, v)])) + " " + text).strip()
        if u == v:  # a self-loop (a retry): written above the state
            loops.setdefault(u, []).append("\u21bb " + (text or "again"))
            continue
        (x0, y0), (x1, y1) = pos[u], pos[v]
        bend = 0.0 if x1 > x0 else 0.3
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops=dict(
                arrowstyle="-|>",
                color="#E07B00" if hot else "#9E9E9E",
                lw=2.4 if hot else 1.0,
                shrinkA=22,
                shrinkB=22,
                connectionstyle=f"arc3,rad={bend}",
            ),
            zorder=2 if hot else 1,
        )
        if text:
            # The middle of the (possibly bent) arrow: arc3 moves it by rad/2 * (dy, -dx).
            mx = (x0 + x1) / 2 + bend / 2 * (y1 - y0)
            my = (y0 + y1) / 2 - bend / 2 * (x1 - x0)
            ax.text(
                mx,
                my + 0.06,
                text,
                fontsize=10,
                ha="center",
                va="bottom",
                color="#A35200" if hot else "#555555",
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8),
                zorder=3,
            )
    for s, texts in loops.items():
        x, y = pos[s]
        ax.text(x, y + 0.32, ", ".join(texts), fontsize=10, ha="center", color="#555555", zorder=3)
    visited = set(path or ())
    for s in g:
        x, y = pos[s]
        face = TERMINAL_COLORS.get(s) or (_COMPENSATING if "compens" in s else _STATE)
        last = path is not None and len(path) > 0 and s == path[-1]
        ax.text(
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
                ec="#E07B00" if s in visited else "#777777",
                lw=3.0 if last else (2.0 if s in visited else 0.8),
            ),
            zorder=4,
        )
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_axis_off()
    if title is None:
        title = "saga state machine"
        if path:
            title += f": this saga went {' -> '.join(path)}"
    ax.set_title(title, loc="left", fontsize=10, wrap=True)
    return ax

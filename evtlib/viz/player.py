"""Step through a trace, one record at a time.

:func:`render_step` draws step ``k``: the flow graph with the actors of that
record ringed and its sentence ("t=84 ms: the broker delivered
evt-000002 from orders[0]@0 to billing-1") as the title.  It is a plain
function, so a notebook can show a few chosen steps as static pictures and
tests can check them.

:func:`step_player` wraps it in a widget (Play button, slider, output area)
for a live kernel.  Under nbval the widget does nothing: the static steps
carry the lesson.
"""

from __future__ import annotations

from typing import Any

from ..broker import Broker
from ..sim import Scheduler
from ..trace import Trace, TraceRecord
from .flowgraph import draw_flow, flow_graph, node_id, trace_graph

__all__ = ["render_step", "step_player", "actors_of"]


def _trace(trace: Trace | Scheduler) -> Trace:
    if isinstance(trace, Scheduler):
        return trace.trace
    if not isinstance(trace, Trace):
        raise TypeError(
            f"trace must be a Trace, a Simulation or another runner (Scheduler), got {trace!r}"
        )
    return trace


def actors_of(record: TraceRecord) -> list[str]:
    """The flow-graph nodes a record involves: its actor, topic and partition.

    The actor may be a producer, consumer or group: all three ids are
    listed and the drawing rings whichever exists.
    """
    out = [node_id(k, record.actor) for k in ("producer", "consumer", "group")]
    if record.topic is not None:
        out += [node_id("topic", record.topic), node_id("dlq", record.topic)]
        if record.partition is not None:
            out.append(node_id("partition", f"{record.topic}[{record.partition}]"))
    return out


def render_step(
    trace: Trace | Scheduler, k: int, broker: Broker | None = None, ax: Any = None
) -> Any:
    """Draw step ``k`` of ``trace`` (0-based; negative counts from the end); return the Axes.

    With ``broker``, the flow graph is the system's, with its snapshot at
    the step's time (lag per partition and group, who was down); without,
    it is read from the trace alone (:func:`~evtlib.viz.flowgraph.trace_graph`).
    """
    tr = _trace(trace)
    n = len(tr)
    if not isinstance(k, int) or isinstance(k, bool) or not -n <= k < n:
        raise IndexError(f"step must be an int in 0..{n - 1}, got {k!r}")
    record = tr[k]
    if broker is not None:
        graph = flow_graph(broker, at=record.time)
    else:
        graph = trace_graph(tr)
    hot = actors_of(record)
    if broker is not None:
        # A consumer's step also lights its group, so the path reads end to end.
        for c in broker.consumers:
            if c.name == record.actor:
                hot.append(node_id("group", c.group.name))
    ax = draw_flow(graph, ax, snapshot=broker is not None, highlight=hot, title="")
    step = k % n
    ax.set_title(f"step {step + 1}/{n}   {record.sentence()}", loc="left", fontsize=10)
    return ax


def step_player(trace: Trace | Scheduler, broker: Broker | None = None) -> Any:
    """A widget to play a trace step by step: Play, a slider and the picture.

    Returns an ipywidgets ``VBox``; the notebook displays it.  The slider
    only redraws when released (``continuous_update=False``).
    """
    import ipywidgets as widgets
    from IPython.display import display
    from matplotlib.figure import Figure

    tr = _trace(trace)
    last = max(len(tr) - 1, 0)
    play = widgets.Play(value=0, min=0, max=last, step=1, interval=800, description="play")
    slider = widgets.IntSlider(
        value=0, min=0, max=last, step=1, description="step", continuous_update=False
    )
    widgets.jslink((play, "value"), (slider, "value"))
    out = widgets.Output()

    def show(k: int) -> None:
        # A bare Figure (not pyplot): nothing global is created or left open.
        fig = Figure(figsize=(10, 5), layout="constrained")
        render_step(tr, k, broker, fig.add_subplot())
        with out:
            out.clear_output(wait=True)
            display(fig)

    slider.observe(lambda change: show(change["new"]), names="value")
    if len(tr):
        show(0)
    return widgets.VBox([widgets.HBox([play, slider]), out])

"""evtlib.viz: pictures and widgets for the course.

The only part of evtlib that imports matplotlib, networkx and ipywidgets.
Every ``draw_*`` function takes ``ax=None`` (a new figure if omitted),
returns what it drew, never calls ``plt.show()`` and never changes global
settings; :func:`use_course_style` is the one call that does, once per
notebook.

    from evtlib.viz import use_course_style, draw_flow, draw_timeline
    use_course_style()
    ax = draw_flow(broker)
"""

from .describe import describe
from .explorer import explore, progress, quiet, widget_for
from .flowgraph import draw_flow, flow_graph, layered_layout, trace_graph
from .lag import compare, draw_consistency_lag, draw_consumer_lag
from .outcomes import draw_outcomes
from .patterns import draw_retention_grid, draw_retry_delays, draw_storm, draw_tallies
from .player import actors_of, render_step, step_player
from .saga import draw_state_machine, state_graph
from .style import COLORS, PALETTE, color_for, first_seen_colors, kind_color, use_course_style
from .system import draw_dashboard, draw_saga_timeline
from .timeline import MARKERS, TimelineDrawn, draw_timeline, lanes_of

__all__ = [
    "use_course_style",
    "COLORS",
    "PALETTE",
    "color_for",
    "first_seen_colors",
    "kind_color",
    "flow_graph",
    "trace_graph",
    "layered_layout",
    "draw_flow",
    "draw_timeline",
    "TimelineDrawn",
    "MARKERS",
    "lanes_of",
    "render_step",
    "step_player",
    "actors_of",
    "draw_consistency_lag",
    "draw_consumer_lag",
    "compare",
    "draw_outcomes",
    "draw_tallies",
    "draw_retry_delays",
    "draw_storm",
    "draw_retention_grid",
    "draw_saga_timeline",
    "draw_dashboard",
    "draw_state_machine",
    "state_graph",
    "explore",
    "describe",
    "widget_for",
    "progress",
    "quiet",
]

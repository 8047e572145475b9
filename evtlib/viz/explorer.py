"""Explorers: sliders and menus that re-run a scenario and redraw it.

:func:`explore` turns parameter specs into widgets:

* ``rate=(10, 200, 10)``: a slider from 10 to 200 in steps of 10 (ints if
  all three are ints, floats otherwise); ``(lo, hi)`` steps by 1;
  ``(lo, hi, step, start)`` also says where the slider starts.
* ``consumers=[1, 2, 3]``: a drop-down menu.
* ``crash=True``: a checkbox.
* anything else (a str, a number): passed as it is, no widget.

Each change runs ``scenario_fn(**params)`` and ``draw_fn(result)``, and the
figure replaces the previous one.  The first result is drawn at once as an
ordinary figure, so the notebook reads well without a running kernel (and
under nbval, which ignores widgets).  Callbacks draw; they never print.

:func:`progress` wraps a long loop (a sweep over seeds) in a progress bar,
only where someone is watching.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["explore", "widget_for", "progress", "quiet"]

T = TypeVar("T")


def widget_for(name: str, spec: Any) -> Any:
    """The widget for one parameter spec, or ``None`` for a fixed value."""
    import ipywidgets as widgets

    common = dict(description=name, continuous_update=False, style={"description_width": "initial"})
    if isinstance(spec, bool):
        return widgets.Checkbox(value=spec, description=name)
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"{name}: a list spec needs at least one option, got []")
        return widgets.Dropdown(options=spec, value=spec[0], description=name)
    if isinstance(spec, tuple):
        if not 2 <= len(spec) <= 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec
        ):
            raise ValueError(
                f"{name}: a slider spec is (lo, hi), (lo, hi, step) or (lo, hi, step, start), got {spec!r}"
            )
        lo, hi = spec[0], spec[1]
        step = spec[2] if len(spec) > 2 else 1
        start = spec[3] if len(spec) > 3 else lo
        if not lo < hi or not step > 0 or not lo <= start <= hi:
            raise ValueError(f"{name}: need lo < hi, step > 0 and lo <= start <= hi, got {spec!r}")
        cls = widgets.IntSlider if all(isinstance(v, int) for v in spec) else widgets.FloatSlider
        return cls(value=start, min=lo, max=hi, step=step, **common)
    return None


def _figure_of(drawn: Any) -> Any:
    from matplotlib.figure import Figure

    if isinstance(drawn, Figure):
        return drawn
    ax = getattr(drawn, "ax", drawn)  # a TimelineDrawn or an Axes
    fig = getattr(ax, "figure", None)
    if fig is None:
        raise TypeError(
            f"draw_fn must return a Figure, an Axes or a result with .ax, got {drawn!r}"
        )
    return fig


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def explore(
    scenario_fn: Callable[..., Any], draw_fn: Callable[[Any], Any], **param_specs: Any
) -> Any:
    """Widgets for ``param_specs`` that re-run ``scenario_fn`` and redraw with ``draw_fn``.

    ``draw_fn(result)`` returns a Figure, an Axes or something with ``.ax``
    (like :class:`~evtlib.viz.timeline.TimelineDrawn`).  Returns the
    controls (an ipywidgets ``VBox`` whose last child is an ``Output`` that
    shows any error a run raises); the figure itself is displayed above it
    and updated in place.

        explore(run_shop, lambda sim: draw_consumer_lag(sim.group), rate=(10, 200, 10),
                consumers=[1, 2, 3], seed=(0, 20))
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    controls = {name: widget_for(name, spec) for name, spec in param_specs.items()}
    fixed = {name: spec for name, spec in param_specs.items() if controls[name] is None}
    live = {name: w for name, w in controls.items() if w is not None}
    out = widgets.Output()

    def params() -> dict[str, Any]:
        return {**fixed, **{name: w.value for name, w in live.items()}}

    def render() -> Any:
        fig = _figure_of(draw_fn(scenario_fn(**params())))
        plt.close(fig)  # displayed explicitly below, never again by pyplot
        return fig

    first = render()
    handle = display(first, display_id=True) if _in_kernel() else None

    def update(_change: Any = None) -> None:
        with out:  # an exception is shown here, in the output area
            out.clear_output(wait=True)
            fig = render()
            if handle is not None:
                handle.update(fig)

    for w in live.values():
        w.observe(update, names="value")
    box = widgets.VBox([*live.values(), out])
    box.first_figure = first  # for tests and for saving the default picture
    box.redraw = update
    box.current_params = params
    return box


def quiet() -> bool:
    """Whether progress bars stay silent.

    The rule: silent unless running in a live IPython kernel, and also
    silent when ``EVTLIB_QUIET=1``, ``CI`` is set, or pytest/nbval is
    running (``PYTEST_CURRENT_TEST``, which a kernel started by nbval
    inherits).  So test outputs never contain a bar's changing text.
    """
    env = os.environ
    if env.get("EVTLIB_QUIET", "") not in ("", "0") or env.get("CI") or env.get("NBVAL"):
        return True
    if "PYTEST_CURRENT_TEST" in env:
        return True
    return not _in_kernel()


def progress(
    iterable: Iterable[T], total: int | None = None, desc: str | None = None
) -> Iterator[T]:
    """Iterate ``iterable`` with a progress bar in a live notebook; silently elsewhere.

    See :func:`quiet` for when it is silent.  ``total`` defaults to
    ``len(iterable)`` when it has one.
    """
    if quiet():
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc)

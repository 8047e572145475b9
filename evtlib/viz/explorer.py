"""Explorers: sliders and menus that re-run a scenario and redraw it.

:func:`explore` turns parameter specs into widgets:

* ``rate=(10, 200, 10)``: a slider from 10 to 200 in steps of 10 (ints if
  all three are ints, floats otherwise); ``(lo, hi)`` steps by 1;
  ``(lo, hi, step, start)`` also says where the slider starts.
* ``consumers=[1, 2, 3]``: a drop-down menu.
* ``crash=True``: a checkbox.
* anything else (a str, a number): passed as it is, no widget.

Each change runs ``scenario_fn(**params)`` and ``draw_fn(result)``, and the
picture replaces the previous one.  The first result is drawn at once as an
ordinary figure, so the notebook reads well without a running kernel (and
under nbval, which ignores widgets).  Callbacks draw; they never print.

A slider must answer within a blink, so an explorer does three things
(``benchmarks/interactive.py`` measures them; the largest share of a redraw
is matplotlib laying out and drawing text, not evtlib):

* **One figure, redrawn in place.**  When ``draw_fn`` takes an ``ax``
  argument, the explorer keeps the first figure: each change removes what
  was drawn (lines, markers, legends, texts), keeps the Axes with their
  ticks and frame, and calls ``draw_fn(result, ax=...)`` with them again.
  Creating a figure and its Axes and ticks costs about as much as drawing
  them.  The layout (constrained or not) is worked out for the first figure
  and then kept.  A ``draw_fn`` without ``ax`` gets a new figure each time.
* **One draw, a quick PNG.**  The picture is drawn once with Agg and
  encoded with light compression, instead of IPython's default that draws
  it twice (once to find a tight bounding box) and compresses harder.
* **Results kept per parameter set, and the next ones run ahead.**  The
  last :data:`CACHE_SIZE` results and their pictures are kept, so moving a
  slider back costs nothing.  After a learner moves a control, the
  scenario for one step either side on that control runs in a background
  thread while they look at the picture, so the next step only draws.
  Scenarios are seeded: the same parameters give the same result.  (The
  look-ahead runs only after a move, where someone watches: see
  :func:`quiet`; never under nbval.)

Every picture carries alt text (:func:`~evtlib.viz.describe.describe`) in
its output's metadata, ``metadata["image/png"]["alt"]``.

:func:`progress` wraps a long loop (a sweep over seeds) in a progress bar,
only where someone is watching.
"""

from __future__ import annotations

import base64
import inspect
import io
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

from .describe import describe, forget

__all__ = [
    "explore",
    "widget_for",
    "progress",
    "quiet",
    "png_of",
    "clear_drawing",
    "show_error",
    "CACHE_SIZE",
]

T = TypeVar("T")

#: How many scenario results an explorer keeps (one per parameter set, least recent out).
CACHE_SIZE = 8


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


def _axes_of(drawn: Any) -> Any:
    """What to pass back as ``ax``: the Axes drawn on, or all of a Figure's Axes."""
    from matplotlib.figure import Figure

    if isinstance(drawn, Figure):
        return tuple(drawn.axes)
    return getattr(drawn, "ax", drawn)


def _takes_ax(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or a C function: no ax
        return False
    ax = params.get("ax")
    return ax is not None and ax.kind in (ax.POSITIONAL_OR_KEYWORD, ax.KEYWORD_ONLY)


def clear_drawing(ax: Any) -> None:
    """Remove what was drawn on ``ax``, keeping the Axes, its ticks and frame.

    Lines, collections, patches, texts, images, the legend, fixed limits,
    categories and log scales go; the axis objects stay (re-creating them is
    most of the cost of a new figure).  A draw function then sets title, labels and limits
    again, as it does on a new Axes.
    """
    from matplotlib.category import UnitData
    from matplotlib.transforms import Bbox

    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images, *ax.artists]:
        artist.remove()
    ax.containers.clear()  # bar containers: a legend would find the old bars in them
    if ax.legend_ is not None:
        ax.legend_.remove()
    for child in list(ax.child_axes):  # insets
        child.remove()
    for axis, scale, set_scale in (
        (ax.xaxis, ax.get_xscale(), ax.set_xscale),
        (ax.yaxis, ax.get_yscale(), ax.set_yscale),
    ):
        if isinstance(axis.get_units(), UnitData):  # categories (bars by name) start afresh
            axis.set_units(UnitData())
        if scale != "linear":  # a draw that wants a log scale sets it again
            set_scale("linear")
    ax.dataLim.set(Bbox.null())
    ax.ignore_existing_data_limits = True
    ax.set_autoscale_on(True)
    forget(ax)
    ax.set_title("", loc="left")
    ax.set_title("")
    ax.set_title("", loc="right")


def png_of(fig: Any, *, relayout: Any = None) -> bytes:
    """``fig`` drawn once with Agg and encoded as a PNG (fast compression), as bytes.

    The whole figure at its size and dpi: no tight bounding box (which would
    draw it twice), so every picture of an explorer has the same size.
    ``relayout``: a layout engine (``"constrained"``) to run again, and draw
    again, if something drawn sticks out of the figure (a redraw in place
    keeps the first layout, and wider tick labels may need more margin).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    if relayout is not None and _sticks_out(fig, canvas.get_renderer()):
        fig.set_layout_engine(relayout)
        canvas.draw()
        fig.set_layout_engine("none")
    rgba = np.asarray(canvas.buffer_rgba())
    buf = io.BytesIO()
    # Level 1: ~12 ms for 1000 x 700 px, a quarter faster than the default 6, for a file
    # ~10% larger (~65 kB).  (zlib's run-length strategy was no faster here.)
    Image.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _sticks_out(fig: Any, renderer: Any) -> bool:
    """Whether any Axes' labels, ticks or legend reach past the figure's edges."""
    width, height = fig.bbox.width, fig.bbox.height
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)
        if box is not None and (
            box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1
        ):
            return True
    return False


def _bundle(fig: Any, png: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """A display bundle like the inline backend's (same text/plain), plus alt text."""
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(fig)}
    return data, {"image/png": {"alt": describe(fig)}}


def show_error(exc_info: Any, shell: Any = None) -> None:
    """Show an error as the notebook shows a cell's: through the shell's own handler.

    The course's setup installs a handler that keeps the learner's lines and
    drops evtlib's frames; an error raised in a slider's callback goes
    through it too, instead of the full traceback ipywidgets would print.
    """
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    etype, value, tb = exc_info
    if shell is None:
        raise value
    if shell.custom_exceptions and isinstance(value, shell.custom_exceptions):
        shell.CustomTB(etype, value, tb)
    else:
        shell.showtraceback(exc_info)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _key(params: dict[str, Any]) -> Hashable | None:
    key = tuple(sorted(params.items()))
    try:
        hash(key)
    except TypeError:  # an unhashable option (a dict in a menu): not cached
        return None
    return key


def explore(
    scenario_fn: Callable[..., Any], draw_fn: Callable[..., Any], **param_specs: Any
) -> Any:
    """Widgets for ``param_specs`` that re-run ``scenario_fn`` and redraw with ``draw_fn``.

    ``draw_fn(result)`` returns a Figure, an Axes or something with ``.ax``
    (like :class:`~evtlib.viz.timeline.TimelineDrawn`).  If it also takes
    ``ax`` (``def draw(result, ax=None)``), every redraw reuses the first
    figure: ``ax`` is then the Axes it returned the first time, or the tuple
    of the Figure's Axes if it returned a Figure, each cleared with
    :func:`clear_drawing`.  That is about twice as fast.

    ``scenario_fn`` must depend on its parameters only (seeded) and share
    nothing mutable between calls: the last :data:`CACHE_SIZE` results are
    kept and reused for the same parameters, and after a move the values one
    step either side are run ahead in a background thread
    (``box.look_ahead``, on where :func:`quiet` is False: a live kernel,
    not nbval; ``box.wait_ahead()`` waits for it).

    Returns the controls (an ipywidgets ``VBox`` whose last child is an
    ``Output`` that shows any error a run raises); the figure itself is
    displayed above it and updated in place.  ``box.first_figure`` is the
    first figure, ``box.figure`` the one drawn last (a picture from the
    cache is not drawn again); ``box.cache_clear()`` forgets kept results.

        explore(run_shop, lambda run, ax=None: draw_consumer_lag(run.group, ax),
                rate=(10, 200, 10), consumers=[1, 2, 3], seed=(0, 20))
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    controls = {name: widget_for(name, spec) for name, spec in param_specs.items()}
    fixed = {name: spec for name, spec in param_specs.items() if controls[name] is None}
    live = {name: w for name, w in controls.items() if w is not None}
    out = widgets.Output()
    in_place = _takes_ax(draw_fn)
    cache: OrderedDict[Hashable, Any] = OrderedDict()
    pictures: dict[Hashable, tuple[Any, bytes]] = {}  # key -> (figure, PNG), for cached results
    lock = threading.Lock()  # the cache is shared with the look-ahead thread
    ahead: list[threading.Thread] = []

    def params() -> dict[str, Any]:
        return {**fixed, **{name: w.value for name, w in live.items()}}

    def keep(key: Hashable, result: Any) -> None:  # with the lock held
        cache[key] = result
        cache.move_to_end(key)
        while len(cache) > CACHE_SIZE:
            old, _ = cache.popitem(last=False)
            pictures.pop(old, None)

    def result_for(p: dict[str, Any]) -> Any:
        key = _key(p)
        with lock:
            if key is not None and key in cache:
                cache.move_to_end(key)
                return cache[key]
        result = scenario_fn(**p)
        if key is not None:
            with lock:
                keep(key, result)
        return result

    def neighbours(name: str) -> list[dict[str, Any]]:
        """The parameters one step away on control ``name``, the others as they are."""
        w, p = live[name], params()
        values: list[Any]
        if isinstance(w, widgets.Checkbox):
            values = [not w.value]
        elif isinstance(w, widgets.Dropdown):
            options = list(w.options)
            i = options.index(w.value) if w.value in options else -1
            values = [options[j] for j in (i - 1, i + 1) if 0 <= j < len(options) and i >= 0]
        else:
            values = [
                round(v, 10) if isinstance(v, float) else v
                for v in (w.value - w.step, w.value + w.step)
                if w.min <= v <= w.max
            ]
        return [{**p, name: v} for v in values]

    def look_ahead(name: str) -> None:
        for p in neighbours(name):
            key = _key(p)
            with lock:
                if key is None or key in cache:
                    continue
            try:
                result = scenario_fn(**p)
            except Exception:  # noqa: BLE001 - moving there runs it again and shows the error
                continue
            with lock:
                keep(key, result)

    drawn_on: list[Any] = []  # the Axes to draw on again (in place), once known
    engine: list[Any] = [None]  # the first figure's layout engine, run again only if needed

    def draw(result: Any) -> tuple[Any, bytes]:
        if drawn_on:
            axes = drawn_on[0]
            for ax in axes if isinstance(axes, tuple) else (axes,):
                clear_drawing(ax)
            fig = _figure_of(draw_fn(result, ax=axes))
            return fig, png_of(fig, relayout=engine[0])
        drawn = draw_fn(result)
        fig = _figure_of(drawn)
        plt.close(fig)  # displayed explicitly below, never again by pyplot
        png = png_of(fig)
        if in_place:
            drawn_on.append(_axes_of(drawn))
            # The first layout is kept: a layout engine re-measures every text at each
            # draw.  It runs again only when something no longer fits (see png_of).
            engine[0] = fig.get_layout_engine()
            fig.set_layout_engine("none")
        return fig, png

    def render() -> tuple[Any, bytes]:
        p = params()
        key = _key(p)
        result = result_for(p)
        with lock:
            if key is not None and key in pictures:
                return pictures[key]  # the same parameters draw the same picture
        picture = draw(result)
        with lock:
            if key is not None and key in cache:
                pictures[key] = picture
        return picture

    first, png = render()
    handle = None
    if _in_kernel():
        data, metadata = _bundle(first, png)
        handle = display(data, raw=True, metadata=metadata, display_id=True)

    def update(change: Any = None) -> None:
        with out:  # an exception is shown here, in the output area
            if handle is not None:  # (outside a kernel, clear_output prints escape codes)
                out.clear_output(wait=True)
            try:
                fig, png = render()
            except Exception:
                if handle is None:
                    raise
                show_error(sys.exc_info())
                return
            box.figure = fig
            if handle is not None:
                data, metadata = _bundle(fig, png)
                handle.update(data, raw=True, metadata=metadata)
        moved = [n for n, w in live.items() if change is not None and w is change.get("owner")]
        if box.look_ahead and moved and not (ahead and ahead[0].is_alive()):
            thread = threading.Thread(target=look_ahead, args=(moved[0],), daemon=True)
            ahead[:] = [thread]
            thread.start()

    def wait_ahead(timeout: float | None = None) -> None:
        if ahead:
            ahead[0].join(timeout)

    for w in live.values():
        w.observe(update, names="value")
    box = widgets.VBox([*live.values(), out])
    box.first_figure = first  # for tests and for saving the default picture
    box.figure = first
    box.redraw = update
    box.current_params = params

    def cache_clear() -> None:
        wait_ahead()
        with lock:
            cache.clear()
            pictures.clear()

    box.cache_clear = cache_clear
    # Only where someone is watching (quiet()'s rule: a live kernel, not nbval, CI or EVTLIB_QUIET).
    box.look_ahead = not quiet()
    box.wait_ahead = wait_ahead
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

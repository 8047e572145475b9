"""Animations that play without a kernel: a run unfolding, as a GIF.

The step player (:func:`~evtlib.viz.player.step_player`) needs a live kernel.
These functions draw the same pictures frame by frame and join them into an
animated GIF, which a static page shows as it is: the notebook on the code
host, the course's static site, a slide.

* :func:`timeline_gif`: the timeline of a run, growing as time passes (a
  crash and its redelivery, a saga and its compensations);
* :func:`steps_gif`: the flow graph, one trace record per frame, the actors
  of each step ringed (how an event travels through the system).

Each returns the GIF's bytes; :func:`show_gif` displays them in a notebook
with alt text.  Frames are drawn on bare Figures (nothing global changes)
and the same run gives the same frames.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import checks
from ..broker import Broker
from ..sim import Scheduler
from ..trace import Trace, TraceRecord
from .player import render_step
from .timeline import draw_timeline

__all__ = ["timeline_gif", "steps_gif", "show_gif"]


def _gif(frames: Sequence[bytes], fps: float) -> bytes:
    from PIL import Image  # Pillow comes with matplotlib

    images = [
        Image.open(io.BytesIO(png)).convert("P", palette=Image.Palette.ADAPTIVE) for png in frames
    ]
    out = io.BytesIO()
    duration = int(1000 / fps)
    durations = [duration] * (len(images) - 1) + [duration * 4]  # hold the last frame
    images[0].save(
        out, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )
    return out.getvalue()


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _records(source: Trace | Scheduler | Iterable[TraceRecord]) -> list[TraceRecord]:
    if isinstance(source, Scheduler):
        return list(source.trace)
    return list(source)


def timeline_gif(
    source: Trace | Scheduler | Iterable[TraceRecord],
    *,
    frames: int = 16,
    window: tuple[float, float] | None = None,
    fps: float = 3.0,
    dpi: int = 60,
    figsize: tuple[float, float] = (10, 4.5),
    **timeline_options: Any,
) -> bytes:
    """The timeline of a run drawn ``frames`` times, each showing what had happened by then.

    ``window`` fixes the time axis (default: the whole run), so nothing
    jumps between frames; other options go to
    :func:`~evtlib.viz.timeline.draw_timeline` (``title``, ``hide``,
    ``color_by``...).
    """
    checks.integer("frames", frames, min=2, max=200)
    checks.number("fps", fps, above=0)
    records = _records(source)
    if not records:
        raise ValueError("source must hold at least one trace record, got an empty trace")
    start, end = window if window is not None else (records[0].time, records[-1].time)
    if not end > start:
        end = start + 1.0
    pngs = []
    for i in range(1, frames + 1):
        now = start + (end - start) * i / frames
        shown = [r for r in records if r.time <= now]
        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
        draw_timeline(shown or records[:1], ax=ax, window=(start, end), **timeline_options)
        ax.axvline(now, linewidth=1.5, linestyle=":", color="0.3")
        pngs.append(_png(fig, dpi))
    return _gif(pngs, fps)


def steps_gif(
    trace: Trace | Scheduler,
    broker: Broker | None = None,
    *,
    steps: Iterable[int] | None = None,
    fps: float = 1.5,
    dpi: int = 55,
    figsize: tuple[float, float] = (10, 5),
) -> bytes:
    """The flow graph, one trace record a frame with its actors ringed (the step player's pictures).

    ``steps`` chooses the records (default: the first 30).
    """
    checks.number("fps", fps, above=0)
    tr = trace.trace if isinstance(trace, Scheduler) else trace
    chosen = list(steps) if steps is not None else list(range(min(len(tr), 30)))
    if not chosen:
        raise ValueError("steps must choose at least one record of the trace, got none")
    pngs = []
    for k in chosen:
        fig = Figure(figsize=figsize, layout="constrained")
        render_step(tr, k, broker, fig.add_subplot())
        pngs.append(_png(fig, dpi))
    return _gif(pngs, fps)


def show_gif(data: bytes, alt: str) -> None:
    """Display an animated GIF in a notebook, with ``alt`` text for people who cannot see it."""
    from IPython.display import Image, display

    checks.name("alt", alt)
    display(Image(data=data, format="gif"), metadata={"image/gif": {"alt": alt}})

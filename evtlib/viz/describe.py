"""Alt text: a sentence or two saying what a figure shows, for readers who cannot see it.

:func:`describe` reads a figure's own words: for each Axes its description
(set by the plot function that drew it, see :func:`note`) or its title, the
axis labels, the legend's entries and the labels written on it (a flow
graph's nodes).  The course's figures get it in their output's metadata,
``metadata["image/png"]["alt"]``, where the static site and screen readers
find it: :func:`~evtlib.viz.style.use_course_style` adds it to every figure
a notebook displays, and :func:`~evtlib.viz.explorer.explore` to each of its
pictures.

    ax = draw_consumer_lag(group)
    describe(ax.figure)   # 'Consumer lag over time. x: simulated time (ms); y: ...'
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

__all__ = ["describe", "note", "forget"]

#: Each Axes' description, as its plot function wrote it (weak: it goes with the Axes).
_NOTES: WeakKeyDictionary[Any, str] = WeakKeyDictionary()

_MAX_ITEMS = 12  # legend entries or labels listed per Axes: enough to say what is there


def note(ax: Any, text: str) -> Any:
    """Say in words what ``ax`` shows (a sentence); :func:`describe` starts with it. Returns ``ax``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    _NOTES[ax] = text.strip()
    return ax


def forget(ax: Any) -> None:
    """Drop ``ax``'s description (its drawing was cleared to draw another)."""
    _NOTES.pop(ax, None)


def _listed(items: list[str]) -> str:
    items = list(dict.fromkeys(i for i in items if i))
    more = len(items) - _MAX_ITEMS
    shown = ", ".join(items[:_MAX_ITEMS])
    return shown + (f" and {more} more" if more > 0 else "")


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _describe_axes(ax: Any) -> str:
    parts = []
    title = " ".join(t for t in (ax.get_title("left"), ax.get_title(), ax.get_title("right")) if t)
    explicit = _NOTES.get(ax)
    if explicit:
        parts.append(_sentence(explicit))
    if title:
        parts.append(_sentence(f"Titled: {title}" if explicit else title))
    axes_words = []
    if ax.get_xlabel():
        axes_words.append(f"x: {ax.get_xlabel()}")
    if ax.get_ylabel():
        axes_words.append(f"y: {ax.get_ylabel()}")
    if axes_words:
        parts.append(_sentence("; ".join(axes_words)))
    legend = ax.get_legend()
    if legend is not None:
        entries = [t.get_text() for t in legend.get_texts()]
        if entries:
            parts.append(_sentence("Legend: " + _listed(entries)))
    labels = [t.get_text() for t in ax.texts if t.get_visible()]
    if labels:
        parts.append(_sentence("Labels: " + _listed(labels)))
    return " ".join(parts)


def describe(fig: Any) -> str:
    """Alt text for ``fig`` (a Figure, an Axes or a drawn result with ``.ax``), from its own words."""
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        fig = getattr(getattr(fig, "ax", fig), "figure", None)
        if not isinstance(fig, Figure):
            raise TypeError(f"describe needs a Figure, an Axes or a result with .ax, got {fig!r}")
    texts = []
    if fig.get_suptitle():
        texts.append(_sentence(fig.get_suptitle()))
    panels = [a for a in fig.axes if a.get_visible() and a.axison or _NOTES.get(a) or a.texts]
    for i, ax in enumerate(panels):
        words = _describe_axes(ax)
        if not words:
            continue
        texts.append(f"Panel {i + 1}: {words}" if len(panels) > 1 else words)
    if not texts:
        return f"A figure with {len(fig.axes)} panel(s) and no labels."
    return " ".join(texts)

"""The course's look: one palette, one font size, PNG figures.

A notebook calls :func:`use_course_style` once, in its setup cell.  Nothing
here runs on import, and the plotting functions never change matplotlib's
global settings themselves: they draw with explicit colours and sizes.

Colours mean something and stay the same across notebooks:

* :data:`COLORS` gives each kind of trace record a colour (problems are
  warm: red for ``failed``/``crashed``, orange for ``redelivered``...).
* :func:`color_for` gives each event id (or correlation id, or consumer
  name) its own colour from :data:`PALETTE`, chosen by a CRC-32 of the
  text, so ``evt-000007`` has the same colour on every run and machine
  (Python's ``hash()`` is salted per process and would not be).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "COLORS",
    "PALETTE",
    "TOL_MUTED",
    "HATCHES",
    "KIND_COLORS",
    "RC",
    "color_for",
    "first_seen_colors",
    "kind_color",
    "use_course_style",
]

#: Paul Tol's "muted" qualitative scheme (nine colours), from his technical note
#: "Colour Schemes" (SRON/EPS/TN/09-002, issue 3.2, 2021), https://personal.sron.nl/~pault/.
#: Tol designed it to stay distinct for colour-blind readers; measured here
#: (evtlib.viz.colorblind: Machado et al. 2009 simulation at severity 1.0, CIEDE2000), the
#: closest pair is 15.0 apart for normal vision, 11.8 under protanopia, 14.0 under
#: deuteranopia and 11.6 under tritanopia (tests/test_palette.py keeps every one >= 10).
#: The palette used before had two pairs below 1.5 (its green and red: 0.7 under deuteranopia).
TOL_MUTED: dict[str, str] = {
    "indigo": "#332288",
    "cyan": "#88CCEE",
    "teal": "#44AA99",
    "green": "#117733",
    "olive": "#999933",
    "sand": "#DDCC77",
    "rose": "#CC6677",
    "wine": "#882255",
    "purple": "#AA4499",
}

#: Categorical colours for ids (events, correlations, consumers), in the order they are
#: handed out: the darker ones first (they read best as lines and small marks on white),
#: the light cyan and sand last.
PALETTE: tuple[str, ...] = tuple(
    TOL_MUTED[name]
    for name in ("indigo", "rose", "teal", "olive", "wine", "green", "purple", "cyan", "sand")
)

#: Fills for series of bars, in order, so that bars differ by more than colour.
HATCHES: tuple[str, ...] = ("", "//", "..", "xx", "\\\\", "oo", "++", "--", "**")

#: Colours for the roles in a system and for the kinds of trace record.  Colour is never
#: the only encoding: roles have their shapes and labels, kinds their markers (MARKERS in
#: evtlib.viz.timeline) and legend entries.  The normal path is cool, problems are warm
#: (Tol's "vibrant" red #CC3311 and orange #EE7733 beside the muted scheme).
COLORS: dict[str, str] = {
    # roles (nodes of a flow graph, lanes of a timeline)
    "producer": TOL_MUTED["indigo"],
    "topic": TOL_MUTED["purple"],
    "partition": "#D9B8D4",  # a light tint of the topic's purple
    "group": TOL_MUTED["cyan"],
    "consumer": TOL_MUTED["teal"],
    "readmodel": TOL_MUTED["olive"],
    "dlq": TOL_MUTED["wine"],
    "actor": "#777777",
    # kinds of record: the normal path is calm...
    "published": TOL_MUTED["indigo"],
    "delivered": TOL_MUTED["teal"],
    "handled": TOL_MUTED["green"],
    "committed": "#9E9E9E",
    "joined": "#9E9E9E",
    "left": "#9E9E9E",
    "rebalanced": TOL_MUTED["cyan"],
    "restarted": TOL_MUTED["teal"],
    "paused": "#BDBDBD",
    "resumed": "#BDBDBD",
    "delayed": TOL_MUTED["sand"],
    "blocked": "#EE7733",
    "rewind": TOL_MUTED["purple"],
    "compensated": TOL_MUTED["rose"],
    "compensating": TOL_MUTED["rose"],
    "completed": TOL_MUTED["green"],
    "skipped": "#8C8C8C",
    "redriven": TOL_MUTED["purple"],
    # ...problems are warm
    "redelivered": "#EE7733",
    "retried": "#EE7733",
    "duplicated": TOL_MUTED["sand"],
    "failed": "#CC3311",
    "crashed": "#CC3311",
    "dropped": TOL_MUTED["wine"],
    "lost": TOL_MUTED["wine"],
    "dead-lettered": "#000000",
    "needs-attention": "#CC3311",
}

#: Alias kept for readers who look for "the colours of the kinds".
KIND_COLORS = COLORS

#: The settings :func:`use_course_style` applies (and plot code may read).
RC: dict[str, Any] = {
    "figure.figsize": (9.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.prop_cycle": None,  # filled in by use_course_style (needs cycler)
    "legend.frameon": False,
    "legend.fontsize": 10,  # text at least 10 pt everywhere: legible on a projector
    "svg.hashsalt": "evtlib",  # stable ids if someone does save an SVG
}

_GENERIC = "#777777"


def color_for(key: str | None) -> str:
    """A stable colour for ``key`` (an event id, correlation id or name).

    The same key gets the same colour on every run: CRC-32 of the text picks
    one of :data:`PALETTE`.  ``None`` is grey.
    """
    if key is None:
        return _GENERIC
    return PALETTE[zlib.crc32(str(key).encode("utf-8")) % len(PALETTE)]


def first_seen_colors() -> Callable[[str | None], str]:
    """A colour function for one figure: each new key gets the next palette colour.

    Keys are coloured in the order they first appear, so the first ten in a
    picture never share a colour (CRC-32 of neighbouring ids often does).
    Deterministic: the same records give the same colours.
    """
    seen: dict[str, str] = {}

    def color(key: str | None) -> str:
        if key is None:
            return _GENERIC
        c = seen.get(key)
        if c is None:
            c = seen[key] = PALETTE[len(seen) % len(PALETTE)]
        return c

    return color


def kind_color(kind: str) -> str:
    """The colour of a record kind; an unknown kind is grey."""
    return COLORS.get(kind, _GENERIC)


def _in_ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    return get_ipython()


def use_course_style() -> None:
    """Give this notebook session the course's look (call once, in the setup cell).

    It updates matplotlib's settings for the session (palette, font sizes,
    figure size, no top/right frame) and, inside IPython, asks for PNG
    figures: nbval skips images when it compares outputs, and PNG (unlike
    SVG) embeds no date.  Plot functions in :mod:`evtlib.viz` never change
    these settings; they only read them.
    """
    import matplotlib as mpl
    from cycler import cycler

    shell = _in_ipython()
    if shell is not None:
        # Figures appear under their cell even when MPLBACKEND=Agg is inherited
        # (as it is when `make test` runs the notebooks under nbval).  First,
        # because switching backends applies the inline backend's own defaults.
        shell.run_line_magic("matplotlib", "inline")
    settings = dict(RC)
    settings["axes.prop_cycle"] = cycler(color=list(PALETTE))
    mpl.rcParams.update(settings)
    if shell is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
        _png_with_alt_text(shell)


def _png_with_alt_text(shell: Any) -> None:
    """Every figure the notebook displays carries alt text: ``metadata["image/png"]["alt"]``.

    IPython lets a formatter return ``(data, metadata)``; this wraps the PNG
    formatter that :func:`set_matplotlib_formats` just registered (so running
    the setup cell again wraps the fresh one, never a wrapper).
    """
    from matplotlib.figure import Figure

    from .describe import describe

    formatter = shell.display_formatter.formatters["image/png"]
    png = formatter.lookup_by_type(Figure)

    def png_and_alt(fig: Figure) -> tuple[Any, dict[str, str]] | None:
        data = png(fig)
        return None if data is None else (data, {"alt": describe(fig)})

    formatter.for_type(Figure, png_and_alt)

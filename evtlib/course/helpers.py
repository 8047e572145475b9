"""Helpers for the course notebooks: the setup cell, the environment check, exercise checks.

Every notebook starts with::

    from evtlib.course import setup
    setup()

which checks that everything the course needs is installed (and says exactly
what is missing and how to install it), and sets the figure style.

Exercises end with a check that never raises: it prints ``Correct`` or
``Not yet`` with a hint, so a learner's copy runs top to bottom before any
exercise is solved::

    check("ex1", answer, expected=3, hint="Count the groups, not the consumers.")

Solutions live in :mod:`evtlib.course.solutions`, one function per exercise, where a
teacher finds them; the test suite runs every check against them.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "setup",
    "settle_memory",
    "environment_report",
    "matplotlib_note",
    "check",
    "learner_frames",
    "REQUIRED",
    "SLOW_MATPLOTLIB",
]

#: What the course needs: module name -> (pip package, what it is for).
REQUIRED = {
    "matplotlib": ("matplotlib", "figures"),
    "networkx": ("networkx", "event-flow graphs"),
    "ipywidgets": ("ipywidgets", "sliders and the step-through player"),
    "tqdm": ("tqdm", "progress bars on long experiments"),
}

#: The first matplotlib whose text layout makes the explorers' redraws slow
#: (benchmarks/interactive.py: about 3.5x slower per slider move, mostly text).
SLOW_MATPLOTLIB = (3, 11)


def matplotlib_note(version: str) -> str:
    """The report's line for matplotlib ``version``: ``ok``, or ok but slow from 3.11 on."""
    m = re.match(r"(\d+)\.(\d+)", version)
    if m is None or (int(m[1]), int(m[2])) < SLOW_MATPLOTLIB:
        return "matplotlib: ok"
    return (
        f"matplotlib: ok, but {version} is slow here: from 3.11 its text layout makes the"
        " explorers' slider redraws about 3.5x slower. The course's environment files pin"
        ' matplotlib<3.11; `pip install "matplotlib<3.11"` gives you the faster one.'
    )


def environment_report() -> tuple[bool, list[str]]:
    """``(ok, lines)``: one line per requirement, saying what is missing and how to fix it.

    An installed matplotlib of 3.11 or later is ok but said to be slow (see
    :func:`matplotlib_note`).
    """
    lines = []
    ok = True
    if sys.version_info < (3, 10):  # noqa: UP036 (a learner may run an old kernel)
        ok = False
        lines.append(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    else:
        lines.append("Python: ok")
    for module, (package, purpose) in REQUIRED.items():
        if importlib.util.find_spec(module) is None:
            ok = False
            lines.append(
                f"{module}: MISSING (needed for {purpose}). Install it with "
                f"`pip install {package}`, or run `make lab` from the course folder."
            )
        elif module == "matplotlib":
            lines.append(matplotlib_note(importlib.metadata.version("matplotlib")))
        else:
            lines.append(f"{module}: ok")
    return ok, lines


def setup(*, quiet: bool = True) -> None:
    """Check the environment and set the course's figure style.

    Prints only when something is missing (or when ``quiet=False``), so the
    notebooks' stored outputs do not depend on installed versions, and a
    setup cell with no output means all is well.

    Inside a kernel, an error then shows the learner's own lines (the cell,
    and their function if evtlib called it back) and the message, without
    evtlib's frames or any path of this machine (:func:`learner_frames`);
    ``EVTLIB_DEBUG=1`` before this call shows every frame.

    It also sets aside, for Python's cycle collector, every object that
    exists once the course is imported (see :func:`settle_memory`), so that
    moving an explorer's slider does not pause for a full collection.
    """
    ok, lines = environment_report()
    if not ok or not quiet:
        print("\n".join(lines))
    if importlib.util.find_spec("matplotlib") is not None:
        from ..viz.style import use_course_style

        use_course_style()
    _short_errors()
    settle_memory()


def settle_memory() -> None:
    """Collect garbage once, then leave what is left out of later collections.

    A kernel holds about 100,000 objects once Jupyter, matplotlib and evtlib
    are imported; each full run of Python's cycle collector walks all of
    them (about 100 ms here), and re-simulating and redrawing for a slider
    creates enough objects to set one off every other update.  Those imported
    objects live as long as the kernel, so :func:`gc.freeze` moves them to a
    generation the collector never scans: the objects a simulation or a
    figure creates later are collected as before.

    Running the setup cell again first unfreezes, so whatever was frozen
    last time and has become garbage since (say, a simulation that was
    alive then) is collected rather than kept for ever.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _short_errors() -> None:
    # Inside a kernel, an error shows the learner's own lines (cells, their modules) and
    # the message; evtlib's frames and the Python installation's below them are left out
    # (their messages say what was wrong; their paths are this machine's).
    # EVTLIB_DEBUG=1 shows every frame.  `%xmode` still changes how frames are drawn.
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return
    if os.environ.get("EVTLIB_DEBUG", "") not in ("", "0"):
        shell.set_custom_exc((), None)
        return
    shell.set_custom_exc((Exception,), _show_learner_traceback)


def _show_learner_traceback(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None
) -> None:
    """IPython's custom exception handler: the traceback with the learner's frames only."""
    seen: set[int] = set()
    chained: BaseException | None = value
    while chained is not None and id(chained) not in seen:  # the causes too, once each
        seen.add(id(chained))
        if chained is not value:
            chained.with_traceback(learner_frames(chained.__traceback__))
        chained = chained.__cause__ or chained.__context__
    shell.showtraceback((etype, value, learner_frames(tb)), tb_offset=tb_offset)


def _library_roots() -> tuple[str, ...]:
    """Folders whose frames a learner does not need: evtlib, the stdlib, site-packages."""
    import sysconfig

    roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}  # evtlib/
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.abspath(path))
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in roots))


def learner_frames(tb: Any) -> Any:
    """``tb`` without the frames of evtlib, the standard library and installed packages.

    What is left is the learner's code: notebook cells (whatever their
    file name) and their own modules, in order.  If nothing is left (an
    error raised before any of the learner's code ran), ``tb`` as it is.
    """
    import types

    roots = _library_roots()
    original, kept = tb, []
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        library = name.startswith("<frozen") or os.path.abspath(name).startswith(roots)
        if not library:
            kept.append(tb)
        tb = tb.tb_next
    if not kept:
        return original
    out = None
    for frame_tb in reversed(kept):
        out = types.TracebackType(out, frame_tb.tb_frame, frame_tb.tb_lasti, frame_tb.tb_lineno)
    return out


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def check(
    name: str,
    answer: Any,
    expected: Any = None,
    *,
    hint: str,
    test: Callable[[Any], bool] | None = None,
) -> bool:
    """Check an exercise answer; print ``Correct`` or ``Not yet`` with ``hint``.

    Give either ``expected`` (compared with ``==``, floats approximately) or
    ``test``, a function of the answer returning True when it is right.
    ``None`` (an exercise not yet attempted) is never correct and never raises.
    """
    if answer is None or answer is ...:
        print(f"{name}: not answered yet. Hint: {hint}")
        return False
    try:
        right = test(answer) if test is not None else _close(answer, expected)
    except Exception as exc:  # a wrong answer of the wrong shape is still just "not yet"
        right = False
        hint = f"{hint} (checking raised {type(exc).__name__}: {exc})"
    if right:
        print(f"{name}: Correct!")
        return True
    print(f"{name}: Not yet. Hint: {hint}")
    return False

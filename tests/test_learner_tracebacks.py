"""Errors a learner can read: their own lines and the message, not evtlib's insides.

``setup()`` installs an IPython exception handler that drops the frames of
evtlib, the standard library and installed packages (unless
``EVTLIB_DEBUG=1``).  The shells run in a subprocess: an IPython shell is a
process-wide singleton that would change how other tests draw.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from evtlib.course.helpers import learner_frames

CELLS = [
    "from evtlib.course.helpers import _short_errors\n_short_errors()",
    # A bad argument: the error is raised three calls deep inside evtlib.
    "import evtlib as ev\nsim = ev.Simulation(seed=1)\nbroker = ev.Broker(sim)\n"
    "broker.create_topic('orders', 0)",
    # The learner's own function, called back by evtlib's scheduler.
    "def bill(order):\n    return order['totl']\n\nsim.post(1.0, bill, ({'total': 3},), 0)\nsim.run()",
]


def _run_cells(debug: bool = False) -> str:
    script = textwrap.dedent(
        f"""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance(colors="nocolor")
        for i, cell in enumerate({CELLS!r}, start=1):
            shell.run_cell(cell, store_history=True)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "EVTLIB_DEBUG"}
    if debug:
        env["EVTLIB_DEBUG"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def shown() -> str:
    return _run_cells()


def test_an_error_from_evtlib_shows_the_learners_line_and_the_message(shown):
    """The cell's line that called evtlib, with an arrow, then the rule that was broken."""
    assert "Cell In[2], line 4" in shown
    assert "----> 4 broker.create_topic('orders', 0)" in shown
    assert "ValueError: partitions must be an int in 1..10000, got 0" in shown


def test_the_learners_function_called_by_evtlib_keeps_both_of_its_lines(shown):
    """Where the learner started the run and where their own function failed; nothing between."""
    part = shown[shown.index("KeyError") :]
    assert "----> 5 sim.run()" in part
    assert "Cell In[3], line 2, in bill(order)" in part
    assert "----> 2     return order['totl']" in part
    assert part.rstrip().endswith("KeyError: 'totl'")


def test_no_library_frame_and_no_machine_path_is_shown(shown):
    """No evtlib, stdlib or site-packages frame: nothing that depends on where it is installed."""
    assert "File " not in shown
    for path in ("evtlib/", "site-packages", sys.prefix, os.getcwd()):
        assert path not in shown


def test_evtlib_debug_shows_every_frame():
    """EVTLIB_DEBUG=1: the full traceback, evtlib's frames included."""
    shown = _run_cells(debug=True)
    assert "evtlib/broker.py" in shown and "evtlib/checks.py" in shown


def test_learner_frames_keeps_only_code_outside_the_libraries():
    """A traceback through evtlib keeps this test's frame; all-library tracebacks stay whole."""
    import evtlib as ev

    try:
        ev.Broker(ev.Simulation(seed=1)).create_topic("orders", 0)
    except ValueError as exc:
        tb = exc.__traceback__
    kept = learner_frames(tb)
    names = []
    while kept is not None:
        names.append(kept.tb_frame.f_code.co_name)
        kept = kept.tb_next
    assert names == ["test_learner_frames_keeps_only_code_outside_the_libraries"]
    assert learner_frames(None) is None

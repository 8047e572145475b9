"""A notebook with explorers, run in real JupyterLab in headless Chromium.

nbval runs notebooks without a browser: it never sees a widget fail to
display or a slider that redraws nothing.  This test opens notebook 02 (it
has an explorer and a step player) in JupyterLab on a loopback port, runs
all its cells from the Run menu, and checks what a learner sees: no error
output, every widget rendered (no "Error displaying widget"), and a new
figure after a slider moves.  No timing is asserted (benchmarks/browser.py
measures it).

It needs Debian's Chromium (``apt-get install chromium``) and the
``playwright`` package (dev extra); without them it skips, saying so,
unless ``EVTLIB_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then it fails.
About 20-40 s.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02-producers-consumers-broker.ipynb"
REQUIRE_ENV = "EVTLIB_REQUIRE_BROWSER"


def _load_driver():
    spec = importlib.util.spec_from_file_location("evtlib_browser", ROOT / "benchmarks/browser.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


browser = _load_driver()


def _missing() -> str | None:
    if not os.path.exists(browser.CHROMIUM):
        return f"Chromium not found at {browser.CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing"
    return None


@pytest.fixture(scope="module")
def page():
    """Notebook 02, run to the end in JupyterLab in headless Chromium."""
    problem = _missing()
    if problem is not None:
        message = f"{problem}. {browser.INSTALL_HINT}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {message}", pytrace=False)
        pytest.skip(message)
    with browser.jupyterlab([NOTEBOOK]) as (url, _work), browser.chromium() as chromium:
        with browser.notebook_page(chromium, url, NOTEBOOK.name) as opened:
            yield opened


def test_every_cell_runs_without_an_error_output(page):
    """No traceback (but the lessons' raises-exception cells) and nothing on stderr once all ran."""
    assert browser.errors_on_page(page, browser.expected_errors(NOTEBOOK)) == []
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
    assert prompts and all("[*]" not in p and "[ ]" not in p for p in prompts), prompts


def test_every_widget_renders(page):
    """Each widget output shows its view (an explorer, a step player), none an error."""
    texts = page.locator(".jp-OutputArea-output").all_text_contents()
    assert not [t for t in texts if "Error displaying widget" in t]
    assert not [t for t in texts if "Loading widget" in t]
    # An explorer: a VBox of sliders; a step player: a Play button beside a slider.
    assert page.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").count() >= 2
    assert page.locator(".jp-OutputArea-output .widget-play").count() >= 1
    assert page.locator(".jp-OutputArea-output .noUi-handle").count() >= 3


def test_moving_a_slider_shows_a_new_figure(page):
    """The explorer's slider, moved with the keyboard, brings a new figure (timed, not asserted)."""
    cells = browser.explorer_cells(page)
    assert cells, "no cell with a slider and a figure"
    before = page.locator(".jp-CodeCell").nth(cells[0]).locator("img").first.get_attribute("src")
    ms = browser.move_slider(page, cells[0], "ArrowRight")
    after = page.locator(".jp-CodeCell").nth(cells[0]).locator("img").first.get_attribute("src")
    assert ms > 0
    assert after != before  # 1 consumer -> 2: another lag chart
    assert browser.errors_on_page(page, browser.expected_errors(NOTEBOOK)) == []

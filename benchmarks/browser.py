"""How long a learner waits in real JupyterLab: slider moved -> new figure on screen.

Starts JupyterLab on a loopback port (127.0.0.1, a random token) over a
temporary copy of ``notebooks/`` (so nothing it runs or autosaves touches
the repository), opens each notebook that has explorers (a code cell
calling ``explore(``) in headless Chromium through playwright, runs all its
cells, then moves the first slider of each notebook's first explorer with
the keyboard and times, in the page, from the key press to the moment the
new figure's image has loaded.

Each move goes to a value not seen before, one second after the last
picture appeared (a learner looking at it; meanwhile the explorer runs the
next step ahead, so it only draws); then the slider is moved back over the
same values (the explorer sends its kept picture).  ``first_move_ms`` is
the first move in each notebook, when nothing has run ahead yet: simulate
and draw.  A baseline is measured in the same run, on the
same server: an explorer whose picture is one empty Axes, which is the cost
of the widget round trip itself (key -> comm message -> kernel -> display
update -> image decoded).  Machines are noisy: compare the ratios.

Prints one JSON line::

    {"slider_to_figure_ms": ..., "first_move_ms": ..., "revisit_ms": ..., "baseline_ms": ...,
     "vs_baseline": ..., "notebooks": {"02-...": {"median_ms": ..., "moves_ms": [...]}, ...}}

Target on a 2-core machine: ``slider_to_figure_ms`` (median over all
first-time moves) <= 300 ms.

Needs Debian's Chromium (``apt-get install chromium``; playwright is told to
use it, it never downloads a browser) and the ``playwright`` Python package
(in the dev extra).  ``python benchmarks/browser.py [--moves N] [NOTEBOOK...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = os.environ.get("EVTLIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = (
    "Install Chromium with `apt-get install chromium` (Debian/Ubuntu; as root or with sudo) "
    "and playwright with `pip install playwright` (or `pip install -e '.[dev]'`). "
    "playwright uses that Chromium: never run `playwright install`."
)

BASELINE = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "from evtlib.course import setup\n",
                "setup()\n",
                "import matplotlib.pyplot as plt\n",
                "from evtlib.viz import explore\n",
                "\n",
                "def empty(n, ax=None):\n",
                "    if ax is None:\n",
                "        _, ax = plt.subplots(figsize=(9, 4))\n",
                "    ax.set_title(f'n = {n}', loc='left')\n",
                "    return ax\n",
                "\n",
                "explore(lambda n: n, empty, n=(0, 40))",
            ],
        }
    ],
    "metadata": {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        }
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}

# In the page: timestamps of the key press and of the first new figure that loaded.
WATCH_JS = """
([cellIndex]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[cellIndex];
  // A new figure is a new <img> element or a new src (JupyterLab re-renders the output
  // on a display update even when the picture is the same).
  const imgs = () => Array.from(cell.querySelectorAll('.jp-OutputArea-output img'));
  const before = new Set(imgs().map(i => i.src));
  const nodes = new Set(imgs());
  window.__evt = {t0: null, t1: null};
  const done = (img) => {
    if (window.__evt.t1 === null && window.__evt.t0 !== null) window.__evt.t1 = performance.now();
  };
  const check = () => {
    for (const img of cell.querySelectorAll('.jp-OutputArea-output img')) {
      if (!before.has(img.src) || !nodes.has(img)) {
        if (img.complete && img.naturalWidth > 0) { done(img); }
        else { img.addEventListener('load', () => done(img), {once: true}); }
      }
    }
  };
  const obs = new MutationObserver(check);
  obs.observe(cell, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  window.__evtObserver && window.__evtObserver.disconnect();
  window.__evtObserver = obs;
  document.addEventListener('keydown', () => {
    if (window.__evt.t0 === null) window.__evt.t0 = performance.now();
  }, {capture: true, once: true});
}
"""


def require_browser() -> Any:
    """playwright's sync API, or SystemExit with how to install what is missing."""
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"Chromium not found at {CHROMIUM}. {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit(f"The playwright package is missing. {INSTALL_HINT}") from None
    return sync_playwright


def notebooks_with_explorers(folder: Path = NOTEBOOKS) -> list[Path]:
    """Notebooks with a code cell that calls ``explore(``, in order."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9]-*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if any(
            c["cell_type"] == "code" and "explore(" in "".join(c["source"]) for c in nb["cells"]
        ):
            found.append(path)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(notebooks: list[Path], *, timeout: float = 60) -> Iterator[tuple[str, Path]]:
    """JupyterLab on 127.0.0.1 over a temporary copy of ``notebooks``: yields (base url, folder).

    Its own settings (no windowing, so every cell is in the page; no news,
    no update checks) and workspaces live in the temporary folder too.
    """
    with tempfile.TemporaryDirectory(prefix="evtlib-lab-") as tmp:
        base = Path(tmp)
        work = base / "notebooks"
        work.mkdir()
        for nb in notebooks:
            shutil.copy(nb, work / nb.name)
        (work / "baseline.ipynb").write_text(json.dumps(BASELINE), encoding="utf-8")
        settings = base / "settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}), encoding="utf-8"
        )
        apputils = base / "settings" / "@jupyterlab" / "apputils-extension"
        apputils.mkdir(parents=True)
        (apputils / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
        )
        port, token = _free_port(), secrets.token_hex(16)
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as for a learner
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["JUPYTER_CONFIG_DIR"] = str(base / "config")
        env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            f"--LabApp.user_settings_dir={base / 'settings'}",
            f"--LabApp.workspaces_dir={base / 'workspaces'}",
            "--LabApp.news_url=",
            "--ContentsManager.allow_hidden=False",
        ]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        log = open(base / "lab.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        tail = (base / "lab.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"JupyterLab did not start on {url}:\n{tail}") from None
                    time.sleep(0.3)
            yield f"{url}/lab/tree/{{name}}?token={token}&reset", work
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's browser, no download, no background network)."""
    sync_playwright = require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def notebook_page(browser: Any, url: str, name: str) -> Iterator[Any]:
    """A fresh page with notebook ``name`` open, run to the end; its kernel shut down after."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_and_run(page, url.format(name=name))
        yield page
    finally:
        page.close()
        shutdown_kernels(url)


def shutdown_kernels(url: str) -> None:
    """Shut down every kernel of the server (one notebook at a time keeps the machine quiet)."""
    base, _, query = url.partition("/lab/tree/")
    token = query.split("token=")[1].split("&")[0]
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(req, timeout=10).close()


def open_and_run(page: Any, url: str, *, timeout: float = 300) -> None:
    """Open a notebook in JupyterLab, wait for its kernel, run all cells, wait until idle."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    # The kernel is up when the toolbar's status says idle.
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        " return s && s.getAttribute('data-status') === 'idle'; }",
        timeout=timeout * 1000,
    )
    started = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))"
    started += ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
    for attempt in range(3):  # on a busy machine the first click can come too early
        page.locator(".jp-Notebook").first.click()
        page.click("#jp-MainMenu .lm-MenuBar-item:has-text('Run')")
        page.click(".lm-Menu-item[data-command='runmenu:run-all']")
        try:
            page.wait_for_function(started, timeout=20_000, polling=200)
            break
        except Exception:
            if attempt == 2:
                raise
    # Every code cell has run when none waits ("[*]") or is unrun ("[ ]") and the kernel is idle.
    try:
        _wait_all_ran(page, timeout)
    except Exception as exc:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        unrun = [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)]
        raise RuntimeError(
            f"{url.split('?')[0]}: not every cell ran within {timeout:g} s"
            f" (code cells not run: {unrun}; errors: {errors_on_page(page)})"
        ) from exc


def _wait_all_ran(page: Any, timeout: float) -> None:
    page.wait_for_function(
        """() => {
          // (an empty cell never gets a number: it is left out)
          const prompts = Array.from(document.querySelectorAll('.jp-CodeCell'))
            .filter(c => (c.querySelector('.cm-content')?.textContent ?? 'x').trim() !== '')
            .map(c => c.querySelector('.jp-InputPrompt'));
          const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
          return prompts.length > 0 && s && s.getAttribute('data-status') === 'idle'
            && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout * 1000,
        polling=200,
    )


def expected_errors(path: Path) -> list[int]:
    """Indices (among code cells) of cells tagged ``raises-exception``: their error is the lesson."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [i for i, c in enumerate(code) if "raises-exception" in c["metadata"].get("tags", [])]


def errors_on_page(page: Any, expected: list[int] | tuple[int, ...] = ()) -> list[str]:
    """Error outputs (outside the ``expected`` code cells) and widgets that failed to display."""
    return page.evaluate(
        """(expected) => {
          const out = [];
          const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell'));
          cells.forEach((cell, i) => {
            const errors = cell.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],'
              + ' .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]');
            if (!expected.includes(i))
              for (const e of errors) out.push(`code cell ${i}: ` + e.textContent.slice(0, 500));
            for (const e of cell.querySelectorAll('.jp-OutputArea-output'))
              if (e.textContent.includes('Error displaying widget'))
                out.push(`code cell ${i}: ` + e.textContent.slice(0, 500));
          });
          return out;
        }""",
        list(expected),
    )


def explorer_cells(page: Any) -> list[int]:
    """Indices (among code cells) of cells that show a slider and a figure."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell'))
             .map((c, i) => [c, i])
             .filter(([c]) => c.querySelector('.widget-slider .noUi-handle, .widget-hslider .noUi-handle')
                              && c.querySelector('.jp-OutputArea-output img'))
             .map(([c, i]) => i)"""
    )


def move_slider(page: Any, cell: int, key: str, *, timeout: float = 30) -> float:
    """Press ``key`` on the cell's first slider; ms until its new figure has loaded."""
    page.evaluate(WATCH_JS, [cell])
    handle = page.locator(".jp-Notebook .jp-CodeCell").nth(cell).locator(".noUi-handle").first
    handle.focus()
    handle.press(key)
    try:
        page.wait_for_function(
            "() => window.__evt && window.__evt.t1 !== null", timeout=timeout * 1000, polling="raf"
        )
    except Exception as exc:
        state = page.evaluate("() => window.__evt")
        value = handle.get_attribute("aria-valuenow")
        raise RuntimeError(
            f"no new figure within {timeout:g} s after {key} (slider at {value}, {state})"
            f" in code cell {cell} of {page.url.split('?')[0]}: {errors_on_page(page)}"
        ) from exc
    t0, t1 = page.evaluate("() => [window.__evt.t0, window.__evt.t1]")
    return float(t1 - t0)


def slider_room(page: Any, cell: int) -> tuple[int, int]:
    """How many steps the cell's first slider can move (left, right) from where it is."""
    left, right = page.evaluate(
        """(i) => {
          const t = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[i].querySelector('.noUi-target');
          const o = t.noUiSlider.options, now = Number(t.noUiSlider.get());
          const step = o.step || 1;
          return [Math.round((now - o.range.min) / step), Math.round((o.range.max - now) / step)];
        }""",
        cell,
    )
    return int(left), int(right)


def time_moves(
    page: Any, cell: int, moves: int, think: float = 1.0
) -> tuple[list[float], list[float]]:
    """Up to ``moves`` moves to new values, then back over them, one step at a time.

    The slider goes the way it has more room.  Between moves the page waits
    ``think`` seconds, as a learner looks at the picture (meanwhile the
    explorer runs the next step ahead).
    """
    left, right = slider_room(page, cell)
    on, back_key = ("ArrowRight", "ArrowLeft") if right >= left else ("ArrowLeft", "ArrowRight")
    n = min(moves, max(left, right))
    if n < 1:
        raise RuntimeError(f"the slider in code cell {cell} cannot move")
    first, back = [], []
    for _ in range(n):
        first.append(move_slider(page, cell, on))
        page.wait_for_timeout(think * 1000)
    for _ in range(n):
        back.append(move_slider(page, cell, back_key))
        page.wait_for_timeout(think * 1000)
    return first, back


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: all with explorers)")
    parser.add_argument("--moves", type=int, default=4, help="first-time moves per notebook")
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds between moves (a learner looking)"
    )
    args = parser.parse_args(argv)
    if args.moves < 1:
        parser.error(f"--moves must be >= 1, got {args.moves}")
    require_browser()
    paths = [Path(p).resolve() for p in args.notebooks] or notebooks_with_explorers()
    result: dict[str, Any] = {"notebooks": {}}
    firsts, backs, colds = [], [], []
    with jupyterlab(paths) as (url, _work), chromium() as browser:
        with notebook_page(browser, url, "baseline.ipynb") as page:
            base_first, base_back = time_moves(
                page, explorer_cells(page)[0], args.moves, args.think
            )
        baseline = statistics.median(base_first + base_back)
        for path in paths:
            with notebook_page(browser, url, path.name) as page:
                problems = errors_on_page(page, expected_errors(path))
                if problems:
                    raise SystemExit(f"{path.name}: errors on the page: {problems}")
                cells = explorer_cells(page)
                if not cells:
                    raise SystemExit(f"{path.name}: no explorer with a slider and a figure found")
                first, back = time_moves(page, cells[0], args.moves, args.think)
            firsts += first
            colds.append(first[0])
            backs += back
            result["notebooks"][path.stem] = {
                "median_ms": round(statistics.median(first), 1),
                "revisit_ms": round(statistics.median(back), 1),
                "moves_ms": [round(x, 1) for x in first],
            }
    median = statistics.median(firsts)
    result = {
        "slider_to_figure_ms": round(median, 1),
        "first_move_ms": round(statistics.median(colds), 1),
        "revisit_ms": round(statistics.median(backs), 1),
        "baseline_ms": round(baseline, 1),
        "vs_baseline": round(median / baseline, 2),
        **result,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The project around the code: dependency lists in step, clean notebooks, a light core."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
_REQ = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*"
    r"(?:>=\s*([0-9][0-9A-Za-z.]*)(?:\s*,\s*<\s*([0-9][0-9A-Za-z.]*))?)?\s*$"
)


def _requirement(text: str) -> tuple[str, str | None]:
    """``"matplotlib>=3.7,<3.11"`` -> ``("matplotlib", "3.7,<3.11")``; ``"x>=1"`` -> ``("x", "1")``.

    Names are compared case- and _-insensitively; bounds exactly.
    """
    m = _REQ.match(text)
    if m is None:
        raise ValueError(
            f"requirement must look like 'name', 'name>=version' or 'name>=low,<high', got {text!r}"
        )
    bound = m.group(2) if m.group(3) is None else f"{m.group(2)},<{m.group(3)}"
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), bound


def pyproject_requirements(text: str) -> dict[str, str | None]:
    """project.dependencies plus every optional extra (dev, lab, ...)."""
    project = tomllib.loads(text)["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return dict(_requirement(r) for r in reqs)


def conda_requirements(text: str) -> dict[str, str | None]:
    """The conda ``dependencies:`` list, minus python, pip and the nested pip: section."""
    out: dict[str, str | None] = {}
    in_deps = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_deps = line.strip() == "dependencies:"
            continue
        m = re.match(r"^  - (.+)$", line)  # top-level items only, not '      - -e .'
        if in_deps and m and not m.group(1).endswith(":"):
            name, low = _requirement(m.group(1).replace(" ", ""))
            if name not in ("python", "pip"):
                out[name] = low
    return out


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    """environment.yml and pyproject.toml name the same packages with the same lower bounds."""
    py = pyproject_requirements((ROOT / "pyproject.toml").read_text())
    conda = conda_requirements((ROOT / "environment.yml").read_text())
    assert py, "pyproject.toml lists no dependencies"
    assert conda == py


def test_the_dependency_check_notices_a_disagreement():
    """The comparison fails when a version or a package differs (so the check above can fail)."""
    toml = '[project]\ndependencies = ["matplotlib>=3.7"]\n[project.optional-dependencies]\ndev = ["pytest>=7.4"]\n'
    yml = "name: x\ndependencies:\n  - python>=3.10\n  - pip\n  - matplotlib>=3.8\n  - pytest>=7.4\n  - pip:\n      - -e .\n"
    assert pyproject_requirements(toml) == {"matplotlib": "3.7", "pytest": "7.4"}
    assert conda_requirements(yml) == {"matplotlib": "3.8", "pytest": "7.4"}
    assert conda_requirements(yml) != pyproject_requirements(toml)
    assert conda_requirements(yml.replace("  - pytest>=7.4\n", "")) == {"matplotlib": "3.8"}
    capped = yml.replace("matplotlib>=3.8", "matplotlib>=3.7,<3.11")
    assert conda_requirements(capped)["matplotlib"] == "3.7,<3.11"
    assert conda_requirements(capped) != pyproject_requirements(toml)  # the cap differs


def notebook_problems(nb: dict) -> list[str]:
    """Code cells never run, or with error outputs not tagged raises-exception."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not "".join(cell.get("source", "")).strip():
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {i} was not executed")
        tags = cell.get("metadata", {}).get("tags", [])
        if "raises-exception" in tags:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} raised {out.get('ename')}: {out.get('evalue')}")
    return problems


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_executed_without_errors(path):
    """Every code cell of a committed notebook has run, and none failed unless tagged to."""
    assert notebook_problems(json.loads(path.read_text())) == []


def test_notebook_check_finds_unrun_and_failing_cells():
    """The notebook check flags an unrun cell and an untagged error, and accepts a tagged one."""
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad"}
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "# title"},
            {"cell_type": "code", "source": "1", "execution_count": None, "outputs": []},
            {"cell_type": "code", "source": "x", "execution_count": 2, "outputs": [error]},
            {
                "cell_type": "code",
                "source": "y",
                "execution_count": 3,
                "metadata": {"tags": ["raises-exception"]},
                "outputs": [error],
            },
            {"cell_type": "code", "source": "", "execution_count": None, "outputs": []},
        ]
    }
    assert notebook_problems(nb) == ["cell 1 was not executed", "cell 2 raised ValueError: bad"]


def test_the_core_imports_no_plotting_or_widgets():
    """Importing evtlib loads neither matplotlib, networkx nor ipywidgets."""
    code = (
        "import evtlib, sys; "
        "print(sorted(m for m in ('matplotlib', 'networkx', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"

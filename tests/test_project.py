"""The project around the code: dependency lists in step, clean notebooks, a light core."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
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


def pyproject_requirements(
    text: str, extras: tuple[str, ...] | None = None
) -> dict[str, str | None]:
    """project.dependencies plus the given extras (all of them when None).

    A later entry wins, so an extra's ``matplotlib>=3.7,<3.11`` replaces the
    package's own uncapped ``matplotlib>=3.7``.
    """
    project = tomllib.loads(text)["project"]
    reqs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for name in optional if extras is None else extras:
        reqs.extend(optional[name])
    return dict(_requirement(r) for r in reqs)


#: conda-forge's name -> PyPI's: matplotlib-base is matplotlib without the Qt back end.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}


def conda_items(text: str) -> tuple[list[str], list[str]]:
    """The ``dependencies:`` list of a conda file: (conda items, items of its nested pip: list)."""
    conda: list[str] = []
    pip: list[str] = []
    in_deps = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_deps = line.strip() == "dependencies:"
            continue
        if not in_deps:
            continue
        top = re.match(r"^  - (.+)$", line)
        nested = re.match(r"^      - (.+)$", line)
        if top and not top.group(1).endswith(":"):
            conda.append(top.group(1).replace(" ", ""))
        elif nested:
            pip.append(nested.group(1).strip())
    return conda, pip


def conda_requirements(text: str) -> dict[str, str | None]:
    """The packages of a conda file with their bounds, under PyPI's names.

    Python and pip are left out, and so are pip's ``-e .`` and other paths; the
    requirements of a nested ``pip:`` list count like the conda ones.
    """
    conda, pip = conda_items(text)
    out: dict[str, str | None] = {}
    for item in conda + [p for p in pip if not p.startswith(("-", "."))]:
        if re.match(r"^(python|pip)\b(?![-_.\w])", item):
            continue
        name, bound = _requirement(item)
        out[CONDA_TO_PYPI.get(name, name)] = bound
    return out


#: Each conda file and the pyproject extras it must match (with project.dependencies).
CONDA_FILES = {
    "environment.yml": ("lab", "rabbitmq"),
    "environment-dev.yml": ("dev",),
    "binder/environment.yml": ("lab", "rabbitmq"),
}


@pytest.mark.parametrize("name", sorted(CONDA_FILES))
def test_environment_files_and_pyproject_list_the_same_dependencies(name):
    """Each conda file names the packages of its pyproject extras, with the same bounds."""
    py = pyproject_requirements((ROOT / "pyproject.toml").read_text(), CONDA_FILES[name])
    conda = conda_requirements((ROOT / name).read_text())
    assert py, "pyproject.toml lists no dependencies"
    assert conda == py


def test_the_package_does_not_cap_matplotlib_but_the_course_does():
    """No upper bound in project.dependencies (Colab); the course's set-ups keep <3.11."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    capped = [r for r in project["dependencies"] if "<" in r]
    assert capped == [], "the package must install beside any newer release"
    for extra in ("lab", "dev"):
        reqs = dict(_requirement(r) for r in project["optional-dependencies"][extra])
        assert reqs["matplotlib"] == "3.7,<3.11", extra
    for name in CONDA_FILES:
        assert conda_requirements((ROOT / name).read_text())["matplotlib"] == "3.7,<3.11", name


@pytest.mark.parametrize("name", sorted(CONDA_FILES))
def test_conda_files_use_conda_forge_only_and_matplotlib_base(name):
    """conda-forge without the defaults channel, and matplotlib-base (no Qt) rather than matplotlib."""
    text = (ROOT / name).read_text()
    conda, _ = conda_items(text)
    assert re.search(r"^channels:\n  - conda-forge\n  - nodefaults\n", text, re.M), name
    names = [re.split(r"[<>=!]", item)[0] for item in conda]
    assert "matplotlib-base" in names and "matplotlib" not in names, name


def test_binder_and_learner_files_leave_evtlib_out_of_the_cached_environment():
    """Binder pins Python and installs evtlib in postBuild; neither file pip-installs `-e .`."""
    conda, pip = conda_items((ROOT / "binder/environment.yml").read_text())
    assert [c for c in conda if c.startswith("python")] == ["python=3.11"]
    assert pip == []
    assert conda_items((ROOT / "environment.yml").read_text())[1] == []
    post = ROOT / "binder/postBuild"
    assert post.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-deps ." in post.read_text()


def test_the_dependency_check_notices_a_disagreement():
    """The comparison fails when a version or a package differs (so the check above can fail)."""
    toml = (
        '[project]\ndependencies = ["matplotlib>=3.7"]\n'
        '[project.optional-dependencies]\nlab = ["matplotlib>=3.7,<3.11"]\ndev = ["pytest>=7.4"]\n'
    )
    yml = (
        "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - python>=3.10\n  - pip\n"
        "  - matplotlib-base>=3.8\n  - pytest>=7.4\n  - pip:\n      - -e .\n"
    )
    assert pyproject_requirements(toml, ("dev",)) == {"matplotlib": "3.7", "pytest": "7.4"}
    assert pyproject_requirements(toml, ("lab",)) == {"matplotlib": "3.7,<3.11"}
    assert conda_requirements(yml) == {"matplotlib": "3.8", "pytest": "7.4"}
    assert conda_requirements(yml) != pyproject_requirements(toml, ("dev",))
    assert conda_requirements(yml.replace("  - pytest>=7.4\n", "")) == {"matplotlib": "3.8"}
    capped = yml.replace("matplotlib-base>=3.8", "matplotlib-base>=3.7,<3.11")
    assert conda_requirements(capped)["matplotlib"] == "3.7,<3.11"
    assert conda_requirements(capped) != pyproject_requirements(toml, ("dev",))  # the cap differs
    on_pip = yml.replace("      - -e .\n", "      - simpy>=4.0\n      - -e .\n")
    assert conda_requirements(on_pip)["simpy"] == "4.0"  # a pip: item counts too
    assert conda_items("dependencies:\n  - python=3.11\n") == (["python=3.11"], [])


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


# -- licences, the wheel, CI ------------------------------------------------------------

#: SHA-256 of https://creativecommons.org/licenses/by/4.0/legalcode.txt, the official text.
CC_BY_4_SHA256 = "9ba9550ad48438d0836ddab3da480b3b69ffa0aac7b7878b5a0039e7ab429411"


def test_licences_are_mit_for_code_and_the_official_cc_by_4_text_for_content():
    """LICENSE is MIT; LICENSE-CONTENT.md quotes CC BY 4.0's legal code byte for byte."""
    mit = (ROOT / "LICENSE").read_text()
    assert mit.startswith("MIT License\n\nCopyright (c) ") and "evtlib contributors" in mit
    content = (ROOT / "LICENSE-CONTENT.md").read_text(encoding="utf-8")
    legal = content.split("```text\n", 1)[1].rsplit("```", 1)[0]
    assert legal.startswith("Attribution 4.0 International\n")
    assert hashlib.sha256(legal.encode("utf-8")).hexdigest() == CC_BY_4_SHA256


def test_the_wheel_ships_both_licences(tmp_path):
    """A wheel built from the sources holds LICENSE and LICENSE-CONTENT.md, and says MIT."""
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    assert major >= 77, (
        f"setuptools>=77 reads license-files, got {setuptools.__version__}: pip install -e '.[dev]'"
    )
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the shared work tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "evtlib", src / "evtlib", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    build = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=src, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = out / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{info}/METADATA").decode()
    assert f"{info}/licenses/LICENSE" in names
    assert f"{info}/licenses/LICENSE-CONTENT.md" in names
    assert "License-Expression: MIT" in metadata.splitlines()
    assert {"License-File: LICENSE", "License-File: LICENSE-CONTENT.md"} <= set(
        metadata.splitlines()
    )


def repository() -> str:
    """``owner/name`` of the repository, from pyproject.toml: the one place that names it."""
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", url)
    assert m, f"[project.urls] Repository must be https://github.com/OWNER/NAME, got {url!r}"
    return m.group(1)


#: Links that name a repository: launch badges, pip's git+ installs, links to GitHub.
_REPO_LINK = re.compile(
    r"(?:mybinder\.org/v2/gh|colab\.research\.google\.com/github|github\.com)/([\w.-]+/[\w.-]+)"
)
_SKIP_DIRS = {".git", ".venv", "dist", "build", "node_modules", "__pycache__", ".hypothesis"}
#: Names the original work and its licensor for attribution: a fork keeps that link.
_CREDIT_FILES = {"LICENSE-CONTENT.md"}
_TEXT_SUFFIXES = {".md", ".ipynb", ".cff", ".toml", ".yml", ".yaml", ".py", ".txt", ""}


def repository_links(root: Path, name: str) -> dict[str, set[str]]:
    """Every ``owner/name`` a text file links to whose name part is ``name``, by file."""
    found: dict[str, set[str]] = {}
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        paths.extend(Path(folder, f) for f in sorted(files))
    for path in paths:
        rel = path.relative_to(root)
        if path.suffix not in _TEXT_SUFFIXES or rel.as_posix() in _CREDIT_FILES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        repos = {r.removesuffix(".git") for r in _REPO_LINK.findall(text)}
        repos = {r for r in repos if r.split("/")[1] == name}
        if repos:
            found[rel.as_posix()] = repos
    return found


def test_every_link_to_the_repository_agrees_with_pyproject():
    """README, notebooks, CITATION.cff, binder/ ... all link to [project.urls] Repository."""
    repo = repository()
    links = repository_links(ROOT, repo.split("/")[1])
    assert "README.md" in links and "CITATION.cff" in links
    wrong = {path: repos - {repo} for path, repos in links.items() if repos - {repo}}
    assert wrong == {}, f"links to another copy of the repository than {repo} (CONTRIBUTING.md)"


def test_the_link_check_notices_a_stale_owner(tmp_path):
    """A badge left pointing at the upstream repository in a fork is found."""
    # Built, not spelled out: this file must pass the check above, and survive a fork's rename.
    fork, upstream = "you/evtlib", "/".join(["evtlib"] * 2)
    (tmp_path / "README.md").write_text(
        f"[b](https://mybinder.org/v2/gh/{fork}/HEAD) "
        f"[c](https://colab.research.google.com/github/{upstream}/blob/main/x.ipynb)"
    )
    (tmp_path / "LICENSE-CONTENT.md").write_text(f"Licensor: https://github.com/{upstream}")
    assert repository_links(tmp_path, "evtlib") == {"README.md": {fork, upstream}}


def _fake_ci(tmp_path: Path, uid: int, with_sudo: bool = True) -> subprocess.CompletedProcess:
    """Run a copy of .ci/run with every outside command faked; each logs its arguments."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci/run", tmp_path / ".ci/run")
    fake = tmp_path / "fake"
    fake.mkdir()
    log = tmp_path / "log"
    scripts = {
        "id": f"echo {uid}",
        "apt-get": f'echo "apt-get $*" >> {log}; '
        f'printf "#!/bin/sh\\necho \\"rabbitmq-server \\$*\\" >> {log}\\n" > {fake}/rabbitmq-server; '
        f"chmod +x {fake}/rabbitmq-server",
        "rabbitmq-diagnostics": f'echo "rabbitmq-diagnostics $*" >> {log}; exit 1',
        "rabbitmqctl": f'echo "rabbitmqctl $*" >> {log}',
        "make": f'echo "make $* EVTLIB_REQUIRE_RABBITMQ=$EVTLIB_REQUIRE_RABBITMQ" >> {log}',
    }
    if with_sudo:
        scripts["sudo"] = f'echo "sudo $*" >> {log}; exec "$@"'
    for name, body in scripts.items():
        (fake / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake / name).chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci/run")], env=env, capture_output=True, text=True, timeout=60
    )
    done.stdout = log.read_text() if log.exists() else ""
    return done


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "user"])
def test_ci_run_installs_rabbitmq_as_root_or_through_sudo(tmp_path, uid):
    """As root .ci/run never calls sudo; as a user every root command goes through sudo."""
    done = _fake_ci(tmp_path, uid)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    root_commands = [line for line in lines if line.split()[0] != "make"]
    assert any(line.startswith("apt-get install") for line in lines)
    assert any(line.startswith("rabbitmq-server -detached") for line in lines)
    assert lines[-1] == "make test EVTLIB_REQUIRE_RABBITMQ=1"
    sudo = [line for line in root_commands if line.startswith("sudo ")]
    if uid == 0:
        assert sudo == []
    else:
        others = [line for line in root_commands if not line.startswith("sudo ")]
        assert others and all(any(s.endswith(o) for s in sudo) for o in others), lines
        assert "DEBIAN_FRONTEND=noninteractive" in next(s for s in sudo if "apt-get" in s)


def test_ci_run_refuses_clearly_without_root_or_sudo(tmp_path):
    """A user without sudo gets one line saying what is needed, and nothing is run."""
    done = _fake_ci(tmp_path, 1000, with_sudo=False)
    assert done.returncode == 1
    assert "needs root: run as root or install sudo" in done.stderr
    assert done.stdout == ""


def test_notebooks_hold_no_test_plumbing():
    """notebooks/ holds the lessons only: the RabbitMQ skip hook is the root conftest.py."""
    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.py")) == []
    assert "pytest_collection_modifyitems" in (ROOT / "conftest.py").read_text()


def launch_badges(repo: str, notebook: str) -> str:
    """The first cell of ``notebook``: its Binder and Colab launch badges."""
    return (
        f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]"
        f"(https://mybinder.org/v2/gh/{repo}/HEAD?labpath=notebooks%2F{notebook}) "
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook})"
    )


def colab_install(repo: str) -> str:
    """The first code cell of every notebook: installs evtlib on Colab, silent elsewhere."""
    return f"""# On Colab: install evtlib when it is missing. Anywhere else this cell does nothing.
import importlib.util
import sys

if importlib.util.find_spec("evtlib") is None:
    get_ipython().run_line_magic("pip", "install --quiet git+https://github.com/{repo}")
if "google.colab" in sys.modules:  # Colab draws ipywidgets 8 with its custom widget manager
    from google.colab import output

    output.enable_custom_widget_manager()"""


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_opens_with_launch_badges_and_the_colab_install_cell(path):
    """Badges for this very notebook first; the first code cell is the install cell, with no output."""
    cells = json.loads(path.read_text())["cells"]
    repo = repository()
    first = cells[0]
    assert first["cell_type"] == "markdown"
    assert "".join(first["source"]) == launch_badges(repo, path.name)
    assert first["metadata"].get("tags") == ["launch-badges"]
    code = next(c for c in cells if c["cell_type"] == "code")
    assert "".join(code["source"]) == colab_install(repo)
    assert code["metadata"].get("tags") == ["colab-install"]
    assert code["outputs"] == []  # nbval compares it: it must stay silent off Colab


def test_the_colab_install_cell_is_silent_where_evtlib_is_installed(capsys):
    """Off Colab, with evtlib installed, the cell calls no magic and prints nothing; without, pip."""
    calls: list[tuple[str, str]] = []

    class Shell:
        def run_line_magic(self, magic: str, line: str) -> None:
            calls.append((magic, line))

    code = colab_install(repository())
    exec(code, {"get_ipython": Shell})
    assert calls == [] and capsys.readouterr() == ("", "")
    exec(code.replace('find_spec("evtlib")', 'find_spec("evtlib_missing")'), {"get_ipython": Shell})
    assert calls == [("pip", f"install --quiet git+https://github.com/{repository()}")]


def test_notebook_12_is_skipped_with_the_reason_when_no_rabbitmq_answers(tmp_path):
    """The root conftest.py skips notebook 13's cells, saying why, unless RabbitMQ is required."""
    env = {k: v for k, v in os.environ.items() if k != "EVTLIB_REQUIRE_RABBITMQ"}
    env["EVTLIB_RABBITMQ_URL"] = "amqp://guest:guest@127.0.0.1:1/%2F"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "--nbval", "-p", "no:cacheprovider"]
        + ["notebooks/13-on-a-real-broker.ipynb", "--basetemp", str(tmp_path / "t")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert "notebook 13 needs a running RabbitMQ: cannot reach RabbitMQ" in done.stdout
    assert re.search(r"^\d+ skipped in ", done.stdout, re.M), done.stdout[-2000:]

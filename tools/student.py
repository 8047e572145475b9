"""Build the student edition: every exercise, no solution, ready for nbgrader.

    python tools/student.py [--out dist/student]        (or: make student)

What it writes into ``--out`` (emptied first):

* ``notebooks/``: the course's notebooks for learners. Each exercise cell
  (``answer = None`` then ``_ = check_exN(answer)``) is split in two:

  - an **answer cell** where the learner writes ``answer = ...``: an nbgrader
    *solution* cell (``grade_id`` ``exN-answer``, unlocked);
  - a **check cell** that calls the check: an nbgrader *autograded* cell
    (``grade_id`` ``exN``, ``grade: true``, locked, 1 point).

  The check prints ``Correct!`` or a hint and never raises, so the notebook
  still runs top to bottom before any exercise is solved. Other cells keep
  their outputs; the exercise cells start without any. The cells tagged
  ``launch-badges`` and ``colab-install`` are left out: they open, or install,
  the full course with its solutions.
* ``evtlib/``: the package without its ``solutions`` subpackage (found by
  import, wherever it lives), so the tested solutions cannot be imported.
  Each check that compares the answer with a value is *sealed*: its body
  becomes a comparison of fingerprints (``_sealed.py``), and the private
  tables and helpers that computed the value are dropped.
* ``nbgrader/``: an nbgrader course directory for a teacher who grades:
  ``source/<NN-name>/<NN-name>.ipynb`` are the same notebooks where each answer
  cell holds a solution region (the tested solution, removed by
  ``nbgrader generate_assignment``) and each check cell a hidden test,
  ``assert`` on the check's result (removed from the release, put back by
  ``nbgrader autograde``). ``nbgrader_config.py`` sets the stub that replaces a
  solution to nothing, so a released notebook has exactly the cells of
  ``notebooks/`` (nbgrader clears the outputs).
* ``pyproject.toml``, licence files, ``docs/glossary.md`` and a README, so that
  ``pip install .`` in the edition installs the package without solutions.

Only the standard library, nbformat and the course's own package are needed.
Nothing outside ``--out`` is written; notebooks are read, never executed (the
checks run once on each solution, to learn what to seal).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib
import importlib.util
import io
import pkgutil
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent

#: Where the exercise checks and their solutions may live (first found wins).
EXERCISE_PACKAGES = ("evtlib.course.exercises", "evtlib.exercises")
SOLUTION_PACKAGES = ("evtlib.course.solutions", "evtlib.solutions")

#: Files beside the package that a learner's copy needs to install and to cite.
TOP_FILES = ("pyproject.toml", "CITATION.cff")
TOP_GLOBS = ("LICENSE*", "LICENCE*", "COPYING*")

NBGRADER_SCHEMA = 3

#: Cells left out of the edition: the launch badges open the full course (with its
#: solutions) on Binder and Colab, and the Colab cell installs it from the repository.
DROPPED_TAGS = {"launch-badges", "colab-install"}

_CHECK_CALL = re.compile(r"\b(check_ex(\d+))\s*\(")
_ANSWER = re.compile(r"^answer\s*=")
_IMPORT = re.compile(r"^from\s+([\w.]+)\s+import\s+(.+)$")


class BuildError(Exception):
    """Raised when a notebook's exercise cell is not in the shape the builder understands."""


@dataclass(frozen=True)
class Layout:
    """Where the package, its exercise checks and its solutions are."""

    package_dir: Path  # .../evtlib
    exercises: str  # dotted name, e.g. "evtlib.course.exercises"
    solutions: str  # dotted name, e.g. "evtlib.course.solutions"
    solutions_dir: Path  # the folder to leave out


def _first_package(names: tuple[str, ...]) -> tuple[str, Path]:
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            continue
        if spec is not None and spec.submodule_search_locations:
            return name, Path(next(iter(spec.submodule_search_locations))).resolve()
    raise BuildError(f"none of the packages {', '.join(names)} can be imported")


def find_layout(root: Path = ROOT) -> Layout:
    """Find, by import, the package at ``root`` and its exercises and solutions subpackages."""
    sys.path.insert(0, str(root))
    try:
        evtlib = importlib.import_module("evtlib")
        package_dir = Path(evtlib.__file__).resolve().parent
        exercises, _ = _first_package(EXERCISE_PACKAGES)
        solutions, solutions_dir = _first_package(SOLUTION_PACKAGES)
    finally:
        sys.path.remove(str(root))
    if package_dir != (root / "evtlib").resolve():
        raise BuildError(
            f"evtlib is imported from {package_dir}, not from {root / 'evtlib'}: "
            "install the course with `pip install -e .` (make does) and run from its folder"
        )
    return Layout(package_dir, exercises, solutions, solutions_dir)


# --------------------------------------------------------------------------- notebooks


def _nbgrader(grade_id: str, *, solution: bool, grade: bool, locked: bool) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": NBGRADER_SCHEMA,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = 1
    return meta


def _without_name(import_line: str, name: str) -> str | None:
    """``from m import A, check_ex1`` -> ``from m import A``; ``None`` if nothing is left."""
    m = _IMPORT.match(import_line.strip())
    if m is None:
        return import_line
    names = [n.strip() for n in m.group(2).split(",") if n.strip() and n.strip() != name]
    return f"from {m.group(1)} import {', '.join(names)}" if names else None


def split_exercise(source: str, where: str) -> tuple[str, str, str, str]:
    """Split one exercise cell into ``(exercise, module, answer_source, check_source)``.

    ``exercise`` is ``"ex1"``, ``module`` the dotted module of ``check_ex1``;
    ``answer_source`` keeps every line but the check call (and the check's
    import); ``check_source`` imports the check and calls it.
    """
    lines = source.splitlines()
    calls = [
        i
        for i, line in enumerate(lines)
        if _CHECK_CALL.search(line) and not line.lstrip().startswith(("from ", "import "))
    ]
    if len(calls) != 1:
        raise BuildError(f"{where}: expected one call of a check_exN function, found {len(calls)}")
    call = lines[calls[0]]
    m = _CHECK_CALL.search(call)
    check_name, exercise = m.group(1), f"ex{m.group(2)}"
    if not any(_ANSWER.match(line) for line in lines):
        raise BuildError(f"{where}: the exercise cell has no line starting 'answer =' to answer in")
    module = None
    answer_lines = []
    for i, line in enumerate(lines):
        if i == calls[0]:
            continue
        im = _IMPORT.match(line.strip())
        if im and check_name in [n.strip() for n in im.group(2).split(",")]:
            module = im.group(1)
            line = _without_name(line, check_name)
            if line is None:
                continue
        answer_lines.append(line)
    if module is None:
        raise BuildError(f"{where}: {check_name} is called but not imported with 'from ... import'")
    while answer_lines and not answer_lines[0].strip():
        answer_lines.pop(0)
    while answer_lines and not answer_lines[-1].strip():
        answer_lines.pop()
    check_source = f"from {module} import {check_name}\n\n{call}"
    return exercise, module, "\n".join(answer_lines), check_source


def _fresh_code_cell(cell, source: str, nbgrader: dict):
    new = copy.deepcopy(cell)
    new.source = source
    new.outputs = []
    new.execution_count = None
    new.metadata["nbgrader"] = nbgrader
    # What nbgrader's release sets: no graded cell can be deleted, a locked one not edited.
    new.metadata["deletable"] = False
    if nbgrader["locked"]:
        new.metadata["editable"] = False
    new.pop("id", None)
    return new


def build_notebooks(nb, name: str, solutions: str) -> tuple[object, object, int]:
    """``(learner, source, exercises)``: the learners' notebook and nbgrader's source."""
    learner = copy.deepcopy(nb)
    learner.cells = []
    source = copy.deepcopy(nb)
    source.cells = []
    count = 0
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if DROPPED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if cell.cell_type != "code" or not _CHECK_CALL.search(cell.source):
            learner.cells.append(copy.deepcopy(cell))
            source.cells.append(copy.deepcopy(cell))
            continue
        where = f"{name}, cell {index}"
        exercise, module, answer_src, check_src = split_exercise(cell.source, where)
        if exercise in seen:
            raise BuildError(f"{where}: {exercise} is checked twice in this notebook")
        seen.add(exercise)
        count += 1
        answer_meta = _nbgrader(f"{exercise}-answer", solution=True, grade=False, locked=False)
        check_meta = _nbgrader(exercise, solution=False, grade=True, locked=True)
        nb_module = module.rsplit(".", 1)[-1]
        solution_region = (
            "### BEGIN SOLUTION\n"
            f"from {solutions}.{nb_module} import {exercise}\n\n"
            f"answer = {exercise}()\n"
            "### END SOLUTION"
        )
        hidden = (
            "### BEGIN HIDDEN TESTS\n"
            f'assert _, "{exercise} is not answered correctly yet"\n'
            "### END HIDDEN TESTS"
        )
        learner.cells.append(_fresh_code_cell(cell, answer_src, answer_meta))
        learner.cells.append(_fresh_code_cell(cell, check_src, check_meta))
        source.cells.append(_fresh_code_cell(cell, f"{answer_src}\n{solution_region}", answer_meta))
        source.cells.append(_fresh_code_cell(cell, f"{check_src}\n{hidden}", check_meta))
    for book in (learner, source):
        for i, cell in enumerate(book.cells):
            cell.id = f"cell-{i:03d}"  # stable, unique ids (nbformat 4.5)
        book.nbformat_minor = max(book.nbformat_minor, 5)
    return learner, source, count


# --------------------------------------------------------------------------- the edition


def repository_url(root: Path = ROOT) -> str:
    """The course repository's address, from ``[project.urls] Repository`` in pyproject.toml."""
    text = (root / "pyproject.toml").read_text() if (root / "pyproject.toml").is_file() else ""
    m = re.search(r"^\s*Repository\s*=\s*\"([^\"]+)\"", text, re.M)
    return m.group(1).rstrip("/") if m else "https://github.com/evtlib/evtlib"


NBGRADER_CONFIG = '''\
"""nbgrader settings for the evtlib course (a teacher's course directory).

    nbgrader generate_assignment 04-delivery-guarantees   # source/ -> release/
    nbgrader autograde 04-delivery-guarantees             # submitted/ -> autograded/

Each answer cell's solution region is removed with nothing in its place: the
learner's ``answer = None  # your answer here`` line stays, so a released
notebook runs top to bottom before any exercise is solved.
"""

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = "."
c.ClearSolutions.code_stub = {"python": ""}
c.ClearSolutions.enforce_metadata = True
c.ExecutePreprocessor.timeout = 300
'''

README = """\
# evtlib: student edition

The course's notebooks with every exercise and no solution, and the `evtlib`
package without its solutions, built by `make student` from the course
repository, {url}.

## Start

```bash
python -m venv .venv && . .venv/bin/activate
pip install '.[lab]'
jupyter lab notebooks/00-start-here.ipynb
```

Each exercise has an **answer cell** (write `answer = ...`) and a **check
cell** under it that says `Correct!` or gives a hint. The checks never raise,
so every notebook runs top to bottom before you have solved anything.
`docs/glossary.md` explains the course's terms.

## For the teacher

`nbgrader/` is an nbgrader course directory: `cd nbgrader && nbgrader
generate_assignment 04-delivery-guarantees` makes the release (the same
notebooks as `notebooks/`), and `nbgrader autograde` grades the submissions
(one point per exercise; answer cells are nbgrader solution cells, check cells
are autograded). Grade in an environment that has the full course package
(`pip install -e .` in the repository): its checks and solutions are the
tested ones. This folder holds no solutions, and the checks that compare an
answer with a value hold only its fingerprint; the others judge the answer with
code a learner can read. For marks that count, rely on the autograder rather
than on the learner's own check output.
"""


# --------------------------------------------------------------------------- sealed checks

#: Written into the edition's exercises package as ``_sealed.py``, and run here to
#: compute the fingerprints: the same code on both sides.
SEALED_MODULE = '''"""Sealed answers (student edition, written by tools/student.py).

A sealed check compares a fingerprint of your answer with the fingerprint of
the expected one, so the expected answer itself is not in this package: the
SHA-256 of a canonical form (numbers to 6 significant digits, an int and an
equal float alike; sets and dicts in sorted order), salted per exercise.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Callable
from typing import Any


def canonical(value: Any) -> list:
    """A JSON-able form of ``value`` in which equal answers are identical."""
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, numbers.Integral):
        return ["num", str(int(value))]
    if isinstance(value, numbers.Real):
        x = float(value)
        return ["num", str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [canonical(v) for v in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((canonical(v) for v in value), key=json.dumps)]
    if isinstance(value, dict):
        items = ([canonical(k), canonical(v)] for k, v in value.items())
        return ["dict", sorted(items, key=json.dumps)]
    raise TypeError(f"this exercise expects plain values, not a {type(value).__name__}")


def fingerprint(salt: str, value: Any) -> str:
    return hashlib.sha256((salt + json.dumps(canonical(value))).encode()).hexdigest()


def matches(salt: str, digest: str) -> Callable[[Any], bool]:
    """A ``test`` for :func:`evtlib.course.check`: is the answer's fingerprint ``digest``?"""
    return lambda answer: fingerprint(salt, answer) == digest
'''

_sealed: dict = {}
exec(compile(SEALED_MODULE, "_sealed.py", "exec"), _sealed)  # noqa: S102 (our own constant)


@dataclass(frozen=True)
class Sealed:
    """One check that the edition compares by fingerprint."""

    module: str  # nb04
    function: str  # check_ex2
    exercise: str  # ex2, the name the check prints
    hint: str
    salt: str
    digest: str


def _what_the_check_compares(module, function: str, answer) -> dict:
    """The arguments ``module.function(answer)`` passes to the course's ``check``."""
    seen: dict = {}

    def spy(exercise, given, expected=None, *, hint, test=None):
        seen.update(exercise=exercise, expected=expected, hint=hint, test=test)
        return True

    original = getattr(module, "check", None)
    if original is None:
        return seen
    module.check = spy
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            getattr(module, function)(answer)
    finally:
        module.check = original
    return seen


def sealable_checks(layout: Layout) -> list[Sealed]:
    """Every check that compares the answer with an expected *value* (not a test function)."""
    package = importlib.import_module(layout.exercises)
    sealed = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{layout.exercises}.{info.name}")
        try:
            solutions = importlib.import_module(f"{layout.solutions}.{info.name}")
        except ModuleNotFoundError:
            continue
        for function in sorted(n for n in dir(module) if re.fullmatch(r"check_ex\d+", n)):
            solve = getattr(solutions, function[len("check_") :], None)
            if solve is None:
                continue
            seen = _what_the_check_compares(module, function, solve())
            if not seen or seen["test"] is not None or seen["expected"] is None:
                continue  # a test function (a build exercise), or not through check()
            salt = f"evtlib:{info.name}:{seen['exercise']}:"
            try:
                digest = _sealed["fingerprint"](salt, seen["expected"])
            except TypeError:
                continue  # an object, not a plain value: keep the check as it is
            sealed.append(Sealed(info.name, function, seen["exercise"], seen["hint"], salt, digest))
    return sealed


def _names_used(tree: ast.Module, skip: ast.AST | None = None) -> set[str]:
    used = set()
    for node in tree.body:
        if node is skip:
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                used.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                used.add(sub.attr)
    return used


def _defined_names(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def seal_module(source: str, checks: list[Sealed]) -> str:
    """``source`` with each check's body replaced by a fingerprint comparison.

    Then the private module-level names nothing uses any more (the tables and
    helpers that computed the expected values) are removed, until none is left.
    """
    tree = ast.parse(source)
    by_name = {c.function: c for c in checks}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in by_name:
            c = by_name[node.name]
            call = (
                f"return check({c.exercise!r}, {node.args.args[0].arg}, hint={c.hint!r}, "
                f"test=_sealed_matches({c.salt!r}, {c.digest!r}))"
            )
            doc = [node.body[0]] if ast.get_docstring(node) is not None else []
            node.body = doc + ast.parse(call).body
    while True:
        removable = [
            node
            for node in tree.body
            if (names := _defined_names(node))
            and all(n.startswith("_") and not n.startswith("__") for n in names)
            and not set(names) & _names_used(tree, skip=node)
        ]
        if not removable:
            break
        tree.body = [node for node in tree.body if node not in removable]
    first = 1 if ast.get_docstring(tree) is not None else 0
    while (
        first < len(tree.body)
        and isinstance(tree.body[first], ast.ImportFrom)
        and (tree.body[first].module == "__future__")
    ):
        first += 1
    tree.body.insert(first, ast.parse("from ._sealed import matches as _sealed_matches").body[0])
    parts = [
        "# Student edition: written by tools/student.py from the course's module of this name."
    ]
    for node in tree.body:
        spaced = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        parts.append(("\n\n" if spaced else "") + ast.unparse(node))
    return "\n".join(parts) + "\n"


def _seal_checks(layout: Layout, out: Path) -> list[Sealed]:
    sealed = sealable_checks(layout)
    package = importlib.import_module(layout.exercises)
    folder = out / "evtlib" / Path(package.__path__[0]).resolve().relative_to(layout.package_dir)
    (folder / "_sealed.py").write_text(SEALED_MODULE)
    for module in sorted({s.module for s in sealed}):
        path = folder / f"{module}.py"
        path.write_text(seal_module(path.read_text(), [s for s in sealed if s.module == module]))
    return sealed


def _copy_package(layout: Layout, out: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info")
    shutil.copytree(layout.package_dir, out / "evtlib", ignore=ignore)
    relative = layout.solutions_dir.relative_to(layout.package_dir)
    shutil.rmtree(out / "evtlib" / relative)


def build(out: Path, root: Path = ROOT) -> dict:
    """Write the student edition into ``out`` (emptied first); return what was written."""
    started = time.perf_counter()
    layout = find_layout(root)
    out = out.resolve()
    if out == root.resolve() or root.resolve().is_relative_to(out):
        raise BuildError(f"--out must not be the repository or a parent of it, got {out}")
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    _copy_package(layout, out)
    sealed = _seal_checks(layout, out)
    for name in TOP_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    for pattern in TOP_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                shutil.copy2(path, out / path.name)
    if (root / "LICENSES").is_dir():
        shutil.copytree(root / "LICENSES", out / "LICENSES")
    if (root / "docs" / "glossary.md").is_file():
        (out / "docs").mkdir()
        shutil.copy2(root / "docs" / "glossary.md", out / "docs" / "glossary.md")
    (out / "README.md").write_text(README.format(url=repository_url(root)))
    grader = out / "nbgrader"
    (grader / "source").mkdir(parents=True)
    (grader / "nbgrader_config.py").write_text(NBGRADER_CONFIG)

    exercises = {}
    for path in sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        learner, source, count = build_notebooks(nb, path.name, layout.solutions)
        nbformat.write(learner, out / "notebooks" / path.name)
        (grader / "source" / path.stem).mkdir()
        nbformat.write(source, grader / "source" / path.stem / path.name)
        exercises[path.name] = count
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "out": str(out),
        "notebooks": len(exercises),
        "exercises": sum(exercises.values()),
        "sealed": len(sealed),
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "student")
    args = parser.parse_args(argv)
    try:
        report = build(args.out)
    except BuildError as exc:
        print(f"student edition: {exc}", file=sys.stderr)
        return 1
    print(
        f"student edition: {report['notebooks']} notebooks, {report['exercises']} exercises "
        f"(answer + autograded check cells), package without solutions "
        f"({report['sealed']} checks sealed), "
        f"{report['bytes'] / 1e6:.1f} MB in {report['out']} ({report['seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The student edition (``make student``, tools/student.py): no solutions, and gradable by nbgrader.

The last test is marked ``nbgrader``: it builds the edition, then runs nbgrader's own
``generate_assignment`` and ``autograde`` on notebook 01 for a correct and a wrong
submission (about 20 s; deselect with ``-m "not nbgrader"``).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_builder():
    spec = importlib.util.spec_from_file_location(
        "evtlib_tools_student", ROOT / "tools" / "student.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


student = _load_builder()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """The student edition, built once into a temporary folder."""
    out = tmp_path_factory.mktemp("edition") / "student"
    report = student.build(out)
    return out, report


def _run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that finds ``evtlib`` in ``path`` first."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=path
    )


def test_the_package_holds_no_solutions(edition):
    """evtlib in the edition has its exercise checks and no solutions subpackage to import."""
    out, _ = edition
    layout = student.find_layout()
    code = (
        "import importlib, pathlib, evtlib\n"
        f"assert pathlib.Path(evtlib.__file__).is_relative_to({str(out)!r}), evtlib.__file__\n"
        f"importlib.import_module({layout.exercises + '.nb04'!r})\n"
        "for name in ('evtlib.solutions', 'evtlib.course.solutions'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(name + ' is importable')\n"
        "print('ok')\n"
    )
    result = _run_python(code, out)
    assert result.stdout.strip() == "ok", result.stderr
    assert not list(out.rglob("solutions")), "a solutions folder was copied"
    relative = layout.solutions_dir.relative_to(layout.package_dir)
    assert not (out / "evtlib" / relative).exists()


def test_the_editions_wheel_ships_no_solutions(edition, tmp_path):
    """``pip install .`` in the edition installs a package without solutions, with the licences."""
    out, _ = edition
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(out)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("evtlib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if "solutions" in n] == []
    assert any(n.endswith("exercises/nb04.py") for n in names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_every_exercise_has_an_answer_cell_and_an_autograded_check(edition):
    """Each check_exN of the package appears once per notebook as an nbgrader solution + grade pair."""
    out, report = edition
    layout = student.find_layout()
    total = 0
    for path in sorted((out / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        meta = [c.metadata.get("nbgrader") for c in nb.cells]
        answers = {m["grade_id"] for m in meta if m and m["solution"]}
        checks = {m["grade_id"]: m for m in meta if m and m["grade"]}
        module = importlib.import_module(f"{layout.exercises}.nb{path.name[:2]}")
        expected = {n[len("check_") :] for n in dir(module) if re.fullmatch(r"check_ex\d+", n)}
        assert set(checks) == expected, path.name
        assert answers == {f"{e}-answer" for e in expected}, path.name
        assert all(m["locked"] and m["points"] == 1 for m in checks.values())
        for cell in nb.cells:
            assert "BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source
            # Nothing that opens or installs the full course, solutions included.
            assert "mybinder.org" not in cell.source and "git+https://" not in cell.source
            if cell.metadata.get("nbgrader", {}).get("solution"):
                assert re.search(r"^answer = None", cell.source, re.M), cell.source
        total += len(expected)
    assert total == report["exercises"] > 0


def test_a_learners_notebook_runs_on_the_package_without_solutions(edition):
    """Notebook 01 of the edition runs top to bottom on the edition's evtlib; each check waits for an answer."""
    from nbclient import NotebookClient

    out, _ = edition
    nb = nbformat.read(out / "notebooks" / "01-events.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import evtlib\nprint(evtlib.__file__)"))
    env = {"PYTHONPATH": str(out), "MPLBACKEND": "Agg", "EVTLIB_QUIET": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them: evtlib comes from the edition
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(out)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in checks]
    assert len(texts) == 3 and all("not answered yet" in t for t in texts), texts
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    tagged = [c for c in nb.cells if "raises-exception" in c.metadata.get("tags", [])]
    assert len(errors) <= len(tagged)  # only the cells meant to fail did
    assert nb.cells[-1].outputs[0]["text"].startswith(str(out))  # the edition's evtlib ran


def _near_miss(answer):
    """Off by one, one entry changed, one item more or fewer: what a learner might answer."""
    if isinstance(answer, bool):
        return not answer
    if isinstance(answer, int):
        return answer + 1
    if isinstance(answer, float):
        return answer * 1.5 + 1
    if isinstance(answer, str):
        return answer + "-not"
    if isinstance(answer, dict):
        first = next(iter(answer))
        return {**answer, first: _near_miss(answer[first])}
    if isinstance(answer, list | tuple):
        return answer[:-1]
    if isinstance(answer, set | frozenset):
        return set(answer) | {"not-this"}
    raise TypeError(f"no near miss for {type(answer).__name__}")


def test_sealed_checks_judge_as_the_course_checks_do_without_the_answers(edition, tmp_path):
    """Each check compared by fingerprint accepts the solution (an equal int for a float too) and rejects a near miss."""
    out, report = edition
    layout = student.find_layout()
    sealed = student.sealable_checks(layout)
    assert len(sealed) == report["sealed"] >= 15
    cases = []
    for s in sealed:
        right = getattr(importlib.import_module(f"{layout.solutions}.{s.module}"), s.function[6:])()
        cases += [
            (s.module, s.function, right, True),
            (s.module, s.function, _near_miss(right), False),
        ]
        if isinstance(right, float) and right.is_integer():
            cases.append((s.module, s.function, int(right), True))
        if isinstance(right, int) and not isinstance(right, bool):
            cases.append((s.module, s.function, float(right), True))
    (tmp_path / "cases.pkl").write_bytes(pickle.dumps(cases))
    code = (
        "import contextlib, importlib, io, pickle\n"
        f"cases = pickle.loads(open({str(tmp_path / 'cases.pkl')!r}, 'rb').read())\n"
        "bad = []\n"
        "for module, function, answer, right in cases:\n"
        f"    check = getattr(importlib.import_module({layout.exercises!r} + '.' + module), function)\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        if check(answer) is not right or check(None) is not False:\n"
        "            bad.append((module, function, answer, right))\n"
        "print(bad)\n"
    )
    result = _run_python(code, out)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    # A sealed check's body is its docstring and one comparison: nothing computes the answer.
    folder = out / Path(*layout.exercises.split("."))
    for s in sealed:
        tree = ast.parse((folder / f"{s.module}.py").read_text())
        (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == s.function]
        assert isinstance(node.body[-1], ast.Return) and len(node.body) <= 2, (s.module, s.function)
        assert "_sealed_matches(" in ast.unparse(node.body[-1])


def test_a_cell_that_cannot_be_split_stops_the_build():
    """An exercise cell without an 'answer =' line is an error naming the cell, not a silent skip."""
    with pytest.raises(student.BuildError, match="nb.ipynb, cell 4: .*'answer ='"):
        student.split_exercise(
            "from evtlib.course.exercises.nb01 import check_ex1\n_ = check_ex1(42)",
            "nb.ipynb, cell 4",
        )
    exercise, module, answer, check = student.split_exercise(
        "from m.nb01 import DATA, check_ex2\n\nprint(DATA)\nanswer = None  # here\n_ = check_ex2(answer)\n",
        "x",
    )
    assert (exercise, module) == ("ex2", "m.nb01")
    assert answer == "from m.nb01 import DATA\n\nprint(DATA)\nanswer = None  # here"
    assert check == "from m.nb01 import check_ex2\n\n_ = check_ex2(answer)"


def _nbgrader(course: Path, *args: str) -> None:
    env = {
        **os.environ,
        # nbgrader runs its database migrations with the `alembic` command: find the venv's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MPLBACKEND": "Agg",
        "EVTLIB_QUIET": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, "--force"],
        cwd=course,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _submit(release: Path, target: Path, answers: dict[str, str]) -> None:
    """Write a learner's submission: the released notebook with some answer cells filled in."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        exercise = grade_id.removesuffix("-answer")
        if grade_id.endswith("-answer") and exercise in answers:
            cell.source = re.sub(r"^answer = None.*$", answers[exercise], cell.source, flags=re.M)
    target.parent.mkdir(parents=True)
    nbformat.write(nb, target)


@pytest.mark.nbgrader
def test_nbgrader_generates_and_autogrades_a_notebook(edition, tmp_path):
    """nbgrader releases notebook 01 as the edition has it; a right submission scores 3/3, a wrong one 1/3."""
    from nbgrader.api import Gradebook  # the dev extra installs nbgrader

    out, _ = edition
    name = "01-events"
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        (out / "nbgrader" / "nbgrader_config.py").read_text()
    )
    src = out / "nbgrader" / "source" / name
    (course / "source" / name).mkdir()
    (course / "source" / name / f"{name}.ipynb").write_text((src / f"{name}.ipynb").read_text())

    _nbgrader(course, "generate_assignment", name)
    release = course / "release" / name / f"{name}.ipynb"
    released = json.loads(release.read_text())["cells"]
    learners = json.loads((out / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    # What nbgrader releases is what the edition gives learners (up to a trailing newline).
    assert ["".join(c["source"]).rstrip() for c in released] == [
        "".join(c["source"]).rstrip() for c in learners
    ]
    locks = [{k: c["metadata"].get(k) for k in ("deletable", "editable")} for c in released]
    assert locks == [{k: c["metadata"].get(k) for k in ("deletable", "editable")} for c in learners]

    solutions = student.find_layout().solutions + ".nb01"
    right = {e: f"from {solutions} import {e}\nanswer = {e}()" for e in ("ex1", "ex2", "ex3")}
    wrong = {"ex1": right["ex1"], "ex2": "answer = 'ParcelShipped'"}  # ex3 left unanswered
    _submit(release, course / "submitted" / "right" / name / f"{name}.ipynb", right)
    _submit(release, course / "submitted" / "wrong" / name / f"{name}.ipynb", wrong)
    _nbgrader(course, "autograde", name)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {who: gradebook.find_submission(name, who).score for who in ("right", "wrong")}
        max_score = gradebook.find_assignment(name).max_score
    assert max_score == 3
    assert scores == {"right": 3, "wrong": 1}

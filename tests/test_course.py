"""The notebooks' helpers: setup() is silent when all is well, check() says right or not yet."""

from __future__ import annotations

import gc

import matplotlib
import pytest

from evtlib.course import helpers as course


@pytest.fixture
def unfrozen():
    """setup() freezes the heap; give it back so other tests see a normal collector."""
    gc.unfreeze()
    saved = matplotlib.rcParams.copy()
    yield
    gc.unfreeze()
    matplotlib.rcParams.update(saved)


def test_setup_is_silent_when_everything_is_installed(capsys, unfrozen):
    course.setup()
    assert capsys.readouterr().out == ""


def test_setup_reports_each_requirement_when_asked(capsys, unfrozen):
    course.setup(quiet=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Python: ok"
    assert [line.split(":")[0] for line in out[1:]] == list(course.REQUIRED)
    assert all(line.endswith(": ok") for line in out)


def test_a_missing_package_is_named_with_the_command_that_installs_it(monkeypatch):
    real = course.importlib.util.find_spec
    monkeypatch.setattr(
        course.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "networkx" else real(name, *a),
    )
    ok, lines = course.environment_report()
    assert not ok
    assert any(
        line.startswith("networkx: MISSING") and "pip install networkx" in line for line in lines
    )


def test_setup_leaves_the_imported_objects_out_of_later_collections(unfrozen):
    assert gc.get_freeze_count() == 0
    course.setup()
    frozen = gc.get_freeze_count()
    # Everything imported so far (the test run, matplotlib, evtlib) is set aside...
    assert frozen > 10_000
    # ...and what is created afterwards is still collected: a cycle made now is freed.
    made = []
    made.append(made)
    del made
    assert gc.collect() >= 1
    assert gc.get_freeze_count() == frozen


def test_running_setup_again_frees_what_died_since_the_first_time(unfrozen):
    import weakref

    class Sim:  # a cycle, as a simulation and its broker are
        pass

    sim = Sim()
    sim.me = sim
    alive = weakref.ref(sim)
    course.settle_memory()  # the simulation is alive now, so it is frozen
    del sim
    gc.collect()
    assert alive() is not None  # frozen: the collector does not look at it
    course.settle_memory()
    assert alive() is None  # the second setup unfroze it, and collected it


def test_check_says_correct_or_not_yet_with_the_hint(capsys):
    assert course.check("Q1", 3, 3, hint="count them")
    assert not course.check("Q1", 4, 3, hint="count them")
    assert not course.check("Q1", None, 3, hint="count them")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Q1: Correct!",
        "Q1: Not yet. Hint: count them",
        "Q1: not answered yet. Hint: count them",
    ]


def test_check_compares_floats_approximately_and_survives_a_bad_shape(capsys):
    assert course.check("Q2", 0.1 + 0.2, 0.3, hint="add")
    assert not course.check("Q3", "many", None, hint="a list", test=lambda a: a[0] > 1)
    out = capsys.readouterr().out
    assert "Q2: Correct!" in out
    assert "checking raised TypeError" in out


@pytest.mark.parametrize("version", ["3.11.0", "3.11.0rc1", "3.12.2", "4.0"])
def test_a_matplotlib_from_3_11_is_reported_as_slow_with_the_pin(monkeypatch, version):
    """matplotlib >= 3.11 works but its text layout makes slider redraws ~3.5x slower: said plainly."""
    real = course.importlib.metadata.version
    monkeypatch.setattr(
        course.importlib.metadata,
        "version",
        lambda name: version if name == "matplotlib" else real(name),
    )
    ok, lines = course.environment_report()
    assert ok  # slow, not missing
    (line,) = [x for x in lines if x.startswith("matplotlib:")]
    assert version in line and "3.5x slower" in line and "slider" in line
    assert "pin matplotlib<3.11" in line


@pytest.mark.parametrize("version", ["3.10.9", "3.7.0", "3.9", "unknown"])
def test_a_matplotlib_before_3_11_is_just_ok(version):
    """Before 3.11 (or a version string it cannot read) the line is the plain 'ok'."""
    assert course.matplotlib_note(version) == "matplotlib: ok"

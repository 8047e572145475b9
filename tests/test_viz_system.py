"""Saga timeline and system dashboard: what was drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save  # noqa: E402

from evtlib.course.chaos import run_schedule  # noqa: E402
from evtlib.patterns import FailurePlan, run_order  # noqa: E402
from evtlib.viz.system import draw_dashboard, draw_saga_timeline, saga_bars  # noqa: E402


def test_a_declined_payment_draws_action_failure_then_compensation():
    """Stock ok, payment failed (a red cross), stock compensated; final state compensated."""
    run = run_order(failures=[FailurePlan("payment")])
    drawn = draw_saga_timeline(run.sagas[0])
    assert drawn.lanes == ["stock", "payment", "shipping"]
    assert [(b.step, b.phase, b.ok) for b in drawn.bars] == [
        ("stock", "action", True),
        ("payment", "action", False),
        ("stock", "compensation", True),
    ]
    assert drawn.final == "compensated"
    assert len(drawn.ax.patches) == 3  # one bar per attempt (legend patches are not on the axes)
    assert len(drawn.ax.collections) == 1  # one red cross
    assert {t.get_text() for t in drawn.ax.texts} >= {"1", "2", "3 undo", "compensated "}
    save(drawn.ax.figure, "saga_timeline")
    plt.close(drawn.ax.figure)


def test_a_compensation_that_keeps_failing_ends_in_needs_attention():
    """Four failed compensation attempts, then needs-attention."""
    run = run_order(
        failures=[FailurePlan("payment"), FailurePlan("stock", times=None, compensation=True)]
    )
    bars, final = saga_bars(run.sagas[0].history)
    undo = [b for b in bars if b.phase == "compensation"]
    assert len(undo) == 4 and not any(b.ok for b in undo)
    assert final == "needs-attention"


def test_dashboard_draws_every_service_and_group():
    """Left: one legend entry per consumer that handled something; right: one total per group."""
    run = run_schedule(5, trace=True)
    fig = draw_dashboard(run.broker)
    left, right = fig.axes
    names = {c.name for c in run.broker.consumers if len(c.handled_at)}
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert len(labels) == len(names) and all(any(n in t for t in labels) for n in names)
    totals = [t.get_text() for t in right.get_legend().get_texts() if "total" in t.get_text()]
    assert len(totals) == len(run.broker.groups)
    save(fig, "dashboard")
    plt.close(fig)
    with pytest.raises(TypeError, match="broker must be a Broker"):
        draw_dashboard("broker")

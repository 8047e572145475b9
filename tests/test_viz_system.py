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


def test_the_shop_system_draws_the_outbox_and_the_relay_with_every_link_named():
    """Order service -> orders + outbox (one transaction) -> relay -> topic -> fulfilment -> saga."""
    from test_viz_saga_layout import layout_problems

    from evtlib.viz.system import LINKS, draw_shop_system

    run = run_schedule(11)
    ax = draw_shop_system(run)
    nodes = {
        t.get_gid()[5:]: t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("node:")
    }
    assert nodes["outbox"] == "outbox (table)" and nodes["relay"] == "outbox relay"
    edges = [p.get_gid()[5:] for p in ax.patches if (p.get_gid() or "").startswith("edge:")]
    assert {"order-service->outbox", "outbox->relay", "relay->orders", "orders->fulfilment"} <= set(
        edges
    )
    labels = {t.get_gid()[6:] for t in ax.texts if (t.get_gid() or "").startswith("label:")}
    assert set(edges) <= labels  # every arrow says what it carries
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [text for _, text in LINKS.values()]  # line styles explained, no colour key
    written = " ".join(t.get_text() for t in ax.texts)
    assert f"({run.details['events published']} publishes)" in written
    assert layout_problems(ax) == []
    save(ax.figure, "shop_system")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="run must be a ShopRun with the patterns"):
        draw_shop_system(run_schedule(11, patterns=False))


def test_a_causal_chain_draws_one_lane_per_service_and_one_arrow_per_causation():
    """A declined order saga started by an OrderPlaced: 7 messages, 4 lanes, 6 causation arrows."""
    from test_viz_saga_layout import layout_problems

    from evtlib import Broker, Event, Simulation
    from evtlib.patterns import SagaOrchestrator, Shop, order_saga
    from evtlib.viz.system import draw_causal_chain

    sim = Simulation(1)
    broker = Broker(sim, latency=1)
    definition = order_saga(Shop())
    definition.participants(broker, failures=[FailurePlan("payment")])
    placed = Event(id="evt-order", type="OrderPlaced", time=0.0, source="order-service", key="o1")
    SagaOrchestrator(broker, definition).start({"order_id": "o1", "qty": 1}, cause=placed)
    sim.run()
    messages = {e.id: e for t in broker.topics for e in broker.events(t)}
    chain = [placed, *sorted(messages.values(), key=lambda e: (e.time, e.id))]
    ax = draw_causal_chain(chain, notes={"evt-order": "fulfilment started saga-000001"})
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["order-service", "order-orchestrator", "inventory", "payments"]
    arrows = [p for p in ax.patches if (p.get_gid() or "").startswith("edge:")]
    assert len(arrows) == len(chain) - 1
    assert chain[-1].type == "CommandSucceeded" and chain[-1].source == "inventory"  # the undo
    assert layout_problems(ax) == []
    save(ax.figure, "causal_chain")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="events must hold at least one message"):
        draw_causal_chain([])


def test_isolation_picture_shows_the_shelf_and_what_b_read():
    """No lock: the shelf goes 1 -> 0 -> 1; B's lane says it read 0 free and was sold out."""
    from evtlib.patterns import isolation_scenario
    from evtlib.viz.system import draw_isolation

    result = isolation_scenario(semantic_lock=False)
    assert [e[2:] for e in result["effects"]] == [("stock", "action"), ("stock", "compensation")]
    fig = draw_isolation(result)
    shelf, lanes = fig.axes[:2]
    assert list(shelf.lines[0].get_ydata()) == [1, 0, 1, 1]
    assert [t.get_text() for t in lanes.get_yticklabels()] == [
        "order A\nsaga-000001",
        "order B\nsaga-000002",
    ]
    written = {t.get_text() for t in lanes.texts}
    assert "read 0 free: sold out" in written and "undo stock" in written
    assert any("order B reads the shelf" in t.get_text() for t in shelf.texts)
    save(fig, "isolation")
    plt.close(fig)
    locked = draw_isolation(isolation_scenario(semantic_lock=True))
    assert "read 0 free, 1 pending: try again later" in {t.get_text() for t in locked.axes[1].texts}
    plt.close(locked)
    with pytest.raises(ValueError, match="result must be what isolation_scenario returns"):
        draw_isolation({"sagas": []})

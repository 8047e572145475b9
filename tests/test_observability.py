"""Following one order across the shop by correlation and causation ids (notebook 11)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from test_viz_saga_layout import layout_problems  # noqa: E402

from evtlib.course.chaos import run_schedule  # noqa: E402
from evtlib.course.exercises.nb11 import check_ex4  # noqa: E402
from evtlib.course.scenarios.whole_shop import (  # noqa: E402
    draw_order_chain,
    follow_order,
    order_chain,
)


def test_one_order_is_found_on_every_topic_by_its_correlation_id():
    """Schedule 11's declined order: the OrderPlaced, 3 commands, 3 replies, the undo last."""
    run = run_schedule(11)
    chain = order_chain(run, "order-000003")
    placed = chain.events[0]
    assert placed.type == "OrderPlaced" and chain.correlation_id == placed.id
    assert chain.copies[placed.id] == 3  # the relay published it again after its crashes
    assert [e.type for e in chain.events] == [
        "OrderPlaced",
        "reserve_stock",
        "CommandSucceeded",
        "charge_payment",
        "CommandFailed",
        "release_stock",
        "CommandSucceeded",
    ]
    assert chain.events[-1].source == "inventory"  # the undo's reply ends the story
    assert [s.state for s in chain.sagas] == ["compensated"] and not chain.dead
    assert chain.notes() == {placed.id: f"fulfilment started {chain.sagas[0].id}"}


def test_the_causal_chain_has_no_gap_and_no_stranger():
    """Every message but the first names an earlier message of the same story as its cause."""
    run = run_schedule(11)
    for order_id in ("order-000001", "order-000003"):
        chain = order_chain(run, order_id)
        ids = [e.id for e in chain.events]
        for i, e in enumerate(chain.events[1:], start=1):
            assert e.causation_id in ids[:i], (order_id, e)
    other = order_chain(run, "order-000001")
    assert not {e.id for e in other.events} & {
        e.id for e in order_chain(run, "order-000003").events
    }


def test_an_order_that_was_never_saved_has_no_story():
    """Schedule 11's order 2 crashed before its commit: no event, a picture that says so."""
    chain = follow_order(11, 2)
    assert chain.events == [] and chain.order_id == "order-000002"
    ax = draw_order_chain(chain)
    assert "never saved" in ax.texts[0].get_text()
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"order_id must be an order published in this run"):
        order_chain(run_schedule(11), "order-000002")
    with pytest.raises(ValueError, match=r"order must be 1\.\.3 .*got 4"):
        follow_order(11, 4)


def test_the_chain_picture_is_clean():
    """One lane per service, one arrow per causation id, nothing crossing or overlapping."""
    chain = follow_order(11, 3)
    ax = draw_order_chain(chain)
    assert [t.get_text() for t in ax.get_yticklabels()] == chain.services()
    arrows = [p for p in ax.patches if (p.get_gid() or "").startswith("edge:")]
    assert len(arrows) == len(chain.events) - 1
    assert layout_problems(ax) == []
    plt.close(ax.figure)


def test_exercise_4_counts_ids_not_copies(capsys):
    """Counting a republished reply twice gets the hint about copies, not a generic one."""
    chain = order_chain(run_schedule(17), "order-000001")
    on_logs = sum(chain.copies.values())
    assert chain.copies[chain.events[0].id] == 2  # the relay published the OrderPlaced again
    assert on_logs > len(chain.events)
    assert check_ex4(len(chain.events)) is True
    assert check_ex4(on_logs) is False
    assert "counted a copy" in capsys.readouterr().out

"""The saga state machine's picture: no arrow crosses a state it does not join, no label hides another.

Checked on the drawn figure (the renderer's extents, in pixels), for many saga
shapes, so that the layout cannot regress to the picture in which
``stock -> compensated`` ran through the ``payment`` box and labels collided.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _viz_helpers import save  # noqa: E402
from matplotlib.path import Path  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from evtlib.patterns import FailurePlan, SagaDefinition, Shop, Step, order_saga, run_order  # noqa: E402
from evtlib.viz import draw_state_machine  # noqa: E402
from evtlib.viz.saga import state_layout  # noqa: E402


def _noop(data):
    return None


def _definition(n_comp: int, pivot: bool, n_retr: int) -> SagaDefinition:
    kinds = ["compensatable"] * n_comp + ["pivot"] * pivot + ["retriable"] * n_retr
    names = ["stock", "coupon", "loyalty", "payment", "shipping", "email"]
    steps = []
    for i, kind in enumerate(kinds):
        undo = _noop if kind == "compensatable" else None
        steps.append(Step(names[i], _noop, undo, kind=kind))
    return SagaDefinition("shape", steps)


def _grown(box: Bbox, px: float) -> Bbox:
    return Bbox.from_extents(box.x0 - px, box.y0 - px, box.x1 + px, box.y1 + px)


def _crosses(polylines: list[Path], box: Bbox) -> bool:
    return any(p.intersects_bbox(box, filled=False) for p in polylines)


def layout_problems(ax) -> list[str]:
    """Every arrow that crosses a box it does not join, every overlapping label, in words.

    Reads the artists' gids: boxes ``state:``/``node:<name>``, arrows
    ``transition:``/``edge:<src>-><dst>``, labels ``label:<src>-><dst>`` (an
    arrow's own) and ``loop:<state>``.  Used for every boxes-and-arrows picture.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    states, labels, arrows = {}, {}, {}
    for t in ax.texts:
        gid = t.get_gid() or ""
        patch = t.get_bbox_patch()
        box = (patch or t).get_window_extent(renderer)
        if gid.startswith(("state:", "node:")):
            states[gid.split(":", 1)[1]] = box
        elif gid.startswith(("label:", "loop:")):
            labels[gid] = box
    for p in ax.patches:
        gid = p.get_gid() or ""
        if gid.startswith(("transition:", "edge:")):
            path = p.get_transform().transform_path(p.get_path())
            # The shaft and the head, as polylines (curves flattened; a closed head's
            # last vertex is a placeholder, which to_polygons drops).
            arrows[gid.split(":", 1)[1]] = [
                Path(poly) for poly in path.to_polygons(closed_only=False)
            ]
    problems = []
    for edge, path in arrows.items():
        u, v = edge.split("->")
        for s, box in states.items():
            if s not in (u, v) and _crosses(path, _grown(box, 2)):
                problems.append(f"the arrow {edge} crosses the state {s!r}")
    names = sorted(labels)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if labels[a].overlaps(labels[b]):
                problems.append(f"{a} overlaps {b}")
        for s, box in states.items():
            if labels[a].overlaps(box):
                problems.append(f"{a} overlaps the state {s!r}")
        own = a[len("label:") :] if a.startswith("label:") else None
        for edge, path in arrows.items():
            if edge != own and _crosses(path, labels[a]):
                problems.append(f"the arrow {edge} runs through {a}")
    page = fig.bbox
    for name, box in [*labels.items(), *states.items()]:
        if not page.contains(box.x0, box.y0) or not page.contains(box.x1, box.y1):
            problems.append(f"{name} is cut off by the figure's edge")
    return problems


SHAPES = [
    (1, True, 1),  # the order saga: stock, payment, shipping
    (2, True, 1),  # the checkout saga: a coupon before the pivot
    (3, True, 2),
    (0, True, 1),
    (2, False, 0),
    (1, False, 2),
    (0, False, 3),
    (3, False, 0),
    (2, True, 0),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "c{}p{}r{}".format(*map(int, s)))
def test_no_arrow_crosses_a_state_and_no_label_overlaps(shape):
    """Every saga shape: arrows join only their own states, labels sit clear of each other."""
    definition = _definition(*shape)
    states, transitions = definition.state_machine()
    ax = draw_state_machine(states, transitions)
    assert layout_problems(ax) == []
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "failures",
    [
        [FailurePlan("payment")],
        [FailurePlan("payment"), FailurePlan("stock", times=None, compensation=True)],
        [FailurePlan("shipping", times=None)],
        [FailurePlan("stock")],
    ],
    ids=["declined", "undo-keeps-failing", "shipping-gives-up", "stock-fails"],
)
def test_the_order_sagas_paths_draw_cleanly(failures):
    """The notebook's pictures: numbered, longer labels on the path still overlap nothing."""
    states, transitions = order_saga(Shop()).state_machine()
    saga = run_order(failures=failures).sagas[0]
    ax = draw_state_machine(states, transitions, path=saga.path)
    assert layout_problems(ax) == []
    save(ax.figure, "saga_state_machine_" + saga.state)
    plt.close(ax.figure)


def test_the_layout_puts_the_happy_path_on_top_and_compensation_under_its_step():
    """started ... completed on row 0, compensate X under X, compensated left, needs-attention below."""
    states, transitions = order_saga(Shop()).state_machine()
    cells = state_layout(states, transitions).cells
    assert [s for s in states if cells[s][1] == 0] == [
        "started",
        "stock",
        "payment",
        "shipping",
        "completed",
    ]
    assert [cells[s][0] for s in ("started", "stock", "payment", "shipping", "completed")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert cells["compensate stock"] == (cells["stock"][0], 1)
    assert cells["compensated"] == (0, 1)
    assert cells["needs-attention"] == (cells["payment"][0], 2)  # under the pivot
    bends = state_layout(states, transitions).bend
    assert bends[("stock", "compensated")] == 0  # a straight diagonal, clear of payment


def test_the_old_bug_is_caught_by_the_check():
    """The checker is not blind: an arrow drawn through a state is reported."""
    from matplotlib.patches import FancyArrowPatch

    states, transitions = order_saga(Shop()).state_machine()
    ax = draw_state_machine(states, transitions)
    layout = state_layout(states, transitions)
    ax.add_patch(
        FancyArrowPatch(
            layout.pos["stock"], layout.pos["shipping"], gid="transition:stock->shipping"
        )
    )
    assert "the arrow stock->shipping crosses the state 'payment'" in layout_problems(ax)
    plt.close(ax.figure)


def test_a_back_edge_bends_around_the_state_between():
    """A transition back along the row (c -> a) is bent so it clears b; an empty machine draws."""
    states, transitions = ["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a", "back")]
    assert state_layout(states, transitions).bend[("c", "a")] != 0
    ax = draw_state_machine(states, transitions)
    assert layout_problems(ax) == []
    plt.close(ax.figure)
    plt.close(draw_state_machine([], []).figure)

"""Notebook 12 (related styles): explorers and the build exercise's sweep.

* :func:`coupling_run`: request/response and events side by side while
  billing is down; the outage's start and length are the knobs (explorer).
* :func:`callback_run`: event notification (call back) and event-carried
  state transfer side by side while the order service's API is down
  (explorer).
* :func:`draw_order_stream`, :func:`draw_race`, :func:`draw_snapshot_costs`:
  the event-sourcing pictures (an order rebuilt from its stream to decide a
  command; two writers racing on one version; the replay a snapshot saves).
* :func:`snapshot_run`: the replay cost with and without snapshots, for a
  snapshot interval and a number of edits (explorer).
* :func:`handler_schedule`: one seeded race for the learner's command
  handler ``handle(orders, order_id, command, data)``: rival writers append
  between its load and its save (build exercise 4: optimistic concurrency).
* :func:`projection_schedule`: one seeded event history folded by the
  learner's ``fold(state, event)``, live through a read model, from a
  snapshot and by replay (the build exercise: a projection fold).

All are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial, reduce
from random import Random
from typing import Any

from ... import checks
from ...broker import Broker, NetworkFaults
from ...events import Event
from ...faults import crash
from ...patterns.event_store import CommandRejected, EventStore, Repository
from ...readmodel import ReadModel
from ...sim import Simulation
from ..styles import (
    NEW_ORDER,
    RaceRun,
    decide_order,
    order_fold,
    shipping_labels,
    temporal_coupling,
)
from .build_check import Breach

__all__ = [
    "snapshot_run",
    "draw_snapshot_run",
    "handler_schedule",
    "draw_order_stream",
    "draw_race",
    "draw_snapshot_costs",
    "coupling_run",
    "draw_coupling_run",
    "callback_run",
    "draw_callback_run",
    "reference_stock",
    "projection_schedule",
]


def snapshot_run(snapshot_every: int = 10, edits: int = 64) -> dict[str, Any]:
    """An order edited ``edits`` times, with a snapshot every ``snapshot_every`` events and without."""
    from ..styles import snapshot_costs

    checks.integer("snapshot_every", snapshot_every, min=1, max=1000)
    checks.integer("edits", edits, min=1, max=1000)
    return {
        "with": snapshot_costs(edits=edits, snapshot_every=snapshot_every),
        "without": snapshot_costs(edits=edits, snapshot_every=None),
        "every": snapshot_every,
    }


def draw_snapshot_run(result: dict[str, Any], ax: Any = None) -> Any:
    """The picture of :func:`snapshot_run` (see :func:`draw_snapshot_costs`)."""
    return draw_snapshot_costs(
        result["with"]["replayed"], result["without"]["replayed"], result["every"], ax=ax
    )


def coupling_run(down_at: float = 200.0, down_for: float = 400.0) -> dict[str, dict[str, int]]:
    """40 orders every 20 ms; billing down from ``down_at`` for ``down_for`` ms, both styles."""
    checks.number("down_at", down_at, min=0)
    checks.number("down_for", down_for, above=0)
    outage = (float(down_at), float(down_for))
    return {style: temporal_coupling(style, outage=outage).counts for style in ("request", "event")}


def draw_coupling_run(counts: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """Orders charged and failed, request/response vs events."""
    from ...viz import draw_outcomes

    return draw_outcomes(
        counts["request"],
        counts["event"],
        labels=("request/response", "events"),
        ax=ax,
        order=("orders", "charged", "failed"),
        unit="orders",
        title="40 orders while billing is down",
    )


def callback_run(down_at: float = 100.0, down_for: float = 150.0) -> dict[str, dict[str, int]]:
    """20 shipping labels; the order service's API down from ``down_at`` for ``down_for`` ms."""
    checks.number("down_at", down_at, min=0)
    checks.number("down_for", down_for, min=0)
    down = (float(down_at), float(down_at + down_for)) if down_for > 0 else None
    return {
        "notification": shipping_labels(False, down=down).counts,
        "state transfer": shipping_labels(True, down=down).counts,
    }


def draw_callback_run(counts: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """Labels, call backs and failed call backs, thin events vs fat events."""
    from ...viz import draw_outcomes

    return draw_outcomes(
        counts["notification"],
        counts["state transfer"],
        labels=("event notification", "event-carried state"),
        ax=ax,
        order=("labels", "callbacks", "failed callbacks"),
        unit="labels or calls",
        title="20 orders while the order service's API is down",
    )


# ---------------------------------------------------------------- event sourcing pictures


def draw_order_stream(events: list[Event], command: str, ax: Any = None) -> Any:
    """An order's stream folded, left to right, into the state that decides ``command``.

    One box per event (its version and type) with the state after it
    beneath; the last box is the command and what the state decides:
    the events it records, or why it is refused.
    """
    import matplotlib.pyplot as plt

    from ...viz.style import COLORS

    if ax is None:
        _, ax = plt.subplots(figsize=(2.3 * (len(events) + 2), 2.6), layout="constrained")
    state: dict[str, Any] = dict(NEW_ORDER)
    for i, e in enumerate(events):
        state = order_fold(state, e)
        ax.add_patch(
            plt.Rectangle((i * 2.2, 1.0), 2.0, 0.9, facecolor=COLORS["published"], alpha=0.15)
        )
        ax.text(i * 2.2 + 1.0, 1.45, f"v{i + 1}\n{e.type}", ha="center", va="center", fontsize=10)
        ax.text(
            i * 2.2 + 1.0, 0.55, f"{state['status']}, {state['total']}", ha="center", fontsize=9
        )
        ax.annotate(
            "", (i * 2.2 + 2.2, 1.45), (i * 2.2 + 2.0, 1.45), arrowprops={"arrowstyle": "->"}
        )
    x = len(events) * 2.2
    try:
        decided = ", ".join(kind for kind, _ in decide_order(state, command))
        verdict, face, hatch = f"records {decided}", COLORS["handled"], ""
    except CommandRejected as exc:
        verdict, face, hatch = f"refused: {exc}".replace(" (", "\n("), COLORS["failed"], "//"
    ax.add_patch(plt.Rectangle((x, 1.0), 3.2, 0.9, facecolor=face, alpha=0.25, hatch=hatch))
    ax.text(
        x + 1.6,
        1.45,
        f"command: {command}",
        ha="center",
        va="center",
        fontsize=10,
        weight="bold",
        bbox={"facecolor": "white", "edgecolor": "none"},
    )
    ax.text(x + 1.6, 0.55, verdict, ha="center", fontsize=9)
    ax.text(-0.1, 0.55, "state:", ha="right", fontsize=9)
    ax.set_xlim(-1.0, x + 3.4)
    ax.set_ylim(0.2, 2.2)
    ax.axis("off")
    ax.set_title(
        f"order-1 rebuilt from its {len(events)} events (its version: v{len(events)}), then {command!r} decided",
        loc="left",
    )
    return ax


_OUTCOME_MARKERS = {
    "ok": ("o", "loaded / appended"),
    "conflict": ("X", "append refused: conflict"),
    "rejected": ("s", "command refused by the state"),
}


def draw_race(run: RaceRun, ax: Any = None) -> Any:
    """Two writers on one order, as a sequence: one lane each, a step per column, and the stream.

    Markers say how each step went (a circle: done; a cross: the append was
    refused on a version conflict; a square: the command was refused by the
    order's state); the bottom lane lists the stream as it ends.
    """
    import matplotlib.pyplot as plt

    from ...viz.style import COLORS

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.4), layout="constrained")
    lanes = {"customer": 2, "warehouse": 1}
    colour = {"ok": COLORS["handled"], "conflict": COLORS["failed"], "rejected": COLORS["crashed"]}
    seen: set[str] = set()
    for i, step in enumerate(run.steps):
        marker, label = _OUTCOME_MARKERS[step.outcome]
        y = lanes[step.actor]
        ax.scatter(
            [i],
            [y],
            marker=marker,
            s=140,
            color=colour[step.outcome],
            zorder=3,
            label=None if step.outcome in seen else label,
        )
        seen.add(step.outcome)
        ax.annotate(
            step.action,
            (i, y),
            (0, 12 if i % 2 == 0 else -20),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    stream = run.stream
    ax.text(
        -0.4,
        0.35,
        "stream order-1: " + " -> ".join(f"v{v} {t}" for v, t in enumerate(stream, 1)),
        fontsize=10,
        ha="left",
    )
    ax.set_yticks([2, 1], ["customer: cancel", "warehouse: ship"])
    ax.set_xticks(range(len(run.steps)), [f"step {i + 1}" for i in range(len(run.steps))])
    ax.set_xlim(-0.6, len(run.steps) - 0.2)
    ax.set_ylim(0.0, 2.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    how = "expected version checked" if run.check else "no version check (any)"
    ax.set_title(
        f"two commands on order-1 at version 2, {how}: it ends {run.state['status']}", loc="left"
    )
    return ax


def draw_snapshot_costs(
    with_snapshots: list[int], without: list[int], every: int, ax: Any = None
) -> Any:
    """Events replayed by each command's load, with and without a snapshot every ``every`` events."""
    import matplotlib.pyplot as plt

    from ...viz.style import PALETTE

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    xs = range(1, len(without) + 1)
    ax.step(xs, without, where="mid", color=PALETTE[1], linestyle="--", label="full replay")
    ax.step(
        xs, with_snapshots, where="mid", color=PALETTE[0], label=f"snapshot every {every} events"
    )
    ax.set_xlabel("command (each loads the order first)")
    ax.set_ylabel("events replayed by the load")
    ax.legend(loc="upper left")
    ax.set_title(
        f"{len(without)} commands on one order: {sum(without)} events replayed in all,"
        f" {sum(with_snapshots)} with snapshots",
        loc="left",
    )
    return ax


# ---------------------------------------------------------------- the build exercise


def reference_stock(state: dict[str, int], event: Event) -> dict[str, int]:
    """Units available per sku: received - reserved + released; other event types ignored."""
    if event.type not in ("StockReceived", "StockReserved", "StockReleased"):
        return state
    sku, qty = event.data["sku"], event.data["qty"]
    sign = -1 if event.type == "StockReserved" else 1
    return {**state, sku: state.get(sku, 0) + sign * qty}


def _history(rng: Any, seed: int) -> list[Event]:
    skus = ["mug", "tee", "cap"][: rng.randint(1, 3)]
    available = dict.fromkeys(skus, 0)
    reserved = dict.fromkeys(skus, 0)
    out = []
    for i in range(rng.randint(8, 24)):
        sku = rng.choice(skus)
        r = rng.random()
        if r < 0.1:
            kind, data = "PriceChanged", {"sku": sku, "price": rng.randint(5, 40)}
        elif r < 0.35 or available[sku] == 0:
            q = rng.randint(1, 6)
            available[sku] += q
            kind, data = "StockReceived", {"sku": sku, "qty": q}
        elif r < 0.75 or reserved[sku] == 0:
            q = rng.randint(1, available[sku])
            available[sku] -= q
            reserved[sku] += q
            kind, data = "StockReserved", {"sku": sku, "qty": q}
        else:
            q = rng.randint(1, reserved[sku])
            reserved[sku] -= q
            available[sku] += q
            kind, data = "StockReleased", {"sku": sku, "qty": q}
        out.append(
            Event(
                id=f"s{seed}-evt-{i + 1:03d}",
                type=kind,
                time=10.0 * (i + 1),
                source="inventory",
                key=sku,
                data=data,
            )
        )
    return out


def projection_schedule(fold: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """One event history folded by ``fold(state, event)``, three ways; do they agree?

    8 to 24 inventory events over 1-3 skus (``StockReceived``,
    ``StockReserved``, ``StockReleased``, and now and then a ``PriceChanged``
    the view does not need), published to ``inventory``.  A read model folds
    them live (the network may duplicate deliveries; the view's consumer may
    crash and restart); halfway, the view's state is kept as a snapshot (by
    reference, as a cache keeps it).  Invariants: the live view is the
    available stock; the snapshot still says what it said when it was taken;
    replaying the log from ``{}`` gives the same state.
    """
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("history")
    history = _history(rng, seed)
    broker = Broker(sim, latency=1.0, faults=NetworkFaults(duplicate=rng.choice((0.0, 0.2))))
    broker.create_topic("inventory")
    # Crashes are noticed at once here (session_timeout=0, a simplification): Kafka's
    # default session.timeout.ms is 45 s, and a broker refuses less than
    # group.min.session.timeout.ms (6 s by default).
    broker.group("available", session_timeout=0)
    errors: list[str] = []

    def guarded(state: Any, event: Event) -> Any:
        try:
            return fold(state, event)
        except Exception as exc:
            if not errors:
                errors.append(
                    f"fold raised {type(exc).__name__}: {exc} on {event.type} {event.data}"
                )
            return state

    view = ReadModel(broker, "available", "inventory", guarded)
    for e in history:
        sim.schedule_at(e.time, partial(broker.publish, actor="inventory"), "inventory", e)
    half = history[len(history) // 2].time + 5.0
    snapshot: dict[str, Any] = {}

    def take_snapshot() -> None:
        snapshot["state"] = view.state  # a reference, as a cache keeps it
        snapshot["copy"] = copy.deepcopy(view.state)
        snapshot["applied"] = view.applied

    sim.schedule_at(half, take_snapshot)
    if rng.random() < 0.5:
        crash(sim, view, at=rng.uniform(0, history[-1].time), restart_after=30.0)
    sim.run()
    keep = sim.trace if trace else None
    if errors:
        return Breach(seed, "the fold handles every event", "error", errors[0], keep)
    empty: dict[str, int] = {}
    want = reduce(reference_stock, history, empty)
    if view.state != want:
        return Breach(
            seed,
            "the view is the available stock",
            "wrong",
            f"the view says {view.state}, the log says {want}",
            keep,
        )
    if snapshot and snapshot["state"] != snapshot["copy"]:
        return Breach(
            seed,
            "a snapshot never changes",
            "mutated",
            f"the snapshot taken after {snapshot['applied']} events said {snapshot['copy']},"
            f" now it says {snapshot['state']}",
            keep,
        )
    replayed: Any = reduce(guarded, history, {})
    if errors or replayed != want:
        return Breach(
            seed,
            "a replay gives the same state",
            "replay",
            f"replaying the log gives {replayed}, not {want}",
            keep,
        )
    return None


# ---------------------------------------------------------------- build exercise 4


class _RacyStore(EventStore):
    """An event store where rival writers append just before the learner's next appends."""

    def __init__(self, rivals: list[str], stream: str) -> None:
        super().__init__()
        self.rivals = rivals  # one rival command per coming append, in order
        self.stream = stream
        self.rival_appends = 0

    def append(self, stream: str, events: Any, *, expected_version: int | str) -> int:
        events = list(events)  # read them once
        if self.rivals:
            command = self.rivals.pop(0)
            state: Any = dict(NEW_ORDER)
            for e in self.read(self.stream):
                state = order_fold(state, e)
            try:
                changes = decide_order(state, command, _LINE if command == "add_line" else None)
            except CommandRejected:
                changes = []
            version = self.version(self.stream)
            rival = [
                Event(
                    id=f"rival-{version + i}",
                    type=kind,
                    time=0.0,
                    source="rival",
                    key=self.stream,
                    data=data,
                )
                for i, (kind, data) in enumerate(changes, 1)
            ]
            if rival:
                super().append(self.stream, rival, expected_version=version)
                self.rival_appends += 1
        return super().append(stream, events, expected_version=expected_version)


class _OwnLoop(Repository):
    """The learner's repository: ``load`` and ``save``; ``execute`` is theirs to write."""

    def execute(self, *args: Any, **kwargs: Any) -> int:
        raise NotImplementedError(
            "write the loop yourself with orders.load(...) and orders.save(...)"
        )


_LINE = {"sku": "mug", "qty": 2, "price": 4}


def handler_schedule(handle: Callable[..., Any], seed: int, trace: bool = False) -> Breach | None:
    """One race for ``handle(orders, order_id, command, data)``: do the invariants hold?

    ``order-1`` starts placed or paid (seeded); the learner's command is one
    the order allows then.  Rival writers (0, 1 or 2) each append a command
    of their own just before one of the learner's appends.  Invariants:
    every event the learner appended was decided on the order as it was
    (``stale``); the command is applied once, unless the order as the rivals
    left it refuses it, and then ``CommandRejected`` propagates (``lost``,
    ``gave-up``, ``twice``).
    """
    from ...patterns.event_store import ConcurrencyError

    rng = Random(seed)
    paid = rng.random() < 0.5
    command = rng.choice(("ship", "cancel") if paid else ("add_line", "pay", "cancel"))
    choices = ("cancel", "ship") if paid else ("add_line", "add_line", "pay", "cancel")
    n = rng.choices((0, 1, 2), weights=(40, 45, 15))[0]
    store = _RacyStore([], "order-1")
    orders = _OwnLoop(store, order_fold, NEW_ORDER)
    for c, d in [("place", {"total": 30})] + ([("pay", None)] if paid else []):
        loaded = orders.load("order-1")
        orders.save(loaded, decide_order(loaded.state, c, d))
    start = store.version("order-1")
    store.rivals = [rng.choice(choices) for _ in range(n)]
    data = dict(_LINE) if command == "add_line" else None
    what = f"{command} on a {'paid' if paid else 'placed'} order with {n} rival append(s)"
    outcome = "returned"
    try:
        handle(orders, "order-1", command, data)
    except CommandRejected:
        outcome = "rejected"
    except ConcurrencyError as exc:
        outcome = f"gave up ({exc})"
    except Exception as exc:
        return Breach(
            seed, "the handler runs", "error", f"{what}: it raised {type(exc).__name__}: {exc}"
        )
    state: Any = dict(NEW_ORDER)
    mine = 0
    for v, e in enumerate(store.read("order-1"), 1):
        if v > start and e.source != "rival":
            mine += 1
            try:
                want = decide_order(state, command, data)
            except CommandRejected as exc:
                return Breach(
                    seed,
                    "every event is decided on the order as it is",
                    "stale",
                    f"{what}: it appended {e.type} to an order that was already {state['status']}"
                    f" ({exc})",
                )
            if [(e.type, dict(e.data))] != want:
                return Breach(
                    seed,
                    "every event is decided on the order as it is",
                    "stale",
                    f"{what}: it appended {e.type} {dict(e.data)}; the order as it was called for"
                    f" {want[0][0]} {want[0][1]}",
                )
        state = order_fold(state, e)
    if mine > 1:
        return Breach(
            seed, "the command is applied once", "twice", f"{what}: it appended {mine} events"
        )
    if outcome.startswith("gave up"):
        return Breach(
            seed,
            "a conflict is retried on the order as it now is",
            "gave-up",
            f"{what}: the handler {outcome}",
        )
    if mine == 0:
        try:
            decide_order(state, command, data)
            allowed = True
        except CommandRejected:
            allowed = False
        if allowed:
            return Breach(
                seed,
                "the command is applied unless the order refuses it",
                "lost",
                f"{what}: nothing was appended ({outcome}), yet the order"
                f" ({state['status']}) allows it",
            )
        if outcome != "rejected":
            return Breach(
                seed,
                "a refused command says so",
                "silent",
                f"{what}: the order ({state['status']}) refuses it, but the handler {outcome}"
                " instead of letting CommandRejected through",
            )
    return None

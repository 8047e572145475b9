"""Notebook 12 (related styles): explorers and the build exercise's sweep.

* :func:`coupling_run`: request/response and events side by side while
  billing is down; the outage's start and length are the knobs (explorer).
* :func:`callback_run`: event notification (call back) and event-carried
  state transfer side by side while the order service's API is down
  (explorer).
* :func:`projection_schedule`: one seeded event history folded by the
  learner's ``fold(state, event)``, live through a read model, from a
  snapshot and by replay (the build exercise: a projection fold).

All are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial, reduce
from typing import Any

from ... import checks
from ...broker import Broker, NetworkFaults
from ...events import Event
from ...faults import crash
from ...readmodel import ReadModel
from ...sim import Simulation
from ..styles import shipping_labels, temporal_coupling
from .build_check import Breach

__all__ = [
    "coupling_run",
    "draw_coupling_run",
    "callback_run",
    "draw_callback_run",
    "reference_stock",
    "projection_schedule",
]


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
        unit="count",
        title="20 orders while the order service's API is down",
    )


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

"""The saga lessons' scenarios: the order saga, the sweep and the isolation anomaly.

* :class:`Shop` and :func:`order_saga`: the running example (reserve stock,
  charge the payment: the pivot, book shipping).
* :func:`run_order`: one seeded run of orders through orchestration,
  choreography or the naive twin, returned as data (:class:`SagaRun`).
* :func:`classify`: what a saga's effects really add up to.
* :func:`saga_sweep`: many random fault schedules through all three, tallied.
* :func:`isolation_scenario`: sagas lack isolation; a semantic lock helps.

Each function builds its own seeded :class:`~evtlib.sim.Simulation`, so the
same arguments give the same numbers; nothing is printed or plotted here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker, NetworkFaults
from ...sim import Simulation
from .choreography import Choreography
from .definition import ACTION, COMPENSATION, FailurePlan, SagaDefinition, Step
from .log import SagaInstance
from .orchestration import NaiveSequence, SagaOrchestrator

__all__ = [
    "Shop",
    "order_saga",
    "OUTCOMES",
    "MODES",
    "classify",
    "SagaRun",
    "run_order",
    "random_failures",
    "saga_sweep",
    "isolation_scenario",
]


# -- the running example -----------------------------------------------------------


class Shop:
    """The running example's business data: stock, payments and shipments.

    ``reserve_stock`` / ``release_stock`` (inventory), ``charge_payment``
    (payments; a card ``"declined"`` fails) and ``book_shipping`` are the
    local transactions.  ``ledger`` lists every effect as
    ``(saga_id, step, phase)`` in the order it happened; ``reads`` what
    each reservation saw of the stock.

    With ``semantic_lock=True`` a reservation is marked ``"PENDING"`` until
    the saga confirms it after the pivot (step ``confirm``), and a
    reservation that finds the shelf empty but units pending fails with a
    reason that says so: *try again later*, rather than *sold out*.
    """

    def __init__(self, stock: int = 10, *, semantic_lock: bool = False) -> None:
        checks.integer("stock", stock, min=0)
        self.stock = stock
        self.semantic_lock = semantic_lock
        self.reservations: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, int] = {}
        self.shipments: dict[str, str] = {}
        self.ledger: list[tuple[str, str, str]] = []
        self.reads: list[dict[str, Any]] = []

    @property
    def pending(self) -> int:
        """Units held by reservations whose saga has not passed its pivot."""
        return sum(r["qty"] for r in self.reservations.values() if r["status"] == "PENDING")

    def reserve_stock(self, order: dict[str, Any]) -> dict[str, Any]:
        qty = order.get("qty", 1)
        self.reads.append(
            {"saga_id": order["saga_id"], "free": self.stock, "pending": self.pending}
        )
        if qty > self.stock:
            if self.semantic_lock and qty <= self.stock + self.pending:
                raise RuntimeError(f"PENDING: {self.pending} units are held by a running saga")
            raise RuntimeError(f"out of stock: {self.stock} left, {qty} wanted")
        self.stock -= qty
        status = "PENDING" if self.semantic_lock else "RESERVED"
        self.reservations[order["saga_id"]] = {"qty": qty, "status": status}
        self.ledger.append((order["saga_id"], "stock", ACTION))
        return {"reserved": qty}

    def release_stock(self, order: dict[str, Any]) -> None:
        r = self.reservations.pop(order["saga_id"], None)
        if r is not None:
            self.stock += r["qty"]
        self.ledger.append((order["saga_id"], "stock", COMPENSATION))

    def charge_payment(self, order: dict[str, Any]) -> dict[str, Any]:
        if order.get("card") == "declined":
            raise RuntimeError("card declined")
        amount = order.get("total", 0)
        self.payments[order["saga_id"]] = amount
        self.ledger.append((order["saga_id"], "payment", ACTION))
        return {"charged": amount}

    def confirm_stock(self, order: dict[str, Any]) -> None:
        self.reservations[order["saga_id"]]["status"] = "CONFIRMED"
        self.ledger.append((order["saga_id"], "confirm", ACTION))

    def book_shipping(self, order: dict[str, Any]) -> dict[str, Any]:
        self.shipments[order["saga_id"]] = "booked"
        self.ledger.append((order["saga_id"], "shipping", ACTION))
        return {"shipment": f"ship-{order['saga_id']}"}

    def __repr__(self) -> str:
        return (
            f"<Shop stock={self.stock} pending={self.pending} reservations={len(self.reservations)}"
            f" payments={len(self.payments)} shipments={len(self.shipments)}>"
        )


def order_saga(shop: Shop, *, retries: int = 3, timeout: float = 1000.0) -> SagaDefinition:
    """The running example: reserve stock, charge the payment (pivot), book shipping.

    With a shop using a semantic lock, a retriable ``confirm`` step after the
    pivot turns the ``PENDING`` reservation into ``CONFIRMED``.
    """
    steps = [
        Step(
            "stock",
            shop.reserve_stock,
            shop.release_stock,
            retries=retries,
            timeout=timeout,
            participant="inventory",
            events=("StockReserved", "StockReservationFailed", "StockReleased"),
        ),
        Step(
            "payment",
            shop.charge_payment,
            kind="pivot",
            retries=retries,
            timeout=timeout,
            participant="payments",
            events=("PaymentCharged", "PaymentFailed"),
        ),
    ]
    if shop.semantic_lock:
        steps.append(
            Step(
                "confirm",
                shop.confirm_stock,
                kind="retriable",
                retries=retries,
                timeout=timeout,
                participant="inventory",
                events=("StockConfirmed", "StockConfirmationFailed"),
            )
        )
    steps.append(
        Step(
            "shipping",
            shop.book_shipping,
            kind="retriable",
            retries=retries,
            timeout=timeout,
            events=("ShipmentBooked", "ShipmentFailed"),
        )
    )
    return SagaDefinition("order", steps, start_event="OrderPlaced")


# -- outcomes, runs and the sweep ---------------------------------------------------

#: Labels :func:`classify` gives a saga's effects.
OUTCOMES = ("completed", "rolled back", "needs-attention", "half-done")


def classify(
    definition: SagaDefinition, effects: Iterable[tuple[str, str]], flagged: bool = False
) -> str:
    """What a saga's effects add up to: ``completed``, ``rolled back`` or ``half-done``.

    ``effects`` are ``(step, phase)`` pairs in the order they happened.
    ``completed``: every action took effect once and nothing was undone.
    ``rolled back``: nothing from the pivot on took effect, and every action
    that did was compensated exactly once, in reverse order.  Anything else
    is ``half-done`` unless the saga ``flagged`` it (``needs-attention``):
    then a person knows.
    """
    effects = list(effects)
    actions = [s for s, p in effects if p == ACTION]
    undone = [s for s, p in effects if p == COMPENSATION]
    if actions == definition.step_names and not undone:
        return "completed"
    first_non_comp = next(
        (i for i, s in enumerate(definition.steps) if s.kind != "compensatable"),
        len(definition.steps),
    )
    after_pivot = set(definition.step_names[first_non_comp:])
    if (
        not after_pivot & set(actions)
        and undone == actions[::-1]
        and effects == [(s, ACTION) for s in actions] + [(s, COMPENSATION) for s in undone]
    ):
        return "rolled back"
    return "needs-attention" if flagged else "half-done"


class SagaRun(NamedTuple):
    """What :func:`run_order` returns: the simulation and everything in it."""

    sim: Simulation
    broker: Broker
    shop: Shop
    definition: SagaDefinition
    coordinator: Any  # SagaOrchestrator, NaiveSequence or Choreography
    sagas: list[SagaInstance]

    def outcomes(self) -> list[str]:
        """:func:`classify` for every saga, from the shop's ledger (what really happened)."""
        out = []
        for saga in self.sagas:
            effects = [(s, p) for sid, s, p in self.shop.ledger if sid == saga.id]
            out.append(classify(self.definition, effects, saga.state == "needs-attention"))
        return out


MODES = ("orchestration", "choreography", "naive")


def run_order(
    mode: str = "orchestration",
    *,
    seed: int = 0,
    failures: Iterable[FailurePlan] = (),
    faults: NetworkFaults | None = None,
    orders: int = 1,
    stock: int = 10,
    gap: float = 50.0,
    retries: int = 3,
    until: float | None = None,
) -> SagaRun:
    """Run the order saga ``orders`` times (``gap`` ms apart) and return everything.

    ``mode`` is ``"orchestration"``, ``"choreography"`` or ``"naive"`` (the
    twin without compensation).  ``failures`` and ``faults`` inject trouble.

        >>> run = run_order(failures=[FailurePlan("payment")])
        >>> run.sagas[0].state, run.shop.stock
        ('compensated', 10)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    checks.integer("orders", orders, min=1)
    sim = Simulation(seed)
    broker = Broker(sim, latency=1.0, faults=faults)
    shop = Shop(stock)
    definition = order_saga(shop, retries=retries)
    plans = definition.check_failures(failures)
    coordinator: Any
    if mode == "choreography":
        coordinator = Choreography(broker, definition, failures=plans)
    else:
        definition.participants(broker, failures=plans)
        cls = NaiveSequence if mode == "naive" else SagaOrchestrator
        coordinator = cls(broker, definition)
    sagas: list[SagaInstance] = []
    for i in range(orders):
        data = {"order_id": f"order-{i + 1}", "qty": 1, "total": 30}
        sim.schedule(i * gap, lambda d=data: sagas.append(coordinator.start(d)))
    sim.run(until)
    return SagaRun(sim, broker, shop, definition, coordinator, sagas)


def random_failures(rng: random.Random, definition: SagaDefinition) -> list[FailurePlan]:
    """A random failure plan: each action and compensation may fail a few times."""
    plans = []
    for s in definition.steps:
        if rng.random() < 0.3:
            plans.append(FailurePlan(s.name, times=rng.randint(1, s.retries + 2)))
        if s.compensation is not None and rng.random() < 0.3:
            plans.append(
                FailurePlan(s.name, times=rng.randint(1, s.retries + 2), compensation=True)
            )
    return plans


def saga_sweep(n: int = 1000, *, seed: int = 0) -> dict[str, dict[str, int]]:
    """Run ``n`` random fault schedules through each mode; tally what the orders end as.

    Each schedule draws failure plans (:func:`random_failures`) and network
    duplicates and delays, and runs the same schedule through orchestration,
    choreography and the naive twin.  Tallies use :func:`classify` on the
    shop's ledger, so they count what really happened, not what the
    coordinator believes.  The saga's ``half-done`` column should be 0.
    """
    checks.integer("n", n, min=1)
    tallies = {mode: dict.fromkeys(OUTCOMES, 0) for mode in MODES}
    probe = order_saga(Shop())
    for i in range(n):
        rng = random.Random(f"saga-sweep/{seed}/{i}")
        plans = random_failures(rng, probe)
        faults = NetworkFaults(
            duplicate=rng.choice([0.0, 0.1, 0.3]), delay=rng.choice([0.0, 0.05]), extra=1500
        )
        for mode in MODES:
            run = run_order(mode, seed=i, failures=plans, faults=faults)
            for outcome in run.outcomes():
                tallies[mode][outcome] += 1
    return tallies


# -- isolation -------------------------------------------------------------------


def isolation_scenario(semantic_lock: bool = False, *, seed: int = 0) -> dict[str, Any]:
    """Two orders for the last unit: the first is declined and rolls back, the second reads too early.

    Order A reserves the only unit, then its card is declined and the unit
    is released.  Order B arrives while A holds the unit.  Sagas lack
    isolation: A's reservation is a committed local transaction of an
    unfinished saga, so without a lock B reads "0 left", is told *sold out*
    and goes away, though the unit is back on the shelf a moment later
    (Richardson's *dirty read* in the saga sense: B read what A's saga could
    still undo).  With a *semantic lock* A's reservation is marked
    ``PENDING``; B sees that it may come back, and the shop tries B again
    after a short wait: B gets the unit.

    Returns the sagas (state, path, error, history), what each reservation
    read, every local transaction that took effect as ``(time, saga_id,
    step, phase)`` (``effects``), the stock at the start and at the end, and
    whether a customer was turned away while stock was free.
    """
    sim = Simulation(seed)
    broker = Broker(sim, latency=1.0)
    shop = Shop(stock=1, semantic_lock=semantic_lock)
    definition = order_saga(shop)
    participants = definition.participants(broker)
    sagas: list[SagaInstance] = []

    def on_end(saga: SagaInstance) -> None:
        if saga.state == "compensated" and (saga.error or "").find("PENDING") >= 0:
            sim.schedule(100, start, {**saga.data, "retry_of": saga.id})

    orch = SagaOrchestrator(broker, definition, on_end=on_end)

    def start(data: dict[str, Any]) -> None:
        data = {k: v for k, v in data.items() if k != "saga_id"}
        sagas.append(orch.start(data))

    sim.schedule(0, start, {"order_id": "A", "qty": 1, "total": 30, "card": "declined"})
    sim.schedule(15, start, {"order_id": "B", "qty": 1, "total": 30, "card": "ok"})
    sim.run()
    rows = [
        {
            "saga": s.id,
            "order": s.data["order_id"],
            "state": s.state,
            "path": s.path,
            "error": s.error,
            "history": [dict(h) for h in s.history],
        }
        for s in sagas
    ]
    b_done = any(r["order"] == "B" and r["state"] == "completed" for r in rows)
    return {
        "semantic_lock": semantic_lock,
        "sagas": rows,
        "reads": list(shop.reads),
        "effects": sorted(e for p in participants for e in p.effects),
        "stock_start": 1,
        "stock_left": shop.stock,
        "b_served": b_done,
        "turned_away_with_stock_free": not b_done and shop.stock > 0,
    }

"""Notebook 10 (saga): explorers and the build exercise's fault sweep.

* :func:`checkout_run`: the checkout saga of notebook 10 (stock, coupon,
  payment: the pivot, shipping) with a failing step and a failing
  compensation as knobs; its saga, for :func:`draw_checkout_run`.
* :func:`fault_sweep`: random fault schedules through the orchestrated saga
  and the naive sequence, with the fault rates as knobs (explorer).
* :func:`inventory_schedule`: one seeded fault schedule of a choreographed
  order saga whose inventory service is the learner's
  ``inventory(state, event)`` (the build exercise).

All are pure and seeded: the same arguments give the same result.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker, NetworkFaults
from ...consumer import Consumer, Delivery
from ...events import Event, thaw
from ...patterns import (
    FailurePlan,
    SagaDefinition,
    SagaInstance,
    SagaOrchestrator,
    Shop,
    Step,
    order_saga,
    run_order,
)
from ...patterns.saga.scenarios import OUTCOMES
from ...sim import Simulation
from .build_check import Breach

__all__ = [
    "CHECKOUT_STEPS",
    "CheckoutRun",
    "checkout_run",
    "draw_checkout_run",
    "fault_sweep",
    "draw_fault_sweep",
    "inventory_schedule",
    "INITIAL_STOCK",
]

#: The checkout saga's steps, in order.
CHECKOUT_STEPS = ("stock", "coupon", "payment", "shipping")


class CheckoutRun(NamedTuple):
    """What :func:`checkout_run` returns: the saga, the shop and the coupons after it."""

    saga: SagaInstance
    shop: Shop
    coupons: dict[str, str]


def checkout_run(
    failing_step: str = "payment",
    times: int = 1,
    failing_compensation: str = "none",
    compensation_times: int = 1,
) -> CheckoutRun:
    """One checkout saga (stock, coupon, payment, shipping), orchestrated.

    ``failing_step`` (or ``"none"``) fails its first ``times`` attempts;
    ``failing_compensation`` (``"stock"``, ``"coupon"`` or ``"none"``) fails
    the first ``compensation_times`` attempts of that step's undo.  Every
    step has ``retries=3``.
    """
    checks.one_of("failing_step", failing_step, ("none", *CHECKOUT_STEPS))
    checks.one_of("failing_compensation", failing_compensation, ("none", "stock", "coupon"))
    checks.integer("times", times, min=1)
    checks.integer("compensation_times", compensation_times, min=1)
    shop, coupons = Shop(), {}

    def redeem_coupon(order: dict[str, Any]) -> None:
        coupons[order["saga_id"]] = "redeemed"

    def restore_coupon(order: dict[str, Any]) -> None:
        coupons[order["saga_id"]] = "restored"

    steps = list(order_saga(shop).steps)
    steps.insert(1, Step("coupon", redeem_coupon, restore_coupon, participant="marketing"))
    definition = SagaDefinition("checkout", steps)
    failures = []
    if failing_step != "none":
        failures.append(FailurePlan(failing_step, times=times))
    if failing_compensation != "none":
        failures.append(
            FailurePlan(failing_compensation, times=compensation_times, compensation=True)
        )
    sim = Simulation(seed=1, trace=False)
    broker = Broker(sim, latency=1)
    definition.participants(broker, failures=failures)
    saga = SagaOrchestrator(broker, definition).start(
        {"order_id": "order-1", "qty": 1, "total": 30}
    )
    sim.run()
    return CheckoutRun(saga, shop, coupons)


def draw_checkout_run(run: CheckoutRun, ax: Any = None) -> Any:
    """The saga's attempts per step (:func:`~evtlib.viz.system.draw_saga_timeline`)."""
    from ...viz.system import draw_saga_timeline

    held = "unit still reserved" if run.shop.reservations else "no unit held"
    return draw_saga_timeline(run.saga, ax, title=f"checkout saga ends {run.saga.state}; {held}")


def fault_sweep(
    step_failure: float = 0.3,
    duplicate: float = 0.1,
    seed: int = 0,
    schedules: int = 20,
) -> dict[str, dict[str, int]]:
    """Random fault schedules through the orchestrated saga and the naive sequence.

    In each schedule every action and every compensation fails a few times
    with chance ``step_failure``; the network duplicates deliveries with
    chance ``duplicate`` and delays 5% of them by 1.5 s.  Returns
    ``{"naive": {outcome: n}, "orchestration": {outcome: n}}`` (outcomes
    from the shop's ledger: what really happened).
    """
    checks.probability("step_failure", step_failure)
    checks.probability("duplicate", duplicate)
    checks.integer("seed", seed, min=0)
    checks.integer("schedules", schedules, min=1, max=200)
    probe = order_saga(Shop())
    tallies = {mode: dict.fromkeys(OUTCOMES, 0) for mode in ("naive", "orchestration")}
    for i in range(seed, seed + schedules):
        rng = random.Random(f"nb10-sweep/{i}")
        plans = []
        for s in probe.steps:
            if rng.random() < step_failure:
                plans.append(FailurePlan(s.name, times=rng.randint(1, s.retries + 2)))
            if s.compensation is not None and rng.random() < step_failure:
                plans.append(
                    FailurePlan(s.name, times=rng.randint(1, s.retries + 2), compensation=True)
                )
        faults = NetworkFaults(duplicate=duplicate, delay=0.05, extra=1500)
        for mode in tallies:
            for outcome in run_order(mode, seed=i, failures=plans, faults=faults).outcomes():
                tallies[mode][outcome] += 1
    return tallies


def draw_fault_sweep(tallies: dict[str, dict[str, int]], ax: Any = None) -> Any:
    """How the orders ended, naive sequence vs orchestrated saga."""
    from ...viz import draw_outcomes

    n = sum(tallies["naive"].values())
    return draw_outcomes(
        tallies["naive"],
        tallies["orchestration"],
        labels=("naive sequence", "orchestrated saga"),
        ax=ax,
        order=OUTCOMES,
        unit="orders",
        title=f"{n} random fault schedules of one order each: how each order ended",
    )


# ---------------------------------------------------------------- the build exercise

#: Units on the shelf when a build-exercise schedule starts.
INITIAL_STOCK = 3


class _Service(Consumer):
    """A choreography participant: ``react(state, event) -> [(type, data), ...]``, published."""

    def __init__(
        self, broker: Broker, name: str, react: Callable[..., Any], state: dict[str, Any]
    ) -> None:
        self.react = react
        self.state = state
        self.error: str | None = None
        super().__init__(broker, name, "order.events", service_time=2.0)

    def process(self, delivery: Delivery) -> None:
        event = delivery.event
        try:
            out = self.react(self.state, event)
        except Exception as exc:
            if self.error is None:
                self.error = f"{self.name} raised {type(exc).__name__}: {exc} on {event.type}"
            return
        sim = self.sim
        for item in out or ():
            if (
                not isinstance(item, tuple)
                or len(item) != 2
                or not isinstance(item[0], str)
                or not isinstance(item[1], dict)
            ):
                if self.error is None:
                    self.error = (
                        f"{self.name} returned {item!r} for {event.type}: each item must be"
                        " (event type, data dict)"
                    )
                return
            kind, data = item
            reply = event.reaction(
                id=sim.next_id("evt"),
                type=kind,
                time=sim.now,
                source=self.name,
                data={**thaw(event.data), **data},
            )
            self.broker.publish("order.events", reply, actor=self.name)


def _payments(state: dict[str, Any], event: Event) -> list[tuple[str, dict[str, Any]]]:
    if event.type != "StockReserved" or event.id in state.setdefault("seen", set()):
        return []
    state["seen"].add(event.id)
    if event.data["card"] == "declined":
        return [("PaymentFailed", {"reason": "card declined"})]
    return [("PaymentCharged", {})]


def _shipping(state: dict[str, Any], event: Event) -> list[tuple[str, dict[str, Any]]]:
    if event.type != "PaymentCharged" or event.id in state.setdefault("seen", set()):
        return []
    state["seen"].add(event.id)
    return [("ShipmentBooked", {})]


def inventory_schedule(
    inventory: Callable[..., Any], seed: int, trace: bool = False
) -> Breach | None:
    """One choreographed fault schedule around the learner's ``inventory(state, event)``.

    3 to 6 orders (1 or 2 units each, some cards declined) against
    :data:`INITIAL_STOCK` units; the network duplicates deliveries.
    ``inventory`` reacts to ``OrderPlaced`` (reserve: ``StockReserved`` or
    ``StockReservationFailed``) and ``PaymentFailed`` (release:
    ``StockReleased``); ``state`` starts as ``{"stock": 3, "reserved": {}}``.
    Invariants: units are conserved (``stock`` plus what is reserved is 3)
    and never oversold; each order ends shipped, refused or released.
    """
    sim = Simulation(seed, trace=trace)
    rng = sim.rng_for("fault-schedule")
    broker = Broker(sim, latency=1.0, faults=NetworkFaults(duplicate=rng.choice((0.0, 0.15, 0.3))))
    broker.create_topic("order.events")
    state: dict[str, Any] = {"stock": INITIAL_STOCK, "reserved": {}}
    learner = _Service(broker, "inventory", inventory, state)
    _Service(broker, "payments", _payments, {})
    _Service(broker, "shipping", _shipping, {})
    orders = {}
    for i in range(1, rng.randint(3, 6) + 1):
        order = f"order-{i}"
        data = {
            "order_id": order,
            "qty": rng.choice((1, 1, 2)),
            "card": rng.choice(("ok", "ok", "declined")),
        }
        orders[order] = data
        event = Event(
            id=f"placed-{i}", type="OrderPlaced", time=0.0, source="shop", key=order, data=data
        )
        sim.schedule_at(
            rng.uniform(0, 60), partial(broker.publish, actor="shop"), "order.events", event
        )
    sim.run(until=2000)
    keep = sim.trace if trace else None
    inv = "each order ends shipped, refused or released"
    if learner.error is not None:
        return Breach(seed, inv, "error", learner.error, keep)
    stock, reserved = state.get("stock"), state.get("reserved")
    if not isinstance(stock, int) or not isinstance(reserved, dict):
        return Breach(
            seed,
            "units conserved",
            "error",
            "state['stock'] must stay an int and state['reserved'] a dict",
            keep,
        )
    if stock < 0:
        return Breach(seed, "never oversold", "oversold", f"the stock went to {stock}", keep)
    held = sum(q for q in reserved.values() if isinstance(q, int))
    if stock + held != INITIAL_STOCK:
        return Breach(
            seed,
            "units conserved",
            "units",
            f"stock {stock} + reserved {held} = {stock + held} units, not {INITIAL_STOCK}",
            keep,
        )
    kinds: dict[str, set[str]] = {o: set() for o in orders}
    for e in broker.topics["order.events"].partitions[0].log:
        kinds.setdefault(e.key or "", set()).add(e.type)
    for order, seen in kinds.items():
        if order not in orders:
            continue
        if "PaymentFailed" in seen and order in reserved:
            return Breach(
                seed, inv, "kept", f"{order}'s card was declined, but its units stay reserved", keep
            )
        if not seen & {"ShipmentBooked", "StockReservationFailed", "StockReleased"}:
            return Breach(seed, inv, "stuck", f"{order} never ended ({sorted(seen)})", keep)
    return None

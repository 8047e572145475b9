"""Scenarios for the related styles (notebook 12): the set-up that is not the lesson.

Each function builds a small seeded shop, runs it and returns what happened
as data; the notebook prints and draws it.

* :func:`shipping_labels`: *event notification* (a thin ``OrderPlaced``; the
  shipping service calls the order service back for the address) vs
  *event-carried state transfer* (the event carries the address).
* :func:`order_fold`, :func:`decide_order`, :func:`order_race`,
  :func:`snapshot_costs`: *event sourcing*, the write model: an order
  aggregate rebuilt from its own stream to decide each command, two
  concurrent commands and the expected-version append that stops the
  second, and snapshots that bound the replay
  (:mod:`evtlib.patterns.event_store`).
* :func:`stock_history`: a stock log with a projection that has a bug (and
  :func:`fixed_stock`), rebuilt by replaying the log: a read model (CQRS).
* :func:`temporal_coupling`: *request/response* vs events while billing is
  down: requests fail, events wait in the broker.
* :func:`unique_usernames`: *when not to use events*: a rule that needs an
  answer now (a username is unique) checked against an eventually
  consistent view lets two sign-ups take the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import checks
from ..broker import Broker
from ..consumer import Consumer
from ..distributions import Rate, Schedule
from ..events import Event
from ..faults import crash
from ..patterns.event_store import (
    CommandRejected,
    ConcurrencyError,
    EventStore,
    Loaded,
    Repository,
)
from ..producer import Producer
from ..readmodel import ReadModel
from ..sim import Simulation

__all__ = [
    "ORDER_COMMANDS",
    "order_fold",
    "decide_order",
    "order_repository",
    "RaceStep",
    "RaceRun",
    "order_race",
    "snapshot_costs",
    "StyleRun",
    "OrderDirectory",
    "shipping_labels",
    "stock_history",
    "buggy_stock",
    "fixed_stock",
    "temporal_coupling",
    "unique_usernames",
]

_ADDRESSES = ("1 Main St", "22 Oak Ave", "5 Elm Rd", "9 Pine Ln")


@dataclass
class StyleRun:
    """What a scenario returns: the simulation, the broker and a few counts."""

    sim: Simulation
    broker: Broker
    consumers: list[Consumer]
    counts: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class OrderDirectory:
    """The order service's synchronous API: ``get(order_id)`` -> the order, or an error when down.

    Every call is counted in :attr:`calls`; a call while the service is down
    (between ``down=(start, end)`` ms) raises ``ConnectionError`` and is
    counted in :attr:`failed`.
    """

    def __init__(self, sim: Simulation, down: tuple[float, float] | None = None) -> None:
        self.sim = sim
        self.down = down
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.failed = 0

    def is_up(self) -> bool:
        """Whether the service answers now."""
        return self.down is None or not self.down[0] <= self.sim.now < self.down[1]

    def get(self, order_id: str) -> dict[str, Any]:
        """The order called ``order_id``; ``ConnectionError`` while the service is down."""
        self.calls += 1
        if not self.is_up():
            self.failed += 1
            raise ConnectionError(f"order service is down at t={self.sim.now:g} ms")
        return self.orders[order_id]

    def __repr__(self) -> str:
        return f"<OrderDirectory orders={len(self.orders)} calls={self.calls} failed={self.failed}>"


def shipping_labels(
    carried_state: bool,
    *,
    orders: int = 20,
    seed: int = 0,
    down: tuple[float, float] | None = None,
) -> StyleRun:
    """Print a shipping label per order: with a thin event and a call back, or a fat event.

    ``carried_state=False`` (event notification): ``OrderPlaced`` says only
    which order; shipping calls ``OrderDirectory.get`` for the address.
    ``True`` (event-carried state transfer): the event carries customer and
    address, and shipping never calls.  ``down`` takes the order service's
    API down for a while: only the caller-back notices.  Orders arrive every
    20 ms.  ``counts``: ``labels``, ``callbacks``, ``failed callbacks``.
    """
    sim = Simulation(seed)
    broker = Broker(sim, latency=2.0)
    broker.create_topic("orders")
    directory = OrderDirectory(sim, down)
    labels: list[str] = []

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        order_id = f"order-{i}"
        order = {"order_id": order_id, "customer": f"customer-{i % 3 + 1}"}
        order["address"] = _ADDRESSES[i % len(_ADDRESSES)]
        directory.orders[order_id] = order
        return "OrderPlaced", order_id, dict(order) if carried_state else {"order_id": order_id}

    def ship(event: Event) -> None:
        if "address" in event.data:
            order = event.data
        else:
            order = directory.get(event.data["order_id"])  # raises while it is down: retried
        labels.append(f"{order['order_id']} -> {order['address']}")

    Producer(broker, "order-service", "orders", Rate(50), make=make, count=orders)
    shipping = Consumer(broker, "shipping", "orders", ship, service_time=2, retry_delay=50)
    sim.run()
    return StyleRun(
        sim,
        broker,
        [shipping],
        {
            "labels": len(labels),
            "callbacks": directory.calls,
            "failed callbacks": directory.failed,
        },
        {"directory": directory, "labels": labels},
    )


# -- event sourcing: the write model ---------------------------------------------

#: What each command needs the order to be, and the event it records.
ORDER_COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "place": (("new",), "OrderPlaced"),
    "add_line": (("placed",), "LineAdded"),
    "pay": (("placed",), "OrderPaid"),
    "ship": (("paid",), "OrderShipped"),
    "cancel": (("placed", "paid"), "OrderCancelled"),
}

#: An order that does not exist yet.
NEW_ORDER: dict[str, Any] = {"status": "new", "lines": 0, "total": 0}

_STATUS = {
    "OrderPlaced": "placed",
    "OrderPaid": "paid",
    "OrderShipped": "shipped",
    "OrderCancelled": "cancelled",
}


def order_fold(state: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """The order aggregate's state after ``event``: status, number of lines, total."""
    new = dict(state)
    if event.type in _STATUS:
        new["status"] = _STATUS[event.type]
    if event.type == "OrderPlaced":
        new["total"] = event.data["total"]
        new["lines"] = 1
    elif event.type == "LineAdded":
        new["lines"] += 1
        new["total"] += event.data["qty"] * event.data["price"]
    return new


def decide_order(
    state: Mapping[str, Any], command: str, data: Mapping[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The events ``command`` records on an order in ``state``; :class:`CommandRejected` if refused.

    ``place`` needs ``data={"total": ...}``, ``add_line`` ``{"sku", "qty",
    "price"}``; ``pay`` records the total, ``cancel`` a refund of what was
    paid.  Each command needs the order in a status (:data:`ORDER_COMMANDS`).
    """
    checks.one_of("command", command, ORDER_COMMANDS)
    needs, kind = ORDER_COMMANDS[command]
    if state["status"] not in needs:
        raise CommandRejected(
            f"cannot {command} an order that is {state['status']}"
            f" ({command} needs it {' or '.join(needs)})"
        )
    data = dict(data or {})
    if command == "pay":
        data = {"amount": state["total"]}
    elif command == "cancel":
        data = {"refund": state["total"] if state["status"] == "paid" else 0}
    return [(kind, data)]


def order_repository(*, snapshot_every: int | None = None) -> Repository:
    """A fresh event store and the repository of orders on it."""
    return Repository(EventStore(), order_fold, NEW_ORDER, snapshot_every=snapshot_every)


@dataclass(frozen=True)
class RaceStep:
    """One step of :func:`order_race`: who, what they did, and how it went (``ok``, ``conflict``, ``rejected``)."""

    actor: str
    action: str
    outcome: str
    version: int


@dataclass
class RaceRun:
    """What :func:`order_race` returns: its steps and the store afterwards."""

    steps: list[RaceStep]
    repo: Repository
    check: bool

    @property
    def stream(self) -> list[str]:
        """The event types of ``order-1``, in order."""
        return [e.type for e in self.repo.store.read("order-1")]

    @property
    def state(self) -> dict[str, Any]:
        """``order-1`` as a full replay of its stream rebuilds it."""
        return Repository(self.repo.store, order_fold, NEW_ORDER).load("order-1").state


def order_race(*, check: bool = True) -> RaceRun:
    """The customer cancels ``order-1`` while the warehouse ships it: both read version 2.

    The order was placed and paid (version 2).  The customer's handler and
    the warehouse's handler each load it and decide on the same state
    (paid).  The customer's ``OrderCancelled`` is appended first.  With
    ``check=True`` the warehouse's append expects version 2, finds 3 and is
    refused (:class:`ConcurrencyError`); the warehouse loads again, sees a
    cancelled order and its ``ship`` is rejected.  With ``check=False``
    (append whatever the version) the stream ends cancelled *and* shipped.
    """
    checks.boolean("check", check)
    repo = order_repository()
    new = repo.load("order-1")
    repo.save(new, decide_order(new.state, "place", {"total": 30}))
    placed = repo.load("order-1")
    repo.save(placed, decide_order(placed.state, "pay"))
    steps: list[RaceStep] = []

    def load(actor: str) -> Loaded:
        got = repo.load("order-1")
        steps.append(
            RaceStep(actor, f"load: v{got.version}, {got.state['status']}", "ok", got.version)
        )
        return got

    customer = load("customer")
    warehouse = load("warehouse")
    version = repo.save(customer, decide_order(customer.state, "cancel"), check=check)
    steps.append(
        RaceStep(
            "customer",
            f"append OrderCancelled, expect {f'v{customer.version}' if check else 'any'}",
            "ok",
            version,
        )
    )
    try:
        version = repo.save(warehouse, decide_order(warehouse.state, "ship"), check=check)
        steps.append(
            RaceStep(
                "warehouse",
                f"append OrderShipped, expect {f'v{warehouse.version}' if check else 'any'}",
                "ok",
                version,
            )
        )
    except ConcurrencyError as exc:
        steps.append(
            RaceStep(
                "warehouse",
                f"append OrderShipped, expect v{exc.expected}: at v{exc.actual}",
                "conflict",
                exc.actual,
            )
        )
        again = load("warehouse")
        try:
            repo.save(again, decide_order(again.state, "ship"))
        except CommandRejected:
            steps.append(
                RaceStep("warehouse", "ship refused: cancelled", "rejected", again.version)
            )
    return RaceRun(steps, repo, check)


def snapshot_costs(*, edits: int = 64, snapshot_every: int | None = 10) -> dict[str, Any]:
    """A wholesale order edited line by line: how many events each command's load replays.

    ``place``, then ``edits`` ``add_line`` commands, each loaded, decided
    and saved.  Returns ``replayed`` (events folded by each command's load,
    in order), ``events`` (the stream's length at the end), ``state`` (the
    order) and ``events_read`` (all events the loads read).
    """
    checks.integer("edits", edits, min=1, max=10_000)
    repo = order_repository(snapshot_every=snapshot_every)
    replayed: list[int] = []
    commands = [("place", {"total": 12})] + [
        ("add_line", {"sku": f"sku-{i % 7}", "qty": 1 + i % 3, "price": 4}) for i in range(edits)
    ]
    for command, data in commands:
        loaded = repo.load("order-7")
        replayed.append(loaded.replayed)
        repo.save(loaded, decide_order(loaded.state, command, data))
    final = repo.load("order-7")
    return {
        "replayed": replayed,
        "events": repo.store.version("order-7"),
        "state": final.state,
        "events_read": repo.store.events_read,
    }


# -- a read model rebuilt from a log (CQRS) -------------------------------------------
#: The stock ledger's events: (type, sku, qty).
_STOCK_EVENTS = (
    ("StockReceived", "mug", 10),
    ("StockReceived", "tee", 6),
    ("StockReserved", "mug", 3),
    ("StockReserved", "tee", 2),
    ("StockReleased", "mug", 1),
    ("StockReserved", "mug", 4),
    ("StockReceived", "cap", 5),
    ("StockReleased", "tee", 2),
    ("StockReserved", "cap", 1),
    ("StockReleased", "mug", 2),
)


def buggy_stock(state: Mapping[str, int], event: Event) -> dict[str, int]:
    """A projection with a bug: it ignores ``StockReleased`` (a forgotten event type)."""
    sku, qty = event.data["sku"], event.data["qty"]
    new = dict(state)
    if event.type == "StockReceived":
        new[sku] = new.get(sku, 0) + qty
    elif event.type == "StockReserved":
        new[sku] = new.get(sku, 0) - qty
    return new


def fixed_stock(state: Mapping[str, int], event: Event) -> dict[str, int]:
    """The fixed projection: a released reservation goes back on the shelf."""
    new = buggy_stock(state, event)
    if event.type == "StockReleased":
        new[event.data["sku"]] = new.get(event.data["sku"], 0) + event.data["qty"]
    return new


def stock_history(*, seed: int = 0) -> StyleRun:
    """An event-sourced stock ledger: ten events on ``inventory``, and a view with a bug.

    The events are the only record of the stock; ``available``, a
    :class:`~evtlib.ReadModel` built with :func:`buggy_stock`, is one
    projection of them.  ``info["view"]`` is that read model.
    """
    sim = Simulation(seed)
    broker = Broker(sim, latency=1.0)
    broker.create_topic("inventory")
    events = iter(_STOCK_EVENTS)

    def make(i: int, rng: Any) -> tuple[str, str, dict[str, Any]]:
        kind, sku, qty = next(events)
        return kind, sku, {"sku": sku, "qty": qty}

    Producer(
        broker,
        "inventory-service",
        "inventory",
        Schedule([10.0 * i for i in range(len(_STOCK_EVENTS))]),
        make=make,
    )
    view = ReadModel(broker, "available", "inventory", buggy_stock, service_time=1)
    sim.run()
    return StyleRun(sim, broker, [view], {"events": len(_STOCK_EVENTS)}, {"view": view})


# -- request/response vs events ----------------------------------------------------


def temporal_coupling(
    style: str,
    *,
    orders: int = 40,
    outage: tuple[float, float] = (200.0, 400.0),
    seed: int = 0,
) -> StyleRun:
    """Orders every 20 ms while billing is down from ``outage[0]`` for ``outage[1]`` ms.

    ``style="request"``: the order service calls billing and waits for the
    answer; while billing is down the call fails and so does the order
    (``counts["failed"]``).  ``style="event"``: the order service publishes
    ``OrderPlaced``; billing is a consumer that crashes and restarts, and
    the events wait in the broker meanwhile (``info["peak_waiting"]``).
    """
    if style not in ("request", "event"):
        raise ValueError(f"style must be 'request' or 'event', got {style!r}")
    sim = Simulation(seed)
    broker = Broker(sim, latency=2.0)
    broker.create_topic("orders")
    start, length = outage
    charged: list[str] = []
    counts = {"orders": orders, "charged": 0, "failed": 0}
    consumers: list[Consumer] = []
    if style == "request":

        def call_billing(i: int) -> None:
            if start <= sim.now < start + length:
                counts["failed"] += 1
                sim.trace.record(
                    sim.now, "failed", "order-service", f"order-{i}", detail="billing down"
                )
            else:
                charged.append(f"order-{i}")
                sim.trace.record(sim.now, "handled", "billing", f"order-{i}")

        for i in range(1, orders + 1):
            sim.schedule(20.0 * i, call_billing, i)
        sim.run()
    else:

        def charge(event: Event) -> None:
            charged.append(event.key or "")

        Producer(broker, "order-service", "orders", Rate(50), count=orders)
        billing = Consumer(broker, "billing", "orders", charge, service_time=2)
        crash(sim, billing, at=start, restart_after=length)
        consumers.append(billing)
        sim.run()
    counts["charged"] = len(charged)
    return StyleRun(sim, broker, consumers, counts, {"outage": outage})


# -- when not to use events --------------------------------------------------------


def unique_usernames(style: str, *, gap: float = 3.0, seed: int = 0) -> StyleRun:
    """Two people sign up as ``ada``, ``gap`` ms apart: is the name still unique?

    ``style="event"``: sign-up checks a read model of taken names, fed by
    ``UserRegistered`` events (eventually consistent: 5 ms behind);
    ``"request"``: sign-up checks the users table itself, synchronously.
    ``counts["accepted"]`` says how many got the name.
    """
    if style not in ("request", "event"):
        raise ValueError(f"style must be 'request' or 'event', got {style!r}")
    sim = Simulation(seed)
    broker = Broker(sim, latency=2.0)
    broker.create_topic("users")
    table: list[str] = []
    producer = Producer(broker, "accounts", "users")
    names = ReadModel(
        broker, "taken-names", "users", lambda s, e: {**s, e.data["name"]: True}, service_time=3
    )
    decisions: list[str] = []

    def sign_up(who: str, name: str) -> None:
        taken = name in table if style == "request" else name in names.state
        if taken:
            decisions.append(f"{who}: '{name}' is taken")
            return
        table.append(name)
        producer.emit("UserRegistered", name, {"name": name, "by": who})
        decisions.append(f"{who}: registered as '{name}'")

    sim.schedule(0.0, sign_up, "first person", "ada")
    sim.schedule(gap, sign_up, "second person", "ada")
    sim.run()
    return StyleRun(
        sim,
        broker,
        [names],
        {"accepted": table.count("ada")},
        {"decisions": decisions},
    )

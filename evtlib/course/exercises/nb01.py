"""Checks for the exercises of notebook 01 (events).

The notebook imports the material each exercise starts from
(:data:`MESSAGES`, :data:`STOCK_RESERVED`, :data:`OLD_ORDERS`) and the
``check_exN`` functions, which print ``Correct!`` or ``Not yet`` with a hint.
"""

from __future__ import annotations

from typing import Any

from ...events import Event, Upcaster
from ..helpers import check

__all__ = ["MESSAGES", "STOCK_RESERVED", "OLD_ORDERS", "check_ex1", "check_ex2", "check_ex3"]

#: Exercise 1: messages seen in the shop, to sort into events, commands and queries.
MESSAGES = (
    "OrderPlaced",
    "PlaceOrder",
    "PaymentCaptured",
    "CapturePayment",
    "GetOrderStatus",
    "StockReserved",
    "SendConfirmationEmail",
    "ListOpenOrders",
)

_KINDS = {
    "OrderPlaced": "event",
    "PlaceOrder": "command",
    "PaymentCaptured": "event",
    "CapturePayment": "command",
    "GetOrderStatus": "query",
    "StockReserved": "event",
    "SendConfirmationEmail": "command",
    "ListOpenOrders": "query",
}

#: Exercise 2: the third event of a chain that began with ``evt-000001`` (OrderPlaced).
STOCK_RESERVED = Event(
    id="evt-000003",
    type="StockReserved",
    time=9.0,
    source="inventory-service",
    key="order-1",
    data={"order_id": "order-1", "sku": "mug", "quantity": 2},
    correlation_id="evt-000001",
    causation_id="evt-000002",
)

#: Exercise 3: stored ``OrderPlaced`` events of versions 1 and 2.
OLD_ORDERS = (
    Event(
        id="evt-000101",
        type="OrderPlaced",
        time=0.0,
        source="order-service",
        key="order-101",
        data={"order_id": "order-101", "total": 30},
    ),
    Event(
        id="evt-000102",
        type="OrderPlaced",
        time=1.0,
        source="order-service",
        key="order-102",
        data={"order_id": "order-102", "total": 12.5, "currency": "EUR"},
        version=2,
    ),
    Event(
        id="evt-000103",
        type="OrderPlaced",
        time=2.0,
        source="order-service",
        key="order-103",
        data={"order_id": "order-103", "total": 7.25, "currency": "GBP"},
        version=2,
    ),
)

#: What every event of :data:`OLD_ORDERS` must look like at version 3.
_V3 = {
    "evt-000101": {"order_id": "order-101", "total_cents": 3000, "currency": "EUR"},
    "evt-000102": {"order_id": "order-102", "total_cents": 1250, "currency": "EUR"},
    "evt-000103": {"order_id": "order-103", "total_cents": 725, "currency": "GBP"},
}


def check_ex1(answer: Any) -> bool:
    """``answer``: a dict naming each of :data:`MESSAGES` ``"event"``, ``"command"`` or ``"query"``."""
    hint = (
        "Answer with a dict like {'OrderPlaced': 'event', ...} covering every name in MESSAGES. "
        "An event is a fact in the past tense; a command asks one service to do something "
        "(imperative); a query asks for data and changes nothing."
    )
    if isinstance(answer, dict):
        wrong = [m for m in MESSAGES if answer.get(m) != _KINDS[m]]
        if wrong:
            hint += f" Look again at: {', '.join(wrong)}."
    return check("ex1", answer, _KINDS, hint=hint)


def _is_parcel_shipped(answer: Any) -> bool:
    return (
        isinstance(answer, Event)
        and answer.type == "ParcelShipped"
        and answer.correlation_id == STOCK_RESERVED.correlation_id
        and answer.causation_id == STOCK_RESERVED.id
        and answer.key == STOCK_RESERVED.key
        and answer.id not in ("evt-000001", "evt-000002", "evt-000003")
    )


def check_ex2(answer: Any) -> bool:
    """``answer``: the ``ParcelShipped`` event the shipping service publishes in reaction
    to :data:`STOCK_RESERVED`."""
    hint = (
        "Make an Event of type 'ParcelShipped' with a new id. Which chain does it belong "
        "to (correlation_id), and which event caused it (causation_id)? "
        "STOCK_RESERVED.reaction(...) fills both in."
    )
    if isinstance(answer, Event):
        if answer.type != "ParcelShipped":
            hint += f" Its type is {answer.type!r}."
        if answer.correlation_id != STOCK_RESERVED.correlation_id:
            hint += (
                f" Its correlation_id is {answer.correlation_id!r}: the chain started with"
                " the OrderPlaced event."
            )
        if answer.causation_id != STOCK_RESERVED.id:
            hint += f" Its causation_id is {answer.causation_id!r}."
        if answer.key != STOCK_RESERVED.key:
            hint += f" Its key is {answer.key!r}: keep the order's key, so it keeps its order."
        if answer.id in ("evt-000001", "evt-000002", "evt-000003"):
            hint += f" Its id {answer.id!r} is already taken by an earlier event of the chain."
    elif answer is not None:
        hint += " Answer with an Event."
    return check("ex2", answer, hint=hint, test=_is_parcel_shipped)


def _upcasts_to_v3(answer: Any) -> bool:
    if not isinstance(answer, Upcaster):
        return False
    for old in OLD_ORDERS:
        new = answer.upcast(old)
        if new.version != 3 or new.id != old.id or dict(new.data) != _V3[old.id]:
            return False
    return True


def check_ex3(answer: Any) -> bool:
    """``answer``: an :class:`~evtlib.Upcaster` that brings every event of
    :data:`OLD_ORDERS` to version 3 (``total_cents`` as an int, and ``currency``)."""
    hint = (
        "One Upcaster, one registered step per version: OrderPlaced v1 -> v2 as in the "
        "notebook, then v2 -> v3. Each step gets the old data and returns the new data; "
        "cents are whole numbers, so round them."
    )
    if isinstance(answer, Upcaster):
        for old in OLD_ORDERS:
            try:
                new = answer.upcast(old)
            except Exception as exc:  # the learner's step failed: say where, don't raise
                hint += f" Upcasting {old.id} (v{old.version}) raised {type(exc).__name__}: {exc}."
                break
            if new.version != 3:
                hint += f" {old.id} (v{old.version}) ends at v{new.version}, not v3."
                break
            if dict(new.data) != _V3[old.id]:
                hint += f" {old.id} became {dict(new.data)}; expected {_V3[old.id]}."
                break
    elif answer is not None:
        hint += " Answer with an Upcaster."
    return check("ex3", answer, hint=hint, test=_upcasts_to_v3)

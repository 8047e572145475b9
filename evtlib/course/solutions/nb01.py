"""Solutions to the exercises of notebook 01 (events)."""

from __future__ import annotations

from ...events import Event, Upcaster
from ..exercises.nb01 import STOCK_RESERVED

__all__ = ["ex1", "ex2", "ex3"]


def ex1() -> dict[str, str]:
    """Past tense = event; imperative = command; asking = query."""
    return {
        "OrderPlaced": "event",
        "PlaceOrder": "command",
        "PaymentCaptured": "event",
        "CapturePayment": "command",
        "GetOrderStatus": "query",
        "StockReserved": "event",
        "SendConfirmationEmail": "command",
        "ListOpenOrders": "query",
    }


def ex2() -> Event:
    """A reaction keeps the correlation id and names its cause."""
    return STOCK_RESERVED.reaction(
        id="evt-000004",
        type="ParcelShipped",
        time=15.0,
        source="shipping-service",
        data={"order_id": "order-1", "carrier": "parcel-post"},
    )


def ex3() -> Upcaster:
    """Two steps, each from one version to the next."""
    up = Upcaster()
    up.register("OrderPlaced", 1, lambda d: {**d, "currency": "EUR"})
    up.register(
        "OrderPlaced",
        2,
        lambda d: {
            "order_id": d["order_id"],
            "total_cents": round(d["total"] * 100),
            "currency": d["currency"],
        },
    )
    return up

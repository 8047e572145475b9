"""Small, seeded scenarios for the course notebooks: the set-up that is not the lesson.

Each function builds a tiny system on the core (a simulation, a broker,
producers and consumers), runs it, and returns what happened as data: a
:class:`Run` (or a :class:`DualWrite`) that a notebook prints, tallies or
draws.  The same arguments give the same run, byte for byte.

The running example is the online shop: an order service publishes
``OrderPlaced`` to the topic ``orders``; billing, shipping, e-mail and
analytics react.

* Delivery guarantees (notebook 04, :mod:`.delivery`): :func:`billing_crash`,
  :func:`charge_tally`, :func:`slow_email`, :func:`consumer_outage`,
  :func:`backpressure`.
* Eventual consistency (notebook 05, :mod:`.consistency`): :func:`shop`, :func:`lag_summary`.
* Benefits and failure modes (notebook 06, :mod:`.failure_modes`): :func:`shop_services`,
  :func:`story`, :func:`dual_write`, :func:`out_of_order`,
  :func:`poison_message`, :func:`retry_storm`, :func:`lag_spiral`,
  :func:`schema_drift`, :func:`half_finished`.

These reproduce the *failures* with the core alone; the patterns that
answer them live in :mod:`evtlib.patterns`.
"""

from .base import Run, make_order
from .consistency import lag_summary, shop
from .delivery import backpressure, billing_crash, charge_tally, consumer_outage, slow_email
from .failure_modes import (
    DualWrite,
    PaymentProvider,
    dual_write,
    half_finished,
    lag_spiral,
    order_tally,
    out_of_order,
    poison_message,
    retry_storm,
    schema_drift,
    shop_services,
    status_tally,
    story,
)

__all__ = [
    "Run",
    "DualWrite",
    "PaymentProvider",
    "make_order",
    "billing_crash",
    "charge_tally",
    "slow_email",
    "consumer_outage",
    "backpressure",
    "shop",
    "lag_summary",
    "shop_services",
    "story",
    "dual_write",
    "out_of_order",
    "status_tally",
    "poison_message",
    "retry_storm",
    "lag_spiral",
    "schema_drift",
    "half_finished",
    "order_tally",
]

"""Sagas: one business transaction made of local transactions, undone by compensation.

An order touches three services that each own their data: the inventory
reserves stock, payments charges the card, shipping books a courier.  No
single database transaction can span them, so a *saga* runs them one after
another, each a local transaction, and when one fails it undoes the ones
already done with *compensating* transactions, newest first.

Not every step can be undone, so a saga's steps come in three kinds, in this
order (Chris Richardson, *Microservices Patterns*, ch. 4):

* ``"compensatable"`` steps first: each has a compensation (release the
  stock).  When a later step fails, they are compensated in reverse order.
* at most one ``"pivot"``: the go/no-go step (charge the payment).  If it
  succeeds the saga will run to the end; if it fails, the compensatable steps
  are undone.  It has no compensation.
* ``"retriable"`` steps last (book shipping): after the pivot there is no
  way back, so they are retried until they succeed.

Two ways to coordinate the steps:

* **Orchestration** (:class:`SagaOrchestrator`): a coordinator sends each
  participant a *command* on the participant's command topic and waits for
  its *reply* on its own reply topic, with a timeout.  It writes every
  decision to a :class:`SagaLog` (JSON records, append-only), so its state
  survives in data, not in a call stack.  :class:`Participant` executes the
  commands.
* **Choreography** (:class:`Choreography`): no coordinator.  Each service
  reacts to the previous service's event (``OrderPlaced`` ->
  ``StockReserved`` -> ``PaymentCharged`` -> ``ShipmentBooked``) and to
  failure events (on ``PaymentFailed`` the inventory releases the stock).  A
  :class:`SagaMonitor` only watches the events to show where each saga is.

Either way a saga ends in one of three states a person can see:
``completed``, ``compensated``, or ``needs-attention`` (a compensation that
keeps failing after its retries, or a step after the pivot that never
succeeds).  While it runs it is ``running`` or ``compensating``.  Each
:class:`SagaInstance` records the path it took through
:meth:`SagaDefinition.state_machine`, for a diagram.

Everything talks to the broker only through its public interface
(``broker.publish``, :class:`~evtlib.consumer.Consumer`, ``sim.timer``,
``sim.trace.record``), so the same code could drive a real broker.

Simplifications, stated: a participant's "processed command ids" and the
orchestrator's log live in memory (a real system keeps them in the same
database transaction as the business change; see the outbox and idempotent
consumer patterns); the orchestrator does not crash here, although its log
holds everything :meth:`SagaLog.replay` needs to rebuild its state.

The package, one module per role:

* :mod:`.definition`: :class:`Step`, :class:`SagaDefinition`, :class:`FailurePlan`.
* :mod:`.log`: :class:`SagaLog` and :class:`SagaInstance`.
* :mod:`.orchestration`: :class:`Participant`, :class:`SagaOrchestrator`,
  :class:`NaiveSequence`.
* :mod:`.choreography`: :class:`ChoreographyService`, :class:`SagaMonitor`,
  :class:`Choreography`.
* :mod:`.scenarios`: the running example (a shop, the order saga), the naive
  twin's sweep and the isolation scenario.
"""

from .choreography import Choreography, ChoreographyService, SagaMonitor
from .definition import (
    ACTION,
    COMPENSATION,
    FINAL_STATES,
    KINDS,
    STATES,
    FailurePlan,
    LocalTransaction,
    SagaDefinition,
    Step,
    StepFailed,
)
from .log import SagaInstance, SagaLog
from .orchestration import NaiveSequence, Participant, SagaOrchestrator

__all__ = [
    "ACTION",
    "COMPENSATION",
    "KINDS",
    "STATES",
    "FINAL_STATES",
    "Step",
    "SagaDefinition",
    "FailurePlan",
    "StepFailed",
    "SagaLog",
    "SagaInstance",
    "Participant",
    "SagaOrchestrator",
    "NaiveSequence",
    "Choreography",
    "ChoreographyService",
    "SagaMonitor",
    "LocalTransaction",
]

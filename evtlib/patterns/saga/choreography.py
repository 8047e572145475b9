"""Choreography: no coordinator; each service reacts to the previous one's events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ... import checks
from ...broker import Broker
from ...consumer import Consumer, Delivery
from ...events import Event, thaw
from ...protocols import BrokerBackend
from .definition import (
    ACTION,
    COMPENSATION,
    FINAL_STATES,
    STATES,
    FailureInjector,
    FailurePlan,
    SagaDefinition,
    Step,
    StepFailed,
    compensate_state,
    ensure_topic,
    run_local,
)
from .log import SagaInstance, new_saga, saga_data

__all__ = ["Choreography", "ChoreographyService", "SagaMonitor"]


class ChoreographyService(Consumer):
    """One service of a choreographed saga: it reacts to events and publishes its own.

    ``reactions`` maps an event type to ``(step, phase)``: on that event this
    service runs the step's action or compensation and publishes the step's
    done / failed / compensated / compensation-failed event, a *reaction*
    carrying the correlation id.  It remembers processed event ids, so a
    duplicate delivery changes nothing.  A failed retriable action or
    compensation is retried by raising (the consumer redelivers the event
    after ``retry_delay`` ms) until ``step.retries`` are used up.
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        topic: str,
        reactions: Mapping[str, tuple[Step, str]],
        *,
        failures: Iterable[FailurePlan] = (),
        service_time: float = 10.0,
        retry_delay: float = 100.0,
    ) -> None:
        if not isinstance(reactions, Mapping):
            raise TypeError(
                f"reactions must be a mapping event type -> (Step, phase), got {reactions!r}"
            )
        for kind, reaction in reactions.items():
            if (
                not isinstance(reaction, tuple)
                or len(reaction) != 2
                or not isinstance(reaction[0], Step)
                or reaction[1] not in (ACTION, COMPENSATION)
            ):
                raise TypeError(
                    f"reactions[{kind!r}] must be (Step, {ACTION!r} or {COMPENSATION!r}),"
                    f" got {reaction!r}"
                )
        self._injector = FailureInjector(failures, broker.sim.rng_for(f"{name}.failures"))
        self.reactions = dict(reactions)
        self.topic = topic
        #: Event ids this service has finished with (its processed-ids table).
        self.processed: dict[str, str] = {}
        self._succeeded: set[tuple[str, str, str]] = set()
        self._failures: dict[tuple[str, str, str], int] = {}
        self.effects: list[tuple[float, str, str, str]] = []
        self.duplicates = 0
        super().__init__(broker, name, topic, service_time=service_time, retry_delay=retry_delay)

    def process(self, delivery: Delivery) -> None:
        event = delivery.event
        sim = self.sim
        if event.id in self.processed:
            self.duplicates += 1
            sim.trace.record(sim.now, "saga-duplicate", self.name, event.id)
            return
        reaction = self.reactions.get(event.type)
        if reaction is not None:
            self._react(event, *reaction)
        self.processed[event.id] = event.type

    def _react(self, event: Event, step: Step, phase: str) -> None:
        sim = self.sim
        data = thaw(event.data)
        saga_id = data["saga_id"]
        key = (saga_id, step.name, phase)
        if key in self._succeeded:
            return
        fn = step.action if phase == ACTION else step.compensation
        try:
            self._injector.check(saga_id, step.name, phase)
            data.update(run_local(fn, data))
        except StepFailed as exc:
            n = self._failures[key] = self._failures.get(key, 0) + 1
            if (phase == COMPENSATION or step.kind == "retriable") and n <= step.retries:
                raise  # the consumer delivers the event again after retry_delay
            data["error"] = str(exc)
            kind = step.failed_event if phase == ACTION else step.compensation_failed_event
        else:
            self._succeeded.add(key)
            self.effects.append((sim.now, saga_id, step.name, phase))
            sim.trace.record(
                sim.now, "saga-effect", self.name, event.id, detail=f"{saga_id} {step.name} {phase}"
            )
            kind = step.done_event if phase == ACTION else step.compensated_event
        out = event.reaction(
            id=sim.next_id("evt"), type=kind, time=sim.now, source=self.name, data=data
        )
        self.broker.publish(self.topic, out, actor=self.name)

    def __repr__(self) -> str:
        return (
            f"<ChoreographyService {self.name} reacts to {list(self.reactions)}"
            f" processed={len(self.processed)} effects={len(self.effects)}>"
        )


class SagaMonitor(Consumer):
    """Watches a choreographed saga's events and keeps each saga's state and path.

    It coordinates nothing: it is a read model, the only place where a
    choreographed saga's progress is visible as a whole.
    """

    def __init__(self, broker: Broker, name: str, topic: str, definition: SagaDefinition) -> None:
        checks.instance("definition", definition, SagaDefinition)
        self.definition = definition
        self.sagas: dict[str, SagaInstance] = {}
        self.on_end: Callable[[SagaInstance], Any] | None = None
        self._seen: set[str] = set()
        steps = definition.steps
        self._moves: dict[str, Callable[[SagaInstance, float], None]] = {}
        for i, s in enumerate(steps):
            nxt = steps[i + 1].name if i + 1 < len(steps) else "completed"
            undo = compensate_state(steps[i - 1].name) if i > 0 else "compensated"
            self._moves[s.done_event] = _mover(nxt, "ok", "running", s.name, ACTION)
            if s.kind == "retriable":
                self._moves[s.failed_event] = _mover("needs-attention", "gave up")
            else:
                self._moves[s.failed_event] = _mover(undo, "failed", "compensating")
            if s.kind == "compensatable":
                self._moves[s.compensated_event] = _mover(
                    undo, "ok", "compensating", s.name, COMPENSATION
                )
                self._moves[s.compensation_failed_event] = _mover("needs-attention", "gave up")
        super().__init__(broker, name, topic, group=name)

    def process(self, delivery: Delivery) -> None:
        event = delivery.event
        if event.id in self._seen:
            return
        self._seen.add(event.id)
        saga = self.sagas.get(event.key or "")
        move = self._moves.get(event.type)
        if saga is None or move is None or saga.finished:
            return
        if "error" in event.data:
            saga.error = event.data["error"]
        saga.data.update({k: v for k, v in thaw(event.data).items() if k != "error"})
        move(saga, self.sim.now)
        if saga.finished and self.on_end is not None:
            self.on_end(saga)

    def __repr__(self) -> str:
        states = [s.state for s in self.sagas.values()]
        counts = {k: states.count(k) for k in STATES if k in states}
        return f"<SagaMonitor {self.name} sagas={counts}>"


def _mover(
    to: str, label: str, state: str | None = None, step: str | None = None, phase: str | None = None
) -> Callable[[SagaInstance, float], None]:
    def move(saga: SagaInstance, time: float) -> None:
        if step is not None:
            (saga.completed if phase == ACTION else saga.compensated).append(step)
        saga.move(to, label, time, state if to not in FINAL_STATES else None)

    return move


class Choreography:
    """A saga without a coordinator: services react to each other's events.

    All events of the saga go to one topic, ``<saga>.events``, keyed by the
    saga id (so each saga's events stay in order).  One
    :class:`ChoreographyService` per participant reacts:

    * to the start event (``OrderPlaced``) or the previous step's done event
      (``StockReserved``), by running its step's action;
    * to the next step's failed event (``PaymentFailed``) or compensated event,
      by running its own compensation: compensation flows backwards, newest
      first, without anyone deciding it.

    A :class:`SagaMonitor` follows the events to show each saga's state.
    Retries happen inside a service (the consumer redelivers the event), so
    no event announces them and the monitor's path shows no retry loops; and
    nobody waits with a timeout, so a service that never answers leaves its
    sagas ``running``.  Both are the price of having no coordinator.
    """

    def __init__(
        self,
        broker: Broker,
        definition: SagaDefinition,
        *,
        failures: Iterable[FailurePlan] = (),
        service_time: float = 10.0,
        retry_delay: float = 100.0,
        name: str | None = None,
        on_end: Callable[[SagaInstance], Any] | None = None,
    ) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        checks.instance("definition", definition, SagaDefinition)
        if name is not None:
            checks.name("name", name)
        checks.callable_or_none("on_end", on_end, "instance -> anything")
        plans = definition.check_failures(failures)
        self.broker = broker
        self.sim = broker.sim
        self.definition = definition
        self.name = name or f"{definition.name}-choreography"
        self.topic = ensure_topic(broker, f"{definition.name}.events")
        steps = definition.steps
        reactions: dict[str, dict[str, tuple[Step, str]]] = {
            p: {} for p in definition.participant_names
        }
        for i, s in enumerate(steps):
            trigger = definition.start_event if i == 0 else steps[i - 1].done_event
            reactions[s.service][trigger] = (s, ACTION)
            if s.kind == "compensatable" and i + 1 < len(steps):
                nxt = steps[i + 1]
                if nxt.kind != "retriable":
                    reactions[s.service][nxt.failed_event] = (s, COMPENSATION)
                if nxt.kind == "compensatable":
                    reactions[s.service][nxt.compensated_event] = (s, COMPENSATION)
        self.services = [
            ChoreographyService(
                broker,
                p,
                self.topic,
                reactions[p],
                failures=plans,
                service_time=service_time,
                retry_delay=retry_delay,
            )
            for p in definition.participant_names
        ]
        self.monitor = SagaMonitor(broker, f"{definition.name}-monitor", self.topic, definition)
        self.monitor.on_end = on_end

    @property
    def sagas(self) -> dict[str, SagaInstance]:
        """Every saga started here, as the monitor sees it."""
        return self.monitor.sagas

    def start(
        self, data: Mapping[str, Any] | None = None, *, cause: Event | None = None
    ) -> SagaInstance:
        """Publish the start event now; return the saga's instance (kept up to date by the monitor).

        ``cause``: the event that started the saga, if any; the start event
        then carries its ``correlation_id`` and names it as its ``causation_id``
        (without one the saga's id is the correlation id).
        """
        plain = saga_data(data)  # checked before anything is registered or numbered
        sim = self.sim
        saga = new_saga(sim, self.definition, plain, cause)
        saga.move(self.definition.steps[0].name, "start", sim.now)
        self.monitor.sagas[saga.id] = saga
        event = Event(
            id=sim.next_id("evt"),
            type=self.definition.start_event,
            time=sim.now,
            source=self.name,
            key=saga.id,
            data=saga.data,
            correlation_id=saga.correlation_id,
            causation_id=saga.cause,
        )
        sim.trace.record(sim.now, "saga-started", self.name, event.id, detail=saga.id)
        self.broker.publish(self.topic, event, actor=self.name)
        return saga

    def outcomes(self) -> dict[str, int]:
        """How many sagas are in each state."""
        out = dict.fromkeys(STATES, 0)
        for s in self.sagas.values():
            out[s.state] += 1
        return out

    def __repr__(self) -> str:
        counts = {k: v for k, v in self.outcomes().items() if v}
        return f"<Choreography {self.definition.name} topic={self.topic} services={[s.name for s in self.services]} sagas={counts}>"

"""Orchestration: a coordinator sends each participant a command and waits for its reply."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from ... import checks
from ...broker import Broker
from ...consumer import Consumer, Delivery
from ...events import Event, thaw
from ...protocols import BrokerBackend
from ...sim import Scheduler, Timer
from .definition import (
    ACTION,
    COMPENSATION,
    STATES,
    FailureInjector,
    FailurePlan,
    LocalTransaction,
    SagaDefinition,
    Step,
    StepFailed,
    compensate_state,
    ensure_topic,
    run_local,
)
from .log import SagaInstance, SagaLog, new_saga, saga_data

__all__ = ["Participant", "SagaOrchestrator", "NaiveSequence"]


class Participant(Consumer):
    """A service that executes saga commands and replies whether they succeeded.

    It reads its command topic (``<name>.commands``, created if missing),
    runs ``handlers[command.type](data)`` as a local transaction, and
    publishes ``CommandSucceeded`` or ``CommandFailed`` to the topic the
    command names in ``reply_to``.

    It is idempotent: it remembers every processed command id with the reply
    it sent, so a duplicate delivery, or the orchestrator asking again after a
    timeout, gets the same reply without running anything twice.  A step that
    already succeeded for a saga is not run again either, and compensating a
    step whose action never ran is a no-op ("nothing to undo").

    ``failures`` (:class:`FailurePlan`) make chosen commands fail, with the
    participant's own seeded generator for probabilities.
    """

    def __init__(
        self,
        broker: Broker,
        name: str,
        handlers: Mapping[str, LocalTransaction],
        *,
        failures: Iterable[FailurePlan] = (),
        topic: str | None = None,
        service_time: float = 10.0,
    ) -> None:
        if not isinstance(handlers, Mapping) or not handlers:
            raise ValueError(
                f"participant {name!r}: handlers must be a non-empty mapping, got {handlers!r}"
            )
        for cmd, fn in handlers.items():
            if not isinstance(cmd, str) or not cmd:
                raise ValueError(
                    f"participant {name!r}: command types must be non-empty str, got {cmd!r}"
                )
            if not callable(fn):
                raise TypeError(
                    f"participant {name!r}: the handler for {cmd!r} must be callable, got {fn!r}"
                )
        if topic is not None:
            checks.name("topic", topic)
        self._injector = FailureInjector(failures, broker.sim.rng_for(f"{name}.failures"))
        self.handlers = dict(handlers)
        self.command_topic = ensure_topic(broker, topic or f"{name}.commands")
        #: command id -> the reply sent for it (the "processed command ids" table).
        self.processed: dict[str, Event] = {}
        self._succeeded: dict[tuple[str, str, str], dict[str, Any]] = {}
        #: Every local transaction that took effect: ``(time, saga_id, step, phase)``.
        self.effects: list[tuple[float, str, str, str]] = []
        self.duplicates = 0
        super().__init__(broker, name, self.command_topic, service_time=service_time)

    def process(self, delivery: Delivery) -> None:
        command = delivery.event
        d = command.data
        cid = d["command_id"]
        sim = self.sim
        old = self.processed.get(cid)
        if old is not None:
            # Seen before: a network duplicate or the orchestrator asking again.
            self.duplicates += 1
            sim.trace.record(sim.now, "saga-duplicate", self.name, command.id, detail=cid)
            self.broker.publish(d["reply_to"], old, actor=self.name)
            return
        saga_id, step, phase = d["saga_id"], d["step"], d["phase"]
        key = (saga_id, step, phase)
        error = None
        result: dict[str, Any] = {}
        note = None
        if key in self._succeeded:
            result, note = self._succeeded[key], "already done"
        elif phase == COMPENSATION and (saga_id, step, ACTION) not in self._succeeded:
            note = "nothing to undo"
        else:
            try:
                self._injector.check(saga_id, step, phase)
                result = run_local(self.handlers.get(command.type), thaw(d["data"]))
            except StepFailed as exc:
                error = str(exc)
                if command.type not in self.handlers:
                    error = f"{self.name} has no handler for {command.type!r}; known: {list(self.handlers)}"
            if error is None:
                self._succeeded[key] = result
                self.effects.append((sim.now, saga_id, step, phase))
                sim.trace.record(
                    sim.now,
                    "saga-effect",
                    self.name,
                    command.id,
                    detail=f"{saga_id} {step} {phase}",
                )
        reply = command.reaction(
            id=sim.next_id("evt"),
            type="CommandFailed" if error else "CommandSucceeded",
            time=sim.now,
            source=self.name,
            data={
                "saga_id": saga_id,
                "step": step,
                "phase": phase,
                "command_id": cid,
                "ok": error is None,
                "result": result,
                "error": error,
                "note": note,
            },
        )
        self.processed[cid] = reply
        self.broker.publish(d["reply_to"], reply, actor=self.name)

    def __repr__(self) -> str:
        return (
            f"<Participant {self.name} commands={list(self.handlers)} processed={len(self.processed)}"
            f" effects={len(self.effects)} duplicates={self.duplicates}>"
        )


class _Pending(NamedTuple):
    command_id: str
    step: Step
    phase: str
    event: Event
    timer: Timer


class SagaOrchestrator:
    """The coordinator of orchestrated sagas: sends commands, waits for replies, decides.

    Parameters
    ----------
    broker:
        The broker (its simulation gives the clock, ids and trace).
    definition:
        The :class:`SagaDefinition` to run.
    name:
        Unique name (default ``<saga>-orchestrator``); it reads replies on
        ``<name>.replies``.
    log:
        The :class:`SagaLog` to write to (default: a new one).
    retry_delay:
        How long (ms) to wait before re-sending a command that failed.
    on_end:
        ``on_end(instance)``, called when a saga reaches a final state.

    Lifecycle of one saga: :meth:`start` creates a :class:`SagaInstance` and
    sends the first step's command to ``<participant>.commands``.  Each reply
    moves the saga on; the decisions on failure live in one hook,
    :meth:`on_failure`, which a variant (:class:`NaiveSequence`) overrides.
    """

    def __init__(
        self,
        broker: Broker,
        definition: SagaDefinition,
        *,
        name: str | None = None,
        log: SagaLog | None = None,
        retry_delay: float = 100.0,
        on_end: Callable[[SagaInstance], Any] | None = None,
    ) -> None:
        checks.instance("broker", broker, BrokerBackend, "Broker")
        checks.instance("definition", definition, SagaDefinition)
        if name is not None:
            checks.name("name", name)
        if log is not None and not isinstance(log, SagaLog):
            raise TypeError(f"log must be a SagaLog or None, got {log!r}")
        if (
            isinstance(retry_delay, bool)
            or not isinstance(retry_delay, (int, float))
            or not retry_delay >= 0
        ):
            raise ValueError(f"retry_delay must be >= 0 ms, got {retry_delay!r}")
        checks.callable_or_none("on_end", on_end, "instance -> anything")
        self.broker = broker
        self.sim: Scheduler = broker.sim
        self.definition = definition
        self.name = name or f"{definition.name}-orchestrator"
        self.log = log if log is not None else SagaLog()
        self.retry_delay = float(retry_delay)
        self.on_end = on_end
        self.reply_topic = ensure_topic(broker, f"{self.name}.replies")
        for p in definition.participant_names:
            ensure_topic(broker, f"{p}.commands")
        self.sagas: dict[str, SagaInstance] = {}
        self._pending: dict[str, _Pending | None] = {}
        self._tries: dict[str, int] = {}
        self._attempt: dict[str, int] = {}
        self._undo: dict[str, list[Step]] = {}
        # The event each saga's next command is caused by: its start, then the last reply.
        self._caused_by: dict[str, str | None] = {}
        self.ignored = 0
        self.consumer = Consumer(broker, self.name, self.reply_topic, self._on_reply)

    # -- starting and moving -----------------------------------------------------

    def start(
        self, data: Mapping[str, Any] | None = None, *, cause: Event | None = None
    ) -> SagaInstance:
        """Start a saga with ``data`` now; return its live instance.

        ``data`` is a mapping of JSON values (see :func:`~evtlib.patterns.saga.log.saga_data`),
        checked before the saga is registered: a refused start leaves nothing behind.
        ``cause`` is the event that started the saga (an ``OrderPlaced``), if
        any: every command then carries its ``correlation_id``, so one order
        can be followed across services, and each command's ``causation_id``
        names the event that led to it (``cause`` for the first, then the
        reply the saga moved on).  Without a cause the saga's id is the
        correlation id.
        """
        plain = saga_data(data)  # checked before anything is registered or numbered
        sim = self.sim
        saga = new_saga(sim, self.definition, plain, cause)
        self.sagas[saga.id] = saga
        self._pending[saga.id] = None
        self._undo[saga.id] = []
        self._caused_by[saga.id] = saga.cause
        self.log.append({"time": sim.now, "saga_id": saga.id, "kind": "started", "data": saga.data})
        sim.trace.record(sim.now, "saga-started", self.name, saga.cause, detail=saga.id)
        self._begin(saga, 0, "start")
        return saga

    def _move(self, saga: SagaInstance, to: str, label: str, state: str | None = None) -> None:
        sim = self.sim
        saga.move(to, label, sim.now, state)
        self.log.append(
            {
                "time": sim.now,
                "saga_id": saga.id,
                "kind": "moved",
                "to": to,
                "label": label,
                "state": saga.state,
            }
        )
        sim.trace.record(sim.now, "saga-moved", self.name, detail=f"{saga.id} {label} -> {to}")
        if saga.finished:
            self._pending[saga.id] = None
            if self.on_end is not None:
                self.on_end(saga)

    def _begin(self, saga: SagaInstance, index: int, label: str) -> None:
        steps = self.definition.steps
        if index == len(steps):
            self._move(saga, "completed", label)
            return
        step = steps[index]
        self._move(saga, step.name, label)
        self._tries[saga.id] = 0
        self._attempt[saga.id] = 1
        self._send(saga, step, ACTION)

    def _compensate_next(self, saga: SagaInstance, label: str) -> None:
        stack = self._undo[saga.id]
        if not stack:
            self._move(saga, "compensated", label)
            return
        step = stack.pop()
        self._move(saga, compensate_state(step.name), label, "compensating")
        self._tries[saga.id] = 0
        self._attempt[saga.id] = 1
        self._send(saga, step, COMPENSATION)

    # -- commands, replies, timeouts -----------------------------------------------

    def _send(
        self, saga: SagaInstance, step: Step, phase: str, command_id: str | None = None
    ) -> None:
        """Publish a command (a new one, or ``command_id`` again) and start its timer."""
        sim = self.sim
        cid = command_id or f"{saga.id}/{step.name}/{phase}/{self._attempt[saga.id]}"
        ctype = step.command if phase == ACTION else step.compensation_command
        if ctype is None:  # only compensatable steps are ever compensated
            raise ValueError(f"step {step.name!r} has no compensation to send")
        data = {
            "saga_id": saga.id,
            "step": step.name,
            "phase": phase,
            "command_id": cid,
            "reply_to": self.reply_topic,
            "data": saga.data,
        }
        event = Event(
            id=sim.next_id("evt"),
            type=ctype,
            time=sim.now,
            source=self.name,
            key=saga.id,
            data=data,
            correlation_id=saga.correlation_id,
            causation_id=self._caused_by[saga.id],
        )
        timer = sim.timer(step.timeout, self._on_timeout, saga.id, cid)
        self._pending[saga.id] = _Pending(cid, step, phase, event, timer)
        self.log.append(
            {
                "time": sim.now,
                "saga_id": saga.id,
                "kind": "command",
                "command_id": cid,
                "type": ctype,
            }
        )
        self.broker.publish(f"{step.service}.commands", event, actor=self.name)

    def _on_reply(self, event: Event) -> None:
        d = event.data
        saga_id = d.get("saga_id") if isinstance(d, Mapping) else None
        pending = self._pending.get(saga_id) if isinstance(saga_id, str) else None
        sim = self.sim
        if (
            pending is None
            or not isinstance(saga_id, str)
            or pending.command_id != d.get("command_id")
        ):
            # A duplicate, or a late answer to a question already settled.
            self.ignored += 1
            sim.trace.record(sim.now, "saga-reply-ignored", self.name, event.id)
            return
        saga = self.sagas[saga_id]
        pending.timer.cancel()
        self._pending[saga.id] = None
        self._caused_by[saga.id] = (
            event.id
        )  # what the saga does next, it does because of this reply
        step, phase, ok = pending.step, pending.phase, bool(d["ok"])
        if ok:
            saga.data.update(thaw(d["result"]))
            if d["note"] != "nothing to undo":
                (saga.completed if phase == ACTION else saga.compensated).append(step.name)
        else:
            saga.error = d["error"]
        self.log.append(
            {
                "time": sim.now,
                "saga_id": saga.id,
                "kind": "reply",
                "command_id": pending.command_id,
                "step": step.name,
                "phase": phase,
                "ok": ok,
                "error": d["error"],
                "data": saga.data,
            }
        )
        if ok and phase == ACTION:
            if step.kind == "compensatable":
                self._undo[saga.id].append(step)
            self._begin(saga, self.definition.steps.index(step) + 1, "ok")
        elif ok:
            self._compensate_next(saga, "ok")
        else:
            self.on_failure(saga, step, phase, d["error"], timed_out=False)

    def _on_timeout(self, saga_id: str, command_id: str) -> None:
        pending = self._pending.get(saga_id)
        if pending is None or pending.command_id != command_id:
            return
        sim = self.sim
        saga = self.sagas[saga_id]
        self._pending[saga_id] = None
        saga.error = f"no reply to {command_id} within {pending.step.timeout:g} ms"
        sim.trace.record(sim.now, "saga-timeout", self.name, pending.event.id, detail=command_id)
        self.log.append(
            {"time": sim.now, "saga_id": saga_id, "kind": "timeout", "command_id": command_id}
        )
        self.on_failure(saga, pending.step, pending.phase, saga.error, timed_out=True)

    # -- the policy: what to do when a step fails -------------------------------

    def on_failure(
        self, saga: SagaInstance, step: Step, phase: str, reason: str, *, timed_out: bool
    ) -> None:
        """Decide what a failed (or unanswered) command means: the hook a variant overrides.

        * Retry while ``step.retries`` allow it: after a timeout the same
          command is sent again (the participant de-duplicates it); after a
          failure a retriable action or a compensation is sent again as a new
          attempt, ``retry_delay`` ms later.
        * A compensatable or pivot action that fails has answered "no":
          compensate the completed steps, newest first.  A compensatable
          action that never answers is compensated too (undoing a step that
          never ran is a no-op at the participant).
        * A pivot that never answers, a retriable step or a compensation that
          keeps failing: ``needs-attention``, for a person to resolve.
        """
        sid = saga.id
        retry = timed_out or phase == COMPENSATION or step.kind == "retriable"
        if retry and self._tries[sid] < step.retries:
            self._tries[sid] += 1
            at = step.name if phase == ACTION else compensate_state(step.name)
            self._move(saga, at, "retry")
            if timed_out:
                self._send(
                    saga, step, phase, command_id=f"{sid}/{step.name}/{phase}/{self._attempt[sid]}"
                )
            else:
                self._attempt[sid] += 1
                self.sim.timer(self.retry_delay, self._send, saga, step, phase)
            return
        if phase == COMPENSATION or step.kind == "retriable":
            self._move(saga, "needs-attention", "gave up")
        elif step.kind == "pivot":
            if timed_out:
                self._move(saga, "needs-attention", "timed out")
            else:
                self._compensate_next(saga, "failed")
        else:
            if timed_out:
                self._undo[sid].append(step)
            self._compensate_next(saga, "timed out" if timed_out else "failed")

    # -- reading -------------------------------------------------------------------

    def outcomes(self) -> dict[str, int]:
        """How many sagas are in each state."""
        out = dict.fromkeys(STATES, 0)
        for s in self.sagas.values():
            out[s.state] = out.get(s.state, 0) + 1
        return out

    def __repr__(self) -> str:
        counts = {k: v for k, v in self.outcomes().items() if v}
        return f"<{type(self).__name__} {self.name} saga={self.definition.name} sagas={counts} log={len(self.log)}>"


class NaiveSequence(SagaOrchestrator):
    """The naive twin: call the steps in sequence and stop at the first failure.

    No retries, no compensation: a failed payment leaves the stock reserved.
    Its sagas end in ``completed`` or ``failed`` (a state the real
    orchestrator never uses), and a ``failed`` order may be half done.
    """

    def on_failure(
        self, saga: SagaInstance, step: Step, phase: str, reason: str, *, timed_out: bool
    ) -> None:
        saga.error = reason
        self._move(saga, "failed", "timed out" if timed_out else "failed")

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

The running example (a shop, the order saga), the naive twin's sweep and
the isolation scenario live in :mod:`evtlib.patterns.saga_scenarios`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..broker import Broker
from ..consumer import Consumer, Delivery
from ..errors import EvtlibError
from ..events import Event, thaw
from ..sim import Simulation, Timer

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
]

#: The kinds of step, in the order they must appear in a saga.
KINDS = ("compensatable", "pivot", "retriable")

#: Every state a saga instance can be in; the last three are final.
STATES = ("running", "compensating", "completed", "compensated", "needs-attention")
FINAL_STATES = ("completed", "compensated", "needs-attention")
# The naive twin (NaiveSequence) also ends, in a state the real saga never uses.
_ENDS = FINAL_STATES + ("failed",)

#: Phases of a step: its action, or its compensation.
ACTION = "action"
COMPENSATION = "compensation"

#: ``fn(data) -> dict | None``: a local transaction.  ``data`` is a fresh dict
#: of the saga's data (with ``"saga_id"``); a returned dict is merged into it.
LocalTransaction = Callable[[dict[str, Any]], "Mapping[str, Any] | None"]


class StepFailed(EvtlibError):
    """Raised when a saga's local transaction fails (an injected failure, or a retry request)."""


# -- definition ------------------------------------------------------------------


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _command_name(fn: Callable[..., Any], fallback: str) -> str:
    name = getattr(fn, "__name__", "")
    return name if isinstance(name, str) and name.isidentifier() else fallback


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number of ms > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Step:
    """One local transaction of a saga, with how to undo it and how hard to try.

    Parameters
    ----------
    name:
        The step's name (``"stock"``); unique in its saga.
    action:
        ``action(data) -> dict | None``, the local transaction; raise to fail.
    compensation:
        ``compensation(data) -> dict | None``, which undoes ``action``.
        Required for ``"compensatable"`` steps, forbidden for the others.
    kind:
        ``"compensatable"`` (default), ``"pivot"`` or ``"retriable"``.
    retries:
        How many times to try again after a failure or a timeout, before
        giving up: retriable actions and every compensation are retried; the
        actions of other steps are only asked again after a timeout (a
        failure reply is their final "no").
    timeout:
        How long (ms) the orchestrator waits for a reply before asking again.
    participant:
        The service that runs the step (default: the step's name).
    events:
        For choreography, the event types the step's service publishes:
        ``(done, failed, compensated)``; any left out are made from the name
        (``"stock"`` -> ``StockDone``, ``StockFailed``, ``StockCompensated``).

    A command's type is its function's name (``reserve_stock``), or
    ``<step>.action`` / ``<step>.compensation`` for a lambda.
    """

    name: str
    action: LocalTransaction
    compensation: LocalTransaction | None = None
    kind: str = "compensatable"
    retries: int = 3
    timeout: float = 1000.0
    participant: str | None = None
    events: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a step's name must be a non-empty str, got {self.name!r}")
        if not callable(self.action):
            raise TypeError(f"step {self.name!r}: action must be callable, got {self.action!r}")
        if self.compensation is not None and not callable(self.compensation):
            raise TypeError(
                f"step {self.name!r}: compensation must be callable or None, got {self.compensation!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"step {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "compensatable" and self.compensation is None:
            raise ValueError(
                f"step {self.name!r} is compensatable, so it needs a compensation; "
                "a step that cannot be undone is a 'pivot' or 'retriable'"
            )
        if self.kind != "compensatable" and self.compensation is not None:
            raise ValueError(
                f"step {self.name!r} is a {self.kind} step, so it must not have a compensation: "
                "nothing at or after the pivot is ever undone"
            )
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(
                f"step {self.name!r}: retries must be an int >= 0, got {self.retries!r}"
            )
        object.__setattr__(
            self, "timeout", _positive_number(f"step {self.name!r}: timeout", self.timeout)
        )
        if self.participant is None:
            object.__setattr__(self, "participant", self.name)
        elif not isinstance(self.participant, str) or not self.participant:
            raise ValueError(
                f"step {self.name!r}: participant must be a non-empty str, got {self.participant!r}"
            )
        events = tuple(self.events)
        if len(events) > 3 or not all(isinstance(e, str) and e for e in events):
            raise ValueError(
                f"step {self.name!r}: events must be up to 3 non-empty str "
                f"(done, failed, compensated), got {self.events!r}"
            )
        base = _camel(self.name)
        defaults = (f"{base}Done", f"{base}Failed", f"{base}Compensated")
        object.__setattr__(self, "events", events + defaults[len(events) :])

    @property
    def command(self) -> str:
        """The type of the command that runs the action."""
        return _command_name(self.action, f"{self.name}.{ACTION}")

    @property
    def compensation_command(self) -> str | None:
        """The type of the command that runs the compensation (None without one)."""
        if self.compensation is None:
            return None
        return _command_name(self.compensation, f"{self.name}.{COMPENSATION}")

    @property
    def done_event(self) -> str:
        return self.events[0]

    @property
    def failed_event(self) -> str:
        return self.events[1]

    @property
    def compensated_event(self) -> str:
        return self.events[2]

    @property
    def compensation_failed_event(self) -> str:
        return f"{_camel(self.name)}CompensationFailed"

    def __repr__(self) -> str:
        undo = f" undo={self.compensation_command}" if self.compensation else ""
        return (
            f"<Step {self.name} {self.kind} by {self.participant}: {self.command}{undo}"
            f" retries={self.retries} timeout={self.timeout:g}ms>"
        )


def _compensate_state(step: str) -> str:
    return f"compensate {step}"


class SagaDefinition:
    """The steps of a saga, checked for order: compensatable, then a pivot, then retriable.

    ``start_event`` is the event that starts the saga under choreography
    (default ``<Name>Started``; the running example uses ``OrderPlaced``).
    """

    def __init__(self, name: str, steps: Iterable[Step], *, start_event: str | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"a saga's name must be a non-empty str, got {name!r}")
        steps = list(steps)
        if not steps:
            raise ValueError(f"saga {name!r} has no steps: a saga needs at least one step")
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"saga {name!r}: steps must be Step objects, got {s!r}")
        seen: set[str] = set()
        for s in steps:
            if s.name in seen:
                raise ValueError(
                    f"saga {name!r}: step names must be unique, {s.name!r} appears twice"
                )
            seen.add(s.name)
        pivots = [s.name for s in steps if s.kind == "pivot"]
        if len(pivots) > 1:
            raise ValueError(
                f"saga {name!r} has {len(pivots)} pivots {pivots}: at most one is allowed"
            )
        for before, after in zip(steps, steps[1:], strict=False):
            if KINDS.index(after.kind) < KINDS.index(before.kind):
                raise ValueError(
                    f"saga {name!r}: {after.kind} step {after.name!r} comes after "
                    f"{before.kind} step {before.name!r}; the order must be compensatable "
                    "steps, then at most one pivot, then retriable steps"
                )
        commands: dict[tuple[str, str], str] = {}
        for s in steps:
            for cmd in (s.command, s.compensation_command):
                if cmd is None:
                    continue
                owner = commands.setdefault((s.participant, cmd), s.name)  # type: ignore[arg-type]
                if owner != s.name:
                    raise ValueError(
                        f"saga {name!r}: participant {s.participant!r} would get the command "
                        f"{cmd!r} for both {owner!r} and {s.name!r}; give the functions distinct names"
                    )
        if start_event is not None and (not isinstance(start_event, str) or not start_event):
            raise ValueError(f"start_event must be a non-empty str or None, got {start_event!r}")
        self.name = name
        self.steps: tuple[Step, ...] = tuple(steps)
        self.start_event = start_event or f"{_camel(name)}Started"

    def step(self, name: str) -> Step:
        """The step called ``name``; ``KeyError`` naming the known steps if none."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"saga {self.name!r} has no step {name!r}; steps: {self.step_names}")

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def pivot(self) -> Step | None:
        """The pivot step, if there is one."""
        return next((s for s in self.steps if s.kind == "pivot"), None)

    @property
    def participant_names(self) -> list[str]:
        """The services that run the steps, in step order, each once."""
        return list(dict.fromkeys(s.participant for s in self.steps))  # type: ignore[misc]

    def check_failures(self, failures: Iterable[FailurePlan]) -> tuple[FailurePlan, ...]:
        """Return ``failures`` as a tuple after checking each names a step (and compensation) here."""
        plans = tuple(failures)
        for plan in plans:
            if not isinstance(plan, FailurePlan):
                raise TypeError(f"failures must be FailurePlan objects, got {plan!r}")
            step = next((s for s in self.steps if s.name == plan.step), None)
            if step is None:
                raise ValueError(
                    f"failure plan names an unknown step {plan.step!r}; "
                    f"saga {self.name!r} has the steps {self.step_names}"
                )
            if plan.compensation and step.compensation is None:
                raise ValueError(
                    f"failure plan targets the compensation of {step.kind} step {plan.step!r}, "
                    "which has none"
                )
        return plans

    def state_machine(self) -> tuple[list[str], list[tuple[str, str, str]]]:
        """The saga as a state machine: ``(states, transitions)``.

        States are ``"started"`` (the initial state, first in the list), one
        per step (its action is running), ``"compensate <step>"`` per
        compensatable step, and the final states.  Transitions are
        ``(source, destination, label)`` with labels ``ok``, ``failed``,
        ``retry``, ``timed out`` and ``gave up``.  A
        :class:`SagaInstance`'s :attr:`~SagaInstance.path` walks this graph.
        """
        steps = self.steps
        states = ["started"] + [s.name for s in steps]
        states += [_compensate_state(s.name) for s in steps if s.kind == "compensatable"]
        states += ["completed", "compensated", "needs-attention"]
        t: list[tuple[str, str, str]] = [("started", steps[0].name, "start")]

        def undo_from(i: int) -> str:
            # Where compensation starts when step i fails: undo step i-1 first.
            return _compensate_state(steps[i - 1].name) if i > 0 else "compensated"

        for i, s in enumerate(steps):
            nxt = steps[i + 1].name if i + 1 < len(steps) else "completed"
            t.append((s.name, nxt, "ok"))
            t.append((s.name, s.name, "retry"))
            if s.kind == "compensatable":
                t.append((s.name, undo_from(i), "failed"))
                t.append((s.name, _compensate_state(s.name), "timed out"))
            elif s.kind == "pivot":
                t.append((s.name, undo_from(i), "failed"))
                t.append((s.name, "needs-attention", "timed out"))
            else:
                t.append((s.name, "needs-attention", "gave up"))
        for i, s in enumerate(steps):
            if s.kind == "compensatable":
                c = _compensate_state(s.name)
                t.append((c, undo_from(i), "ok"))
                t.append((c, c, "retry"))
                t.append((c, "needs-attention", "gave up"))
        return states, list(dict.fromkeys(t))

    def participants(
        self,
        broker: Broker,
        *,
        failures: Iterable[FailurePlan] = (),
        service_time: float = 10.0,
    ) -> list[Participant]:
        """One :class:`Participant` per service, with the steps' functions as its handlers."""
        plans = self.check_failures(failures)
        out = []
        for pname in self.participant_names:
            handlers: dict[str, LocalTransaction] = {}
            for s in self.steps:
                if s.participant == pname:
                    handlers[s.command] = s.action
                    if s.compensation is not None:
                        handlers[s.compensation_command] = s.compensation  # type: ignore[index]
            out.append(
                Participant(broker, pname, handlers, failures=plans, service_time=service_time)
            )
        return out

    def __repr__(self) -> str:
        parts = " -> ".join(f"{s.name}({s.kind})" for s in self.steps)
        return f"<SagaDefinition {self.name}: {parts}>"


# -- failure injection ---------------------------------------------------------


@dataclass(frozen=True)
class FailurePlan:
    """Make a step's action (or its compensation) fail, to watch the saga cope.

    ``FailurePlan("payment")`` fails the payment once in every saga;
    ``times=3`` the first three attempts; ``times=None`` every attempt.
    With ``probability`` each attempt fails with that chance (drawn from the
    participant's seeded generator), at most ``times`` times per saga.
    ``compensation=True`` targets the step's compensation instead.
    """

    step: str
    times: int | None = 1
    probability: float | None = None
    compensation: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.step, str) or not self.step:
            raise ValueError(f"step must be a non-empty str, got {self.step!r}")
        if self.times is not None and (
            isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1
        ):
            raise ValueError(f"times must be an int >= 1 or None (always), got {self.times!r}")
        p = self.probability
        if p is not None and (
            isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0
        ):
            raise ValueError(f"probability must be between 0 and 1 or None, got {p!r}")
        if not isinstance(self.compensation, bool):
            raise TypeError(f"compensation must be a bool, got {self.compensation!r}")

    @property
    def phase(self) -> str:
        return COMPENSATION if self.compensation else ACTION


class _Injector:
    """Decides, per attempt, whether a failure plan makes a local transaction fail."""

    def __init__(self, plans: Iterable[FailurePlan], rng: random.Random) -> None:
        self.plans = tuple(plans)
        self.rng = rng
        self._fired: dict[tuple[int, str], int] = {}

    def check(self, saga_id: str, step: str, phase: str) -> None:
        """Raise :class:`StepFailed` if a plan says this attempt fails."""
        for i, plan in enumerate(self.plans):
            if plan.step != step or plan.phase != phase:
                continue
            fired = self._fired.get((i, saga_id), 0)
            if plan.times is not None and fired >= plan.times:
                continue
            if plan.probability is not None and not self.rng.random() < plan.probability:
                continue
            self._fired[(i, saga_id)] = fired + 1
            raise StepFailed(f"injected failure of {step} {phase} (#{fired + 1})")


def _run_local(fn: LocalTransaction | None, data: dict[str, Any]) -> dict[str, Any]:
    """Run a local transaction; turn whatever it raises into :class:`StepFailed`."""
    if fn is None:
        raise StepFailed("no handler for this command")
    try:
        result = fn(dict(data))
    except StepFailed:
        raise
    except Exception as exc:  # a business failure ("out of stock") is an answer, not a crash
        raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise StepFailed(f"a local transaction must return a dict or None, got {result!r}")
    return dict(result)


def _ensure_topic(broker: Broker, name: str) -> str:
    if name not in broker.topics:
        broker.create_topic(name)
    return name


# -- the saga log and instances ------------------------------------------------


class SagaLog:
    """The orchestrator's memory: an append-only list of JSON records.

    Every decision (saga started, command sent, reply received, state
    changed) is appended as one JSON line; nothing is updated in place.
    :meth:`replay` folds the lines back into each saga's state, which is what
    an orchestrator restarting after a crash would do.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (it must be JSON-serialisable)."""
        self._lines.append(json.dumps(dict(record), sort_keys=True, separators=(",", ":")))

    def records(self, saga_id: str | None = None) -> list[dict[str, Any]]:
        """The records as dicts, oldest first (only ``saga_id``'s if given)."""
        out = [json.loads(line) for line in self._lines]
        return out if saga_id is None else [r for r in out if r["saga_id"] == saga_id]

    def to_jsonl(self) -> str:
        """The whole log as JSON lines."""
        return "\n".join(self._lines)

    def replay(self) -> dict[str, dict[str, Any]]:
        """Each saga's ``{"state", "path", "data", "completed", "compensated"}`` from the log alone."""
        sagas: dict[str, dict[str, Any]] = {}
        for r in self.records():
            kind = r["kind"]
            if kind == "started":
                sagas[r["saga_id"]] = {
                    "state": "running",
                    "path": ["started"],
                    "data": r["data"],
                    "completed": [],
                    "compensated": [],
                }
                continue
            s = sagas[r["saga_id"]]
            if kind == "moved":
                s["path"].append(r["to"])
                s["state"] = r["state"]
            elif kind == "reply" and r["ok"]:
                key = "completed" if r["phase"] == ACTION else "compensated"
                s[key].append(r["step"])
                s["data"] = r["data"]
        return sagas

    def __len__(self) -> int:
        return len(self._lines)

    def __repr__(self) -> str:
        return f"<SagaLog records={len(self._lines)}>"


class SagaInstance:
    """One running (or finished) saga: its state, data and the path it took.

    ``state`` is one of :data:`STATES`; ``at`` is the state-machine state it
    is in (a step name, ``"compensate <step>"``, or a final state); ``path``
    lists every state-machine state visited and ``transitions`` the edges
    taken, as ``(source, destination, label)``; ``completed`` and
    ``compensated`` name the steps whose action / compensation succeeded;
    ``error`` is the last failure's reason.
    """

    def __init__(
        self, saga_id: str, definition: SagaDefinition, data: Mapping[str, Any], time: float
    ):
        self.id = saga_id
        self.definition = definition
        self.data: dict[str, Any] = {**thaw(dict(data)), "saga_id": saga_id}
        self.state = "running"
        self.at = "started"
        self.path: list[str] = ["started"]
        self.transitions: list[tuple[str, str, str]] = []
        self.history: list[dict[str, Any]] = [{"time": time, "to": "started", "label": "start"}]
        self.completed: list[str] = []
        self.compensated: list[str] = []
        self.error: str | None = None
        self.started_at = time
        self.ended_at: float | None = None

    @property
    def finished(self) -> bool:
        """Whether the saga has ended (for a real saga: is in a final state)."""
        return self.ended_at is not None

    def _move(self, to: str, label: str, time: float, state: str | None = None) -> None:
        self.transitions.append((self.at, to, label))
        self.history.append({"time": time, "to": to, "label": label})
        self.path.append(to)
        self.at = to
        if state is not None:
            self.state = state
        if to in _ENDS:
            self.state = to
            self.ended_at = time

    def to_dict(self) -> dict[str, Any]:
        """The instance as plain data (for a table or JSON)."""
        return {
            "id": self.id,
            "saga": self.definition.name,
            "state": self.state,
            "at": self.at,
            "path": list(self.path),
            "completed": list(self.completed),
            "compensated": list(self.compensated),
            "error": self.error,
            "data": dict(self.data),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }

    def __repr__(self) -> str:
        return f"<SagaInstance {self.id} {self.definition.name} {self.state} path={' > '.join(self.path)}>"


# -- orchestration ---------------------------------------------------------------


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
        self.handlers = dict(handlers)
        self.command_topic = _ensure_topic(broker, topic or f"{name}.commands")
        self._injector = _Injector(failures, broker.sim.rng_for(f"{name}.failures"))
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
                result = _run_local(self.handlers.get(command.type), thaw(d["data"]))
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
        if not isinstance(broker, Broker):
            raise TypeError(f"broker must be a Broker, got {broker!r}")
        if not isinstance(definition, SagaDefinition):
            raise TypeError(f"definition must be a SagaDefinition, got {definition!r}")
        if log is not None and not isinstance(log, SagaLog):
            raise TypeError(f"log must be a SagaLog or None, got {log!r}")
        if (
            isinstance(retry_delay, bool)
            or not isinstance(retry_delay, (int, float))
            or not retry_delay >= 0
        ):
            raise ValueError(f"retry_delay must be >= 0 ms, got {retry_delay!r}")
        if on_end is not None and not callable(on_end):
            raise TypeError(f"on_end must be callable or None, got {on_end!r}")
        self.broker = broker
        self.sim: Simulation = broker.sim
        self.definition = definition
        self.name = name or f"{definition.name}-orchestrator"
        self.log = log if log is not None else SagaLog()
        self.retry_delay = float(retry_delay)
        self.on_end = on_end
        self.reply_topic = _ensure_topic(broker, f"{self.name}.replies")
        for p in definition.participant_names:
            _ensure_topic(broker, f"{p}.commands")
        self.sagas: dict[str, SagaInstance] = {}
        self._pending: dict[str, _Pending | None] = {}
        self._tries: dict[str, int] = {}
        self._attempt: dict[str, int] = {}
        self._undo: dict[str, list[Step]] = {}
        self.ignored = 0
        self.consumer = Consumer(broker, self.name, self.reply_topic, self._on_reply)

    # -- starting and moving -----------------------------------------------------

    def start(self, data: Mapping[str, Any] | None = None) -> SagaInstance:
        """Start a saga with ``data`` (JSON-like) now; return its live instance."""
        sim = self.sim
        saga = SagaInstance(sim.next_id("saga"), self.definition, data or {}, sim.now)
        self.sagas[saga.id] = saga
        self._pending[saga.id] = None
        self._undo[saga.id] = []
        self.log.append({"time": sim.now, "saga_id": saga.id, "kind": "started", "data": saga.data})
        sim.trace.record(sim.now, "saga-started", self.name, detail=saga.id)
        self._begin(saga, 0, "start")
        return saga

    def _move(self, saga: SagaInstance, to: str, label: str, state: str | None = None) -> None:
        sim = self.sim
        saga._move(to, label, sim.now, state)
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
        self._move(saga, _compensate_state(step.name), label, "compensating")
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
            type=ctype,  # type: ignore[arg-type]
            time=sim.now,
            source=self.name,
            key=saga.id,
            data=data,
            correlation_id=saga.id,
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
        self.broker.publish(f"{step.participant}.commands", event, actor=self.name)

    def _on_reply(self, event: Event) -> None:
        d = event.data
        saga_id = d.get("saga_id") if isinstance(d, Mapping) else None
        pending = self._pending.get(saga_id) if isinstance(saga_id, str) else None
        sim = self.sim
        if pending is None or pending.command_id != d.get("command_id"):
            # A duplicate, or a late answer to a question already settled.
            self.ignored += 1
            sim.trace.record(sim.now, "saga-reply-ignored", self.name, event.id)
            return
        saga = self.sagas[saga_id]  # type: ignore[index]
        pending.timer.cancel()
        self._pending[saga.id] = None
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
            at = step.name if phase == ACTION else _compensate_state(step.name)
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


# -- choreography ----------------------------------------------------------------


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
        self.reactions = dict(reactions)
        self.topic = topic
        self._injector = _Injector(failures, broker.sim.rng_for(f"{name}.failures"))
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
            data.update(_run_local(fn, data))
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
        self.definition = definition
        self.sagas: dict[str, SagaInstance] = {}
        self.on_end: Callable[[SagaInstance], Any] | None = None
        self._seen: set[str] = set()
        steps = definition.steps
        self._moves: dict[str, Callable[[SagaInstance], None]] = {}
        for i, s in enumerate(steps):
            nxt = steps[i + 1].name if i + 1 < len(steps) else "completed"
            undo = _compensate_state(steps[i - 1].name) if i > 0 else "compensated"
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
        saga._move(to, label, time, state if to not in FINAL_STATES else None)

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
        if not isinstance(broker, Broker):
            raise TypeError(f"broker must be a Broker, got {broker!r}")
        if not isinstance(definition, SagaDefinition):
            raise TypeError(f"definition must be a SagaDefinition, got {definition!r}")
        plans = definition.check_failures(failures)
        self.broker = broker
        self.sim = broker.sim
        self.definition = definition
        self.name = name or f"{definition.name}-choreography"
        self.topic = _ensure_topic(broker, f"{definition.name}.events")
        steps = definition.steps
        reactions: dict[str, dict[str, tuple[Step, str]]] = {
            p: {} for p in definition.participant_names
        }
        for i, s in enumerate(steps):
            trigger = definition.start_event if i == 0 else steps[i - 1].done_event
            reactions[s.participant][trigger] = (s, ACTION)  # type: ignore[index]
            if s.kind == "compensatable" and i + 1 < len(steps):
                nxt = steps[i + 1]
                if nxt.kind != "retriable":
                    reactions[s.participant][nxt.failed_event] = (s, COMPENSATION)  # type: ignore[index]
                if nxt.kind == "compensatable":
                    reactions[s.participant][nxt.compensated_event] = (s, COMPENSATION)  # type: ignore[index]
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

    def start(self, data: Mapping[str, Any] | None = None) -> SagaInstance:
        """Publish the start event now; return the saga's instance (kept up to date by the monitor)."""
        sim = self.sim
        saga = SagaInstance(sim.next_id("saga"), self.definition, data or {}, sim.now)
        saga._move(self.definition.steps[0].name, "start", sim.now)
        self.monitor.sagas[saga.id] = saga
        event = Event(
            id=sim.next_id("evt"),
            type=self.definition.start_event,
            time=sim.now,
            source=self.name,
            key=saga.id,
            data=saga.data,
            correlation_id=saga.id,
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

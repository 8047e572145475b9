"""A saga's definition: its steps, checked for order, and the failures a scenario injects.

Steps are compensatable, then at most one pivot, then retriable
(:data:`KINDS`); :class:`SagaDefinition` checks that order and draws the saga
as a state machine.  :class:`FailurePlan` and :class:`FailureInjector` make
chosen local transactions fail; :func:`run_local` runs one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...broker import Broker
from ...errors import EvtlibError

if TYPE_CHECKING:
    from .orchestration import Participant

__all__ = [
    "ACTION",
    "COMPENSATION",
    "KINDS",
    "STATES",
    "FINAL_STATES",
    "LocalTransaction",
    "StepFailed",
    "Step",
    "SagaDefinition",
    "FailurePlan",
    "FailureInjector",
    "run_local",
    "ensure_topic",
    "compensate_state",
]

#: The kinds of step, in the order they must appear in a saga.
KINDS = ("compensatable", "pivot", "retriable")

#: Every state a saga instance can be in; the last three are final.
STATES = ("running", "compensating", "completed", "compensated", "needs-attention")
FINAL_STATES = ("completed", "compensated", "needs-attention")

#: Phases of a step: its action, or its compensation.
ACTION = "action"
COMPENSATION = "compensation"

#: ``fn(data) -> dict | None``: a local transaction.  ``data`` is a fresh dict
#: of the saga's data (with ``"saga_id"``); a returned dict is merged into it.
LocalTransaction = Callable[[dict[str, Any]], "Mapping[str, Any] | None"]


class StepFailed(EvtlibError):
    """Raised when a saga's local transaction fails (an injected failure, or a retry request)."""


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

    @property
    def service(self) -> str:
        """The service that runs the step: :attr:`participant` (the step's name by default)."""
        return self.participant or self.name

    def __repr__(self) -> str:
        undo = f" undo={self.compensation_command}" if self.compensation else ""
        return (
            f"<Step {self.name} {self.kind} by {self.participant}: {self.command}{undo}"
            f" retries={self.retries} timeout={self.timeout:g}ms>"
        )


def compensate_state(step: str) -> str:
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
                owner = commands.setdefault((s.service, cmd), s.name)
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
        return list(dict.fromkeys(s.service for s in self.steps))

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
        states += [compensate_state(s.name) for s in steps if s.kind == "compensatable"]
        states += ["completed", "compensated", "needs-attention"]
        t: list[tuple[str, str, str]] = [("started", steps[0].name, "start")]

        def undo_from(i: int) -> str:
            # Where compensation starts when step i fails: undo step i-1 first.
            return compensate_state(steps[i - 1].name) if i > 0 else "compensated"

        for i, s in enumerate(steps):
            nxt = steps[i + 1].name if i + 1 < len(steps) else "completed"
            t.append((s.name, nxt, "ok"))
            t.append((s.name, s.name, "retry"))
            if s.kind == "compensatable":
                t.append((s.name, undo_from(i), "failed"))
                t.append((s.name, compensate_state(s.name), "timed out"))
            elif s.kind == "pivot":
                t.append((s.name, undo_from(i), "failed"))
                t.append((s.name, "needs-attention", "timed out"))
            else:
                t.append((s.name, "needs-attention", "gave up"))
        for i, s in enumerate(steps):
            if s.kind == "compensatable":
                c = compensate_state(s.name)
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
        from .orchestration import Participant  # the participant module builds on this one

        plans = self.check_failures(failures)
        out = []
        for pname in self.participant_names:
            handlers: dict[str, LocalTransaction] = {}
            for s in self.steps:
                if s.service == pname:
                    handlers[s.command] = s.action
                    undo = s.compensation_command
                    if s.compensation is not None and undo is not None:
                        handlers[undo] = s.compensation
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


class FailureInjector:
    """Decides, per attempt, whether a failure plan makes a local transaction fail."""

    def __init__(self, plans: Iterable[FailurePlan], rng: random.Random) -> None:
        self.plans = tuple(plans)
        for plan in self.plans:
            if not isinstance(plan, FailurePlan):
                raise TypeError(f"failures must be FailurePlan objects, got {plan!r}")
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


def run_local(fn: LocalTransaction | None, data: dict[str, Any]) -> dict[str, Any]:
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


def ensure_topic(broker: Broker, name: str) -> str:
    if name not in broker.topics:
        broker.create_topic(name)
    return name

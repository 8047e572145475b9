"""The orchestrator's memory (:class:`SagaLog`) and one saga's live state (:class:`SagaInstance`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...events import Event, thaw
from .definition import ACTION, FINAL_STATES, SagaDefinition

__all__ = ["SagaLog", "SagaInstance", "saga_data"]

# The naive twin (NaiveSequence) also ends, in a state the real saga never uses.
_ENDS = FINAL_STATES + ("failed",)


_DATA_RULE = (
    "a mapping of JSON values (str keys; str, int, float, bool, None, and lists and dicts of them)"
)


def _kind(value: Any) -> str:
    # A value's type, never its repr: an object's repr may carry a memory address.
    return f"an object of type {type(value).__name__!r}"


def _not_json(value: Any, path: str) -> tuple[str, str] | None:
    """``(where, what)`` for the first part of ``value`` JSON cannot hold, or None."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _not_json(v, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path}[{k!r}]", f"a key of type {type(k).__name__!r}"
            found = _not_json(v, f"{path}[{k!r}]")
            if found is not None:
                return found
        return None
    return path, _kind(value)


def saga_data(data: Any, param: str = "data") -> dict[str, Any]:
    """``data`` as a plain dict, checked: a saga's data must be JSON.

    It travels in commands and events and is written to the :class:`SagaLog`
    as JSON, so it must be a mapping with str keys whose values are JSON
    values; ``None`` means no data.  Anything else is refused with a message
    that names where the offending value is.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        shown = (
            repr(data) if isinstance(data, (str, int, float, bool, list, tuple)) else _kind(data)
        )
        raise TypeError(f"{param} must be {_DATA_RULE}, or None, got {shown}")
    plain = thaw(data)
    found = _not_json(plain, param)
    if found is not None:
        where, what = found
        raise TypeError(f"{param} must be {_DATA_RULE}, got {where} = {what}")
    return plain


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
    ``error`` is the last failure's reason.  ``correlation_id`` is the id
    every message of the saga carries (the correlation id of the event that
    started it, else the saga's own id) and ``cause`` the id of that event
    (None when the saga was started by a direct call).
    """

    def __init__(
        self,
        saga_id: str,
        definition: SagaDefinition,
        data: Mapping[str, Any],
        time: float,
        *,
        correlation_id: str | None = None,
        cause: str | None = None,
    ):
        self.id = saga_id
        self.correlation_id = correlation_id if correlation_id is not None else saga_id
        self.cause = cause
        self.definition = definition
        self.data: dict[str, Any] = {**saga_data(data), "saga_id": saga_id}
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

    def move(self, to: str, label: str, time: float, state: str | None = None) -> None:
        """Take the state machine's edge ``label`` to ``to`` at ``time``.

        ``state`` sets :attr:`state` (``"running"``, ``"compensating"``); a
        final ``to`` ends the saga (its state becomes ``to``).  Only the saga's
        coordinator calls this: the orchestrator, or the choreography's monitor.
        """
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


def new_saga(
    sim: Any, definition: SagaDefinition, data: dict[str, Any], cause: Event | None
) -> SagaInstance:
    """A saga's instance, numbered now: ``cause`` (the event that started it, or None) gives
    its correlation id and is named as its cause; without one the saga's id is the
    correlation id."""
    if cause is not None and not isinstance(cause, Event):
        raise TypeError(f"cause must be the Event that started the saga, or None, got {cause!r}")
    return SagaInstance(
        sim.next_id("saga"),
        definition,
        data,
        sim.now,
        correlation_id=cause.correlation_id if cause else None,
        cause=cause.id if cause else None,
    )

"""Events: immutable facts about something that happened.

An :class:`Event` is an envelope around a fact.  Its ``type`` is a name in
the past tense (``OrderPlaced``); its ``key`` is usually the id of the thing
it is about (the order), which decides its partition and so its order; its
``data`` is the fact itself, frozen all the way down so nobody can change it
after the fact; ``correlation_id`` ties together everything that happened
because of one request, and ``causation_id`` names the event it reacts to.

    >>> e = Event(id="evt-000001", type="OrderPlaced", time=0.0, source="orders",
    ...           key="order-1", data={"total": 30})
    >>> paid = e.reaction(id="evt-000002", type="PaymentCaptured", time=5.0,
    ...                   source="payments", data={"amount": 30})
    >>> paid.correlation_id, paid.causation_id
    ('evt-000001', 'evt-000001')
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import FrozenEventError

__all__ = ["Event", "FrozenDict", "freeze", "thaw", "Upcaster"]


class FrozenDict(Mapping):
    """A read-only, hashable mapping with str keys (what event data is made of)."""

    __slots__ = ("_d", "_h")
    _d: dict[str, Any]
    _h: int | None

    def __init__(self, items: Mapping[str, Any] = ()) -> None:  # type: ignore[assignment]
        _set_d(self, dict(items))
        _set_h(self, None)

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        h = self._h
        if h is None:
            h = hash(tuple(sorted(self._d.items())))
            _set_h(self, h)
        return h

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._d) == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenEventError(f"event data is immutable: cannot set attribute {name!r}")

    def __setitem__(self, key: str, value: Any) -> None:
        raise FrozenEventError(
            f"event data is immutable: cannot set {key!r}; publish a new event instead"
        )

    def __delitem__(self, key: str) -> None:
        raise FrozenEventError(f"event data is immutable: cannot delete {key!r}")

    def __repr__(self) -> str:
        return repr(self._d)


# The slots' own setters: they bypass __setattr__ (which refuses) and are
# cheaper than object.__setattr__, on a path taken once per event.
_set_d = FrozenDict.__dict__["_d"].__set__
_set_h = FrozenDict.__dict__["_h"].__set__

_SCALARS = frozenset((str, int, bool, type(None)))


def freeze(value: Any, path: str = "data") -> Any:
    """Return a deeply immutable copy of JSON-like ``value``.

    dicts become :class:`FrozenDict`, lists become tuples.  Anything that
    would not survive a JSON round-trip raises ``TypeError`` naming where it
    was found (``data['items'][2]``).
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if type(value) is dict:
        # The common flat case, without recursion (a plain loop: no generator).
        for k, v in value.items():
            if type(k) is not str or type(v) not in _SCALARS:
                break
        else:
            return FrozenDict(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path} must be JSON-serialisable, got the float {value!r}")
        return value
    if isinstance(value, Mapping):
        items = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} keys must be str for JSON, got the key {k!r}")
            items[k] = freeze(v, f"{path}[{k!r}]")
        return FrozenDict(items)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, f"{path}[{i}]") for i, v in enumerate(value))
    raise TypeError(
        f"{path} must be JSON-serialisable (dict, list, str, int, float, bool, None), "
        f"got {type(value).__name__} {value!r}"
    )


def thaw(value: Any) -> Any:
    """The plain, mutable (dict and list) copy of frozen ``value``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _check_str(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        kind = "a non-empty str or None" if optional else "a non-empty str"
        raise TypeError(f"{name} must be {kind}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """An immutable fact: an envelope with an id, a type, a time and data.

    ``correlation_id`` defaults to the event's own id (it starts a chain);
    use :meth:`reaction` to make the next event of the chain.
    """

    id: str
    type: str
    time: float
    source: str = "unknown"
    key: str | None = None
    data: Any = field(default_factory=FrozenDict)
    correlation_id: str | None = None
    causation_id: str | None = None
    version: int = 1

    def __post_init__(self) -> None:
        _check_str("id", self.id)
        _check_str("type", self.type)
        _check_str("source", self.source)
        _check_str("key", self.key, optional=True)
        if (
            isinstance(self.time, bool)
            or not isinstance(self.time, (int, float))
            or not 0 <= self.time < math.inf
        ):
            raise ValueError(f"time must be a finite number of ms >= 0, got {self.time!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"version must be an int >= 1, got {self.version!r}")
        _check_str("correlation_id", self.correlation_id, optional=True)
        _check_str("causation_id", self.causation_id, optional=True)
        object.__setattr__(self, "time", float(self.time))
        object.__setattr__(self, "data", freeze(self.data))
        if self.correlation_id is None:
            object.__setattr__(self, "correlation_id", self.id)

    @classmethod
    def trusted(
        cls, id: str, type: str, time: float, source: str, key: str | None, data: Any
    ) -> Event:
        """Fast constructor for producers: ``id``, ``time`` and ``source`` come
        from the runner and are known to be valid (so they are not checked);
        ``type``, ``key`` and ``data`` come from user code and are still checked."""
        if type.__class__ is not str or not type:
            _check_str("type", type)
        if key is not None and (key.__class__ is not str or not key):
            _check_str("key", key, optional=True)
        e = object.__new__(cls)
        put = object.__setattr__
        put(e, "id", id)
        put(e, "type", type)
        put(e, "time", time)
        put(e, "source", source)
        put(e, "key", key)
        put(e, "data", freeze(data))
        put(e, "correlation_id", id)
        put(e, "causation_id", None)
        put(e, "version", 1)
        return e

    def reaction(
        self,
        *,
        id: str,
        type: str,
        time: float,
        source: str,
        data: Any = None,
        key: str | None = None,
        version: int = 1,
    ) -> Event:
        """A new event caused by this one: same correlation id, causation = this id.

        ``key`` defaults to this event's key, so reactions about the same
        order land in the same partition.
        """
        return Event(
            id=id,
            type=type,
            time=time,
            source=source,
            key=self.key if key is None else key,
            data={} if data is None else data,
            correlation_id=self.correlation_id,
            causation_id=self.id,
            version=version,
        )

    def replace(self, **changes: Any) -> Event:
        """A copy with some fields changed (a new event: the old one stays as it was)."""
        fields = self.to_dict()
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(
                f"replace() got unknown fields {sorted(unknown)}; known: {list(fields)}"
            )
        fields.update(changes)
        return Event(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-ready values."""
        return {
            "id": self.id,
            "type": self.type,
            "time": self.time,
            "source": self.source,
            "key": self.key,
            "data": thaw(self.data),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "version": self.version,
        }

    def to_json(self) -> str:
        """The event as a JSON string with sorted keys (stable bytes)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_dict` output."""
        if not isinstance(d, Mapping):
            raise TypeError(f"d must be a mapping, got {type(d).__name__}")
        missing = {"id", "type", "time"} - set(d)
        if missing:
            raise ValueError(
                f"an event needs the fields id, type and time; missing {sorted(missing)}"
            )
        return cls(**dict(d))

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Rebuild an event from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        parts = [self.id, self.type, f"t={self.time:g}"]
        if self.key is not None:
            parts.append(f"key={self.key}")
        if self.version != 1:
            parts.append(f"v{self.version}")
        return f"<Event {' '.join(parts)} data={self.data!r}>"


def _refuse_set(self: Event, name: str, value: Any) -> None:
    raise FrozenEventError(
        f"events are immutable facts: cannot set {name!r} on {self.id}; "
        "publish a new event (for example with .reaction()) instead"
    )


def _refuse_del(self: Event, name: str) -> None:
    raise FrozenEventError(f"events are immutable facts: cannot delete {name!r} on {self.id}")


# Installed after @dataclass, which forbids defining them in a frozen class body;
# the generated __init__ sets fields with object.__setattr__, so it is unaffected.
Event.__setattr__ = _refuse_set  # type: ignore[method-assign,assignment]
Event.__delattr__ = _refuse_del  # type: ignore[method-assign,assignment]


class Upcaster:
    """Turns old versions of an event type into the current one, step by step.

    Register one function per step (``v1 -> v2``, ``v2 -> v3``); each takes
    the old data and returns the new data.  :meth:`upcast` applies every step
    an event needs, so consumers only ever see the latest version.
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Callable[[Mapping[str, Any]], Any]] = {}

    def register(
        self, type: str, from_version: int, fn: Callable[[Mapping[str, Any]], Any]
    ) -> None:
        """Register ``fn`` to turn ``type`` data of ``from_version`` into ``from_version + 1``."""
        _check_str("type", type)
        if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1:
            raise ValueError(f"from_version must be an int >= 1, got {from_version!r}")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        if (type, from_version) in self._steps:
            raise ValueError(f"an upcaster for {type} v{from_version} is already registered")
        self._steps[(type, from_version)] = fn

    def latest(self, type: str) -> int:
        """The version an event of ``type`` ends at after upcasting."""
        v = 1
        while (type, v) in self._steps:
            v += 1
        return v

    def upcast(self, event: Event) -> Event:
        """``event`` at the latest version of its type (itself if already there)."""
        while (event.type, event.version) in self._steps:
            new_data = self._steps[(event.type, event.version)](event.data)
            event = event.replace(data=thaw(new_data), version=event.version + 1)
        return event

    def __repr__(self) -> str:
        steps = ", ".join(f"{t} v{v}->v{v + 1}" for t, v in sorted(self._steps))
        return f"<Upcaster {steps or 'empty'}>"

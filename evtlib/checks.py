"""Argument checks, written once: every message names the parameter, the rule and the value.

Each function returns the value it checked (converted where that is the
point, as :func:`ms` returns a float), so a constructor reads as a list of
rules::

    self.commit_every = checks.integer("commit_every", commit_every, min=1)
    self.retry_delay = checks.ms("retry_delay", retry_delay)

The messages share one shape, ``"<name> must be <rule>, got <value>"``: a
value of the wrong type raises :class:`TypeError`, a value of the right type
that breaks the rule raises :class:`ValueError`.  Times are milliseconds of
simulated time and must be finite: ``inf`` would stop the clock for ever.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

__all__ = [
    "integer",
    "number",
    "ms",
    "optional_ms",
    "probability",
    "one_of",
    "name",
    "callable_or_none",
    "function",
    "instance",
    "boolean",
]

T = TypeVar("T")

#: The most partitions a simulated topic may have (Kafka's own guidance is
#: thousands per broker; a course needs far fewer, and each costs memory).
MAX_PARTITIONS = 10_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an int within ``[min, max]``; ``bool`` is not an int here."""
    rule = _int_rule(min, max)
    if not _is_int(value):
        raise TypeError(f"{name} must be {rule}, got {value!r}")
    if (min is not None and value < min) or (max is not None and value > max):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def _int_rule(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an int in {low}..{high}"
    if low is not None:
        return f"an int >= {low}"
    if high is not None:
        return f"an int <= {high}"
    return "an int"


def number(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    above: float | None = None,
    max: float | None = None,
    unit: str = "",
    finite: bool = True,
) -> float:
    """``value`` as a float: ``>= min``, ``> above``, ``<= max``, and finite unless told.

    NaN never passes (it compares false with everything).
    """
    rule = _number_rule(min, above, max, unit, finite)
    if not _is_number(value):
        raise TypeError(f"{name} must be {rule}, got {value!r}")
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    if (min is not None and v < min) or (above is not None and not v > above):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    if max is not None and v > max:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return v


def _number_rule(
    low: float | None, above: float | None, high: float | None, unit: str, finite: bool
) -> str:
    what = "a finite number" if finite else "a number"
    if unit:
        what += f" of {unit}"
    bounds = []
    if low is not None:
        bounds.append(f">= {low:g}")
    if above is not None:
        bounds.append(f"> {above:g}")
    if high is not None:
        bounds.append(f"<= {high:g}")
    return what + (" " + " and ".join(bounds) if bounds else "")


def ms(name: str, value: Any, *, positive: bool = False) -> float:
    """A duration in simulated ms: finite, ``>= 0`` (or ``> 0`` with ``positive``)."""
    if positive:
        return number(name, value, above=0, unit="ms")
    return number(name, value, min=0, unit="ms")


def optional_ms(name: str, value: Any, *, positive: bool = False) -> float | None:
    """Like :func:`ms`, or ``None``."""
    if value is None:
        return None
    rule = "a finite number of ms " + ("> 0" if positive else ">= 0") + " or None"
    if not _is_number(value):
        raise TypeError(f"{name} must be {rule}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return v


def probability(name: str, value: Any) -> float:
    """A probability: a number between 0 and 1."""
    rule = "a probability between 0 and 1"
    if not _is_number(value):
        raise TypeError(f"{name} must be {rule}, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def one_of(name: str, value: Any, options: Collection[T]) -> T:
    """``value`` if it is one of ``options``; the message lists them."""
    try:
        ok = value in options
    except TypeError:  # unhashable
        ok = False
    if not ok:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def name(what: str, value: Any) -> str:
    """A component name: a non-empty str."""
    if not isinstance(value, str) or not value:
        raise (TypeError if not isinstance(value, str) else ValueError)(
            f"{what} must be a non-empty str, got {value!r}"
        )
    return value


def function(name: str, value: Any, signature: str = "") -> Callable[..., Any]:
    """A callable; ``signature`` says how it is called, for the message."""
    if not callable(value):
        how = f" ({signature})" if signature else ""
        raise TypeError(f"{name} must be callable{how}, got {value!r}")
    return value


def callable_or_none(name: str, value: Any, signature: str = "") -> Callable[..., Any] | None:
    """A callable or ``None``."""
    if value is not None and not callable(value):
        how = f" ({signature})" if signature else ""
        raise TypeError(f"{name} must be callable{how} or None, got {value!r}")
    return value


def instance(name: str, value: Any, kind: type | tuple[type, ...], what: str = "") -> Any:
    """``value`` if it is an instance of ``kind``; ``what`` names it for the message."""
    if not isinstance(value, kind):
        label = what or (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        article = "an" if label[:1].lower() in "aeiou" else "a"
        raise TypeError(f"{name} must be {article} {label}, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not a truthy value)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def names(what: str, values: Iterable[Any]) -> list[str]:
    """A non-empty list of names (a single str is one name)."""
    if isinstance(values, str):
        values = [values]
    out = [name(what, v) for v in values]
    if not out:
        raise ValueError(f"{what} must name at least one, got an empty list")
    return out

"""Events on the wire: an :class:`~evtlib.events.Event` as an AMQP message, and names.

An event travels as plain JSON (its ``data``) with standard AMQP
properties, so any AMQP client can read and write it:

==================  ============================================================
event field         AMQP
==================  ============================================================
``id``              ``message_id`` property
``type``            ``type`` property
``time``            ``time-ms`` header (the exact ms, as a decimal string) and the
                    ``timestamp`` property (whole seconds)
``source``          ``app_id`` property
``correlation_id``  ``correlation_id`` property
``causation_id``    ``causation-id`` header
``key``             ``key`` header
``version``         ``version`` header
``data``            the body: a JSON object, ``content_type`` ``application/json``
==================  ============================================================

:func:`decode` reads what :func:`encode` writes and what any other client
writes in that shape.  What does not fit (a body that is not UTF-8, not JSON
or not a JSON object; no ``message_id`` or ``type``; a header of the wrong
type) raises :class:`UndecodableMessage`, which says what is wrong: the
backend then moves the message aside (see :mod:`.groups`) instead of
stopping the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pika

from ...errors import EvtlibError
from ...events import Event, thaw

__all__ = [
    "encode",
    "decode",
    "UndecodableMessage",
    "PROBLEMS",
    "queue_name",
    "quarantine_name",
    "delivery_limit",
]

#: What can be wrong with a message that is not an event (:attr:`UndecodableMessage.problem`).
PROBLEMS = ("not-utf8", "not-json", "not-an-object", "missing-property", "bad-header", "bad-event")


class UndecodableMessage(EvtlibError, ValueError):
    """Raised when an AMQP message cannot be decoded into an event.

    ``problem`` is one of :data:`PROBLEMS`; the message says what was found.
    """

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


# -- names and limits ----------------------------------------------------------------


def queue_name(topic: str, group: str, partition: int) -> str:
    """The queue of ``group`` for one partition of ``topic``: ``orders.billing.0``."""
    return f"{topic}.{group}.{partition}"


def quarantine_name(topic: str) -> str:
    """The queue that keeps the undecodable messages of ``topic``: ``orders.quarantine``.

    Used for the queues that have no dead-letter exchange; a queue that has
    one sends its undecodable messages there (reason ``rejected``).
    """
    return f"{topic}.quarantine"


def delivery_limit(max_attempts: int) -> int:
    """The quorum queue's ``x-delivery-limit`` for ``max_attempts`` deliveries.

    RabbitMQ dead-letters a message returned more than ``limit`` times, so
    ``max_attempts`` deliveries need a limit of ``max_attempts - 1``.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
    return max_attempts - 1


# -- events on the wire ------------------------------------------------------------


def encode(event: Event) -> tuple[bytes, pika.BasicProperties]:
    """An event as an AMQP message: JSON ``data`` and standard properties."""
    # AMQP tables have no plain float: the exact time travels as its repr.
    headers: dict[str, Any] = {"time-ms": repr(event.time), "version": event.version}
    if event.key is not None:
        headers["key"] = event.key
    if event.causation_id is not None:
        headers["causation-id"] = event.causation_id
    body = json.dumps(thaw(event.data), sort_keys=True, separators=(",", ":")).encode()
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=event.id,
        type=event.type,
        timestamp=int(event.time // 1000),
        correlation_id=event.correlation_id,
        app_id=event.source,
        headers=headers,
    )
    return body, props


def decode(props: pika.BasicProperties, body: bytes) -> Event:
    """The event in an AMQP message written by :func:`encode` or any other client.

    Needs ``message_id`` and ``type``; the body is a JSON object (an empty
    body is empty data); the time is the ``time-ms`` header, else the
    ``timestamp`` property, else 0.  Raises :class:`UndecodableMessage`
    naming what is wrong otherwise.
    """
    if not props.message_id or not props.type:
        raise UndecodableMessage(
            "missing-property",
            "an event message needs the message_id and type properties, got "
            f"message_id={props.message_id!r} type={props.type!r}",
        )
    headers = props.headers or {}
    data = _data(body)
    when = _header(headers, "time-ms", (str, int, float, Decimal))
    if when is None:
        when = (props.timestamp or 0) * 1000
    try:
        time = float(when)
    except ValueError:
        raise UndecodableMessage(
            "bad-header", f"header time-ms must be a number of ms, got {when!r}"
        ) from None
    if not (math.isfinite(time) and time >= 0):
        raise UndecodableMessage(
            "bad-header", f"header time-ms must be a finite number of ms >= 0, got {when!r}"
        )
    version = _header(headers, "version", (int,))
    key = _header(headers, "key", (str,))
    causation_id = _header(headers, "causation-id", (str,))
    try:
        return Event(
            id=props.message_id,
            type=props.type,
            time=time,
            source=props.app_id or "unknown",
            key=key,
            data=data,
            correlation_id=props.correlation_id or None,
            causation_id=causation_id,
            version=1 if version is None else version,
        )
    except (TypeError, ValueError) as exc:  # the envelope's own rules (e.g. version >= 1)
        raise UndecodableMessage("bad-event", f"not a valid event: {exc}") from None


def _data(body: bytes) -> Any:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableMessage(
            "not-utf8", f"body is not UTF-8: byte {body[exc.start]:#04x} at position {exc.start}"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UndecodableMessage("not-json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UndecodableMessage(
            "not-an-object", f"body must be a JSON object, got a JSON {type(data).__name__}"
        )
    return data


def _header(headers: Mapping[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = headers.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        raise UndecodableMessage(
            "bad-header",
            f"header {name} must be a {wanted}, got {type(value).__name__} {value!r}",
        )
    return value

"""Connections: URLs and secrets, connecting with full-jitter backoff, staying connected.

A :class:`Connection` is one AMQP connection that comes back.  It connects
(and reconnects after a failure) with the course's own
:class:`~evtlib.patterns.retry.RetryPolicy`: capped exponential backoff
with *full jitter*, drawn from the runner's seeded ``rng_for``, so many
clients that lose the same broker at the same moment do not all come back
at the same moment (the retry storm notebook 09 warns against).  A wrong
password is not retried: it will not heal.

The broker keeps two: one for consuming and declaring, one for publishing
(:class:`Publisher`), as RabbitMQ advises, because a memory or disk alarm
blocks a *publishing* connection (``connection.blocked``) and would
otherwise stop the consumers' acks too.

The password is never shown: not in a repr, a trace, a log line or an error
message (:func:`redact`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    NackError,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
    UnroutableError,
)

from ...errors import EvtlibError
from ...patterns.retry import RetryPolicy
from ...sim import Scheduler

__all__ = [
    "URL_ENV",
    "DEFAULT_URL",
    "HOW_TO_START",
    "DEFAULT_BACKOFF",
    "NETWORK_ERRORS",
    "BrokerUnavailable",
    "PublishError",
    "Unroutable",
    "redact",
    "resolve_url",
    "scrub",
    "connect",
    "reachable",
    "Connection",
    "Publisher",
]

#: The environment variable read for the connection URL when none is given.
URL_ENV = "EVTLIB_RABBITMQ_URL"
#: The URL used when neither an argument nor :data:`URL_ENV` gives one.
DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
#: How to get a broker, for error messages and skipped tests.
HOW_TO_START = (
    "start one with: apt-get install rabbitmq-server && rabbitmq-server -detached, "
    f"or set {URL_ENV}"
)
#: The waits between connection attempts: 100 ms doubling up to 5 s, full jitter.
DEFAULT_BACKOFF = RetryPolicy(
    max_attempts=1_000, backoff="exponential", base=100.0, cap=5_000.0, jitter="full"
)
#: What a lost connection raises from pika.
NETWORK_ERRORS = (AMQPConnectionError, AMQPChannelError, OSError)
#: A publish that waits longer than this (s) for its confirm may have been
#: blocked by an alarm: the connection's notices are read right after it.
_SLOW_CONFIRM = 0.1


class BrokerUnavailable(EvtlibError):
    """Raised when RabbitMQ cannot be reached, even after retrying."""


class PublishError(EvtlibError):
    """Raised when RabbitMQ refuses (nacks) a published message."""


class Unroutable(PublishError):
    """Raised when RabbitMQ returns a published message: no queue is bound for it."""


# -- connection URLs -------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to show and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def resolve_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$EVTLIB_RABBITMQ_URL``, else :data:`DEFAULT_URL`."""
    chosen = url if url is not None else os.environ.get(URL_ENV) or DEFAULT_URL
    if not isinstance(chosen, str) or urlsplit(chosen).scheme not in ("amqp", "amqps"):
        shown = redact(chosen) if isinstance(chosen, str) else repr(chosen)
        raise ValueError(f"url must start with amqp:// or amqps://, got {shown!r}")
    return chosen


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (plain or %-encoded) replaced by ``***``."""
    password = urlsplit(url).password
    if not password:
        return text
    for secret in {password, unquote(password)}:
        if secret:
            text = text.replace(secret, "***")
    return text


# -- connecting --------------------------------------------------------------------


def connect(
    url: str,
    heartbeat: int = 30,
    *,
    timeout: float = 0.0,
    backoff: RetryPolicy = DEFAULT_BACKOFF,
    rng: random.Random | None = None,
    waits: list[float] | None = None,
) -> pika.BlockingConnection:
    """Connect to ``url``, trying again for up to ``timeout`` ms with ``backoff``'s waits.

    Each wait is ``backoff.delay(attempt, rng)`` ms (full jitter by default:
    anywhere between 0 and the capped exponential bound), appended to
    ``waits`` when given.  Gives up after ``backoff.max_attempts`` attempts
    or when the next wait would end after ``timeout`` (``0``: one attempt);
    a refused login is not retried.  Raises :class:`BrokerUnavailable`, the password redacted.
    """
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.socket_timeout = 5
    deadline = time.monotonic() + timeout / 1000.0
    if rng is None:
        rng = random.Random(0)  # seeded all the same: no unseeded randomness
    attempt, last = 0, "no attempt"
    while True:
        attempt += 1
        try:
            return pika.BlockingConnection(params)
        except AMQPConnectionError as exc:
            detail = str(exc) or ", ".join(repr(a) for a in exc.args) or "no detail"
            last = scrub(f"{type(exc).__name__}: {detail}", url)
            final = isinstance(exc, (ProbableAuthenticationError, ProbableAccessDeniedError))
        final = final or attempt >= backoff.max_attempts or timeout <= 0
        wait = 0.0 if final else backoff.delay(attempt, rng)
        if final or time.monotonic() + wait / 1000 > deadline:
            raise BrokerUnavailable(
                f"cannot reach RabbitMQ at {redact(url)} after {attempt} attempt(s) ({last}); "
                + HOW_TO_START
            )
        if waits is not None:
            waits.append(wait)
        time.sleep(wait / 1000.0)


def reachable(url: str | None = None) -> str | None:
    """``None`` if RabbitMQ answers at ``url``, else why not (the password redacted)."""
    try:
        chosen = resolve_url(url)
        connect(chosen, heartbeat=0, timeout=0).close()  # one attempt
    except (BrokerUnavailable, ValueError) as exc:
        return str(exc)
    return None


class Connection:
    """One AMQP connection that comes back after a failure.

    ``epoch`` counts the connections made: a delivery or a timer from an
    older epoch belongs to a dead connection and is ignored (RabbitMQ gives
    its unacked deliveries back).  After a reconnect ``on_reconnect()`` runs
    (the broker declares its topology again and its groups resume).
    ``waits`` keeps the backoff waits (ms) of every (re)connection.
    """

    def __init__(
        self,
        url: str,
        *,
        sim: Scheduler,
        name: str,
        heartbeat: int,
        backoff: RetryPolicy,
        connect_timeout: float,
        reconnect_timeout: float,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self.sim = sim
        self.name = name
        self.heartbeat = heartbeat
        self.backoff = backoff
        self.reconnect_timeout = reconnect_timeout
        self.rng = sim.rng_for(f"{name}/reconnect")
        self.waits: list[float] = []
        self.reconnects = 0
        self.epoch = 0
        self.broken = False
        self.closed = False
        self._on_reconnect = on_reconnect
        self._conn = connect(
            url, heartbeat, timeout=connect_timeout, backoff=backoff, rng=self.rng, waits=self.waits
        )

    @property
    def is_open(self) -> bool:
        """Whether the current AMQP connection is open."""
        return not self.closed and self._conn.is_open

    def spare(self) -> pika.BlockingConnection:
        """A new, separate connection to the same broker (one attempt; the caller closes it)."""
        return connect(self._url, self.heartbeat, timeout=0)

    def channel(self) -> BlockingChannel:
        """A new channel on the live connection (reconnecting first if it broke)."""
        if self.broken:
            self.reconnect()
        return self._conn.channel()

    def pump(self, seconds: float) -> None:
        """Wait up to ``seconds`` for I/O and run the callbacks it brings; reconnect if lost."""
        if self.closed:
            return
        if self.broken:
            self.reconnect()
        try:
            self._conn.process_data_events(time_limit=seconds)
        except NETWORK_ERRORS:
            self.reconnect()

    def quietly(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call a channel method; a dead connection is noted (reconnect on the next pump)."""
        try:
            fn(*args, **kwargs)
        except AMQPConnectionError:
            self.broken = True
        except AMQPChannelError:
            if not self._conn.is_open:
                self.broken = True

    def lost(self) -> None:
        """Note that the connection died (it is re-made on the next pump or channel)."""
        self.broken = True

    def reconnect(self) -> None:
        """Connect again with the backoff; raise :class:`BrokerUnavailable` after the timeout."""
        sim = self.sim
        self.epoch += 1
        self.broken = False
        try:
            self._conn.close()
        except Exception:  # already dead: closing is only tidying up
            pass
        before = len(self.waits)
        self._conn = connect(
            self._url,
            self.heartbeat,
            timeout=self.reconnect_timeout,
            backoff=self.backoff,
            rng=self.rng,
            waits=self.waits,
        )
        self.reconnects += 1
        waited = self.waits[before:]
        sim.trace.record(
            sim.now,
            "reconnected",
            self.name,
            detail=f"after {len(waited) + 1} attempt(s), waits "
            + ("none" if not waited else ", ".join(f"{w:.0f}" for w in waited) + " ms"),
        )
        if self._on_reconnect is not None:
            self._on_reconnect()

    def close(self) -> None:
        """Close the connection (unacked deliveries go back to their queues)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._conn.close()
        except Exception:  # already closed by the other side
            pass

    def on_blocked(self, blocked: Callable[[str], None], unblocked: Callable[[], None]) -> None:
        """Call ``blocked(reason)`` on ``connection.blocked`` and ``unblocked()`` after it."""
        self._conn.add_on_connection_blocked_callback(
            lambda _conn, frame: blocked(str(frame.method.reason or "an alarm"))
        )
        self._conn.add_on_connection_unblocked_callback(lambda _conn, _frame: unblocked())

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("broken" if self.broken else "open")
        return f"<Connection {self.name} {redact(self._url)} {state} reconnects={self.reconnects}>"


class Publisher:
    """The publishing side: its own connection, one channel with confirms and ``mandatory``.

    :meth:`send` returns when RabbitMQ has confirmed the message.  A message
    no queue is bound for comes back (``basic.return``) and raises
    :class:`Unroutable`; a nack raises :class:`PublishError`.  While a
    memory or disk alarm blocks the connection (``connection.blocked``) the
    publish waits, traced ``blocked`` and then ``unblocked``; a lost
    connection is re-made and the message sent again (the broker may then
    hold it twice: consumers must be idempotent).
    """

    def __init__(self, connection: Connection, *, blocked_timeout: float) -> None:
        self.connection = connection
        self.blocked_timeout = blocked_timeout
        #: The alarm's reason while RabbitMQ blocks the connection, else None.
        self.blocked: str | None = None
        #: How many publishes waited for an alarm, and how long in all (ms).
        self.blocks = 0
        self.blocked_ms = 0.0
        self._was_blocked = False
        self._listening = -1  # the connection epoch whose notices reach us
        self._fast: BlockingChannel | None = None  # no confirms (send_unconfirmed)
        self._fast_epoch = -1
        self._channel = self._open()

    def _open(self) -> BlockingChannel:
        conn = self.connection
        ch = conn.channel()
        ch.confirm_delivery()
        if self._listening != conn.epoch:
            conn.on_blocked(self._on_blocked, self._on_unblocked)
            self._listening = conn.epoch
            self.blocked = None
        return ch

    def _on_blocked(self, reason: str) -> None:
        self.blocked = reason
        self._was_blocked = True

    def _on_unblocked(self) -> None:
        self.blocked = None

    def send(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        props: pika.BasicProperties,
        *,
        actor: str,
        topic: str | None = None,
        partition: int | None = None,
    ) -> None:
        """Publish and wait for the confirm; see the class docstring for what can go wrong."""
        conn = self.connection
        sim = conn.sim
        where = (actor, props.message_id, topic, -1 if partition is None else partition)
        while True:
            if conn.broken or not self._channel.is_open:
                if conn.broken or not conn.is_open:
                    conn.reconnect()
                self._channel = self._open()
            started = sim.now
            self._was_blocked = self.blocked is not None
            if self.blocked is not None:
                self._wait(started, where)
            t0 = time.monotonic()
            try:
                self._channel.basic_publish(exchange, routing_key, body, props, mandatory=True)
            except UnroutableError:
                bound = (
                    f"partition {partition} of topic {topic!r}"
                    if topic is not None
                    else f"routing key {routing_key!r} of exchange {exchange!r}"
                )
                raise Unroutable(
                    f"RabbitMQ returned message {props.message_id} as unroutable: no queue is"
                    f" bound for {bound} (create the consumer group, or the queue, before"
                    " publishing to it)"
                ) from None
            except NackError:
                raise PublishError(
                    f"RabbitMQ refused (nacked) message {props.message_id} to {exchange!r}"
                ) from None
            except NETWORK_ERRORS as exc:
                if conn.is_open:
                    if self._channel.is_open:
                        raise
                    # The broker closed the channel, not the connection (say the
                    # exchange is gone): trying again would fail again.
                    self._channel = self._open()
                    raise PublishError(
                        f"RabbitMQ refused message {props.message_id} to {exchange!r}: {exc}"
                    ) from None
                conn.lost()
                continue
            if not self._was_blocked and time.monotonic() - t0 > _SLOW_CONFIRM:
                # A slow confirm: read the notices that came with it (this
                # connection has no consumers, so no handler runs in here).
                conn.pump(0)
                if self._was_blocked:
                    self._wait(started, where)
            return

    def _wait(self, started: float, where: tuple[str, str | None, str | None, int]) -> None:
        """Trace ``blocked`` (since ``started``), wait for ``unblocked``, trace it."""
        conn = self.connection
        sim = conn.sim
        actor, event_id, topic, p = where
        reason = self.blocked or "an alarm, cleared while the publish waited"
        sim.trace.record(
            started,
            "blocked",
            actor,
            event_id,
            topic,
            p,
            -1,
            f"RabbitMQ blocked publishing: {reason}",
        )
        deadline = time.monotonic() + self.blocked_timeout / 1000.0
        while self.blocked is not None:
            if time.monotonic() > deadline:
                raise PublishError(
                    f"RabbitMQ kept the publishing connection blocked ({self.blocked}) for more"
                    f" than blocked_timeout={self.blocked_timeout:g} ms"
                )
            conn.pump(0.05)
        self.blocks += 1
        waited = sim.now - started
        self.blocked_ms += waited
        sim.trace.record(
            sim.now, "unblocked", actor, event_id, topic, p, -1, f"after {waited:.0f} ms"
        )

    def send_unconfirmed(
        self, exchange: str, routing_key: str, body: bytes, props: pika.BasicProperties
    ) -> bool:
        """Publish without waiting for a confirm (a channel of its own); False if it failed.

        For what may be lost at the price of a duplicate later, never of a
        loss: a group's offset commit (a lost commit means a replay, as when
        Kafka commits asynchronously).
        """
        conn = self.connection
        try:
            if conn.broken or not conn.is_open:
                conn.reconnect()
            if self._fast is None or not self._fast.is_open or self._fast_epoch != conn.epoch:
                self._fast = conn.channel()
                self._fast_epoch = conn.epoch
            self._fast.basic_publish(exchange, routing_key, body, props)
        except NETWORK_ERRORS:
            conn.lost()
            return False
        return True

    def close(self) -> None:
        """Close the publishing connection."""
        self.connection.close()

    def __repr__(self) -> str:
        state = f"blocked ({self.blocked})" if self.blocked else "ready"
        return f"<Publisher {self.connection.name} {state} blocks={self.blocks}>"

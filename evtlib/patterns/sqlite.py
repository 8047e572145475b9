"""Small SQLite helpers the patterns share: explicit transactions, checked connections.

:func:`connect` opens a database whose transactions are explicit;
:func:`transaction` is ``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` on any
exception, whatever the connection's ``isolation_level``;
:func:`check_connection` refuses a closed connection or one with a
transaction already open; :func:`open_db` turns what a constructor was given
(a connection, a path, or None) into a checked connection; :func:`peek`
reads one value for a ``__repr__`` without failing on a closed database.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EvtlibError

__all__ = [
    "connect",
    "check_connection",
    "open_db",
    "transaction",
    "peek",
    "check_amount",
    "check_int64",
    "INT64_MAX",
    "ClosedDatabaseError",
    "is_closed",
]

#: The largest int SQLite stores as an INTEGER (a signed 64-bit integer).
INT64_MAX = 2**63 - 1


class ClosedDatabaseError(EvtlibError, ValueError):
    """Raised when a pattern's SQLite connection is closed: retrying cannot help."""


def connect(path: str = ":memory:", *, param: str = "path") -> sqlite3.Connection:
    """Open a SQLite database whose transactions are explicit (``isolation_level=None``).

    ``path`` is ``":memory:"`` or a file in a folder that exists; SQLite
    creates the file.  ``param`` names the argument in error messages.
    """
    if not isinstance(path, str) or not path:
        raise TypeError(f"{param} must be a non-empty str (a file or ':memory:'), got {path!r}")
    try:
        return sqlite3.connect(path, isolation_level=None)
    except sqlite3.OperationalError as exc:
        # SQLite's own message ("unable to open database file") does not say which file.
        raise ValueError(
            f"{param} must be ':memory:' or a SQLite file in an existing folder that can be"
            f" written to, got {path!r} ({exc})"
        ) from None


def check_connection(db: object, param: str = "db") -> sqlite3.Connection:
    """Return ``db`` if it is an open connection without a pending transaction.

    A closed connection raises :class:`ClosedDatabaseError`, a ``ValueError``
    (rather than SQLite's ``ProgrammingError`` deep inside a simulation step).
    """
    if not isinstance(db, sqlite3.Connection):
        raise TypeError(f"{param} must be a sqlite3.Connection, got {type(db).__name__}: {db!r}")
    try:
        db.execute("SELECT 1")
    except sqlite3.ProgrammingError as exc:
        raise ClosedDatabaseError(
            f"{param} must be an open sqlite3 connection, got a closed one ({exc})"
        ) from None
    if db.in_transaction:
        raise ValueError(
            f"{param} has an open transaction; the patterns begin and commit their own "
            "(open it with evtlib.patterns.connect() or isolation_level=None)"
        )
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` now; ``COMMIT`` at the end of the block, ``ROLLBACK`` if it raises."""
    try:
        db.execute("BEGIN")
    except sqlite3.ProgrammingError as exc:
        raise ClosedDatabaseError(
            f"db must be an open sqlite3 connection, got a closed one ({exc})"
        ) from None
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def peek(db: sqlite3.Connection, sql: str, default: object = "closed") -> object:
    """The first column of the first row of ``sql``, or ``default`` if ``db`` is closed.

    For ``__repr__``: describing an object must not fail because its database is gone.
    """
    try:
        row = db.execute(sql).fetchone()
    except sqlite3.ProgrammingError:
        return default
    return None if row is None else row[0]


def is_closed(db: sqlite3.Connection) -> bool:
    """Whether ``db`` has been closed (a closed connection never reopens)."""
    return peek(db, "SELECT 1") == "closed"


def open_db(db: sqlite3.Connection | str | None, param: str = "db") -> sqlite3.Connection:
    """A checked connection from ``db``: a connection, a file path, or None (in memory)."""
    if db is None:
        db = ":memory:"
    if isinstance(db, str):
        db = connect(db, param=param)
    return check_connection(db, param)


def check_amount(name: str, value: Any) -> None:
    """Refuse an amount SQLite (and the JSON of an event) cannot hold.

    The rule: a number ``>= 0``, finite (JSON has no infinity), and an int
    fits in a signed 64-bit integer, SQLite's INTEGER (at most
    :data:`INT64_MAX`; a larger one would raise ``OverflowError`` inside a
    transaction).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError(
            f"{name} must be a finite number >= 0 (JSON has no infinity), got {value!r}"
        )
    check_int64(name, value)


def check_int64(name: str, value: Any) -> None:
    """Refuse an int SQLite cannot store as an INTEGER (a signed 64-bit integer)."""
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(
            f"{name} must fit in a signed 64-bit integer (SQLite's INTEGER,"
            f" -2**63 to 2**63 - 1), got {value!r}"
        )

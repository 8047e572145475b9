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

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["connect", "check_connection", "open_db", "transaction", "peek"]


def connect(path: str = ":memory:") -> sqlite3.Connection:
    """Open a SQLite database whose transactions are explicit (``isolation_level=None``)."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"path must be a non-empty str (a file or ':memory:'), got {path!r}")
    return sqlite3.connect(path, isolation_level=None)


def check_connection(db: object, param: str = "db") -> sqlite3.Connection:
    """Return ``db`` if it is an open connection without a pending transaction.

    A closed connection raises ``ValueError`` (rather than SQLite's
    ``ProgrammingError`` deep inside a simulation step).
    """
    if not isinstance(db, sqlite3.Connection):
        raise TypeError(f"{param} must be a sqlite3.Connection, got {type(db).__name__}: {db!r}")
    try:
        db.execute("SELECT 1")
    except sqlite3.ProgrammingError as exc:
        raise ValueError(
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
        raise ValueError(
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


def open_db(db: sqlite3.Connection | str | None, param: str = "db") -> sqlite3.Connection:
    """A checked connection from ``db``: a connection, a file path, or None (in memory)."""
    if db is None:
        db = ":memory:"
    if isinstance(db, str):
        db = connect(db)
    return check_connection(db, param)

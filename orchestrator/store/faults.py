"""Which store errors mean "the database is unavailable right now" (worth trying again
later) rather than a bug: lost or refused connections, a server shutting down or restarting,
a locked, full or read-only SQLite file, an I/O error."""

from __future__ import annotations

import sqlite3

# SQLite's primary result codes (the low byte of an extended code) for conditions that pass.
_SQLITE_TRANSIENT = {
    5,  # SQLITE_BUSY: database is locked
    6,  # SQLITE_LOCKED
    7,  # SQLITE_NOMEM
    8,  # SQLITE_READONLY: attempt to write a readonly database
    10,  # SQLITE_IOERR: disk I/O error
    13,  # SQLITE_FULL: database or disk is full
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}


def _postgres_transient() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions as pg  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        return ()
    return (
        pg.InterfaceError,  # includes ConnectionDoesNotExistError: the connection was lost
        pg.PostgresConnectionError,  # class 08
        pg.OperatorInterventionError,  # class 57: admin shutdown, cannot connect now, ...
        pg.InsufficientResourcesError,  # class 53: disk full, too many connections
        pg.DeadlockDetectedError,
        pg.SerializationError,
    )


_POSTGRES_TRANSIENT = _postgres_transient()


def store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or written right now."""
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is an OSError)
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT
        return isinstance(exc, sqlite3.OperationalError)
    return bool(_POSTGRES_TRANSIENT) and isinstance(exc, _POSTGRES_TRANSIENT)

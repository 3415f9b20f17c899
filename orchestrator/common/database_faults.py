"""Which store errors mean "the database is unavailable right now" (an outage worth trying
again later) rather than a bug, and how to say so in plain words.

Background loops retry what ``store_unavailable`` accepts; the API answers it with 503 and
``unavailable_reason``. Driver messages are never shown to clients: they name files, hosts
and internals.
"""

from __future__ import annotations

import sqlite3

from orchestrator.errors import Unavailable


class StoreClosed(Unavailable, RuntimeError):
    """The store was closed (reelay is shutting down) or never opened."""


# SQLite's primary result codes (the low byte of an extended code) for conditions that pass.
_SQLITE_REASONS = {
    5: "the database is locked by another process",  # SQLITE_BUSY
    6: "the database is locked by another process",  # SQLITE_LOCKED
    7: "the database is out of memory",  # SQLITE_NOMEM
    8: "the database files are read-only",  # SQLITE_READONLY
    10: "the database disk failed (I/O error)",  # SQLITE_IOERR
    13: "the database disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
    15: "the database is locked by another process",  # SQLITE_PROTOCOL
}
_SQLITE_WORDS = (
    ("full", _SQLITE_REASONS[13]),
    ("readonly", _SQLITE_REASONS[8]),
    ("read-only", _SQLITE_REASONS[8]),
    ("locked", _SQLITE_REASONS[5]),
    ("unable to open", _SQLITE_REASONS[14]),
    ("disk i/o", _SQLITE_REASONS[10]),
)
# SQLSTATE classes of an outage: connection exception, insufficient resources (disk full, too
# many connections), operator intervention (shutdown, restart), system error.
_POSTGRES_CLASSES = {
    "08": "the connection to the database failed",
    "53": "the database is out of resources (disk, memory or connections)",
    "57": "the database is restarting or shutting down",
    "58": "the database server failed",
}
_POSTGRES_STATES = {
    "25006": "the database is read-only",  # a standby after a failover
    "40001": "the database aborted a conflicting transaction",  # serialization failure
    "40P01": "the database aborted a conflicting transaction",  # deadlock victim
}


def store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or written right now."""
    return unavailable_reason(exc) is not None


def unavailable_reason(exc: BaseException) -> str | None:
    """A short reason if ``exc`` means the database is unavailable; None if it is a bug."""
    if isinstance(exc, StoreClosed):
        return "reelay is shutting down"
    if isinstance(exc, sqlite3.Error):
        return _sqlite_reason(exc)
    if isinstance(exc, TimeoutError):
        return "the database did not answer in time"
    if isinstance(exc, OSError):  # refused, reset, unreachable
        return "the database cannot be reached"
    return _postgres_reason(exc)


def _sqlite_reason(exc: sqlite3.Error) -> str | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return _SQLITE_REASONS.get(code & 0xFF)
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    said = str(exc).lower()  # raised without a result code (by aiosqlite, or a test)
    return next((why for word, why in _SQLITE_WORDS if word in said), "the database failed")


def _postgres_reason(exc: BaseException) -> str | None:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        return None
    if isinstance(exc, asyncpg.InterfaceError):  # ConnectionDoesNotExistError among them
        return "the connection to the database was lost"
    if not isinstance(exc, asyncpg.PostgresError):
        return None
    state = str(getattr(exc, "sqlstate", "") or "")
    return _POSTGRES_STATES.get(state) or _POSTGRES_CLASSES.get(state[:2])

"""Which exceptions mean "the database is away" (an outage, not a bug), said in plain words.

The API answers those with 503 and a short reason; anything else is a bug and stays a 500.
Driver messages are never shown to clients: they name files, hosts and internals.
"""

from __future__ import annotations

import sqlite3


class StoreClosed(RuntimeError):
    """The store was closed (reelay is shutting down) or never opened."""


_SQLITE_REASONS = (
    ("full", "the database disk is full"),
    ("readonly", "the database files are read-only"),
    ("read-only", "the database files are read-only"),
    ("locked", "the database is locked by another process"),
    ("busy", "the database is locked by another process"),
    ("unable to open", "the database file cannot be opened"),
    ("disk i/o", "the database disk failed (I/O error)"),
)
# SQLSTATE classes of an outage: connection exception, insufficient resources (disk full, too
# many connections), operator intervention (shutdown, restart), system error; and a read-only
# transaction (a standby after a failover).
_POSTGRES_CLASSES = {
    "08": "the connection to the database failed",
    "53": "the database is out of resources (disk, memory or connections)",
    "57": "the database is restarting or shutting down",
    "58": "the database server failed",
}


def unavailable_reason(exc: BaseException) -> str | None:
    """A short reason if ``exc`` means the database is unavailable; None if it is not."""
    if isinstance(exc, StoreClosed):
        return "reelay is shutting down"
    if isinstance(exc, sqlite3.Error):
        said = str(exc).lower()
        return next((why for word, why in _SQLITE_REASONS if word in said), "the database failed")
    if isinstance(exc, TimeoutError):
        return "the database did not answer in time"
    if isinstance(exc, OSError):
        return "the database cannot be reached"
    return _postgres_reason(exc)


def _postgres_reason(exc: BaseException) -> str | None:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        return None
    if isinstance(exc, asyncpg.InterfaceError):
        return "the connection to the database was lost"
    if not isinstance(exc, asyncpg.PostgresError):
        return None
    state = str(getattr(exc, "sqlstate", "") or "")
    if state == "25006":
        return "the database is read-only"
    return _POSTGRES_CLASSES.get(state[:2])

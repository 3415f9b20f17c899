"""Durable state. ``open_store`` picks the backend from the database URL.

The store writes what it is given. Layers, each importing only those below it: ``backend``
(what a database offers), the transaction's parts (``*_tx``), ``transaction``, ``writer``
(group commit), ``reads``, and ``facade`` (the ``Store``).
"""

from __future__ import annotations

from orchestrator.store.backend import Backend, Connection
from orchestrator.store.facade import Store
from orchestrator.store.sqlite import SqliteBackend, sqlite_path
from orchestrator.store.transaction import Transaction

__all__ = ["Backend", "Connection", "Store", "Transaction", "open_backend", "open_store"]


async def open_backend(url: str) -> Backend:
    """Open the database named by ``url``, as it is (``open_store`` also migrates it).

    ``sqlite:///path/to/file.db``, or ``postgresql://user:password@host:port/database``
    (also ``postgres://``; needs the ``postgres`` extra).
    """
    if url.startswith("sqlite:"):
        sqlite = SqliteBackend(sqlite_path(url))
        await sqlite.open()
        return sqlite
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from orchestrator.store.postgres import PostgresBackend
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise ValueError(
                "a postgresql:// database URL needs asyncpg: pip install 'reelay[postgres]'"
            ) from exc
        postgres = PostgresBackend(url)
        await postgres.open()
        return postgres
    scheme = url.split(":", 1)[0]
    raise ValueError(
        f"unsupported REELAY_DATABASE_URL scheme {scheme!r}; "
        "use sqlite:///path/to/file.db or postgresql://user:password@host:port/database"
    )


async def open_store(url: str, *, keep_videos: bool = True) -> Store:
    """Open (creating if needed) and migrate the store named by ``url`` (see ``open_backend``);
    ``keep_videos``: see ``Store``."""
    store = Store(await open_backend(url), keep_videos=keep_videos)
    try:
        await store.migrate()
    except BaseException:
        await store.close()
        raise
    return store

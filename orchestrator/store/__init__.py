"""Durable state. ``open_store`` picks the backend from the database URL."""

from __future__ import annotations

from orchestrator.store.base import Backend, Store, Transaction
from orchestrator.store.sqlite import SqliteBackend, sqlite_path

__all__ = ["Store", "Transaction", "open_store"]


async def open_store(url: str) -> Store:
    """Open (creating if needed) and migrate the store named by ``url``.

    ``sqlite:///path/to/file.db``, or ``postgresql://user:password@host:port/database``
    (also ``postgres://``; needs the ``postgres`` extra).
    """
    backend: Backend
    if url.startswith("sqlite:"):
        sqlite = SqliteBackend(sqlite_path(url))
        await sqlite.open()
        backend = sqlite
    elif url.startswith(("postgresql://", "postgres://")):
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
        backend = postgres
    else:
        scheme = url.split(":", 1)[0]
        raise ValueError(
            f"unsupported REELAY_DATABASE_URL scheme {scheme!r}; "
            "use sqlite:///path/to/file.db or postgresql://user:password@host:port/database"
        )
    store = Store(backend)
    try:
        await store.migrate()
    except BaseException:
        await store.close()
        raise
    return store

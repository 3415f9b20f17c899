"""What a database backend (SQLite, PostgreSQL) offers the store: it only runs SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from orchestrator.store.rows import Row

CHUNK = 500
"""Most ids bound into one ``IN (...)`` list."""

T = TypeVar("T")


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def placeholders(items: Sequence[object]) -> str:
    """One ``?`` per item, for an ``IN (...)`` list."""
    return ", ".join("?" * len(items))


class Connection(Protocol):
    """What a backend offers inside one transaction or read."""

    lock_clause: str
    """Appended to selects that claim rows: empty on SQLite, ``FOR UPDATE ...`` on PostgreSQL."""
    skip_locked_clause: str
    like: str
    """A LIKE that ignores case: ``LIKE`` on SQLite (ASCII letters), ``ILIKE`` on PostgreSQL."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def lock(self, name: str) -> None:
        """Hold the named lock until the transaction ends (a no-op with one writer)."""

    async def notify(self, payload: str) -> None:
        """Tell the other replicas, when this transaction commits, that work may be due."""


class Backend(Protocol):
    shared: bool
    """Whether other processes write the same database (and each job is its own transaction)."""

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def reader(self) -> AbstractAsyncContextManager[Connection]: ...

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` aborted a transaction that may simply be run again (a deadlock)."""

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        """Call ``on_notify(payload)`` for every other writer's notification until closed."""

"""Every store test runs on SQLite and on PostgreSQL.

PostgreSQL: each test run creates its own database (``reelay_test_<random>``) through the
maintenance database named by ``REELAY_TEST_POSTGRES_URL`` (default: the local server's
``postgres`` database) and drops it at the end; each test gets a fresh schema in it. Without a
server the PostgreSQL cases are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

from orchestrator.store import Store, open_store

ADMIN_URL_VARIABLE = "REELAY_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin(url: str, *statements: str) -> None:
    """Run ``statements`` on their own connection and event loop (callable from any test)."""

    async def execute() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, execute()).result()


def with_database(url: str, database: str, query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test run."""
    url = os.environ.get(ADMIN_URL_VARIABLE, DEFAULT_ADMIN_URL)
    name = f"reelay_test_{secrets.token_hex(6)}"
    try:
        admin(url, f"CREATE DATABASE {name}")
    except (OSError, asyncpg.CannotConnectNowError) as exc:
        reason = f"no PostgreSQL server answers at {url} ({exc!r}); set {ADMIN_URL_VARIABLE}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    yield with_database(url, name)
    admin(url, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A URL whose connections see only a fresh, empty schema of the run's database."""
    schema = f"t_{secrets.token_hex(6)}"
    admin(pg_database, f"CREATE SCHEMA {schema}")
    return with_database(pg_database, urlsplit(pg_database).path[1:], f"search_path={schema}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'reelay.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = await open_store(store_url)
    yield store
    await store.close()

"""PostgreSQL fixtures for every test package (registered in ``tests/conftest.py``).

The server is reached through the maintenance database named by ``REELAY_TEST_POSTGRES_URL``
(default: the local server's ``postgres`` database). Tests create their own databases there and
drop them afterwards:

- ``pg_database``: one database per test run (``reelay_test_<random>``);
- ``pg_url``: a fresh, empty schema of that database per test (through ``search_path``);
- ``pg_fresh_database``: a whole database of its own per test (``reelay_e2e_<random>``), with
  a plain URL that separate processes can be given (``REELAY_DATABASE_URL``).

Without a server these fixtures skip their test with the reason, except under ``CI=true``,
where they fail it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

ADMIN_URL_VARIABLE = "REELAY_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The maintenance database's URL (``REELAY_TEST_POSTGRES_URL`` or the local default)."""
    return os.environ.get(ADMIN_URL_VARIABLE, DEFAULT_ADMIN_URL)


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
    with _created_database("reelay_test") as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A URL whose connections see only a fresh, empty schema of the run's database."""
    schema = f"t_{secrets.token_hex(6)}"
    admin(pg_database, f"CREATE SCHEMA {schema}")
    return with_database(pg_database, urlsplit(pg_database).path[1:], f"search_path={schema}")


@pytest.fixture
def pg_fresh_database() -> Iterator[str]:
    """The plain URL (``postgresql://user@host:port/reelay_e2e_<random>``) of a database created
    for this test alone and dropped after it, even if processes are still connected to it."""
    with _created_database("reelay_e2e") as url:
        yield url


@contextlib.contextmanager
def _created_database(prefix: str) -> Iterator[str]:
    """Create ``<prefix>_<random>`` (skipping or failing the test without a server), yield its
    URL, drop it ``WITH (FORCE)`` afterwards."""
    url = admin_url()
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        admin(url, f"CREATE DATABASE {name}")
    except (OSError, asyncpg.CannotConnectNowError) as exc:
        reason = f"no PostgreSQL server answers at {url} ({exc!r}); set {ADMIN_URL_VARIABLE}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    try:
        yield with_database(url, name)
    finally:
        admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

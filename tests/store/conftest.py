"""Every store test runs on SQLite and on PostgreSQL.

PostgreSQL: each test run creates its own database (``reelay_test_<random>``) and each test gets
a fresh schema in it (``pg_url``, from ``tests/postgres.py``). Without a server the PostgreSQL
cases are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.store import Store, open_store


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

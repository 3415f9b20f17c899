"""Shared fixtures: settings on a temporary SQLite file, a store, a fake provider; and the
PostgreSQL fixtures of ``tests/postgres.py`` (``pg_database``, ``pg_url``,
``pg_fresh_database``), registered for every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.settings import Settings, load_settings
from orchestrator.store import Store, open_store
from tests.fakes import FakeProvider

pytest_plugins = ["tests.postgres"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
        data_dir=tmp_path / "data",
        _env_file=None,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    store = await open_store(settings.database_url)
    yield store
    await store.close()


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()

"""``open_runtime`` closes what it opened, whatever fails on the way in or out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from orchestrator import runtime
from orchestrator.common.database_faults import StoreClosed
from orchestrator.common.transport import ProviderClient
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.http import Observer
from orchestrator.providers.registry import build_providers
from orchestrator.settings import Settings
from orchestrator.store import Store, open_store
from orchestrator.webhooks.delivery import Deliverer


@dataclass
class Opened:
    """The store and provider clients ``open_runtime`` opened, caught on the way."""

    stores: list[Store] = field(default_factory=list)
    clients: list[ProviderClient] = field(default_factory=list)

    async def all_closed(self) -> bool:
        for store in self.stores:
            try:
                await store.last_event_id()
            except StoreClosed:
                continue
            return False
        return bool(self.stores) and all(client.is_closed for client in self.clients)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Opened:
    caught = Opened()

    async def opening_store(url: str, *, keep_videos: bool = True) -> Store:
        store = await open_store(url, keep_videos=keep_videos)
        caught.stores.append(store)
        return store

    def building_providers(
        configs: Mapping[str, ProviderSettings], *, observe: Observer | None = None
    ) -> tuple[dict[str, Provider], list[ProviderClient]]:
        providers, clients = build_providers(configs, observe=observe)
        caught.clients.extend(clients)
        return providers, clients

    monkeypatch.setattr(runtime, "open_store", opening_store)
    monkeypatch.setattr(runtime, "build_providers", building_providers)
    return caught


async def test_leaving_closes_the_store_and_the_provider_clients(
    settings: Settings, opened: Opened
) -> None:
    async with runtime.open_runtime(settings):
        assert not await opened.all_closed()
    assert await opened.all_closed()


async def test_a_failed_start_closes_what_was_already_open(
    settings: Settings, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Artifact storage failing to open (after the store did) leaves nothing open."""

    def no_storage(settings: Settings) -> None:
        raise OSError("the artifact disk is gone")

    monkeypatch.setattr(runtime, "open_storage", no_storage)
    with pytest.raises(OSError, match="the artifact disk is gone"):
        async with runtime.open_runtime(settings):
            pytest.fail("started without artifact storage")
    assert await opened.all_closed()


async def test_a_store_that_cannot_open_leaves_no_provider_client_open(
    settings: Settings, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_store(url: str, *, keep_videos: bool = True) -> Store:
        raise OSError("the database disk is gone")

    monkeypatch.setattr(runtime, "open_store", no_store)
    with pytest.raises(OSError, match="the database disk is gone"):
        async with runtime.open_runtime(settings):
            pytest.fail("started without a store")
    assert opened.clients
    assert all(client.is_closed for client in opened.clients)


async def test_a_failing_close_does_not_keep_the_rest_open(
    settings: Settings, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook deliverer failing to close is reported, and the store and clients, closed
    after it, are closed all the same."""

    async def broken_close(self: Deliverer) -> None:
        raise RuntimeError("deliverer would not close")

    monkeypatch.setattr(Deliverer, "close", broken_close)
    with pytest.raises(RuntimeError, match="deliverer would not close"):
        async with runtime.open_runtime(settings):
            pass
    assert await opened.all_closed()

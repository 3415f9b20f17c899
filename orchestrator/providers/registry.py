"""Builds the provider adapters from settings, each with its own HTTP client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from orchestrator.common.transport import ProviderClient, provider_client
from orchestrator.providers.apifree import ApifreeProvider
from orchestrator.providers.apimart import ApimartProvider
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.http import HttpClient, Observer
from orchestrator.providers.octopusx import OctopusxProvider


class Factory(Protocol):
    def __call__(
        self,
        settings: ProviderSettings,
        client: HttpClient,
        *,
        observe: Observer | None = None,
    ) -> Provider: ...


ADAPTERS: dict[str, Factory] = {
    "apimart": ApimartProvider,
    "octopusx": OctopusxProvider,
    "apixo": ApixoProvider,
    "apifree": ApifreeProvider,
}


def build_providers(
    configs: Mapping[str, ProviderSettings], *, observe: Observer | None = None
) -> tuple[dict[str, Provider], list[ProviderClient]]:
    """One adapter per configured provider (``Settings.providers()``), and the clients to close
    when reelay stops. ``observe`` is told of every request they make."""
    providers: dict[str, Provider] = {}
    clients: list[ProviderClient] = []
    for name, config in configs.items():
        client = provider_client(
            max_connections=config.max_concurrent_requests, timeout_s=config.timeout_s
        )
        clients.append(client)
        providers[name] = ADAPTERS[name](config, client, observe=observe)
    return providers, clients

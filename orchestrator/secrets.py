"""Secrets reelay needs even when none is configured: generated once, kept in the database.

Kept with reelay's data (not in a local file) so that every replica on one database shares
them and callback URLs stay valid across restarts.
"""

from __future__ import annotations

import secrets
import time

from orchestrator.settings import ConfigError, Settings
from orchestrator.store import Store, Transaction
from orchestrator.webhooks.signing import SecretError, decode_secret, new_secret

SIGNING_SECRET = "callback_signing_secret"  # noqa: S105 - the secret's name, not a secret
WEBHOOK_SECRET = "webhook_secret"  # noqa: S105
DASHBOARD_SECRET = "dashboard_secret"  # noqa: S105 - signs browser sessions


async def stored_secret(store: Store, name: str, candidate: str | None = None) -> str:
    candidate = candidate or secrets.token_urlsafe(32)
    now = time.time()

    async def job(tx: Transaction) -> str:
        return await tx.replicas.secret(name, candidate, now)

    return await store.run(job)


async def signing_secrets(store: Store, settings: Settings) -> list[str]:
    """Newest first: ``REELAY_SIGNING_SECRET`` (comma-separated) or the generated one."""
    if settings.signing_secret is not None:
        configured = [s.strip() for s in settings.signing_secret.get_secret_value().split(",")]
        configured = [s for s in configured if s]
        if configured:
            return configured
    return [await stored_secret(store, SIGNING_SECRET)]


async def webhook_secrets(store: Store, settings: Settings) -> list[str]:
    """Newest first: ``REELAY_WEBHOOK_SECRET`` (comma-separated ``whsec_`` values) or the
    generated one. Every listed secret signs, so receivers can rotate without a gap."""
    if settings.webhook_secret is not None:
        configured = [s.strip() for s in settings.webhook_secret.get_secret_value().split(",")]
        configured = [s for s in configured if s]
        for value in configured:
            try:
                decode_secret(value)
            except SecretError as exc:
                raise ConfigError(f"REELAY_WEBHOOK_SECRET: {exc}") from exc
        if configured:
            return configured
    return [await stored_secret(store, WEBHOOK_SECRET, new_secret())]

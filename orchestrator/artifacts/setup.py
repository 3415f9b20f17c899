"""Choosing the artifact storage from settings, and the credentials downloads need."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from orchestrator.artifacts.local import LocalArtifactStorage
from orchestrator.artifacts.storage import ArtifactStorage
from orchestrator.settings import PROVIDER_NAMES, Settings


def open_storage(settings: Settings) -> ArtifactStorage:
    """S3-compatible storage when a bucket is configured (several replicas), else a directory."""
    if settings.artifact_s3_bucket:
        from orchestrator.artifacts.s3 import S3ArtifactStorage

        key = settings.artifact_s3_access_key_id
        secret = settings.artifact_s3_secret_access_key
        return S3ArtifactStorage(
            bucket=settings.artifact_s3_bucket,
            prefix=settings.artifact_s3_prefix,
            endpoint_url=settings.artifact_s3_endpoint_url,
            region=settings.artifact_s3_region,
            access_key_id=key.get_secret_value() if key else None,
            secret_access_key=secret.get_secret_value() if secret else None,
            staging=settings.data_dir / "staging",
        )
    return LocalArtifactStorage(settings.artifact_root)


def provider_auth(settings: Settings) -> Callable[[str, str], Mapping[str, str]]:
    """A provider's own content route (octopusx/apifree ``/content``) needs its API key;
    CDN links must not get it."""
    prefixes = {
        name: (settings.provider(name).base_url.rstrip("/") + "/", settings.provider(name).api_key)
        for name in PROVIDER_NAMES
    }

    def auth_for(provider: str, url: str) -> Mapping[str, str]:
        prefix, key = prefixes.get(provider, ("", None))
        if key is not None and prefix and url.startswith(prefix):
            return {"Authorization": f"Bearer {key.get_secret_value()}"}
        return {}

    return auth_for

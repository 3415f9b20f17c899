"""Artifacts in an S3-compatible bucket (AWS, MinIO, R2, …): ``<prefix>ab/ab….mp4``, via boto3.

boto3 is optional (``reelay[s3]``) and imported only when this backend is built. It is
synchronous, so every call runs in a worker thread, all through one client (boto3 clients are
thread-safe). Staged files live in a local directory given at construction.

``put`` asks first (HEAD) and uploads only when the object is missing, so stored content is never
sent twice; files above ``multipart_threshold`` go up in parts. Two concurrent ``put``s of the
same digest may both upload: S3 keeps one object, with the same bytes. A process killed during
a multipart upload leaves its parts behind: give the bucket an AbortIncompleteMultipartUpload
lifecycle rule.

S3 answers 403, not 404, for a missing key when the credentials may not list the bucket; grant
``s3:ListBucket`` or missing objects surface as ``StorageUnavailable``. A missing bucket is
indistinguishable from a missing object on HEAD.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from orchestrator.artifacts.storage import (
    CHUNK_SIZE,
    ArtifactError,
    ArtifactMissing,
    StorageUnavailable,
    StoredObject,
    check_key,
    check_range,
    check_staged,
    object_key,
    remove_stale,
)

_MiB = 1024 * 1024
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class _RangeNotSatisfiable(ArtifactError):
    """A range starting past the last byte; ``read`` turns it into an empty stream."""


class S3ArtifactStorage:
    """Content-addressed objects in ``bucket`` under ``prefix``.

    ``endpoint_url`` selects an S3-compatible service; it then defaults to path-style addressing
    and sends checksums only where the API requires them (boto3 >= 1.36 otherwise adds CRC32
    checksums that some S3-compatible services refuse). Without keys, boto3's default credential
    chain applies (environment, instance or pod role).
    """

    def __init__(
        self,
        *,
        bucket: str,
        staging: Path,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        path_style: bool | None = None,
        multipart_threshold: int = 64 * _MiB,
        multipart_chunksize: int = 16 * _MiB,
        max_concurrency: int = 4,
        max_pool_connections: int = 32,
    ) -> None:
        try:
            import boto3
            from boto3.exceptions import Boto3Error
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
            from botocore.exceptions import (
                BotoCoreError,
                ClientError,
            )
        except ImportError as exc:
            raise ImportError("S3 artifact storage needs boto3: install reelay[s3]") from exc
        compatible = endpoint_url is not None
        if path_style is None:
            path_style = compatible
        checksums = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        config = Config(
            region_name=region,
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=max_pool_connections,
            ignore_configured_endpoint_urls=True,
            **(checksums if compatible else {}),
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._transfer: Any = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError, Boto3Error)
        self._client_error: type[Exception] = ClientError
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._staging = staging
        staging.mkdir(parents=True, exist_ok=True)

    async def put(self, staged: Path, sha256: str, size: int, content_type: str) -> StoredObject:
        key = object_key(sha256, content_type)
        await asyncio.to_thread(check_staged, staged, size)
        # An object of another size is damaged (content addressing fixes the size): replace it.
        if await self._stored_size(key) != size:
            await self._run(
                key,
                self._client.upload_file,
                Filename=str(staged),
                Bucket=self._bucket,
                Key=self._prefix + key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )
        await asyncio.to_thread(staged.unlink)
        return StoredObject(sha256=sha256, size=size, content_type=content_type, key=key)

    async def exists(self, sha256: str, content_type: str) -> bool:
        return await self._stored_size(object_key(sha256, content_type)) is not None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_range(start, end)
        params = {"Bucket": self._bucket, "Key": self._prefix + check_key(key)}
        if start or end is not None:  # no Range on whole reads: S3 refuses "bytes=0-" when empty
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = await self._run(key, self._client.get_object, **params)
        except _RangeNotSatisfiable:
            return
        body = response["Body"]
        try:
            while chunk := await self._run(key, body.read, CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    async def size(self, key: str) -> int:
        size = await self._stored_size(check_key(key))
        if size is None:
            raise ArtifactMissing(key)
        return size

    async def delete(self, key: str) -> None:
        await self._run(
            key, self._client.delete_object, Bucket=self._bucket, Key=self._prefix + check_key(key)
        )

    def staging_dir(self) -> Path:
        return self._staging

    async def cleanup_staging(self, older_than_s: float) -> int:
        """Delete staged files left by crashed downloads; how many were deleted."""
        return await asyncio.to_thread(remove_stale, self._staging, older_than_s)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def _stored_size(self, key: str) -> int | None:
        try:
            head = await self._run(
                key, self._client.head_object, Bucket=self._bucket, Key=self._prefix + key
            )
        except ArtifactMissing:
            return None
        return int(head["ContentLength"])

    async def _run(self, key: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call`` in a worker thread, with boto3's errors turned into ours."""
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except self._errors as exc:
            raise self._mapped(exc, key) from exc

    def _mapped(self, exc: Exception, key: str) -> ArtifactError:
        if isinstance(exc, self._client_error):
            error = getattr(exc, "response", {}).get("Error", {})
            if error.get("Code") in _MISSING_CODES:
                return ArtifactMissing(key)
            if error.get("Code") == "InvalidRange":
                return _RangeNotSatisfiable(key)
        return StorageUnavailable(f"S3 {key}: {exc}")

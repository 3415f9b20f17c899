"""Both artifact backends behind one fixture: files on ``tmp_path``, and S3 on a moto server.

The moto server runs in a thread of the test process, on 127.0.0.1 only. The S3 tests share one
backend and start from an empty prefix; every client is given dummy credentials and the endpoint
explicitly, so nothing is read from the environment and nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from orchestrator.artifacts.local import LocalArtifactStorage
from orchestrator.artifacts.s3 import S3ArtifactStorage

BUCKET = "reelay-artifacts"
REGION = "us-east-1"
PART_SIZE = 5 * 1024 * 1024  # the smallest part S3 accepts
SHARED_PREFIX = "shared/"


@dataclass(frozen=True)
class Backend:
    """A storage and a look behind it at what it really holds."""

    name: str
    storage: LocalArtifactStorage | S3ArtifactStorage
    stored_keys: Callable[[], list[str]]
    """Keys of every stored object, read from the files or the bucket listing."""
    store_raw: Callable[[str, bytes], None]
    """Write bytes at a key behind the storage's back (to simulate damage)."""


def s3_client(endpoint: str) -> Any:
    """A plain boto3 client for the moto server, with dummy credentials."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return session.client(
        "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = s3_client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    client.close()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Iterator[Any]:
    client = s3_client(s3_endpoint)
    yield client
    client.close()


def s3_storage(
    endpoint: str, staging: Path, prefix: str, bucket: str = BUCKET
) -> S3ArtifactStorage:
    """The S3 backend as reelay would build it, with multipart from 5 MiB."""
    return S3ArtifactStorage(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=REGION,
        access_key_id="testing",
        secret_access_key="testing",
        staging=staging,
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
    )


def _local_backend(root: Path) -> Backend:
    def stored_keys() -> list[str]:
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and ".staging" not in p.parts
        )

    def store_raw(key: str, data: bytes) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)

    return Backend("local", LocalArtifactStorage(root), stored_keys, store_raw)


@pytest.fixture(scope="session")
def s3_shared(
    s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3ArtifactStorage]:
    """One S3 backend for the session: building a boto3 client takes a quarter of a second."""
    storage = s3_storage(s3_endpoint, tmp_path_factory.mktemp("staging"), SHARED_PREFIX)
    yield storage
    asyncio.run(storage.aclose())


def _s3_backend(storage: S3ArtifactStorage, admin: Any) -> Backend:
    def stored_keys() -> list[str]:
        listing = admin.list_objects_v2(Bucket=BUCKET, Prefix=SHARED_PREFIX)
        return sorted(
            item["Key"].removeprefix(SHARED_PREFIX) for item in listing.get("Contents", [])
        )

    def store_raw(key: str, data: bytes) -> None:
        admin.put_object(Bucket=BUCKET, Key=SHARED_PREFIX + key, Body=data)

    for key in stored_keys():  # start empty, whatever an earlier test left
        admin.delete_object(Bucket=BUCKET, Key=SHARED_PREFIX + key)
    for path in storage.staging_dir().iterdir():
        path.unlink()
    return Backend("s3", storage, stored_keys, store_raw)


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "s3":
        yield _s3_backend(request.getfixturevalue("s3_shared"), request.getfixturevalue("s3_admin"))
        return
    made = _local_backend(tmp_path / "artifacts")
    yield made
    await made.storage.aclose()

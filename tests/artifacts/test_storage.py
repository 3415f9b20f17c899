"""The artifact storage contract, run against the local and the S3 backend alike."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestrator.artifacts.storage import (
    CHUNK_SIZE,
    ArtifactMissing,
    ArtifactStorage,
    StorageUnavailable,
    StoredObject,
    check_key,
    object_key,
)
from tests.artifacts.conftest import PART_SIZE, Backend, s3_storage

MP4 = "video/mp4"
SIZE = 3 * CHUNK_SIZE + 1234


def content(size: int = SIZE, seed: int = 1) -> bytes:
    """Deterministic bytes that differ at every offset and between seeds."""
    return hashlib.shake_256(seed.to_bytes(8, "big")).digest(size)


def stage(storage: ArtifactStorage, data: bytes) -> tuple[Path, str]:
    """Write ``data`` into the staging directory as the downloader would; path and digest."""
    path = storage.staging_dir() / f"{uuid.uuid4().hex}.part"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def put(storage: ArtifactStorage, data: bytes) -> StoredObject:
    path, sha256 = stage(storage, data)
    return await storage.put(path, sha256, len(data), MP4)


async def read_all(
    storage: ArtifactStorage, key: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, end)])


async def test_put_then_read_back_whole(backend: Backend) -> None:
    """A stored file reads back byte for byte under its content-addressed key."""
    data = content()
    path, sha256 = stage(backend.storage, data)
    stored = await backend.storage.put(path, sha256, len(data), MP4)
    assert stored == StoredObject(sha256, len(data), MP4, f"{sha256[:2]}/{sha256}.mp4")
    assert not path.exists()
    assert backend.stored_keys() == [stored.key]
    assert await read_all(backend.storage, stored.key) == data


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 99),
        (0, 0),
        (1000, 1999),
        (CHUNK_SIZE - 10, CHUNK_SIZE + 10),
        (SIZE - 100, SIZE - 1),
        (SIZE - 1, SIZE - 1),
        (SIZE - 100, None),
        (5, None),
        (SIZE - 100, SIZE + 5000),
    ],
)
async def test_read_range(backend: Backend, start: int, end: int | None) -> None:
    """A range reads exactly bytes start..end inclusive, stopping at the last byte."""
    data = content()
    stored = await put(backend.storage, data)
    expected = data[start:] if end is None else data[start : end + 1]
    assert await read_all(backend.storage, stored.key, start, end) == expected


async def test_range_starting_past_the_end_is_empty(backend: Backend) -> None:
    """A range that starts after the last byte yields nothing."""
    stored = await put(backend.storage, content())
    assert await read_all(backend.storage, stored.key, SIZE) == b""
    assert await read_all(backend.storage, stored.key, SIZE + 10, SIZE + 20) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 9)])
async def test_invalid_range_is_refused(backend: Backend, start: int, end: int | None) -> None:
    """A range no Range header can express is a caller bug."""
    stored = await put(backend.storage, content())
    with pytest.raises(ValueError, match="invalid byte range"):
        await read_all(backend.storage, stored.key, start, end)


async def test_read_streams_in_bounded_chunks(backend: Backend) -> None:
    """Reading yields several chunks of at most CHUNK_SIZE bytes, never the whole file at once."""
    stored = await put(backend.storage, content())
    sizes = [len(chunk) async for chunk in backend.storage.read(stored.key)]
    assert sum(sizes) == SIZE
    assert len(sizes) >= 4
    assert max(sizes) <= CHUNK_SIZE


async def test_size_and_exists(backend: Backend) -> None:
    """exists turns true and size reports the byte count once the content is stored."""
    data = content()
    sha256 = hashlib.sha256(data).hexdigest()
    assert not await backend.storage.exists(sha256, MP4)
    stored = await put(backend.storage, data)
    assert await backend.storage.exists(sha256, MP4)
    assert not await backend.storage.exists(sha256, "application/octet-stream")
    assert await backend.storage.size(stored.key) == SIZE


async def test_same_content_twice_is_stored_once(backend: Backend) -> None:
    """A second put of the same content keeps one object and still consumes its staged file."""
    data = content()
    first, sha256 = stage(backend.storage, data)
    second, _ = stage(backend.storage, data)
    one = await backend.storage.put(first, sha256, len(data), MP4)
    two = await backend.storage.put(second, sha256, len(data), MP4)
    assert one == two
    assert not first.exists()
    assert not second.exists()
    assert backend.stored_keys() == [one.key]
    assert await read_all(backend.storage, one.key) == data


async def test_concurrent_puts_of_same_content_store_one_object(backend: Backend) -> None:
    """Concurrent puts of one digest all succeed and leave one object and no staged files."""
    data = content(PART_SIZE + 4321)
    staged = [stage(backend.storage, data) for _ in range(5)]
    results = await asyncio.gather(
        *(backend.storage.put(path, sha256, len(data), MP4) for path, sha256 in staged)
    )
    assert len(set(results)) == 1
    assert backend.stored_keys() == [results[0].key]
    assert list(backend.storage.staging_dir().iterdir()) == []
    assert await read_all(backend.storage, results[0].key) == data


async def test_different_contents_are_stored_apart(backend: Backend) -> None:
    """Two contents give two objects, each reading back as itself."""
    one = await put(backend.storage, content(seed=1))
    two = await put(backend.storage, content(seed=2))
    assert backend.stored_keys() == sorted([one.key, two.key])
    assert await read_all(backend.storage, two.key) == content(seed=2)


async def test_damaged_object_is_replaced(backend: Backend) -> None:
    """An existing object of the wrong size is overwritten by the next put of that content."""
    data = content()
    key = object_key(hashlib.sha256(data).hexdigest(), MP4)
    backend.store_raw(key, data[:100])
    await put(backend.storage, data)
    assert await backend.storage.size(key) == SIZE
    assert await read_all(backend.storage, key) == data


async def test_put_refuses_a_staged_file_of_the_wrong_size(backend: Backend) -> None:
    """A staged file whose size differs from the one declared is refused and left in place."""
    data = content()
    path, sha256 = stage(backend.storage, data)
    with pytest.raises(ValueError, match="expected"):
        await backend.storage.put(path, sha256, len(data) + 1, MP4)
    assert path.exists()
    assert backend.stored_keys() == []


async def test_delete_then_read_raises_missing(backend: Backend) -> None:
    """A deleted object is gone for read, size and exists, and deleting it again is fine."""
    stored = await put(backend.storage, content())
    await backend.storage.delete(stored.key)
    assert backend.stored_keys() == []
    assert not await backend.storage.exists(stored.sha256, MP4)
    with pytest.raises(ArtifactMissing):
        await read_all(backend.storage, stored.key)
    with pytest.raises(ArtifactMissing):
        await backend.storage.size(stored.key)
    await backend.storage.delete(stored.key)


async def test_missing_key_raises_missing(backend: Backend) -> None:
    """Reading, ranging or sizing a key that was never stored raises ArtifactMissing."""
    key = object_key("ab" * 32, MP4)
    with pytest.raises(ArtifactMissing):
        await read_all(backend.storage, key)
    with pytest.raises(ArtifactMissing):
        await read_all(backend.storage, key, 10, 20)
    with pytest.raises(ArtifactMissing):
        await backend.storage.size(key)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ab/cd" + "0" * 62 + ".mp4", "ab/ab", ""])
async def test_malformed_key_is_refused(backend: Backend, key: str) -> None:
    """A key object_key could not have made is refused before the backend is asked."""
    with pytest.raises(ValueError, match="not an artifact key"):
        await read_all(backend.storage, key)
    with pytest.raises(ValueError, match="not an artifact key"):
        await backend.storage.size(key)
    with pytest.raises(ValueError, match="not an artifact key"):
        await backend.storage.delete(key)


def test_frames_are_kept_as_png() -> None:
    """A frame's key ends in .png, and a key of that form is accepted back."""
    sha256 = hashlib.sha256(b"frame").hexdigest()
    key = object_key(sha256, "image/png")
    assert key == f"{sha256[:2]}/{sha256}.png"
    assert check_key(key) == key
    assert object_key(sha256, "application/x-unknown").endswith(".bin")


async def test_a_png_round_trips(backend: Backend) -> None:
    """A frame is stored under its .png key and reads back byte for byte."""
    data = content(4096, seed=3)
    path, sha256 = stage(backend.storage, data)
    stored = await backend.storage.put(path, sha256, len(data), "image/png")
    assert stored.key == f"{sha256[:2]}/{sha256}.png"
    assert backend.stored_keys() == [stored.key]
    assert await read_all(backend.storage, stored.key) == data


async def test_empty_file_round_trips(backend: Backend) -> None:
    """An empty file stores and reads back as empty."""
    stored = await put(backend.storage, b"")
    assert await backend.storage.size(stored.key) == 0
    assert await read_all(backend.storage, stored.key) == b""


async def test_large_file_round_trips(backend: Backend) -> None:
    """A file above the multipart threshold reads back with the same SHA-256."""
    data = os.urandom(PART_SIZE + 123_457)
    stored = await put(backend.storage, data)
    digest = hashlib.sha256()
    async for chunk in backend.storage.read(stored.key):
        digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    assert await backend.storage.size(stored.key) == len(data)


async def test_cleanup_staging_removes_only_old_files(backend: Backend) -> None:
    """cleanup_staging deletes staged files older than the limit and keeps fresh ones."""
    staging = backend.storage.staging_dir()
    old, fresh = staging / "crashed.part", staging / "downloading.part"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert await backend.storage.cleanup_staging(older_than_s=600) == 1
    assert not old.exists()
    assert fresh.exists()


async def test_local_objects_are_files_at_their_key(tmp_path: Path) -> None:
    """The local backend keeps each object as root/key with no leftovers in staging."""
    from orchestrator.artifacts.local import LocalArtifactStorage

    storage = LocalArtifactStorage(tmp_path)
    data = content()
    stored = await put(storage, data)
    assert (tmp_path / stored.key).read_bytes() == data
    assert list(storage.staging_dir().iterdir()) == []


async def test_s3_objects_live_under_the_prefix_with_their_type(
    s3_endpoint: str, s3_admin: Any, tmp_path: Path
) -> None:
    """S3 objects sit at prefix + key with their content type; large ones arrive in parts."""
    prefix = f"videos-{uuid.uuid4().hex}"
    storage = s3_storage(s3_endpoint, tmp_path, prefix=f"/{prefix}/")
    stored = await put(storage, os.urandom(PART_SIZE + 1))
    head = s3_admin.head_object(Bucket="reelay-artifacts", Key=f"{prefix}/{stored.key}")
    assert head["ContentType"] == MP4
    assert head["ETag"].strip('"').endswith("-2")
    await storage.aclose()


async def test_s3_failure_raises_unavailable_and_keeps_the_staged_file(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """A bucket that does not exist makes put fail as StorageUnavailable, keeping the file."""
    storage = s3_storage(s3_endpoint, tmp_path, prefix="", bucket="no-such-bucket")
    path, sha256 = stage(storage, b"video")
    with pytest.raises(StorageUnavailable):
        await storage.put(path, sha256, 5, MP4)
    assert path.exists()
    with pytest.raises(StorageUnavailable):
        await read_all(storage, object_key(sha256, MP4))
    await storage.aclose()


def test_s3_without_boto3_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the S3 backend without boto3 installed names the extra to install."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r"install reelay\[s3\]"):
        s3_storage("http://127.0.0.1:9", tmp_path, prefix="")


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [("video/mp4", ".mp4"), ("Video/MP4; codecs=avc1", ".mp4"), ("application/json", ".bin")],
)
def test_object_key_shards_by_digest_and_names_the_type(content_type: str, extension: str) -> None:
    """The key is the digest under its first two hex digits, with an extension for the type."""
    sha256 = hashlib.sha256(b"x").hexdigest()
    assert object_key(sha256, content_type) == f"{sha256[:2]}/{sha256}{extension}"


@pytest.mark.parametrize(
    "sha256",
    ["", "ab" * 31, "ab" * 33, "AB" * 32, "g" * 64, "../" + "a" * 61, "a" * 63 + "\n"],
)
def test_object_key_refuses_anything_but_a_sha256_digest(sha256: str) -> None:
    """A digest that is not 64 lowercase hex digits is refused."""
    with pytest.raises(ValueError, match="SHA-256"):
        object_key(sha256, MP4)

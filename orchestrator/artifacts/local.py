"""Artifacts as files under one root directory: ``<root>/ab/ab….mp4``.

Staged files live in ``<root>/.staging``, on the same filesystem, so ``put`` is one atomic
rename: readers see no object or the whole object, never part of one. The file is fsynced before
the rename and its directory after, so an object ``put`` returned survives a power cut.

Two concurrent ``put``s of the same digest both rename into place; the second replaces the first
with identical bytes, and a reader already holding the first keeps reading it. Every blocking
call runs in a worker thread, a chunk at a time when reading.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from orchestrator.artifacts.storage import (
    CHUNK_SIZE,
    ArtifactMissing,
    StorageUnavailable,
    StoredObject,
    check_key,
    check_range,
    check_staged,
    object_key,
    remove_stale,
)


class LocalArtifactStorage:
    """Content-addressed files under ``root``; creates ``root`` and its staging directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._staging = root / ".staging"
        self._staging.mkdir(parents=True, exist_ok=True)

    async def put(self, staged: Path, sha256: str, size: int, content_type: str) -> StoredObject:
        key = object_key(sha256, content_type)
        await asyncio.to_thread(self._put, staged, self._root / key, size)
        return StoredObject(sha256=sha256, size=size, content_type=content_type, key=key)

    def _put(self, staged: Path, target: Path, size: int) -> None:
        check_staged(staged, size)
        try:
            if _size_or_none(target) == size:
                staged.unlink()
                return
            # An object of another size is damaged (content addressing fixes the size): replace it.
            _fsync(staged, os.O_RDONLY)
            if not target.parent.is_dir():
                target.parent.mkdir(exist_ok=True)
                _fsync(self._root, os.O_RDONLY | os.O_DIRECTORY)
            os.replace(staged, target)
            _fsync(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StorageUnavailable(f"storing {target}: {exc}") from exc

    async def exists(self, sha256: str, content_type: str) -> bool:
        return await asyncio.to_thread((self._root / object_key(sha256, content_type)).is_file)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_range(start, end)
        path = self._root / check_key(key)
        with _reading(key):
            file = await asyncio.to_thread(_open_at, path, start)
        try:
            position, stop = start, None if end is None else end + 1
            while True:
                wanted = CHUNK_SIZE if stop is None else min(CHUNK_SIZE, stop - position)
                if wanted <= 0:
                    return
                with _reading(key):
                    chunk = await asyncio.to_thread(file.read, wanted)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            file.close()

    async def size(self, key: str) -> int:
        path = self._root / check_key(key)
        with _reading(key):
            stat = await asyncio.to_thread(path.stat)
        return stat.st_size

    async def delete(self, key: str) -> None:
        path = self._root / check_key(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"deleting {key}: {exc}") from exc

    def staging_dir(self) -> Path:
        return self._staging

    async def cleanup_staging(self, older_than_s: float) -> int:
        """Delete staged files left by crashed downloads; how many were deleted.

        ``older_than_s`` must exceed the longest pause a live download can take between writes.
        """
        return await asyncio.to_thread(remove_stale, self._staging, older_than_s)

    async def aclose(self) -> None:
        return None


@contextmanager
def _reading(key: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as exc:
        raise ArtifactMissing(key) from exc
    except OSError as exc:
        raise StorageUnavailable(f"reading {key}: {exc}") from exc


def _open_at(path: Path, start: int) -> BinaryIO:
    file = path.open("rb", buffering=0)
    file.seek(start)
    return file


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

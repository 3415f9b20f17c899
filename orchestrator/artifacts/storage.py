"""Where downloaded videos (and frames taken from them) live: one contract, content-addressed
keys, and the errors.

An artifact is stored once per SHA-256 under ``object_key``: ``ab/abcdef….mp4`` (``.png`` for
a frame). The key is the same on every backend (a backend may add its own prefix), so it can be
recorded as is.

The downloader streams into a file in ``staging_dir()`` while hashing it, then hands the finished
file to ``put``, which moves or uploads it and always consumes it on success. The API serves
``read`` with HTTP Range semantics.

    ArtifactError                every storage error
    ├── ArtifactMissing          no object at that key: answer 404
    └── StorageUnavailable       the backend failed (I/O error, S3 unreachable or refusing):
                                 keep the staged file and try again later

Malformed keys, SHA-256 digests and ranges are caller bugs and raise ``ValueError``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.errors import NotFound, ReelayError, Unavailable

CHUNK_SIZE = 64 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"([0-9a-f]{2})/(\1[0-9a-f]{62})(\.[a-z0-9]{1,8})?")
_EXTENSIONS = {"video/mp4": ".mp4", "image/png": ".png"}


class ArtifactError(ReelayError):
    """Base of every storage error."""


class ArtifactMissing(ArtifactError, NotFound):
    """No object is stored at the key."""


class StorageUnavailable(ArtifactError, Unavailable):
    """The backend failed; the same call may succeed later."""

    reason = "the video storage is unavailable"


@dataclass(frozen=True, slots=True)
class StoredObject:
    sha256: str
    size: int
    content_type: str
    key: str


def object_key(sha256: str, content_type: str) -> str:
    """The key of the content with this digest: ``ab/ab….mp4`` (``.bin`` for unknown types)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256 digest: {sha256!r}")
    media_type = content_type.partition(";")[0].strip().lower()
    return f"{sha256[:2]}/{sha256}{_EXTENSIONS.get(media_type, '.bin')}"


def check_key(key: str) -> str:
    """``key`` if ``object_key`` could have made it; it can never point outside a backend's root."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not an artifact key: {key!r}")
    return key


def check_range(start: int, end: int | None) -> None:
    """Refuse ranges that no HTTP ``Range`` header can express."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range: {start}-{end}")


def check_staged(staged: Path, size: int) -> None:
    """Refuse a staged file whose size is not the one the downloader counted."""
    actual = staged.stat().st_size
    if actual != size:
        raise ValueError(f"{staged} holds {actual} bytes, expected {size}")


def remove_stale(staging: Path, older_than_s: float) -> int:
    """Delete staged files untouched for ``older_than_s`` seconds; how many were deleted."""
    cutoff = time.time() - older_than_s
    removed = 0
    with os.scandir(staging) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # put or another cleanup got there first
                continue
    return removed


class ArtifactStorage(Protocol):
    """A content-addressed store of artifacts."""

    async def put(self, staged: Path, sha256: str, size: int, content_type: str) -> StoredObject:
        """Store a fully written staged file and delete it.

        If an object with this digest (and size) is already stored it is kept and the staged file
        is just deleted: nothing is stored twice. Idempotent, and safe to call concurrently for
        the same digest. On error the staged file is left in place.
        """
        ...

    async def exists(self, sha256: str, content_type: str) -> bool: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``start`` to ``end`` inclusive (to the last byte when ``end`` is None).

        Chunks are at most ``CHUNK_SIZE`` bytes. An ``end`` past the last byte stops at the last
        byte; a ``start`` past it yields nothing. Nothing is opened until the first iteration, so
        ``ArtifactMissing`` is raised there: check ``size`` first to answer 404 before streaming.
        """
        ...

    async def size(self, key: str) -> int:
        """The stored object's size in bytes; ``ArtifactMissing`` if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing one is not an error."""
        ...

    def staging_dir(self) -> Path:
        """The local directory the downloader writes staged files into."""
        ...

    async def aclose(self) -> None: ...

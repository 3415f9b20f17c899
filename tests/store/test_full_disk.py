"""SQLite on a filesystem that fills up: writes fail while it is full, and work again (the
group-commit writer is not left inside a failed transaction) once space is freed."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.common.database_faults import store_unavailable
from orchestrator.store import Transaction, open_store


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (skips the test where mounting is refused)."""
    where = tmp_path / "fs"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the filesystem has no space left."""
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 65536)


async def test_writes_work_again_after_the_disk_was_full(tiny_fs: Path) -> None:
    store = await open_store(f"sqlite:///{tiny_fs / 'reelay.db'}")
    try:
        blob = "x" * 20_000

        async def write(tx: Transaction) -> str:
            return await tx.replicas.secret(f"k{len(written)}", blob, 0.0)

        written: list[str] = []
        filler = tiny_fs / "filler"
        fill(filler)
        with pytest.raises(sqlite3.OperationalError) as full:
            await store.run(write)
        assert store_unavailable(full.value)
        filler.unlink()
        written.append(await store.run(write))
        written.append(await store.run(write))
        assert written == [blob, blob]
    finally:
        await store.close()

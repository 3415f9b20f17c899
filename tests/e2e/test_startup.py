"""Start-up refusals from real ``reelay`` processes: one line on stderr, exit code 2, no
traceback, no hang; and a refused second ``reelay serve`` leaves the first one working."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import reelay_process
from tests.loopback import free_port

pytestmark = pytest.mark.slow

GUARD_S = 60.0  # only so that a process that hangs fails the test instead of the run


def env_for(folder: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("REELAY_")},
        "REELAY_DATABASE_URL": database_url or f"sqlite:///{folder / 'reelay.db'}",
        "REELAY_DATA_DIR": str(folder / "data"),
        "REELAY_API_PORT": str(free_port()),
        "REELAY_PUBLIC_PORT": str(free_port()),
        "REELAY_LOG_LEVEL": "warning",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


async def reelay(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``reelay <args>`` to its end: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GUARD_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"reelay {' '.join(args)} did not exit within {GUARD_S} s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def refused(*args: str, env: dict[str, str]) -> str:
    """The one line of a ``reelay <args>`` refused at start."""
    code, _, err = await reelay(*args, env=env)
    return one_refusal(code, err)


def one_refusal(code: int, err: str) -> str:
    """The single line a refused start prints; fails on anything more."""
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reelay: cannot start: "), err
    return lines[0]


async def test_a_second_serve_is_refused_and_the_first_keeps_working(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    api_url = f"http://127.0.0.1:{env['REELAY_API_PORT']}"
    async with reelay_process(env, api_url) as first, httpx.AsyncClient(base_url=api_url) as api:
        # Same folder, same ports: the port is found taken before the database is touched.
        line = await refused("serve", env=env)
        assert f"port {env['REELAY_API_PORT']} on 127.0.0.1 (REELAY_API_PORT)" in line
        assert "already in use" in line

        # Same folder, free ports: the SQLite file is held by the first.
        other_ports = {**env, "REELAY_API_PORT": str(free_port())}
        other_ports["REELAY_PUBLIC_PORT"] = str(free_port())
        line = await refused("serve", env=other_ports)
        assert f"another reelay process (pid {first.pid})" in line
        assert str(tmp_path / "reelay.db") in line
        assert "REELAY_DATABASE_URL=postgresql://" in line

        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/readyz")).status_code == 200  # the database takes a write
        assert (await api.get("/v1/pipelines")).status_code == 200

        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), GUARD_S) == 0


async def test_an_unsupported_database_url_is_one_line(tmp_path: Path) -> None:
    line = await refused("serve", env=env_for(tmp_path, "mysql://reelay:pw@db/reelay"))
    assert "REELAY_DATABASE_URL has the unsupported scheme 'mysql'" in line


async def test_postgresql_on_a_closed_port_names_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://reelay:pw@127.0.0.1:{port}/reelay"
    line = await refused("serve", env=env_for(tmp_path, url))
    assert f"PostgreSQL at 127.0.0.1:{port} (REELAY_DATABASE_URL) refused the connection" in line


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A small tmpfs at ``where`` (skips the test where mounting is refused)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write: a read-only tmpfs for root (who ignores modes), else 0555."""
    if os.geteuid() != 0:
        where = tmp_path / "read-only"
        where.mkdir(mode=0o555)
        yield where
        where.chmod(0o755)
        return
    with tmpfs(tmp_path / "read-only", "ro,size=1m") as where:
        yield where


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs filled to the last byte."""
    with tmpfs(tmp_path / "full", "size=1m") as where:
        with contextlib.suppress(OSError), (where / "filler").open("wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)
        yield where


async def test_sqlite_in_a_read_only_folder_is_one_line(
    tmp_path: Path, read_only_folder: Path
) -> None:
    env = env_for(tmp_path, f"sqlite:///{read_only_folder / 'reelay.db'}")
    line = await refused("serve", env=env)
    assert f"cannot write {read_only_folder / 'reelay.db.lock'}" in line
    assert "REELAY_DATABASE_URL" in line


async def test_sqlite_on_a_full_disk_is_one_line_and_the_process_exits(
    tmp_path: Path, full_disk: Path
) -> None:
    env = env_for(tmp_path, f"sqlite:///{full_disk / 'reelay.db'}")
    line = await refused("serve", env=env)
    assert f"the disk holding the SQLite database {full_disk / 'reelay.db'}" in line
    assert "is full; free space there" in line


async def test_a_sandbox_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = await reelay("sandbox", "--port", str(port), env=env_for(tmp_path))
    line = one_refusal(code, err)
    assert f"port {port} on 127.0.0.1 (--port) is already in use" in line
    assert out == ""  # not the line announcing a sandbox that is not there


@contextlib.asynccontextmanager
async def running_demo(folder: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``reelay demo`` with slow tasks, once it has printed its header (reelay is serving)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "demo",
        "--dir",
        str(folder),
        "--task-seconds",
        "120",
        env=env_for(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        while (line := await asyncio.wait_for(proc.stdout.readline(), GUARD_S)) != b"reelay demo\n":
            assert line, "the first demo ended before it started"
        yield proc
    finally:
        proc.kill()
        await proc.wait()


async def test_a_second_demo_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    async with running_demo(folder) as first:
        line = await refused("demo", "--dir", str(folder), env=env_for(folder))
    assert f"another reelay process (pid {first.pid}) is using the SQLite database" in line
    assert str(folder / "reelay.db") in line

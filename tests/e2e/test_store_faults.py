"""Database faults mid-run: reelay stays up, waits them out, and finishes every pipeline once.

PostgreSQL is reached through a proxy that cuts and refuses connections (the machine's server
is never restarted); SQLite lives on a small tmpfs that is filled up, or its writer is made
read-only. Each test ends with every pipeline succeeded, no step submitted twice, none held
as ambiguous, and reelay still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from orchestrator.runtime import serve
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import PROVIDER_NAMES, load_settings
from orchestrator.store.sqlite import SqliteBackend
from tests.e2e.helpers import (
    assert_submitted_once,
    chain_body,
    provider_env,
    provider_overrides,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox
from tests.proxy import faulty_proxy

pytestmark = pytest.mark.slow

PER_PROVIDER = 4  # x 4 providers x 3 steps = 48 submits
FAULT_AFTER_SUBMITS = 8  # the fault strikes once the run is under way
SANDBOX = SandboxConfig(task_seconds=0.3, seed=13)


def base_env(database_url: str, sandbox: str, data: Path, api_port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("REELAY_")},
        "REELAY_DATABASE_URL": database_url,
        "REELAY_DATA_DIR": str(data),
        "REELAY_API_PORT": str(api_port),
        "REELAY_PUBLIC_PORT": str(free_port()),
        "REELAY_LOG_LEVEL": "warning",
        **provider_env(sandbox),
    }


def read(log_file: Path) -> str:
    return log_file.read_text(errors="replace")


@contextlib.asynccontextmanager
async def reelay_serve(
    env: dict[str, str], api_url: str, log_file: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`reelay serve` with its log in ``log_file``; killed at the end if still running."""
    with log_file.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator.cli", "serve", env=env, stderr=log, stdout=log
        )
        try:
            async with httpx.AsyncClient() as client:

                async def healthy() -> bool:
                    if proc.returncode is not None:
                        raise AssertionError(f"reelay serve exited on start: {read(log_file)}")
                    with contextlib.suppress(httpx.HTTPError):
                        return (await client.get(api_url + "/healthz")).status_code == 200
                    return False

                await eventually(healthy, within=30, what="reelay serve to start", every=0.05)
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def create_pipelines(client: httpx.AsyncClient) -> list[str]:
    ids = []
    for n in range(PER_PROVIDER):
        for name in PROVIDER_NAMES:
            response = await client.post("/v1/pipelines", json=chain_body(name, n))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


async def under_way(sandbox: str) -> None:
    async def submitted() -> bool:
        return len(await sandbox_tasks(sandbox)) >= FAULT_AFTER_SUBMITS

    await eventually(submitted, within=30, what="a first wave of submits", every=0.02)


async def finish_and_check(client: httpx.AsyncClient, ids: list[str], sandbox: str) -> None:
    """Every pipeline succeeds, each step was submitted once, none is held."""

    async def all_done() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            for status in ("pending", "running"):
                page = await client.get("/v1/pipelines", params={"status": status, "limit": 1})
                if page.status_code != 200 or page.json()["items"]:
                    return False
            return True
        return False

    await eventually(
        all_done, within=60, what="every pipeline to finish after the fault", every=0.1
    )
    pipelines: list[dict[str, Any]] = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
    held = [s for p in pipelines for s in p["steps"] if s["status"] == "ambiguous"]
    assert held == []
    assert {p["status"] for p in pipelines} == {"succeeded"}
    assert_submitted_once(pipelines, await sandbox_tasks(sandbox))


async def log_says(log_file: Path, text: str) -> None:
    async def said() -> bool:
        return text in read(log_file)

    await eventually(said, within=30, what=f"the log to say {text!r}", every=0.05)


@pytest.mark.postgres
async def test_postgres_connections_cut_then_refused(
    pg_fresh_database: str, tmp_path: Path
) -> None:
    """Mid-run every database connection is reset, then connections are refused for a few
    seconds (a server restart, a failover), then let through: `reelay serve` keeps running,
    says once that it lost the database and once that it is back, and finishes everything."""
    parts = urlsplit(pg_fresh_database)
    assert parts.port is not None
    async with (
        running_sandbox(SANDBOX) as sandbox,
        faulty_proxy(parts.port) as proxy,
    ):
        through_proxy = urlunsplit(
            parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")
        )
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        env = base_env(through_proxy, sandbox, tmp_path / "data", api_port)
        log_file = tmp_path / "serve.log"
        async with (
            reelay_serve(env, api_url, log_file) as proc,
            httpx.AsyncClient(base_url=api_url) as client,
        ):
            ids = await create_pipelines(client)
            await under_way(sandbox)
            assert proxy.drop() > 0
            await proxy.refuse()
            await log_says(log_file, "retrying with backoff")
            sent_during = len(await sandbox_tasks(sandbox))
            await asyncio.sleep(3)  # the outage itself; nothing below depends on its length
            await proxy.admit()
            await finish_and_check(client, ids, sandbox)
            assert proc.returncode is None, read(log_file)
        log = read(log_file)
        assert sent_during < 3 * len(ids), "the fault struck too late to prove anything"
        assert "Traceback" not in log, log


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Any:
    """A tmpfs of ``size`` mounted at ``where`` (skips the test where mounting is refused)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_sqlite_on_a_full_filesystem(tmp_path: Path) -> None:
    """The database's filesystem (a real tmpfs) fills up mid-run: SQLite answers "database or
    disk is full" to every write until space is freed. `reelay serve` keeps running, waits,
    and finishes everything once the filler file is deleted."""
    with small_tmpfs(tmp_path / "fs", "16m") as fs:
        async with running_sandbox(SANDBOX) as sandbox:
            api_port = free_port()
            api_url = f"http://127.0.0.1:{api_port}"
            env = base_env(f"sqlite:///{fs / 'reelay.db'}", sandbox, tmp_path / "data", api_port)
            log_file = tmp_path / "serve.log"
            async with (
                reelay_serve(env, api_url, log_file) as proc,
                httpx.AsyncClient(base_url=api_url) as client,
            ):
                ids = await create_pipelines(client)
                await under_way(sandbox)
                filler = fs / "filler"
                dd = await asyncio.create_subprocess_exec(
                    "dd", "if=/dev/zero", f"of={filler}", "bs=64k", stderr=subprocess.DEVNULL
                )
                await dd.wait()  # ends at "No space left on device"
                await log_says(log_file, "database or disk is full")
                filler.unlink()
                await finish_and_check(client, ids, sandbox)
                assert proc.returncode is None, read(log_file)
            assert "Traceback" not in read(log_file)


async def test_sqlite_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database turns read-only mid-run: every write fails with SQLite's "attempt to write
    a readonly database", then writes work again.

    A read-only remount cannot be done to a filesystem with files open for writing (the kernel
    answers EBUSY), so the fault is injected where SQLite reports it: ``PRAGMA query_only`` on
    reelay's writer connection, which makes SQLite refuse every write with exactly the error
    (SQLITE_READONLY) that a read-only database file gives. reelay's `serve` runs in this
    process for that; it must still be running at the end."""
    backends: list[SqliteBackend] = []
    real_open = SqliteBackend.open

    async def open_and_keep(self: SqliteBackend) -> None:
        await real_open(self)
        backends.append(self)

    monkeypatch.setattr(SqliteBackend, "open", open_and_keep)
    caplog.set_level(logging.WARNING)
    async with running_sandbox(SANDBOX) as sandbox:
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            api_port=api_port,
            public_port=free_port(),
            _env_file=None,
            **provider_overrides(sandbox),
        )
        started, stop = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(serve(settings, started=started, stop=stop))
        try:
            await asyncio.wait_for(started.wait(), 20)
            writer = backends[0]._writer  # the fault is injected here
            assert writer is not None
            async with httpx.AsyncClient(base_url=api_url) as client:
                ids = await create_pipelines(client)
                await under_way(sandbox)
                await writer.execute("PRAGMA query_only = ON")

                async def refused() -> bool:
                    return "readonly database" in caplog.text

                await eventually(refused, within=30, what="writes to be refused", every=0.1)
                await writer.execute("PRAGMA query_only = OFF")
                await finish_and_check(client, ids, sandbox)
            assert not serving.done()
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("reelay.")]

"""``reelay demo --keep``: after the results it goes on serving the dashboard until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port

pytestmark = pytest.mark.slow

GUARD_S = 120.0  # only so that a process that hangs fails the test instead of the run


async def test_demo_keep_serves_the_dashboard_until_interrupted(tmp_path: Path) -> None:
    """The header names the dashboard; after the results it still answers; SIGINT ends it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELAY_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "demo",
        "--dir",
        str(tmp_path / "demo"),
        "--task-seconds",
        "0.3",
        "--keep",
        "--port",
        str(port),
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or "stays at" not in lines[-1]:
            line = (await asyncio.wait_for(proc.stdout.readline(), GUARD_S)).decode()
            assert line, f"the demo ended before it kept serving: {''.join(lines)}"
            lines.append(line)
        text = "".join(lines)
        assert f"dashboard http://127.0.0.1:{port}/ui/" in text
        assert re.search(r"apifree\s+pl_\w+ succeeded", text)
        async with httpx.AsyncClient() as client:
            page = await client.get(f"http://127.0.0.1:{port}/ui/pipelines")
        assert page.status_code == 200
        assert page.text.count('class="badge status-succeeded"') >= 4
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), GUARD_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

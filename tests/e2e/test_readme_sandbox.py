"""The README's sandbox block, run as written, carries a pipeline on each provider to the end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.settings import PROVIDER_NAMES, Settings, load_settings
from tests.eventually import eventually
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTION = "### Pointing reelay at the sandbox"

# `reelay` is this checkout's CLI; `reelay serve` first records the environment it was given.
SHELL_PRELUDE = """
set -e
reelay() {
  if [ "$1" = serve ]; then env -0 > "$ENV_DUMP"; fi
  "$PYTHON" -m orchestrator.cli "$@"
}
"""


def readme_block() -> str:
    """The first ``sh`` block of the README's sandbox section."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "no sh block in the README's sandbox section"
    return found.group(1)


@pytest.fixture
def readme_shell(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """Run the block in bash on free ports with short tasks; yield (API URL, sandbox port, dump).

    Only the port numbers and ``--task-seconds`` are changed; every line runs as written.
    """
    block = readme_block()
    assert block.rstrip().endswith("reelay serve"), block
    sandbox_port, api_port = free_port(), free_port()
    block = block.replace("9000", str(sandbox_port))
    block = re.sub(r"--task-seconds \S+", "--task-seconds 0.5", block)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELAY_")}
    env |= {
        "PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        "ENV_DUMP": str(tmp_path / "serve.env"),
        "REELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'reelay.db'}",
        "REELAY_DATA_DIR": str(tmp_path / "data"),
        "REELAY_API_PORT": str(api_port),
        "REELAY_PUBLIC_PORT": str(free_port()),
        "REELAY_LOG_LEVEL": "warning",
    }
    with (tmp_path / "stdout").open("wb") as out:
        shell = subprocess.Popen(
            ["bash", "-c", SHELL_PRELUDE + block],
            cwd=tmp_path,
            env=env,
            stdout=out,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{api_port}", sandbox_port, tmp_path
    finally:
        # The session holds bash, the backgrounded sandbox and reelay serve: end all three.
        os.killpg(shell.pid, signal.SIGTERM)
        try:
            shell.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()


def settings_from(dump: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What ``reelay serve`` read from the environment the block gave it."""
    for key in [k for k in os.environ if k.startswith("REELAY_")]:
        monkeypatch.delenv(key)
    for item in dump.read_bytes().split(b"\0"):
        key, _, value = item.decode().partition("=")
        if key.startswith("REELAY_"):
            monkeypatch.setenv(key, value)
    return load_settings(_env_file=None)


@pytest.mark.slow
async def test_readme_sandbox_block_runs_all_four_providers(
    readme_shell: tuple[str, int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each provider gets the sandbox's base URL, a key and a first poll of at most 1 s
    (apifree its model too), and one pipeline per provider, naming no model, succeeds."""
    api_url, sandbox_port, tmp = readme_shell
    async with httpx.AsyncClient(base_url=api_url) as client:

        async def serving() -> bool:
            try:
                return (await client.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(serving, within=30, what="the README's reelay serve to start", every=0.1)
        started = (tmp / "stdout").read_text().splitlines()
        assert started[0].startswith(f"reelay sandbox on http://127.0.0.1:{sandbox_port}")

        settings = settings_from(tmp / "serve.env", monkeypatch)
        for name in PROVIDER_NAMES:
            provider = getattr(settings, name)
            assert provider.base_url.startswith(f"http://127.0.0.1:{sandbox_port}/"), name
            assert provider.api_key is not None, name
            assert provider.first_poll_s is not None, name
            assert provider.first_poll_s <= 1, name
            assert provider.poll_interval_s <= 1, name
        assert settings.apifree.model

        ids = []
        for name in PROVIDER_NAMES:
            body = {"provider": name, "prompt": f"{name} fox", "extends": [{"prompt": "it leaps"}]}
            response = await client.post("/v1/pipelines", json=body)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        async def all_ended() -> bool:
            for i in ids:
                status = (await client.get(f"/v1/pipelines/{i}")).json()["status"]
                if status not in ("succeeded", "failed", "cancelled"):
                    return False
            return True

        await eventually(all_ended, within=90, what="the four pipelines to end", every=0.1)
        pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
        assert {p["provider"]: p["status"] for p in pipelines} == dict.fromkeys(
            PROVIDER_NAMES, "succeeded"
        )
        metrics = (await client.get("/metrics")).text
        for name in PROVIDER_NAMES:
            polls = re.search(rf'reelay_polls_total{{provider="{name}"}} (\S+)', metrics)
            assert polls is not None, name
            assert float(polls.group(1)) >= 2, name

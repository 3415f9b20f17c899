"""``reelay sandbox`` says where it serves each provider and prints the settings for reelay."""

from __future__ import annotations

import shlex
import socket

import pytest

from orchestrator import cli
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import PROVIDER_NAMES
from tests.loopback import SANDBOX_PREFIX, free_port


def exported(lines: str) -> dict[str, str]:
    """The variables a shell would set from ``export A=1 B=2`` lines."""
    env: dict[str, str] = {}
    for line in lines.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        env |= dict(word.split("=", 1) for word in words[1:])
    return env


def test_print_env_sets_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    """Base URL, key and fast polling for all four providers, and apifree's model; then exit."""
    assert cli.main(["sandbox", "--port", "9123", "--print-env"]) == 0
    env = exported(capsys.readouterr().out)
    for name in PROVIDER_NAMES:
        p = f"REELAY_{name.upper()}_"
        assert env[p + "BASE_URL"] == "http://127.0.0.1:9123" + SANDBOX_PREFIX[name]
        assert env[p + "API_KEY"]
        assert float(env[p + "FIRST_POLL_S"]) <= 1
        assert float(env[p + "POLL_INTERVAL_S"]) <= 1
    assert env["REELAY_APIFREE_MODEL"] == "veo-3.1-fast"


def test_print_env_gives_the_key_the_sandbox_requires(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELAY_SANDBOX_API_KEY", "s3cret key")
    assert cli.main(["sandbox", "--host", "0.0.0.0", "--print-env"]) == 0
    env = exported(capsys.readouterr().out)
    assert env["REELAY_APIXO_API_KEY"] == "s3cret key"
    assert env["REELAY_APIXO_BASE_URL"] == "http://127.0.0.1:9000/apixo/api/v1"


def test_start_prints_its_address_and_base_urls(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line on start, before serving: the address and every provider's base URL."""
    started: list[tuple[str, int, SandboxConfig]] = []

    def run(host: str, port: int, config: SandboxConfig, sock: socket.socket) -> None:
        assert sock.getsockname() == (host, port)  # bound before the line was printed
        sock.close()
        started.append((host, port, config))

    monkeypatch.setattr("orchestrator.sandbox.run", run)
    port = free_port()
    assert cli.main(["sandbox", "--port", str(port), "--task-seconds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"reelay sandbox on http://127.0.0.1:{port}")
    for name in PROVIDER_NAMES:
        assert f"{name} http://127.0.0.1:{port}{SANDBOX_PREFIX[name]}" in lines[0]
    assert [(h, p, c.task_seconds) for h, p, c in started] == [("127.0.0.1", port, 2.0)]

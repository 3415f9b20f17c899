"""A real ``reelay serve`` and ``reelay sandbox`` (two processes), a webhook receiver that can be
told to fail, and Debian's Chromium driven by Playwright.

Screenshots of every screen go to ``build/screenshots/`` (not committed).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.helpers import provider_env
from tests.loopback import free_port

CHROMIUM = os.environ.get("REELAY_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "browser-test-token-0123456789"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TASK_SECONDS = 1.0
START_WITHIN_S = 60.0


@dataclass
class Hooks:
    """A webhook receiver on loopback: answers ``status`` to every delivery and records them."""

    status: int = 410
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@dataclass
class Stack:
    api: str
    sandbox: str
    hooks: Hooks
    client: httpx.Client
    """The API with the bearer token."""

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post("/v1/pipelines", json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def sandbox_config(self, **changes: object) -> None:
        httpx.post(f"{self.sandbox}/_sandbox/config", json=changes).raise_for_status()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_WITHIN_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} in {START_WITHIN_S} s")


def _hook_server(hooks: Hooks) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            hooks.received.append({"status": hooks.status, "body": body.decode()})
            self.send_response(hooks.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hooks.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("browser")
    sandbox_port, api_port, public_port = free_port(), free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    hooks = Hooks()
    hook_server = _hook_server(hooks)
    env = {
        **os.environ,
        **provider_env(sandbox_url),
        "REELAY_DATABASE_URL": f"sqlite:///{root / 'reelay.db'}",
        "REELAY_DATA_DIR": str(root / "data"),
        "REELAY_API_PORT": str(api_port),
        "REELAY_PUBLIC_PORT": str(public_port),
        "REELAY_PUBLIC_URL": f"http://127.0.0.1:{public_port}",
        "REELAY_API_TOKEN": TOKEN,
        "REELAY_WEBHOOK_ALLOW_PRIVATE": "true",
        "REELAY_LOG_LEVEL": "warning",
    }
    cli = [sys.executable, "-m", "orchestrator.cli"]
    sandbox = subprocess.Popen(
        [*cli, "sandbox", "--port", str(sandbox_port), "--task-seconds", str(TASK_SECONDS)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    serve = subprocess.Popen([*cli, "serve"], env=env)
    try:
        _wait_until_up(f"{sandbox_url}/_sandbox/health", sandbox, "reelay sandbox")
        api = f"http://127.0.0.1:{api_port}"
        _wait_until_up(f"{api}/healthz", serve, "reelay serve")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=api, headers=headers, timeout=10) as client:
            yield Stack(api, sandbox_url, hooks, client)
    finally:
        for proc in (serve, sandbox):
            proc.terminate()
        for proc in (serve, sandbox):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        hook_server.shutdown()
        hook_server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    """A fresh browser profile, signed in with the token through the sign-in form."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.api)
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    page.goto("/ui/")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/pipelines")
    page.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    assert errors == [], f"the page raised: {errors}"


def wait_for(check: Callable[[], bool], what: str, within: float = 90.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``within`` seconds (a bound
    on waiting, not a measurement)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def shoot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Write a screenshot of the page as it is now to build/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

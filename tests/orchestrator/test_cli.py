"""The CLI: client commands against a served API, and errors as one clear line."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.cli import main
from orchestrator.operations import Operations
from orchestrator.store import open_store
from tests.fakes import FakeProvider
from tests.loopback import free_port, serve_app


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    """An API on a fake provider, served on loopback from a background thread."""
    ready = threading.Event()
    stop = threading.Event()
    holder: dict[str, str] = {}

    async def serve() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'cli.db'}")
        app = create_api_app(Operations(store, {"fake": FakeProvider()}), store, api_token="tok")
        async with serve_app(app, lifespan="off") as url:
            holder["url"] = url
            ready.set()
            await asyncio.to_thread(stop.wait)
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    ready.wait(10)
    yield holder["url"]
    stop.set()
    thread.join(10)


def test_submit_status_list_cancel(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """submit prints the id; status, list and cancel show it."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    assert main(["submit", "--provider", "fake", "--prompt", "a", "--extend", "b"]) == 0
    pid = capsys.readouterr().out.strip()
    assert pid.startswith("pl_")
    assert main(["status", pid]) == 0
    shown = capsys.readouterr().out
    assert "step 1 extend" in shown
    assert main(["list"]) == 0
    assert pid in capsys.readouterr().out
    assert main(["list", "--search", "A", "--since", "2020-01-01"]) == 0
    assert pid in capsys.readouterr().out
    assert main(["list", "--search", "nothing like it"]) == 0
    assert pid not in capsys.readouterr().out
    assert main(["list", "--until", "2020-01-01"]) == 0
    assert pid not in capsys.readouterr().out
    assert main(["cancel", pid, "--reason", "test over"]) == 0
    assert capsys.readouterr().out.strip() == "cancelled"
    events = httpx.get(
        f"{api_url}/v1/pipelines/{pid}/events", headers={"Authorization": "Bearer tok"}
    ).json()["items"]
    assert events[-1]["data"] == {"actor": "api", "reason": "test over"}


def test_refusal_is_one_line(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 422 is printed as one line naming the field, exit code 2, no traceback."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    code = main(["submit", "--provider", "nope", "--prompt", "a"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "provider" in err
    assert "Traceback" not in err


def test_unreachable_api_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing listening, the error says so and names REELAY_API_URL."""
    monkeypatch.setenv("REELAY_API_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["status", "pl_x"]) == 2
    err = capsys.readouterr().err
    assert "REELAY_API_URL" in err
    assert err.count("\n") == 1


def test_wrong_token(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong token is reported as 401 in one line."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "wrong")
    assert main(["list"]) == 2
    assert "401" in capsys.readouterr().err


def test_watch_and_extend(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """extend adds a step; watch replays the pipeline's events from the stream and ends with
    the pipeline's final event, then the record of who ended it."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    assert main(["submit", "--provider", "fake", "--prompt", "a"]) == 0
    pid = capsys.readouterr().out.strip()
    assert main(["extend", pid, "--prompt", "b", "--from", "0"]) == 0
    assert capsys.readouterr().out.strip() == "step 1 added; pipeline pending"
    assert main(["cancel", pid]) == 0
    capsys.readouterr()
    assert main(["watch", pid]) == 1  # ended, but not succeeded
    lines = capsys.readouterr().out.splitlines()
    assert "pipeline.created" in lines[0]
    assert any("step.added" in line for line in lines)
    assert "pipeline.cancelled" in lines[-2]
    assert "action.cancelled" in lines[-1]
    assert lines[-1].endswith("pipeline by api")


@pytest.fixture
def kept_pipeline(tmp_path: Path) -> Iterator[tuple[str, str, dict[int, bytes]]]:
    """An API whose pipeline (a base, then an extend of only the new part) succeeded, with its
    videos kept and its whole video made."""
    import random

    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from orchestrator.artifacts.downloader import Downloader
    from orchestrator.artifacts.local import LocalArtifactStorage
    from orchestrator.artifacts.media_worker import MediaWorker
    from orchestrator.engine import Engine
    from orchestrator.plans import PipelineRequest
    from orchestrator.providers.config import ProviderSettings
    from orchestrator.sandbox.video import Synthetic, render
    from orchestrator.settings import load_settings

    clips = {0: render([Synthetic(1, 0, 16)]), 1: render([Synthetic(2, 0, 8)])}
    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, str] = {}

    async def media(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        return Response(clips[0 if task_id.startswith("generate") else 1], media_type="video/mp4")

    async def serve() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'fetch.db'}")
        fake = FakeProvider()
        cdn_app = Starlette(routes=[Route("/{task_id}.mp4", media)])
        async with serve_app(cdn_app, lifespan="off") as cdn:
            fake.video_url = cdn + "/{task_id}.mp4"
            ops = Operations(store, {"fake": fake})
            settings = load_settings(_env_file=None)
            engine = Engine(
                store,
                {"fake": fake},
                settings,
                rng=random.Random(0),
                provider_settings={"fake": ProviderSettings(base_url="x", first_poll_s=0)},
            )
            view, _ = await ops.create(
                PipelineRequest.model_validate(
                    {"provider": "fake", "prompt": "a", "extends": [{"prompt": "b"}]}
                )
            )
            for _ in range(10):
                await engine.run_once()
            storage = LocalArtifactStorage(tmp_path / "kept")
            media_jobs = MediaWorker(store, storage, clock=lambda: 4e9)
            async with httpx.AsyncClient() as http:
                await Downloader(store, storage, http).run_once()
            await media_jobs.run_once()
            app = create_api_app(ops, store, api_token=None, storage=storage)
            async with serve_app(app, lifespan="off") as url:
                holder.update(url=url, pid=view.pipeline.id)
                ready.set()
                await asyncio.to_thread(stop.wait)
        await storage.aclose()
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(20)
    yield holder["url"], holder["pid"], clips
    stop.set()
    thread.join(20)


def test_fetch_saves_each_branchs_whole_video(
    kept_pipeline: tuple[str, str, dict[int, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """fetch writes the whole video of each branch (the base's 16 frames, then the extend's
    8) and prints where; --all adds every step's own file."""
    from orchestrator.sandbox.video import read_marks

    url, pid, clips = kept_pipeline
    monkeypatch.setenv("REELAY_API_URL", url)
    monkeypatch.delenv("REELAY_API_TOKEN", raising=False)
    out = tmp_path / "out"
    assert main(["fetch", pid, "--dir", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"{pid}-whole-step1.mp4"]
    marks = read_marks(out / written[0])
    assert marks == [(1, i) for i in range(16)] + [(2, i) for i in range(8)]
    printed = capsys.readouterr().out
    assert str(out / written[0]) in printed
    assert "joined (copy)" in printed
    assert main(["fetch", pid, "--dir", str(out), "--all"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        f"{pid}-step0.mp4",
        f"{pid}-step1.mp4",
        f"{pid}-whole-step1.mp4",
    ]
    assert (out / f"{pid}-step1.mp4").read_bytes() == clips[1]


def test_fetch_of_a_running_branch_is_one_line(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pipeline whose branch has not finished is explained in one line, exit code 2."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    assert main(["submit", "--provider", "fake", "--prompt", "a"]) == 0
    pid = capsys.readouterr().out.strip()
    assert main(["fetch", pid]) == 2
    err = capsys.readouterr().err
    assert "its whole video is made once it finishes" in err
    assert err.count("\n") == 1


def test_list_with_a_bad_cursor_is_one_line(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cursor that is no pipeline id is an error naming it, exit code 2 (not an empty list)."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    assert main(["list", "--cursor", "garbage"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "cursor" in captured.err


def test_submit_json_with_flags_overrides_the_file(
    api_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --json, --provider/--prompt replace the file's fields and --extend adds a step
    after the file's extends."""
    import json

    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    body = tmp_path / "p.json"
    body.write_text(
        json.dumps({"provider": "nope", "prompt": "file", "extends": [{"prompt": "e1"}]})
    )
    assert main(["submit", "--json", str(body), "--provider", "fake", "--extend", "e2"]) == 0
    pid = capsys.readouterr().out.strip()
    assert main(["status", pid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provider"] == "fake"
    assert [(s["prompt"], s["parent"]) for s in shown["steps"]] == [
        ("file", None),
        ("e1", 0),
        ("e2", 1),
    ]


def test_retry_reports_the_conflict_in_one_line(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """retry calls the API's retry route: a cancelled pipeline cannot be retried (409)."""
    monkeypatch.setenv("REELAY_API_URL", api_url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    assert main(["submit", "--provider", "fake", "--prompt", "a"]) == 0
    pid = capsys.readouterr().out.strip()
    assert main(["cancel", pid]) == 0
    capsys.readouterr()
    assert main(["retry", pid]) == 2
    err = capsys.readouterr().err
    assert "409" in err
    assert "cancelled" in err
    assert err.count("\n") == 1


OPS_TOKEN = "ops-token-0123456789abcdef"


@pytest.fixture
def failed_pipeline(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An API with the named token ``ops`` and a pipeline whose base failed (its provider
    works again once it has)."""
    import random

    from orchestrator.engine import Engine
    from orchestrator.plans import PipelineRequest
    from orchestrator.providers.config import ProviderSettings
    from orchestrator.settings import load_settings

    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, str] = {}

    async def serve() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'audit.db'}")
        fake = FakeProvider(fail_prompts={"storm"})
        ops = Operations(store, {"fake": fake})
        engine = Engine(
            store,
            {"fake": fake},
            load_settings(_env_file=None),
            rng=random.Random(0),
            provider_settings={"fake": ProviderSettings(base_url="x", first_poll_s=0)},
        )
        view, _ = await ops.create(PipelineRequest(provider="fake", prompt="storm"))
        for _ in range(5):
            await engine.run_once()
        fake.fail_prompts.clear()
        app = create_api_app(ops, store, api_token="tok", api_tokens={"ops": OPS_TOKEN})
        async with serve_app(app, lifespan="off") as url:
            holder.update(url=url, pid=view.pipeline.id)
            ready.set()
            await asyncio.to_thread(stop.wait)
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(20)
    yield holder["url"], holder["pid"]
    stop.set()
    thread.join(20)


def test_reason_is_sent_with_retry_extend_and_cancel(
    failed_pipeline: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--reason reaches each action's audit event, under the name of the token used."""
    import httpx

    url, pid = failed_pipeline
    monkeypatch.setenv("REELAY_API_URL", url)
    monkeypatch.setenv("REELAY_API_TOKEN", OPS_TOKEN)
    assert main(["retry", pid, "--reason", "provider is back"]) == 0
    assert main(["extend", pid, "--prompt", "more", "--reason", " a longer cut "]) == 0
    assert main(["cancel", pid, "--reason", "done for today"]) == 0
    capsys.readouterr()
    headers = {"Authorization": f"Bearer {OPS_TOKEN}"}
    events = httpx.get(f"{url}/v1/pipelines/{pid}/events", headers=headers).json()["items"]
    assert [
        (e["type"], e["data"]["actor"], e["data"]["reason"])
        for e in events
        if e["type"].startswith("action.")
    ] == [
        ("action.created", "api", None),  # made through Operations, not the API
        ("action.retried", "ops", "provider is back"),
        ("action.extended", "ops", "a longer cut"),
        ("action.cancelled", "ops", "done for today"),
    ]
    assert main(["cancel", pid]) == 2  # without --reason: no body, the usual 409
    assert "409" in capsys.readouterr().err

"""``reelay submit --json FILE`` with JSON Lines: one pipeline per line through the batch route,
one printed result per line, keys derived from --idempotency-key so that a re-run replays."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.api.batch_schemas import MAX_BATCH_BODY, MAX_ITEMS
from orchestrator.cli import main
from orchestrator.cli.batch import BATCH_BYTES, BATCH_ITEMS, batches, is_json_lines
from orchestrator.operations import Operations
from orchestrator.startup import EXIT_CODE
from orchestrator.store import open_store
from tests.fakes import FakeProvider
from tests.loopback import serve_app

TOKEN = "tok"


@pytest.fixture
def api_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An API on a fake provider, served on loopback from a background thread; the CLI's
    environment points at it."""
    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, str] = {}

    async def serve() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'cli.db'}")
        app = create_api_app(Operations(store, {"fake": FakeProvider()}), store, api_token=TOKEN)
        async with serve_app(app, lifespan="off") as url:
            holder["url"] = url
            ready.set()
            await asyncio.to_thread(stop.wait)
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    monkeypatch.setenv("REELAY_API_URL", holder["url"])
    monkeypatch.setenv("REELAY_API_TOKEN", TOKEN)
    yield holder["url"]
    stop.set()
    thread.join(10)


def total(api_url: str) -> int:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.get(f"{api_url}/v1/pipelines/counts", headers=headers)
    count: int = answer.json()["total"]
    return count


def lines_file(tmp_path: Path, *lines: str, name: str = "many.jsonl") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def body(prompt: str) -> str:
    return json.dumps({"provider": "fake", "prompt": prompt})


def test_each_line_is_created_and_a_rerun_replays(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One result line per body (blank lines skipped, numbered as in the file); the same
    command again answers 200 with the same pipelines and creates nothing."""
    path = lines_file(tmp_path, body("a"), "", body("b"), body("c"))
    argv = ["submit", "--json", path, "--idempotency-key", "run1"]
    assert main(argv) == 0
    first = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [(n, status) for n, status, _ in first] == [("1", "201"), ("3", "201"), ("4", "201")]
    assert total(api_url) == 3
    assert main(argv) == 0
    again = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [(n, s, pid) for n, s, pid in again] == [(n, "200", pid) for n, _, pid in first]
    assert total(api_url) == 3


def test_a_refused_line_fails_the_command_not_the_others(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused body is its line's 422 with the field, the others are created; exit 1."""
    path = lines_file(tmp_path, body("a"), body(" "), body("c"))
    assert main(["submit", "--json", path, "--idempotency-key", "k"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 201 pl_")
    assert out[1].startswith("2 422 prompt: ")
    assert out[2].startswith("3 201 pl_")
    assert total(api_url) == 2


def test_without_a_key_the_run_says_how_to_resume(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --idempotency-key each run has new keys, said on stderr so it can be resumed;
    more than one JSON value in a .json file is JSON Lines too. The flags apply to each line."""
    path = lines_file(tmp_path, '{"prompt": "a"}', '{"prompt": "b"}', name="two.json")
    assert main(["submit", "--json", path, "--provider", "fake"]) == 0
    printed = capsys.readouterr()
    assert [line.split()[1] for line in printed.out.splitlines()] == ["201", "201"]
    prefix = printed.err.split("--idempotency-key ")[1].strip()
    assert main(["submit", "--json", path, "--provider", "fake", "--idempotency-key", prefix]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["200", "200"]
    assert total(api_url) == 2


def test_a_line_that_is_not_an_object_sends_nothing(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is not a JSON object refuses the file, naming the line, before any send."""
    path = lines_file(tmp_path, body("a"), "[1, 2]")
    assert main(["submit", "--json", path]) == EXIT_CODE
    assert "line 2 is not a JSON object" in capsys.readouterr().err
    assert total(api_url) == 0


def test_one_json_value_is_one_pipeline(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of one JSON object, even over several lines, is submit's single body."""
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"provider": "fake", "prompt": "a"}, indent=2))
    assert main(["submit", "--json", str(path)]) == 0
    assert capsys.readouterr().out.strip().startswith("pl_")


def test_detection() -> None:
    """JSON Lines: a .jsonl name, or more than one JSON value."""
    assert is_json_lines("x.jsonl", '{"a": 1}')
    assert is_json_lines("-", '{"a": 1}\n{"a": 2}')
    assert not is_json_lines("-", '{\n  "a": 1\n}\n')
    assert not is_json_lines("x.json", "{not json")


def test_batches_stay_within_the_routes_limits() -> None:
    """Requests of at most the route's item count and well under its body limit, in order."""
    assert (BATCH_ITEMS, BATCH_BYTES <= MAX_BATCH_BODY) == (MAX_ITEMS, True)
    small = [{"n": n} for n in range(2500)]
    sent = list(batches(small))
    assert [len(b) for b in sent] == [1000, 1000, 500]
    assert [i for b in sent for i in b] == small
    big = [{"p": "x" * (BATCH_BYTES // 3)} for _ in range(5)]
    assert [len(b) for b in batches(big)] == [2, 2, 1]

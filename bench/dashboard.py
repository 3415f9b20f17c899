"""Benchmark: how long the dashboard's pages take to render on the server.

    python bench/dashboard.py [--pipelines 100000] [--runs 50] [--db /tmp/reelay-dash.db]

Fills a SQLite store with ``--pipelines`` pipelines (generate + 2 extends, mixed statuses; kept
in ``--db`` between runs), adds one pipeline whose tree has 40 steps, then requests each page
through reelay's own app (the internal listener's app, in this process, without a socket) and
prints the median and p95 time and the CPU time per render beside the targets: the list page
under 100 ms with 100,000 pipelines, the 40-step pipeline page under 50 ms. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from orchestrator.common import eventloop
from orchestrator.domain.models import (
    PipelineStatus,
    PipelineView,
    StepStatus,
    new_pipeline_id,
)
from orchestrator.plans import PipelineRequest, plan
from orchestrator.providers.base import Provider
from orchestrator.runtime import open_runtime
from orchestrator.settings import load_settings
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition

TOKEN = "bench-dashboard-token"
BATCH = 2_000
STATUSES = (
    PipelineStatus.SUCCEEDED,
    PipelineStatus.SUCCEEDED,
    PipelineStatus.RUNNING,
    PipelineStatus.FAILED,
    PipelineStatus.PENDING,
    PipelineStatus.CANCELLED,
)
WORDS = [
    "fox",
    "boat",
    "moon",
    "lighthouse",
    "harbour",
    "storm",
    "meadow",
    "river",
    "city",
    "forest",
    "desert",
    "glacier",
]


def _finished(view: PipelineView, now: float, index: int) -> PipelineView:
    """``view`` with every step succeeded (a task id, times, a video link)."""
    steps = tuple(
        replace(
            s,
            status=StepStatus.SUCCEEDED,
            provider_task_id=f"task-{view.pipeline.id}-{s.index}",
            submitted_at=now + s.index,
            completed_at=now + s.index + 0.8,
            video_urls=(f"https://videos.example/{view.pipeline.id}/{s.index}.mp4",),
            progress=100,
            attempts=1,
        )
        for s in view.steps
    )
    return PipelineView(replace(view.pipeline, status=STATUSES[index % len(STATUSES)]), steps)


async def fill(store: Store, provider: Provider, count: int) -> None:
    start = time.time() - count
    for first in range(0, count, BATCH):
        pairs: list[tuple[PipelineView, PipelineView]] = []
        for n in range(first, min(first + BATCH, count)):
            now = start + n
            words = f"{WORDS[n % len(WORDS)]} {WORDS[(n // 7) % len(WORDS)]}"
            request = PipelineRequest(
                provider=provider.name,
                prompt=f"A {words} scene number {n}",
                extends=[{"prompt": f"part two of {n}"}, {"prompt": f"part three of {n}"}],  # type: ignore[list-item]
                metadata={"n": n, "campaign": WORDS[n % 5]},
            )
            view = plan(
                request, {provider.name: provider}, pipeline_id=new_pipeline_id(now), now=now
            )
            pairs.append((view, _finished(view, now, n)))

        async def job(
            tx: Transaction, pairs: list[tuple[PipelineView, PipelineView]] = pairs
        ) -> None:
            await commit_transition(tx, [(None, done) for _, done in pairs], time.time())

        await store.run(job)
        print(f"\r  filled {min(first + BATCH, count):,} pipelines", end="", flush=True)
    print()


async def deep_tree(store: Store, provider: Provider, steps: int) -> str:
    now = time.time()
    extends = [
        {"prompt": f"shot {i}", **({"from": 0} if i % 10 == 0 else {})} for i in range(1, steps)
    ]
    request = PipelineRequest.model_validate(
        {"provider": provider.name, "prompt": "a 40-step tree", "extends": extends}
    )
    view = plan(request, {provider.name: provider}, pipeline_id=new_pipeline_id(now), now=now)

    async def job(tx: Transaction) -> None:
        made = await commit_transition(tx, [(None, view)], now)
        current = PipelineView(made.new_pipelines[0], view.steps)
        finished = _finished(view, now, 0)
        for step in finished.steps:  # each step runs, then succeeds: the events a page shows
            running = replace(step, status=StepStatus.RUNNING, progress=50, completed_at=None)
            for changed in (running, step):
                after = PipelineView(
                    current.pipeline,
                    tuple(changed if s.index == step.index else s for s in current.steps),
                )
                done = await commit_transition(tx, [(current, after)], now)
                current = PipelineView(done.changed_pipelines[0], after.steps)

    await store.run(job)
    return view.pipeline.id


async def measure(client: httpx.AsyncClient, path: str, runs: int) -> tuple[float, float, float]:
    """Median and p95 wall ms, and CPU ms per render."""
    assert (await client.get(path)).status_code == 200, path
    walls: list[float] = []
    cpu_start = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        answer = await client.get(path)
        walls.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200
    cpu = (time.process_time() - cpu_start) * 1000 / runs
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.95) - 1], cpu


async def main(args: argparse.Namespace) -> None:
    db = Path(args.db)
    settings = load_settings(
        database_url=f"sqlite:///{db}",
        data_dir=Path(tempfile.mkdtemp(prefix="reelay-dash-")),
        api_token=TOKEN,
        apimart={"base_url": "http://127.0.0.1:9/apimart", "api_key": "k"},
        _env_file=None,
    )
    async with open_runtime(settings) as rt:
        provider = rt.providers["apimart"]
        have = len(await rt.store.list_pipelines(limit=1))
        if not have:
            print(f"filling {db} with {args.pipelines:,} pipelines (kept for later runs)")
            await fill(rt.store, provider, args.pipelines)
        deep = await deep_tree(rt.store, provider, 40)
        transport = httpx.ASGITransport(app=rt.api_app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            pages = [
                ("list, first page", "/ui/pipelines", 100.0),
                ("list, status=failed", "/ui/pipelines?status=failed", 100.0),
                (
                    "list, provider + created range",
                    "/ui/pipelines?provider=apimart&from=2020-01-01&to=2030-01-01",
                    100.0,
                ),
                ("list, text search", "/ui/pipelines?q=lighthouse", 100.0),
                ("pipeline page, 40-step tree", f"/ui/pipelines/{deep}", 50.0),
            ]
            print(f"\n{'page':<34} {'median':>9} {'p95':>9} {'CPU/render':>11}  target")
            for name, path, target in pages:
                median, p95, cpu = await measure(client, path, args.runs)
                verdict = "met" if p95 < target else "MISSED"
                figures = f"{median:7.1f}ms {p95:7.1f}ms {cpu:9.1f}ms"
                print(f"{name:<34} {figures}  < {target:.0f} ms (p95): {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--db", default=str(Path(tempfile.gettempdir()) / "reelay-dashboard-bench.db")
    )
    eventloop.run(main(parser.parse_args()))

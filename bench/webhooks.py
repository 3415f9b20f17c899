"""Benchmark: from a transition to the first delivery attempt of its webhook, p50 and p99.

    python -m bench.webhooks [--pipelines 1000] [--task-seconds 2] [--concurrency 512]

1,000 pipelines (generate + 2 extends, each with a webhook_url) run against the sandbox in one
process while a receiver in another records, for every message's first attempt, the time from
the event (the body's timestamp, taken when the transition was committed) to its arrival.
Not a test: numbers only. Target: p99 <= 500 ms. Beside it: the CPU of this process (reelay's
engine and deliverer) per message, and the guarantees: every pipeline succeeded, every event
reached the receiver, and no step was submitted twice.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.pipelines import PREFIX, body, sandbox_process
from orchestrator.common import eventloop
from orchestrator.common.ports import free_port
from orchestrator.domain.webhooks import DEFAULT_EVENT_TYPES
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.settings import PROVIDER_NAMES, load_settings


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    receiver = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [sys.executable, str(Path(__file__).with_name("_hook_receiver.py")), str(port)]
    )
    hook = f"http://127.0.0.1:{port}"
    try:
        async with sandbox_process(args.task_seconds) as sandbox, httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.get(hook + "/stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            with tempfile.TemporaryDirectory() as tmp:
                polling = {
                    "first_poll_s": args.task_seconds,
                    "poll_interval_s": args.task_seconds / 4,
                    "poll_max_interval_s": args.task_seconds,
                }
                settings = load_settings(
                    database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                    data_dir=Path(tmp) / "data",
                    webhook_allow_private=True,
                    webhook_concurrency=args.concurrency,
                    _env_file=None,
                    **{
                        name: {"base_url": sandbox + PREFIX[name], "api_key": "k", **polling}
                        for name in PROVIDER_NAMES
                    },
                )
                async with open_runtime(settings) as rt:
                    tasks = [
                        asyncio.create_task(rt.engine.run()),
                        asyncio.create_task(rt.deliverer.run()),
                    ]
                    start = time.perf_counter()
                    cpu_start = time.process_time()
                    gate = asyncio.Semaphore(100)

                    async def create(n: int) -> None:
                        request = body(PROVIDER_NAMES[n % 4], n).model_dump(by_alias=True)
                        request["webhook_url"] = hook + "/hook"
                        async with gate:
                            await rt.operations.create(PipelineRequest.model_validate(request))

                    await asyncio.gather(*(create(n) for n in range(args.pipelines)))
                    while True:
                        counts = await rt.store.count_steps_by_status()
                        if (
                            counts.get("succeeded", 0) + counts.get("failed", 0)
                            >= 3 * args.pipelines
                        ):
                            break
                        await asyncio.sleep(0.05)
                    events = 0
                    for view in await rt.store.list_pipelines(limit=args.pipelines):
                        log = await rt.store.events(view.pipeline.id)
                        events += sum(e.type in DEFAULT_EVENT_TYPES for e in log)
                    while len((await client.get(hook + "/stats")).json()["delays"]) < events:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    wall = time.perf_counter() - start
                    cpu = time.process_time() - cpu_start
                    views = await rt.store.list_pipelines(limit=args.pipelines)
                    succeeded = sum(v.pipeline.status == "succeeded" for v in views)
                    tasks_seen = (await client.get(sandbox + "/_sandbox/tasks")).json()
                    twice = sum(t["submit_count"] > 1 for t in tasks_seen)
                    for component in (rt.engine, rt.deliverer):
                        component.stop()
                    await asyncio.gather(*tasks)
            delays = sorted((await client.get(hook + "/stats")).json()["delays"])
    finally:
        receiver.terminate()
        receiver.wait(10)
    q = statistics.quantiles(delays, n=100)
    print(f"pipelines            {args.pipelines} in flight, task {args.task_seconds} s")
    print(f"webhook messages     {len(delays)} (first attempts), wall {wall:.1f} s")
    print(
        f"transition -> first delivery attempt: p50 {q[49] * 1000:.0f} ms, "
        f"p90 {q[89] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )
    print(f"CPU of reelay's process  {cpu * 1000 / len(delays):.2f} ms per message ({cpu:.1f} s)")
    print(
        f"check: pipelines succeeded {succeeded} of {args.pipelines}; events delivered "
        f"{len(delays)} of {events}; steps submitted twice {twice}"
    )
    print(f"target p99 <= 500 ms: {'met' if q[98] <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--task-seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=512, help="deliveries in flight")
    eventloop.run(main(parser.parse_args()))

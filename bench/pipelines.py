"""Benchmark: N pipelines of generate + 2 extends against the sandbox in a separate process.

    python bench/pipelines.py [--pipelines 1000] [--task-seconds 0.2] [--provider apixo]

Prints wall time (from the first create to the last pipeline finished), steps per second and
peak RSS of this process (reelay: API operations + engine + store). Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from orchestrator.common import eventloop
from orchestrator.common.ports import free_port
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.settings import PROVIDER_NAMES, load_settings

PREFIX = {
    "apimart": "/apimart",
    "octopusx": "/octopusx",
    "apixo": "/apixo/api/v1",
    "apifree": "/apifree",
}


@contextlib.asynccontextmanager
async def sandbox_process(task_seconds: float) -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "sandbox",
            "--port",
            str(port),
            "--task-seconds",
            str(task_seconds),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url + "/_sandbox/health")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def body(provider: str, n: int) -> PipelineRequest:
    branch = {"from": 0} if provider == "apixo" else {}
    return PipelineRequest.model_validate(
        {
            "provider": provider,
            "prompt": f"scene {n}",
            "model": "veo-3.1-fast" if provider == "apifree" else None,
            "extends": [{"prompt": f"scene {n} b", **branch}, {"prompt": f"scene {n} c", **branch}],
        }
    )


async def main(args: argparse.Namespace) -> None:
    providers = [args.provider] if args.provider else list(PROVIDER_NAMES)
    async with sandbox_process(args.task_seconds) as sandbox:
        with tempfile.TemporaryDirectory() as tmp:
            polling = {
                "first_poll_s": args.task_seconds,
                "poll_interval_s": args.task_seconds / 4,
                "poll_max_interval_s": args.task_seconds,
            }
            settings = load_settings(
                database_url=args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
                data_dir=Path(tmp) / "data",
                _env_file=None,
                **{
                    name: {"base_url": sandbox + PREFIX[name], "api_key": "k", **polling}
                    for name in PROVIDER_NAMES
                },
            )
            async with open_runtime(settings) as rt:
                engine = asyncio.create_task(rt.engine.run())
                start = time.perf_counter()
                # Like a batch job with many workers: up to --concurrency creates in flight.
                gate = asyncio.Semaphore(args.concurrency)

                async def create(n: int) -> None:
                    async with gate:
                        await rt.operations.create(body(providers[n % len(providers)], n))

                await asyncio.gather(*(create(n) for n in range(args.pipelines)))
                created = time.perf_counter()
                while True:
                    counts = await rt.store.count_steps_by_status()
                    done = counts.get("succeeded", 0) + counts.get("failed", 0)
                    if done >= 3 * args.pipelines:
                        break
                    await asyncio.sleep(0.02)
                wall = time.perf_counter() - start
                rt.engine.stop()
                await engine
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = 3 * args.pipelines
    names = ", ".join(providers)
    print(f"pipelines         {args.pipelines} ({names}), task {args.task_seconds} s")
    print(f"created in        {created - start:.2f} s")
    print(f"wall time         {wall:.2f} s")
    print(f"steps per second  {steps / wall:.0f}")
    print(f"failed steps      {counts.get('failed', 0)}")
    print(f"peak RSS          {rss_mib:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--provider", choices=PROVIDER_NAMES)
    parser.add_argument("--database-url")
    parser.add_argument("--concurrency", type=int, default=100, help="creates in flight")
    eventloop.run(main(parser.parse_args()))

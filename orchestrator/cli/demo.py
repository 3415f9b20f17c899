"""``reelay demo``: reelay on SQLite with the sandbox as every provider, one pipeline each.

Everything runs in this process over real loopback HTTP: the sandbox on one port, reelay's
internal API and public receiver on two others. apixo branches two extends from its base (its
depth limit is 1) and goes on past that limit with a continuation; the others chain base ->
extend -> extend (apimart's last one returning only its new part). It ends with one whole
video per branch, saved and described.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import anyio

from orchestrator.cli.client import ApiClient, WholeVideo
from orchestrator.cli.money import cost_line
from orchestrator.cli.progress import watch
from orchestrator.cli.videos import describe_whole, save_whole_video
from orchestrator.common.ports import free_port
from orchestrator.runtime import serve
from orchestrator.sandbox import SandboxConfig
from orchestrator.sandbox import serve as serve_sandbox
from orchestrator.settings import PROVIDER_NAMES, Settings, load_settings

HOST = "127.0.0.1"
SANDBOX_PREFIX = {
    "apimart": "/apimart",
    "octopusx": "/octopusx",
    "apixo": "/apixo/api/v1",
    "apifree": "/apifree",
}

PIPELINES: list[dict[str, Any]] = [
    {
        "provider": "apimart",
        "tier": "fast",
        "prompt": "A red fox trots across a snowy field at dawn",
        "extends": [
            {"prompt": "The fox stops and looks back at the camera"},
            # raw: apimart returns only the new 7 s, which reelay joins to the video so far.
            {"prompt": "It leaps into the snow and disappears", "provider_options": {"raw": True}},
        ],
    },
    {
        "provider": "octopusx",
        "tier": "fast",
        "prompt": "A paper boat drifts down a rain-soaked street",
        "extends": [
            {"prompt": "The boat slips into a storm drain"},
            {"prompt": "It emerges into a glowing underground river"},
        ],
    },
    {
        "provider": "apixo",
        "tier": "fast",
        "prompt": "An astronaut plants a flag on a quiet moon",
        "extends": [
            {"prompt": "Earth rises slowly over the horizon", "from": 0},
            {"prompt": "A meteor streaks across the black sky", "from": 0},
            # apixo cannot extend an extend: a continuation starts from step 1's last frame.
            {"prompt": "The astronaut walks back to the lander", "from": 1, "mode": "continue"},
        ],
    },
    {
        "provider": "apifree",
        "model": "veo-3.1-fast",
        "prompt": "A lighthouse beam sweeps over a stormy sea",
        "extends": [
            {"prompt": "A small ship rounds the rocks"},
            {"prompt": "The storm breaks and the sun comes out"},
        ],
    },
]


def demo_settings(directory: Path, sandbox_port: int, task_seconds: float) -> Settings:
    sandbox = f"http://{HOST}:{sandbox_port}"
    providers = {
        name: {
            "base_url": sandbox + SANDBOX_PREFIX[name],
            "api_key": "sandbox",
            # Poll early and often so the live view shows progress, not just the ends.
            "first_poll_s": task_seconds / 3,
            "poll_interval_s": task_seconds / 6,
            "poll_max_interval_s": task_seconds / 2,
        }
        for name in PROVIDER_NAMES
    }
    public_port = free_port()
    return load_settings(
        database_url=f"sqlite:///{directory / 'reelay.db'}",
        data_dir=directory / "data",
        api_host=HOST,
        api_port=free_port(),
        public_host=HOST,
        public_port=public_port,
        # The sandbox calls back apixo and apimart tasks here; the others are polled.
        public_url=f"http://{HOST}:{public_port}",
        log_level="warning",
        **providers,
    )


async def run_demo(
    root: Path, *, task_seconds: float = 3.0, keep: bool = False, port: int | None = None
) -> int:
    """``keep``: after the results, go on serving (the dashboard) until Ctrl-C. ``port``: the
    internal API's and dashboard's port (default: a free one)."""
    sandbox_port = free_port()
    settings = demo_settings(root, sandbox_port, task_seconds)
    if port is not None:
        settings = settings.model_copy(update={"api_port": port})
    started, stop = asyncio.Event(), asyncio.Event()
    out = sys.stdout
    async with asyncio.TaskGroup() as tg:
        sandbox = tg.create_task(
            serve_sandbox(SandboxConfig(task_seconds=task_seconds, seed=7), HOST, sandbox_port)
        )
        reelay = tg.create_task(serve(settings, started=started, stop=stop))
        try:
            await started.wait()
            api_url = f"http://{HOST}:{settings.api_port}"
            out.write(
                f"reelay demo\n  database  {settings.database_url}\n  API       {api_url}\n"
                f"  dashboard {api_url}/ui/ (open it in a browser to watch)\n"
                f"  receiver  {settings.public_url} (apixo and apimart call back here)\n"
                f"  sandbox   http://{HOST}:{sandbox_port} (all four providers)\n\n"
            )
            async with ApiClient(api_url, None) as client:
                ids = [(await client.create(body))["id"] for body in PIPELINES]
                final = await watch(client, ids, out=out)
                final = await _wait_for_videos(client, ids)
                saved = await _save_whole_videos(client, final, root / "videos")
            _report(final, saved, settings.artifact_root, out)
            if keep:
                out.write(f"\nThe dashboard stays at {api_url}/ui/ until Ctrl-C.\n")
                out.flush()
                await stop.wait()  # ``serve`` sets it on SIGINT or SIGTERM
            return 0 if all(p["status"] == "succeeded" for p in final) else 1
        finally:
            stop.set()
            await reelay
            sandbox.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sandbox


async def _wait_for_videos(client: ApiClient, ids: list[str]) -> list[dict[str, Any]]:
    """Downloads run in the background after each step; wait until every video is kept."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        pipelines = [await client.get(pid) for pid in ids]
        pending = [
            s
            for p in pipelines
            for s in p["steps"]
            if s["status"] == "succeeded" and not s["artifact"] and not s["error"]
        ]
        if not pending or asyncio.get_running_loop().time() > deadline:
            return pipelines
        await asyncio.sleep(0.2)


async def _save_whole_videos(
    client: ApiClient, pipelines: list[dict[str, Any]], target: Path
) -> dict[tuple[str, int], tuple[Path, WholeVideo]]:
    """Each branch's whole video, from the base to its last step, under a readable name."""
    await anyio.Path(target).mkdir(parents=True, exist_ok=True)
    saved: dict[tuple[str, int], tuple[Path, WholeVideo]] = {}
    for p in pipelines:
        listed = await client.request("GET", f"/v1/pipelines/{p['id']}/videos")
        for video in listed["videos"]:
            if video["state"] in ("none", "not_yet"):
                continue
            leaf = video["leaf"]
            path = target / f"{p['provider']}-{p['id']}-to-step{leaf}.mp4"
            whole = await save_whole_video(client, p["id"], leaf, path, wait_s=60)
            saved[(p["id"], leaf)] = (path, whole)
    return saved


def _report(
    pipelines: list[dict[str, Any]],
    saved: dict[tuple[str, int], tuple[Path, WholeVideo]],
    store: Path,
    out: Any,
) -> None:
    out.write("\nresults\n")
    for p in pipelines:
        out.write(f"  {p['provider']:<9} {p['id']} {p['status']}\n")
        out.write(f"    {cost_line(p['cost'])}\n")
        for step in p["steps"]:
            artifact = step["artifact"]
            if artifact:
                probe = artifact.get("probe") or {}
                where = (
                    f"kept, {probe.get('duration_s', '?')} s, sha256 {artifact['sha256'][:12]}.."
                )
            else:
                where = (step["error"] or {}).get("message", "not kept")
            how = step.get("mode") or step["kind"]
            out.write(f"    step {step['index']} {how:<8} {where}\n")
        for (pid, leaf), (path, whole) in saved.items():
            if pid == p["id"]:
                out.write(f"    whole video to step {leaf}: {path}\n")
                out.write(f"      {describe_whole(whole)}\n")
    out.write(
        "\nOnly apixo publishes a price (for its generations), so only those steps are priced\n"
        "here; the others are unpriced (never counted as $0) until REELAY_PRICES_FILE names\n"
        "them. `reelay spend` sums what was charged.\n"
    )
    out.write(
        f"\nEvery result video is kept by content hash under {store}; each branch's whole\n"
        "video (its steps' files joined where a file holds only its own segment) is saved\n"
        "above. `reelay fetch <id>` downloads them again while `reelay serve` runs on this\n"
        "database.\n"
    )

"""Live progress of pipelines in a terminal: one line per change, or a redrawn table on a TTY."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from orchestrator.cli.client import ApiClient, Patience, Unreachable
from orchestrator.cli.money import cost_line, step_charge

FINISHED = {"succeeded", "failed", "cancelled"}


def step_line(step: dict[str, Any]) -> str:
    parent = "" if step["parent"] is None else f" <- {step['parent']}"
    progress = f" {step['progress']}%" if step["status"] == "running" and step["progress"] else ""
    error = f" [{step['error']['code']}] {step['error']['message']}" if step["error"] else ""
    return f"step {step['index']} {step['kind']:<8}{parent:<6} {step['status']}{progress}{error}"


def pipeline_block(p: dict[str, Any], *, money: bool = False) -> list[str]:
    """The pipeline, then a line per step; with ``money``, its cost and each step's charge."""
    head = f"{p['id']}  {p['provider']:<9} {p['status']}"
    if not money:
        return [head] + [f"  {step_line(s)}" for s in p["steps"]]
    cost = [f"  {cost_line(p['cost'], p.get('budget_usd'))}"] if p.get("cost") else []
    steps = [f"  {step_line(s)}  {step_charge(s)}".rstrip() for s in p["steps"]]
    return [head, *cost, *steps]


def settled(p: dict[str, Any]) -> bool:
    """Finished, or waiting on an operator because a step is ambiguous."""
    if p["status"] in FINISHED:
        return True
    statuses = {s["status"] for s in p["steps"]}
    return "ambiguous" in statuses and statuses <= FINISHED | {"ambiguous", "pending"}


async def watch(
    client: ApiClient,
    pipeline_ids: Sequence[str],
    *,
    out: TextIO | None = None,
    interval: float = 0.5,
    patience: Patience | None = None,
) -> list[dict[str, Any]]:
    """Follow pipelines until all have finished (or wait on an operator); returns their final
    JSON. While reelay is unreachable (a restart) it keeps trying, within ``patience``."""
    out = out or sys.stdout
    patience = patience or Patience()
    tty = out.isatty()
    seen: dict[str, str] = {}
    drawn = 0
    while True:
        try:
            pipelines = [await client.get(pid) for pid in pipeline_ids]
        except Unreachable as exc:
            await patience.wait(exc)
            drawn = 0  # the reconnecting line broke the redrawn table
            continue
        patience.ok()
        if tty:
            lines = [line for p in pipelines for line in pipeline_block(p)]
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        else:
            for p in pipelines:
                for s in p["steps"]:
                    key = f"{p['id']}/{s['index']}"
                    line = step_line(s)
                    if seen.get(key) != line:
                        seen[key] = line
                        out.write(f"{p['id']} {p['provider']:<9} {line}\n")
        out.flush()
        if all(settled(p) for p in pipelines):
            return pipelines
        await asyncio.sleep(interval)

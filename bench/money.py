"""Benchmark: what money accounting costs the 1,000-pipeline run, off against on.

    python bench/money.py [--pipelines 1000] [--rounds 2] [--provider apixo]

The run of ``bench/pipelines.py`` (generate + 2 extends, 0.2 s sandbox tasks, the sandbox in
its own process, reelay's engine in this one), measured in two modes within one invocation,
each run on a fresh database and a fresh sandbox:

- **off**: no prices file and no caps. Not quite zero money: apixo's generate still carries its
  built-in published price, so those submits are reserved and charged (the product's default).
- **on**: a prices file pricing every step of the provider(s), a global daily cap, a monthly
  cap per provider and a ``budget_usd`` in every create body, all high enough that nothing is
  held; then checked against the store, the API and the sandbox.

Rounds alternate the order (off, on, then on, off, ...) so that drift on a shared machine falls
on both modes; a small unreported warm-up run goes first. Figures per run: wall time (first
create to last step finished), steps per second, and CPU of this process (which hosts reelay)
per step. At the end: on/off as the ratio of the medians, against the target <= 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from orchestrator.common import eventloop
from orchestrator.domain.models import Billing
from orchestrator.domain.prices import MICROS, to_micros, usd
from orchestrator.runtime import Runtime, open_runtime
from orchestrator.settings import PROVIDER_NAMES, Settings, load_settings

if __package__ in (None, ""):  # run as ``python bench/money.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pipelines import PREFIX, body, sandbox_process

TARGET = Decimal("1.10")
GENERATE_USD = Decimal("0.31")
"""Per video, on every chosen provider (apixo's built-in generate prices overridden too)."""
EXTEND_USD_PER_SECOND = Decimal("0.045")
EXTEND_SECONDS = 7
"""What a Veo extend adds; priced per second, so an extend costs 0.315."""
ESTIMATE = GENERATE_USD + 2 * EXTEND_USD_PER_SECOND * EXTEND_SECONDS
"""One pipeline (generate + 2 extends) with the ON prices: 0.94."""
HEADROOM = 2
"""Every cap and budget is this many times what the run spends."""


@dataclass
class Run:
    mode: str
    wall_s: float
    cpu_s: float
    created_s: float
    steps: int
    checks: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def cpu_ms_per_step(self) -> float:
        return 1000 * self.cpu_s / self.steps

    def check(self, ok: bool, text: str) -> None:
        self.checks.append((ok, text))


def dollars(micros: int) -> Decimal:
    """Exact USD of ``micros``."""
    return Decimal(micros) / MICROS


def shown(amount: Decimal) -> str:
    """``amount`` as reelay shows USD: ``$0.94``."""
    return "$" + usd(to_micros(amount))


def prices_toml(providers: Sequence[str]) -> str:
    """A [[price]] row for each kind of step on each provider (a provider the file names is
    priced by the file alone: apixo's built-in rows no longer apply)."""
    rows: list[dict[str, str]] = []
    for name in providers:
        rows.append({"provider": name, "kind": "generate", "usd": str(GENERATE_USD)})
        rows.append({"provider": name, "kind": "extend", "usd": str(EXTEND_USD_PER_SECOND)})
        rows[-1]["per"] = "second"
    return "\n".join(
        "[[price]]\n" + "".join(f'{k} = "{v}"\n' for k, v in ({"per": "video"} | row).items())
        for row in rows
    )


def settings_for(
    args: argparse.Namespace, providers: list[str], on: bool, sandbox: str, tmp: Path, n: int
) -> Settings:
    cap = ESTIMATE * n * HEADROOM
    polling = {
        "first_poll_s": args.task_seconds,
        "poll_interval_s": args.task_seconds / 4,
        "poll_max_interval_s": args.task_seconds,
    }
    money: dict[str, Any] = {}
    if on:
        (tmp / "prices.toml").write_text(prices_toml(providers))
        money = {"prices_file": tmp / "prices.toml", "budget_usd_per_day": cap}
    return load_settings(
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        data_dir=tmp / "data",
        _env_file=None,
        **money,
        **{
            name: {
                "base_url": sandbox + PREFIX[name],
                "api_key": "k",
                **polling,
                **({"budget_usd_per_month": cap} if on and name in providers else {}),
            }
            for name in PROVIDER_NAMES
        },
    )


async def one_run(args: argparse.Namespace, providers: list[str], mode: str, n: int) -> Run:
    on = mode == "on"
    async with sandbox_process(args.task_seconds) as sandbox:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(args, providers, on, sandbox, Path(tmp), n)
            async with open_runtime(settings) as rt:
                engine = asyncio.create_task(rt.engine.run())
                gate = asyncio.Semaphore(args.concurrency)
                planned: dict[str, tuple[int | None, ...]] = {}

                async def create(i: int) -> None:
                    request = body(providers[i % len(providers)], i)
                    if on:
                        request = request.model_copy(update={"budget_usd": ESTIMATE * HEADROOM})
                    async with gate:
                        view, _ = await rt.operations.create(request)
                    planned[view.pipeline.id] = tuple(s.estimate_micros for s in view.steps)

                cpu0, start = time.process_time(), time.perf_counter()
                await asyncio.gather(*(create(i) for i in range(n)))
                created = time.perf_counter()
                while True:
                    counts = await rt.store.count_steps_by_status()
                    finished = counts.get("succeeded", 0) + counts.get("failed", 0) >= 3 * n
                    if finished or time.perf_counter() - start > args.timeout:
                        break
                    await asyncio.sleep(0.02)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
                rt.engine.stop()
                await engine
                run = Run(mode, wall, cpu, created - start, 3 * n)
                run.check(finished, f"every step finished within --timeout {args.timeout} s")
                await verify(run, rt, sandbox, providers, planned)
    return run


async def verify(
    run: Run,
    rt: Runtime,
    sandbox: str,
    providers: list[str],
    planned: dict[str, tuple[int | None, ...]],
) -> None:
    """Check what the run left in the store, the API and the sandbox."""
    n, steps = len(planned), run.steps
    cap = ESTIMATE * n * HEADROOM
    pipelines = (await rt.store.count_pipelines())["succeeded"]
    run.check(pipelines == n, f"pipelines succeeded {pipelines}/{n}")
    by_status = await rt.store.count_steps_by_status()
    ok = by_status.pop("succeeded", 0)
    waiting = await rt.store.budget_waiters()
    run.check(
        ok == steps and waiting == 0,
        f"steps succeeded {ok}/{steps}, others {by_status or 'none'}, "
        f"waiting for a budget {waiting}",
    )

    entries = await rt.store.ledger(list(planned))
    charged = sum(e.amount_micros or 0 for e in entries if e.state is Billing.CHARGED)
    unpriced = sum(e.amount_micros is None for e in entries)
    held = sum(e.state in (Billing.RESERVED, Billing.UNCERTAIN) for e in entries)
    states = ", ".join(sorted({e.state.value for e in entries}))
    run.check(
        len(entries) == steps,
        f"ledger rows {len(entries)} (one per submit: {steps}), states {states}, "
        f"{unpriced} unpriced",
    )
    run.check(held == 0, f"ledger rows still reserved or uncertain: {held}")
    estimates = {sum(e or 0 for e in p) if None not in p else None for p in planned.values()}
    if run.mode == "on":
        quoted = ", ".join(
            sorted("unpriced" if e is None else shown(dollars(e)) for e in estimates)
        )
        run.check(
            estimates == {int(ESTIMATE * MICROS)},
            f"per-pipeline estimate {shown(ESTIMATE)}; reelay planned {quoted}",
        )
        run.check(
            dollars(charged) == ESTIMATE * n,
            f"ledger charged {shown(dollars(charged))} == {n} x {shown(ESTIMATE)} "
            f"= {shown(ESTIMATE * n)}",
        )
    else:
        priced = sum(e or 0 for p in planned.values() for e in p)
        run.check(
            charged == priced,
            f"ledger charged {shown(dollars(charged))} == the built-in prices' estimates "
            f"{shown(dollars(priced))}",
        )

    transport = httpx.ASGITransport(app=rt.api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reelay") as api:
        spend = (await api.get("/v1/spend")).json()["total"]
        budgets = (await api.get("/v1/budgets")).json()
    used = {(b["scope"], b["period"]): Decimal(b["used_usd"]) for b in budgets["budgets"]}
    caps = {(b["scope"], b["period"]): b["cap_usd"] for b in budgets["budgets"] if b["cap_usd"]}
    if run.mode == "on":
        want = {("global", "day"): cap} | {(name, "month"): cap for name in providers}
        run.check(
            {k: Decimal(v) for k, v in caps.items()} == want,
            "caps in force (/v1/budgets): "
            + ", ".join(
                f"{scope} per {period} ${v}" for (scope, period), v in sorted(caps.items())
            ),
        )
    run.check(
        Decimal(spend["charged_usd"]) == dollars(charged)
        and Decimal(spend["reserved_usd"]) == 0
        and used["global", "day"] == dollars(charged)
        and budgets["waiting_steps"] == 0,
        f"API /v1/spend charged ${spend['charged_usd']}, reserved ${spend['reserved_usd']}; "
        f"/v1/budgets global day used ${used['global', 'day']}, "
        f"waiting_steps {budgets['waiting_steps']}",
    )

    tasks: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for name in providers:
            found = await client.get(f"{sandbox}/_sandbox/tasks", params={"provider": name})
            tasks += found.json()
    repeated = sum(t["submit_count"] != 1 for t in tasks)
    run.check(
        len(tasks) == steps and repeated == 0,
        f"sandbox tasks {len(tasks)} (one per step: {steps}), submitted more than once: {repeated}",
    )


def report(run: Run, label: str) -> None:
    print(
        f"{label:<9} {run.mode:<4} {run.wall_s:8.2f} {run.steps / run.wall_s:8.0f} "
        f"{run.cpu_ms_per_step:12.3f} {run.created_s:10.2f}"
    )
    for ok, text in run.checks:
        print(f"          [{'ok' if ok else 'FAIL'}] {text}")


def ratio(runs: list[Run], figure: Callable[[Run], float]) -> Decimal:
    """The median of ``figure`` over the ON runs over that of the OFF runs."""

    def median(mode: str) -> float:
        return statistics.median(figure(r) for r in runs if r.mode == mode)

    return Decimal(median("on") / median("off")).quantize(Decimal("0.001"))


async def main(args: argparse.Namespace) -> int:
    providers = list(PROVIDER_NAMES) if args.provider == "all" else [args.provider]
    n = args.pipelines
    print(
        f"{n} pipelines x (generate + 2 extends) on {', '.join(providers)}, "
        f"task {args.task_seconds} s, {args.rounds} rounds, fresh database and sandbox per run"
    )
    print(
        "off: no prices file, no caps; apixo's generate still has its built-in price "
        "(fast $0.20, quality $1.50 per video), the product's default, so it is still "
        "reserved and charged"
    )
    print(
        f"on:  prices file (generate {shown(GENERATE_USD)}/video, extend "
        f"{shown(EXTEND_USD_PER_SECOND)}/s x {EXTEND_SECONDS} s), "
        f"estimate {shown(ESTIMATE)}/pipeline; "
        f"budget_usd {shown(ESTIMATE * HEADROOM)} per pipeline, global daily cap and per-provider "
        f"monthly cap {shown(ESTIMATE * n * HEADROOM)}"
    )
    if args.warmup:
        await one_run(args, providers, "off", args.warmup)
        print(f"warm-up:  {args.warmup} pipelines, not counted")
    print(
        f"{'run':<9} {'mode':<4} {'wall s':>8} {'steps/s':>8} {'CPU ms/step':>12} {'created s':>10}"
    )
    runs: list[Run] = []
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            run = await one_run(args, providers, mode, n)
            report(run, f"round {r + 1}")
            runs.append(run)
    for name, figure in (
        ("wall time", lambda r: r.wall_s),
        ("CPU per step", lambda r: r.cpu_ms_per_step),
    ):
        value = ratio(runs, figure)
        verdict = "met" if value <= TARGET else "MISSED"
        print(f"on/off {name:<13} {value}  (median of rounds; target <= {TARGET}: {verdict})")
    failed = sum(not ok for run in runs for ok, _ in run.checks)
    print(f"checks failed        {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--provider", choices=[*PROVIDER_NAMES, "all"], default="apixo")
    parser.add_argument("--concurrency", type=int, default=100, help="creates in flight")
    parser.add_argument("--warmup", type=int, default=100, help="pipelines of an unreported run")
    parser.add_argument("--timeout", type=float, default=300, help="give up on a run after this")
    sys.exit(eventloop.run(main(parser.parse_args())))

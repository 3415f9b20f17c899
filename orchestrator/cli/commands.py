"""The ``reelay`` command: run the service, the sandbox or the demo, and drive pipelines."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from orchestrator.cli.arguments import build_parser
from orchestrator.cli.batch import is_json_lines, json_lines, resume_hint, submit_lines
from orchestrator.cli.client import ApiClient, ApiError
from orchestrator.cli.money import budget_table, quote_lines, spend_table
from orchestrator.cli.progress import pipeline_block, watch
from orchestrator.cli.providers import provider_table
from orchestrator.cli.videos import describe_whole, save_whole_video
from orchestrator.cli.watch import watch_events
from orchestrator.common import eventloop, logs
from orchestrator.errors import Rejected
from orchestrator.settings import ConfigError, load_settings
from orchestrator.startup import EXIT_CODE, CannotStart, listen, refusal_in

DEFAULT_API_URL = "http://127.0.0.1:8081"
SERVICES = ("serve", "sandbox", "demo")


class UsageError(Rejected):
    """The command line is wrong; the message says how."""


def _json_text(args: argparse.Namespace) -> str | None:
    """What --json names ('-': stdin), or None without --json."""
    if not args.json:
        return None
    if args.json == "-":
        return sys.stdin.read()
    with open(args.json, encoding="utf-8") as f:
        return f.read()


def _body(args: argparse.Namespace, text: str | None) -> dict[str, Any]:
    """The request body: from --json's ``text`` if given, with the other flags overriding its
    fields."""
    body: dict[str, Any] = {}
    if text is not None:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--json: not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise UsageError("--json: the request body must be a JSON object")
    body = _with_flags(body, args)
    if not (body.get("provider") or body.get("providers")) or not body.get("prompt"):
        raise UsageError(
            f"{args.command} needs --provider (or --providers) and --prompt (or --json FILE)"
        )
    return body


def _with_flags(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``body`` with the fields the flags give."""
    body = dict(body)
    for key in ("provider", "prompt", "tier", "model", "webhook_url"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.provider:
        body.pop("providers", None)
    if args.providers is not None:
        body.pop("provider", None)
        body["providers"] = [name.strip() for name in args.providers.split(",") if name.strip()]
    if args.budget is not None:
        body["budget_usd"] = args.budget  # as typed: the API checks it, exactly
    params = {k: getattr(args, k) for k in ("aspect_ratio", "resolution") if getattr(args, k)}
    if params:
        body["params"] = {**(body.get("params") or {}), **params}
    extends: list[dict[str, Any]] = [{"prompt": p} for p in args.extend]
    extends += [{"prompt": p, "from": 0} for p in args.branch]
    extends += [{"prompt": p, "mode": "continue"} for p in args.continue_]
    if extends:
        body["extends"] = [*(body.get("extends") or []), *extends]
    if args.target_seconds is not None:
        body["target_seconds"] = args.target_seconds
    return body


async def _client_command(args: argparse.Namespace) -> int:
    url = os.environ.get("REELAY_API_URL", DEFAULT_API_URL)
    async with ApiClient(url, os.environ.get("REELAY_API_TOKEN")) as client:
        if args.command == "submit":
            text = _json_text(args)
            if text is not None and is_json_lines(args.json, text):
                return await _submit_lines(client, args, text)
            pipeline = await client.create(_body(args, text), args.idempotency_key)
            print(pipeline["id"])
            if args.wait:
                final = (await watch(client, [pipeline["id"]]))[0]
                return 0 if final["status"] == "succeeded" else 1
        elif args.command == "quote":
            quote = await client.request("POST", "/v1/quotes", json=_body(args, _json_text(args)))
            print(json.dumps(quote, indent=2) if args.raw else "\n".join(quote_lines(quote)))
        elif args.command == "status":
            pipeline = await client.get(args.id)
            print(
                json.dumps(pipeline, indent=2)
                if args.json
                else "\n".join(pipeline_block(pipeline, money=True))
            )
        elif args.command == "list":
            page = await client.list(
                status=args.status,
                provider=args.provider,
                limit=args.limit,
                cursor=args.cursor,
                created_from=args.since,
                created_to=args.until,
                q=args.search,
            )
            for p in page["items"]:
                done = sum(s["status"] == "succeeded" for s in p["steps"])
                steps = f"{done}/{len(p['steps'])} steps"
                print(f"{p['id']}  {p['provider']:<9} {p['status']:<10} {steps}")
            if page["next_cursor"]:
                print(f"more: reelay list --cursor {page['next_cursor']}")
        elif args.command == "cancel":
            print((await client.cancel(args.id, args.reason))["status"])
        elif args.command == "retry":
            pipeline = await client.retry(args.id, args.reason)
            print("\n".join(pipeline_block(pipeline)))
        elif args.command == "fetch":
            return await _fetch(client, args, Path(args.dir))
        elif args.command == "watch":
            return 0 if await watch_events(client, args.id) == "succeeded" else 1
        elif args.command == "extend":
            body: dict[str, Any] = {"prompt": args.prompt}
            if args.from_ is not None:
                body["from"] = args.from_
            if args.continue_:
                body["mode"] = "continue"
            if args.reason is not None:
                body["reason"] = args.reason
            pipeline = await client.request("POST", f"/v1/pipelines/{args.id}/extends", json=body)
            print(f"step {len(pipeline['steps']) - 1} added; pipeline {pipeline['status']}")
        elif args.command == "webhook-secret":
            for secret in (await client.request("GET", "/v1/webhook-secret"))["secrets"]:
                print(secret)
        elif args.command == "providers":
            report = await client.request("GET", "/v1/providers")
            print(
                json.dumps(report, indent=2)
                if args.json
                else "\n".join(provider_table(report["items"]))
            )
        elif args.command == "spend":
            query = {
                "from": args.from_,
                "to": args.to,
                "group_by": args.group_by,
                "provider": args.provider,
            }
            params = {k: v for k, v in query.items() if v is not None}
            report = await client.request("GET", "/v1/spend", params=params)
            print(json.dumps(report, indent=2) if args.json else "\n".join(spend_table(report)))
        elif args.command == "budgets":
            if args.action == "set":
                report = await client.request("PATCH", "/v1/budgets", json=_budget_patch(args))
            else:
                report = await client.request("GET", "/v1/budgets")
            print(json.dumps(report, indent=2) if args.json else "\n".join(budget_table(report)))
    return 0


async def _submit_lines(client: ApiClient, args: argparse.Namespace, text: str) -> int:
    """One pipeline per line of --json, each with the flags' fields; the keys' prefix is
    --idempotency-key, else a new one (said on stderr, to resume with)."""
    if args.wait:
        raise UsageError("submit --wait follows one pipeline; not a file of JSON Lines")
    try:
        lines = json_lines(text)
    except ValueError as exc:
        raise UsageError(f"--json {args.json}: {exc}") from exc
    if not lines:
        raise UsageError(f"--json {args.json}: no request body in it")
    prefix = args.idempotency_key
    if prefix is None:
        prefix = secrets.token_hex(8)
        resume_hint(prefix, sys.stderr)
    bodies = [(n, _with_flags(body, args)) for n, body in lines]
    return await submit_lines(client, bodies, prefix, print_=print)


def _budget_patch(args: argparse.Namespace) -> dict[str, Any]:
    """Only the caps given: one left out keeps its cap, "none" (JSON null) lifts it."""
    body: dict[str, Any] = {"scope": args.scope}
    for period in ("day", "month"):
        value = getattr(args, f"per_{period}")
        if value is not None:
            body[f"per_{period}_usd"] = None if value.lower() == "none" else value
    if args.reset:
        if len(body) > 1:
            raise UsageError("budgets set: --reset goes back to the settings' caps; give it alone")
        body["reset"] = True
    elif len(body) == 1:
        raise UsageError("budgets set: nothing to change; give --per-day, --per-month or --reset")
    return body


async def _fetch(client: ApiClient, args: argparse.Namespace, target: Path) -> int:
    """Each branch's whole video (or the one ``--leaf`` names), waiting while it is made;
    with ``--all`` also every step's own file."""
    pipeline_id: str = args.id
    await anyio.Path(target).mkdir(parents=True, exist_ok=True)
    listed = (await client.request("GET", f"/v1/pipelines/{pipeline_id}/videos"))["videos"]
    leaves = [args.leaf] if args.leaf is not None else [v["leaf"] for v in listed]
    for leaf in leaves:
        path = target / f"{pipeline_id}-whole-step{leaf}.mp4"
        video = await save_whole_video(client, pipeline_id, leaf, path, wait_s=args.wait)
        print(f"{path}  {describe_whole(video)}")
    if args.all:
        pipeline = await client.get(pipeline_id)
        for step in pipeline["steps"]:
            if not step.get("artifact"):
                print(f"step {step['index']}: no kept video ({step['status']})")
                continue
            path = target / f"{pipeline_id}-step{step['index']}.mp4"
            size = await client.download(step["artifact"]["url"], path)
            print(f"{path}  {size} bytes  sha256 {step['artifact']['sha256']}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from orchestrator.sandbox import SandboxConfig, addresses, run

    overrides = {"task_seconds": args.task_seconds} if args.task_seconds is not None else {}
    config = SandboxConfig(**overrides)
    if args.print_env:
        print("\n".join(addresses.env_lines(args.host, args.port, config.api_key)))
        return 0
    sock = listen(args.host, args.port, "--host", "--port")  # refused before the line below
    print(addresses.startup_line(args.host, args.port), flush=True)
    run(args.host, args.port, config, sock=sock)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure("warning" if args.command != "sandbox" else "info")
    try:
        if args.command == "serve":
            from orchestrator.runtime import serve

            settings = load_settings()
            logs.configure(settings.log_level, settings.log_format)
            eventloop.run(serve(settings))
        elif args.command == "sandbox":
            return _sandbox(args)
        elif args.command == "demo":
            from orchestrator.cli.demo import run_demo

            return eventloop.run(
                run_demo(
                    Path(args.dir).absolute(),
                    task_seconds=args.task_seconds,
                    keep=args.keep,
                    port=args.port,
                )
            )
        else:
            return eventloop.run(_client_command(args))
    except (ApiError, ConfigError, UsageError, CannotStart) as exc:
        print(f"reelay: {exc}", file=sys.stderr)
        return EXIT_CODE
    except OSError as exc:
        if args.command in SERVICES:
            raise  # not a known start-up failure (those are CannotStart): a bug to show whole
        print(f"reelay: {exc}", file=sys.stderr)
        return EXIT_CODE
    except BaseExceptionGroup as group:  # the demo's task group, ended by a refusal
        refused = refusal_in(group)
        if refused is None:
            raise
        print(f"reelay: {refused}", file=sys.stderr)
        return EXIT_CODE
    except KeyboardInterrupt:
        return 130
    return 0

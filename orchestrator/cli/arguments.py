"""The ``reelay`` command line: its commands and their arguments (``commands`` runs them)."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelay", description="Reliable Veo 3.1 generate -> extend pipelines."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run the receiver, internal API and engine")

    sandbox = sub.add_parser("sandbox", help="run the provider sandbox (all four providers)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=9000)
    sandbox.add_argument("--task-seconds", type=float, help="how long each task takes")
    sandbox.add_argument(
        "--print-env",
        action="store_true",
        help="print the export lines pointing reelay at this sandbox, and exit",
    )

    demo = sub.add_parser("demo", help="run reelay + sandbox, one pipeline per provider")
    demo.add_argument("--dir", default="reelay-demo", help="where the demo keeps its data")
    demo.add_argument("--task-seconds", type=float, default=3.0)
    demo.add_argument(
        "--keep",
        action="store_true",
        help="go on serving the dashboard after the demo, until Ctrl-C",
    )
    demo.add_argument("--port", type=int, help="the API's and dashboard's port (default: free)")

    submit = sub.add_parser(
        "submit",
        help="create a pipeline and print its id; or, from JSON Lines, one pipeline per line",
    )
    _request_arguments(submit)
    submit.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="send the same KEY again to get the same pipeline, not a new one; with JSON Lines, "
        "line N's key is KEY-N",
    )
    submit.add_argument("--wait", action="store_true", help="show live progress until the end")

    quote = sub.add_parser("quote", help="what submit would cost, creating nothing")
    _request_arguments(quote)
    quote.add_argument("--raw", action="store_true", help="print the raw JSON")

    status = sub.add_parser("status", help="show a pipeline")
    status.add_argument("id")
    status.add_argument("--json", action="store_true", help="print the raw JSON")

    listing = sub.add_parser("list", help="list pipelines, newest first")
    listing.add_argument("--status")
    listing.add_argument("--provider")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--cursor")
    listing.add_argument("--since", help="created at or after: 2026-12-04 or an ISO time (UTC)")
    listing.add_argument("--until", help="created before the end of this date, or this time")
    listing.add_argument("--search", help="text in a prompt or in the metadata")

    cancel = sub.add_parser("cancel", help="cancel a pipeline")
    cancel.add_argument("id")
    _reason_option(cancel)

    retry = sub.add_parser(
        "retry", help="submit a pipeline's failed and held (ambiguous) steps again"
    )
    retry.add_argument("id")
    _reason_option(retry)

    fetch = sub.add_parser("fetch", help="download each branch's whole video")
    fetch.add_argument("id")
    fetch.add_argument("--dir", default=".", help="where to write them (default: here)")
    fetch.add_argument(
        "--leaf", type=int, metavar="STEP", help="only the branch from the base to this step"
    )
    fetch.add_argument(
        "--all", action="store_true", help="also every step's own file, as the provider made it"
    )
    fetch.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="S",
        help="how long to wait for a video being made (default: 120)",
    )

    watch_cmd = sub.add_parser("watch", help="follow a pipeline's events live until it ends")
    watch_cmd.add_argument("id")

    extend = sub.add_parser("extend", help="add an extend step to a pipeline")
    extend.add_argument("id")
    extend.add_argument("--prompt", required=True)
    extend.add_argument(
        "--from",
        dest="from_",
        type=int,
        metavar="STEP",
        help="step to continue (default: the last one)",
    )
    extend.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="a new generation from the step's last frame instead of the provider's extend",
    )
    _reason_option(extend)

    sub.add_parser("webhook-secret", help="print the secret(s) signing pipeline webhook_url calls")

    providers = sub.add_parser("providers", help="what each provider is doing")
    providers.add_argument("--json", action="store_true", help="print the raw JSON")

    spend = sub.add_parser("spend", help="money charged, refunded and reserved, grouped")
    spend.add_argument("--from", dest="from_", metavar="DAY", help="first UTC day (2026-12-01)")
    spend.add_argument("--to", metavar="DAY", help="last UTC day, inclusive (default: today)")
    spend.add_argument("--group-by", choices=["provider", "model", "day", "pipeline"])
    spend.add_argument("--provider", metavar="NAME")
    spend.add_argument("--json", action="store_true", help="print the raw JSON")

    budgets = sub.add_parser("budgets", help="budget caps per UTC day and month")
    budgets.add_argument("--json", action="store_true", help="print the raw JSON")
    budgets_sub = budgets.add_subparsers(dest="action", metavar="ACTION")
    budgets_set = budgets_sub.add_parser("set", help="change one scope's caps at run time")
    budgets_set.add_argument("scope", help='"global" or a provider name')
    for period in ("day", "month"):
        budgets_set.add_argument(
            f"--per-{period}", metavar="USD", help=f'cap per UTC {period}, or "none" to lift it'
        )
    budgets_set.add_argument(
        "--reset", action="store_true", help="go back to the caps the settings give"
    )
    return parser


def _request_arguments(command: argparse.ArgumentParser) -> None:
    """The arguments describing a pipeline request: submit's and quote's."""
    which = command.add_mutually_exclusive_group()
    which.add_argument(
        "--provider", help='apimart, octopusx, apixo, apifree, or "auto" (the cheapest healthy)'
    )
    which.add_argument(
        "--providers", metavar="A,B", help="route the base generation to the best of these"
    )
    command.add_argument("--prompt", help="prompt of the base generation")
    command.add_argument(
        "--extend",
        action="append",
        default=[],
        metavar="PROMPT",
        help="add an extend step continuing the previous one (repeatable)",
    )
    command.add_argument(
        "--branch",
        action="append",
        default=[],
        metavar="PROMPT",
        help="add an extend step continuing the base (step 0) (repeatable)",
    )
    command.add_argument(
        "--continue",
        dest="continue_",
        action="append",
        default=[],
        metavar="PROMPT",
        help="add a continuation of the previous step: a new generation from its last frame, "
        "past the provider's extend depth (repeatable)",
    )
    command.add_argument(
        "--target-seconds",
        type=int,
        metavar="S",
        help="how long the video should be: reelay plans the extends and continuations",
    )
    command.add_argument("--tier", choices=["fast", "quality"])
    command.add_argument("--model")
    command.add_argument("--aspect-ratio")
    command.add_argument("--resolution")
    command.add_argument("--webhook-url")
    command.add_argument("--budget", metavar="USD", help="the most the pipeline may spend")
    command.add_argument(
        "--json",
        metavar="FILE",
        help="request body from FILE ('-' = stdin); other flags override its fields. "
        "JSON Lines (a .jsonl FILE, or more than one JSON value): one body per line, created "
        "in batches (submit)",
    )


def _reason_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--reason", metavar="TEXT", help="why; kept with your name in the pipeline's event log"
    )

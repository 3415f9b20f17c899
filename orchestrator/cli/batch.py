"""``reelay submit --json FILE`` when FILE holds many pipelines, as JSON Lines: one request body
a line, sent through ``POST /v1/pipelines/batch``, one printed result a line.

Each line's idempotency key is ``<prefix>-<line number>``: the same command with the same
``--idempotency-key`` replays what was created instead of creating it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from orchestrator.cli.client import ApiClient, problem_line

BATCH_ITEMS = 1000
"""The most items of one batch request (the route's limit)."""
BATCH_BYTES = 8 << 20
"""The most bytes of one batch request: half the route's body limit."""

Line = tuple[int, dict[str, Any]]
"""A line's number (from 1) and its request body."""


def is_json_lines(name: str, text: str) -> bool:
    """Whether ``text`` is JSON Lines: ``name`` ends in ``.jsonl``, or it holds more than one
    JSON value. (One value, or text that is not JSON, is the single body's to report.)"""
    if name.endswith(".jsonl"):
        return True
    text = text.strip()
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return False
    return bool(text[end:].strip())


def json_lines(text: str) -> list[Line]:
    """Every non-blank line's body; ``ValueError`` naming the first line that is not a JSON
    object (so that nothing is sent)."""
    found: list[Line] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number} is not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise ValueError(f"line {number} is not a JSON object")
        found.append((number, body))
    return found


def batches(items: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``items`` in order, in requests of at most ``BATCH_ITEMS`` items and about
    ``BATCH_BYTES``."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        length = len(json.dumps(item)) + 1
        if batch and (len(batch) == BATCH_ITEMS or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch


async def submit_lines(
    client: ApiClient,
    lines: Sequence[Line],
    key_prefix: str,
    *,
    print_: Callable[[str], None],
) -> int:
    """Create every line's pipeline, printing ``<line> <status> <pipeline id or error>`` for
    each; 0 when every line was created (201) or replayed (200), else 1."""
    items = [{"idempotency_key": f"{key_prefix}-{n}", "pipeline": body} for n, body in lines]
    numbers = iter(n for n, _ in lines)
    failed = 0
    for batch in batches(items):
        for result in (await client.create_batch(batch))["items"]:
            status = result["status"]
            said = (
                result["pipeline"]["id"] if "pipeline" in result else problem_line(result["error"])
            )
            print_(f"{next(numbers)} {status} {said}")
            failed += status not in (200, 201)
    return 1 if failed else 0


def resume_hint(key_prefix: str, err: TextIO) -> None:
    err.write(
        f"reelay: idempotency keys are {key_prefix}-<line>; if this run stops, resume it with "
        f"--idempotency-key {key_prefix}\n"
    )

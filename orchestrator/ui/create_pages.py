"""Creating a pipeline from a form: fill it in (extends added as rows), review the planned steps,
confirm. The API's own validation decides; its messages are shown beside the fields they name.

The form's inputs are named by the API's field paths (``params.resolution``,
``extends[1].from``), so an error's field is the input it belongs beside. A confirmed form
carries an idempotency key made at review time: sending it twice creates one pipeline.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orchestrator.api.bodies import field_name
from orchestrator.api.services import services
from orchestrator.domain.models import PipelineView
from orchestrator.errors import Rejected
from orchestrator.plans import PipelineRequest, plan
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import base, caller

MAX_ROWS = 100
PARAMS = ("aspect_ratio", "resolution", "duration", "seed", "negative_prompt", "generate_audio")
_ROW = re.compile(r"extends\[(\d+)\]\.prompt")


@dataclass(slots=True)
class Draft:
    """The form as typed, and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    """Field path -> message; ``""`` holds problems no input owns."""

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def hidden(self) -> list[tuple[str, str]]:
        return sorted(self.values.items())


def read_draft(form: FormData) -> Draft:
    values = {k: str(v) for k, v in form.multi_items() if _is_field(k)}
    rows = max((int(m.group(1)) + 1 for k in values if (m := _ROW.fullmatch(k))), default=0)
    return Draft(values, min(rows, MAX_ROWS))


def _is_field(name: str) -> bool:
    return name in ("provider", "tier", "model", "prompt", "webhook_url", "metadata") or (
        name.startswith(("params.", "extends["))
    )


def body_of(draft: Draft) -> dict[str, Any]:
    """The API request body the form describes (validation is left to the API's model)."""
    v = draft.value
    body: dict[str, Any] = {"provider": v("provider"), "prompt": v("prompt")}
    for name in ("tier", "model", "webhook_url"):
        if v(name).strip():
            body[name] = v(name).strip()
    params: dict[str, Any] = {}
    for name in PARAMS:
        raw = v(f"params.{name}").strip()
        if not raw:
            continue
        if name in ("duration", "seed"):
            params[name] = int(raw) if raw.lstrip("-").isdecimal() else raw
        elif name == "generate_audio":
            params[name] = raw == "yes"
        else:
            params[name] = raw
    if params:
        body["params"] = params
    if v("metadata").strip():
        try:
            body["metadata"] = json.loads(v("metadata"))
        except json.JSONDecodeError as exc:
            draft.problems["metadata"] = f"must be a JSON object: {exc.msg}"
    extends: list[dict[str, Any]] = []
    for i in range(draft.rows):
        prompt = v(f"extends[{i}].prompt")
        start = v(f"extends[{i}].from").strip()
        if not prompt.strip() and not start:
            continue  # an empty row is ignored, as a user would expect
        ext: dict[str, Any] = {"prompt": prompt}
        if start:
            ext["from"] = int(start) if start.isdecimal() else start
        extends.append(ext)
    if extends:
        body["extends"] = extends
    return body


def check(request: Request, draft: Draft) -> tuple[PipelineRequest, PipelineView] | None:
    """The validated request and the steps it would make; None with ``draft.problems`` set."""
    body = body_of(draft)  # a metadata that is not JSON is a problem already, checked on
    try:
        parsed = PipelineRequest.model_validate(body)
    except ValidationError as exc:
        for e in exc.errors():
            draft.problems.setdefault(field_name(tuple(e["loc"])), str(e["msg"]))
        return None
    if draft.problems:
        return None
    board = dashboard(request)
    try:
        planned = plan(parsed, board.providers, pipeline_id="pl_review", now=board.clock())
    except Rejected as exc:
        for p in exc.problems:
            draft.problems.setdefault(p.field, p.message)
        if not exc.problems:
            draft.problems[""] = str(exc)
        return None
    return parsed, planned


async def new_page(request: Request) -> Response:
    return _form(request, Draft(rows=1))


async def submit(request: Request, form: FormData) -> Response:
    """One POST for every button of the form: add or remove a row, review, or create."""
    draft = read_draft(form)
    op = str(form.get("op") or "review")
    if op == "add":
        draft.rows = min(draft.rows + 1, MAX_ROWS)
        return _form(request, draft)
    if op == "edit":
        return _form(request, draft)
    if op.startswith("remove-") and op[7:].isdecimal():
        _remove_row(draft, int(op[7:]))
        return _form(request, draft)
    checked = check(request, draft)
    if checked is None:
        return _form(request, draft, status=422)
    parsed, planned = checked
    if op != "create":
        key = f"ui-{secrets.token_urlsafe(16)}"
        context = {"draft": draft, "planned": planned, "key": key}
        return dashboard(request).pages.render(request, "create_review.html", context, nav="new")
    given = str(form.get("key") or "")
    view, _ = await services(request).operations.create(
        parsed, given or None, actor=caller(request).actor
    )
    return RedirectResponse(f"{base(request.scope)}/pipelines/{view.pipeline.id}", 303)


def _remove_row(draft: Draft, row: int) -> None:
    moved: dict[str, str] = {}
    for name, value in draft.values.items():
        m = re.fullmatch(r"extends\[(\d+)\]\.(\w+)", name)
        if m is None or int(m.group(1)) < row:
            moved[name] = value
        elif int(m.group(1)) > row:
            moved[f"extends[{int(m.group(1)) - 1}].{m.group(2)}"] = value
    draft.values = moved
    draft.rows = max(0, draft.rows - 1)


def _form(request: Request, draft: Draft, status: int = 200) -> Response:
    board = dashboard(request)
    providers = sorted(board.providers)
    if not draft.value("provider") and providers:
        draft.values["provider"] = providers[0]
    caps = {
        name: {
            "aspect_ratios": sorted(p.capabilities.aspect_ratios),
            "resolutions": sorted(p.capabilities.resolutions),
            "max_extend_depth": p.capabilities.max_extend_depth,
        }
        for name, p in board.providers.items()
    }
    context = {"draft": draft, "providers": providers, "caps": caps, "params": PARAMS}
    return board.pages.render(request, "create.html", context, status=status, nav="new")

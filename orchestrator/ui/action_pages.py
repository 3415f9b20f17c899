"""Actions on a pipeline from its page: cancel, retry, extend. Each is confirmed in the browser
first, and each is written to the pipeline's event log with who did it and why."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orchestrator.api.services import services
from orchestrator.errors import Rejected
from orchestrator.plans import ExtendSpec
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import base, caller

MAX_REASON = 500


def reason_of(form: FormData) -> str | None:
    reason = str(form.get("reason") or "").strip()
    return reason[:MAX_REASON] or None


def _to_pipeline(request: Request, pipeline_id: str, anchor: str = "") -> Response:
    return RedirectResponse(f"{base(request.scope)}/pipelines/{pipeline_id}{anchor}", 303)


async def cancel(request: Request, form: FormData) -> Response:
    pipeline_id = request.path_params["pipeline_id"]
    ops = services(request).operations
    await ops.cancel(pipeline_id, actor=caller(request).actor, reason=reason_of(form))
    return _to_pipeline(request, pipeline_id)


async def retry(request: Request, form: FormData) -> Response:
    pipeline_id = request.path_params["pipeline_id"]
    ops = services(request).operations
    await ops.retry(pipeline_id, actor=caller(request).actor, reason=reason_of(form))
    return _to_pipeline(request, pipeline_id)


async def extend(request: Request, form: FormData) -> Response:
    """Review an extend (``confirm`` absent) or make it (``confirm=yes``)."""
    board = dashboard(request)
    ops = services(request).operations
    pipeline_id = request.path_params["pipeline_id"]
    view = await ops.get(pipeline_id)
    raw_from = str(form.get("from") or "")
    prompt = str(form.get("prompt") or "")
    mode = "continue" if form.get("mode") == "continue" else "extend"
    problems: dict[str, str] = {}
    spec: ExtendSpec | None = None
    if not raw_from.isdecimal():
        problems["from"] = "choose the step to extend"
    else:
        try:
            spec = ExtendSpec.model_validate(
                {"prompt": prompt, "from": int(raw_from), "mode": mode}
            )
        except ValidationError as exc:
            problems["prompt"] = str(exc.errors()[0]["msg"])
    if spec is not None and form.get("confirm") == "yes":
        try:
            after = await ops.add_extend(
                pipeline_id, spec, actor=caller(request).actor, reason=reason_of(form)
            )
        except Rejected as exc:
            problems.update({p.field: p.message for p in exc.problems} or {"from": str(exc)})
        else:
            return _to_pipeline(request, pipeline_id, f"#step-{after.steps[-1].index}")
    source = (
        view.steps[int(raw_from)]
        if raw_from.isdecimal() and int(raw_from) < len(view.steps)
        else None
    )
    return board.pages.render(
        request,
        "extend_review.html",
        {
            "p": view.pipeline,
            "source": source,
            "prompt": prompt,
            "from": raw_from,
            "mode": mode,
            "reason": reason_of(form) or "",
            "problems": problems,
        },
        status=422 if problems else 200,
        nav="pipelines",
    )

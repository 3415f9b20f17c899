"""What more than one adapter needs to read provider answers and check parameters.

The status table (docs/providers.md, D6), timestamps (D8), result-URL lifetime (D9), the
success-without-output rule (D5), lenient JSON accessors that turn any surprise into
``ProviderResponseError``, the OpenAI-style video object that octopusx and apifree both
return, and the parameter checks every adapter's ``check_params`` starts from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orchestrator.domain.values import Problem, TaskState, TaskStatus, Tier, VideoParams
from orchestrator.providers.errors import ProviderResponseError

URL_LIFETIME_S = 86_400.0
NO_OUTPUT = "NO_OUTPUT"

_STATES: Mapping[str, TaskState] = {
    "submitted": TaskState.QUEUED,
    "pending": TaskState.QUEUED,
    "queued": TaskState.QUEUED,
    "processing": TaskState.RUNNING,
    "in_progress": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "success": TaskState.SUCCEEDED,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "failure": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "canceled": TaskState.CANCELLED,
    "expired": TaskState.EXPIRED,
}


def state_for(raw_status: str) -> TaskState:
    """Case-insensitive lookup; a string we do not know is UNKNOWN, never a failure (D6)."""
    return _STATES.get(raw_status.strip().lower(), TaskState.UNKNOWN)


def mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def require_mapping(value: object, provider: str, what: str) -> Mapping[str, Any]:
    found = mapping(value)
    if found is None:
        raise ProviderResponseError(f"expected {what} to be an object", provider=provider)
    return found


def first_item(value: object) -> object:
    """apimart wraps one task in a list on submit and not elsewhere; accept either."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def text(value: object) -> str | None:
    """A non-blank string, else None (octopusx uses "" for "not yet")."""
    return value if isinstance(value, str) and value.strip() else None


def require_text(value: object, provider: str, what: str) -> str:
    found = text(value)
    if found is None:
        raise ProviderResponseError(f"answer has no {what}", provider=provider)
    return found


def number(value: object) -> float | None:
    """A finite JSON number or numeric string; booleans and huge integers are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def epoch_s(value: object, *, millis: bool = False) -> float | None:
    """Epoch seconds from seconds or milliseconds; 0 and negatives mean "not yet" (D8)."""
    found = number(value)
    if found is None or found <= 0:
        return None
    return found / 1000 if millis else found


def percent(value: object) -> int | None:
    found = number(value)
    return None if found is None else int(min(100.0, max(0.0, found)))


def url_list(value: object) -> tuple[str, ...]:
    """One URL or a list of them; anything else contributes nothing."""
    items = value if isinstance(value, list) else [value]
    return tuple(url for url in map(text, items) if url is not None)


def dig(value: object, path: Sequence[str]) -> object:
    for key in path:
        found = mapping(value)
        if found is None:
            return None
        value = found.get(key)
    return value


def loads(raw: str | bytes, provider: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ProviderResponseError(f"{what} is not valid JSON", provider=provider) from None


def pick_code(*candidates: object) -> str | None:
    """The most telling code: a word like ``rate_limit_error`` beats a bare number like 429."""
    codes = [str(c) for c in candidates if isinstance(c, int | str) and not isinstance(c, bool)]
    codes = [c for c in codes if c.strip()]
    ranked = [c for c in codes if not c.strip().isdigit()] or codes
    return ranked[0] if ranked else None


def error_fields(value: object) -> tuple[str | None, str | None]:
    """``(code, message)`` from an error object ``{code, message, type}`` or a bare string."""
    found = mapping(value)
    if found is None:
        return None, text(value)
    return pick_code(found.get("code"), found.get("type")), text(found.get("message"))


def raw_status(value: object, provider: str) -> str:
    """The provider's status verbatim; a missing one is "" (UNKNOWN), not an error."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProviderResponseError("status is not a string", provider=provider)
    return value


def task_status(
    task_id: str,
    raw: str,
    *,
    urls: tuple[str, ...],
    progress: int | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    created_at: float | None = None,
    completed_at: float | None = None,
    expires_at: float | None = None,
) -> TaskStatus:
    """Build the status, applying D5 (success without a URL fails) and D9 (URL lifetime)."""
    state = state_for(raw)
    if state is TaskState.SUCCEEDED and not urls:
        state, error_code = TaskState.FAILED, NO_OUTPUT
        error_message = "the provider reported success but returned no video URL"
    lifetime_from = completed_at or created_at
    if not urls:
        expires_at = None
    elif expires_at is None and lifetime_from is not None:
        expires_at = lifetime_from + URL_LIFETIME_S
    return TaskStatus(
        task_id=task_id,
        state=state,
        raw_status=raw,
        progress=progress,
        video_urls=urls,
        urls_expire_at=expires_at,
        error_code=error_code,
        error_message=error_message,
        created_at=created_at,
        completed_at=completed_at,
    )


def video_id(body: object, provider: str) -> str:
    """The task id of an OpenAI-style video object (octopusx, apifree)."""
    video = require_mapping(body, provider, "the video object")
    return require_text(video.get("id"), provider, "video id")


def read_video_object(
    body: object,
    *,
    provider: str,
    task_id: str | None,
    url_paths: Iterable[Sequence[str]],
    content_url: Callable[[str], str],
) -> TaskStatus:
    """An OpenAI-style video object (octopusx, apifree).

    The URL is the first of ``url_paths`` that holds one; a completed task without any falls
    back to ``content_url(task_id)``, the provider's download route (D5).
    """
    video = require_mapping(body, provider, "the video object")
    task_id = task_id or require_text(video.get("id"), provider, "video id")
    raw = raw_status(video.get("status"), provider)
    urls: tuple[str, ...] = ()
    for path in url_paths:
        urls = urls or url_list(dig(video, path))
    if not urls and state_for(raw) is TaskState.SUCCEEDED:
        urls = (content_url(task_id),)
    code, message = error_fields(video.get("error"))
    return task_status(
        task_id,
        raw,
        urls=urls,
        progress=percent(video.get("progress")),
        error_code=code,
        error_message=message,
        created_at=epoch_s(video.get("created_at")) or epoch_s(video.get("created")),
        completed_at=epoch_s(video.get("completed_at")),
        expires_at=epoch_s(video.get("expires_at")),
    )


def choose_model(
    model: str | None, tier: Tier | None, default: str | None, by_tier: Mapping[Tier, str]
) -> str | None:
    """D2: an explicit model, else the tier's model, else the configured default, else fast."""
    if model:
        return model
    if tier is not None and tier in by_tier:
        return by_tier[tier]
    return default or by_tier.get(Tier.FAST)


def choice_problems(
    provider: str,
    params: VideoParams,
    *,
    aspect_ratios: Iterable[str],
    resolutions: Iterable[str],
    durations: Iterable[int],
) -> list[Problem]:
    """Refuse values outside the allowed sets; resolution compares case-insensitively."""
    checks: list[tuple[str, object, list[Any]]] = [
        ("aspect_ratio", params.aspect_ratio, sorted(aspect_ratios)),
        ("resolution", params.resolution and params.resolution.lower(), sorted(resolutions)),
        ("duration", params.duration, sorted(durations)),
    ]
    problems = [
        Problem(name, f"{provider} supports {name} {', '.join(map(str, allowed))}; got {value}")
        for name, value, allowed in checks
        if value is not None and value not in allowed
    ]
    if params.last_frame_url is not None and params.first_frame_url is None:
        problems.append(Problem("last_frame_url", "last_frame_url requires first_frame_url"))
    return problems


def unsupported(params: VideoParams, fields: Iterable[str], message: str) -> list[Problem]:
    """One problem per field in ``fields`` that is set; ``{field}`` in ``message`` names it."""
    return [
        Problem(name, message.format(field=name))
        for name in fields
        if getattr(params, name) is not None
    ]


def silent_audio_problems(provider: str, params: VideoParams) -> list[Problem]:
    """For providers without an audio switch: Veo 3.1 audio is native, so only False is refused."""
    if params.generate_audio is False:
        return [Problem("generate_audio", f"{provider} always generates audio; got false")]
    return []

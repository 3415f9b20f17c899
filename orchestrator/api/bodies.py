"""Request bodies: read within a size limit, parsed as JSON, validated into the route's model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from orchestrator.errors import BadRequest, FieldProblem, PayloadTooLarge, Rejected, joined

MAX_BODY = 1 << 20

M = TypeVar("M", bound=BaseModel)


async def read_model(
    request: Request, model: type[M], *, optional: bool = False, limit: int = MAX_BODY
) -> M:
    """The body as ``model``; an ``optional`` body may be empty (every field's default).

    Every wrong field is named at once (422); a body that is not JSON is a 400."""
    raw = await read_body(request, limit)
    data: Any = {} if optional and not raw.strip() else parse_json(raw)
    return validated(model, data)


def validated(model: type[M], data: Any) -> M:
    """``data`` (parsed JSON) as ``model``, or ``Rejected`` naming every wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [FieldProblem(field_name(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        raise Rejected(joined(problems), problems) from None


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``limit`` bytes: from its
    Content-Length, or while it streams in (never read whole first)."""
    too_large = f"body larger than {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise PayloadTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def field_name(loc: tuple[int | str, ...]) -> str:
    """('extends', 0, 'from') -> 'extends[0].from'."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "body"

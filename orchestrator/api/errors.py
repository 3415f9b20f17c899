"""Every API error, mapped to its HTTP status in this one place."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.api.schemas import FieldErrorOut, ProblemEnvelope, ProblemOut
from orchestrator.operations import Conflict, NotFound
from orchestrator.plans import PlanRejected
from orchestrator.webhooks.endpoints import InvalidEndpoint


class BadRequest(Exception):
    """The request could not be read (malformed JSON, bad query parameter)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthorized(Exception):
    pass


class PayloadTooLarge(Exception):
    """The request body is larger than the API reads."""


def problem(
    status: int, code: str, message: str, fields: list[FieldErrorOut] | None = None
) -> Response:
    body = ProblemEnvelope(error=ProblemOut(code=code, message=message, fields=fields or []))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def field_name(loc: tuple[int | str, ...]) -> str:
    """('extends', 0, 'from') -> 'extends[0].from'."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "body"


async def handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    fields = [
        FieldErrorOut(field=field_name(tuple(e["loc"])), message=e["msg"]) for e in exc.errors()
    ]
    summary = "; ".join(f"{f.field}: {f.message}" for f in fields)
    return problem(422, "invalid_request", summary, fields)


async def handle_plan(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlanRejected)
    fields = [FieldErrorOut(field=p.field, message=p.message) for p in exc.problems]
    return problem(422, "invalid_request", str(exc), fields)


async def handle_bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    fields = [FieldErrorOut(field=exc.field, message=str(exc))] if exc.field else None
    return problem(400, "bad_request", str(exc), fields)


async def handle_too_large(request: Request, exc: Exception) -> Response:
    return problem(413, "too_large", str(exc))


async def handle_not_found(request: Request, exc: Exception) -> Response:
    return problem(404, "not_found", str(exc))


async def handle_conflict(request: Request, exc: Exception) -> Response:
    return problem(409, "conflict", str(exc))


async def handle_unauthorized(request: Request, exc: Exception) -> Response:
    return problem(401, "unauthorized", str(exc) or "missing or invalid bearer token")


async def handle_invalid_endpoint(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidEndpoint)
    fields = [FieldErrorOut(field=exc.field, message=str(exc))]
    return problem(422, "invalid_request", f"{exc.field}: {exc}", fields)


HANDLERS = {
    InvalidEndpoint: handle_invalid_endpoint,
    ValidationError: handle_validation,
    PlanRejected: handle_plan,
    BadRequest: handle_bad_request,
    PayloadTooLarge: handle_too_large,
    NotFound: handle_not_found,
    Conflict: handle_conflict,
    Unauthorized: handle_unauthorized,
}

"""Every error the API answers, mapped to its HTTP status in this one place.

The branches of ``orchestrator.errors`` decide the status; an error outside them (a provider
error, or any other exception) is a bug, answered 500 by ``failures.Failures``. A database
outage is an ``Unavailable`` whatever the driver raised (``store.faults`` tells which).
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from orchestrator.api.schemas import FieldErrorOut, ProblemEnvelope, ProblemOut
from orchestrator.common.database_faults import unavailable_reason
from orchestrator.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ReelayError,
    Rejected,
    Unauthorized,
    Unavailable,
)

RETRY_AFTER_S = 2
"""Seconds a client is asked to wait after a 503."""

STATUSES: dict[type[ReelayError], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    PayloadTooLarge: (413, "too_large"),
    Rejected: (422, "invalid_request"),
    Unauthorized: (401, "unauthorized"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Unavailable: (503, "unavailable"),
}
"""Each branch's status and error code; an error takes its nearest ancestor's."""


def status_of(error: BaseException) -> tuple[int, str] | None:
    """The status and code of ``error``; None for a bug."""
    if outage_reason(error) is not None:
        return STATUSES[Unavailable]
    return branch_status(type(error))


def branch_status(kind: type[BaseException]) -> tuple[int, str] | None:
    """The status and code of the nearest branch above ``kind``; None outside the branches."""
    return next((STATUSES[c] for c in kind.__mro__ if c in STATUSES), None)


def outage_reason(error: BaseException) -> str | None:
    """A few words for the client when ``error`` means "retry later", never a driver's message."""
    reason = unavailable_reason(error)
    if reason is None and isinstance(error, Unavailable):
        return error.reason
    return reason


def error_response(error: BaseException) -> Response | None:
    """The JSON answer to ``error``; None when it is a bug."""
    found = status_of(error)
    if found is None:
        return None
    status, code = found
    headers: dict[str, str] = {}
    message = str(error)
    reason = outage_reason(error)
    if reason is not None:
        message = f"{reason}; retry in a few seconds"
        headers["Retry-After"] = str(RETRY_AFTER_S)
    elif status == 401:
        message = message or "missing or invalid bearer token"
        headers["WWW-Authenticate"] = "Bearer"
    return problem(status, code, message, fields_out(error), headers)


def fields_out(error: BaseException) -> list[FieldErrorOut]:
    """The fields a ``Rejected`` names; none for any other error."""
    fields = error.problems if isinstance(error, Rejected) else []
    return [FieldErrorOut(field=p.field, message=p.message) for p in fields]


def problem_out(error: Rejected | Conflict) -> tuple[int, ProblemOut]:
    """The status and error body of a refusal that is answered inside a 200 (a batch's item)."""
    found = branch_status(type(error))
    assert found is not None, "Rejected and Conflict are branches"
    status, code = found
    return status, ProblemOut(code=code, message=str(error), fields=fields_out(error))


def internal_error() -> Response:
    """The answer to a bug: its traceback is in the log, never in the response."""
    return problem(500, "internal", "internal error; see reelay's log")


def problem(
    status: int,
    code: str,
    message: str,
    fields: list[FieldErrorOut] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ProblemEnvelope(error=ProblemOut(code=code, message=message, fields=fields or []))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)

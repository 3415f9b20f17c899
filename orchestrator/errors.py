"""Every error reelay raises on purpose, split by what the caller does next.

    ReelayError                  the root
    ├── Rejected                 the input is wrong: fix what ``problems`` name and send again
    │   ├── BadRequest           the request cannot be read (malformed JSON, a bad parameter)
    │   ├── PayloadTooLarge      the body is larger than reelay reads
    │   └── PlanRejected, InvalidEndpoint, ConfigError, UsageError, Refused (a webhook URL),
    │       SecretError
    ├── NotFound                 nothing has that id (ArtifactMissing)
    ├── Conflict                 its state does not allow this: already ended, a key reused
    │                            (InvalidTransition)
    ├── Unauthorized             the credentials are missing or wrong (SignatureError)
    ├── Unavailable              reelay cannot do it right now: retry later (StoreClosed,
    │                            StorageUnavailable, the CLI's Unreachable)
    ├── ProviderError            a provider's answer, split by the same question in
    │                            ``providers.errors``; the engine acts on it, a client never sees it
    └── ApiError, ArtifactError  the CLI's view of an API answer; storage failures

An error outside the five branches reaching the API is a bug (500). The API maps the branches
to HTTP statuses in one place, ``orchestrator.api.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ReelayError(Exception):
    """Root of every error reelay raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One wrong field of the input, by its path (``extends[1].from``), and what is wrong."""

    field: str
    message: str


class Rejected(ReelayError):
    """The input is wrong; ``problems`` names each wrong field (none when no field is to blame)."""

    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def joined(problems: Sequence[FieldProblem]) -> str:
    """``field: message; field: message``."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


class BadRequest(Rejected):
    """The request cannot be read: malformed JSON, a bad query parameter or header."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, [FieldProblem(field, message)] if field else [])
        self.field = field


class PayloadTooLarge(Rejected):
    """The request body is larger than reelay reads."""


class NotFound(ReelayError):
    """Nothing has the id that was asked for."""


class Conflict(ReelayError):
    """The thing is in a state that does not allow this (already ended, key reused...)."""


class Unauthorized(ReelayError):
    """The credentials are missing or wrong."""


class Unavailable(ReelayError):
    """Reelay cannot do this right now (a database outage, a shutdown): retry later."""

    reason = "reelay cannot do this right now"
    """What a client is told, in a few words: the message may name files and hosts."""

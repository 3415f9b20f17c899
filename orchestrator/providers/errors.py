"""Errors raised by provider adapters, split by what the caller should do next.

    ProviderError                    every adapter error; keeps the provider's own code/message
    ├── RetryableError               try again later, the same request is still valid
    │   ├── RateLimited              429; ``retry_after`` seconds when the provider said
    │   ├── ProviderUnavailable      5xx, 503 "model unavailable", upstream gateway errors
    │   ├── RequestNotSent           connect/DNS failure: the request never reached the provider
    │   ├── OutcomeUnknown           timeout or dropped connection after the request was sent
    │   └── SourceNotReady           extend source has not finished yet
    ├── PermanentError               the same request will never succeed
    │   ├── InvalidRequest           400/422: our parameters were refused
    │   ├── AuthError                401/403: the API key is wrong or lacks permission
    │   ├── InsufficientBalance      402: top up the account
    │   ├── SourceInvalid            extend source unknown, expired or not extendable
    │   ├── TaskNotFound             status of a task the provider does not know
    │   └── ContentPolicy            prompt or image refused by the provider's policy
    └── ProviderResponseError        the provider answered with something we cannot read

``ProviderError`` hangs below ``orchestrator.errors.ReelayError``, beside its branches: the engine
acts on these, a client of the API never sees one.

``OutcomeUnknown`` matters for money-spending calls: a submit that raised it may have created a
task, so it must never be repeated blindly. For read-only calls it is as retryable as the rest.
"""

from __future__ import annotations

from orchestrator.errors import ReelayError


class ProviderError(ReelayError):
    """Base of every adapter error."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        parts = [self.provider]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.code:
            parts.append(self.code)
        return f"{' '.join(parts)}: {self.message}"


class RetryableError(ProviderError):
    """The request may succeed if tried again later."""


class RateLimited(RetryableError):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = 429,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status_code=status_code, code=code)
        self.retry_after = retry_after


class ProviderUnavailable(RetryableError):
    pass


class RequestNotSent(RetryableError):
    pass


class OutcomeUnknown(RetryableError):
    pass


class SourceNotReady(RetryableError):
    pass


class PermanentError(ProviderError):
    """The same request will never succeed."""


class InvalidRequest(PermanentError):
    pass


class AuthError(PermanentError):
    pass


class InsufficientBalance(PermanentError):
    pass


class SourceInvalid(PermanentError):
    pass


class TaskNotFound(PermanentError):
    pass


class ContentPolicy(PermanentError):
    pass


class ProviderResponseError(ProviderError):
    """The provider's answer (or a callback body) could not be understood."""

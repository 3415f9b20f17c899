"""The sandbox's settings: task timing, result-link lifetime, and the faults it injects.

Every field is an environment variable with the ``REELAY_SANDBOX_`` prefix
(``REELAY_SANDBOX_TASK_SECONDS=0.2``; the provider lists as JSON,
``REELAY_SANDBOX_OUT_OF_BALANCE='["apixo"]'``). A running sandbox can also change them through
``POST /_sandbox/config``, which swaps in a new validated instance; nothing mutates one in place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Provider = Literal["apimart", "octopusx", "apixo", "apifree"]
"""The name of an emulated provider, as the per-provider faults list them."""


class SandboxConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELAY_SANDBOX_", extra="forbid", frozen=True)

    task_seconds: float = Field(
        default=8.0, ge=0, description="How long a task runs; 0 = finished at the first poll"
    )
    api_key: str | None = Field(
        default=None, description="Bearer key every provider route requires; None = any key"
    )
    url_ttl_s: float = Field(
        default=86_400.0, gt=0, description="Lifetime of result links (and of extend sources)"
    )
    time_scale: float = Field(
        default=1.0, gt=0, description="Multiplies callback retry delays and timeouts"
    )
    seed: int | None = Field(default=None, description="RNG seed for reproducible faults")
    rate_429: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of requests refused with 429"
    )
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After sent with a 429")
    rate_5xx: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of requests answered with a 5xx"
    )
    slow_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction of slow requests")
    slow_seconds: float = Field(default=2.0, ge=0, description="Delay of a slow request")
    drop_callback_rate: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of callbacks never delivered"
    )
    duplicate_callback_rate: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of callbacks delivered twice"
    )
    content_policy_rate: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of tasks failing on content policy"
    )
    no_output_rate: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of successes that carry no video URL"
    )

    out_of_balance: list[Provider] = Field(
        default=[],
        description="Providers refusing every submit with 402 (insufficient balance) until"
        " this changes; status polls still answer",
    )
    rate_limited: list[Provider] = Field(
        default=[],
        description="Providers refusing every submit with 429 and Retry-After (a 429 storm)"
        " until this changes; status polls still answer",
    )

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """A validated copy with ``changes`` applied; raises ``ValidationError`` on bad input."""
        # Explicit init values outrank the environment, so the copy keeps exactly our values.
        return SandboxConfig(**{**self.model_dump(), **changes})

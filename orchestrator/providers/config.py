"""Per-provider settings: where the API is, the key, and how hard reelay may push it.

Each provider has its own subclass only so that its default base URL (D1) survives when the
environment sets some other field of it, e.g. only ``REELAY_APIXO_API_KEY``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

UsdCap = Annotated[Decimal | None, Field(ge=0, decimal_places=6)]
"""A budget cap in USD, exact (at most 6 decimal places); None: no cap."""


def usd_cap(over: str, period: str) -> Any:
    """The field of a cap on what ``over`` may spend per UTC ``period``."""
    return Field(
        default=None,
        description=f'Most spent on {over} per UTC {period}, in USD ("25.00"); unset = no cap',
    )


class ProviderSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    api_key: SecretStr | None = None
    model: str | None = Field(
        default=None, description="Default base model, used when a request names no model/tier"
    )
    extend_model: str | None = Field(
        default=None,
        description="Extend model when a request names none (octopusx and apifree only; D3)",
    )
    max_extend_depth: int | None = Field(
        default=None, ge=0, description="Override the provider's extend depth limit (D4)"
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout")
    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        description="HTTP requests in flight to this provider at once, per replica",
    )
    max_requests_per_s: float | None = Field(
        default=None,
        gt=0,
        description="Request rate allowed on this provider key, per replica; unset = none",
    )
    max_in_flight: int = Field(
        default=1000,
        ge=1,
        description="Tasks submitted and not yet finished at once, across all replicas",
    )
    first_poll_s: float | None = Field(
        default=None, ge=0, description="Delay before the first poll; default: typical task time"
    )
    task_deadline_s: float = Field(
        default=3600.0,
        gt=0,
        description="A task still unfinished this long after its submit is flagged (step.overdue)",
    )
    poll_interval_s: float = Field(default=10.0, gt=0, description="Poll interval after that")
    poll_max_interval_s: float = Field(default=60.0, gt=0, description="Backoff ceiling")
    refund_on_failure: bool = Field(
        default=False,
        description="Whether this provider refunds a task that fails (none of the four says; "
        "reelay assumes not)",
    )
    budget_usd_per_day: UsdCap = usd_cap("this provider", "day")
    budget_usd_per_month: UsdCap = usd_cap("this provider", "month")


class ApimartSettings(ProviderSettings):
    base_url: str = "https://api.apimart.ai"


class OctopusxSettings(ProviderSettings):
    base_url: str = "https://octopusx.ai"


class ApixoSettings(ProviderSettings):
    base_url: str = "https://api.apixo.ai/api/v1"


class ApifreeSettings(ProviderSettings):
    base_url: str = "https://api.apifree.ai"

"""reelay's settings: one typed object, read once at start-up and passed down.

Every field is an environment variable with the ``REELAY_`` prefix (a ``.env`` file works too);
provider fields nest with one underscore: ``REELAY_APIXO_API_KEY`` is ``apixo.api_key``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.errors import Rejected
from orchestrator.providers.config import (
    ApifreeSettings,
    ApimartSettings,
    ApixoSettings,
    OctopusxSettings,
    ProviderSettings,
    UsdCap,
    usd_cap,
)

PROVIDER_NAMES: tuple[str, ...] = ("apimart", "octopusx", "apixo", "apifree")
API_TOKEN_NAME = "api"  # noqa: S105 - a name, not a token
"""What ``REELAY_API_TOKEN`` is called among the named tokens (and in the audit events)."""
MIN_NAMED_TOKEN_LENGTH = 16
_TOKEN_NAME = re.compile(r"[a-z0-9_.-]{1,40}")


class ConfigError(Rejected):
    """The settings cannot work together; the message says which one to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        frozen=True,
    )

    database_url: str = Field(
        default="sqlite:///./reelay.db",
        description="sqlite:///path/to/file.db (default ./reelay.db) or postgresql://...",
    )
    data_dir: Path = Field(
        default=Path("./reelay-data"), description="Where reelay keeps generated secrets"
    )
    api_host: str = Field(default="127.0.0.1", description="Internal API listen host")
    api_port: int = Field(default=8081, ge=0, le=65535, description="Internal API listen port")
    public_host: str = Field(default="127.0.0.1", description="Public receiver listen host")
    public_port: int = Field(default=8080, ge=0, le=65535, description="Public receiver port")
    public_url: str | None = Field(
        default=None, description="How providers reach the receiver; unset = poll everything"
    )
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token for the internal API (required off loopback)"
    )
    root_path: str = Field(
        default="",
        pattern=r"^(/[A-Za-z0-9._~-]+)*$",
        description="Path prefix a reverse proxy serves the internal listener under (/reelay)",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Proxies whose X-Forwarded-* the internal listener trusts (default 127.0.0.1)",
    )
    api_tokens: SecretStr | None = Field(
        default=None,
        description="More bearer tokens, each with the name audit events record: "
        "name=token,name=token (names [a-z0-9_.-], tokens of 16 characters or more)",
    )
    signing_secret: SecretStr | None = Field(
        default=None, description="Callback-token secret(s), comma-separated, newest first"
    )
    callback_token_max_age_s: int = Field(
        default=7 * 24 * 3600, gt=0, description="How long a callback URL stays valid"
    )
    frame_url_max_age_s: int = Field(
        default=6 * 3600,
        gt=0,
        description="How long the URL a provider fetches a continuation's first frame from "
        "stays valid",
    )
    callback_body_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest the public receiver waits for a callback's whole body (then 408)",
    )
    callback_confirm: bool = Field(
        default=True,
        description="Confirm a callback's state through the provider's status API before acting",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="whsec_ secret(s) signing calls to pipelines' webhook_url, newest first",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook destinations on loopback/private addresses (local use only)",
    )
    webhook_timeout_s: float = Field(default=15.0, gt=0, description="Per-delivery timeout")
    webhook_concurrency: int = Field(default=512, ge=1, description="Deliveries in flight")
    artifact_dir: Path | None = Field(
        default=None,
        description="Where result videos are kept; default <REELAY_DATA_DIR>/artifacts",
    )
    keep_videos: bool = Field(
        default=True,
        description="Download and keep every result video (probed; last frames for "
        "continuations; each branch's whole video). Off: nothing is downloaded, and "
        "continuations and whole videos are refused",
    )
    artifact_max_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest video reelay will keep"
    )
    artifact_concurrency: int = Field(default=8, ge=1, description="Downloads in flight")
    artifact_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Delete kept videos this long after their pipelines finished; unset = keep",
    )
    artifact_s3_bucket: str | None = Field(
        default=None, description="Keep videos in this S3-compatible bucket instead of on disk"
    )
    artifact_s3_prefix: str = Field(default="reelay/", description="Key prefix in the bucket")
    artifact_s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2, ...); unset = AWS"
    )
    artifact_s3_region: str | None = Field(default=None, description="S3 region")
    artifact_s3_access_key_id: SecretStr | None = Field(
        default=None, description="S3 access key id (unset = the default AWS credential chain)"
    )
    artifact_s3_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret access key"
    )
    engine_tick_s: float = Field(
        default=1.0, gt=0, description="Longest the engine sleeps when nothing wakes it"
    )
    replica_ttl_s: float = Field(
        default=30.0,
        ge=1,
        description="Several replicas on PostgreSQL: a replica silent this long is taken for "
        "dead and its submits in flight are held as ambiguous (heartbeats every third of it)",
    )
    ambiguous_policy: Literal["hold", "resubmit"] = Field(
        default="hold",
        description="A submit whose outcome is unknown: hold it for an operator, or resubmit "
        "(risking a second task and charge)",
    )
    submit_retry_max_attempts: int = Field(
        default=8, ge=1, description="Attempts for a submit refused with a retryable error"
    )
    prices_file: Path | None = Field(
        default=None,
        description="TOML price book ([[price]] rows); unset = the providers' published prices",
    )
    budget_usd_per_day: UsdCap = usd_cap("all providers", "day")
    budget_usd_per_month: UsdCap = usd_cap("all providers", "month")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as readable text, or one JSON object per line (for collectors)",
    )

    apimart: ApimartSettings = ApimartSettings()
    octopusx: OctopusxSettings = OctopusxSettings()
    apixo: ApixoSettings = ApixoSettings()
    apifree: ApifreeSettings = ApifreeSettings()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"REELAY_PUBLIC_URL must be an http(s) URL, got {self.public_url!r}")
        tokens = self.named_api_tokens()  # refuses a malformed REELAY_API_TOKENS
        if not tokens and not _is_loopback(self.api_host):
            raise ValueError(
                f"REELAY_API_TOKEN (or REELAY_API_TOKENS) is required when REELAY_API_HOST "
                f"({self.api_host}) is not a loopback address"
            )
        return self

    def named_api_tokens(self) -> dict[str, str]:
        """Every bearer token of the internal API by its name: ``REELAY_API_TOKEN`` as
        ``api``, then those of ``REELAY_API_TOKENS``. Empty: the API is open to everyone."""
        tokens: dict[str, str] = {}
        if self.api_token:
            tokens[API_TOKEN_NAME] = self.api_token.get_secret_value()
        named = parse_named_tokens(self.api_tokens.get_secret_value() if self.api_tokens else "")
        for name, token in named:
            if name == API_TOKEN_NAME:
                raise ValueError(
                    f"REELAY_API_TOKENS cannot name a token {API_TOKEN_NAME!r}: "
                    "that is REELAY_API_TOKEN's name"
                )
            if name in tokens:
                raise ValueError(f"REELAY_API_TOKENS names {name!r} twice")
            if token in tokens.values():
                raise ValueError(
                    f"REELAY_API_TOKENS gives {name!r} a token that another name has; "
                    "each name needs its own token"
                )
            tokens[name] = token
        return tokens

    @property
    def artifact_root(self) -> Path:
        return self.artifact_dir or self.data_dir / "artifacts"

    def provider(self, name: str) -> ProviderSettings:
        settings: ProviderSettings = getattr(self, name)
        return settings

    def providers(self) -> dict[str, ProviderSettings]:
        """Every provider's settings, by name."""
        return {name: self.provider(name) for name in PROVIDER_NAMES}


def parse_named_tokens(value: str) -> list[tuple[str, str]]:
    """``name=token,name=token`` as pairs; a malformed entry is a ValueError naming the setting
    and the entry by its position, never echoing what could be a token."""
    pairs: list[tuple[str, str]] = []
    for position, entry in enumerate(value.split(","), start=1):
        if not entry.strip():
            continue  # "a=...,b=...," or an empty setting
        name, sep, token = (part.strip() for part in entry.partition("="))
        where = f"REELAY_API_TOKENS entry {position}"
        if not sep:
            raise ValueError(f"{where} is not name=token")
        if not _TOKEN_NAME.fullmatch(name):
            raise ValueError(f"{where}: the name must be 1-40 of a-z, 0-9, '_', '.', '-'")
        if len(token) < MIN_NAMED_TOKEN_LENGTH:
            raise ValueError(
                f"{where} ({name}): the token must be at least {MIN_NAMED_TOKEN_LENGTH} characters"
            )
        pairs.append((name, token))
    return pairs


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; overrides win (the CLI and tests use them)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        # Not chained: pydantic's text repeats the input values, and so the tokens.
        raise ConfigError(_first_line(exc)) from None


def _first_line(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(exc)

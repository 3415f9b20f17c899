"""Query and header parameters: each declared once, read by its handler, documented by the table.

A parameter that cannot be used is a ``BadRequest`` (400) naming it; its bounds and choices are
the ones the OpenAPI document shows, because both come from the same declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from starlette.requests import Request

from orchestrator.errors import BadRequest

Where = Literal["query", "header"]


@dataclass(frozen=True, slots=True)
class Param:
    """A string parameter, optional; ``check`` refuses a value with ``hint``."""

    name: str
    where: Where = "query"
    check: Callable[[str], bool] | None = None
    hint: str = ""
    """Why a value was refused: ``{name} {hint}``."""
    min_length: int | None = None
    max_length: int | None = None

    def raw(self, request: Request) -> str | None:
        source = request.query_params if self.where == "query" else request.headers
        return source.get(self.name)

    def read(self, request: Request) -> str | None:
        value = self.raw(request)
        if value is None:
            return None
        too_short = self.min_length is not None and len(value) < self.min_length
        too_long = self.max_length is not None and len(value) > self.max_length
        if too_short or too_long:
            message = f"{self.name} must be {self.min_length} to {self.max_length} characters"
            raise BadRequest(message, field=self.name)
        if self.check is not None and not self.check(value):
            raise BadRequest(f"{self.name} {self.hint}", field=self.name)
        return value

    def schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "string"}
        if self.min_length is not None:
            found["minLength"] = self.min_length
        if self.max_length is not None:
            found["maxLength"] = self.max_length
        return found


@dataclass(frozen=True, slots=True)
class Choice:
    """One of an enum's values, optional."""

    name: str
    values: type[StrEnum]
    where: Where = "query"

    def read(self, request: Request) -> str | None:
        value = request.query_params.get(self.name)
        if value is not None and value not in set(self.values):
            allowed = ", ".join(self.values)
            raise BadRequest(f"{self.name} must be one of {allowed}", field=self.name)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [str(v) for v in self.values]}


@dataclass(frozen=True, slots=True)
class Bounded:
    """An integer between ``low`` and ``high``; ``default`` when absent."""

    name: str
    default: int
    low: int
    high: int
    where: Where = field(default="query", init=False)

    def read(self, request: Request) -> int:
        raw = request.query_params.get(self.name)
        if raw is None:
            return self.default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{self.name} must be an integer", field=self.name) from None
        if not self.low <= value <= self.high:
            message = f"{self.name} must be between {self.low} and {self.high}"
            raise BadRequest(message, field=self.name)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


AnyParam = Param | Choice | Bounded


def described(param: AnyParam) -> dict[str, Any]:
    """The OpenAPI parameter object of ``param``."""
    return {"name": param.name, "in": param.where, "required": False, "schema": param.schema()}

"""How a route is declared: once, with everything routing, auth and the OpenAPI document need.

A route declared with ``body_route`` gets its body read and validated into its model before its
handler runs. A route that is not ``public`` needs the bearer token (``auth.RequireToken``).
Some answers follow from the declaration and are documented without being listed: 401 and 503
for a route behind the token, 400/413/422 for one with a body, 400 for one with parameters, 404
for one with an id in its path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.api.auth import RequireToken
from orchestrator.api.bodies import MAX_BODY, read_model
from orchestrator.api.params import AnyParam
from orchestrator.api.schemas import ProblemEnvelope

Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)

_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented response: a JSON ``model``, another ``media`` type, or no body."""

    description: str
    model: type[BaseModel] | None = None
    media: str | None = None
    text: bool = False
    """The ``media`` body is a string (documented with a schema)."""


def ok(model: type[BaseModel], description: str) -> Answer:
    return Answer(description, model)


def problem(description: str) -> Answer:
    return Answer(description, ProblemEnvelope)


@dataclass(frozen=True, slots=True)
class ApiRoute:
    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    answers: Mapping[int, Answer]
    """The answers this route gives beyond those that follow from its declaration."""
    summary: str = ""
    body: type[BaseModel] | None = None
    body_optional: bool = False
    max_body: int = MAX_BODY
    """The largest body read, in bytes (413 past it)."""
    params: tuple[AnyParam, ...] = ()
    public: bool = False
    """Served without the bearer token."""
    documented: bool = True
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_params", tuple(_PATH_PARAM.findall(self.path)))

    def all_answers(self) -> dict[int, Answer]:
        found: dict[int, Answer] = {}
        if self.params:
            found[400] = problem("Bad parameter")
        if self.body is not None:
            found[400] = problem("Malformed JSON" + (" or a bad parameter" if self.params else ""))
            found[413] = problem(f"Body larger than {self.max_body} bytes")
            found[422] = problem("Invalid request; every bad field is named")
        if self.path_params:
            found[404] = problem("Unknown id")
        if not self.public:
            found[401] = problem("Missing or invalid bearer token")
            found[503] = problem("The database is unavailable; retry after Retry-After")
        return {**found, **self.answers}

    def starlette_route(self) -> Route:
        guard = [] if self.public else [Middleware(RequireToken)]
        return Route(
            self.path,
            self.endpoint,
            methods=[self.method],
            name=self.operation_id,
            middleware=guard,
        )


def route(
    method: str,
    path: str,
    handler: Endpoint,
    operation_id: str,
    answers: Mapping[int, Answer],
    *,
    summary: str = "",
    params: tuple[AnyParam, ...] = (),
    public: bool = False,
    documented: bool = True,
) -> ApiRoute:
    return ApiRoute(
        method,
        path,
        handler,
        operation_id,
        answers,
        summary=summary,
        params=params,
        public=public,
        documented=documented,
    )


def body_route(
    method: str,
    path: str,
    handler: Callable[[Request, M], Awaitable[Response]],
    operation_id: str,
    answers: Mapping[int, Answer],
    *,
    body: type[M],
    optional: bool = False,
    max_body: int = MAX_BODY,
    summary: str = "",
    params: tuple[AnyParam, ...] = (),
) -> ApiRoute:
    """A route whose handler gets the body validated into ``body`` (every wrong field: 422)."""

    async def endpoint(request: Request) -> Response:
        model = await read_model(request, body, optional=optional, limit=max_body)
        return await handler(request, model)

    return ApiRoute(
        method,
        path,
        endpoint,
        operation_id,
        answers,
        summary=summary,
        body=body,
        body_optional=optional,
        max_body=max_body,
        params=params,
    )

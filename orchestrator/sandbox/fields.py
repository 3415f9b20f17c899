"""Reading a JSON request body field by field; the first bad field raises ``Invalid``.

A JSON ``null`` counts as absent, and so does an empty string for a required text field.
Each provider module turns ``Invalid`` into its own documented 400 body.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from starlette.requests import Request


class Invalid(Exception):
    """A request the provider would refuse; ``param`` names the field as the provider would."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Invalid("body", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid("body", "Request body must be a JSON object")
    return body


def text(
    body: Mapping[str, Any],
    key: str,
    *,
    param: str | None = None,
    max_len: int | None = None,
    choices: Collection[str] | None = None,
) -> str | None:
    value = body.get(key)
    return None if value is None else _checked_text(value, param or key, max_len, choices)


def required_text(
    body: Mapping[str, Any],
    key: str,
    *,
    param: str | None = None,
    max_len: int | None = None,
    choices: Collection[str] | None = None,
) -> str:
    name = param or key
    value = body.get(key)
    if value is None or value == "":
        raise Invalid(name, f"Missing required field: {name}")
    return _checked_text(value, name, max_len, choices)


def _checked_text(
    value: object, name: str, max_len: int | None, choices: Collection[str] | None
) -> str:
    if not isinstance(value, str):
        raise Invalid(name, f"{name} must be a string")
    if max_len is not None and len(value) > max_len:
        raise Invalid(name, f"{name} must be at most {max_len} characters")
    if choices is not None and value not in choices:
        raise Invalid(name, f"{name} must be one of: {', '.join(sorted(choices))}")
    return value


def integer(
    body: Mapping[str, Any],
    key: str,
    *,
    param: str | None = None,
    low: int | None = None,
    high: int | None = None,
    choices: Collection[int] | None = None,
) -> int | None:
    name = param or key
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(name, f"{name} must be an integer (a JSON number, not a string)")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(name, f"{name} must be between {low} and {high}")
    if choices is not None and value not in choices:
        raise Invalid(name, f"{name} must be one of: {', '.join(map(str, sorted(choices)))}")
    return value


def boolean(body: Mapping[str, Any], key: str, *, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise Invalid(param or key, f"{param or key} must be a boolean")


def string_list(
    body: Mapping[str, Any], key: str, *, param: str | None = None, max_items: int | None = None
) -> list[str] | None:
    name = param or key
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid(name, f"{name} must be an array of strings")
    if max_items is not None and len(value) > max_items:
        raise Invalid(name, f"{name} accepts at most {max_items} items")
    return value


def url(body: Mapping[str, Any], key: str, *, param: str | None = None) -> str | None:
    """An ``http``/``https`` URL; the sandbox accepts loopback hosts the real providers refuse."""
    value = text(body, key, param=param)
    if value is not None and not value.startswith(("http://", "https://")):
        raise Invalid(param or key, f"{param or key} must be an http or https URL")
    return value


def mapping(body: Mapping[str, Any], key: str, *, param: str | None = None) -> dict[str, Any]:
    """A JSON object field; absent means empty."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(param or key, f"{param or key} must be an object")
    return value

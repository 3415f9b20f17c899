"""Print deploy/env.example: every reelay setting with its default and meaning, read from the code.

Run from the repository root, in the project's environment::

    python deploy/generate_env_example.py > deploy/env.example

tests/deploy checks that the committed file equals this script's output, and that every
``REELAY_*`` name used anywhere under deploy/ is one that ``env_names()`` lists.
"""

from __future__ import annotations

import json
import sys
import textwrap
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal, NamedTuple, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo

from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import PROVIDER_NAMES, Settings

COMMAND = "python deploy/generate_env_example.py > deploy/env.example"

# Used only where a field has no ``description=`` of its own; a description in the code wins.
FALLBACK_DESCRIPTIONS: dict[str, str] = {
    "log_level": "Log verbosity",
    "base_url": "Where the provider's API is; the default is its real API",
    "api_key": "The provider's API key (sent as a bearer token)",
}

HEADER = f"""\
# reelay settings: every one, with its default and its meaning.
#
# GENERATED from orchestrator/settings.py and orchestrator/providers/config.py by
#   {COMMAND}
# Do not edit by hand: tests/deploy fails when this file and the code disagree.
#
# Every line is commented out, so a copy of this file changes nothing: a commented setting
# keeps its default, or the value the Dockerfile, compose file or systemd unit gives it.
# Uncomment and edit the ones you need. Format: NAME=value, one per line, no quotes, no
# spaces around '='; read by docker compose (deploy/.env), systemd's EnvironmentFile=, and
# reelay itself from ./.env.
#
# Nothing after '=' means "unset": uncomment such a line only with a value, since an empty
# value is not the same as unset (REELAY_PUBLIC_URL= would be refused at start-up).
#
# Secrets are listed empty. A file holding them must be readable by reelay alone
# (chmod 600, or 640 root:reelay); in Kubernetes they come from a Secret instead.
"""


class Entry(NamedTuple):
    """One environment variable: its name, default as text, meaning and whether it is secret."""

    name: str
    default: str
    description: str
    secret: bool


class Section(NamedTuple):
    """A titled group of entries: the top-level settings, or one nested model such as a provider."""

    title: str
    entries: list[Entry]


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field nests (e.g. a provider's), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _mentions(annotation: Any, *types: type) -> bool:
    """Whether ``annotation`` is, or has among its arguments (``X | None``...), one of ``types``."""
    if isinstance(annotation, type) and issubclass(annotation, types):
        return True
    return any(_mentions(arg, *types) for arg in get_args(annotation))


def _choices(annotation: Any) -> list[str]:
    """The allowed values of a ``Literal[...]`` or Enum field, empty for any other type."""
    if get_origin(annotation) is Literal:
        return [_text(arg) for arg in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [_text(member) for member in annotation]
    for arg in get_args(annotation):
        if found := _choices(arg):
            return found
    return []


def _text(value: Any) -> str:
    """A value written the way the environment variable would spell it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return _text(value.value)
    if isinstance(value, SecretStr | SecretBytes):
        return ""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset | dict):
        return json.dumps(sorted(value) if isinstance(value, set | frozenset) else value)
    return str(value)


def _bounds(field: FieldInfo) -> str:
    """The numeric limits a field declares (``ge=0, le=65535``...), as text; empty if none."""
    found = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(meta, annotated_types.BaseMetadata) and hasattr(meta, attr):
                found.append(f"{sign} {getattr(meta, attr)}")
    return ", ".join(found)


def _env_name(prefix: str, name: str, field: FieldInfo) -> str:
    """The variable pydantic-settings reads for a top-level field (its alias, if it has one)."""
    alias = field.validation_alias or field.alias
    if isinstance(alias, AliasChoices):
        alias = next((c for c in alias.choices if isinstance(c, str)), None)
    if isinstance(alias, str):
        return alias.upper()
    return f"{prefix}{name}".upper()


def _entry(env_name: str, name: str, field: FieldInfo) -> Entry:
    """The entry for one field, whatever model it belongs to."""
    secret = _mentions(field.annotation, SecretStr, SecretBytes)
    default = "" if secret else _text(field.get_default(call_default_factory=True))
    description = field.description or FALLBACK_DESCRIPTIONS.get(name, "")
    if choices := _choices(field.annotation):
        description = f"{description}; one of: {', '.join(choices)}".lstrip("; ")
    if bounds := _bounds(field):
        description = f"{description} ({bounds})"
    return Entry(env_name, default, description, secret)


def sections() -> list[Section]:
    """Every setting, grouped: the top-level ones first, then one section per nested model."""
    config = Settings.model_config
    prefix = config.get("env_prefix") or ""
    delimiter = config.get("env_nested_delimiter") or "_"
    general = Section("general", [])
    nested: list[Section] = []
    for name, field in Settings.model_fields.items():
        model = _nested_model(field.annotation)
        if model is None:
            general.entries.append(_entry(_env_name(prefix, name, field), name, field))
            continue
        outer = _env_name(prefix, name, field)
        title = f"{name} ({outer}{delimiter.upper()}<FIELD>)"
        nested.append(
            Section(
                title,
                [
                    _entry(f"{outer}{delimiter}{sub}".upper(), sub, subfield)
                    for sub, subfield in model.model_fields.items()
                ],
            )
        )
    return [general, *nested]


def env_names() -> set[str]:
    """Every environment variable name reelay's settings read, provider fields included."""
    return {entry.name for section in sections() for entry in section.entries}


def provider_names() -> tuple[str, ...]:
    """The providers whose settings nest under Settings, in declaration order."""
    names = tuple(
        name
        for name, field in Settings.model_fields.items()
        if (model := _nested_model(field.annotation)) and issubclass(model, ProviderSettings)
    )
    assert set(names) == set(PROVIDER_NAMES), (names, PROVIDER_NAMES)
    return names


def render() -> str:
    """The whole env.example file."""
    provider_names()  # fails loudly if the providers and PROVIDER_NAMES ever disagree
    lines = [HEADER.rstrip("\n")]
    for section in sections():
        lines += ["", "", f"# ===== {section.title} ====="]
        for entry in section.entries:
            lines.append("")
            meaning = entry.description or "(no description in the code)"
            if entry.secret:
                meaning = f"{meaning} [secret: empty here on purpose]"
            lines += textwrap.wrap(meaning, 97, initial_indent="# ", subsequent_indent="# ")
            lines.append(f"#{entry.name}={entry.default}")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write the file to standard output."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())

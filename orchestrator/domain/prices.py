"""What a step costs, in exact integer micro-USD, from a book of price rows.

A row prices one provider's outputs, narrowed by any of model, kind, resolution and audio;
the most specific matching row wins. Only apixo's published prices are built in: every other
step is unpriced (``None``, never 0) unless a prices file names it.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Any, Literal, TypeVar

from orchestrator.domain.models import Step
from orchestrator.domain.values import StepKind, VideoParams

MICROS = 1_000_000
"""Micro-USD in one USD."""

DEFAULT_GENERATE_SECONDS = 8
EXTEND_SECONDS = 7
PROVIDERS = ("apimart", "octopusx", "apixo", "apifree")

Per = Literal["video", "second"]
PriceKey = tuple[str, str | None, StepKind | None, str | None, bool | None]

_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_KINDS: tuple[StepKind, ...] = ("generate", "extend")
_PERS: tuple[Per, ...] = ("video", "second")
_ROW_KEYS = ("provider", "model", "kind", "usd", "per", "resolution", "audio")
_C = TypeVar("_C", bound=str)


class PriceError(ValueError):
    """An amount that is not a non-negative decimal USD with at most 6 decimal places."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PriceFileError(ValueError):
    """The prices file cannot be used; the message names the file, each row and each field."""


def to_micros(usd: Decimal) -> int:
    """Exact micro-USD of ``usd``; ValueError if negative, not finite or finer than 1e-6."""
    if not usd.is_finite():
        raise ValueError(f"{usd} is not a finite amount")
    if usd < 0:
        raise ValueError(f"{usd} is negative")
    if usd == 0:
        return 0
    _, digits, exponent = usd.as_tuple()
    assert isinstance(exponent, int)  # finite, so not "n", "N" or "F"
    # Trailing zeros are dropped by hand: normalize() would round to the context's precision.
    while exponent < -6 and digits and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if exponent < -6:
        raise ValueError(f"{usd} has more than 6 decimal places")
    return int("".join(map(str, digits)) + "0" * (exponent + 6) or "0")


@functools.lru_cache(maxsize=4096)
def usd(micros: int) -> str:
    """``micros`` as a USD decimal string with at least 2 decimals: 200000 -> ``"0.20"``."""
    whole, fraction = divmod(abs(micros), MICROS)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{'-' if micros < 0 else ''}{whole}.{decimals}"


def parse_usd(text: str, field: str) -> int:
    """Micro-USD of a decimal string such as ``"0.20"``; PriceError naming ``field`` if not."""
    if not _AMOUNT.fullmatch(text):
        raise PriceError(field, f'"{text}" is not a decimal amount in USD such as "0.20"')
    try:
        return to_micros(Decimal(text))
    except ValueError as exc:
        raise PriceError(field, str(exc)) from None


@dataclass(frozen=True, slots=True)
class PriceRow:
    """The price of one provider's outputs; ``None`` in a narrowing field matches anything."""

    provider: str
    model: str | None
    """None = any model; apixo's models are its modes, ``fast`` and ``quality``."""
    kind: StepKind | None
    usd_micros: int
    per: Per
    resolution: str | None
    audio: bool | None
    source: str
    """Where the row came from, for messages: ``prices.toml row 3`` or ``default: ...``."""

    @property
    def specificity(self) -> int:
        return sum(f is not None for f in (self.model, self.kind, self.resolution, self.audio))

    @property
    def key(self) -> PriceKey:
        return (self.provider, self.model, self.kind, self.resolution, self.audio)

    def matches(self, model: str, kind: StepKind, params: VideoParams) -> bool:
        return (
            self.model in (None, model)
            and self.kind in (None, kind)
            and self.resolution in (None, params.resolution)
            and self.audio in (None, params.generate_audio)
        )


_PUBLISHED = "default: apixo's published price"
DEFAULT_ROWS: tuple[PriceRow, ...] = (
    PriceRow("apixo", "fast", "generate", 200_000, "video", None, None, _PUBLISHED),
    PriceRow("apixo", "quality", "generate", 1_500_000, "video", None, None, _PUBLISHED),
)


def output_seconds(kind: StepKind, params: VideoParams) -> int:
    """Seconds of video a step produces: a generate its duration (default 8), an extend 7."""
    if kind == "extend":
        return EXTEND_SECONDS
    return params.duration or DEFAULT_GENERATE_SECONDS


class PriceBook:
    """Rows with distinct keys, where the most specific matching row prices a step."""

    def __init__(self, rows: Iterable[PriceRow]) -> None:
        self._rows = tuple(rows)
        problems = _duplicates(self._rows) + _ambiguities(self._rows)
        if problems:
            raise ValueError("; ".join(problems))
        self._by_provider: dict[str, list[PriceRow]] = {}
        for row in sorted(self._rows, key=lambda r: -r.specificity):
            self._by_provider.setdefault(row.provider, []).append(row)
        self._found: dict[tuple[object, ...], PriceRow | None] = {}
        """Every step is priced at its create; most share a few shapes."""

    @property
    def rows(self) -> tuple[PriceRow, ...]:
        return self._rows

    def price(
        self, provider: str, model: str, kind: StepKind, params: VideoParams
    ) -> PriceRow | None:
        """The most specific row matching the step, or None when it is unpriced."""
        key = (provider, model, kind, params.resolution, params.generate_audio)
        if key not in self._found:
            rows = self._by_provider.get(provider, ())
            self._found[key] = next((r for r in rows if r.matches(model, kind, params)), None)
        return self._found[key]

    def estimate(
        self, provider: str, model: str, kind: StepKind, params: VideoParams
    ) -> int | None:
        """Micro-USD the step costs, or None when it is unpriced."""
        row = self.price(provider, model, kind, params)
        if row is None:
            return None
        if row.per == "second":
            return row.usd_micros * output_seconds(kind, params)
        return row.usd_micros

    def estimate_step(self, step: Step) -> int | None:
        return self.estimate(step.provider, step.model, step.kind, step.params)


def _duplicates(rows: Iterable[PriceRow]) -> list[str]:
    first: dict[PriceKey, PriceRow] = {}
    problems = []
    for row in rows:
        if row.key in first:
            problems.append(f"{row.source}: prices the same case as {first[row.key].source}")
        first.setdefault(row.key, row)
    return problems


def _ambiguities(rows: tuple[PriceRow, ...]) -> list[str]:
    # Equal specificity with different keys can still both match (model=fast vs
    # resolution=1080p); that is refused unless a more specific row covers the overlap.
    problems = []
    for a, b in combinations(rows, 2):
        if a.provider != b.provider or a.specificity != b.specificity or a.key == b.key:
            continue
        overlap = _overlap(a.key, b.key)
        if overlap is None:
            continue
        covered = any(
            c.specificity > a.specificity and _overlap(c.key, overlap) == overlap for c in rows
        )
        if not covered:
            problems.append(
                f"{a.source} and {b.source} both price {_describe(overlap)} and neither is "
                f"more specific: add a row for that case"
            )
    return problems


def _overlap(a: PriceKey, b: PriceKey) -> PriceKey | None:
    """The narrowest key matching what both match, or None when nothing matches both."""
    merged: list[Any] = []
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None and x != y:
            return None
        merged.append(y if x is None else x)
    return (merged[0], merged[1], merged[2], merged[3], merged[4])


def _describe(key: PriceKey) -> str:
    provider, model, kind, resolution, audio = key
    parts = [f"provider={provider}"] + [
        f"{name}={value}"
        for name, value in (
            ("model", model),
            ("kind", kind),
            ("resolution", resolution),
            ("audio", audio),
        )
        if value is not None
    ]
    return ", ".join(parts)


def load_price_book(path: Path | None) -> PriceBook:
    """The rows of a TOML file, and the built-in rows of the providers it does not name."""
    if path is None:
        return PriceBook(DEFAULT_ROWS)
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        raise PriceFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise PriceFileError(f"{path}: not UTF-8 text") from None
    others = sorted(set(document) - {"price"})
    if others:
        raise PriceFileError(
            f"{path}: unknown top-level keys {', '.join(others)} (it holds only [[price]] tables)"
        )
    tables = document.get("price")
    if not tables:
        raise PriceFileError(f"{path}: holds no [[price]] tables")
    if not isinstance(tables, list):
        raise PriceFileError(f"{path}: price: write each price as a [[price]] table")

    problems: list[str] = []
    rows: dict[PriceKey, PriceRow] = {}
    for i, table in enumerate(tables):
        source = f"{path} row {i + 1}"
        row_problems: list[str] = []
        row = _read_row(table, source, row_problems)
        if row is not None and row.key in rows:
            row_problems.append(
                f"provider, model, kind, resolution and audio are those of {rows[row.key].source}"
            )
        elif row is not None:
            rows[row.key] = row
        problems += [f"{source} (price[{i}]): {p}" for p in row_problems]
    if problems:
        raise PriceFileError("; ".join(problems))
    # A provider the file names is priced by the file alone: a broad row of the user's must
    # not lose to a narrower built-in one, or collide with it.
    named = {r.provider for r in rows.values()}
    merged = {r.key: r for r in DEFAULT_ROWS if r.provider not in named} | rows
    try:
        return PriceBook(merged.values())
    except ValueError as exc:
        raise PriceFileError(str(exc)) from None


def _read_row(table: object, source: str, problems: list[str]) -> PriceRow | None:
    """The row ``table`` describes, or None after adding to ``problems`` what is wrong."""
    if not isinstance(table, dict):
        problems.append("is not a table: write each price as a [[price]] table")
        return None
    problems += [
        f"{k}: unknown key (the keys are {', '.join(_ROW_KEYS)})"
        for k in table
        if k not in _ROW_KEYS
    ]
    provider = _choice(table, "provider", PROVIDERS, problems, required=True)
    kind = _choice(table, "kind", _KINDS, problems, required=False)
    per = _choice(table, "per", _PERS, problems, required=True)
    model = _text(table, "model", problems)
    resolution = _text(table, "resolution", problems)
    audio = table.get("audio")
    if audio is not None and not isinstance(audio, bool):
        problems.append(f"audio: {audio!r} is not true or false")
        audio = None
    micros = _amount(table.get("usd"), problems)
    if problems or provider is None or per is None or micros is None:
        return None
    return PriceRow(provider, model, kind, micros, per, resolution, audio, source)


def _choice(
    table: Mapping[str, object],
    field: str,
    choices: tuple[_C, ...],
    problems: list[str],
    *,
    required: bool,
) -> _C | None:
    value = table.get(field)
    if value is None:
        if required:
            problems.append(f"{field}: missing (one of {', '.join(choices)})")
        return None
    for choice in choices:
        if value == choice:
            return choice
    problems.append(f"{field}: {value!r} is not one of {', '.join(choices)}")
    return None


def _text(table: Mapping[str, object], field: str, problems: list[str]) -> str | None:
    value = table.get(field)
    if value is None or (isinstance(value, str) and value):
        return value
    problems.append(f"{field}: {value!r} is not a non-empty string")
    return None


def _amount(value: object, problems: list[str]) -> int | None:
    if value is None:
        problems.append('usd: missing (a quoted decimal amount such as "0.20")')
        return None
    if isinstance(value, float) and math.isfinite(value):
        # A binary float cannot hold most prices exactly, so 0.3 is refused rather than rounded.
        problems.append(f'usd: {value!r} is a TOML float, not exact: quote it as "{value}"')
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.append(f'usd: {value!r} is not a decimal amount in USD such as "0.20"')
        return None
    try:
        return parse_usd(value, "usd")
    except PriceError as exc:
        problems.append(str(exc))
        return None

"""Logging set-up for the ``reelay`` command: readable lines, or one JSON object per line.

Lines about a pipeline carry its id and step as ``extra`` fields, built by ``context``::

    log.info("step submitted", extra=logs.context(pipeline_id=p.id, step=2, provider="apixo"))

Text lines show them as ``key=value`` after the message; JSON lines as fields. Either way the
line is scrubbed last: callback URL tokens, bearer tokens, ``whsec_``/``sk-`` values, passwords
in URLs and the values of fields named like a secret never reach the output.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from typing import Literal

from orchestrator.common.redact import redact

Format = Literal["text", "json"]

# Libraries that log every request at INFO; their failures still show at WARNING.
_CHATTY = ("httpx", "httpcore", "aiosqlite")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_REDACTED = "<redacted>"
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_NOT_SHOWN = _RESERVED | {"color_message"}  # uvicorn's copy of the message, with colour codes
_SECRET_NAME = re.compile(r"token|secret|key|authorization|password", re.IGNORECASE)
_KEEP_NAME = rf"\1{_REDACTED}"
_SECRETS = (
    # "Authorization: Bearer x", "authorization=x", '"authorization": "Basic x"'
    (
        re.compile(
            r"(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;&]+",
            re.IGNORECASE,
        ),
        _KEEP_NAME,
    ),
    (re.compile(r"(\bbearer\s+)(?!tokens?\b)[\w.~+/=-]+", re.IGNORECASE), _KEEP_NAME),
    # "api_key=x", "?token=x", '"signing_secret": "x"', "password: x"
    (
        re.compile(
            r"(\b[\w-]*(?:key|secret|token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+",
            re.IGNORECASE,
        ),
        _KEEP_NAME,
    ),
    (re.compile(r"\bwhsec_[\w+/=-]+"), f"whsec_{_REDACTED}"),
    # the password in a URL: postgresql://reelay:<password>@db/reelay
    (re.compile(r"(\b[a-z][\w+.-]*://[^/\s:@]+:)[^/\s@]+@", re.IGNORECASE), rf"\1{_REDACTED}@"),
    (re.compile(r"\bsk-[\w-]{6,}"), f"sk-{_REDACTED}"),
)


def scrub(text: str) -> str:
    """``text`` without callback URL tokens, bearer tokens, API keys, webhook secrets or
    passwords in URLs."""
    text = redact(text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def context(
    pipeline_id: str | None = None, step: int | None = None, **fields: object
) -> dict[str, object]:
    """The ``extra`` of a log line about a pipeline (and step); unset fields are left out."""
    extra = {"pipeline_id": pipeline_id, "step": step, **fields}
    clash = _RESERVED.intersection(extra)
    if clash:
        raise ValueError(f"log fields {sorted(clash)} would overwrite LogRecord attributes")
    return {key: value for key, value in extra.items() if value is not None}


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """What ``extra=`` added to the record; the values of secret-named fields redacted."""
    return {
        key: _REDACTED if _SECRET_NAME.search(key) else _clean(value)
        for key, value in record.__dict__.items()
        if key not in _NOT_SHOWN and not key.startswith("_")
    }


def _clean(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {
            str(k): _REDACTED if _SECRET_NAME.search(str(k)) else _clean(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return scrub(str(value))


class TextFormatter(logging.Formatter):
    """The classic line, then the record's extra fields as ``key=value``; scrubbed."""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if fields:
            suffix = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
            head, newline, rest = line.partition("\n")  # keep a traceback below the fields
            line = f"{head} {suffix}{newline}{rest}"
        return scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, object] = {
            "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in extra_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = scrub(record.exc_text)
        if record.stack_info:
            line["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(fmt: Format) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(level: str, fmt: Format = "text") -> None:
    """Send every logger's records to stderr as ``fmt`` lines, from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))

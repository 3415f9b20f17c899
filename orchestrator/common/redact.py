"""Keep callback tokens out of every log line, uvicorn's access log included."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(/callbacks/[A-Za-z0-9_-]+/)[^/\s\"?]+")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1<redacted>", text)


class RedactTokens(logging.Filter):
    """Rewrites the message and arguments of a record so no callback token survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        return True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    text = str(arg)  # URLs arrive as objects (httpx.URL), not strings
    return redact(text) if "/callbacks/" in text else arg


def install() -> None:
    """Attach the filter to the loggers that could see a request path."""
    for name in ("uvicorn.access", "uvicorn.error", "httpx", "reelay", "reelay.receiver"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())

"""Logging set-up for the ``reelay`` command: readable lines on stderr."""

from __future__ import annotations

import logging

# Libraries that log every request at INFO; their failures still show at WARNING.
_CHATTY = ("httpx", "httpcore", "aiosqlite")


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))

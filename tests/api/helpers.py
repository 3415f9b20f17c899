"""What more than one API test module sends: the bearer token and a pipeline body."""

from __future__ import annotations

from typing import Any

TOKEN = "s3cret"

BODY: dict[str, Any] = {
    "provider": "fake",
    "prompt": "a lighthouse at dusk",
    "extends": [{"prompt": "waves", "from": 0}, {"prompt": "gulls", "from": 0}],
    "metadata": {"job": 7},
}
"""A generate and two extends branching from it."""

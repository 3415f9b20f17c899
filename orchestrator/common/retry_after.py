"""Reading a Retry-After header, the one way every caller does it (providers, webhook
endpoints, video links).

RFC 9110 allows ``delay-seconds`` (ASCII digits) or an ``HTTP-date``. Anything else, a
negative or fractional number included, is garbage and reads as None: "no advice", which every
caller treats as it treats an advice to wait 0 s. The answer is clamped to ``0..max_s`` so that
a date in the past waits nothing and a server asking for a year is not obeyed for a year.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC

MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(
    value: str | None, *, now: float, max_s: float = MAX_RETRY_AFTER_S
) -> float | None:
    """Seconds to wait from a Retry-After header value (``now`` in Unix seconds dates it),
    clamped to ``0..max_s``; None when the header is absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)  # not int(): a 5000-digit value would exceed int's digit limit
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.replace(tzinfo=when.tzinfo or UTC).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), max_s)

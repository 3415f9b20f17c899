"""HTTP Range requests (RFC 9110 14.1.2), for one range: what players send to seek."""

from __future__ import annotations


class Unsatisfiable(Exception):
    """No byte of the requested range exists: answer 416."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) to send, or None for the whole body.

    Several ranges, or a header we cannot read, get the whole body: that is always a correct
    answer to a Range request.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise Unsatisfiable
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        raise Unsatisfiable
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)

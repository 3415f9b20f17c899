"""Times as people type them into a URL or a form: a date or an ISO 8601 time, UTC by default."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def parse_time(text: str, *, end_of_day: bool = False) -> float:
    """``2026-12-04`` or ``2026-12-04T10:00[:00][Z|+01:00]`` as epoch seconds; a time without
    an offset is UTC. A bare date is its first moment, or with ``end_of_day`` the first moment
    of the next day (so that "to 2026-12-04" includes that day). Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        return (day + timedelta(days=1) if end_of_day else day).timestamp()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def is_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True

"""The pipeline list's filters, read from the URL and written back into links, so that any
view can be linked. A filter the dashboard cannot read is dropped and said so, never a 400."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from orchestrator.common.times import parse_time
from orchestrator.domain.models import PipelineStatus
from orchestrator.operations import is_pipeline_id

MAX_TEXT = 200
STATUSES = tuple(s.value for s in PipelineStatus)


@dataclass(frozen=True, slots=True)
class ListFilters:
    status: str | None = None
    provider: str | None = None
    created_from: str | None = None
    """As typed (a date or an ISO time); read as UTC."""
    created_to: str | None = None
    """As typed; a date means up to the end of that day."""
    q: str | None = None
    cursor: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def active(self) -> bool:
        return any((self.status, self.provider, self.created_from, self.created_to, self.q))

    def query(self, **changes: str | None) -> str:
        """This view's query string, with ``changes`` (None drops a filter)."""
        values = {
            "status": self.status,
            "provider": self.provider,
            "from": self.created_from,
            "to": self.created_to,
            "q": self.q,
            "cursor": self.cursor,
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v}
        return f"?{urlencode(kept)}" if kept else "?"

    def range(self) -> tuple[float | None, float | None]:
        """(from inclusive, to exclusive) in epoch seconds."""
        start = parse_time(self.created_from, end_of_day=False) if self.created_from else None
        end = parse_time(self.created_to, end_of_day=True) if self.created_to else None
        return start, end


def read_filters(params: QueryParams, providers: tuple[str, ...]) -> ListFilters:
    problems: list[str] = []
    found = ListFilters()

    def text(name: str) -> str | None:
        value = params.get(name, "").strip()
        return value or None

    status = text("status")
    if status is not None and status not in STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(STATUSES)}; ignored")
        status = None
    provider = text("provider")
    if provider is not None and provider not in providers:
        problems.append(f"provider {provider!r} is not configured; ignored")
        provider = None
    times: dict[str, str | None] = {}
    for name in ("from", "to"):
        value = text(name)
        if value is not None:
            try:
                parse_time(value, end_of_day=name == "to")
            except ValueError:
                problems.append(f"{name} {value!r} is not a date (2026-12-04) or time; ignored")
                value = None
        times[name] = value
    q = text("q")
    if q is not None and len(q) > MAX_TEXT:
        problems.append(f"the search text was cut to {MAX_TEXT} characters")
        q = q[:MAX_TEXT]
    cursor = text("cursor")
    if cursor is not None and not is_pipeline_id(cursor):
        problems.append("the page cursor is not a pipeline id; showing the first page")
        cursor = None
    return replace(
        found,
        status=status,
        provider=provider,
        created_from=times["from"],
        created_to=times["to"],
        q=q,
        cursor=cursor,
        problems=tuple(problems),
    )

"""``reelay providers``: the ``GET /v1/providers`` report as a compact table.

One row per provider, then one line per degraded provider saying why, and for a paused one
what its last balance probe found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.cli.table import aligned

COLUMNS = ("PROVIDER", "KEY", "STATE", "IN FLIGHT", "WINDOW", "REQ/H", "ERRORS", "P50", "P95")
_RIGHT = frozenset({"IN FLIGHT", "WINDOW", "REQ/H", "ERRORS", "P50", "P95"})


def provider_table(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The lines ``reelay providers`` prints for the report's ``items``."""
    if not items:
        return ["no providers (is the engine running?)"]
    lines = aligned(COLUMNS, (_row(p) for p in items), _RIGHT)
    for p in items:
        if p["reasons"]:
            lines.append(f"  {p['name']}: {'; '.join(p['reasons'])}")
        if p["paused"] and p["last_probe_at"]:
            lines.append(
                f"  {p['name']}: last probe {p['last_probe_at']}: {p['last_probe_result']}"
            )
    return lines


def _row(p: Mapping[str, Any]) -> tuple[str, ...]:
    rate = p["error_rate"]
    return (
        p["name"],
        "yes" if p["configured"] else "no",
        _state(p),
        str(p["in_flight"]),
        str(p["window"]),
        str(p["requests_last_hour"]),
        "-" if rate is None else f"{rate * 100:.1f}%",
        _latency(p["latency_p50_ms"]),
        _latency(p["latency_p95_ms"]),
    )


def _state(p: Mapping[str, Any]) -> str:
    if p["paused"]:
        return "paused"
    if p["cooldown_until"]:
        return "cooldown"
    return "degraded" if p["degraded"] else "ok"


def _latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"

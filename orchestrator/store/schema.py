"""Schema migrations, one list per dialect, applied in order at start-up.

Tables and types are chosen to mean the same on SQLite and PostgreSQL: times are epoch seconds
in a double, JSON is text, booleans are integers. Only the event id's auto-increment differs.
"""

from __future__ import annotations

import time
from typing import Literal

from orchestrator.store.backend import Connection

Dialect = Literal["sqlite", "postgres"]

_COMMON_V1 = [
    """
    CREATE TABLE pipelines (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        metadata TEXT NOT NULL,
        webhook_url TEXT,
        error_code TEXT,
        error_message TEXT,
        idempotency_key TEXT UNIQUE,
        request_hash TEXT,
        event_seq INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE INDEX pipelines_by_status ON pipelines (status, id)",
    "CREATE INDEX pipelines_by_provider ON pipelines (provider, id)",
    """
    CREATE TABLE steps (
        pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
        idx INTEGER NOT NULL,
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        parent_idx INTEGER,
        prompt TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL,
        provider_options TEXT NOT NULL,
        status TEXT NOT NULL,
        provider_task_id TEXT,
        callback_mode INTEGER NOT NULL DEFAULT 0,
        progress INTEGER,
        video_urls TEXT NOT NULL DEFAULT '[]',
        urls_expire_at DOUBLE PRECISION,
        error_code TEXT,
        error_message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        polls INTEGER NOT NULL DEFAULT 0,
        poll_failures INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION,
        submitted_at DOUBLE PRECISION,
        completed_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (pipeline_id, idx)
    )
    """,
    "CREATE INDEX steps_due ON steps (status, next_at)",
    """
    CREATE UNIQUE INDEX steps_by_task ON steps (provider, provider_task_id)
    WHERE provider_task_id IS NOT NULL
    """,
]

_EVENTS = {
    "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


def _events_v1(dialect: Dialect) -> list[str]:
    return [
        f"""
        CREATE TABLE events (
            {_EVENTS[dialect]},
            pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            step_idx INTEGER,
            data TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (pipeline_id, seq)
        )
        """
    ]


def _callbacks_v2(dialect: Dialect) -> list[str]:
    return [
        f"""
        CREATE TABLE callbacks (
            {_EVENTS[dialect]},
            provider TEXT NOT NULL,
            task_id TEXT NOT NULL,
            state TEXT NOT NULL,
            pipeline_id TEXT NOT NULL,
            step_idx INTEGER NOT NULL,
            body TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            UNIQUE (provider, task_id, state)
        )
        """,
        "CREATE INDEX callbacks_by_step ON callbacks (pipeline_id, step_idx)",
        """
        CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )
        """,
    ]


def _webhooks_v3(dialect: Dialect) -> list[str]:
    return [
        """
        CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            description TEXT NOT NULL,
            event_types TEXT NOT NULL,
            secrets TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            disabled_reason TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
        # The outbox: one row per (event, destination), written with the event. ``destination``
        # is an endpoint id, or 'pipeline' for the pipeline's own webhook_url.
        """
        CREATE TABLE webhook_messages (
            id TEXT PRIMARY KEY,
            destination TEXT NOT NULL,
            url TEXT NOT NULL,
            pipeline_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION,
            last_error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            UNIQUE (destination, pipeline_id, seq)
        )
        """,
        "CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at)",
        "CREATE INDEX webhook_messages_by_time ON webhook_messages (status, finished_at)",
        f"""
        CREATE TABLE webhook_attempts (
            {_EVENTS[dialect]},
            message_id TEXT NOT NULL REFERENCES webhook_messages (id),
            attempted_at DOUBLE PRECISION NOT NULL,
            status_code INTEGER,
            response TEXT NOT NULL,
            duration_ms DOUBLE PRECISION NOT NULL,
            error TEXT
        )
        """,
        "CREATE INDEX webhook_attempts_by_message ON webhook_attempts (message_id, id)",
    ]


_ARTIFACTS_V4 = [
    """
    CREATE TABLE artifacts (
        sha256 TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        content_type TEXT NOT NULL,
        storage_key TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    # One row per result video to keep: written with the step's success, like the outbox.
    """
    CREATE TABLE downloads (
        pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
        step_idx INTEGER NOT NULL,
        url_idx INTEGER NOT NULL,
        provider TEXT NOT NULL,
        url TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION,
        expires_at DOUBLE PRECISION,
        sha256 TEXT,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (pipeline_id, step_idx, url_idx)
    )
    """,
    "CREATE INDEX downloads_due ON downloads (status, next_attempt_at)",
    "CREATE INDEX downloads_by_sha ON downloads (sha256)",
    # Every claim counts tasks in flight per provider.
    "CREATE INDEX steps_by_status_provider ON steps (status, provider)",
]


# Several replicas: each submit in flight names the replica that sent it, and each replica
# proves it is alive by a heartbeat; a dead replica's submits are taken over (engine.recover).
_REPLICAS_V5 = [
    "ALTER TABLE steps ADD COLUMN claimed_by TEXT",
    """
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL
    )
    """,
]

# "No such task" answers are counted apart from other poll failures: only an unbroken run of
# them fails a step (a provider outage's 5xx must not count towards it). And one row that
# /readyz rewrites to prove the database still takes writes.
_NOT_FOUND_POLLS_V6 = [
    "ALTER TABLE steps ADD COLUMN not_found_polls INTEGER NOT NULL DEFAULT 0",
    """
    CREATE TABLE readiness (
        id INTEGER PRIMARY KEY,
        checked_at DOUBLE PRECISION NOT NULL
    )
    """,
]


# Money: each step's estimate and the state of its latest submit's money; a ledger row per
# submit (reserved, then charged, released, uncertain or refunded: amounts in micro-USD, exact
# integers on both databases); budget caps changed at run time, and per scope and period the
# sum the caps are checked against (kept with every ledger change, in its transaction).
_MONEY_V7 = [
    "ALTER TABLE pipelines ADD COLUMN budget_micros BIGINT",
    "ALTER TABLE pipelines ADD COLUMN routing TEXT",
    "ALTER TABLE steps ADD COLUMN estimate_micros BIGINT",
    "ALTER TABLE steps ADD COLUMN billing TEXT",
    "ALTER TABLE steps ADD COLUMN billing_seq INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE steps ADD COLUMN reported_micros BIGINT",
    """
    CREATE TABLE ledger (
        pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
        step_idx INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        estimate_micros BIGINT,
        amount_micros BIGINT,
        day TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (pipeline_id, step_idx, seq)
    )
    """,
    "CREATE INDEX ledger_by_day ON ledger (day)",
    """
    CREATE TABLE budget_caps (
        scope TEXT PRIMARY KEY,
        per_day_micros BIGINT,
        per_month_micros BIGINT,
        updated_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TABLE budget_usage (
        scope TEXT NOT NULL,
        period TEXT NOT NULL,
        used_micros BIGINT NOT NULL,
        warned INTEGER NOT NULL DEFAULT 0,
        exceeded INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, period)
    )
    """,
]


# Claims look up one provider's due work: indexes by provider and due time over exactly the
# states each query reads, so that a pass costs the same with 1,000 or 100,000 steps in flight
# (the status-first index walked every provider's due steps). NEXT_DUE reads the earliest.
_DUE_BY_PROVIDER_V8 = [
    """
    CREATE INDEX steps_due_polls ON steps (provider, next_at)
    WHERE status IN ('submitted', 'running')
    """,
    "CREATE INDEX steps_due_submits ON steps (provider, next_at) WHERE status = 'pending'",
    """
    CREATE INDEX steps_next_due ON steps (next_at)
    WHERE status IN ('pending', 'submitted', 'running') AND next_at IS NOT NULL
    """,
]


# What each kept video is, measured (duration, frame rate, frames, resolution, codecs): JSON.
_PROBES_V9 = ["ALTER TABLE artifacts ADD COLUMN probe TEXT"]


# Long videos: a continuation's first frame (the storage key of its parent's last frame), and
# the media work done after downloads: extracting a last frame ('frame') and making a
# branch's whole video ('video'), one row per (pipeline, step, kind): waiting for downloads,
# then leased like them, with the result as JSON.
_MEDIA_V10 = [
    "ALTER TABLE steps ADD COLUMN first_frame TEXT",
    """
    CREATE TABLE media_jobs (
        pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
        step_idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION,
        result TEXT,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (pipeline_id, step_idx, kind)
    )
    """,
    "CREATE INDEX media_jobs_due ON media_jobs (next_at) WHERE status IN ('waiting', 'working')",
]


def migrations(dialect: Dialect) -> list[list[str]]:
    """Migration N (1-based) is ``migrations(d)[N - 1]``: statements run in one transaction."""
    return [
        _COMMON_V1 + _events_v1(dialect),
        _callbacks_v2(dialect),
        _webhooks_v3(dialect),
        _ARTIFACTS_V4,
        _REPLICAS_V5,
        _NOT_FOUND_POLLS_V6,
        _MONEY_V7,
        _DUE_BY_PROVIDER_V8,
        _PROBES_V9,
        _MEDIA_V10,
    ]


BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)
"""


async def apply_migrations(conn: Connection, dialect: Dialect) -> None:
    """Apply, inside the caller's transaction, every migration not yet recorded."""
    await conn.execute(BOOKKEEPING)
    current = await conn.fetchval("SELECT MAX(version) FROM schema_migrations") or 0
    for version, statements in enumerate(migrations(dialect), start=1):
        if version <= current:
            continue
        for statement in statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (version, time.time()),
        )

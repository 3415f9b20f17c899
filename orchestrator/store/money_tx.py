"""The ledger and the budgets' sums, written as given: ``tx.money``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from orchestrator.domain.ledger import (
    COMMITTED,
    LedgerChange,
    LedgerEntry,
    Move,
    Reserve,
    UsageKey,
    usage_keys,
)
from orchestrator.domain.models import Billing
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection, chunks, placeholders
from orchestrator.store.rows import Row


@dataclass(frozen=True, slots=True)
class Usage:
    used_micros: int
    warned: bool
    exceeded: bool


@dataclass(frozen=True, slots=True)
class CapOverride:
    """Caps of one scope set at run time (they replace the settings' for that scope)."""

    per_day_micros: int | None
    per_month_micros: int | None
    updated_at: float


def ledger_entry(row: Row) -> LedgerEntry:
    return LedgerEntry(
        pipeline_id=row["pipeline_id"],
        step=row["step_idx"],
        seq=row["seq"],
        provider=row["provider"],
        model=row["model"],
        kind=row["kind"],
        state=Billing(row["state"]),
        estimate_micros=row["estimate_micros"],
        amount_micros=row["amount_micros"],
        day=row["day"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class MoneyTx:
    """``tx.money``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def apply(self, changes: Sequence[LedgerChange], now: float) -> None:
        """Write the ledger changes and move the budgets' sums by what they changed: a new
        reservation adds its amount; a move of a row that already moved (a replay) does
        nothing at all."""
        deltas: dict[UsageKey, int] = defaultdict(int)
        reserves = [c for c in changes if isinstance(c, Reserve)]
        if reserves:
            rows = []
            for r in reserves:
                s = r.step
                amount = s.estimate_micros
                row = (s.pipeline_id, s.index, s.billing_seq, s.provider, s.model, s.kind)
                rows.append((*row, amount, amount, r.day, now, now))
                if amount:
                    for key in usage_keys(s.provider, r.day):
                        deltas[key] += amount
            await self._conn.executemany(q.INSERT_LEDGER, rows)
        plain: list[Move] = []
        changing: list[Move] = []  # may move a sum: read back one by one
        for c in changes:
            if isinstance(c, Move):
                charged = c.amount is None and c.to is Billing.CHARGED
                (plain if charged else changing).append(c)
        if plain:
            # The common case (an accepted submit) changes no sum: one statement for all.
            # Both states count against budgets, so no sum moves.
            await self._conn.executemany(
                q.CHARGE_LEDGER,
                [(str(m.to), now, m.pipeline_id, m.index, m.seq, str(m.was)) for m in plain],
            )
        for move in changing:
            await self._move(move, now, deltas)
        await self._add_usage(deltas)

    async def _move(self, m: Move, now: float, deltas: dict[UsageKey, int]) -> None:
        key = (m.pipeline_id, m.index, m.seq)
        if m.amount is not None:
            # Read under the pipeline's lock, which every write of its ledger rows holds.
            old = await self._conn.fetchval(q.LEDGER_AMOUNT, key) or 0
            rows = await self._conn.fetch(
                q.REPRICE_LEDGER, (str(m.to), m.amount, now, *key, str(m.was))
            )
            new = m.amount
        else:
            rows = await self._conn.fetch(q.MOVE_LEDGER, (str(m.to), now, *key, str(m.was)))
            old = new = (rows[0]["amount_micros"] or 0) if rows else 0
        if not rows:
            return
        change = (new if m.to in COMMITTED else 0) - (old if m.was in COMMITTED else 0)
        if change:
            for usage_key in usage_keys(rows[0]["provider"], rows[0]["day"]):
                deltas[usage_key] += change

    async def _add_usage(self, deltas: dict[UsageKey, int]) -> None:
        moved = sorted((k, v) for k, v in deltas.items() if v)  # one lock order for all
        if moved:
            await self._conn.executemany(
                q.ADD_USAGE, [(scope, period, d, d) for (scope, period), d in moved]
            )

    async def lock_budgets(self) -> None:
        """Serialize the checks of caps across replicas until this transaction ends."""
        await self._conn.lock("budgets")

    async def usage(self, keys: Collection[UsageKey]) -> dict[UsageKey, Usage]:
        """The sums of ``keys`` (missing ones are 0)."""
        found: dict[UsageKey, Usage] = {}
        wanted = set(keys)
        if not wanted:
            return found
        periods = sorted({period for _, period in wanted})
        sql = q.SELECT_USAGE.format(periods=placeholders(periods))
        for row in await self._conn.fetch(sql, periods):
            key = (row["scope"], row["period"])
            if key in wanted:
                found[key] = Usage(row["used_micros"], bool(row["warned"]), bool(row["exceeded"]))
        return found

    async def flag(self, key: UsageKey, *, warned: bool, exceeded: bool) -> None:
        """Remember that a sum's warning or exceeded event was sent (once per period)."""
        await self._conn.execute(q.ENSURE_USAGE, key)
        await self._conn.execute(q.FLAG_USAGE, (int(warned), int(exceeded), *key))

    async def caps(self) -> dict[str, CapOverride]:
        rows = await self._conn.fetch(q.SELECT_CAPS)
        return {
            r["scope"]: CapOverride(r["per_day_micros"], r["per_month_micros"], r["updated_at"])
            for r in rows
        }

    async def set_caps(
        self, scope: str, per_day: int | None, per_month: int | None, now: float
    ) -> None:
        await self._conn.execute(
            q.UPSERT_CAP, (scope, per_day, per_month, now, per_day, per_month, now)
        )

    async def reset_caps(self, scope: str) -> None:
        """Back to the settings' caps for ``scope``."""
        await self._conn.execute(q.DELETE_CAP, (scope,))

    async def clear_flags(self, scope: str) -> None:
        """A cap of ``scope`` changed: its warning and exceeded events may be told again."""
        await self._conn.execute(q.CLEAR_USAGE_FLAGS, (scope,))

    async def wake_waiters(self, now: float) -> None:
        """Steps waiting for a budget are due again now."""
        await self._conn.execute(q.WAKE_BUDGET_WAITERS, (now,))

    async def committed_of(self, pipeline_ids: Collection[str]) -> dict[str, int]:
        """What each pipeline has reserved or been charged (refunds and releases excluded)."""
        found: dict[str, int] = {}
        for chunk in chunks(sorted(set(pipeline_ids))):
            sql = q.COMMITTED_OF_PIPELINES.format(ids=placeholders(chunk))
            for row in await self._conn.fetch(sql, chunk):
                found[row["pipeline_id"]] = int(row["used"] or 0)
        return found

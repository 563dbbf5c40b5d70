"""The database: one aiosqlite connection in WAL mode, versioned migrations, queries.

Times passed in are wall-clock seconds (``now``) chosen by the caller, so the
store itself never reads a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.records import (
    MODULE_COLUMNS,
    ActionRow,
    HeartbeatRecord,
    HistoryRow,
    ModuleRecord,
)

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The database cannot be used as configured (bad URL, newer schema, ...)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The bundled migrations, in version order."""
    found: list[Migration] = []
    folder = resources.files("bot.store") / "migrations"
    for entry in folder.iterdir():
        m = MIGRATION_NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    return found


def sqlite_path(database_url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///") :]
        if not path:
            raise StoreError("DATABASE_URL names no file: write sqlite:///roveit.sqlite3")
        return path
    if database_url.startswith(("postgres://", "postgresql://")):
        raise StoreError(
            "DATABASE_URL is PostgreSQL, which this version does not support yet; "
            "use sqlite:///path.sqlite3"
        )
    raise StoreError(
        f"DATABASE_URL must start with sqlite:/// (got {database_url.split(':', 1)[0]!r})"
    )


def _module_filter(
    owner: str | None, place: str | None, active_only: bool
) -> tuple[str, list[Any]]:
    """WHERE clause and arguments for modules that are not deleted, narrowed as asked."""
    where = ["status != 'deleted'"]
    args: list[Any] = []
    if owner is not None:
        where.append("owner = ?")
        args.append(owner)
    if place is not None:
        where.append("place = ?")
        args.append(place)
    if active_only:
        where.append("status = 'active'")
    return " AND ".join(where), args


class Store:
    """Every query roveit makes; one instance per process."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        # One connection is shared by every task: writes and transactions take turns, so no
        # statement of one task ever lands inside another task's open transaction.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        store = cls(conn, path)
        if migrate:
            try:
                await store.upgrade()
            except BaseException:
                await conn.close()
                raise
        return store

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction, taken in turn with every other write on the connection."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
            if self._conn.in_transaction:
                await self._conn.execute("COMMIT")

    # ---- migrations --------------------------------------------------------

    async def schema_version(self) -> int:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        async with self._conn.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def upgrade(self) -> list[str]:
        """Apply every migration newer than the database; each in one transaction."""
        async with self._lock:
            current = await self.schema_version()
            known = migrations()
            if known and current > known[-1].version:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this roveit "
                    f"({known[-1].version}); upgrade roveit"
                )
            applied: list[str] = []
            for mig in known:
                if mig.version <= current:
                    continue
                script = (
                    f"BEGIN;\n{mig.sql}\n"
                    f"INSERT INTO schema_version VALUES ({mig.version}, '{mig.name}', datetime('now'));\n"
                    "COMMIT;"
                )
                try:
                    await self._conn.executescript(script)
                except sqlite3.Error as exc:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise StoreError(f"migration {mig.name} failed: {exc}") from exc
                applied.append(mig.name)
            return applied

    # ---- modules -----------------------------------------------------------

    async def create_module(
        self,
        *,
        rule: str,
        owner: str | None,
        token_hash: str | None,
        chat: str,
        place: str,
        channel: str | None,
        now: float,
    ) -> ModuleRecord:
        async with self._lock:
            async with self._conn.execute(
                "INSERT INTO modules (owner, token_hash, chat, place, channel, rule, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (owner, token_hash, chat, place, channel, rule, now, now),
            ) as cur:
                module_id = cur.lastrowid
            assert module_id is not None
            record = await self.get_module(module_id)
            assert record is not None
            return record

    async def get_module(self, module_id: int) -> ModuleRecord | None:
        async with self._conn.execute(
            f"SELECT {MODULE_COLUMNS} FROM modules WHERE id = ? AND status != 'deleted'",
            (module_id,),
        ) as cur:
            row = await cur.fetchone()
        return ModuleRecord(*row) if row else None

    async def list_modules(
        self, *, owner: str | None = None, place: str | None = None, active_only: bool = False
    ) -> list[ModuleRecord]:
        where, args = _module_filter(owner, place, active_only)
        sql = f"SELECT {MODULE_COLUMNS} FROM modules WHERE {where} ORDER BY id"
        async with self._conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [ModuleRecord(*row) for row in rows]

    async def count_modules(self, *, owner: str | None = None, place: str | None = None) -> int:
        where, args = _module_filter(owner, place, False)
        async with self._conn.execute(f"SELECT COUNT(*) FROM modules WHERE {where}", args) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def update_module(
        self,
        module_id: int,
        *,
        now: float,
        rule: str | None = None,
        status: str | None = None,
        status_reason: str | None = None,
        owner: str | None = None,
        clear_token: bool = False,
    ) -> ModuleRecord | None:
        async with self._lock:
            sets = ["updated_at = ?"]
            args: list[Any] = [now]
            if rule is not None:
                sets.append("rule = ?")
                args.append(rule)
            if status is not None:
                sets += ["status = ?", "status_reason = ?"]
                args += [status, status_reason]
            if owner is not None:
                sets.append("owner = ?")
                args.append(owner)
            if clear_token:
                sets.append("token_hash = NULL")
            args.append(module_id)
            await self._conn.execute(
                f"UPDATE modules SET {', '.join(sets)} WHERE id = ? AND status != 'deleted'", args
            )
            return await self.get_module(module_id)

    async def claim_module(self, module_id: int, *, owner: str, now: float) -> bool:
        """Give an anonymous module an owner; False if someone claimed it first."""
        async with (
            self._lock,
            self._conn.execute(
                "UPDATE modules SET owner = ?, token_hash = NULL, updated_at = ? "
                "WHERE id = ? AND owner IS NULL AND status != 'deleted'",
                (owner, now, module_id),
            ) as cur,
        ):
            return cur.rowcount == 1

    # ---- matches and the outbox ---------------------------------------------

    async def record_match(
        self,
        *,
        module_id: int,
        item: str,
        author: str,
        now: float,
        skipped: str | None,
        actions: Sequence[tuple[str, dict[str, Any]]],
    ) -> int | None:
        """Write a match and its pending actions in one transaction.

        Returns the match id, or None when this (module, item) was recorded
        before: a replayed match never enqueues twice.
        """
        async with self.transaction():
            async with self._conn.execute(
                "INSERT OR IGNORE INTO matches (module_id, item, author, matched_at, skipped) "
                "VALUES (?, ?, ?, ?, ?)",
                (module_id, item, author, now, skipped),
            ) as cur:
                if cur.rowcount == 0:
                    await self._conn.execute("ROLLBACK")
                    return None
                match_id = cur.lastrowid
            if skipped is None:
                await self._conn.executemany(
                    "INSERT OR IGNORE INTO actions (match_id, module_id, item, idx, kind, payload, "
                    "next_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (match_id, module_id, item, idx, kind, json.dumps(payload), now, now)
                        for idx, (kind, payload) in enumerate(actions)
                    ],
                )
        return match_id

    async def matches_since(
        self, module_id: int, since: float, *, author: str | None = None
    ) -> int:
        """Acted-on matches of a module since a time (for limits and cooldowns)."""
        sql = "SELECT COUNT(*) FROM matches WHERE module_id = ? AND matched_at > ? AND skipped IS NULL"
        args: list[Any] = [module_id, since]
        if author is not None:
            sql += " AND author = ?"
            args.append(author)
        async with self._conn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def history(self, module_id: int, *, limit: int = 10) -> list[HistoryRow]:
        async with self._conn.execute(
            "SELECT id, item, matched_at, skipped FROM matches WHERE module_id = ? "
            "ORDER BY matched_at DESC, id DESC LIMIT ?",
            (module_id, limit),
        ) as cur:
            matches = await cur.fetchall()
        rows: list[HistoryRow] = []
        for match in matches:
            async with self._conn.execute(
                "SELECT kind, status, attempts, last_error FROM actions WHERE match_id = ? "
                "ORDER BY idx",
                (match["id"],),
            ) as cur:
                acts = await cur.fetchall()
            rows.append(
                HistoryRow(
                    item=match["item"],
                    matched_at=match["matched_at"],
                    skipped=match["skipped"],
                    actions=tuple((a[0], a[1], a[2], a[3]) for a in acts),
                )
            )
        return rows

    async def module_counts(self, module_id: int) -> dict[str, int]:
        """Matches, skipped matches and actions by status, for ``show``."""
        counts: dict[str, int] = {}
        async with self._conn.execute(
            "SELECT skipped IS NULL, COUNT(*) FROM matches WHERE module_id = ? GROUP BY 1",
            (module_id,),
        ) as cur:
            for acted, n in await cur.fetchall():
                counts["matches" if acted else "skipped"] = n
        async with self._conn.execute(
            "SELECT status, COUNT(*) FROM actions WHERE module_id = ? GROUP BY status",
            (module_id,),
        ) as cur:
            for status, n in await cur.fetchall():
                counts[f"actions_{status}"] = n
        return counts

    async def action_counts(self) -> dict[str, int]:
        async with self._conn.execute(
            "SELECT status, COUNT(*) FROM actions GROUP BY status"
        ) as cur:
            return {status: n for status, n in await cur.fetchall()}

    # ---- heartbeats ----------------------------------------------------------

    async def set_heartbeat(
        self, *, chat: str, place: str, channel: str, every_seconds: int, now: float
    ) -> None:
        async with self._lock:
            await self._conn.execute(
                "INSERT INTO heartbeats (chat, place, channel, every_seconds, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat, channel) DO UPDATE SET "
                "every_seconds = excluded.every_seconds, place = excluded.place, "
                "updated_at = excluded.updated_at",
                (chat, place, channel, every_seconds, now),
            )

    async def clear_heartbeat(self, *, chat: str, channel: str) -> bool:
        async with (
            self._lock,
            self._conn.execute(
                "DELETE FROM heartbeats WHERE chat = ? AND channel = ?", (chat, channel)
            ) as cur,
        ):
            return cur.rowcount > 0

    async def heartbeats(self) -> list[HeartbeatRecord]:
        async with self._conn.execute(
            "SELECT chat, place, channel, every_seconds, message_id FROM heartbeats ORDER BY chat, channel"
        ) as cur:
            return [HeartbeatRecord(*row) for row in await cur.fetchall()]

    async def set_heartbeat_message(self, *, chat: str, channel: str, message_id: str) -> None:
        async with self._lock:
            await self._conn.execute(
                "UPDATE heartbeats SET message_id = ? WHERE chat = ? AND channel = ?",
                (message_id, chat, channel),
            )

    # ---- stream positions and kept items ---------------------------------------

    async def get_position(self, stream: str) -> tuple[str, float] | None:
        async with self._conn.execute(
            "SELECT last_item, last_created FROM stream_positions WHERE stream = ?", (stream,)
        ) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def keep_items(self, things: Iterable[dict[str, Any]], *, keep: int) -> list[str]:
        """Store newly seen items (deduplicated by fullname) and trim to the newest ``keep``,
        in one transaction. Returns the fullnames that were new, in the order given."""
        rows = []
        for thing in things:
            data = thing.get("data") or {}
            name = data.get("name") or f"{thing.get('kind')}_{data.get('id')}"
            created = data.get("created_utc")
            rows.append(
                (
                    name,
                    thing.get("kind", ""),
                    str(data.get("subreddit") or ""),
                    float(created) if isinstance(created, int | float) else 0.0,
                    json.dumps(thing, separators=(",", ":")),
                )
            )
        new: list[str] = []
        async with self.transaction():
            async with self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM items") as cur:
                row = await cur.fetchone()
            seq = int(row[0]) if row else 0
            for name, kind, sub, created, data in rows:
                async with self._conn.execute(
                    "INSERT OR IGNORE INTO items (fullname, seq, kind, subreddit, created_utc, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (name, seq + 1, kind, sub, created, data),
                ) as cur:
                    if cur.rowcount:
                        seq += 1
                        new.append(name)
            await self._conn.execute("DELETE FROM items WHERE seq <= ?", (seq - keep,))
        return new

    async def set_position(
        self, stream: str, *, last_item: str, last_created: float, now: float
    ) -> None:
        async with self._lock:
            await self._conn.execute(
                "INSERT INTO stream_positions (stream, last_item, last_created, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                "last_item = excluded.last_item, last_created = excluded.last_created, "
                "updated_at = excluded.updated_at",
                (stream, last_item, last_created, now),
            )

    async def notification_card(self, module_id: int, item: str) -> dict[str, Any] | None:
        """The card a notify action of this match carried (the item as it was matched)."""
        async with self._conn.execute(
            "SELECT payload FROM actions WHERE module_id = ? AND item = ? AND kind = 'notify' "
            "ORDER BY idx LIMIT 1",
            (module_id, item),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        card = json.loads(row[0]).get("card")
        return card if isinstance(card, dict) else None

    async def known_items(self, fullnames: Sequence[str]) -> set[str]:
        """Which of these fullnames are among the kept items."""
        if not fullnames:
            return set()
        marks = ",".join("?" * len(fullnames))
        async with self._conn.execute(
            f"SELECT fullname FROM items WHERE fullname IN ({marks})", list(fullnames)
        ) as cur:
            return {row[0] for row in await cur.fetchall()}

    async def acquire_lease(self, name: str, *, holder: str, ttl: float, now: float) -> bool:
        """Take or renew a lease; True while ``holder`` has it."""
        async with self._lock:
            await self._conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
                (name, holder, now + ttl, now),
            )
            async with self._conn.execute(
                "SELECT holder FROM leases WHERE name = ?", (name,)
            ) as cur:
                row = await cur.fetchone()
            return row is not None and row[0] == holder

    async def release_lease(self, name: str, *, holder: str) -> None:
        async with self._lock:
            await self._conn.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
            )

    async def recent_items(self, limit: int) -> list[dict[str, Any]]:
        """The newest kept items, oldest first."""
        async with self._conn.execute(
            "SELECT data FROM (SELECT seq, data FROM items ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (limit,),
        ) as cur:
            return [json.loads(row[0]) for row in await cur.fetchall()]

    async def get_item(self, fullname: str) -> dict[str, Any] | None:
        async with self._conn.execute(
            "SELECT data FROM items WHERE fullname = ?", (fullname,)
        ) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def items_after(self, fullname: str) -> list[dict[str, Any]]:
        """Kept items seen after ``fullname`` (for recovery), oldest first."""
        async with self._conn.execute(
            "SELECT data FROM items WHERE seq > (SELECT seq FROM items WHERE fullname = ?) ORDER BY seq",
            (fullname,),
        ) as cur:
            return [json.loads(row[0]) for row in await cur.fetchall()]


class Outbox:
    """The durable action queue, on the Store's connection."""

    def __init__(self, store: Store) -> None:
        self._conn = store._conn
        self._lock = store._lock
        self.transaction = store.transaction

    async def claim_due(self, *, now: float, lease: float, limit: int = 10) -> list[ActionRow]:
        """Take due actions (pending, or running with an expired lease) for this worker."""
        async with self.transaction():
            async with self._conn.execute(
                "SELECT a.id, a.module_id, a.item, a.idx, a.kind, a.payload, a.attempts, "
                "m.matched_at FROM actions a JOIN matches m ON m.id = a.match_id "
                "WHERE (a.status = 'pending' AND a.next_at <= ?) "
                "OR (a.status = 'running' AND a.lease_until <= ?) "
                "ORDER BY a.next_at, a.id LIMIT ?",
                (now, now, limit),
            ) as cur:
                rows = await cur.fetchall()
            await self._conn.executemany(
                "UPDATE actions SET status = 'running', lease_until = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE id = ?",
                [(now + lease, now, row[0]) for row in rows],
            )
        return [
            ActionRow(
                row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6] + 1, row[7]
            )
            for row in rows
        ]

    async def finish(self, action_id: int, *, now: float, result: str | None = None) -> None:
        async with self._lock:
            await self._conn.execute(
                "UPDATE actions SET status = 'done', result = ?, last_error = NULL, lease_until = NULL, "
                "updated_at = ? WHERE id = ?",
                (result, now, action_id),
            )

    async def fail(self, action_id: int, *, now: float, error: str, retry_at: float | None) -> None:
        """Back to pending for a retry at ``retry_at``, or dead when it is None."""
        async with self._lock:
            if retry_at is None:
                await self._conn.execute(
                    "UPDATE actions SET status = 'dead', last_error = ?, lease_until = NULL, "
                    "updated_at = ? WHERE id = ?",
                    (error, now, action_id),
                )
            else:
                await self._conn.execute(
                    "UPDATE actions SET status = 'pending', last_error = ?, next_at = ?, "
                    "lease_until = NULL, updated_at = ? WHERE id = ?",
                    (error, retry_at, now, action_id),
                )

    async def requeue_running(self, *, now: float) -> int:
        """Actions a dead leader left running go back to pending (only the leader acts,
        so when a new leader starts, every running action is an orphan).

        They keep their due time, so they run before anything queued after them: the one
        that was in flight is retried while its effect (say, a reply Reddit accepted just
        before the crash) is still among the newest, where the effect check looks."""
        async with (
            self._lock,
            self._conn.execute(
                "UPDATE actions SET status = 'pending', lease_until = NULL, updated_at = ? "
                "WHERE status = 'running'",
                (now,),
            ) as cur,
        ):
            return cur.rowcount

    async def next_due(self) -> float | None:
        async with self._conn.execute(
            "SELECT MIN(CASE WHEN status = 'pending' THEN next_at ELSE lease_until END) "
            "FROM actions WHERE status IN ('pending', 'running')"
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def get_payload(self, action_id: int) -> tuple[int, dict[str, Any]] | None:
        """(module id, payload) of one action, for a "Show full" button."""
        async with self._conn.execute(
            "SELECT module_id, payload FROM actions WHERE id = ?", (action_id,)
        ) as cur:
            row = await cur.fetchone()
        return (row[0], json.loads(row[1])) if row else None

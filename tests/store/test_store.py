"""The store on a real SQLite file: migrations, the outbox, kept items, leases."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.db import Outbox, Store, StoreError, migrations, sqlite_path


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "s.sqlite3")
    try:
        yield s
    finally:
        await s.close()


def thing(i: int, kind: str = "t3") -> dict[str, object]:
    return {
        "kind": kind,
        "data": {
            "id": f"i{i}",
            "name": f"{kind}_i{i}",
            "created_utc": 1000.0 + i,
            "subreddit": "x",
        },
    }


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///roveit.sqlite3") == "roveit.sqlite3"
    assert sqlite_path("sqlite:////abs/r.sqlite3") == "/abs/r.sqlite3"
    for bad in ("postgresql://u@h/db", "mysql://x", "sqlite:///"):
        with pytest.raises(StoreError):
            sqlite_path(bad)


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    store = await Store.open(path, migrate=False)
    assert await store.schema_version() == 0
    applied = await store.upgrade()
    assert applied == [m.name for m in migrations()]
    assert await store.upgrade() == []
    assert await store.schema_version() == migrations()[-1].version
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    store = await Store.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, '9999_future.sql', 'now')")
    with pytest.raises(StoreError, match="newer than this roveit"):
        await Store.open(path)


async def test_a_match_and_its_actions_are_written_once(store: Store) -> None:
    m = await store.create_module(
        rule="r",
        owner="t:a",
        token_hash=None,
        chat="terminal",
        place="terminal",
        channel="terminal",
        now=1.0,
    )
    actions = [("reply", {"thing_id": "t3_x", "text": "hi"}), ("webhook", {"url": "https://e.x"})]
    first = await store.record_match(
        module_id=m.id, item="t3_x", author="bob", now=10.0, skipped=None, actions=actions
    )
    again = await store.record_match(
        module_id=m.id, item="t3_x", author="bob", now=11.0, skipped=None, actions=actions
    )
    assert first is not None and again is None
    assert await store.action_counts() == {"pending": 2}
    skipped = await store.record_match(
        module_id=m.id, item="t3_y", author="bob", now=12.0, skipped="limit", actions=actions
    )
    assert skipped is not None and await store.action_counts() == {"pending": 2}
    assert await store.matches_since(m.id, 0) == 1
    assert await store.matches_since(m.id, 0, author="bob") == 1
    assert await store.matches_since(m.id, 10.5) == 0


async def test_outbox_leases_retries_and_dead_letters(store: Store) -> None:
    outbox = Outbox(store)
    m = await store.create_module(
        rule="r", owner=None, token_hash="h", chat="reddit", place="reddit", channel="u", now=1.0
    )
    await store.record_match(
        module_id=m.id,
        item="t3_x",
        author="a",
        now=10.0,
        skipped=None,
        actions=[("reply", {"t": 1})],
    )
    rows = await outbox.claim_due(now=10.0, lease=30)
    assert [(r.kind, r.attempts, r.payload) for r in rows] == [("reply", 1, {"t": 1})]
    assert await outbox.claim_due(now=20.0, lease=30) == []  # leased to the first worker
    again = await outbox.claim_due(now=41.0, lease=30)  # the lease expired: a crashed worker
    assert [r.attempts for r in again] == [2]
    await outbox.fail(again[0].id, now=41.0, error="boom", retry_at=100.0)
    assert await outbox.claim_due(now=99.0, lease=30) == []
    assert await outbox.next_due() == 100.0
    third = await outbox.claim_due(now=100.0, lease=30)
    await outbox.fail(third[0].id, now=100.0, error="gone", retry_at=None)
    assert await store.action_counts() == {"dead": 1}
    history = await store.history(m.id)
    assert history[0].actions == (("reply", "dead", 3, "gone"),)


async def test_kept_items_are_deduplicated_trimmed_and_ordered(store: Store) -> None:
    new = await store.keep_items([thing(i) for i in range(5)], keep=3)
    assert new == [f"t3_i{i}" for i in range(5)]
    assert await store.keep_items([thing(3), thing(5)], keep=3) == ["t3_i5"]
    recent = await store.recent_items(10)
    assert [t["data"]["id"] for t in recent] == ["i3", "i4", "i5"]
    assert await store.known_items(["t3_i4", "t3_i0", "t3_zz"]) == {"t3_i4"}
    assert [t["data"]["id"] for t in await store.items_after("t3_i3")] == ["i4", "i5"]
    await store.set_position("posts", last_item="t3_i4", last_created=1004.0, now=5.0)
    assert await store.get_position("posts") == ("t3_i4", 1004.0)


async def test_one_leader_at_a_time(store: Store) -> None:
    assert await store.acquire_lease("engine", holder="a", ttl=10, now=100)
    assert not await store.acquire_lease("engine", holder="b", ttl=10, now=105)
    assert await store.acquire_lease("engine", holder="a", ttl=10, now=108)  # renewal
    assert not await store.acquire_lease("engine", holder="b", ttl=10, now=117)
    assert await store.acquire_lease("engine", holder="b", ttl=10, now=118.5)  # a stopped renewing
    assert not await store.acquire_lease("engine", holder="a", ttl=10, now=119)
    await store.release_lease("engine", holder="b")
    assert await store.acquire_lease("engine", holder="a", ttl=10, now=120)

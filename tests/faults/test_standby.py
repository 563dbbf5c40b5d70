"""Two real ``roveit engine`` processes on one database: the leader is killed with
SIGKILL, the ``--standby`` one takes over within two lease periods, resumes from the
stored stream positions, and no reply is lost or made twice. Each engine logs in with
its own OAuth client id, so the sandbox's request log says which one polled when."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.faults.conftest import (
    RULES,
    Sandbox,
    Thing,
    create_modules,
    db_rows,
    engine_env,
    expected_pairs,
    outbox_idle,
    real_items,
    replies_done,
    sandbox_process,
    start_engine,
    stream_positions,
    wait_until,
    write_items,
)

LEASE = 2.0
RATE = 100.0  # items a second: the ~3 s without a leader leave more than a page per stream
LISTING = re.compile(r"^/r/[^/]+/(new|comments)/?$")


@pytest.mark.timeout(120)
async def test_the_standby_takes_over_from_a_killed_leader(
    tmp_path: Path, corpus: list[Thing]
) -> None:
    items = real_items(corpus, 1500)
    db = tmp_path / "roveit.sqlite3"
    ids = await create_modules(db, RULES)
    expected = expected_pairs(dict(zip(ids, RULES, strict=True)), items)
    assert len(expected) > 200
    async with sandbox_process(tmp_path, write_items(tmp_path / "items.jsonl", items)) as sb:
        leader = await start_engine(
            tmp_path, engine_env(sb, db, client_id="engine-a", lease=LEASE), name="leader"
        )
        await leader.wait_for_line("is the leader")
        standby = await start_engine(
            tmp_path,
            engine_env(sb, db, client_id="engine-b", lease=LEASE),
            name="standby",
            standby=True,
        )
        await standby.wait_for_line("is on standby")
        await sb.release(40)
        await wait_until(
            lambda: stream_positions(db) == {"posts", "comments"}, timeout=30, what="positions"
        )
        await sb.replay(RATE)
        await wait_until(lambda: _replies(sb, 50), timeout=30, what="the leader to act")
        killed_at = await leader.kill9()
        took_over_at = await standby.wait_for_line("is the leader", timeout=4 * LEASE)
        takeover = took_over_at - killed_at

        async def settled() -> bool:
            if (await sb.state())["pending"]:
                return False
            return set(replies_done(await sb.writes())) >= expected and outbox_idle(db)

        await wait_until(settled, timeout=60, every=0.2, what="the standby to drain")
        assert await standby.terminate() == 0
        writes = await sb.writes()
        requests = await sb.requests()
    assert takeover < 2 * LEASE, f"took over after {takeover:.2f}s"
    done = replies_done(writes)
    assert set(done) == expected and max(done.values()) == 1, "nothing lost, nothing doubled"
    assert dict(db_rows(db, "SELECT status, COUNT(*) FROM actions GROUP BY status")) == {
        "done": len(expected)
    }
    by_a = [
        r for r in requests if r["client"] == "engine-a" and r["path"] != "/api/v1/access_token"
    ]
    by_b = [
        r for r in requests if r["client"] == "engine-b" and r["path"] != "/api/v1/access_token"
    ]
    assert by_a and by_b
    assert max(r["time"] for r in by_a) <= killed_at, "the leader's requests all precede its death"
    assert min(r["time"] for r in by_b) >= killed_at, "the standby made none while it waited"
    b_listings = [r for r in by_b if LISTING.match(r["path"])]
    assert any(r["query"].get("after") for r in b_listings[:20]), (
        "the standby paged back from the stored positions to the items missed while no one led"
    )
    print(f"\ntakeover {takeover:.2f}s (lease {LEASE}s); {len(expected)} replies exactly once")


async def _replies(sb: Sandbox, n: int) -> bool:
    return int((await sb.state())["writes"]) >= n

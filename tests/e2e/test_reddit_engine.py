"""The engine on the real asyncpraw against the Reddit sandbox: streams, matches, actions.

Everything runs for real (HTTP on loopback, SQLite on disk) except time for the
engine's decisions, which is a FakeClock the tests move, so no test waits for a
backoff or a RATELIMIT to pass.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from bot.engine.evaluate import compile_rule
from bot.engine.item import ItemError, item_from_thing
from bot.grammar.parser import parse_rule
from tests.reddit.harness import ASYNCPRAW_WARNINGS, BOT, TEST_ENGINE, World, reddit_world

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]

Thing = dict[str, Any]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with reddit_world(tmp_path) as built:
        yield built


async def settle(world: World, *, rounds: int = 50) -> None:
    """Run due actions, moving the fake clock past each backoff, until none is left."""
    for _ in range(rounds):
        await world.engine.run_due_actions()
        due = await world.outbox.next_due()
        if due is None:
            return
        world.clock.now = max(world.clock.now, due)
    raise AssertionError("actions still pending after many rounds")


async def matches(world: World) -> set[tuple[int, str]]:
    """(module id, item) of every match the store recorded, deleted modules' too."""
    with contextlib.closing(sqlite3.connect(world.store.path)) as db:
        rows = db.execute("SELECT module_id, item FROM matches").fetchall()
    found = {(int(module), str(item)) for module, item in rows}
    assert len(found) == len(rows)
    return found


def replies_by_target(world: World) -> collections.Counter[str]:
    return collections.Counter(w["thing_id"] for w in world.writes("comment"))


def real_items(corpus: list[Thing], n: int) -> list[Thing]:
    """The newest n posts and comments of the corpus (2020-2021 r/all traffic), oldest first."""
    return [t for t in corpus if t["kind"] in ("t1", "t3")][-n:]


def top_subreddits(items: Iterable[Thing], kind: str, n: int) -> list[str]:
    counts = collections.Counter(
        t["data"]["subreddit"]
        for t in items
        if t["kind"] == kind and str(t["data"]["subreddit"]).isidentifier()
    )
    return [name for name, _ in counts.most_common(n)]


# ---- a module made by PM fires -------------------------------------------------------------


async def test_a_module_made_by_pm_replies_to_a_matching_post(world: World) -> None:
    rule = 'on posts in r/python if title contains "async" then reply "hi {author}"'
    pm = world.pm_to_bot("alice_test", "roveit", f"create {rule}")
    assert await world.pm.poll_once() == 1
    [answer] = [w for w in world.writes("comment") if w["thing_id"] == pm]
    assert answer["text"].startswith("Created module #1.")
    assert world.sandbox.store.get(pm)["data"]["new"] is False  # type: ignore[index]

    hit = world.post("Python", "Async IO, explained", author="bob_test")
    world.post("python", "Threads, explained", author="carol_test")
    world.post("rust", "async in Rust", author="dave_test")
    assert await world.engine.poll_once() == 2, "r/python's two posts, nothing else"
    assert await world.engine.run_due_actions() == 1
    replies = [(w["thing_id"], w["text"]) for w in world.writes("comment") if w["thing_id"] != pm]
    assert replies == [(hit, "hi bob_test")]
    show = world.pm_to_bot("alice_test", "show", "1")
    await world.pm.poll_once()
    [shown] = [w["text"] for w in world.writes("comment") if w["thing_id"] == show]
    assert "1 done" in shown and hit in shown


async def test_notify_here_from_a_pm_module_is_a_pm(world: World) -> None:
    world.pm_to_bot("alice_test", "create", 'on comments in r/python then notify here "{body}"')
    await world.pm.poll_once()
    world.comment("python", "first!")
    await world.engine.poll_once()
    await world.engine.run_due_actions()
    assert [(w["to"], w["subject"], w["text"]) for w in world.writes("compose")] == [
        ("alice_test", "roveit: module #1", "first!")
    ]


# ---- listing requests do not grow with modules ------------------------------------------------


def short_names(n: int) -> list[str]:
    return [f"s{i:03d}" for i in range(n)]


async def listing_requests_of_one_poll(world: World) -> int:
    before = world.sandbox.listing_requests()
    await world.engine.poll_once()
    assert all(h.consecutive_errors == 0 for h in world.engine.counters.streams.values())
    return world.sandbox.listing_requests() - before


async def test_1_and_500_modules_over_300_subreddits_poll_alike(tmp_path: Path) -> None:
    names = short_names(300)
    async with reddit_world(tmp_path / "one") as one:
        await one.create(f"on posts and comments in r/{names[0]} then log")
        single = await listing_requests_of_one_poll(one)
    async with reddit_world(tmp_path / "many") as many:
        for i in range(500):
            chosen = [names[(i * 7 + k) % 300] for k in range(3)]
            rule = f"on {('posts', 'comments')[i % 2]} in {', '.join('r/' + n for n in chosen)}"
            await many.create(f'{rule} if title contains "x{i}" then log')
        plural = await listing_requests_of_one_poll(many)
        planned = many.engine.plan.chunks.values()
        assert {n for chunks in planned if chunks for c in chunks for n in c} == set(names)
        assert len(many.engine.modules) == 500
    assert single == plural == 2, "one multireddit listing per stream"


# ---- reshaping streams while items arrive -------------------------------------------------------

SCHEDULE: dict[int, list[tuple[str, str]]] = {
    # step -> [(op, module label)]; modules are created on "add"
    0: [("add", "A"), ("add", "C")],
    3: [("add", "B")],
    6: [("pause", "A")],
    8: [("add", "D")],
    11: [("resume", "A"), ("delete", "B")],
    14: [("pause", "C"), ("delete", "D")],
    16: [("resume", "C"), ("add", "B2")],
}


def reshaping_rules(items: list[Thing]) -> dict[str, str]:
    post_subs = top_subreddits(items, "t3", 4)
    comment_subs = top_subreddits(items, "t1", 6)
    return {
        "A": f"on posts and comments in {', '.join('r/' + s for s in comment_subs[:3])} then log",
        "B": 'on comments if body contains "the" then log',
        "C": f'on posts in {", ".join("r/" + s for s in post_subs[:2])} then reply "seen {{id}}"',
        "D": 'on posts in r/all if title contains "a" then log',
        "B2": f"on comments in {', '.join('r/' + s for s in comment_subs[3:])} then log",
    }


async def apply_schedule(
    world: World, ops: list[tuple[str, str]], rules: dict[str, str], ids: dict[str, int]
) -> None:
    for op, label in ops:
        if op == "add":
            ids[label] = await world.create(rules[label])
        else:
            await world.set_status(
                ids[label], {"pause": "paused", "resume": "active", "delete": "deleted"}[op]
            )


async def expected_matches(world: World, things: list[Thing]) -> set[tuple[int, str]]:
    """What the active modules (as the store has them now) match among these items."""
    expected: set[tuple[int, str]] = set()
    for module in await world.store.list_modules(active_only=True):
        compiled = compile_rule(parse_rule(module.rule))
        for thing in things:
            try:
                item = item_from_thing(thing)
            except ItemError:
                continue
            if item.author != BOT and compiled.matches(item):
                expected.add((module.id, item.fullname))
    return expected


def covered(world: World, thing: Thing) -> bool:
    """Whether the engine's current plan lists this item's subreddit for its stream."""
    stream = "posts" if thing["kind"] == "t3" else "comments"
    if stream not in world.engine.plan.chunks:
        return False
    chunks = world.engine.plan.chunks[stream]
    sub = str(thing["data"]["subreddit"]).casefold()
    return chunks is None or any(sub in chunk for chunk in chunks)


async def test_reshaping_streams_while_2000_items_arrive_loses_and_repeats_nothing(
    tmp_path: Path, corpus: list[Thing]
) -> None:
    items = real_items(corpus, 2000)
    rules = reshaping_rules(items)
    async with reddit_world(tmp_path, items) as world:
        ids: dict[str, int] = {}
        kept: set[str] = set()
        expected: set[tuple[int, str]] = set()
        for step in range(20):
            await apply_schedule(world, SCHEDULE.get(step, []), rules, ids)
            await world.engine.reload_modules()
            released = set(world.sandbox.release(100))
            await world.engine.poll_once()
            names = [t["data"]["name"] for t in world.sandbox.store.newest("t3")]
            names += [t["data"]["name"] for t in world.sandbox.store.newest("t1")]
            now_kept = await world.store.known_items(names)
            fresh = now_kept - kept
            lost = {n for n in released - fresh if covered(world, world.sandbox.store.get(n))}  # type: ignore[arg-type]
            assert not lost, f"step {step}: covered items not ingested: {sorted(lost)[:5]}"
            kept |= fresh
            things = [world.sandbox.store.get(n) for n in fresh]
            expected |= await expected_matches(world, [t for t in things if t is not None])
            assert await matches(world) == expected, f"step {step}"
            await settle(world)
        assert len(expected) > 300, "the schedule should make plenty of matches"
        assert {label for label in ids} == {"A", "B", "C", "D", "B2"}
        replies = replies_by_target(world)
        assert max(replies.values()) == 1, "no item was replied to twice"
        assert set(replies) == {item for module, item in expected if module == ids["C"]}
        assert {w["text"] for w in world.writes("comment")} == {
            f"seen {item.removeprefix('t3_')}" for item in replies
        }


# ---- faults ----------------------------------------------------------------------------------------


async def test_429s_5xx_and_dropped_connections_lose_nothing(
    tmp_path: Path, corpus: list[Thing]
) -> None:
    items = real_items(corpus, 600)
    subs = top_subreddits(items, "t3", 3)
    async with reddit_world(tmp_path, items) as world:
        reply_id = await world.create(
            f'on posts in {", ".join("r/" + s for s in subs)} then reply "seen {{id}}"'
        )
        log_id = await world.create("on comments then log")
        faults = world.sandbox.faults
        faults.error_rate, faults.drop_rate = 0.15, 0.1
        await world.engine.poll_once()  # the first poll only sets the streams' positions
        for step in range(12):
            world.sandbox.release(50)
            if step % 4 == 1:
                faults.burst_429(3)
            await world.engine.poll_once()
            await world.engine.run_due_actions()
            world.clock.advance(5)
        statuses = collections.Counter(r.status for r in world.sandbox.requests)
        assert (
            statuses[429] >= 3 and statuses[0] > 0 and sum(statuses[s] for s in (500, 502, 503)) > 0
        )
        assert world.engine.counters.actions_failed > 0, "some actions met a fault"
        faults.clear()
        await world.engine.poll_once()
        await settle(world)
        released = [t for t in items if world.sandbox.store.get(t["data"]["name"])]
        assert len(released) == 600
        expected = await expected_matches(world, released)
        assert await matches(world) == expected
        posts = {item for module, item in expected if module == reply_id}
        assert len(posts) >= 10 and any(module == log_id for module, _ in expected)
        replies = replies_by_target(world)
        assert set(replies) == posts and max(replies.values()) == 1
        assert await world.store.action_counts() == {"done": len(posts)}


# ---- RATELIMIT ---------------------------------------------------------------------------------------


async def test_ratelimit_delays_the_action_by_the_named_wait(world: World) -> None:
    module = await world.create('on posts in r/python then reply "hello {author}"')
    post = world.post("python", "a post", author="eve_test")
    world.sandbox.ratelimit_next("comment", minutes=9)
    await world.engine.poll_once()
    start = world.clock()
    assert await world.engine.run_due_actions() == 1
    [row] = await world.store.history(module)
    [(kind, status, attempts, error)] = row.actions
    assert (kind, status, attempts) == ("reply", "pending", 1) and "RATELIMIT" in (error or "")
    assert await world.outbox.next_due() == pytest.approx(start + 540)
    assert world.writes("comment") == []

    world.clock.advance(539)
    assert await world.engine.run_due_actions() == 0, "not before the named wait"
    world.clock.advance(1)
    assert await world.engine.run_due_actions() == 1
    assert [(w["thing_id"], w["text"]) for w in world.writes("comment")] == [
        (post, "hello eve_test")
    ]
    [row] = await world.store.history(module)
    assert row.actions[0][1] == "done"


# ---- one request per action --------------------------------------------------------------------------


async def test_each_reddit_action_costs_one_request(world: World) -> None:
    await world.create(
        'on posts in r/python then reply "r {id}", message author "m {title}", '
        'crosspost r/collected "x {title}", message u/watcher_1 "w {id}"'
    )
    world.post("python", "first", author="frank_test")
    await world.engine.poll_once()
    start = len(world.sandbox.requests)
    assert await world.engine.run_due_actions() == 4
    assert [(m, p) for m, p, _s in world.requests_since(start)] == [
        ("POST", "/api/comment"),
        ("POST", "/api/compose"),
        ("POST", "/api/submit"),
        ("POST", "/api/compose"),
    ]
    assert [w["type"] for w in world.sandbox.writes] == [
        "comment",
        "compose",
        "crosspost",
        "compose",
    ]
    assert world.writes("crosspost")[0]["title"] == "x first"


# ---- the real loops ----------------------------------------------------------------------------


async def test_run_polls_and_acts_concurrently_until_stopped(tmp_path: Path) -> None:
    config = dataclasses.replace(TEST_ENGINE, poll_min_interval=0.05)
    async with reddit_world(tmp_path, config=config, engine_clock=time.time) as world:
        await world.create('on posts in r/python then reply "seen {id}"')
        first = {world.post("python", f"early {i}") for i in range(20)}
        stop = asyncio.Event()
        runner = asyncio.ensure_future(world.engine.run(stop))
        try:
            await asyncio.wait_for(_replies_or_death(world, runner, 20), 20)
            later = {world.post("python", f"late {i}") for i in range(20)}
            await asyncio.wait_for(_replies_or_death(world, runner, 40), 20)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
        assert set(replies_by_target(world)) == first | later
        assert max(replies_by_target(world).values()) == 1


async def _replies_or_death(world: World, runner: asyncio.Future[None], n: int) -> None:
    """Wait for n replies; if the engine's loops end first, raise what ended them."""
    replies: asyncio.Future[Any] = asyncio.ensure_future(world.sandbox.wait_for_writes(n, 20))
    done, _ = await asyncio.wait({replies, runner}, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        replies.cancel()
        runner.result()
        raise AssertionError("the engine stopped by itself")
    await replies

"""Fast, in-process reliability checks: limits and cooldowns from stored state across a
restart, runaway protection, backoff with jitter up to the dead state (as ``show`` and
``status`` display it), the supervisor, and the fixes the fault suite led to.

Reddit is a small recording fake at the engine's port (RedditPort) where the test is
about the engine's decisions; the real asyncpraw client and sandbox where it is about
what Reddit holds."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.commands.base import Caller, Context
from bot.commands.dispatch import handle_text
from bot.commands.testing import KeptItems
from bot.engine.limits import backoff_delay
from bot.engine.ports import ActionError, Budget, Thing
from bot.engine.runtime import Engine, EngineConfig
from bot.engine.supervisor import Supervisor
from bot.store.db import Outbox, Store
from tests.reddit.harness import ASYNCPRAW_WARNINGS, FakeClock, World, reddit_world

OWNER = "owner_one"


class FakeReddit:
    """RedditPort that records replies like Reddit would, or fails as told."""

    def __init__(self, *, fail_replies: int = 0) -> None:
        self.replies: list[tuple[str, str]] = []
        self.fail_replies = fail_replies

    async def listing(
        self, stream: str, subreddits: Sequence[str], *, limit: int = 100, after: str | None = None
    ) -> list[Thing]:
        return []

    async def reply(self, thing_id: str, text: str) -> str:
        if self.fail_replies:
            self.fail_replies -= 1
            raise ActionError("Reddit answered 503")
        self.replies.append((thing_id, text))
        return f"t1_r{len(self.replies)}"

    async def message(self, to: str, subject: str, text: str) -> None:
        raise ActionError("no messages here", permanent=True)

    async def crosspost(self, fullname: str, subreddit: str, title: str | None) -> str:
        raise ActionError("no crossposts here", permanent=True)

    async def already_replied(
        self, thing_id: str, text: str | None = None, *, since: float | None = None
    ) -> bool:
        return any(t == thing_id and (text is None or x == text) for t, x in self.replies)

    def budget(self) -> Budget:
        return Budget()


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], str]] = []

    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None:
        self.sent.append((dict(target), text))
        return None

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        return None


def post(n: int, *, author: str = "poster_a", title: str = "a post") -> Thing:
    data = {
        "id": f"p{n}",
        "name": f"t3_p{n}",
        "subreddit": "python",
        "author": author,
        "title": title,
        "permalink": f"/r/python/comments/p{n}/x/",
        "created_utc": 1_700_000_000.0 + n,
    }
    return {"kind": "t3", "data": data}


async def make_module(store: Store, rule: str, clock: FakeClock) -> int:
    record = await store.create_module(
        rule=rule,
        owner=f"reddit:{OWNER}",
        token_hash=None,
        chat="reddit",
        place="reddit",
        channel=OWNER,
        now=clock(),
    )
    return record.id


def engine_on(
    store: Store,
    reddit: FakeReddit,
    clock: FakeClock,
    *,
    config: EngineConfig | None = None,
    notifier: FakeNotifier | None = None,
    rng: random.Random | None = None,
) -> Engine:
    return Engine(
        store=store,
        outbox=Outbox(store),
        reddit=reddit,
        notifiers={"reddit": notifier or FakeNotifier()},
        config=config or EngineConfig(),
        clock=clock,
        rng=rng,
    )


async def skipped_by_item(store: Store, module_id: int) -> dict[str, str | None]:
    return {row.item: row.skipped for row in await store.history(module_id, limit=100)}


# ---- limits and cooldowns come from the store, so a restart keeps them --------------------


async def test_limit_and_cooldown_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    db = tmp_path / "roveit.sqlite3"
    async with await Store.open(db) as store:
        limited = await make_module(store, 'on posts then reply "l {id}" limit 2 per hour', clock)
        cooled = await make_module(
            store, 'on posts then reply "c {id}" cooldown 1h per author', clock
        )
        first = engine_on(store, FakeReddit(), clock)
        await first.reload_modules()
        for n in (1, 2):
            clock.advance(60)
            await first.process([post(n)])
    async with await Store.open(db) as store:  # a new process: nothing in memory
        second = engine_on(store, FakeReddit(), clock)
        await second.reload_modules()
        clock.advance(60)
        await second.process([post(3)])
        clock.advance(60)
        await second.process([post(4, author="poster_b")])
        assert await skipped_by_item(store, limited) == {
            "t3_p1": None,
            "t3_p2": None,
            "t3_p3": "limit 2 per hour",
            "t3_p4": "limit 2 per hour",
        }
        assert await skipped_by_item(store, cooled) == {
            "t3_p1": None,
            "t3_p2": "cooldown per author",
            "t3_p3": "cooldown per author",
            "t3_p4": None,
        }
        clock.advance(3601)  # both windows over
        await second.process([post(5)])
        assert (await skipped_by_item(store, limited))["t3_p5"] is None
        assert (await skipped_by_item(store, cooled))["t3_p5"] is None


# ---- runaway protection ----------------------------------------------------------------------


async def test_a_runaway_module_is_paused_and_its_owner_told(tmp_path: Path) -> None:
    clock = FakeClock()
    notifier = FakeNotifier()
    config = EngineConfig(runaway_threshold=3, runaway_window=60.0)
    async with await Store.open(tmp_path / "roveit.sqlite3") as store:
        module = await make_module(store, "on posts then log", clock)
        calm = await make_module(store, 'on posts if title contains "rare" then log', clock)
        engine = engine_on(store, FakeReddit(), clock, config=config, notifier=notifier)
        await engine.reload_modules()
        await engine.process([post(n) for n in range(1, 5)])
        record = await store.get_module(module)
        assert record is not None and record.status == "paused"
        assert record.status_reason == "runaway: more than 3 matches in 60s"
        [(target, text)] = notifier.sent
        assert target == {"kind": "user", "user": OWNER, "place": "reddit"}
        assert f"Module #{module} was paused" in text and f"resume {module}" in text
        await engine.reload_modules()
        await engine.process([post(5)])
        assert len(await store.history(module, limit=100)) == 4, "no matches once paused"
        other = await store.get_module(calm)
        assert other is not None and other.status == "active"


# ---- backoff with jitter, then dead --------------------------------------------------------------


async def test_backoff_grows_with_jitter_until_dead_shown_by_show_and_status(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    config = EngineConfig(max_attempts=5, backoff_base=2.0, backoff_cap=900.0)
    reddit = FakeReddit(fail_replies=100)
    async with await Store.open(tmp_path / "roveit.sqlite3") as store:
        module = await make_module(store, 'on posts then reply "hi {author}"', clock)
        engine = engine_on(store, reddit, clock, config=config, rng=random.Random(11))
        await engine.reload_modules()
        await engine.process([post(1)])
        delays = []
        for _ in range(config.max_attempts):
            assert await engine.run_due_actions() == 1
            due = await engine.outbox.next_due()
            if due is None:
                break
            delays.append(due - clock())
            clock.now = due
        jitter = random.Random(11)
        assert delays == [
            pytest.approx(backoff_delay(n, jitter=jitter.random(), base=2.0, cap=900.0))
            for n in range(1, config.max_attempts)
        ]
        for n, delay in enumerate(delays, 1):
            assert 2.0**n / 2 <= delay <= 2.0**n, "within the attempt's window"
        assert len(set(round(d / 2.0**n, 6) for n, d in enumerate(delays, 1))) > 1, "jittered"
        assert await store.action_counts() == {"dead": 1}
        assert reddit.replies == []
        ctx = Context(store=store, items=KeptItems(store), clock=clock, status=engine)
        caller = Caller(chat="reddit", user_id=OWNER, name=OWNER, place="reddit", channel=OWNER)
        shown = (await handle_text(f"show {module}", caller, ctx)).plain()
        assert "actions: 0 done, 0 pending, 0 running, 0 failed, 1 dead" in shown
        assert "reply dead (Reddit answered 503)" in shown
        status = (await handle_text("status", caller, ctx)).plain()
        assert "actions: 0 done, 0 pending, 0 failed, 1 dead" in status
        assert "1 dead" in dict(engine.status_fields())["actions this run"]


# ---- the supervisor -------------------------------------------------------------------------------


async def test_the_supervisor_restarts_a_crashing_task_with_backoff_and_says_so() -> None:
    events: list[str] = []
    starts: list[float] = []
    steady = asyncio.Event()

    async def crashy(stop: asyncio.Event, beat: Any) -> None:
        starts.append(time.monotonic())
        if len(starts) <= 2:
            raise RuntimeError(f"crash {len(starts)}")
        steady.set()
        await stop.wait()

    supervisor = Supervisor(
        on_event=events.append, backoff_base=0.2, backoff_cap=5.0, check_every=0.01
    )
    supervisor.add("crashy", crashy)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await asyncio.wait_for(steady.wait(), 10)
    health = supervisor.health()["crashy"]
    stop.set()
    await asyncio.wait_for(running, 10)
    assert health == (True, 2, "RuntimeError: crash 2")
    assert events == [
        "crashy restarted in 0s (RuntimeError: crash 1)",
        "crashy restarted in 0s (RuntimeError: crash 2)",
    ]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, f"backoff doubles: {gaps}"


async def test_the_supervisor_restarts_a_silent_task() -> None:
    events: list[str] = []
    stopped_silent = asyncio.Event()
    second = asyncio.Event()
    runs = 0

    async def silent_once(stop: asyncio.Event, beat: Any) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            beat()
            try:
                await asyncio.Event().wait()  # hangs without a heartbeat
            finally:
                stopped_silent.set()
        second.set()
        while not stop.is_set():
            beat()
            await asyncio.sleep(0.01)

    supervisor = Supervisor(
        on_event=events.append, backoff_base=0.05, backoff_cap=1.0, check_every=0.01
    )
    supervisor.add("quiet", silent_once, silence_limit=0.15)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await asyncio.wait_for(second.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert stopped_silent.is_set(), "the silent task was cancelled"
    assert len(events) == 1 and events[0].startswith("quiet restarted in 0s (silent for ")


# ---- fixes the fault suite led to --------------------------------------------------------------------


async def test_orphaned_actions_keep_their_place_at_the_front_of_the_queue(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "roveit.sqlite3") as store:
        outbox = Outbox(store)
        clock = FakeClock()
        module = await make_module(store, 'on posts then reply "x"', clock)

        async def enqueue(item: str, now: float) -> None:
            await store.record_match(
                module_id=module,
                item=item,
                author="a",
                now=now,
                skipped=None,
                actions=[("reply", {"thing_id": item, "text": "x"})],
            )

        await enqueue("t3_first", 100.0)
        [claimed] = await outbox.claim_due(now=100.0, lease=120.0, limit=1)
        for n in range(5):
            await enqueue(f"t3_later{n}", 101.0 + n)
        assert await outbox.requeue_running(now=200.0) == 1  # its engine died
        [again] = await outbox.claim_due(now=200.0, lease=120.0, limit=1)
        assert (again.id, again.item, again.attempts) == (claimed.id, "t3_first", 2)
        assert again.queued_at == 100.0, "the match time bounds the effect check"


async def test_a_second_module_replying_to_the_same_item_is_not_taken_as_done(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    reddit = FakeReddit()
    async with await Store.open(tmp_path / "roveit.sqlite3") as store:
        first = await make_module(store, 'on posts then reply "first {id}"', clock)
        await make_module(store, 'on posts then reply "second {id}"', clock)
        engine = engine_on(store, reddit, clock)
        await engine.reload_modules()
        await engine.process([post(1)])
        original = reddit.reply

        async def second_fails_once(thing_id: str, text: str) -> str:
            if text.startswith("second") and not getattr(reddit, "_failed", False):
                reddit._failed = True  # type: ignore[attr-defined]
                raise ActionError("Reddit answered 502")
            return await original(thing_id, text)

        reddit.reply = second_fails_once  # type: ignore[method-assign]
        await engine.run_due_actions()
        clock.advance(60)
        await engine.run_due_actions()
        assert sorted(reddit.replies) == [("t3_p1", "first p1"), ("t3_p1", "second p1")]
        assert await store.action_counts() == {"done": 2}
        assert first in engine.modules


@pytest.mark.filterwarnings(*ASYNCPRAW_WARNINGS)
async def test_already_replied_reads_back_to_the_match_time_and_compares_text(
    tmp_path: Path,
) -> None:
    async with reddit_world(tmp_path) as world:
        target = world.post("python", "the one")
        since = time.time() - 1
        await world.reddit.reply(target, "roveit m1 re one")
        for n in range(120):  # more replies than one page of the bot's comments
            await world.reddit.reply(world.post("python", f"other {n}"), f"other {n}")
        assert await world.reddit.already_replied(target, "roveit m1 re one", since=since)
        assert not await world.reddit.already_replied(target, "roveit m2 re one", since=since)
        assert not await world.reddit.already_replied(target, "roveit m1 re one"), (
            "without a time bound only the newest 100 are read"
        )
        assert _requests_to_bot_comments(world) == 2 + 2 + 1


def _requests_to_bot_comments(world: World) -> int:
    return sum(1 for r in world.sandbox.requests if r.path.startswith("/user/roveit_bot/comments"))


@pytest.mark.filterwarnings(*ASYNCPRAW_WARNINGS)
async def test_the_engine_never_matches_the_bots_own_items(tmp_path: Path) -> None:
    from bot.app import running
    from bot.config import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'roveit.sqlite3'}")
    async with running(settings, say=lambda text: None) as bot:
        assert bot.engine.config.ignore_authors == frozenset({"roveit_bot"})
        store, clock = bot.store, FakeClock()
        module = await make_module(store, 'on comments then reply "again"', clock)
        bot.engine.modules_changed()
        await bot.engine.reload_modules()
        mine = {"kind": "t1", "data": {"id": "c1", "author": "Roveit_Bot", "body": "hi"}}
        theirs = {"kind": "t1", "data": {"id": "c2", "author": "someone", "body": "hi"}}
        await bot.engine.process([mine, theirs])
        assert [row.item for row in await store.history(module)] == ["t1_c2"]

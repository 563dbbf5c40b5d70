"""One Reddit world for tests and the benchmark: the sandbox, the real asyncpraw client
pointed at it, a SQLite store on disk, the engine, and the PM chat."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.chat.reddit_pm import RedditPMChat
from bot.commands.base import Caller, Context
from bot.commands.testing import KeptItems
from bot.config import Settings
from bot.engine.matcher import Matcher, PlainMatcher
from bot.engine.runtime import Engine, EngineConfig
from bot.reddit.client import AsyncprawReddit, open_reddit
from bot.reddit.notify import RedditNotifier
from bot.sandbox.reddit import RedditSandbox
from bot.store.db import Outbox, Store

BOT = "roveit_bot"
# asyncprawcore 4 sends its token request with aiohttp's BasicAuth / auth=, which
# aiohttp 3.14 deprecates; filterwarnings=error would otherwise fail every login.
ASYNCPRAW_WARNINGS = (
    "ignore:BasicAuth is deprecated:DeprecationWarning",
    "ignore:The 'auth' parameter is deprecated:DeprecationWarning",
)
# No runaway pause and no real backoff waits: tests drive time through FakeClock.
TEST_ENGINE = EngineConfig(
    runaway_threshold=10**9, backoff_base=1.0, backoff_cap=1.0, ignore_authors=frozenset({BOT})
)


@dataclass
class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    sandbox: RedditSandbox
    settings: Settings
    reddit: AsyncprawReddit
    store: Store
    outbox: Outbox
    engine: Engine
    ctx: Context
    pm: RedditPMChat
    clock: FakeClock
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def create(self, rule: str, *, user: str = "alice_test") -> int:
        """A module made straight in the store, as a PM ``create`` would make it."""
        record = await self.store.create_module(
            rule=rule,
            owner=f"reddit:{user}",
            token_hash=None,
            chat="reddit",
            place=f"reddit:{user}",
            channel=user,
            now=self.clock(),
        )
        self.engine.modules_changed()
        return record.id

    async def set_status(self, module_id: int, status: str) -> None:
        await self.store.update_module(module_id, status=status, now=self.clock())
        self.engine.modules_changed()

    def pm_to_bot(self, author: str, subject: str, body: str) -> str:
        """Deliver a private message to the bot; its fullname."""
        return self.sandbox.add_item(
            {
                "kind": "t4",
                "data": {"author": author, "dest": BOT, "subject": subject, "body": body},
            }
        )

    def post(self, subreddit: str, title: str, *, author: str = "poster_1", **extra: Any) -> str:
        n = next(self._ids)
        data = {
            "subreddit": subreddit,
            "title": title,
            "author": author,
            "permalink": f"/r/{subreddit}/comments/p{n}/x/",
            **extra,
        }
        return self.sandbox.add_item({"kind": "t3", "data": data})

    def comment(self, subreddit: str, body: str, *, author: str = "commenter_1") -> str:
        n = next(self._ids)
        data = {
            "subreddit": subreddit,
            "body": body,
            "author": author,
            "link_title": "a post",
            "link_id": f"t3_zz{n}",
            "parent_id": f"t3_zz{n}",
            "permalink": f"/r/{subreddit}/comments/zz{n}/x/c{n}/",
        }
        return self.sandbox.add_item({"kind": "t1", "data": data})

    def writes(self, kind: str) -> list[dict[str, Any]]:
        return [w for w in self.sandbox.writes if w["type"] == kind]

    def requests_since(self, start: int) -> list[tuple[str, str, int]]:
        """(method, path, status) of API requests after index ``start``, tokens left out."""
        return [
            (r.method, r.path.rstrip("/"), r.status)
            for r in self.sandbox.requests[start:]
            if r.path != "/api/v1/access_token"
        ]


def reddit_caller(user: str, *, admin: bool = False) -> Caller:
    return Caller(
        chat="reddit",
        user_id=user,
        name=user,
        place=f"reddit:{user}",
        channel=user,
        bot_admin=admin,
    )


@asynccontextmanager
async def reddit_world(
    db_dir: Path,
    items: Iterable[dict[str, Any]] = (),
    *,
    admins: Sequence[str] = (),
    rate_limit: int = 100_000,
    command_rate: int = 20,
    config: EngineConfig = TEST_ENGINE,
    engine_clock: Callable[[], float] | None = None,
    matcher_factory: Callable[[], Matcher] = PlainMatcher,
) -> AsyncIterator[World]:
    """Everything started, and everything closed again on the way out.

    The engine and commands run on ``World.clock`` (a FakeClock) unless ``engine_clock``
    is given, as the benchmark does to run the real loops.
    """
    clock = FakeClock()
    async with RedditSandbox(items, username=BOT, rate_limit=rate_limit) as sandbox:
        settings = Settings(
            reddit_client_id="roveit-test",
            reddit_client_secret="test-secret",
            reddit_username=BOT,
            reddit_password="test-password",
            reddit_oauth_url=sandbox.base_url,
            reddit_url=sandbox.base_url,
            roveit_admins=tuple(admins),
            roveit_command_rate=command_rate,
            database_url=f"sqlite:///{db_dir / 'roveit.sqlite3'}",
        )
        store = await Store.open(db_dir / "roveit.sqlite3")
        reddit = await open_reddit(settings)
        try:
            outbox = Outbox(store)
            engine = Engine(
                store=store,
                outbox=outbox,
                reddit=reddit,
                notifiers={"reddit": RedditNotifier(reddit)},
                config=config,
                clock=engine_clock or clock,
                matcher_factory=matcher_factory,
            )
            ctx = Context(
                store=store,
                items=KeptItems(store),
                clock=clock,
                status=engine,
                on_change=engine.modules_changed,
            )
            pm = RedditPMChat(reddit=reddit, ctx=ctx, settings=settings)
            yield World(sandbox, settings, reddit, store, outbox, engine, ctx, pm, clock)
        finally:
            await reddit.close()
            await store.close()

"""Real processes for the fault suite: the Reddit sandbox and ``roveit engine``, started
as a user would start them, killed with SIGKILL, and checked through the sandbox's
control API and the SQLite file."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.engine.evaluate import compile_rule
from bot.engine.item import ItemError, item_from_thing
from bot.grammar.parser import parse_rule
from bot.store.db import Store

Thing = dict[str, Any]

BOT = "roveit_bot"
OWNER = "fault_owner"
# Every reply names its module, so the write log says which (module, item) it is for.
REPLY = 'reply "roveit m{module} re {id}"'
REPLY_TEXT = re.compile(r"^roveit m(\d+) re ")
# Variables of the parent environment that would change what the children do.
_OWN_PREFIXES = ("ROVEIT_", "REDDIT_", "DISCORD_", "DATABASE_URL", "LOG_")

# Thirty real conditions over the newest 3,000 posts and comments of the corpus: about
# 560 (module, item) matches, none more than ~50 (below the runaway threshold of 60 a
# minute). The last one matches only the bot's own replies: the engine must ignore them.
RULES = (
    'on posts if title contains word "the" and score >= 20000',
    'on comments if body contains word "lol"',
    'on posts in r/AskReddit if title startswith "what" and comments >= 50',
    'on comments in r/AskReddit if body contains word ["my", "mine"]',
    'on posts if nsfw and title contains "f"',
    'on posts if domain is ["i.redd.it", "imgur.com", "i.imgur.com"] and score >= 30000',
    "on posts if self and comments >= 1000",
    r"on comments if body matches /\b(19|20)\d\d\b/",
    "on posts if not flair is empty and nsfw",
    "on posts in r/dankmemes, r/PewdiepieSubmissions if score >= 1000",
    "on comments if not author_flair is empty and score >= 50",
    'on comments if body startswith "I " and score >= 20',
    'on comments if body endswith "?" and score >= 10',
    'on posts if title contains word "my" and comments >= 100',
    'on comments if body contains word ["upvote", "upvotes", "reddit"] and score >= 3',
    'on posts if spoiler or title contains "spoiler"',
    "on comments if score >= 100",
    r"on posts if title matches /^\[.*\]/",
    'on posts if url contains "youtube" or url contains "youtu.be"',
    "on comments in r/PoliticalHumor, r/MurderedByWords, r/facepalm if score >= 5",
    "on posts if not self and comments < 5 and score >= 100",
    'on comments if (body contains word "thanks" or body contains word "thank") and score >= 2',
    'on posts if author is "AutoModerator" or title contains "daily"',
    'on comments if body contains "!!"',
    "on posts in r/LifeProTips, r/RoastMe, r/FoodPorn, r/carporn",
    'on comments if body contains "https://" and score >= 2',
    'on posts if title contains word ["dog", "cat", "cats", "dogs"]',
    'on comments if not body contains " " and score >= 10',
    'on posts if subreddit is "insanepeoplefacebook" or subreddit is "RDDT"',
    'on comments if body startswith "roveit m"',
)


# ---- data -------------------------------------------------------------------------------


def real_items(corpus: Sequence[Thing], n: int) -> list[Thing]:
    """The newest n distinct posts and comments of the corpus, oldest first."""
    seen: set[str] = set()
    chosen: list[Thing] = []
    for thing in reversed(corpus):
        name = thing["data"].get("name")
        if thing["kind"] in ("t1", "t3") and name and name not in seen:
            seen.add(name)
            chosen.append(thing)
            if len(chosen) == n:
                break
    return chosen[::-1]


def write_items(path: Path, things: Iterable[Thing]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in things), encoding="utf-8")
    return path


async def create_modules(db: Path, rules: Iterable[str]) -> list[int]:
    """Modules made straight in the store, as a Reddit PM ``create`` would make them."""
    async with await Store.open(db) as store:
        ids = []
        for rule in rules:
            record = await store.create_module(
                rule=f"{rule} then {REPLY}",
                owner=f"reddit:{OWNER}",
                token_hash=None,
                chat="reddit",
                place="reddit",
                channel=OWNER,
                now=time.time(),
            )
            ids.append(record.id)
        return ids


def expected_pairs(rules: dict[int, str], things: Iterable[Thing]) -> set[tuple[int, str]]:
    """(module, item) pairs the plain evaluator says must be replied to."""
    compiled = {
        mid: compile_rule(parse_rule(f"{rule} then {REPLY}")) for mid, rule in rules.items()
    }
    pairs: set[tuple[int, str]] = set()
    for thing in things:
        try:
            item = item_from_thing(thing)
        except ItemError:
            continue
        if item.author.casefold() == BOT:
            continue
        pairs.update((mid, item.fullname) for mid, rule in compiled.items() if rule.matches(item))
    return pairs


def replies_done(writes: Iterable[dict[str, Any]]) -> collections.Counter[tuple[int, str]]:
    """How many times each (module, item) was replied to, from the sandbox's write log."""
    done: collections.Counter[tuple[int, str]] = collections.Counter()
    for write in writes:
        if write["type"] != "comment":
            continue
        m = REPLY_TEXT.match(write["text"])
        assert m is not None, f"a reply no module would write: {write['text']!r}"
        done[(int(m.group(1)), write["thing_id"])] += 1
    return done


def db_rows(db: Path, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """A read on its own connection, while the engine writes on another (WAL)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        return [tuple(row) for row in conn.execute(sql, args).fetchall()]


async def wait_until(
    check: Callable[[], Any], *, timeout: float, every: float = 0.05, what: str = "condition"
) -> Any:
    """Poll a condition on another process's state until it holds (there is no event to
    wait on across processes); its truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


# ---- processes ----------------------------------------------------------------------------


def roveit_command() -> list[str]:
    script = Path(sys.executable).with_name("roveit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(extra)
    return env


@dataclass
class Proc:
    """A child process whose output lines are collected with their arrival time."""

    name: str
    process: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, name: str, args: Sequence[str], *, env: dict[str, str], cwd: Path) -> Proc:
        process = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        proc = cls(name, process)
        proc._reader = asyncio.create_task(proc._read())
        return proc

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip()))
            self._changed.set()
        self._changed.set()

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    async def wait_for_line(self, needle: str, *, timeout: float = 30.0, start: int = 0) -> float:
        """When (monotonic) the first line from index ``start`` containing ``needle`` arrived."""

        async def seek() -> float:
            while True:
                for when, line in self.lines[start:]:
                    if needle in line:
                        return when
                if self._reader is not None and self._reader.done():
                    raise AssertionError(
                        f"{self.name} exited ({self.process.returncode}) before {needle!r}:\n"
                        f"{self.text()[-3000:]}"
                    )
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(seek(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no {needle!r} within {timeout}s:\n{self.text()[-3000:]}"
            ) from None

    async def kill9(self) -> float:
        """SIGKILL (kill -9) and reap it; the monotonic time of the kill."""
        killed_at = time.monotonic()
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        if self._reader is not None:
            await self._reader
        return killed_at

    async def terminate(self, *, timeout: float = 15.0) -> int:
        if self.process.returncode is None:
            self.process.terminate()
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill9()
            raise AssertionError(f"{self.name} ignored SIGTERM:\n{self.text()[-3000:]}") from None
        if self._reader is not None:
            await self._reader
        return code


@dataclass
class Sandbox:
    """The ``roveit sandbox reddit`` process and its control API."""

    proc: Proc
    url: str
    http: aiohttp.ClientSession

    async def _call(self, method: str, what: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.url}/_sandbox/{what}", json=body) as r:
            assert r.status == 200, f"{method} {what}: {r.status} {await r.text()}"
            return await r.json()

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "state")
        return result

    async def writes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "writes")
        return result

    async def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "requests")
        return result

    async def release(self, n: int) -> list[str]:
        result: list[str] = (await self._call("POST", f"release?n={n}"))["released"]
        return result

    async def replay(self, rate: float) -> None:
        await self._call("POST", f"replay?rate={rate}")

    async def faults(self, **settings: Any) -> None:
        await self._call("POST", "faults", settings)


@contextlib.asynccontextmanager
async def sandbox_process(
    workdir: Path, items: Path, *, rate: float = 0, rate_limit: int = 1_000_000
) -> AsyncIterator[Sandbox]:
    args = [
        *roveit_command(),
        "sandbox",
        "reddit",
        "--port",
        "0",
        "--items",
        str(items),
        "--rate",
        str(rate),
        "--rate-limit",
        str(rate_limit),
    ]
    proc = await Proc.start("sandbox", args, env=clean_env(), cwd=workdir)
    try:
        await proc.wait_for_line("Reddit sandbox at ", timeout=30)
        url = next(line for _, line in proc.lines if "Reddit sandbox at " in line).split()[-1]
        async with aiohttp.ClientSession() as http:
            yield Sandbox(proc, url, http)
    finally:
        await proc.kill9()


def engine_env(
    sandbox: Sandbox, db: Path, *, client_id: str, lease: float, poll: float = 0.2
) -> dict[str, str]:
    return clean_env(
        REDDIT_CLIENT_ID=client_id,
        REDDIT_CLIENT_SECRET="fault-secret",
        REDDIT_USERNAME=BOT,
        REDDIT_PASSWORD="fault-password",
        REDDIT_OAUTH_URL=sandbox.url,
        REDDIT_URL=sandbox.url,
        DATABASE_URL=f"sqlite:///{db}",
        ROVEIT_POLL_INTERVAL=str(poll),
        ROVEIT_LEASE_SECONDS=str(lease),
        LOG_LEVEL="INFO",
    )


async def start_engine(
    workdir: Path, env: dict[str, str], *, name: str = "engine", standby: bool = False
) -> Proc:
    args = [*roveit_command(), "engine", *(["--standby"] if standby else [])]
    return await Proc.start(name, args, env=env, cwd=workdir)


def outbox_idle(db: Path) -> bool:
    rows = db_rows(db, "SELECT COUNT(*) FROM actions WHERE status IN ('pending', 'running')")
    return rows[0][0] == 0


def stream_positions(db: Path) -> set[str]:
    try:
        return {row[0] for row in db_rows(db, "SELECT stream FROM stream_positions")}
    except sqlite3.OperationalError:  # the engine has not migrated the file yet
        return set()


# ROVEIT_SOAK=1 runs the long versions (see docs/RELIABILITY.md).
SOAK = os.environ.get("ROVEIT_SOAK", "") not in ("", "0")

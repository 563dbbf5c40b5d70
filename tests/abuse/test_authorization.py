"""Who may run which command on whose module: every command, for every kind of caller
(SPEC §2), through ``handle_text`` on a real store. A refusal leaves the store unchanged."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.commands import base
from bot.commands.base import Caller, Context, Reply
from bot.commands.dispatch import handle_text
from bot.commands.testing import KeptItems
from bot.store.db import HeartbeatRecord, ModuleRecord, Store

RULE = 'on posts if title contains "cat" then log'
NEW_RULE = 'on comments if body contains "dog" then log'


def discord(user: str, place: str, channel: str, *, admin: bool = False) -> Caller:
    return Caller(
        chat="discord", user_id=user, name=f"user{user}", place=place, channel=channel, admin=admin
    )


OWNER = discord("100", "g1", "c1")
CALLERS: dict[str, Caller] = {
    "owner": OWNER,
    "other-user": discord("200", "g1", "c1"),
    "server-admin": discord("300", "g1", "c1", admin=True),
    "admin-elsewhere": discord("400", "g2", "c9", admin=True),
    # A Reddit user named in ROVEIT_ADMINS: the Reddit PM chat sets bot_admin for them.
    "bot-admin": Caller(
        chat="reddit", user_id="boss", name="boss", place="reddit", channel="boss", bot_admin=True
    ),
    # The anonymous module's maker, who kept the claim token, and someone who has none.
    "anonymous-with-token": discord("500", "g1", "c1"),
    "anonymous-without-token": discord("600", "g1", "c1"),
}
ANONYMOUS_CALLERS = ("anonymous-with-token", "anonymous-without-token")


@dataclass
class World:
    ctx: Context
    owned: int  # an active module of OWNER in g1
    paused: int  # a paused module of OWNER in g1
    anonymous: int  # an anonymous module made in g1
    paused_anonymous: int
    token: str
    paused_token: str

    async def say(self, caller: Caller, text: str) -> Reply:
        return await handle_text(text, caller, self.ctx)

    async def snapshot(self) -> tuple[list[ModuleRecord], list[HeartbeatRecord]]:
        return await self.ctx.store.list_modules(), await self.ctx.store.heartbeats()


def _id(reply: Reply) -> int:
    found = re.search(r"#(\d+)", reply.text)
    assert found and not reply.error, reply
    return int(found.group(1))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await Store.open(tmp_path / "authz.sqlite3")
    ctx = Context(store=store, items=KeptItems(store), clock=lambda: 1_700_000_000.0)
    try:
        say = handle_text
        owned = _id(await say(f"create {RULE}", OWNER, ctx))
        paused = _id(await say(f"create {RULE}", OWNER, ctx))
        assert not (await say(f"pause {paused}", OWNER, ctx)).error
        made = await say(f"create anonymous {RULE}", CALLERS["anonymous-with-token"], ctx)
        made_paused = await say(f"create anonymous {RULE}", CALLERS["anonymous-with-token"], ctx)
        anonymous, paused_anonymous = _id(made), _id(made_paused)
        admin = CALLERS["server-admin"]
        assert not (await say(f"pause {paused_anonymous}", admin, ctx)).error
        for who in ("server-admin", "admin-elsewhere"):  # heartbeats to switch off
            assert not (await say("heartbeat here", CALLERS[who], ctx)).error
        yield World(
            ctx,
            owned,
            paused,
            anonymous,
            paused_anonymous,
            dict(made.fields)["claim token"],
            dict(made_paused.fields)["claim token"],
        )
    finally:
        await store.close()


# For each command: its text (with {id} of the module it acts on, {token}), and
# who may run it. The five callers act on OWNER's module; the anonymous callers act on
# the anonymous module, the one with the token claiming it first.
EVERYONE = frozenset(CALLERS)
SEES_G1 = EVERYONE - {"admin-elsewhere"}
MANAGES = frozenset({"owner", "server-admin", "bot-admin", "anonymous-with-token"})
SHARED_ADMINS = frozenset({"server-admin", "admin-elsewhere"})  # in a channel of their server


@dataclass(frozen=True)
class Case:
    text: str
    allowed: frozenset[str]
    paused: bool = False  # acts on the paused module


MATRIX: dict[str, Case] = {
    "create": Case(f"create {RULE}", EVERYONE),
    "create anonymous": Case(f"create anonymous {RULE}", EVERYONE),
    "list mine": Case("list mine", EVERYONE),
    "list all": Case("list all", EVERYONE),
    "show": Case("show {id}", SEES_G1),
    "edit": Case(f"edit {{id}} {NEW_RULE}", MANAGES),
    "pause": Case("pause {id}", MANAGES),
    "resume": Case("resume {id}", MANAGES, paused=True),
    "delete": Case("delete {id}", MANAGES),
    # Only an anonymous module can be claimed, and only with its own token.
    "claim": Case("claim {id} {token}", frozenset({"anonymous-with-token"})),
    "test ID": Case("test {id}", SEES_G1),
    "backtest ID": Case("backtest {id} last 50", SEES_G1),
    "status": Case("status", EVERYONE),
    # A heartbeat in a shared channel is for admins; the bot admin talks in PMs, which
    # have no channel for one.
    "heartbeat here": Case("heartbeat here every 10m", SHARED_ADMINS),
    "heartbeat off": Case("heartbeat off", SHARED_ADMINS),
    "help": Case("help", EVERYONE),
}


async def _subject(world: World, who: str, case: Case) -> tuple[int, str]:
    """The module the caller acts on, and the token they present."""
    if who not in ANONYMOUS_CALLERS:
        return (world.paused if case.paused else world.owned), "not-a-real-token-000"
    module = world.paused_anonymous if case.paused else world.anonymous
    token = world.paused_token if case.paused else world.token
    if who == "anonymous-without-token":
        return module, "guessed-token-000"
    if not case.text.startswith("claim"):
        claimed = await world.say(CALLERS[who], f"claim {module} {token}")
        assert not claimed.error, claimed
    return module, token


async def _effect(world: World, name: str, who: str, module: int) -> None:
    """What an allowed command did to the store."""
    caller = CALLERS[who]
    record = await world.ctx.store.get_module(module)
    if name == "edit":
        assert record is not None and record.rule == NEW_RULE
    elif name == "pause":
        assert record is not None and record.status == "paused"
    elif name == "resume":
        assert record is not None and record.status == "active"
    elif name == "delete":
        assert record is None
    elif name == "claim":
        assert record is not None and record.owner == caller.key and record.token_hash is None
    elif name.startswith("create"):
        newest = (await world.ctx.store.list_modules())[-1]
        assert newest.owner == (None if name.endswith("anonymous") else caller.key)
        assert newest.place == caller.place
    elif name.startswith("heartbeat"):
        beats = {(b.chat, b.channel) for b in await world.ctx.store.heartbeats()}
        assert ((caller.chat, caller.channel) in beats) is (name == "heartbeat here")


@pytest.mark.parametrize("who", list(CALLERS))
@pytest.mark.parametrize("name", list(MATRIX))
async def test_authorization_matrix(world: World, name: str, who: str) -> None:
    case = MATRIX[name]
    module, token = await _subject(world, who, case)
    before = await world.snapshot()
    reply = await world.say(CALLERS[who], case.text.format(id=module, token=token))
    allowed = who in case.allowed
    assert reply.error is not allowed, f"{who} {name}: {reply.plain()}"
    if allowed:
        await _effect(world, name, who, module)
    else:
        assert await world.snapshot() == before, f"a refused {name} changed the store"
        assert reply.private, "a refusal is shown to the caller only"


async def test_a_module_elsewhere_looks_the_same_as_no_module(world: World) -> None:
    far = CALLERS["admin-elsewhere"]
    missing = world.anonymous + 100
    for verb in ("show {}", "edit {} " + RULE, "pause {}", "delete {}", "test {}", "claim {} x"):
        there = await world.say(far, verb.format(world.owned))
        nowhere = await world.say(far, verb.format(missing))
        assert there.error and nowhere.error
        assert there.text.replace(str(world.owned), "N") == nowhere.text.replace(str(missing), "N")


async def test_listings_show_only_modules_of_the_place(world: World) -> None:
    ids = {world.owned, world.paused, world.anonymous, world.paused_anonymous}
    for who, caller in CALLERS.items():
        listed = await world.say(caller, "list all")
        seen = {int(m) for m in re.findall(r"#(\d+)", listed.text)} & ids
        assert seen == (set() if who == "admin-elsewhere" else ids), who
        mine = await world.say(caller, "list mine")
        seen_mine = {int(m) for m in re.findall(r"#(\d+)", mine.text)} & ids
        assert seen_mine == ({world.owned, world.paused} if who == "owner" else set()), who


async def test_a_token_claims_only_its_own_module(world: World) -> None:
    thief = CALLERS["anonymous-without-token"]
    before = await world.snapshot()
    wrong = await world.say(thief, f"claim {world.anonymous} {world.paused_token}")
    assert wrong.error and "not the claim token" in wrong.text
    assert await world.snapshot() == before
    assert not (await world.say(thief, f"claim {world.anonymous} {world.token}")).error
    again = await world.say(
        CALLERS["anonymous-with-token"], f"claim {world.anonymous} {world.token}"
    )
    assert again.error and "already has an owner" in again.text


async def test_claim_tokens_are_compared_in_constant_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(base.hmac, "compare_digest", spy)
    caller = CALLERS["anonymous-without-token"]
    assert (await world.say(caller, f"claim {world.anonymous} wrong-token")).error
    assert not (await world.say(caller, f"claim {world.anonymous} {world.token}")).error
    assert len(calls) == 2, "every claim goes through hmac.compare_digest"
    assert all(world.token not in (a, b) for a, b in calls), "hashes are compared, not tokens"


async def test_claim_tokens_never_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    store = await Store.open(path)
    ctx = Context(store=store, items=KeptItems(store), clock=lambda: 1_700_000_000.0)
    tokens = []
    try:
        for _ in range(5):
            reply = await handle_text(f"create anonymous {RULE}", OWNER, ctx)
            tokens.append(dict(reply.fields)["claim token"])
        claimed = await handle_text(f"claim {_id(reply)} {tokens[-1]}", OWNER, ctx)
        assert not claimed.error
        files = sorted(tmp_path.glob("tokens.sqlite3*"))  # with the WAL, before a checkpoint
        stored = b"".join(f.read_bytes() for f in files)
    finally:
        await store.close()
    stored += b"".join(f.read_bytes() for f in sorted(tmp_path.glob("tokens.sqlite3*")))
    assert base.hash_token(tokens[0]).encode() in stored, "the search reads the right bytes"
    for token in tokens:
        assert token.encode() not in stored
        assert token.encode("utf-16-le") not in stored

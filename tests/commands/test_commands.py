"""Command handlers as chat transcripts, on a real SQLite store."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands.base import Caller, Context, Reply, hash_token
from bot.commands.dispatch import CommandRateLimiter, handle_text
from bot.commands.testing import KeptItems, target_fullnames
from bot.store.db import Store

OWNER = Caller(chat="discord", user_id="100", name="owner", place="g1", channel="c1")
OTHER = Caller(chat="discord", user_id="200", name="other", place="g1", channel="c1")
ADMIN = Caller(chat="discord", user_id="300", name="admin", place="g1", channel="c1", admin=True)
ELSEWHERE_ADMIN = Caller(
    chat="discord", user_id="400", name="far", place="g2", channel="c9", admin=True
)
BOT_ADMIN = Caller(
    chat="reddit", user_id="boss", name="boss", place="reddit", channel="boss", bot_admin=True
)

RULE = 'on posts if title contains "cat" then log'


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = await Store.open(tmp_path / "roveit.sqlite3")
    now = [1_700_000_000.0]
    try:
        yield Context(store=store, items=KeptItems(store), clock=lambda: now[0])
    finally:
        await store.close()


async def say(ctx: Context, caller: Caller, text: str) -> Reply:
    return await handle_text(text, caller, ctx)


def module_id(reply: Reply) -> int:
    m = re.search(r"#(\d+)", reply.text)
    assert m, reply
    return int(m.group(1))


async def test_create_list_show_edit_pause_resume_delete(ctx: Context) -> None:
    created = await say(ctx, OWNER, f"create {RULE}")
    assert not created.error and created.code == RULE
    mid = module_id(created)
    listed = await say(ctx, OWNER, "list")
    assert f"#{mid}" in listed.text and "cat" in listed.text
    shown = await say(ctx, OWNER, f"show {mid}")
    assert shown.code == RULE and ("status", "active") in shown.fields
    edited = await say(ctx, OWNER, f'edit {mid} on comments if body contains "dog" then log')
    assert not edited.error and "dog" in (edited.code or "")
    assert (await ctx.store.get_module(mid)).rule.endswith('"dog" then log')  # type: ignore[union-attr]
    assert "paused" in (await say(ctx, OWNER, f"pause {mid}")).text
    assert (await ctx.store.get_module(mid)).status == "paused"  # type: ignore[union-attr]
    assert "already paused" in (await say(ctx, OWNER, f"pause {mid}")).text
    assert "running again" in (await say(ctx, OWNER, f"resume {mid}")).text
    assert "deleted" in (await say(ctx, OWNER, f"delete {mid}")).text
    assert await ctx.store.get_module(mid) is None
    gone = await say(ctx, OWNER, f"show {mid}")
    assert gone.error and f"no module #{mid}" in gone.text


async def test_a_bad_rule_creates_nothing_and_says_where(ctx: Context) -> None:
    reply = await say(ctx, OWNER, 'create on posts if title contians "x" then log')
    assert reply.error and "column" in reply.text
    assert reply.code is not None and "^" in reply.code
    assert await ctx.store.list_modules() == []


async def test_anonymous_token_is_shown_once_and_stored_hashed(ctx: Context) -> None:
    reply = await say(ctx, OWNER, f"create anonymous {RULE}")
    assert reply.private
    token = dict(reply.fields)["claim token"]
    mid = module_id(reply)
    module = await ctx.store.get_module(mid)
    assert module is not None and module.owner is None
    assert module.token_hash == hash_token(token) and token not in module.token_hash
    shown = await say(ctx, OWNER, f"show {mid}")
    assert token not in shown.plain()


PERMISSION_VERBS = ["edit {id} " + RULE, "pause {id}", "resume {id}", "delete {id}"]


@pytest.mark.parametrize("verb", PERMISSION_VERBS)
@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (OWNER, True),
        (OTHER, False),
        (ADMIN, True),
        (ELSEWHERE_ADMIN, False),
        (BOT_ADMIN, True),
    ],
    ids=["owner", "other-user", "server-admin", "admin-of-another-server", "bot-admin"],
)
async def test_permission_matrix_for_owned_modules(
    ctx: Context, verb: str, who: Caller, allowed: bool
) -> None:
    mid = module_id(await say(ctx, OWNER, f"create {RULE}"))
    if verb.startswith("resume"):
        await say(ctx, OWNER, f"pause {mid}")
    before = await ctx.store.get_module(mid)
    reply = await say(ctx, who, verb.format(id=mid))
    after = await ctx.store.get_module(mid)
    assert reply.error is not allowed, reply
    if not allowed:
        assert after == before, "a refused command changes nothing"


@pytest.mark.parametrize("verb", PERMISSION_VERBS)
async def test_anonymous_modules_need_a_claim_before_anything_else(ctx: Context, verb: str) -> None:
    reply = await say(ctx, OWNER, f"create anonymous {RULE}")
    token, mid = dict(reply.fields)["claim token"], module_id(reply)
    refused = await say(ctx, OTHER, verb.format(id=mid))
    assert refused.error and "claim" in refused.text
    wrong = await say(ctx, OTHER, f"claim {mid} not-the-token")
    assert wrong.error and (await ctx.store.get_module(mid)).owner is None  # type: ignore[union-attr]
    claimed = await say(ctx, OTHER, f"claim {mid} {token}")
    assert not claimed.error
    module = await ctx.store.get_module(mid)
    assert module is not None and module.owner == OTHER.key and module.token_hash is None
    again = await say(ctx, OWNER, f"claim {mid} {token}")
    assert again.error and "already has an owner" in again.text
    if verb.startswith("resume"):
        await say(ctx, OTHER, f"pause {mid}")
    assert not (await say(ctx, OTHER, verb.format(id=mid))).error


async def test_admin_may_manage_anonymous_modules_of_their_server(ctx: Context) -> None:
    mid = module_id(await say(ctx, OWNER, f"create anonymous {RULE}"))
    assert not (await say(ctx, ADMIN, f"pause {mid}")).error
    assert (await say(ctx, ELSEWHERE_ADMIN, f"pause {mid}")).error


async def test_modules_are_scoped_to_their_place(ctx: Context) -> None:
    mid = module_id(await say(ctx, OWNER, f"create {RULE}"))
    stranger = Caller(chat="discord", user_id="999", name="s", place="g2", channel="c2")
    assert (await say(ctx, stranger, f"show {mid}")).error
    assert f"#{mid}" not in (await say(ctx, stranger, "list all")).text
    assert f"#{mid}" in (await say(ctx, OTHER, "list all")).text
    assert f"#{mid}" not in (await say(ctx, OTHER, "list mine")).text


async def test_caps_on_modules_per_owner(ctx: Context) -> None:
    ctx.max_per_owner = 2
    assert not (await say(ctx, OWNER, f"create {RULE}")).error
    assert not (await say(ctx, OWNER, f"create {RULE}")).error
    third = await say(ctx, OWNER, f"create {RULE}")
    assert third.error and "2 modules" in third.text
    assert len(await ctx.store.list_modules(owner=OWNER.key)) == 2


async def test_test_and_backtest_on_the_bundled_sample(ctx: Context) -> None:
    backtest = await say(
        ctx, OWNER, 'backtest on posts and comments if text contains "the" then log last 200'
    )
    m = re.search(r"matches (\d+) of the last (\d+) items", backtest.text)
    assert m and int(m.group(2)) == 200 and 0 < int(m.group(1)) < 200
    hit = await say(ctx, OWNER, 'test on posts and comments if text contains "the" then log')
    assert hit.text.startswith("✅") and hit.code
    items = await ctx.items.recent(400)
    post = next(t for t in items if t["kind"] == "t3")
    url = "https://www.reddit.com" + post["data"]["permalink"]
    on_url = await say(ctx, OWNER, f"test on posts then log on {url}")
    assert on_url.text.startswith("✅") and post["data"]["id"] in on_url.text
    miss = await say(ctx, OWNER, f"test on comments then log on t3_{post['data']['id']}")
    assert miss.text.startswith("❌") and "✗ stream" in (miss.code or "")


async def test_test_by_module_id(ctx: Context) -> None:
    mid = module_id(await say(ctx, OWNER, "create on posts then log"))
    reply = await say(ctx, OWNER, f"test {mid}")
    assert reply.text.startswith("✅") and f"module #{mid}" in reply.text


@pytest.mark.parametrize(
    ("target", "fullnames"),
    [
        ("https://www.reddit.com/r/pics/comments/abc123/a_title/", ["t3_abc123"]),
        ("https://reddit.com/r/pics/comments/abc123/a_title/def456/?context=3", ["t1_def456"]),
        ("https://redd.it/abc123", ["t3_abc123"]),
        ("t1_xyz", ["t1_xyz"]),
        ("abc123", ["t3_abc123", "t1_abc123"]),
    ],
)
def test_targets(target: str, fullnames: list[str]) -> None:
    assert target_fullnames(target) == fullnames


async def test_heartbeat_and_status_and_help(ctx: Context) -> None:
    refused = await say(ctx, OTHER, "heartbeat here every 10m")
    assert refused.error and "admin" in refused.text
    assert not (await say(ctx, ADMIN, "heartbeat here every 10m")).error
    beats = await ctx.store.heartbeats()
    assert [(b.channel, b.every_seconds) for b in beats] == [("c1", 600)]
    assert "off" in (await say(ctx, ADMIN, "heartbeat off")).text
    assert await ctx.store.heartbeats() == []
    status = await say(ctx, OWNER, "status")
    assert dict(status.fields)["active modules"] == "0"
    assert "rule" in (await say(ctx, OWNER, "help")).text
    assert "contains" in (await say(ctx, OWNER, "help tests")).text
    unknown = await say(ctx, OWNER, "help actoins")
    assert unknown.error and "help actions" in unknown.text


async def test_command_rate_limit_refuses_politely() -> None:
    now = [0.0]
    limiter = CommandRateLimiter(count=3, window=60, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.allow("a") == 60
    assert limiter.allow("b") == 0
    now[0] = 61
    assert limiter.allow("a") == 0


async def test_store_is_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await Store.open(path)
    ctx = Context(store=store, items=KeptItems(store), clock=time.time)
    mid = module_id(await say(ctx, OWNER, f"create {RULE}"))
    await store.close()
    store = await Store.open(path)
    try:
        module = await store.get_module(mid)
        assert module is not None and module.rule == RULE
        assert await store.schema_version() >= 1
    finally:
        await store.close()


async def test_webhook_urls_are_shown_whole_only_to_those_who_manage_the_module(
    ctx: Context,
) -> None:
    secret = "https://hooks.example.com/services/T000/B000/s3cr3t?token=abc"
    mid = module_id(await say(ctx, OWNER, f'create on posts then webhook "{secret}"'))
    assert secret in (await say(ctx, OWNER, f"show {mid}")).plain()
    assert secret in (await say(ctx, ADMIN, "list all")).plain()
    for view in (await say(ctx, OTHER, f"show {mid}"), await say(ctx, OTHER, "list all")):
        text = view.plain()
        assert "s3cr3t" not in text and "token=abc" not in text
        assert 'webhook "https://hooks.example.com/…"' in text

"""The Discord chat end to end: the real discord.py client against the local Discord sandbox,
on a real SQLite store. Tests read like transcripts: a user runs /roveit ..., the bot answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from bot.chat import discord_app
from bot.chat.discord_app import DiscordChat
from bot.chat.discord_render import PREVIEW_CHARS
from bot.chat.heartbeat import HeartbeatService
from bot.chat.safe_text import discord_safe
from bot.commands.base import Context
from bot.commands.dispatch import CommandRateLimiter
from bot.commands.ops import HELP
from bot.commands.testing import KeptItems
from bot.config import Settings
from bot.data import load_sample
from bot.engine.item import item_from_thing
from bot.engine.ports import ActionError
from bot.engine.runtime import Engine
from bot.sandbox.discord import DiscordSandbox, Interaction, reset_discord_py
from bot.sandbox.discord_world import MANAGE_GUILD
from bot.store.db import Outbox, Store

TOKEN = "roveit-chat-e2e"
CALLBACK_DEADLINE = 3.0
RULE = 'on posts in r/announcements if title contains "inquisition" then notify here'


@dataclass
class Host:
    settings: Settings
    ctx: Context
    limiter: CommandRateLimiter


@dataclass
class Env:
    sb: DiscordSandbox
    chat: DiscordChat
    store: Store
    ctx: Context
    guild: int
    general: int
    alerts: int
    locked: int
    other_guild: int
    other_channel: int
    alice: int
    bob: int
    mod: int
    tmp: Path
    latencies: list[float]
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def stop_chat(self) -> None:
        """Stop the fixture's chat, as a process would on shutdown."""
        self.stop.set()
        await asyncio.wait_for(self.task, 10)

    async def slash(
        self,
        user: int,
        sub: str,
        *,
        channel: int | None = None,
        guild: int | None | str = "default",
        **options: Any,
    ) -> Answer:
        """/roveit SUB as `user`, and the answer the user ends up seeing."""
        gid = self.guild if guild == "default" else guild
        cid = channel if channel is not None else self.general
        assert gid is None or isinstance(gid, int)
        inter = await self.sb.slash(gid, cid, user, "roveit", sub, options=options)
        answer = await answer_of(inter)
        self.latencies.append(answer.latency)
        return answer

    def dm(self, user: int) -> int:
        return self.sb.world.dm_channel(user).id


@dataclass
class Answer:
    ephemeral: bool
    deferred: bool
    content: str
    embeds: list[dict[str, Any]]
    latency: float
    original_deleted: bool = False

    @property
    def text(self) -> str:
        """What the user reads: content, embed titles, descriptions and fields, as rendered
        (Markdown escapes removed)."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        return re.sub(r"\\(.)", r"\1", "\n".join(p for p in parts if p))


async def answer_of(inter: Interaction) -> Answer:
    response = await inter.response(timeout=5)
    assert inter.latency is not None
    if response["type"] == 4:
        msg = inter.original()
        return Answer(msg.ephemeral, False, msg.content, msg.embeds, inter.latency)
    assert response["type"] == 5, response
    async with inter.changed:
        await asyncio.wait_for(
            inter.changed.wait_for(lambda: bool(inter.original_edits or inter.followup_ids)), 5
        )
    msg = (await inter.followups(1))[0] if inter.followup_ids else inter.original()
    deleted = inter.original_message_id is not None and inter.original().deleted
    return Answer(msg.ephemeral, True, msg.content, msg.embeds, inter.latency, deleted)


def make_chat(env_sb: DiscordSandbox, ctx: Context, *, rate: int = 1000) -> DiscordChat:
    settings = Settings(
        discord_token=TOKEN,
        discord_api_base=env_sb.api_base,
        discord_gateway_url=env_sb.gateway_url,
    )
    chat = DiscordChat(
        Host(settings, ctx, CommandRateLimiter(count=rate)), guild_ready_timeout=0.05
    )
    ctx.check_actions = chat.check_actions
    return chat


@contextlib.asynccontextmanager
async def running(chat: DiscordChat) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(chat.run(stop))
    try:
        assert await chat.wait_ready(10), "the chat connected to the sandbox"
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    sb = DiscordSandbox(
        token=TOKEN,
        heartbeat_interval=0.5,
        rate_limit=50,
        rate_limit_per=0.5,
        callback_deadline=CALLBACK_DEADLINE,
    )
    guild = sb.add_guild(name="Roveit Test")
    general = sb.add_channel(guild.id, "general")
    alerts = sb.add_channel(guild.id, "alerts")
    locked = sb.add_channel(guild.id, "announcements", bot_can_send=False)
    mods = sb.add_role(guild.id, "mods", permissions=MANAGE_GUILD)
    alice, bob, mod = sb.add_user("alice"), sb.add_user("bob"), sb.add_user("mod")
    sb.add_member(guild.id, alice)
    sb.add_member(guild.id, bob)
    sb.add_member(guild.id, mod, roles=[mods])
    other = sb.add_guild(name="Elsewhere")
    other_channel = sb.add_channel(other.id, "general")
    sb.add_member(other.id, alice)
    sb.add_member(other.id, bob)
    await sb.start()
    store = await Store.open(tmp_path / "roveit.sqlite3")
    ctx = Context(store=store, items=KeptItems(store), clock=time.time)
    chat = make_chat(sb, ctx)
    latencies: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(chat.run(stop))
    try:
        assert await chat.wait_ready(10), "the chat connected to the sandbox"
        await sb.wait_for_commands()
        yield Env(
            sb,
            chat,
            store,
            ctx,
            guild.id,
            general,
            alerts,
            locked,
            other.id,
            other_channel,
            alice,
            bob,
            mod,
            tmp_path,
            latencies,
            stop,
            task,
        )
        assert all(lat < CALLBACK_DEADLINE for lat in latencies), latencies
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await store.close()
        await sb.stop()
        reset_discord_py()


def spez_thing() -> dict[str, Any]:
    """A real post from the bundled sample (r/announcements, a long self text)."""
    for thing in load_sample():
        if thing["data"].get("name") == "t3_7a4bjo":
            return thing
    raise AssertionError("the bundled sample lost t3_7a4bjo")


def card_of(thing: dict[str, Any], module_id: int, **changes: Any) -> dict[str, Any]:
    """The card the engine builds for a match (bot.engine.runtime._card)."""
    item = dataclasses.replace(item_from_thing(thing), **changes)
    return {
        "module": module_id,
        "kind": item.kind,
        "id": item.id,
        "title": item.title,
        "permalink": item.permalink,
        "subreddit": item.subreddit,
        "author": item.author,
        "flair": item.flair,
        "score": item.score,
        "body": item.body,
        "url": item.url,
    }


async def create(env: Env, user: int, rule: str = RULE, **kw: Any) -> int:
    answer = await env.slash(user, "create", rule=rule, **kw)
    assert "Created" in answer.text, answer.text
    modules = await env.store.list_modules()
    return modules[-1].id


# ---- commands -----------------------------------------------------------------------


async def test_every_subcommand_is_synced_with_typed_options(env: Env) -> None:
    (roveit,) = env.sb.commands()
    subs = {o["name"]: {p["name"]: p for p in o.get("options", [])} for o in roveit["options"]}
    assert set(subs) == {
        "create",
        "list",
        "show",
        "edit",
        "pause",
        "resume",
        "delete",
        "claim",
        "test",
        "backtest",
        "status",
        "heartbeat",
        "help",
    }
    assert subs["create"]["rule"]["type"] == 3 and subs["create"]["anonymous"]["type"] == 5
    for name in ("show", "edit", "pause", "resume", "delete"):
        assert subs[name]["module"]["type"] == 4 and subs[name]["module"]["autocomplete"]
    assert [c["value"] for c in subs["list"]["scope"]["choices"]] == ["mine", "all"]
    assert [c["value"] for c in subs["heartbeat"]["mode"]["choices"]] == ["here", "off"]
    assert subs["backtest"]["last"]["min_value"] == 1
    assert subs["help"]["topic"]["autocomplete"] and not subs["help"]["topic"]["required"]


async def test_create_list_show_edit_pause_resume_delete(env: Env) -> None:
    created = await env.slash(env.alice, "create", rule=RULE)
    assert not created.ephemeral and "Created module #1." in created.text and RULE in created.text
    assert "```" in created.embeds[0]["description"]

    mine = await env.slash(env.alice, "list")
    assert "#1 " in mine.text and "owner: you" in mine.text
    here = await env.slash(env.bob, "list", scope="all")
    assert "#1 " in here.text and f"<@{env.alice}>" in here.text
    assert "no modules" in (await env.slash(env.bob, "list", scope="mine")).text

    shown = await env.slash(env.alice, "show", module=1)
    assert shown.deferred and not shown.ephemeral
    assert shown.embeds[0]["title"] == "Module #1" and "status: active" in shown.text

    new_rule = RULE.replace("inquisition", "AMA")
    edited = await env.slash(env.alice, "edit", module=1, rule=new_rule)
    assert "now reads" in edited.text and new_rule in edited.text
    assert (await env.store.get_module(1)).rule == new_rule  # type: ignore[union-attr]

    assert "is paused" in (await env.slash(env.alice, "pause", module=1)).text
    assert "already paused" in (await env.slash(env.alice, "pause", module=1)).text
    assert "running again" in (await env.slash(env.alice, "resume", module=1)).text
    assert "is deleted" in (await env.slash(env.alice, "delete", module=1)).text
    assert await env.store.get_module(1) is None
    gone = await env.slash(env.alice, "show", module=1)
    assert gone.deferred and gone.ephemeral and "no module #1" in gone.text
    assert gone.original_deleted, "the public 'thinking…' message gives way to a private answer"


async def test_quick_command_that_turns_slow_is_deferred(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discord_app, "DEFER_AFTER", 0.05)
    release = asyncio.Event()
    checked = env.ctx.check_actions

    async def slow_check(rule: Any, caller: Any) -> list[str]:
        await release.wait()
        return await checked(rule, caller)

    env.ctx.check_actions = slow_check
    inter = await env.sb.slash(
        env.guild, env.general, env.alice, "roveit", "create", options={"rule": RULE}
    )
    assert (await inter.response(timeout=5))["type"] == 5, "deferred while the work goes on"
    release.set()
    original = await inter.original_edited(1, timeout=5)
    assert "Created module #1." in original.embeds[0]["description"] and not original.ephemeral


async def test_parse_error_is_ephemeral_with_the_caret_in_a_code_block(env: Env) -> None:
    answer = await env.slash(env.alice, "create", rule='on posts if title contians "x" then log')
    assert answer.ephemeral
    description = answer.embeds[0]["description"]
    assert "line 1, column" in description and 'did you mean "contains"?' in description
    block = description.split("```", 1)[1]
    assert 'on posts if title contians "x" then log' in block and "^" in block
    assert await env.store.list_modules() == []


async def test_anonymous_module_token_is_ephemeral_and_claims_it(env: Env) -> None:
    made = await env.slash(env.alice, "create", rule=RULE, anonymous=True)
    assert made.ephemeral and "claim token" in made.text
    shown = next(f["value"] for f in made.embeds[0]["fields"] if f["name"] == "claim token")
    token = re.sub(r"\\(.)", r"\1", shown)  # as Discord renders it, and a user copies it
    public = [m for m in env.sb.messages(env.general) if not m.ephemeral]
    assert all(token not in m.content + str(m.embeds) for m in public)
    wrong = await env.slash(env.bob, "claim", module=1, token="x" * 24)
    assert wrong.ephemeral and "not the claim token" in wrong.text
    claimed = await env.slash(env.bob, "claim", module=1, token=token)
    assert claimed.ephemeral and "You now own module #1" in claimed.text
    assert (await env.store.get_module(1)).owner == f"discord:{env.bob}"  # type: ignore[union-attr]


async def test_test_and_backtest_by_rule_and_by_id(env: Env) -> None:
    thing = spez_thing()
    await env.store.keep_items([thing], keep=100)
    tested = await env.slash(env.alice, "test", rule_or_id=RULE, on="t3_7a4bjo")
    assert tested.deferred and not tested.ephemeral
    assert "✅" in tested.text and "t3_7a4bjo" in tested.text
    await create(env, env.alice)
    by_id = await env.slash(env.alice, "test", rule_or_id="#1", on="t3_7a4bjo")
    assert "module #1 matches" in by_id.text
    backtest = await env.slash(env.alice, "backtest", rule_or_id="1", last=50)
    assert backtest.deferred and "matches 1 of the last 1 items" in backtest.text
    bad = await env.slash(env.alice, "backtest", rule_or_id="on posts if then log")
    assert bad.ephemeral and "does not parse" in bad.text


async def test_status_heartbeat_and_help(env: Env) -> None:
    status = await env.slash(env.alice, "status")
    assert status.deferred and status.embeds[0]["title"] == "roveit status"
    assert "engine: not running in this process" in status.text

    refused = await env.slash(env.alice, "heartbeat", mode="here", every="10m")
    assert refused.ephemeral and "Only an admin" in refused.text
    bad = await env.slash(env.mod, "heartbeat", mode="here", every="10 minutes")
    assert bad.ephemeral and '"10minutes" is not a duration' in bad.text
    on = await env.slash(env.mod, "heartbeat", mode="here", every="10m")
    assert "every 10m" in on.text
    (record,) = await env.store.heartbeats()
    assert (record.channel, record.every_seconds) == (str(env.general), 600)
    assert "Heartbeat off" in (await env.slash(env.mod, "heartbeat", mode="off")).text
    assert await env.store.heartbeats() == []

    overview = await env.slash(env.bob, "help")
    assert "on STREAMS" in overview.text
    assert "contains" in (await env.slash(env.bob, "help", topic="tests")).text
    unknown = await env.slash(env.bob, "help", topic="tets")
    assert unknown.ephemeral and 'Did you mean "help tests"?' in unknown.text

    async def topics(typed: str) -> list[str]:
        choices = await env.sb.autocomplete(
            env.guild,
            env.general,
            env.bob,
            "roveit",
            "help",
            options={"topic": typed},
            focused="topic",
        )
        return [c["value"] for c in choices]

    assert await topics("templ") == ["templates"]
    assert (await topics("te"))[:2] == ["tests", "templates"], "prefix matches first"
    assert "backtest" in await topics("te")
    assert len(await topics("")) == len(HELP) - 1


async def test_commands_in_dms_make_personal_modules(env: Env) -> None:
    dm = env.dm(env.bob)
    made = await env.slash(env.bob, "create", channel=dm, guild=None, rule=RULE)
    assert "Created module #1" in made.text
    module = await env.store.get_module(1)
    assert module is not None and (module.place, module.channel) == (f"dm:{env.bob}", str(dm))
    channel_rule = RULE.replace("notify here", "notify #alerts")
    refused = await env.slash(env.bob, "create", channel=dm, guild=None, rule=channel_rule)
    assert refused.ephemeral and "needs a server channel" in refused.text
    hb = await env.slash(env.bob, "heartbeat", channel=dm, guild=None, mode="here")
    assert "Heartbeat here every 10m" in hb.text, "a DM user is admin of their own DMs"
    assert "no modules here" in (await env.slash(env.alice, "list", scope="all")).text


async def test_rate_limit_per_user(env: Env) -> None:
    env.chat.limiter = CommandRateLimiter(count=2)
    for _ in range(2):
        assert not (await env.slash(env.alice, "help")).ephemeral
    refused = await env.slash(env.alice, "help")
    assert refused.ephemeral and "faster than I can take them" in refused.text
    assert not (await env.slash(env.bob, "help")).ephemeral, "limits are per user"


# ---- autocomplete and permissions ------------------------------------------------------


async def test_autocomplete_offers_only_modules_the_caller_may_see(env: Env) -> None:
    await create(env, env.alice)  # 1: here
    await create(env, env.bob, RULE.replace("inquisition", "pics"))  # 2: here, bob's
    await env.slash(
        env.alice, "create", guild=env.other_guild, channel=env.other_channel, rule=RULE
    )  # 3
    await env.slash(
        env.bob, "create", guild=None, channel=env.dm(env.bob), rule=RULE
    )  # 4: bob's DMs

    async def offered(
        user: int, typed: str, *, guild: int | None = None, channel: int | None = None
    ) -> list[int]:
        choices = await env.sb.autocomplete(
            env.guild if guild is None else guild,
            channel or env.general,
            user,
            "roveit",
            "pause",
            options={"module": typed},
            focused="module",
        )
        return [c["value"] for c in choices]

    assert await offered(env.alice, "") == [1, 2, 3], "this server's, plus alice's own"
    assert await offered(env.bob, "") == [1, 2, 4]
    assert await offered(env.mod, "") == [1, 2]
    assert await offered(env.bob, "pics") == [2], "matches the rule text too"
    assert await offered(env.mod, "1") == [1]
    names = await env.sb.autocomplete(
        env.guild, env.general, env.mod, "roveit", "show", options={"module": ""}, focused="module"
    )
    assert names[0]["name"].startswith("#1 on posts in r/announcements")
    assert all(len(c["name"]) <= 100 for c in names)


async def test_only_owner_or_manage_server_may_change_a_module(env: Env) -> None:
    await create(env, env.alice)
    for sub in ("pause", "delete"):
        refused = await env.slash(env.bob, sub, module=1)
        assert refused.ephemeral and "Only the owner of module #1 or an admin" in refused.text
    refused_edit = await env.slash(env.bob, "edit", module=1, rule=RULE)
    assert refused_edit.ephemeral and "Only the owner" in refused_edit.text
    assert (await env.store.get_module(1)).status == "active"  # type: ignore[union-attr]
    assert "is paused" in (await env.slash(env.mod, "pause", module=1)).text, (
        "Manage Server by role"
    )
    assert (await env.store.get_module(1)).status == "paused"  # type: ignore[union-attr]
    # an admin elsewhere is no admin here
    elsewhere = await env.slash(
        env.bob, "resume", guild=env.other_guild, channel=env.other_channel, module=1
    )
    assert elsewhere.ephemeral and "no module #1 here" in elsewhere.text


async def test_notify_channel_is_checked_at_create_time(env: Env) -> None:
    missing = await env.slash(env.alice, "create", rule=RULE.replace("notify here", "notify #nope"))
    assert missing.ephemeral and "no text channel #nope" in missing.text
    locked = await env.slash(
        env.alice, "create", rule=RULE.replace("notify here", "notify #announcements")
    )
    assert locked.ephemeral and "I cannot post in #announcements" in locked.text
    assert await env.store.list_modules() == []
    ok = await env.slash(env.alice, "create", rule=RULE.replace("notify here", "notify #alerts"))
    assert "Created module #1" in ok.text
    here_locked = await env.slash(env.alice, "create", channel=env.locked, rule=RULE)
    assert here_locked.ephemeral and "I cannot post in #announcements" in here_locked.text
    by_mention = await env.slash(
        env.alice, "create", rule=RULE.replace("notify here", f"notify <#{env.alerts}>")
    )
    assert "Created module #2" in by_mention.text


# ---- notifications and buttons ----------------------------------------------------------


async def test_notification_embed_without_mentions(env: Env) -> None:
    module_id = await create(env, env.alice)
    body = "@everyone <@123> look at **this** " + "x" * 400
    card = card_of(spez_thing(), module_id, body=body, flair="Announcement")
    text = "u/spez: @everyone <@123> see https://www.reddit.com/r/announcements/"
    message_id = await env.chat.notifier.notify(
        {"kind": "here", "channel": str(env.general), "place": str(env.guild)}, text, card
    )
    (msg,) = [m for m in env.sb.messages(env.general) if m.id == int(message_id or 0)]
    (embed,) = msg.embeds
    assert embed["title"] == "Time for my quarterly inquisition. Reddit CEO here, AMA."
    assert embed["url"] == (
        "https://www.reddit.com/r/announcements/comments/7a4bjo/"
        "time_for_my_quarterly_inquisition_reddit_ceo_here/"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "subreddit": "r/announcements",
        "author": "u/spez",
        "flair": "Announcement",
        "score": "30937",
    }
    description = embed["description"]
    assert description.endswith("…") and "\\*\\*this\\*\\*" in description
    assert description == discord_safe(body[:PREVIEW_CHARS] + "…")
    assert "@everyone" not in description and "<@123>" not in description
    assert msg.allowed_mentions is not None and msg.allowed_mentions["parse"] == []
    assert msg.pinged_user_ids == [] and not msg.pings_everyone
    assert (
        "@\u200beveryone" in msg.content
        and "https://www.reddit.com/r/announcements/" in msg.content
    )
    buttons = {b["label"]: b["custom_id"] for b in msg.components[0]["components"]}
    assert buttons == {
        "Show full": f"roveit:full:{module_id}:t3_7a4bjo",
        "Pause module": f"roveit:pause:{module_id}",
    }


async def test_long_titles_are_cut_to_discords_limit(env: Env) -> None:
    card = card_of(spez_thing(), 1, title="T" * 300)
    await env.chat.notifier.notify({"kind": "here", "channel": str(env.general)}, "", card)
    (msg,) = await env.sb.wait_for_messages(env.general)
    assert len(msg.embeds[0]["title"]) == 256 and msg.embeds[0]["title"].endswith("…")


async def test_show_full_answers_the_presser_privately(env: Env) -> None:
    module_id = await create(env, env.alice)
    thing = spez_thing()
    await env.store.keep_items([thing], keep=100)
    target = {"kind": "here", "channel": str(env.general), "place": str(env.guild)}
    mid = await env.chat.notifier.notify(target, "match", card_of(thing, module_id))
    press = await env.sb.press_button(int(mid or 0), f"roveit:full:{module_id}:t3_7a4bjo", env.bob)
    answer = await answer_of(press)
    assert answer.ephemeral and not answer.deferred
    full = answer.embeds[0]["description"].replace("\\", "")
    assert len(full) > 3000 and full == thing["data"]["selftext"].replace("\\", "")
    assert press.original().interaction_id == press.id

    other = dataclasses.replace(item_from_thing(thing), id="zzz999")
    mid2 = await env.chat.notifier.notify(target, "match", card_of(thing, module_id, id=other.id))
    gone = await answer_of(
        await env.sb.press_button(int(mid2 or 0), f"roveit:full:{module_id}:t3_zzz999", env.bob)
    )
    assert gone.ephemeral and "no longer keep t3_zzz999" in gone.content
    assert "https://www.reddit.com/r/announcements/comments/7a4bjo/" in gone.content


async def test_show_full_falls_back_to_the_matched_copy_in_the_outbox(env: Env) -> None:
    module_id = await create(env, env.alice)
    card = card_of(spez_thing(), module_id, id="yyy111", body="the whole body, kept with the match")
    target = {"kind": "here", "channel": str(env.general), "place": str(env.guild)}
    await env.store.record_match(
        module_id=module_id,
        item="t3_yyy111",
        author="spez",
        now=time.time(),
        skipped=None,
        actions=[("notify", {"chat": "discord", "target": target, "text": "m", "card": card})],
    )
    assert await env.store.get_item("t3_yyy111") is None  # trimmed from the kept items
    mid = await env.chat.notifier.notify(target, "m", card)
    press = await env.sb.press_button(int(mid or 0), f"roveit:full:{module_id}:t3_yyy111", env.bob)
    answer = await answer_of(press)
    assert answer.ephemeral
    assert answer.embeds[0]["description"] == "the whole body, kept with the match"


async def test_show_full_sends_a_long_body_as_a_file(env: Env) -> None:
    thing = spez_thing()
    data = dict(thing["data"], id="long01", name="t3_long01")
    data["selftext"] = data["selftext"] * 3
    await env.store.keep_items([{"kind": "t3", "data": data}], keep=100)
    target = {"kind": "here", "channel": str(env.general)}
    mid = await env.chat.notifier.notify(target, "m", card_of(thing, 1, id="long01"))
    press = await env.sb.press_button(int(mid or 0), "roveit:full:1:t3_long01", env.bob)
    answer = await answer_of(press)
    assert answer.ephemeral and answer.embeds[0]["description"].endswith("…")
    (callback,) = env.sb.find_requests("POST", f"/interactions/{press.id}/")
    assert callback.json["_files"], "the whole body comes as an attachment"


async def test_pause_button_for_the_owner_and_admins_only(env: Env) -> None:
    module_id = await create(env, env.alice)
    target = {"kind": "here", "channel": str(env.general), "place": str(env.guild)}
    mid = int(await env.chat.notifier.notify(target, "m", card_of(spez_thing(), module_id)) or 0)
    custom_id = f"roveit:pause:{module_id}"
    refused = await answer_of(await env.sb.press_button(mid, custom_id, env.bob))
    assert refused.ephemeral and "Only the owner" in refused.content
    assert (await env.store.get_module(module_id)).status == "active"  # type: ignore[union-attr]
    paused = await answer_of(await env.sb.press_button(mid, custom_id, env.alice))
    assert paused.ephemeral and f"Module #{module_id} is paused." == paused.content
    record = await env.store.get_module(module_id)
    assert record is not None and record.status == "paused"
    assert env.sb.world.message(mid).edit_count == 0, "the notification itself is untouched"


async def test_buttons_still_work_after_a_restart(env: Env) -> None:
    module_id = await create(env, env.alice)
    target = {"kind": "here", "channel": str(env.general), "place": str(env.guild)}
    mid = int(await env.chat.notifier.notify(target, "m", card_of(spez_thing(), module_id)) or 0)
    await env.stop_chat()
    fresh = make_chat(env.sb, env.ctx)
    async with running(fresh):
        press = await env.sb.press_button(mid, f"roveit:pause:{module_id}", env.mod)
        answer = await answer_of(press)
    assert answer.content == f"Module #{module_id} is paused."


async def test_notify_me_and_notify_channel_and_refusals(env: Env) -> None:
    notifier = env.chat.notifier
    await notifier.notify({"kind": "user", "user": str(env.alice)}, "for your eyes", {})
    (dm,) = env.sb.dm_messages(env.alice)
    assert dm.content == "for your eyes" and dm.embeds == [] and dm.components == []
    await notifier.notify(
        {"kind": "channel", "channel": "alerts", "place": str(env.guild)}, "to alerts", {}
    )
    assert [m.content for m in env.sb.messages(env.alerts)] == ["to alerts"]
    with pytest.raises(ActionError) as forbidden:
        await notifier.notify({"kind": "here", "channel": str(env.locked)}, "x", {})
    assert forbidden.value.permanent and "403" in str(forbidden.value)
    with pytest.raises(ActionError) as unknown:
        await notifier.notify(
            {"kind": "channel", "channel": "gone", "place": str(env.guild)}, "x", {}
        )
    assert unknown.value.permanent and "no channel #gone" in str(unknown.value)
    closed = env.sb.add_user("closed", dms_open=False)
    with pytest.raises(ActionError) as no_dms:
        await notifier.notify({"kind": "user", "user": str(closed)}, "x", {})
    assert no_dms.value.permanent


async def test_heartbeat_message_is_edited_in_place(env: Env) -> None:
    class Status:
        beats = 0

        def status_fields(self) -> list[tuple[str, str]]:
            self.beats += 1
            return [("uptime", f"{self.beats}m"), ("matches", "@everyone 3")]

        def problems(self) -> dict[str, str]:
            return {}

    assert "every 10m" in (await env.slash(env.mod, "heartbeat", mode="here", every="10m")).text
    before = len(env.sb.messages(env.general))
    service = HeartbeatService(
        store=env.store, status=Status(), notifiers={"discord": env.chat.notifier}
    )
    await service.beat("discord", str(env.general))
    await service.beat("discord", str(env.general))
    status_messages = env.sb.messages(env.general)[before:]
    assert len(status_messages) == 1, "edited, not reposted"
    (msg,) = status_messages
    assert msg.edit_count == 1 and "uptime   2m" in msg.content and msg.content.startswith("```")
    assert msg.pinged_user_ids == [] and not msg.pings_everyone
    (record,) = await env.store.heartbeats()
    assert record.message_id == str(msg.id)
    env.sb.world.message(msg.id).deleted = True
    await service.beat("discord", str(env.general))
    (replacement,) = env.sb.messages(env.general)[before:]
    assert replacement.id != msg.id and "uptime   3m" in replacement.content


async def test_429_on_message_create_is_retried(env: Env) -> None:
    env.sb.force_429(f"/channels/{env.general}/messages", n=2, retry_after=0.05, method="POST")
    mid = await env.chat.notifier.notify(
        {"kind": "here", "channel": str(env.general)}, "after two 429s", card_of(spez_thing(), 1)
    )
    statuses = [r.status for r in env.sb.find_requests("POST", f"/channels/{env.general}/messages")]
    assert statuses == [429, 429, 200]
    assert [m.id for m in env.sb.messages(env.general)] == [int(mid or 0)]


async def test_burst_of_200_is_delivered_in_order(env: Env) -> None:
    env.sb.set_rate_limit(20, 0.2)
    target = {"kind": "here", "channel": str(env.general)}
    thing = spez_thing()
    started = time.monotonic()
    for n in range(200):
        await env.chat.notifier.notify(target, f"match {n}", card_of(thing, 1, score=n))
    elapsed = time.monotonic() - started
    delivered = env.sb.messages(env.general)
    assert [m.content for m in delivered] == [f"match {n}" for n in range(200)]
    posts = env.sb.find_requests("POST", f"/channels/{env.general}/messages")
    assert sum(r.status == 200 for r in posts) == 200
    assert elapsed >= 9 * 0.2 * 0.9, "200 at 20 per 0.2 s needs ten windows"


async def test_gateway_disconnect_during_a_burst_loses_nothing(env: Env) -> None:
    env.sb.set_rate_limit(10, 0.1)
    target = {"kind": "here", "channel": str(env.general)}
    thing = spez_thing()

    async def burst() -> None:
        for n in range(60):
            await env.chat.notifier.notify(target, f"match {n}", card_of(thing, 1, score=n))

    sending = asyncio.create_task(burst())
    await env.sb.wait_for_messages(env.general, 15)
    async with env.sb.outage(code=4000):
        await env.sb.wait_for_messages(env.general, 30)
    await sending
    (resume,) = await env.sb.wait_resumed(1)
    assert resume.ok and env.sb.gateway.identifies == 1
    assert [m.content for m in env.sb.messages(env.general)] == [f"match {n}" for n in range(60)]
    after = await env.slash(env.alice, "help", topic="list")
    assert "list [mine | all]" in after.text, "commands work after the resume"


async def test_engine_matches_arrive_as_cards_with_working_buttons(env: Env) -> None:
    """The engine's own notify payloads (bot.engine.runtime), run through its outbox."""
    rule = 'on posts in r/pics then notify here "{title} by u/{author}", notify me'
    module_id = await create(env, env.alice, rule)
    things = [t for t in load_sample() if t["kind"] == "t3" and t["data"]["subreddit"] == "pics"]
    engine = Engine(
        store=env.store,
        outbox=Outbox(env.store),
        reddit=cast(Any, None),  # no Reddit action in this rule
        notifiers={"discord": env.chat.notifier},
    )
    await env.store.keep_items(things, keep=1000)
    await engine.reload_modules()
    assert await engine.process(things) == len(things)
    assert await engine.run_due_actions() == 2 * len(things)
    cards = [m for m in env.sb.messages(env.general) if m.interaction_id is None]
    expected = [f"{t['data']['title']} by u/{t['data']['author']}" for t in things]
    assert [m.content.replace("\\", "") for m in cards] == expected
    assert len(env.sb.dm_messages(env.alice)) == len(things)
    first = things[0]["data"]
    assert cards[0].embeds[0]["url"] == f"https://www.reddit.com{first['permalink']}"
    press = await env.sb.press_button(
        cards[0].id, f"roveit:full:{module_id}:{first['name']}", env.bob
    )
    assert (await answer_of(press)).ephemeral
    counts = await env.store.action_counts()
    assert counts.get("done") == 2 * len(things) and not counts.get("failed")

"""The real discord.py 2.x client against the local Discord sandbox.

A small bot (a /roveit group with a string option, an integer option with autocomplete,
a deferred command and a button view) is started for each test and driven like a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.sandbox.discord import DiscordSandbox, configure_discord_py, reset_discord_py
from bot.sandbox.discord_import import discord

app_commands = discord.app_commands

TOKEN = "e2e-sandbox-token"
MODULES = {1: "buildapcsales 4090", 2: "python async", 12: "pics imgur"}


class PauseView(discord.ui.View):
    """A button that edits its own message in place."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Pause", custom_id="roveit:pause", style=discord.ButtonStyle.danger)
    async def pause(
        self, interaction: discord.Interaction, button: discord.ui.Button[PauseView]
    ) -> None:
        await interaction.response.edit_message(content="module 1 paused", view=None)


def build_tree(client: discord.Client) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    group = app_commands.Group(name="roveit", description="Reddit rules in chat")

    @group.command(name="create", description="Create a module from a rule")
    @app_commands.describe(rule="on posts in r/... if ... then ...")
    async def create(interaction: discord.Interaction, rule: str) -> None:
        await interaction.response.send_message(f"created module 1: {rule}", view=PauseView())
        await interaction.followup.send("claim token: abc123", ephemeral=True)

    @group.command(name="show", description="Show a module")
    @app_commands.describe(id="module id")
    async def show(interaction: discord.Interaction, id: int) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content=f"module {id}: {MODULES.get(id, '?')}")

    @show.autocomplete("id")
    async def show_ids(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        typed = str(current)
        return [
            app_commands.Choice(name=f"{i}: {text}", value=i)
            for i, text in MODULES.items()
            if str(i).startswith(typed)
        ]

    tree.add_command(group)
    return tree


class RoveitTestBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = build_tree(self)
        self.ready_event = asyncio.Event()
        self.resumed_event = asyncio.Event()
        self.user_messages: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before a re-IDENTIFY (Discord's identify limit); not here."""

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_resumed(self) -> None:
        self.resumed_event.set()

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            await self.user_messages.put(message)


@dataclass
class Env:
    sb: DiscordSandbox
    bot: RoveitTestBot
    guild_id: int
    general: int
    locked: int
    alice: int


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sb = DiscordSandbox(token=TOKEN, heartbeat_interval=0.5, rate_limit=5, rate_limit_per=0.5)
    guild = sb.add_guild(name="Roveit Test")
    general = sb.add_channel(guild.id, "general")
    locked = sb.add_channel(guild.id, "announcements", bot_can_send=False)
    alice = sb.add_user("alice")
    sb.add_member(guild.id, alice)
    await sb.start()
    configure_discord_py(sb.api_base, sb.gateway_url)
    bot = RoveitTestBot()
    runner = asyncio.create_task(bot.start(TOKEN))
    try:
        await asyncio.wait_for(bot.ready_event.wait(), 10)
        yield Env(sb, bot, guild.id, general, locked, alice)
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(runner, 10)
        await sb.stop()
        reset_discord_py()


async def test_connects_and_sees_the_guild(env: Env) -> None:
    guild = env.bot.get_guild(env.guild_id)
    assert guild is not None and guild.name == "Roveit Test"
    assert {c.name for c in guild.text_channels} == {"general", "announcements"}
    assert env.bot.user is not None and env.bot.user.id == env.sb.bot_id
    locked = guild.get_channel(env.locked)
    assert isinstance(locked, discord.TextChannel)
    assert not locked.permissions_for(guild.me).send_messages
    hello = [p for p in env.sb.gateway.received if p.get("op") == 2]
    assert hello and hello[0]["d"]["token"] == TOKEN
    assert env.sb.gateway.connections, "the gateway connection is open"
    assert next(iter(env.sb.gateway.connections)).compress == "zlib-stream"
    assert env.sb.heartbeats >= 1, "discord.py heartbeats right after HELLO"


async def test_command_sync_is_recorded(env: Env) -> None:
    puts = env.sb.find_requests("PUT", f"/applications/{env.sb.application_id}/commands")
    assert len(puts) == 1 and puts[0].status == 200
    (roveit,) = env.sb.commands()
    subcommands = {o["name"]: o for o in roveit["options"]}
    assert set(subcommands) == {"create", "show"}
    assert subcommands["create"]["options"][0] == {
        "type": 3,
        "name": "rule",
        "description": "on posts in r/... if ... then ...",
        "required": True,
    }
    assert subcommands["show"]["options"][0]["type"] == 4
    assert subcommands["show"]["options"][0]["autocomplete"] is True


async def test_slash_command_answered_with_response_and_followup(env: Env) -> None:
    rule = 'on posts in r/buildapcsales if title contains "4090" then notify here'
    interaction = await env.sb.slash(
        env.guild_id, env.general, env.alice, "roveit", "create", options={"rule": rule}
    )
    reply = await interaction.response(timeout=5)
    assert reply["type"] == 4
    assert reply["data"]["content"] == f"created module 1: {rule}"
    assert interaction.latency is not None and interaction.latency < 3.0
    (followup,) = await interaction.followups(1, timeout=5)
    assert followup.content == "claim token: abc123" and followup.ephemeral
    original = interaction.original()
    assert original.components[0]["components"][0]["custom_id"] == "roveit:pause"
    assert [m.content for m in env.sb.messages(env.general) if not m.ephemeral] == [
        original.content
    ]


async def test_deferred_response_then_edit_original(env: Env) -> None:
    interaction = await env.sb.slash(
        env.guild_id, env.general, env.alice, "roveit", "show", options={"id": 2}
    )
    assert (await interaction.response(timeout=5))["type"] == 5
    original = await interaction.original_edited(1, timeout=5)
    assert original.content == "module 2: python async"
    assert not original.flags & discord.MessageFlags.loading.flag
    patches = env.sb.find_requests("PATCH", f"/webhooks/{env.sb.application_id}/")
    assert [p.path.rsplit("/", 1)[-1] for p in patches] == ["@original"]


async def test_autocomplete_offers_choices(env: Env) -> None:
    choices = await env.sb.autocomplete(
        env.guild_id,
        env.general,
        env.alice,
        "roveit",
        "show",
        options={"id": "1"},
        focused="id",
    )
    assert choices == [
        {"name": "1: buildapcsales 4090", "value": 1},
        {"name": "12: pics imgur", "value": 12},
    ]


async def test_button_press_edits_the_message(env: Env) -> None:
    created = await env.sb.slash(
        env.guild_id, env.general, env.alice, "roveit", "create", options={"rule": "r"}
    )
    await created.response(timeout=5)
    message = created.original()
    press = await env.sb.press_button(message.id, "roveit:pause", env.alice)
    assert (await press.response(timeout=5))["type"] == 7
    assert message.content == "module 1 paused"
    assert message.components == [] and message.edit_count == 1


async def test_send_embed_without_pings_then_edit_in_place(env: Env) -> None:
    channel = env.bot.get_channel(env.general)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="r/buildapcsales", description="RTX 4090 deal")
    sent = await channel.send(
        f"<@{env.alice}> match", embed=embed, allowed_mentions=discord.AllowedMentions.none()
    )
    await sent.edit(content=f"<@{env.alice}> match (2 more)")
    (stored,) = env.sb.messages(env.general)
    assert stored.id == sent.id
    assert stored.content.endswith("(2 more)") and stored.edit_count == 1
    assert stored.history[0]["content"] == f"<@{env.alice}> match"
    assert stored.embeds[0]["title"] == "r/buildapcsales"
    (create,) = env.sb.find_requests("POST", f"/channels/{env.general}/messages")
    assert create.json["allowed_mentions"]["parse"] == []
    assert stored.allowed_mentions is not None and stored.allowed_mentions["parse"] == []
    assert stored.pinged_user_ids == []


async def test_resume_delivers_events_sent_during_the_gap(env: Env) -> None:
    async with env.sb.outage(code=4000):
        gap_message = await env.sb.user_message(env.general, env.alice, "said while you were away")
    await asyncio.wait_for(env.bot.resumed_event.wait(), 10)
    received = await asyncio.wait_for(env.bot.user_messages.get(), 5)
    assert received.id == gap_message.id
    (resume,) = env.sb.gateway.resumes
    assert resume.ok and resume.replayed == 1
    assert env.sb.gateway.identifies == 1, "resumed, not re-identified"


async def test_rate_limited_message_is_retried_and_delivered(env: Env) -> None:
    env.sb.force_429(f"/channels/{env.general}/messages", n=1, retry_after=0.05, method="POST")
    channel = env.bot.get_channel(env.general)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("after a 429")
    statuses = [r.status for r in env.sb.find_requests("POST", f"/channels/{env.general}/messages")]
    assert statuses == [429, 200]
    assert [m.id for m in env.sb.messages(env.general)] == [sent.id]


async def test_bucket_limit_is_respected_by_discordpy(env: Env) -> None:
    env.sb.set_rate_limit(2, 0.3)
    channel = env.bot.get_channel(env.general)
    assert isinstance(channel, discord.TextChannel)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(5):
        await channel.send(f"burst {n}")
    elapsed = loop.time() - started
    assert [m.content for m in env.sb.messages(env.general)] == [f"burst {n}" for n in range(5)]
    requests = env.sb.find_requests("POST", f"/channels/{env.general}/messages")
    assert [r.status for r in requests] == [200] * 5, "discord.py waited on the headers, no 429"
    assert elapsed >= 0.5, f"5 sends at 2 per 0.3 s need two waits, took {elapsed:.2f}s"


async def test_forbidden_when_the_bot_cannot_post(env: Env) -> None:
    channel = env.bot.get_channel(env.locked)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("nope")
    assert caught.value.code == 50013
    assert env.sb.messages(env.locked) == []


async def test_dm_to_a_user(env: Env) -> None:
    user = await env.bot.fetch_user(env.alice)
    sent = await user.send("your module matched")
    (stored,) = env.sb.dm_messages(env.alice)
    assert stored.id == sent.id and stored.content == "your module matched"


async def test_network_drop_without_close_frame_resumes(env: Env) -> None:
    env.bot.resumed_event.clear()
    assert await env.sb.disconnect(code=None) == 1
    await asyncio.wait_for(env.bot.resumed_event.wait(), 10)
    await env.sb.user_message(env.general, env.alice, "after the drop")
    received = await asyncio.wait_for(env.bot.user_messages.get(), 5)
    assert received.content == "", "no message content intent: others' text is hidden"
    assert env.sb.gateway.resumes[-1].ok and env.sb.gateway.identifies == 1


async def test_invalidated_session_makes_discordpy_identify_again(env: Env) -> None:
    env.bot.ready_event.clear()
    await env.sb.disconnect(code=4000, resumable=False)
    await asyncio.wait_for(env.bot.ready_event.wait(), 10)
    assert env.sb.gateway.identifies == 2
    assert [r.ok for r in env.sb.gateway.resumes] == [False]
    assert env.bot.get_guild(env.guild_id) is not None


async def test_slash_command_in_a_dm(env: Env) -> None:
    dm = env.sb.world.dm_channel(env.alice).id
    interaction = await env.sb.slash(None, dm, env.alice, "roveit", "create", options={"rule": "r"})
    reply = await interaction.response(timeout=5)
    assert reply["data"]["content"] == "created module 1: r"
    assert "user" in interaction.payload and "member" not in interaction.payload
    assert [m.content for m in env.sb.dm_messages(env.alice)][0] == "created module 1: r"


async def test_world_changes_after_connect_are_announced(env: Env) -> None:
    alerts = env.sb.add_channel(env.guild_id, "alerts")
    await env.sb.announce_guild(env.guild_id)
    await env.sb.user_message(alerts, env.alice, "ping")
    received = await asyncio.wait_for(env.bot.user_messages.get(), 5)
    assert isinstance(received.channel, discord.TextChannel) and received.channel.name == "alerts"
    sent = await received.channel.send("pong")
    edit = asyncio.create_task(env.sb.wait_for_edit(sent.id, timeout=5))
    await sent.edit(content="pong!")
    assert (await edit).content == "pong!"

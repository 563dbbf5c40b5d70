"""The whole bot as `roveit start` assembles it, with DISCORD_TOKEN set: the real discord.py
against the local Discord, the real asyncpraw against the bundled replay. A slash command
creates a module; a replayed Reddit item makes it post a notification in that channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import _serve, running
from bot.config import load_settings
from bot.sandbox.discord import DiscordSandbox, reset_discord_py
from tests.reddit.harness import ASYNCPRAW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]

TOKEN = "full-stack-token"


@pytest.mark.parametrize(
    "gateway_setting", [True, False], ids=["gateway-url", "gateway-discovered"]
)
async def test_slash_create_then_a_replayed_post_notifies_the_channel(
    tmp_path: Path, gateway_setting: bool
) -> None:
    sb = DiscordSandbox(token=TOKEN, heartbeat_interval=0.5)
    guild = sb.add_guild(name="Full Stack")
    channel = sb.add_channel(guild.id, "general")
    alice = sb.add_user("alice")
    sb.add_member(guild.id, alice)
    api_base, gateway_url = await sb.start()
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/roveit.sqlite3",
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": api_base,
            # without DISCORD_GATEWAY_URL the bot asks the API's /gateway/bot
            "DISCORD_GATEWAY_URL": gateway_url if gateway_setting else "",
            "ROVEIT_REPLAY_RATE": "20",
            "ROVEIT_POLL_INTERVAL": "0.5",
        },
        dotenv=None,
    )
    stop = asyncio.Event()
    try:
        async with running(settings, say=lambda text: None) as bot:
            serving = asyncio.create_task(_serve(bot, stop, with_chats=True))
            await sb.wait_for_commands(timeout=15)
            await sb.wait_ready(timeout=15)
            inter = await sb.slash(
                guild.id,
                channel,
                alice,
                "roveit",
                "create",
                options={"rule": 'on posts if score >= 1 then notify here "{subreddit}: {title}"'},
            )
            response = await inter.response(timeout=5)
            assert response["type"] in (4, 5)
            messages = await sb.wait_for_messages(channel, 2, timeout=20)
            assert "Created module #1." in messages[0].embeds[0]["description"]
            card = messages[1]
            assert card.embeds, card
            assert card.embeds[0].get("url", "").startswith("https://www.reddit.com/r/"), (
                card.embeds
            )
            assert card.allowed_mentions is not None and card.allowed_mentions.get("parse") == []
            stop.set()
            await asyncio.wait_for(serving, 20)
    finally:
        stop.set()
        await sb.stop()
        reset_discord_py()


async def test_the_engine_alone_delivers_discord_notifications_but_answers_no_commands(
    tmp_path: Path,
) -> None:
    sb = DiscordSandbox(token=TOKEN, heartbeat_interval=0.5)
    guild = sb.add_guild(name="Engine Only")
    channel = sb.add_channel(guild.id, "general")
    api_base, gateway_url = await sb.start()
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/roveit.sqlite3",
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": api_base,
            "DISCORD_GATEWAY_URL": gateway_url,
            "ROVEIT_REPLAY_RATE": "20",
            "ROVEIT_POLL_INTERVAL": "0.5",
        },
        dotenv=None,
    )
    stop = asyncio.Event()
    try:
        async with running(settings, say=lambda text: None) as bot:
            await bot.store.create_module(
                rule="on posts if score >= 1 then notify here",
                owner="discord:42",
                token_hash=None,
                chat="discord",
                place=str(guild.id),
                channel=str(channel),
                now=0.0,
            )
            serving = asyncio.create_task(_serve(bot, stop, with_chats=False))
            (card,) = await sb.wait_for_messages(channel, 1, timeout=20)
            assert card.embeds[0].get("url", "").startswith("https://www.reddit.com/r/")
            assert sb.find_requests("PUT", "/applications/") == []  # no command tree synced
            stop.set()
            await asyncio.wait_for(serving, 20)
    finally:
        stop.set()
        await sb.stop()
        reset_discord_py()

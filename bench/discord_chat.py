"""Discord chat figures against the local Discord sandbox: ``python -m bench.discord_chat``.

* interaction -> response: the sandbox's send-to-callback time over 100 /roveit commands
  (and, for deferred ones, the time until the real answer replaced "thinking…");
* notifications a second into one channel and into ten channels, under the sandbox's
  default message limit (5 per channel per 5 s, like Discord's), sent one after another
  as the engine's action loop does, and with one sender per channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.chat.discord_app import DiscordChat
from bot.commands.base import Context
from bot.commands.dispatch import CommandRateLimiter
from bot.commands.testing import KeptItems
from bot.config import Settings
from bot.data import load_sample
from bot.sandbox.discord import DiscordSandbox, Interaction, reset_discord_py
from bot.store.db import Store

TOKEN = "roveit-bench"
RULE = 'on posts in r/announcements if title contains "reddit" then notify here'


@dataclass
class Host:
    settings: Settings
    ctx: Context
    limiter: CommandRateLimiter


@dataclass
class World:
    sb: DiscordSandbox
    chat: DiscordChat
    guild: int
    channels: list[int]
    user: int


def command_mix(count: int) -> list[tuple[str, dict[str, Any]]]:
    """A realistic spread: lookups, creates, tests and status, cycling until ``count``."""
    mix: list[tuple[str, dict[str, Any]]] = [
        ("create", {"rule": RULE}),
        ("list", {}),
        ("show", {"module": 1}),
        ("help", {}),
        ("status", {}),
        ("test", {"rule_or_id": "1"}),
        ("backtest", {"rule_or_id": RULE, "last": 400}),
        ("pause", {"module": 1}),
        ("resume", {"module": 1}),
        ("list", {"scope": "all"}),
    ]
    return [mix[n % len(mix)] for n in range(count)]


async def finished(inter: Interaction) -> float:
    """Seconds from sending to the final answer (the callback, or the deferred edit)."""
    response = await inter.response(timeout=10)
    if response["type"] == 5:
        async with inter.changed:
            await asyncio.wait_for(
                inter.changed.wait_for(lambda: bool(inter.original_edits or inter.followup_ids)),
                10,
            )
    return time.monotonic() - inter.sent_at


async def measure_commands(world: World, count: int) -> dict[str, Any]:
    first: list[float] = []
    final: list[float] = []
    deferred = 0
    for sub, options in command_mix(count):
        inter = await world.sb.slash(
            world.guild, world.channels[0], world.user, "roveit", sub, options=options
        )
        final.append(await finished(inter))
        assert inter.latency is not None
        first.append(inter.latency)
        deferred += inter.callback is not None and inter.callback["type"] == 5
    return {
        "commands": count,
        "deferred": deferred,
        "response_median_ms": round(statistics.median(first) * 1000, 2),
        "response_worst_ms": round(max(first) * 1000, 2),
        "answer_median_ms": round(statistics.median(final) * 1000, 2),
        "answer_worst_ms": round(max(final) * 1000, 2),
    }


def card(n: int) -> dict[str, Any]:
    return {
        "module": 1,
        "kind": "t3",
        "id": f"b{n:05d}",
        "title": f"bench post {n}",
        "permalink": f"https://www.reddit.com/r/bench/comments/b{n:05d}/",
        "subreddit": "bench",
        "author": "someone",
        "flair": "",
        "score": n,
        "body": "x" * 400,
        "url": "",
    }


async def measure_notifications(
    world: World, channels: list[int], per_channel: int, *, concurrent: bool
) -> dict[str, Any]:
    notifier = world.chat.notifier
    before = {c: len(world.sb.messages(c)) for c in channels}

    async def send(channel: int, n: int) -> None:
        await notifier.notify({"kind": "here", "channel": str(channel)}, f"match {n}", card(n))

    started = time.monotonic()
    if concurrent:

        async def sender(channel: int) -> None:
            for n in range(per_channel):
                await send(channel, n)

        await asyncio.gather(*(sender(c) for c in channels))
    else:  # one after another, round robin, as the engine's single action loop would
        for n in range(per_channel):
            for channel in channels:
                await send(channel, n)
    elapsed = time.monotonic() - started
    for channel in channels:
        got = [m.content for m in world.sb.messages(channel)[before[channel] :]]
        assert got == [f"match {n}" for n in range(per_channel)], "lost or out of order"
    total = per_channel * len(channels)
    posts = [r for r in world.sb.requests if r.method == "POST" and "/messages" in r.path]
    return {
        "channels": len(channels),
        "sent": total,
        "mode": "concurrent" if concurrent else "sequential",
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 2),
        "http_429s_so_far": sum(r.status == 429 for r in posts),
    }


async def run(*, commands: int, per_channel: int) -> dict[str, Any]:
    sb = DiscordSandbox(token=TOKEN)  # default limits: 5 messages per channel per 5 s
    guild = sb.add_guild(name="bench")
    channels = [sb.add_channel(guild.id, f"c{n}") for n in range(10)]
    user = sb.add_user("bencher")
    sb.add_member(guild.id, user, manage_guild=True)
    await sb.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.sqlite3")
        await store.keep_items(load_sample(), keep=1000)
        ctx = Context(store=store, items=KeptItems(store), clock=time.time)
        settings = Settings(
            discord_token=TOKEN, discord_api_base=sb.api_base, discord_gateway_url=sb.gateway_url
        )
        chat = DiscordChat(
            Host(settings, ctx, CommandRateLimiter(count=100_000)), guild_ready_timeout=0.05
        )
        ctx.check_actions = chat.check_actions
        stop = asyncio.Event()
        task = asyncio.create_task(chat.run(stop))
        try:
            await chat.wait_ready(10)
            await sb.wait_for_commands()
            world = World(sb, chat, guild.id, channels, user)
            results = {
                "interactions": await measure_commands(world, commands),
                "notify_one_channel": await measure_notifications(
                    world, channels[:1], per_channel * 2, concurrent=False
                ),
                "notify_ten_channels_sequential": await measure_notifications(
                    world, channels, per_channel, concurrent=False
                ),
                "notify_ten_channels_concurrent": await measure_notifications(
                    world, channels, per_channel, concurrent=True
                ),
            }
        finally:
            stop.set()
            await task
            await store.close()
            await sb.stop()
            reset_discord_py()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--per-channel", type=int, default=10, help="notifications per channel")
    args = parser.parse_args()
    results = asyncio.run(run(commands=args.commands, per_channel=args.per_channel))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

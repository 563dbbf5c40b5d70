"""Notifications into Discord (the engine's NotifyPort) and the checks made before a rule runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot.chat.discord_render import (
    NO_MENTIONS,
    Outgoing,
    card_fullname,
    code_block,
    full_custom_id,
    is_card,
    notification,
    pause_custom_id,
    truncate,
)
from bot.commands.base import Caller
from bot.engine.ports import ActionError
from bot.grammar import ast
from bot.sandbox.discord_import import discord

log = logging.getLogger(__name__)

READY_WAIT = 30.0  # seconds a notification waits for the connection before it is retried later
RETRY_LATER = 30.0
STATUS_LIMIT = 1990  # a status message's characters inside its code block


class Connection(Protocol):
    """The live discord.py client, which a restart replaces."""

    @property
    def client(self) -> discord.Client: ...

    async def wait_logged_in(self, timeout: float) -> bool: ...

    async def wait_ready(self, timeout: float) -> bool: ...


# ---- buttons --------------------------------------------------------------------


def card_view(card: Mapping[str, Any]) -> discord.ui.View:
    """The two buttons of a match; their custom ids carry all they need, so they outlive us."""
    module_id = int(card["module"])
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Show full",
            style=discord.ButtonStyle.secondary,
            custom_id=full_custom_id(module_id, card_fullname(card)),
        )
    )
    view.add_item(
        discord.ui.Button(
            label="Pause module",
            style=discord.ButtonStyle.danger,
            custom_id=pause_custom_id(module_id),
        )
    )
    view.stop()  # nothing to listen for here: presses are routed by custom id
    return view


# ---- where a notification goes ------------------------------------------------------


def find_text_channel(guild: discord.Guild, name: str) -> discord.TextChannel | None:
    """A channel by id (from a <#id> mention) or by name, as the rule wrote it."""
    wanted = name.lstrip("#")
    if wanted.isdigit():
        found = guild.get_channel(int(wanted))
        return found if isinstance(found, discord.TextChannel) else None
    folded = wanted.casefold()
    for channel in guild.text_channels:
        if channel.name.casefold() == folded:
            return channel
    return None


def send_problem(channel: discord.TextChannel) -> str | None:
    """What stops the bot from posting a notification there, in words."""
    perms = channel.permissions_for(channel.guild.me)
    missing = [
        label
        for label, ok in (
            ("View Channel", perms.view_channel),
            ("Send Messages", perms.send_messages),
            ("Embed Links", perms.embed_links),
        )
        if not ok
    ]
    if not missing:
        return None
    return f"I cannot post in #{channel.name}: I need {', '.join(missing)} there"


def _failure(exc: discord.HTTPException, where: str) -> ActionError:
    """Discord's answer as an ActionError: 4xx cannot get better by retrying, 5xx may."""
    detail = f"Discord refused the notification to {where}: {exc.status} {exc.text or exc}"
    if exc.status == 429:
        return ActionError(detail, retry_after=RETRY_LATER)
    return ActionError(detail, permanent=400 <= exc.status < 500)


class DiscordNotifier:
    """Posts matches and status messages; one lock per channel keeps them in order."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._dm_channels: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None:
        where = f"{target.get('kind')} {target.get('channel') or target.get('user') or ''}".strip()
        try:
            channel_id = await self._destination(target)
            message = await self._send(channel_id, notification(text, card), card)
        except discord.HTTPException as exc:
            raise _failure(exc, where) from exc
        return str(message.id)

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        """Edit the status message in place; a new one only when it is gone."""
        await self._logged_in()
        client = self._conn.client
        target = client.get_partial_messageable(int(channel))
        content = code_block(truncate(text, STATUS_LIMIT - 10))
        try:
            async with self._lock(int(channel)):
                if message_id:
                    try:
                        edited = await target.get_partial_message(int(message_id)).edit(
                            content=content, allowed_mentions=NO_MENTIONS
                        )
                        return str(edited.id)
                    except discord.NotFound:
                        log.info(
                            "status message %s in %s is gone; posting anew", message_id, channel
                        )
                sent = await target.send(content, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            raise _failure(exc, f"channel {channel}") from exc
        return str(sent.id)

    def _lock(self, channel_id: int) -> asyncio.Lock:
        lock = self._locks.get(channel_id)
        if lock is None:
            lock = self._locks[channel_id] = asyncio.Lock()
        return lock

    async def _send(
        self, channel_id: int, parts: Outgoing, card: Mapping[str, Any]
    ) -> discord.Message:
        channel = self._conn.client.get_partial_messageable(channel_id)
        kwargs = parts.kwargs()
        if is_card(card):
            kwargs["view"] = card_view(card)
        async with self._lock(channel_id):
            return await channel.send(**kwargs)

    async def _logged_in(self) -> None:
        if not await self._conn.wait_logged_in(READY_WAIT):
            raise ActionError("the Discord connection is not up yet", retry_after=RETRY_LATER)

    async def _destination(self, target: Mapping[str, Any]) -> int:
        """The channel id a target names: here, a user's DMs, or a server channel by name."""
        kind = target.get("kind")
        await self._logged_in()
        if kind == "here":
            channel = str(target.get("channel") or "")
            if not channel.isdigit():
                raise ActionError("the module has no Discord channel to notify", permanent=True)
            return int(channel)
        if kind == "user":
            return await self._dm_channel(str(target.get("user") or ""))
        if kind == "channel":
            return await self._server_channel(
                str(target.get("channel") or ""), str(target.get("place") or "")
            )
        raise ActionError(f"unknown notify target {kind!r}", permanent=True)

    async def _dm_channel(self, user: str) -> int:
        if not user.isdigit():
            raise ActionError(f"{user!r} is not a Discord user id", permanent=True)
        user_id = int(user)
        known = self._dm_channels.get(user_id)
        if known is not None:
            return known
        client = self._conn.client
        found = client.get_user(user_id) or await client.fetch_user(user_id)
        dm = found.dm_channel or await found.create_dm()
        self._dm_channels[user_id] = dm.id
        return dm.id

    async def _server_channel(self, name: str, place: str) -> int:
        if not place.isdigit():
            raise ActionError(
                "notify #channel works only for a module made in a server", permanent=True
            )
        if not await self._conn.wait_ready(READY_WAIT):
            raise ActionError("the Discord connection is not ready yet", retry_after=RETRY_LATER)
        guild = self._conn.client.get_guild(int(place))
        if guild is None:
            raise ActionError(f"I am no longer in server {place}", permanent=True)
        channel = find_text_channel(guild, name)
        if channel is None:
            raise ActionError(f"there is no channel #{name} in {guild.name}", permanent=True)
        return channel.id


async def check_rule_actions(client: discord.Client, rule: ast.Rule, caller: Caller) -> list[str]:
    """Problems with a new rule's Discord actions, found before it is saved."""
    problems: list[str] = []
    for action in rule.actions:
        if not isinstance(action, ast.Notify):
            continue
        if action.target == "channel":
            problem = _channel_problem(client, action.channel or "", caller)
        elif action.target == "here":
            problem = _here_problem(client, caller)
        else:
            continue
        if problem and problem not in problems:
            problems.append(problem)
    return problems


def _here_problem(client: discord.Client, caller: Caller) -> str | None:
    """notify here in a server channel the bot may not post in would fail at every match."""
    if not (caller.place.isdigit() and caller.channel and caller.channel.isdigit()):
        return None
    guild = client.get_guild(int(caller.place))
    channel = guild.get_channel(int(caller.channel)) if guild is not None else None
    if not isinstance(channel, discord.TextChannel):
        return None  # threads and the like: Discord answers at the first match
    return send_problem(channel)


def _channel_problem(client: discord.Client, name: str, caller: Caller) -> str | None:
    if not caller.place.isdigit():
        return f"notify #{name} needs a server channel; in DMs use notify here or notify me"
    guild = client.get_guild(int(caller.place))
    if guild is None:
        return "I cannot see this server's channels yet; try again in a moment"
    channel = find_text_channel(guild, name)
    if channel is None:
        shown = f"<#{name}>" if name.isdigit() else f"#{name}"
        return f"there is no text channel {shown} in this server"
    return send_problem(channel)

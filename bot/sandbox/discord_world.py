"""The local Discord's world: users, guilds, channels, roles, members, messages and commands.

Plain data plus the JSON shapes Discord's API uses for them, so the REST routes, the
gateway and the interaction builder all render the same objects the same way.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

CHANNEL_KINDS: Mapping[str, int] = {
    "text": 0,
    "dm": 1,
    "voice": 2,
    "category": 4,
    "announcement": 5,
    "forum": 15,
}

MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


class SnowflakeFactory:
    """Makes increasing ids shaped like Discord's, so discord.py's created_at is sane."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> int:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    dms_open: bool = True


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0


@dataclass
class Member:
    user_id: int
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    extra_permissions: int = 0
    joined_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    recipient_id: int | None = None  # DM channels
    last_message_id: int | None = None


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    channel_ids: list[int] = field(default_factory=list)
    role_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)


@dataclass
class Message:
    """A message as the sandbox stores it; `history` holds every earlier version."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    flags: int = 0
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    message_type: int = 0
    pinged_user_ids: list[int] = field(default_factory=list)
    pinged_role_ids: list[int] = field(default_factory=list)
    pings_everyone: bool = False

    @property
    def edit_count(self) -> int:
        return len(self.history)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    def snapshot(self) -> dict[str, Any]:
        """The editable fields, as kept in `history` before each edit."""
        return {
            "content": self.content,
            "embeds": list(self.embeds),
            "components": list(self.components),
            "allowed_mentions": self.allowed_mentions,
            "flags": self.flags,
        }

    def to_json(self) -> dict[str, Any]:
        """The control API's view of a message (not Discord's payload)."""
        return {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author_id": str(self.author_id),
            "created_at": self.created_at,
            "edited_at": self.edited_at,
            "edit_count": self.edit_count,
            "ephemeral": self.ephemeral,
            "deleted": self.deleted,
            "interaction_id": None if self.interaction_id is None else str(self.interaction_id),
            "pinged_user_ids": [str(u) for u in self.pinged_user_ids],
            "history": self.history,
            **self.snapshot(),
        }


class WorldError(LookupError):
    """An unknown id was named while setting up or driving the world."""


class World:
    """Everything the local Discord knows; mutated only through these methods."""

    def __init__(self, *, bot_name: str = "roveit", application_id: int | None = None) -> None:
        self.next_id = SnowflakeFactory()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.roles: dict[int, Role] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.bot = self.add_user(bot_name, bot=True)
        self.application_id = application_id or self.bot.id

    # -- setup -----------------------------------------------------------

    def add_user(
        self, name: str, *, bot: bool = False, user_id: int | None = None, dms_open: bool = True
    ) -> User:
        user = User(id=user_id or self.next_id(), name=name, bot=bot, dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self, *, guild_id: int | None = None, name: str, owner_id: int | None = None
    ) -> Guild:
        gid = guild_id or self.next_id()
        if owner_id is None:
            owner_id = self.add_user(f"{name}-owner").id
        guild = Guild(id=gid, name=name, owner_id=owner_id)
        self.guilds[gid] = guild
        everyone = Role(
            id=gid, guild_id=gid, name="@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS
        )
        self.roles[gid] = everyone
        guild.role_ids.append(gid)
        self.add_member(gid, owner_id)
        self.add_member(gid, self.bot.id)
        return guild

    def add_role(self, guild_id: int, name: str, *, permissions: int = 0) -> Role:
        guild = self.guild(guild_id)
        role = Role(
            id=self.next_id(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=len(guild.role_ids),
        )
        self.roles[role.id] = role
        guild.role_ids.append(role.id)
        return role

    def add_channel(
        self, guild_id: int, name: str, *, kind: str = "text", bot_can_send: bool = True
    ) -> Channel:
        guild = self.guild(guild_id)
        if kind not in CHANNEL_KINDS or kind == "dm":
            raise WorldError(f"unknown channel kind {kind!r}; use one of {sorted(CHANNEL_KINDS)}")
        channel = Channel(
            id=self.next_id(),
            type=CHANNEL_KINDS[kind],
            name=name,
            guild_id=guild_id,
            position=len(guild.channel_ids),
        )
        if not bot_can_send:
            channel.overwrites.append(Overwrite(id=self.bot.id, type=1, deny=SEND_MESSAGES))
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        guild.channel_ids.append(channel.id)
        return channel

    def set_bot_can_send(self, channel_id: int, allowed: bool) -> None:
        channel = self.channel(channel_id)
        channel.overwrites = [o for o in channel.overwrites if o.id != self.bot.id]
        if not allowed:
            channel.overwrites.append(Overwrite(id=self.bot.id, type=1, deny=SEND_MESSAGES))

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: Iterable[int] = (),
        manage_guild: bool = False,
    ) -> Member:
        guild = self.guild(guild_id)
        self.user(user_id)
        role_ids = [int(r) for r in roles]
        for rid in role_ids:
            if rid not in guild.role_ids:
                raise WorldError(f"role {rid} is not in guild {guild_id}")
        member = Member(
            user_id=user_id,
            guild_id=guild_id,
            role_ids=role_ids,
            extra_permissions=MANAGE_GUILD if manage_guild else 0,
        )
        guild.members[user_id] = member
        return member

    def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user, made on first use as Discord does."""
        self.user(user_id)
        for channel in self.channels.values():
            if channel.type == CHANNEL_KINDS["dm"] and channel.recipient_id == user_id:
                return channel
        channel = Channel(
            id=self.next_id(), type=CHANNEL_KINDS["dm"], name="", recipient_id=user_id
        )
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        return channel

    # -- lookups ---------------------------------------------------------

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except KeyError:
            raise WorldError(f"unknown user {user_id}") from None

    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[int(guild_id)]
        except KeyError:
            raise WorldError(f"unknown guild {guild_id}") from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[int(channel_id)]
        except KeyError:
            raise WorldError(f"unknown channel {channel_id}") from None

    def message(self, message_id: int) -> Message:
        try:
            return self.messages[int(message_id)]
        except KeyError:
            raise WorldError(f"unknown message {message_id}") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        try:
            return self.guild(guild_id).members[int(user_id)]
        except KeyError:
            raise WorldError(f"user {user_id} is not a member of guild {guild_id}") from None

    def channel_message_list(self, channel_id: int) -> list[Message]:
        ids = self.channel_messages.get(int(channel_id), [])
        return [self.messages[m] for m in ids if not self.messages[m].deleted]

    def commands_for(self, guild_id: int | None) -> list[dict[str, Any]]:
        """Guild commands shadow global ones of the same name, as in Discord's client."""
        guild_cmds = self.guild_commands.get(guild_id, []) if guild_id is not None else []
        names = {c["name"] for c in guild_cmds}
        return guild_cmds + [c for c in self.global_commands if c["name"] not in names]

    # -- permissions -----------------------------------------------------

    def base_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guild(guild_id)
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = self.member(guild_id, user_id)
        perms = self.roles[guild.id].permissions | member.extra_permissions
        for rid in member.role_ids:
            perms |= self.roles[rid].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def channel_permissions(self, channel_id: int, user_id: int) -> int:
        """Discord's overwrite algorithm: @everyone, then roles, then the member."""
        channel = self.channel(channel_id)
        if channel.guild_id is None:
            return DEFAULT_EVERYONE_PERMISSIONS
        perms = self.base_permissions(channel.guild_id, user_id)
        if perms & ADMINISTRATOR or perms == ALL_PERMISSIONS:
            return perms
        member = self.member(channel.guild_id, user_id)
        by_id = {o.id: o for o in channel.overwrites}
        everyone = by_id.get(channel.guild_id)
        if everyone:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for rid in member.role_ids:
            if (o := by_id.get(rid)) and o.type == 0:
                allow |= o.allow
                deny |= o.deny
        perms = (perms & ~deny) | allow
        if (o := by_id.get(user_id)) and o.type == 1:
            perms = (perms & ~o.deny) | o.allow
        return perms

    def bot_can_send(self, channel_id: int) -> bool:
        perms = self.channel_permissions(channel_id, self.bot.id)
        return bool(perms & VIEW_CHANNEL and perms & SEND_MESSAGES)

    # -- messages --------------------------------------------------------

    def create_message(
        self, channel_id: int, author_id: int, body: Mapping[str, Any], **extra: Any
    ) -> Message:
        channel = self.channel(channel_id)
        msg = Message(
            id=self.next_id(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author_id,
            **extra,
        )
        apply_message_body(msg, body, self)
        self.messages[msg.id] = msg
        self.channel_messages.setdefault(channel.id, []).append(msg.id)
        channel.last_message_id = msg.id
        return msg

    def edit_message(self, msg: Message, body: Mapping[str, Any]) -> Message:
        msg.history.append(msg.snapshot())
        msg.edited_at = time.time()
        apply_message_body(msg, body, self)
        return msg

    # -- payloads --------------------------------------------------------

    def user_payload(self, user_id: int) -> dict[str, Any]:
        user = self.user(user_id)
        return {
            "id": str(user.id),
            "username": user.name,
            "global_name": user.name,
            "discriminator": "0",
            "avatar": None,
            "bot": user.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }

    def bot_user_payload(self) -> dict[str, Any]:
        return {**self.user_payload(self.bot.id), "verified": True, "mfa_enabled": False}

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot.name,
            "description": "local Discord sandbox application",
            "icon": None,
            "rpc_origins": [],
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.user_payload(self.bot.id),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_user_payload(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
        }

    def role_payload(self, role_id: int) -> dict[str, Any]:
        role = self.roles[role_id]
        return {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def member_payload(
        self, guild_id: int, user_id: int, *, channel_id: int | None = None, with_user: bool = True
    ) -> dict[str, Any]:
        member = self.member(guild_id, user_id)
        payload: dict[str, Any] = {
            "nick": None,
            "avatar": None,
            "roles": [str(r) for r in member.role_ids],
            "joined_at": iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user_payload(user_id)
        if channel_id is not None:
            payload["permissions"] = str(self.channel_permissions(channel_id, user_id))
        return payload

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        channel = self.channel(channel_id)
        last = None if channel.last_message_id is None else str(channel.last_message_id)
        if channel.guild_id is None:
            assert channel.recipient_id is not None
            return {
                "id": str(channel.id),
                "type": channel.type,
                "last_message_id": last,
                "recipients": [self.user_payload(channel.recipient_id)],
            }
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [
                {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                for o in channel.overwrites
            ],
            "nsfw": False,
            "topic": None,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def guild_payload(self, guild_id: int) -> dict[str, Any]:
        """The full GUILD_CREATE shape (REST GET /guilds/{id} reuses it)."""
        guild = self.guild(guild_id)
        bot_member = guild.members.get(self.bot.id)
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "features": [],
            "roles": [self.role_payload(r) for r in guild.role_ids],
            "emojis": [],
            "stickers": [],
            "joined_at": iso(bot_member.joined_at if bot_member else time.time()),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": [self.member_payload(guild.id, uid) for uid in guild.members],
            "channels": [self.channel_payload(c) for c in guild.channel_ids],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_progress_bar_enabled": False,
        }

    def message_payload(self, msg: Message) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "type": msg.message_type,
            "author": self.user_payload(msg.author_id),
            "content": msg.content,
            "timestamp": iso(msg.created_at),
            "edited_timestamp": None if msg.edited_at is None else iso(msg.edited_at),
            "tts": False,
            "mention_everyone": msg.pings_everyone,
            "mentions": [self.user_payload(u) for u in msg.pinged_user_ids if u in self.users],
            "mention_roles": [str(r) for r in msg.pinged_role_ids],
            "attachments": [],
            "embeds": msg.embeds,
            "reactions": [],
            "pinned": False,
            "flags": msg.flags,
            "components": msg.components,
        }
        if msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
            guild = self.guilds.get(msg.guild_id)
            if guild and msg.author_id in guild.members:
                payload["member"] = self.member_payload(
                    msg.guild_id, msg.author_id, with_user=False
                )
        if msg.webhook_id is not None:
            payload["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            payload["application_id"] = str(msg.application_id)
        return payload


def apply_message_body(msg: Message, body: Mapping[str, Any], world: World) -> None:
    """Copy the fields a create or edit request may carry, then work out who gets pinged."""
    if "content" in body:
        msg.content = body["content"] or ""
    if "embeds" in body:
        msg.embeds = list(body["embeds"] or [])
    elif "embed" in body:
        msg.embeds = [body["embed"]] if body["embed"] else []
    if "components" in body:
        msg.components = list(body["components"] or [])
    if "allowed_mentions" in body:
        msg.allowed_mentions = body["allowed_mentions"]
    if body.get("flags") is not None:
        keep = msg.flags & (MESSAGE_FLAG_EPHEMERAL)
        msg.flags = (int(body["flags"]) & ~MESSAGE_FLAG_LOADING) | keep
    users, roles, everyone = resolve_pings(msg.content, msg.allowed_mentions)
    msg.pinged_user_ids = [u for u in users if u in world.users]
    msg.pinged_role_ids = [r for r in roles if r in world.roles]
    msg.pings_everyone = everyone


def resolve_pings(
    content: str, allowed: Mapping[str, Any] | None
) -> tuple[list[int], list[int], bool]:
    """Who a message notifies, following Discord's allowed_mentions rules."""
    users = [int(u) for u in _USER_MENTION.findall(content)]
    roles = [int(r) for r in _ROLE_MENTION.findall(content)]
    everyone = "@everyone" in content or "@here" in content
    if allowed is None:
        return users, roles, everyone
    parse = set(allowed.get("parse") or [])
    allowed_users = {int(u) for u in allowed.get("users") or []}
    allowed_roles = {int(r) for r in allowed.get("roles") or []}
    users = [u for u in users if "users" in parse or u in allowed_users]
    roles = [r for r in roles if "roles" in parse or r in allowed_roles]
    return users, roles, everyone and "everyone" in parse

"""Interactions the local Discord sends to the bot, and what the bot answered.

Slash command data is built from the command tree the bot synced, with option
types, choices and ranges checked the way Discord's client would check them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.discord_world import (
    MESSAGE_FLAG_EPHEMERAL,
    Message,
    World,
    WorldError,
)

INTERACTION_PING = 1
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4

CALLBACK_PONG = 1
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9

OPTION_SUB_COMMAND = 1
OPTION_SUB_COMMAND_GROUP = 2
OPTION_STRING = 3
OPTION_INTEGER = 4
OPTION_BOOLEAN = 5
OPTION_USER = 6
OPTION_CHANNEL = 7
OPTION_ROLE = 8
OPTION_MENTIONABLE = 9
OPTION_NUMBER = 10

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class InteractionError(ValueError):
    """The interaction cannot be sent as asked (unknown command, bad option...)."""


@dataclass
class Interaction:
    """One interaction sent to the bot; await its response and follow-ups."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int
    user_id: int
    sent_at: float = field(default_factory=time.monotonic)
    callback: dict[str, Any] | None = None
    callback_at: float | None = None
    callback_status: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    original_edits: list[dict[str, Any]] = field(default_factory=list)
    world: World | None = field(default=None, repr=False)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition, repr=False)

    @property
    def latency(self) -> float | None:
        """Seconds from sending the interaction to the bot's callback."""
        return None if self.callback_at is None else self.callback_at - self.sent_at

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The callback body: {"type": ..., "data": ...}."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: self.callback is not None), timeout
            )
        assert self.callback is not None
        return self.callback

    async def followups(self, n: int = 1, timeout: float = 5.0) -> list[Message]:
        """The first n follow-up messages, as currently stored (edits included)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.followup_ids) >= n), timeout
            )
        assert self.world is not None
        return [self.world.messages[m] for m in self.followup_ids[:n]]

    async def original_edited(self, n: int = 1, timeout: float = 5.0) -> Message:
        """The original response once it has been edited n times (PATCH @original)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.original_edits) >= n), timeout
            )
        return self.original()

    def original(self) -> Message:
        if self.original_message_id is None or self.world is None:
            raise WorldError("the interaction has no original response message")
        return self.world.messages[self.original_message_id]

    def choices(self) -> list[dict[str, Any]]:
        if self.callback is None or self.callback.get("type") != CALLBACK_AUTOCOMPLETE_RESULT:
            raise InteractionError("no autocomplete result yet")
        return list((self.callback.get("data") or {}).get("choices", []))

    def to_json(self) -> dict[str, Any]:
        original = None
        if self.original_message_id is not None and self.world is not None:
            original = self.world.messages[self.original_message_id].to_json()
        followups = []
        if self.world is not None:
            followups = [self.world.messages[m].to_json() for m in self.followup_ids]
        return {
            "id": str(self.id),
            "type": self.type,
            "callback": self.callback,
            "callback_status": self.callback_status,
            "latency": self.latency,
            "original": original,
            "followups": followups,
        }


class InteractionBuilder:
    """Builds INTERACTION_CREATE payloads the way Discord fills them in."""

    def __init__(self, world: World) -> None:
        self.world = world

    def base(
        self, kind: int, guild_id: int | None, channel_id: int, user_id: int
    ) -> tuple[int, str, dict[str, Any]]:
        world = self.world
        channel = world.channel(channel_id)
        if (channel.guild_id or None) != (guild_id or None):
            raise InteractionError(f"channel {channel_id} is not in guild {guild_id}")
        iid = world.next_id()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(world.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": world.channel_payload(channel_id),
            "app_permissions": str(world.channel_permissions(channel_id, world.bot.id)),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = world.member_payload(guild_id, user_id, channel_id=channel_id)
            payload["authorizing_integration_owners"] = {"0": str(guild_id)}
            payload["context"] = 0
        else:
            payload["user"] = world.user_payload(user_id)
            payload["authorizing_integration_owners"] = {"0": str(user_id)}
            payload["context"] = 1
        return iid, token, payload

    def command_data(
        self,
        guild_id: int | None,
        name: str,
        path: tuple[str, ...],
        options: Mapping[str, Any],
        *,
        focused: str | None = None,
    ) -> dict[str, Any]:
        command = self._find_command(guild_id, name)
        resolved: dict[str, dict[str, Any]] = {}
        leaf_specs, wrap = self._walk_path(command, path)
        leaf = self._leaf_options(leaf_specs, options, focused, guild_id, resolved)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command.get("type", 1),
            "options": wrap(leaf),
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def _find_command(self, guild_id: int | None, name: str) -> dict[str, Any]:
        for command in self.world.commands_for(guild_id):
            if command["name"] == name and command.get("type", 1) == 1:
                return command
        known = sorted(c["name"] for c in self.world.commands_for(guild_id))
        raise InteractionError(f"no synced slash command {name!r}; synced: {known}")

    @staticmethod
    def _walk_path(
        command: dict[str, Any], path: tuple[str, ...]
    ) -> tuple[list[dict[str, Any]], Any]:
        specs: list[dict[str, Any]] = list(command.get("options") or [])
        chain: list[dict[str, Any]] = []
        for part in path:
            match = next(
                (
                    o
                    for o in specs
                    if o["name"] == part
                    and o["type"] in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP)
                ),
                None,
            )
            if match is None:
                subs = [o["name"] for o in specs if o["type"] in (1, 2)]
                raise InteractionError(f"no subcommand {part!r} under {command['name']}: {subs}")
            chain.append(match)
            specs = list(match.get("options") or [])
        if any(o["type"] in (1, 2) for o in specs):
            raise InteractionError(f"{' '.join([command['name'], *path])} needs a subcommand")

        def wrap(leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for sub in reversed(chain):
                leaf = [{"name": sub["name"], "type": sub["type"], "options": leaf}]
            return leaf

        return specs, wrap

    def _leaf_options(
        self,
        specs: list[dict[str, Any]],
        given: Mapping[str, Any],
        focused: str | None,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> list[dict[str, Any]]:
        by_name = {s["name"]: s for s in specs}
        unknown = set(given) - set(by_name)
        if unknown:
            raise InteractionError(f"unknown options {sorted(unknown)}; known: {sorted(by_name)}")
        out = []
        for spec in specs:
            name = spec["name"]
            if name not in given:
                if spec.get("required") and focused is None:
                    raise InteractionError(f"option {name!r} is required")
                continue
            if name == focused:
                if not spec.get("autocomplete"):
                    raise InteractionError(f"option {name!r} has no autocomplete")
                out.append(
                    {"name": name, "type": spec["type"], "value": given[name], "focused": True}
                )
                continue
            value = self._convert(spec, given[name], guild_id, resolved)
            out.append({"name": name, "type": spec["type"], "value": value})
        return out

    def _convert(
        self,
        spec: dict[str, Any],
        value: Any,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        try:
            result = self._typed(spec, value, guild_id, resolved)
        except InteractionError:
            raise
        except (TypeError, ValueError) as exc:
            raise InteractionError(f"option {spec['name']!r}: {value!r} does not fit") from exc
        choices = spec.get("choices")
        if choices and result not in [c["value"] for c in choices]:
            allowed = [c["value"] for c in choices]
            raise InteractionError(f"option {spec['name']!r} must be one of {allowed}")
        return result

    def _typed(
        self,
        spec: dict[str, Any],
        value: Any,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        kind = spec["type"]
        name = spec["name"]
        if kind == OPTION_STRING:
            result: Any = str(value)
            _check_length(spec, result)
        elif kind == OPTION_INTEGER:
            if isinstance(value, bool) or int(value) != float(value):
                raise InteractionError(f"option {name!r} needs an integer, got {value!r}")
            result = int(value)
            _check_range(spec, result)
        elif kind == OPTION_NUMBER:
            result = float(value)
            _check_range(spec, result)
        elif kind == OPTION_BOOLEAN:
            if not isinstance(value, bool):
                raise InteractionError(f"option {name!r} needs true or false, got {value!r}")
            result = value
        elif kind in (OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE):
            result = self._resolve(kind, int(value), guild_id, resolved)
        else:
            raise InteractionError(f"option type {kind} ({name!r}) is not supported by the sandbox")
        return result

    def _resolve(
        self, kind: int, snowflake: int, guild_id: int | None, resolved: dict[str, dict[str, Any]]
    ) -> str:
        world = self.world
        key = str(snowflake)
        is_user = snowflake in world.users and kind in (OPTION_USER, OPTION_MENTIONABLE)
        if is_user:
            resolved.setdefault("users", {})[key] = world.user_payload(snowflake)
            guild = world.guilds.get(guild_id or 0)
            if guild is not None and snowflake in guild.members:
                member = world.member_payload(guild.id, snowflake, with_user=False)
                resolved.setdefault("members", {})[key] = member
        elif kind == OPTION_CHANNEL and snowflake in world.channels:
            channel = world.channels[snowflake]
            resolved.setdefault("channels", {})[key] = {
                "id": key,
                "name": channel.name,
                "type": channel.type,
                "permissions": str(world.channel_permissions(snowflake, world.bot.id)),
            }
        elif kind in (OPTION_ROLE, OPTION_MENTIONABLE) and snowflake in world.roles:
            resolved.setdefault("roles", {})[key] = world.role_payload(snowflake)
        else:
            raise InteractionError(f"no user, channel or role {snowflake} fits option type {kind}")
        return key

    def component_data(
        self, msg: Message, custom_id: str, values: list[str] | None
    ) -> dict[str, Any]:
        component = _find_component(msg.components, custom_id)
        if component is None:
            raise InteractionError(
                f"message {msg.id} has no component with custom_id {custom_id!r}"
            )
        if component.get("disabled"):
            raise InteractionError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = list(values)
        return data


def _check_length(spec: Mapping[str, Any], value: str) -> None:
    low, high = spec.get("min_length"), spec.get("max_length")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        raise InteractionError(f"option {spec['name']!r} length must be within [{low}, {high}]")


def _check_range(spec: Mapping[str, Any], value: float) -> None:
    low, high = spec.get("min_value"), spec.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InteractionError(f"option {spec['name']!r} must be within [{low}, {high}]")


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        inner = component.get("components")
        if inner and (found := _find_component(inner, custom_id)):
            return found
    return None


def is_ephemeral(flags: int | None) -> bool:
    return bool((flags or 0) & MESSAGE_FLAG_EPHEMERAL)

"""The sandbox world: permissions, pings and payload shapes, as plain data."""

from __future__ import annotations

import pytest

from bot.sandbox.discord_world import (
    ALL_PERMISSIONS,
    MANAGE_GUILD,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Overwrite,
    World,
    WorldError,
    resolve_pings,
)


@pytest.fixture
def world() -> World:
    return World(bot_name="roveit")


def test_owner_and_admins_have_everything(world: World) -> None:
    guild = world.add_guild(name="g")
    admins = world.add_role(guild.id, "admins", permissions=1 << 3)
    bob = world.add_user("bob").id
    world.add_member(guild.id, bob, roles=[admins.id])
    assert world.base_permissions(guild.id, guild.owner_id) == ALL_PERMISSIONS
    assert world.base_permissions(guild.id, bob) == ALL_PERMISSIONS


def test_manage_guild_flag_and_roles_add_up(world: World) -> None:
    guild = world.add_guild(name="g")
    alice = world.add_user("alice").id
    carol = world.add_user("carol").id
    world.add_member(guild.id, alice, manage_guild=True)
    world.add_member(guild.id, carol)
    assert world.base_permissions(guild.id, alice) & MANAGE_GUILD
    assert not world.base_permissions(guild.id, carol) & MANAGE_GUILD
    assert world.base_permissions(guild.id, carol) & SEND_MESSAGES


def test_channel_overwrite_blocks_only_the_bot(world: World) -> None:
    guild = world.add_guild(name="g")
    locked = world.add_channel(guild.id, "locked", bot_can_send=False).id
    alice = world.add_user("alice").id
    world.add_member(guild.id, alice)
    assert not world.bot_can_send(locked)
    assert world.channel_permissions(locked, world.bot.id) & VIEW_CHANNEL
    assert world.channel_permissions(locked, alice) & SEND_MESSAGES
    world.set_bot_can_send(locked, True)
    assert world.bot_can_send(locked)


def test_role_overwrite_then_member_overwrite(world: World) -> None:
    guild = world.add_guild(name="g")
    muted = world.add_role(guild.id, "muted")
    channel = world.add_channel(guild.id, "c")
    alice = world.add_user("alice").id
    world.add_member(guild.id, alice, roles=[muted.id])
    channel.overwrites.append(Overwrite(id=muted.id, type=0, deny=SEND_MESSAGES))
    assert not world.channel_permissions(channel.id, alice) & SEND_MESSAGES
    channel.overwrites.append(Overwrite(id=alice, type=1, allow=SEND_MESSAGES))
    assert world.channel_permissions(channel.id, alice) & SEND_MESSAGES


@pytest.mark.parametrize(
    ("content", "allowed", "expected"),
    [
        ("<@1> <@!2> <@&3> @everyone", None, ([1, 2], [3], True)),
        ("<@1> <@&3> @everyone", {"parse": []}, ([], [], False)),
        ("<@1> <@2>", {"parse": [], "users": ["2"]}, ([2], [], False)),
        ("<@1> <@&3> @here", {"parse": ["roles", "everyone"]}, ([], [3], True)),
        ("no pings", {"parse": ["users"]}, ([], [], False)),
    ],
)
def test_allowed_mentions_decide_who_is_pinged(
    content: str, allowed: dict[str, object] | None, expected: tuple[list[int], list[int], bool]
) -> None:
    assert resolve_pings(content, allowed) == expected


def test_edit_keeps_history_and_pings(world: World) -> None:
    guild = world.add_guild(name="g")
    channel = world.add_channel(guild.id, "c").id
    alice = world.add_user("alice").id
    msg = world.create_message(channel, world.bot.id, {"content": f"hi <@{alice}>"})
    assert msg.pinged_user_ids == [alice]
    world.edit_message(msg, {"content": "bye", "allowed_mentions": {"parse": []}})
    assert msg.edit_count == 1 and msg.history[0]["content"] == f"hi <@{alice}>"
    assert msg.content == "bye" and msg.pinged_user_ids == []
    assert world.message_payload(msg)["edited_timestamp"] is not None


def test_dm_channel_is_made_once(world: World) -> None:
    alice = world.add_user("alice").id
    first = world.dm_channel(alice)
    assert world.dm_channel(alice) is first
    payload = world.channel_payload(first.id)
    assert payload["type"] == 1 and payload["recipients"][0]["id"] == str(alice)


def test_guild_commands_shadow_global_ones(world: World) -> None:
    guild = world.add_guild(name="g")
    world.global_commands = [{"name": "roveit", "id": "1"}, {"name": "other", "id": "2"}]
    world.guild_commands[guild.id] = [{"name": "roveit", "id": "3"}]
    assert [c["id"] for c in world.commands_for(guild.id)] == ["3", "2"]
    assert [c["id"] for c in world.commands_for(None)] == ["1", "2"]


def test_guild_payload_has_what_discordpy_reads(world: World) -> None:
    guild = world.add_guild(name="g")
    world.add_channel(guild.id, "general")
    payload = world.guild_payload(guild.id)
    assert payload["roles"][0]["id"] == str(guild.id)  # @everyone shares the guild id
    assert {m["user"]["id"] for m in payload["members"]} == {str(guild.owner_id), str(world.bot.id)}
    assert payload["channels"][0]["name"] == "general"


def test_unknown_ids_are_named(world: World) -> None:
    with pytest.raises(WorldError, match="unknown guild 5"):
        world.add_channel(5, "x")
    guild = world.add_guild(name="g")
    with pytest.raises(WorldError, match="kind"):
        world.add_channel(guild.id, "x", kind="telepathy")

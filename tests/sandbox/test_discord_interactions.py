"""Interaction payloads built from the synced command tree, checked like Discord's client."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.discord_interactions import InteractionBuilder, InteractionError
from bot.sandbox.discord_world import MANAGE_GUILD, World

ROVEIT = {
    "id": "900",
    "name": "roveit",
    "description": "d",
    "type": 1,
    "options": [
        {
            "name": "create",
            "description": "d",
            "type": 1,
            "options": [
                {"name": "rule", "description": "d", "type": 3, "required": True, "max_length": 50}
            ],
        },
        {
            "name": "list",
            "description": "d",
            "type": 1,
            "options": [
                {
                    "name": "scope",
                    "description": "d",
                    "type": 3,
                    "choices": [{"name": "mine", "value": "mine"}, {"name": "all", "value": "all"}],
                }
            ],
        },
        {
            "name": "backtest",
            "description": "d",
            "type": 1,
            "options": [
                {
                    "name": "id",
                    "description": "d",
                    "type": 4,
                    "required": True,
                    "autocomplete": True,
                },
                {"name": "last", "description": "d", "type": 4, "min_value": 1, "max_value": 1000},
                {"name": "verbose", "description": "d", "type": 5},
                {"name": "who", "description": "d", "type": 6},
                {"name": "where", "description": "d", "type": 7},
            ],
        },
        {
            "name": "heartbeat",
            "description": "d",
            "type": 2,
            "options": [{"name": "off", "description": "d", "type": 1}],
        },
    ],
}


@pytest.fixture
def setup() -> tuple[World, InteractionBuilder, dict[str, int]]:
    world = World()
    guild = world.add_guild(name="g")
    channel = world.add_channel(guild.id, "general").id
    alice = world.add_user("alice").id
    world.add_member(guild.id, alice, manage_guild=True)
    world.global_commands = [dict(ROVEIT)]
    ids = {"guild": guild.id, "channel": channel, "alice": alice}
    return world, InteractionBuilder(world), ids


def _data(
    setup: tuple[World, InteractionBuilder, dict[str, int]],
    path: tuple[str, ...],
    options: dict[str, Any],
    focused: str | None = None,
) -> dict[str, Any]:
    _, builder, ids = setup
    return builder.command_data(ids["guild"], "roveit", path, options, focused=focused)


def test_subcommand_with_string_option(setup: Any) -> None:
    data = _data(setup, ("create",), {"rule": "on posts then log"})
    assert data["id"] == "900" and data["name"] == "roveit" and "guild_id" not in data
    assert data["options"] == [
        {
            "name": "create",
            "type": 1,
            "options": [{"name": "rule", "type": 3, "value": "on posts then log"}],
        }
    ]


def test_typed_options_and_resolved_entities(setup: Any) -> None:
    world, _, ids = setup
    data = _data(
        setup,
        ("backtest",),
        {"id": 3, "last": 50, "verbose": True, "who": ids["alice"], "where": ids["channel"]},
    )
    values = {o["name"]: (o["type"], o["value"]) for o in data["options"][0]["options"]}
    assert values == {
        "id": (4, 3),
        "last": (4, 50),
        "verbose": (5, True),
        "who": (6, str(ids["alice"])),
        "where": (7, str(ids["channel"])),
    }
    assert data["resolved"]["users"][str(ids["alice"])]["username"] == "alice"
    assert str(ids["alice"]) in data["resolved"]["members"]
    assert data["resolved"]["channels"][str(ids["channel"])]["name"] == "general"


def test_subcommand_group(setup: Any) -> None:
    data = _data(setup, ("heartbeat", "off"), {})
    assert data["options"] == [
        {"name": "heartbeat", "type": 2, "options": [{"name": "off", "type": 1, "options": []}]}
    ]


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        (("create",), {}, "'rule' is required"),
        (("create",), {"rule": "x" * 51}, "length"),
        (("create",), {"rul": "x"}, "unknown options"),
        (("list",), {"scope": "everyone"}, "must be one of"),
        (("backtest",), {"id": 1.5}, "needs an integer"),
        (("backtest",), {"id": 1, "last": 0}, "within"),
        (("backtest",), {"id": 1, "verbose": "yes"}, "true or false"),
        (("backtest",), {"id": 1, "who": 12345}, "no user, channel or role"),
        (("nope",), {}, "no subcommand 'nope'"),
        ((), {}, "needs a subcommand"),
    ],
)
def test_invalid_input_is_refused(
    setup: Any, path: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InteractionError, match=message):
        _data(setup, path, options)


def test_unknown_command_lists_synced_ones(setup: Any) -> None:
    _, builder, ids = setup
    with pytest.raises(InteractionError, match=r"synced: \['roveit'\]"):
        builder.command_data(ids["guild"], "other", (), {})


def test_autocomplete_marks_focus_and_skips_required_checks(setup: Any) -> None:
    data = _data(setup, ("backtest",), {"id": "1"}, focused="id")
    assert data["options"][0]["options"] == [
        {"name": "id", "type": 4, "value": "1", "focused": True}
    ]
    with pytest.raises(InteractionError, match="no autocomplete"):
        _data(setup, ("backtest",), {"id": 1, "last": "5"}, focused="last")


def test_guild_interaction_carries_member_permissions(setup: Any) -> None:
    world, builder, ids = setup
    _, _, payload = builder.base(2, ids["guild"], ids["channel"], ids["alice"])
    assert int(payload["member"]["permissions"]) & MANAGE_GUILD
    assert payload["member"]["user"]["id"] == str(ids["alice"])
    assert int(payload["app_permissions"]) == world.channel_permissions(
        ids["channel"], world.bot.id
    )
    assert payload["guild_id"] == str(ids["guild"]) and "user" not in payload


def test_dm_interaction_carries_user(setup: Any) -> None:
    world, builder, ids = setup
    dm = world.dm_channel(ids["alice"]).id
    _, _, payload = builder.base(2, None, dm, ids["alice"])
    assert payload["user"]["id"] == str(ids["alice"])
    assert "member" not in payload and "guild_id" not in payload
    assert payload["channel"]["type"] == 1 and payload["context"] == 1


def test_channel_must_belong_to_the_guild(setup: Any) -> None:
    world, builder, ids = setup
    other = world.add_guild(name="other")
    with pytest.raises(InteractionError, match="not in guild"):
        builder.base(2, other.id, ids["channel"], ids["alice"])


def test_component_lookup(setup: Any) -> None:
    world, builder, ids = setup
    row = {"type": 1, "components": [{"type": 2, "custom_id": "go", "label": "Go", "style": 1}]}
    msg = world.create_message(ids["channel"], world.bot.id, {"content": "x", "components": [row]})
    assert builder.component_data(msg, "go", None) == {"custom_id": "go", "component_type": 2}
    with pytest.raises(InteractionError, match="no component"):
        builder.component_data(msg, "stop", None)

"""The sandbox REST API over plain HTTP: shapes, errors and rate limits discord.py relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.discord_rest import RateLimiter, command_problem

TOKEN = "rest-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}


@dataclass
class Api:
    sb: DiscordSandbox
    http: aiohttp.ClientSession
    guild: int
    general: int
    locked: int
    alice: int

    async def call(
        self, method: str, path: str, body: Any = None, *, auth: bool = True
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = AUTH if auth else {}
        async with self.http.request(
            method, self.sb.api_base + path, json=body, headers=headers
        ) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, data, dict(resp.headers)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    sb = DiscordSandbox(token=TOKEN, rate_limit=2, rate_limit_per=30.0, callback_deadline=0.2)
    guild = sb.add_guild(name="g")
    general = sb.add_channel(guild.id, "general")
    locked = sb.add_channel(guild.id, "locked", bot_can_send=False)
    alice = sb.add_user("alice")
    sb.add_member(guild.id, alice)
    async with sb, aiohttp.ClientSession() as http:
        yield Api(sb, http, guild.id, general, locked, alice)


async def test_json_content_type_is_exact(api: Api) -> None:
    async with api.http.get(api.sb.api_base + "/users/@me", headers=AUTH) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["id"] == str(api.sb.bot_id)


async def test_gateway_bot_points_at_the_sandbox(api: Api) -> None:
    status, data, _ = await api.call("GET", "/gateway/bot")
    assert status == 200 and data["url"] == api.sb.gateway_url and data["shards"] == 1


async def test_missing_token_is_401(api: Api) -> None:
    status, data, _ = await api.call("GET", "/users/@me", auth=False)
    assert (status, data["code"]) == (401, 0)


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/channels/999/messages", {"content": "x"}, 404, 10003),
        ("/channels/{locked}/messages", {"content": "x"}, 403, 50013),
        ("/channels/{general}/messages", {"content": ""}, 400, 50006),
        ("/channels/{general}/messages", {"content": "x" * 2001}, 400, 50035),
        ("/channels/{general}/messages", {"embeds": [{}] * 11}, 400, 50035),
    ],
)
async def test_message_create_errors(
    api: Api, path: str, body: dict[str, Any], status: int, code: int
) -> None:
    full = path.format(locked=api.locked, general=api.general)
    got_status, data, _ = await api.call("POST", full, body)
    assert (got_status, data["code"]) == (status, code)
    assert api.sb.messages(api.general) == [] and api.sb.messages(api.locked) == []


async def test_unknown_route_is_json_404(api: Api) -> None:
    status, data, _ = await api.call("GET", "/nothing/here")
    assert (status, data["message"]) == (404, "404: Not Found")


async def test_bucket_headers_then_429(api: Api) -> None:
    path = f"/channels/{api.general}/messages"
    status, _, headers = await api.call("POST", path, {"content": "1"})
    assert status == 200
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "1"
    assert float(headers["X-RateLimit-Reset-After"]) > 29
    assert float(headers["X-RateLimit-Reset"]) > 0 and headers["X-RateLimit-Bucket"]
    await api.call("POST", path, {"content": "2"})
    status, data, headers = await api.call("POST", path, {"content": "3"})
    assert status == 429
    assert data["message"] == "You are being rate limited." and data["global"] is False
    assert 29 < data["retry_after"] <= 30
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "user"
    assert [m.content for m in api.sb.messages(api.general)] == ["1", "2"]
    other = await api.call("POST", f"/channels/{api.locked}/messages", {"content": "x"})
    assert other[0] == 403, "buckets are per channel"


async def test_forced_429_counts_down(api: Api) -> None:
    api.sb.force_429("/users/@me", n=2, retry_after=0.25)
    statuses = [(await api.call("GET", "/users/@me"))[0] for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert [r.status for r in api.sb.find_requests("GET", "/users/@me")] == statuses


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(limit=2, per=1.0)
    assert limiter.hit("k", 0.0) == (True, 1, 1.0)
    assert limiter.hit("k", 0.5) == (True, 0, 0.5)
    assert limiter.hit("k", 0.75) == (False, 0, 0.25)
    assert limiter.hit("k", 1.0) == (True, 1, 1.0)
    assert limiter.hit("other", 1.0)[0]


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ({"name": "roveit", "description": "d"}, None),
        ({"name": "Roveit", "description": "d"}, "invalid command name"),
        ({"name": "roveit", "description": ""}, "description"),
        (
            {
                "name": "roveit",
                "description": "d",
                "options": [
                    {"name": "a", "description": "d", "type": 3},
                    {"name": "b", "description": "d", "type": 3, "required": True},
                ],
            },
            "required option 'b' after an optional one",
        ),
        (
            {
                "name": "roveit",
                "description": "d",
                "options": [
                    {
                        "name": "sub",
                        "description": "d",
                        "type": 1,
                        "options": [{"name": "Bad", "description": "d", "type": 3}],
                    }
                ],
            },
            "invalid option name 'Bad'",
        ),
    ],
)
def test_command_validation(command: dict[str, Any], problem: str | None) -> None:
    found = command_problem(command)
    assert (found is None) if problem is None else (found is not None and problem in found)


async def test_bad_command_sync_is_rejected(api: Api) -> None:
    path = f"/applications/{api.sb.application_id}/commands"
    status, data, _ = await api.call("PUT", path, [{"name": "Bad Name", "description": "d"}])
    assert (status, data["code"]) == (400, 50035)
    assert api.sb.commands() == []


async def test_command_ids_survive_a_resync(api: Api) -> None:
    path = f"/applications/{api.sb.application_id}/guilds/{api.guild}/commands"
    body = [{"name": "roveit", "description": "d", "type": 1}]
    _, first, _ = await api.call("PUT", path, body)
    _, second, _ = await api.call("PUT", path, body)
    assert first[0]["id"] == second[0]["id"] and second[0]["guild_id"] == str(api.guild)
    assert api.sb.commands(api.guild)[0]["name"] == "roveit"


async def _slash(api: Api) -> Any:
    path = f"/applications/{api.sb.application_id}/commands"
    await api.call("PUT", path, [{"name": "ping", "description": "d", "type": 1}])
    return await api.sb.slash(api.guild, api.general, api.alice, "ping")


async def test_callback_twice_is_40060(api: Api) -> None:
    interaction = await _slash(api)
    path = f"/interactions/{interaction.id}/{interaction.token}/callback"
    first = await api.call("POST", path, {"type": 4, "data": {"content": "pong"}}, auth=False)
    second = await api.call("POST", path, {"type": 4, "data": {"content": "pong"}}, auth=False)
    assert first[0] == 204
    assert (second[0], second[1]["code"]) == (400, 40060)
    assert (await interaction.response(1))["data"]["content"] == "pong"


async def test_wrong_callback_type_is_rejected(api: Api) -> None:
    interaction = await _slash(api)
    path = f"/interactions/{interaction.id}/{interaction.token}/callback"
    status, data, _ = await api.call("POST", path, {"type": 8, "data": {"choices": []}}, auth=False)
    assert (status, data["code"]) == (400, 50035)
    assert interaction.callback is None


async def test_late_callback_is_unknown_interaction(api: Api) -> None:
    interaction = await _slash(api)
    interaction.sent_at -= 1.0  # as if the bot took a second; the deadline here is 0.2 s
    path = f"/interactions/{interaction.id}/{interaction.token}/callback"
    status, data, _ = await api.call("POST", path, {"type": 5}, auth=False)
    assert (status, data["code"]) == (404, 10062)


async def test_followup_before_callback_is_unknown_webhook(api: Api) -> None:
    interaction = await _slash(api)
    path = f"/webhooks/{api.sb.application_id}/{interaction.token}?wait=true"
    status, data, _ = await api.call("POST", path, {"content": "too early"}, auth=False)
    assert (status, data["code"]) == (404, 10015)


async def test_dm_to_a_user_with_closed_dms_is_50007(api: Api) -> None:
    shy = api.sb.add_user("shy", dms_open=False)
    status, channel, _ = await api.call("POST", "/users/@me/channels", {"recipient_id": str(shy)})
    assert status == 200 and channel["type"] == 1
    status, data, _ = await api.call(
        "POST", f"/channels/{channel['id']}/messages", {"content": "hi"}
    )
    assert (status, data["code"]) == (403, 50007)


async def test_edit_others_message_is_forbidden(api: Api) -> None:
    msg = await api.sb.user_message(api.general, api.alice, "mine")
    status, data, _ = await api.call(
        "PATCH", f"/channels/{api.general}/messages/{msg.id}", {"content": "x"}
    )
    assert (status, data["code"]) == (403, 50005)
    assert msg.content == "mine"


async def test_invalid_json_is_50109_and_still_recorded(api: Api) -> None:
    url = f"{api.sb.api_base}/channels/{api.general}/messages"
    headers = {**AUTH, "Content-Type": "application/json"}
    async with api.http.post(url, data=b"{not json", headers=headers) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 50109
    (record,) = api.sb.find_requests("POST", f"/channels/{api.general}/messages")
    assert record.invalid_body and record.status == 400

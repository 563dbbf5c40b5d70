"""serve() and the /_sandbox/ control API, driven only over HTTP as an out-of-process test would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import serve
from tests.sandbox.test_discord_gateway import RawGateway

BUTTON_ROW = {
    "type": 1,
    "components": [{"type": 2, "style": 1, "label": "Pause", "custom_id": "pause"}],
}


@dataclass
class Served:
    http: aiohttp.ClientSession
    root: str
    api_base: str
    gateway_url: str

    async def get(self, path: str) -> Any:
        async with self.http.get(self.root + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def post(self, path: str, body: Any, status: int = 200) -> Any:
        async with self.http.post(self.root + path, json=body) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    started: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(host="127.0.0.1", port=0, on_started=lambda a, g: started.set_result((a, g)))
    )
    api_base, gateway_url = await asyncio.wait_for(started, 10)
    root = api_base.removesuffix("/api/v10")
    async with aiohttp.ClientSession() as http:
        yield Served(http, root, api_base, gateway_url)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_raw_bot(gw: RawGateway, http: aiohttp.ClientSession, api_base: str) -> None:
    """Answer every interaction: commands with a button message, buttons with an update."""
    while True:
        event = await gw.recv_event("INTERACTION_CREATE", timeout=30)
        data = event["d"]
        url = f"{api_base}/interactions/{data['id']}/{data['token']}/callback"
        if data["type"] == 2:
            rule = data["data"]["options"][0]["options"][0]["value"]
            body = {"type": 4, "data": {"content": f"created: {rule}", "components": [BUTTON_ROW]}}
        else:
            body = {"type": 7, "data": {"content": "paused", "components": []}}
        async with http.post(url, json=body) as resp:
            assert resp.status == 204


async def test_served_sandbox_end_to_end_over_http(served: Served) -> None:
    state = await served.get("/_sandbox/state")
    assert "roveit sandbox" in [g["name"] for g in state["guilds"].values()]

    made = await served.post(
        "/_sandbox/setup",
        {
            "users": [{"name": "bob"}],
            "guilds": [
                {
                    "name": "Mods",
                    "roles": [{"name": "admins", "permissions": 32}],
                    "channels": [{"name": "ops"}, {"name": "quiet", "bot_can_send": False}],
                    "members": [{"user": "bob", "roles": ["admins"]}],
                }
            ],
        },
    )
    guild = made["guilds"]["Mods"]
    bob, ops = made["users"]["bob"], guild["channels"]["ops"]
    headers = {"Authorization": "Bot anything"}
    commands = [
        {
            "name": "roveit",
            "description": "d",
            "options": [
                {
                    "name": "create",
                    "description": "d",
                    "type": 1,
                    "options": [{"name": "rule", "description": "d", "type": 3, "required": True}],
                }
            ],
        }
    ]
    url = f"{served.api_base}/applications/{made['application_id']}/commands"
    async with served.http.put(url, json=commands, headers=headers) as resp:
        assert resp.status == 200

    gw = await RawGateway.connect(served.http, served.gateway_url)
    await gw.recv()
    await gw.identify(token="anything")
    bot = asyncio.create_task(run_raw_bot(gw, served.http, served.api_base))
    try:
        reply = await served.post(
            "/_sandbox/slash",
            {
                "guild_id": guild["id"],
                "channel_id": ops,
                "user_id": bob,
                "command": "roveit",
                "path": ["create"],
                "options": {"rule": "on posts then log"},
            },
        )
        assert reply["callback"]["data"]["content"] == "created: on posts then log"
        assert reply["latency"] < 3.0
        message_id = reply["original"]["id"]

        pressed = await served.post(
            "/_sandbox/press", {"message_id": message_id, "custom_id": "pause", "user_id": bob}
        )
        assert pressed["callback"]["type"] == 7

        listed = await served.get(f"/_sandbox/messages?channel={ops}")
        (message,) = listed["messages"]
        assert (message["content"], message["edit_count"]) == ("paused", 1)
        assert message["history"][0]["content"] == "created: on posts then log"

        again = await served.get(f"/_sandbox/interactions/{reply['id']}")
        assert again["callback"]["type"] == 4
    finally:
        bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bot
        await gw.ws.close()

    recorded = await served.get("/_sandbox/requests?since=0")
    methods = [(r["method"], r["path"].split("/")[1]) for r in recorded["requests"]]
    assert ("PUT", "applications") in methods and ("POST", "interactions") in methods
    synced = await served.get("/_sandbox/commands")
    assert [c["name"] for c in synced["commands"]] == ["roveit"]


async def test_control_errors_are_400_with_a_reason(served: Served) -> None:
    state = await served.get("/_sandbox/state")
    guild_id, guild = next(iter(state["guilds"].items()))
    channel = next(iter(guild["channels"]))
    body = {
        "guild_id": guild_id,
        "channel_id": channel,
        "user_id": guild["members"][0],
        "command": "x",
    }
    answer = await served.post("/_sandbox/slash", body, status=400)
    assert "no synced slash command 'x'" in answer["error"]


async def test_control_levers(served: Served) -> None:
    await served.post(
        "/_sandbox/force_429", {"path_prefix": "/users/@me", "n": 1, "retry_after": 0.01}
    )
    await served.post("/_sandbox/rate_limit", {"limit": 1, "per": 1.0})
    async with served.http.get(
        served.api_base + "/users/@me", headers={"Authorization": "Bot t"}
    ) as r:
        assert r.status == 429 and r.headers["Via"]
    assert (await served.post("/_sandbox/disconnect", {"code": 4000}))["closed"] == 0
    index = await served.http.get(served.root + "/_sandbox/")
    assert "/_sandbox/slash" in await index.text()
    index.release()

"""The sandbox gateway spoken to by a raw websocket client: the protocol, byte by byte."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import DiscordSandbox

TOKEN = "raw-token"


class RawGateway:
    """A minimal gateway client that decodes zlib-stream the way discord.py does."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj()
        self.buffer = bytearray()

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, url: str, *, compress: bool = True
    ) -> RawGateway:
        query = "?v=10&encoding=json" + ("&compress=zlib-stream" if compress else "")
        return cls(await session.ws_connect(url + query))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                return dict(json.loads(msg.data))
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"gateway closed: {msg.type} {self.ws.close_code}")
            self.buffer.extend(msg.data)
            if self.buffer[-4:] == b"\x00\x00\xff\xff":
                text = self.inflate.decompress(bytes(self.buffer))
                self.buffer.clear()
                return dict(json.loads(text))

    async def recv_event(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            payload = await self.recv(timeout)
            if payload.get("t") == name:
                return payload

    async def send(self, op: int, data: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": data}))

    async def identify(self, token: str = TOKEN, intents: int = 1 << 9 | 1 << 12) -> dict[str, Any]:
        await self.send(2, {"token": token, "intents": intents, "properties": {}})
        return await self.recv_event("READY")


@pytest.fixture
async def sandbox() -> AsyncIterator[DiscordSandbox]:
    sb = DiscordSandbox(token=TOKEN, heartbeat_interval=0.25)
    guild = sb.add_guild(name="g")
    sb.add_channel(guild.id, "general")
    async with sb:
        yield sb


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_hello_ready_then_guild_create_in_sequence(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    hello = await gw.recv()
    assert hello == {"op": 10, "d": {"heartbeat_interval": 250}}
    ready = await gw.identify()
    assert ready["s"] == 1
    assert ready["d"]["resume_gateway_url"] == sandbox.gateway_url
    assert ready["d"]["user"]["id"] == str(sandbox.bot_id)
    assert ready["d"]["guilds"][0]["unavailable"] is True
    guild_create = await gw.recv()
    assert (guild_create["t"], guild_create["s"]) == ("GUILD_CREATE", 2)
    assert guild_create["d"]["channels"][0]["name"] == "general"
    await gw.ws.close()


async def test_heartbeat_is_acknowledged_uncompressed(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url, compress=False)
    first = await gw.ws.receive(timeout=5)
    assert first.type == aiohttp.WSMsgType.TEXT
    await gw.send(1, None)
    assert await gw.recv() == {"op": 11}
    assert sandbox.heartbeats == 1
    await gw.ws.close()


async def test_bad_token_closes_with_4004(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    await gw.send(2, {"token": "wrong", "intents": 0, "properties": {}})
    with pytest.raises(ConnectionError):
        await gw.recv()
    assert gw.ws.close_code == 4004


async def test_resume_replays_missed_events_then_resumed(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    session_id = (await gw.identify())["d"]["session_id"]
    last_seq = (await gw.recv_event("GUILD_CREATE"))["s"]
    await sandbox.disconnect(code=4000)
    with pytest.raises(ConnectionError):
        await gw.recv()
    for n in range(3):
        await sandbox.gateway.dispatch("TYPING_START", {"n": n})
    gw2 = await RawGateway.connect(http, sandbox.gateway_url)
    await gw2.recv()
    await gw2.send(6, {"token": TOKEN, "session_id": session_id, "seq": last_seq})
    replayed = [await gw2.recv() for _ in range(4)]
    assert [(p["t"], p["s"]) for p in replayed] == [
        ("TYPING_START", last_seq + 1),
        ("TYPING_START", last_seq + 2),
        ("TYPING_START", last_seq + 3),
        ("RESUMED", last_seq + 4),
    ]
    assert sandbox.gateway.resumes[-1].replayed == 3
    await sandbox.gateway.dispatch("TYPING_START", {"n": "live"})
    assert (await gw2.recv())["d"] == {"n": "live"}
    await gw2.ws.close()


async def test_unknown_or_invalidated_session_gets_invalid_session(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    session_id = (await gw.identify())["d"]["session_id"]
    await gw.recv_event("GUILD_CREATE")
    await sandbox.disconnect(code=None, resumable=False)
    gw2 = await RawGateway.connect(http, sandbox.gateway_url)
    await gw2.recv()
    await gw2.send(6, {"token": TOKEN, "session_id": session_id, "seq": 2})
    assert await gw2.recv() == {"op": 9, "d": False, "s": None, "t": None}
    assert not sandbox.gateway.resumes[-1].ok
    await gw2.ws.close()


async def test_reconnect_and_invalid_session_opcodes(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    await gw.identify()
    await gw.recv_event("GUILD_CREATE")
    await sandbox.send_reconnect()
    assert (await gw.recv())["op"] == 7
    await sandbox.invalidate_session(resumable=True)
    assert (await gw.recv())["d"] is True
    await gw.ws.close()


async def test_members_chunk_on_request(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    ready = await gw.identify()
    guild_id = ready["d"]["guilds"][0]["id"]
    await gw.send(8, {"guild_id": guild_id, "query": "", "limit": 0, "nonce": "n1"})
    chunk = await gw.recv_event("GUILD_MEMBERS_CHUNK")
    assert chunk["d"]["nonce"] == "n1" and len(chunk["d"]["members"]) == 2
    await gw.ws.close()


async def test_message_content_is_hidden_without_the_intent(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    await gw.identify(intents=1 << 9)
    await gw.recv_event("GUILD_CREATE")
    (guild,) = sandbox.world.guilds.values()
    alice = sandbox.add_user("alice")
    sandbox.add_member(guild.id, alice)
    await sandbox.user_message(guild.channel_ids[0], alice, "secret")
    await sandbox.user_message(guild.channel_ids[0], alice, f"<@{sandbox.bot_id}> hi")
    first = await gw.recv_event("MESSAGE_CREATE")
    second = await gw.recv_event("MESSAGE_CREATE")
    assert first["d"]["content"] == ""
    assert second["d"]["content"] == f"<@{sandbox.bot_id}> hi"
    await gw.ws.close()


async def test_outage_holds_reconnection_until_it_ends(
    sandbox: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    gw = await RawGateway.connect(http, sandbox.gateway_url)
    await gw.recv()
    session_id = (await gw.identify())["d"]["session_id"]
    seq = (await gw.recv_event("GUILD_CREATE"))["s"]
    async with sandbox.outage():
        gw2 = await RawGateway.connect(http, sandbox.gateway_url)
        await gw2.recv()
        await gw2.send(6, {"token": TOKEN, "session_id": session_id, "seq": seq})
        await sandbox.gateway.dispatch("TYPING_START", {"during": "outage"})
        assert sandbox.gateway.resumes == []
    assert (await gw2.recv())["d"] == {"during": "outage"}
    assert (await gw2.recv())["t"] == "RESUMED"
    await asyncio.wait_for(gw2.ws.close(), 5)

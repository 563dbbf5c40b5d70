"""A local Discord (REST + websocket gateway) that the real discord.py client connects to.

Pointing discord.py at it
-------------------------
discord.py has two fixed endpoints, both class attributes:

* REST: ``discord.http.Route.BASE`` (``https://discord.com/api/v10``). Every route,
  webhook and interaction callback URL is built from it.
* Gateway: ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. A plain
  ``discord.Client`` connects there directly; only ``AutoShardedClient`` asks
  ``GET /gateway/bot`` (which this sandbox answers with its own gateway URL).
  After READY, discord.py resumes at READY's ``resume_gateway_url``, which is
  the sandbox's gateway too.

``configure_discord_py(api_base, gateway_url)`` sets both; roveit calls it when the
settings ``DISCORD_API_BASE`` (e.g. ``http://127.0.0.1:8800/api/v10``) and
``DISCORD_GATEWAY_URL`` (e.g. ``ws://127.0.0.1:8800/gateway``) are set, before the
client logs in. ``reset_discord_py()`` restores Discord's own endpoints. Both are
process-wide, as discord.py's endpoints are.

Use in tests (same event loop)::

    async with DiscordSandbox(token="t", heartbeat_interval=0.5) as sb:
        guild = sb.add_guild(name="g")
        channel = sb.add_channel(guild.id, "general")
        api_base, gateway_url = sb.api_base, sb.gateway_url
        configure_discord_py(api_base, gateway_url)
        ...  # start a discord.Client with token "t"
        interaction = await sb.slash(guild.id, channel, user, "roveit", "create", options={...})
        reply = await interaction.response(timeout=5)

Out of process, ``serve(host=..., port=...)`` runs the same sandbox with a JSON control
API under ``/_sandbox/`` (see bot/sandbox/discord_control.py; ``GET /_sandbox/`` lists it).

Importing discord.py: it imports audioop, which warns on Python 3.11-3.12, and the
tests turn warnings into errors; ``bot.sandbox.discord_import`` imports it quietly.

Compression: discord.py asks for ``zlib-stream`` (or ``zstd-stream`` when the zstandard
module is installed). zlib-stream is implemented; for anything else the sandbox sends
uncompressed text frames, which discord.py accepts whatever it asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import yarl
from aiohttp import web

from bot.sandbox.discord_control import add_control_routes
from bot.sandbox.discord_gateway import OP_INVALID_SESSION, OP_RECONNECT, Gateway, ResumeRecord
from bot.sandbox.discord_import import discord
from bot.sandbox.discord_interactions import (
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_MESSAGE_COMPONENT,
    Interaction,
    InteractionBuilder,
)
from bot.sandbox.discord_rest import (
    ForcedLimit,
    MessageFeed,
    RateLimiter,
    RecordedRequest,
    RestApi,
)
from bot.sandbox.discord_world import Guild, Message, World

__all__ = [
    "DiscordSandbox",
    "Interaction",
    "Message",
    "RecordedRequest",
    "configure_discord_py",
    "reset_discord_py",
    "serve",
]

log = logging.getLogger(__name__)

_DEFAULT_API_BASE = discord.http.Route.BASE
_DEFAULT_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def configure_discord_py(api_base: str, gateway_url: str) -> None:
    """Send discord.py's REST calls and gateway connection to the given endpoints."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def reset_discord_py() -> None:
    """Point discord.py back at Discord itself."""
    discord.http.Route.BASE = _DEFAULT_API_BASE
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = _DEFAULT_GATEWAY


class DiscordSandbox:
    """The whole local Discord: world, gateway and REST, served by one aiohttp app."""

    def __init__(
        self,
        *,
        token: str | None = "sandbox-token",
        bot_name: str = "roveit",
        heartbeat_interval: float = 41.25,
        rate_limit: int = 5,
        rate_limit_per: float = 5.0,
        callback_deadline: float = 3.0,
    ) -> None:
        self.token = token
        self.world = World(bot_name=bot_name)
        self.api_base = ""
        self.gateway_url = ""
        self.gateway = Gateway(
            self.world,
            check_token=self._check_token,
            heartbeat_interval=heartbeat_interval,
            resume_url=lambda: self.gateway_url,
        )
        self.feed = MessageFeed(self.world, self.gateway)
        self.limiter = RateLimiter(limit=rate_limit, per=rate_limit_per)
        self.rest = RestApi(
            self.world,
            self.gateway,
            self.feed,
            check_token=self._check_token,
            gateway_url=lambda: self.gateway_url,
            limiter=self.limiter,
            callback_deadline=callback_deadline,
        )
        self.builder = InteractionBuilder(self.world)
        self._runner: web.AppRunner | None = None

    def _check_token(self, token: str) -> bool:
        token = token.removeprefix("Bot ")
        return bool(token) and (self.token is None or token == self.token)

    # -- lifecycle -------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.rest.middleware])
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        self.rest.add_routes(app)
        add_control_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, str]:
        """Serve on host:port (0 picks a free port); returns (api_base, gateway_url)."""
        self._runner = web.AppRunner(self.make_app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.api_base = f"http://{host}:{bound}/api/v10"
        self.gateway_url = f"ws://{host}:{bound}/gateway"
        log.info("discord sandbox: api %s gateway %s", self.api_base, self.gateway_url)
        return self.api_base, self.gateway_url

    async def stop(self) -> None:
        await self.gateway.disconnect(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- world setup -----------------------------------------------------

    @property
    def bot_id(self) -> int:
        return self.world.bot.id

    @property
    def application_id(self) -> int:
        return self.world.application_id

    def add_guild(self, guild_id: int | None = None, name: str = "sandbox") -> Guild:
        return self.world.add_guild(guild_id=guild_id, name=name)

    def add_channel(
        self, guild_id: int, name: str, *, kind: str = "text", bot_can_send: bool = True
    ) -> int:
        return self.world.add_channel(guild_id, name, kind=kind, bot_can_send=bot_can_send).id

    def add_user(self, name: str, *, bot: bool = False, dms_open: bool = True) -> int:
        return self.world.add_user(name, bot=bot, dms_open=dms_open).id

    def add_role(self, guild_id: int, name: str, *, permissions: int = 0) -> int:
        return self.world.add_role(guild_id, name, permissions=permissions).id

    def add_member(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), manage_guild: bool = False
    ) -> None:
        self.world.add_member(guild_id, user_id, roles=roles, manage_guild=manage_guild)

    def set_bot_can_send(self, channel_id: int, allowed: bool) -> None:
        self.world.set_bot_can_send(channel_id, allowed)

    async def announce_guild(self, guild_id: int) -> None:
        """Send GUILD_CREATE again, for world changes made after the bot connected."""
        await self.gateway.dispatch("GUILD_CREATE", self.world.guild_payload(guild_id))

    # -- gateway control -------------------------------------------------

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until a client has identified and been sent READY and its guilds."""
        await self._wait_gateway(lambda: bool(self.gateway.live_sessions()), timeout)

    async def wait_resumed(self, count: int = 1, timeout: float = 10.0) -> list[ResumeRecord]:
        await self._wait_gateway(lambda: len(self.gateway.resumes) >= count, timeout)
        return list(self.gateway.resumes)

    async def _wait_gateway(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self.gateway.changed:
            await asyncio.wait_for(self.gateway.changed.wait_for(predicate), timeout)

    async def disconnect(self, code: int | None = 4000, *, resumable: bool = True) -> int:
        """Force the bot off the gateway; it reconnects and RESUMEs (or re-IDENTIFYs)."""
        return await self.gateway.disconnect(code=code, resumable=resumable)

    @contextlib.asynccontextmanager
    async def outage(self, code: int | None = 4000) -> AsyncIterator[None]:
        """Disconnect and hold reconnections until the block ends; events queue for RESUME."""
        self.gateway.gate.clear()
        try:
            await self.disconnect(code)
            yield
        finally:
            self.gateway.gate.set()

    async def send_reconnect(self) -> None:
        """Gateway opcode 7: ask the client to reconnect and resume."""
        await self.gateway.send_op(OP_RECONNECT, None)

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Gateway opcode 9; with resumable False the client must IDENTIFY afresh."""
        await self.gateway.send_op(OP_INVALID_SESSION, resumable)

    @property
    def heartbeats(self) -> int:
        return self.gateway.heartbeats

    # -- interactions ----------------------------------------------------

    def _register(
        self, kind: int, guild_id: int | None, channel_id: int, user_id: int
    ) -> tuple[Interaction, dict[str, Any]]:
        iid, token, payload = self.builder.base(kind, guild_id, channel_id, user_id)
        interaction = Interaction(
            id=iid,
            token=token,
            type=kind,
            payload=payload,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            world=self.world,
        )
        return interaction, payload

    async def _send(self, interaction: Interaction) -> Interaction:
        self.rest.interactions[interaction.token] = interaction
        interaction.sent_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def slash(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        command: str,
        *path: str,
        options: Mapping[str, Any] | None = None,
    ) -> Interaction:
        """Run /command path... as user_id; options are checked against the synced tree."""
        interaction, payload = self._register(
            INTERACTION_APPLICATION_COMMAND, guild_id, channel_id, user_id
        )
        payload["data"] = self.builder.command_data(guild_id, command, tuple(path), options or {})
        return await self._send(interaction)

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        command: str,
        *path: str,
        options: Mapping[str, Any],
        focused: str,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Type into option `focused` and return the choices the bot offers."""
        interaction, payload = self._register(
            INTERACTION_AUTOCOMPLETE, guild_id, channel_id, user_id
        )
        payload["data"] = self.builder.command_data(
            guild_id, command, tuple(path), options, focused=focused
        )
        await self._send(interaction)
        await interaction.response(timeout)
        return interaction.choices()

    async def press_button(
        self, message_id: int, custom_id: str, user_id: int, *, values: list[str] | None = None
    ) -> Interaction:
        """Click a component (or pick select values) on a message the bot sent."""
        msg = self.world.message(message_id)
        interaction, payload = self._register(
            INTERACTION_MESSAGE_COMPONENT, msg.guild_id, msg.channel_id, user_id
        )
        payload["data"] = self.builder.component_data(msg, custom_id, values)
        payload["message"] = self.world.message_payload(msg)
        return await self._send(interaction)

    def interaction(self, interaction_id: int) -> Interaction:
        for interaction in self.rest.interactions.values():
            if interaction.id == int(interaction_id):
                return interaction
        raise KeyError(f"unknown interaction {interaction_id}")

    # -- messages --------------------------------------------------------

    def messages(self, channel_id: int) -> list[Message]:
        return self.world.channel_message_list(channel_id)

    def dm_messages(self, user_id: int) -> list[Message]:
        return self.world.channel_message_list(self.world.dm_channel(user_id).id)

    async def wait_for_messages(
        self, channel_id: int, n: int = 1, timeout: float = 5.0
    ) -> list[Message]:
        await self.feed.wait_for(lambda: len(self.messages(channel_id)) >= n, timeout)
        return self.messages(channel_id)

    async def wait_for_dm_messages(
        self, user_id: int, n: int = 1, timeout: float = 5.0
    ) -> list[Message]:
        channel_id = self.world.dm_channel(user_id).id
        return await self.wait_for_messages(channel_id, n, timeout)

    async def wait_for_edit(self, message_id: int, edits: int = 1, timeout: float = 5.0) -> Message:
        msg = self.world.message(message_id)
        await self.feed.wait_for(lambda: msg.edit_count >= edits, timeout)
        return msg

    async def user_message(self, channel_id: int, user_id: int, content: str) -> Message:
        """A user posts in a channel (or the bot's DM with them); the bot gets MESSAGE_CREATE."""
        msg = self.world.create_message(channel_id, user_id, {"content": content})
        await self.feed.created(msg)
        return msg

    # -- requests and rate limits ---------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.rest.requests

    def find_requests(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    async def wait_for_request(
        self, method: str, path_prefix: str = "", *, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Until `count` answered requests match; returns all that match."""

        def answered() -> list[RecordedRequest]:
            return [r for r in self.find_requests(method, path_prefix) if r.status]

        async with self.rest.requests_changed:
            await asyncio.wait_for(
                self.rest.requests_changed.wait_for(lambda: len(answered()) >= count), timeout
            )
        return answered()

    def set_rate_limit(self, limit: int, per: float) -> None:
        self.limiter.limit = limit
        self.limiter.per = per

    def force_429(
        self,
        path_prefix: str,
        n: int = 1,
        retry_after: float = 0.05,
        *,
        method: str | None = None,
        is_global: bool = False,
    ) -> None:
        """The next n requests under path_prefix (relative to the API base) get a 429."""
        self.rest.forced.append(ForcedLimit(path_prefix, n, retry_after, method, is_global))

    # -- commands --------------------------------------------------------

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        if guild_id is None:
            return list(self.world.global_commands)
        return list(self.world.guild_commands.get(guild_id, []))

    async def wait_for_commands(
        self, guild_id: int | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        path = "/applications/"
        await self.wait_for_request("PUT", path, timeout=timeout)
        return self.commands(guild_id)


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8800,
    token: str | None = None,
    on_started: Callable[[str, str], None] | None = None,
) -> None:
    """Run a sandbox with a starter world until cancelled (token None accepts any token).

    Prints the two settings to point roveit at it; on_started gets (api_base, gateway_url).
    """
    sandbox = DiscordSandbox(token=token)
    seed_world(sandbox)
    api_base, gateway_url = await sandbox.start(host, port)
    print(f"DISCORD_API_BASE={api_base}\nDISCORD_GATEWAY_URL={gateway_url}", flush=True)
    if on_started is not None:
        on_started(api_base, gateway_url)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def seed_world(sandbox: DiscordSandbox) -> None:
    """A guild with #general and #alerts and a member alice, so a first run has somewhere to talk."""
    guild = sandbox.add_guild(name="roveit sandbox")
    sandbox.add_channel(guild.id, "general")
    sandbox.add_channel(guild.id, "alerts")
    alice = sandbox.add_user("alice")
    sandbox.add_member(guild.id, alice)

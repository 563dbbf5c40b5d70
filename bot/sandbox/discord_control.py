"""The sandbox's JSON control API under /_sandbox/, for tests that run the bot out of process.

Ids are strings in answers (as in Discord's API) and may be strings or numbers in requests.

    GET  /_sandbox/                      this list
    GET  /_sandbox/state                 bot, application id, guilds, channels, users
    POST /_sandbox/setup                 {"users": [{"name", "dms_open"?}],
                                          "guilds": [{"name", "roles": [{"name", "permissions"}],
                                                      "channels": [{"name", "kind"?, "bot_can_send"?}],
                                                      "members": [{"user": name-or-id, "roles": [names],
                                                                   "manage_guild"?}]}]}
                                         -> ids by name; guilds are announced to a connected bot
    POST /_sandbox/slash                 {"guild_id"?, "channel_id", "user_id", "command", "path": [],
                                          "options": {}, "wait": seconds} -> interaction
    POST /_sandbox/autocomplete          same plus "focused" -> {"choices": [...]}
    POST /_sandbox/press                 {"message_id", "custom_id", "user_id", "values"?, "wait"}
    GET  /_sandbox/interactions/{id}     callback, latency, original and follow-up messages
    GET  /_sandbox/messages?channel=ID   or ?dm_user=ID -> {"messages": [...]}
    POST /_sandbox/messages              {"channel_id", "user_id", "content"}: a user speaks
    GET  /_sandbox/requests?since=N      recorded REST calls from index N
    GET  /_sandbox/commands?guild=ID     the synced command tree (global without guild)
    POST /_sandbox/disconnect            {"code"?: 4000 | null, "resumable"?: true}
    POST /_sandbox/force_429             {"path_prefix", "n"?, "retry_after"?, "method"?}
    POST /_sandbox/rate_limit            {"limit", "per"}

An interaction answer: {"id", "type", "callback": {"type", "data"} | null, "latency",
"original": message | null, "followups": [message]}; "wait" (default 5 s) is how long to
wait for the bot's callback before answering with callback null.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.discord_interactions import Interaction, InteractionError
from bot.sandbox.discord_world import WorldError

if TYPE_CHECKING:
    from bot.sandbox.discord import DiscordSandbox

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _guarded(handler: ControlHandler) -> ControlHandler:
    """Answer a caller's mistake with 400 and its message instead of a 500."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (InteractionError, WorldError, KeyError, ValueError, TypeError) as exc:
            return _reply({"error": str(exc)}, status=400)

    return wrapped


def _id(value: Any) -> int:
    return int(value)


class Control:
    """Handlers bound to one sandbox."""

    def __init__(self, sandbox: DiscordSandbox) -> None:
        self.sb = sandbox

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=__doc__ or "", content_type="text/plain")

    async def state(self, request: web.Request) -> web.Response:
        world = self.sb.world
        return _reply(
            {
                "bot": {"id": str(world.bot.id), "name": world.bot.name},
                "application_id": str(world.application_id),
                "api_base": self.sb.api_base,
                "gateway_url": self.sb.gateway_url,
                "connected": bool(self.sb.gateway.live_sessions()),
                "users": {str(u.id): u.name for u in world.users.values()},
                "guilds": {
                    str(g.id): {
                        "name": g.name,
                        "channels": {str(c): world.channels[c].name for c in g.channel_ids},
                        "roles": {str(r): world.roles[r].name for r in g.role_ids},
                        "members": [str(m) for m in g.members],
                    }
                    for g in world.guilds.values()
                },
            }
        )

    async def setup(self, request: web.Request) -> web.Response:
        body = await request.json()
        users = {
            u["name"]: self.sb.add_user(u["name"], dms_open=u.get("dms_open", True))
            for u in body.get("users", [])
        }
        guilds = {}
        for spec in body.get("guilds", []):
            guilds[spec["name"]] = self._setup_guild(spec, users)
        if self.sb.gateway.live_sessions():
            for made in guilds.values():
                await self.sb.announce_guild(int(made["id"]))
        return _reply(
            {
                "bot": {"id": str(self.sb.bot_id), "name": self.sb.world.bot.name},
                "application_id": str(self.sb.application_id),
                "users": {k: str(v) for k, v in users.items()},
                "guilds": guilds,
            }
        )

    def _setup_guild(self, spec: dict[str, Any], users: dict[str, int]) -> dict[str, Any]:
        guild = self.sb.add_guild(spec.get("id"), spec["name"])
        roles = {
            r["name"]: self.sb.add_role(
                guild.id, r["name"], permissions=int(r.get("permissions", 0))
            )
            for r in spec.get("roles", [])
        }
        channels = {
            c["name"]: self.sb.add_channel(
                guild.id,
                c["name"],
                kind=c.get("kind", "text"),
                bot_can_send=c.get("bot_can_send", True),
            )
            for c in spec.get("channels", [])
        }
        for member in spec.get("members", []):
            user = member["user"]
            user_id = users[user] if user in users else _id(user)
            self.sb.add_member(
                guild.id,
                user_id,
                roles=[roles[r] for r in member.get("roles", [])],
                manage_guild=bool(member.get("manage_guild", False)),
            )
        return {
            "id": str(guild.id),
            "channels": {k: str(v) for k, v in channels.items()},
            "roles": {k: str(v) for k, v in roles.items()},
        }

    async def _answer(self, interaction: Interaction, wait: float) -> web.Response:
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await interaction.response(wait)
        return _reply(interaction.to_json())

    async def slash(self, request: web.Request) -> web.Response:
        body = await request.json()
        guild_id = body.get("guild_id")
        interaction = await self.sb.slash(
            None if guild_id is None else _id(guild_id),
            _id(body["channel_id"]),
            _id(body["user_id"]),
            body["command"],
            *body.get("path", []),
            options=body.get("options") or {},
        )
        return await self._answer(interaction, float(body.get("wait", 5.0)))

    async def autocomplete(self, request: web.Request) -> web.Response:
        body = await request.json()
        guild_id = body.get("guild_id")
        try:
            choices = await self.sb.autocomplete(
                None if guild_id is None else _id(guild_id),
                _id(body["channel_id"]),
                _id(body["user_id"]),
                body["command"],
                *body.get("path", []),
                options=body.get("options") or {},
                focused=body["focused"],
                timeout=float(body.get("wait", 5.0)),
            )
        except TimeoutError:
            return _reply({"error": "the bot gave no autocomplete result"}, status=504)
        return _reply({"choices": choices})

    async def press(self, request: web.Request) -> web.Response:
        body = await request.json()
        interaction = await self.sb.press_button(
            _id(body["message_id"]),
            body["custom_id"],
            _id(body["user_id"]),
            values=body.get("values"),
        )
        return await self._answer(interaction, float(body.get("wait", 5.0)))

    async def interaction(self, request: web.Request) -> web.Response:
        return _reply(self.sb.interaction(_id(request.match_info["id"])).to_json())

    async def messages(self, request: web.Request) -> web.Response:
        if "dm_user" in request.query:
            msgs = self.sb.dm_messages(_id(request.query["dm_user"]))
        else:
            msgs = self.sb.messages(_id(request.query["channel"]))
        return _reply({"messages": [m.to_json() for m in msgs]})

    async def post_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        msg = await self.sb.user_message(
            _id(body["channel_id"]), _id(body["user_id"]), body["content"]
        )
        return _reply(msg.to_json())

    async def requests(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        recorded = self.sb.requests[since:]
        return _reply({"next": since + len(recorded), "requests": [r.to_json() for r in recorded]})

    async def commands(self, request: web.Request) -> web.Response:
        guild = request.query.get("guild")
        return _reply({"commands": self.sb.commands(None if guild is None else _id(guild))})

    async def disconnect(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        closed = await self.sb.disconnect(
            body.get("code", 4000), resumable=body.get("resumable", True)
        )
        return _reply({"closed": closed})

    async def force_429(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sb.force_429(
            body["path_prefix"],
            int(body.get("n", 1)),
            float(body.get("retry_after", 0.05)),
            method=body.get("method"),
        )
        return _reply({"ok": True})

    async def rate_limit(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sb.set_rate_limit(int(body["limit"]), float(body["per"]))
        return _reply({"ok": True})


def add_control_routes(app: web.Application, sandbox: DiscordSandbox) -> None:
    control = Control(sandbox)
    routes: list[tuple[str, str, ControlHandler]] = [
        ("GET", "/_sandbox/", control.index),
        ("GET", "/_sandbox/state", control.state),
        ("POST", "/_sandbox/setup", control.setup),
        ("POST", "/_sandbox/slash", control.slash),
        ("POST", "/_sandbox/autocomplete", control.autocomplete),
        ("POST", "/_sandbox/press", control.press),
        ("GET", "/_sandbox/interactions/{id}", control.interaction),
        ("GET", "/_sandbox/messages", control.messages),
        ("POST", "/_sandbox/messages", control.post_message),
        ("GET", "/_sandbox/requests", control.requests),
        ("GET", "/_sandbox/commands", control.commands),
        ("POST", "/_sandbox/disconnect", control.disconnect),
        ("POST", "/_sandbox/force_429", control.force_429),
        ("POST", "/_sandbox/rate_limit", control.rate_limit),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guarded(handler))

"""The local Discord's REST API under /api/v{n}: the routes discord.py calls, recorded.

Answers use Discord's error codes and its rate-limit headers; a 429 carries the
`Via` header, without which discord.py takes it for a Cloudflare ban.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.discord_gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    Gateway,
    GatewaySession,
)
from bot.sandbox.discord_interactions import (
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_PONG,
    CALLBACK_UPDATE_MESSAGE,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_MESSAGE_COMPONENT,
    INTERACTION_PING,
    Interaction,
)
from bot.sandbox.discord_world import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    Message,
    World,
    apply_message_body,
)

BODY: web.RequestKey[Any] = web.RequestKey("discord_sandbox_body", object)
API_PREFIX = re.compile(r"^/api/v\d+")
MAX_CONTENT = 2000
MAX_EMBEDS = 10
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")

ALLOWED_CALLBACKS: Mapping[int, frozenset[int]] = {
    INTERACTION_PING: frozenset({CALLBACK_PONG}),
    INTERACTION_APPLICATION_COMMAND: frozenset(
        {CALLBACK_CHANNEL_MESSAGE, CALLBACK_DEFERRED_CHANNEL_MESSAGE, CALLBACK_MODAL}
    ),
    INTERACTION_MESSAGE_COMPONENT: frozenset(
        {
            CALLBACK_CHANNEL_MESSAGE,
            CALLBACK_DEFERRED_CHANNEL_MESSAGE,
            CALLBACK_DEFERRED_UPDATE_MESSAGE,
            CALLBACK_UPDATE_MESSAGE,
            CALLBACK_MODAL,
        }
    ),
    INTERACTION_AUTOCOMPLETE: frozenset({CALLBACK_AUTOCOMPLETE_RESULT}),
}


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Content-Type exactly application/json: discord.py parses JSON on nothing else."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=dumps(data).encode(), status=status, headers=all_headers)


class ApiError(Exception):
    """An error answered in Discord's shape: {"message", "code"[, "errors"]}."""

    def __init__(
        self, status: int, code: int, message: str, *, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return json_response(body, status=self.status)


def invalid_form(field_name: str, message: str) -> ApiError:
    errors = {field_name: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}}
    return ApiError(400, 50035, "Invalid Form Body", errors=errors)


UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")


def api_error(spec: tuple[int, int, str]) -> ApiError:
    return ApiError(*spec)


@dataclass
class RecordedRequest:
    """One REST call as the sandbox saw it; path is relative to the API base."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    status: int = 0
    invalid_body: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "json": self.json,
            "headers": self.headers,
            "status": self.status,
        }


@dataclass
class ForcedLimit:
    path_prefix: str
    remaining: int
    retry_after: float
    method: str | None = None
    is_global: bool = False


class RateLimiter:
    """Fixed-window buckets (Discord's per-route limits), keyed by route and major id."""

    def __init__(self, *, limit: int = 5, per: float = 5.0) -> None:
        self.limit = limit
        self.per = per
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> tuple[bool, int, float]:
        """Take a token: (allowed, remaining, seconds until the window resets)."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.per:
            start, count = now, 0
        reset_after = max(start + self.per - now, 0.0)
        if count >= self.limit:
            return False, 0, reset_after
        count += 1
        self._windows[key] = (start, count)
        return True, self.limit - count, reset_after


class MessageFeed:
    """Tells the gateway and waiting tests about message changes."""

    def __init__(self, world: World, gateway: Gateway) -> None:
        self.world = world
        self.gateway = gateway
        self.changed = asyncio.Condition()

    def _intent(self, msg: Message) -> int:
        return INTENT_DIRECT_MESSAGES if msg.guild_id is None else INTENT_GUILD_MESSAGES

    def _redactor(self, msg: Message) -> Callable[[GatewaySession, dict[str, Any]], dict[str, Any]]:
        """Without the message content intent a bot sees others' guild text as empty."""

        def redact(session: GatewaySession, data: dict[str, Any]) -> dict[str, Any]:
            visible = (
                session.intents & INTENT_MESSAGE_CONTENT
                or msg.guild_id is None
                or msg.author_id == self.world.bot.id
                or self.world.bot.id in msg.pinged_user_ids
            )
            if visible:
                return data
            return {**data, "content": "", "embeds": [], "components": [], "attachments": []}

        return redact

    async def created(self, msg: Message) -> None:
        if not msg.ephemeral:
            payload = self.world.message_payload(msg)
            await self.gateway.dispatch(
                "MESSAGE_CREATE", payload, intent=self._intent(msg), redact=self._redactor(msg)
            )
        await self.notify()

    async def updated(self, msg: Message) -> None:
        if not msg.ephemeral:
            payload = self.world.message_payload(msg)
            await self.gateway.dispatch(
                "MESSAGE_UPDATE", payload, intent=self._intent(msg), redact=self._redactor(msg)
            )
        await self.notify()

    async def deleted(self, msg: Message) -> None:
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            await self.gateway.dispatch("MESSAGE_DELETE", data, intent=self._intent(msg))
        await self.notify()

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestApi:
    """Route handlers plus the recording, auth and rate-limit middleware."""

    def __init__(
        self,
        world: World,
        gateway: Gateway,
        feed: MessageFeed,
        *,
        check_token: Callable[[str], bool],
        gateway_url: Callable[[], str],
        limiter: RateLimiter,
        callback_deadline: float,
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.feed = feed
        self.check_token = check_token
        self.gateway_url = gateway_url
        self.limiter = limiter
        self.callback_deadline = callback_deadline
        self.requests: list[RecordedRequest] = []
        self.forced: list[ForcedLimit] = []
        self.interactions: dict[str, Interaction] = {}
        self.requests_changed = asyncio.Condition()

    # -- wiring ----------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway),
            ("GET", "/users/@me", self.get_me),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id:\\d+}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/applications/{app_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/commands", self.put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback),
            ("POST", "/webhooks/{app_id}/{token}", self.followup),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self.get_webhook_message),
            (
                "PATCH",
                "/webhooks/{app_id}/{token}/messages/{message_id}",
                self.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{app_id}/{token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("GET", "/channels/{channel_id}/messages", self.list_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/typing", self.no_content),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.no_content,
            ),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.get_roles),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, "/api/v{version:\\d+}" + path, handler)
        app.router.add_route("*", "/api/{tail:.*}", self.not_found)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        record = await self._record(request)
        try:
            response = await self._guarded(request, record, handler)
        except ApiError as exc:
            response = exc.response()
        record.status = response.status
        async with self.requests_changed:
            self.requests_changed.notify_all()
        return response

    async def _record(self, request: web.Request) -> RecordedRequest:
        record = RecordedRequest(
            method=request.method,
            path=API_PREFIX.sub("", request.path),
            query=dict(request.query),
            json=None,
            headers=dict(request.headers),
        )
        self.requests.append(record)
        try:
            record.json = await self._read_body(request)
        except ValueError:
            record.invalid_body = True
        request[BODY] = record.json if record.json is not None else {}
        return record

    @staticmethod
    async def _read_body(request: web.Request) -> Any:
        """JSON, or multipart with payload_json (discord.py's shape when files are attached)."""
        if request.content_type == "multipart/form-data":
            form = await request.post()
            raw = form.get("payload_json")
            body = json.loads(raw) if isinstance(raw, str) else {}
            body["_files"] = [k for k in form if k != "payload_json"]
            return body
        if not request.can_read_body:
            return None
        text = await request.text()
        return json.loads(text) if text and request.content_type == "application/json" else text

    async def _guarded(
        self, request: web.Request, record: RecordedRequest, handler: Handler
    ) -> web.StreamResponse:
        self._authorize(request, record.path)
        if record.invalid_body:
            raise ApiError(400, 50109, "The request body contains invalid JSON.")
        forced = self._take_forced(record)
        if forced is not None:
            return self._too_many(forced.retry_after, is_global=forced.is_global, bucket="forced")
        bucket = self._bucket(record)
        if bucket is None:
            return await handler(request)
        allowed, remaining, reset_after = self.limiter.hit(bucket, time.monotonic())
        if not allowed:
            return self._too_many(reset_after, is_global=False, bucket=bucket)
        response = await handler(request)
        response.headers.update(self._limit_headers(bucket, remaining, reset_after))
        return response

    def _authorize(self, request: web.Request, path: str) -> None:
        if path.startswith(("/interactions/", "/webhooks/", "/gateway")) and path != "/gateway/bot":
            return
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot ") or not self.check_token(auth[4:]):
            raise ApiError(401, 0, "401: Unauthorized")

    def _take_forced(self, record: RecordedRequest) -> ForcedLimit | None:
        for forced in self.forced:
            method_ok = forced.method is None or forced.method.upper() == record.method
            if forced.remaining > 0 and method_ok and record.path.startswith(forced.path_prefix):
                forced.remaining -= 1
                return forced
        return None

    @staticmethod
    def _bucket(record: RecordedRequest) -> str | None:
        """Message creation is limited per channel, like Discord's 5 per 5 s."""
        match = re.fullmatch(r"/channels/(\d+)/messages", record.path)
        if record.method == "POST" and match:
            return f"channel-messages:{match.group(1)}"
        return None

    def _limit_headers(self, bucket: str, remaining: int, reset_after: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limiter.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket.split(":")[0],
        }

    def _too_many(self, retry_after: float, *, is_global: bool, bucket: str) -> web.Response:
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
        }
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(self._limit_headers(bucket, 0, retry_after))
        return json_response(body, status=429, headers=headers)

    # -- misc ------------------------------------------------------------

    async def not_found(self, request: web.Request) -> web.Response:
        raise ApiError(404, 0, "404: Not Found")

    async def no_content(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    async def get_gateway(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return json_response({"url": self.gateway_url(), "shards": 1, "session_start_limit": limit})

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.world.bot_user_payload())

    async def get_user(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["user_id"])
        if user_id not in self.world.users:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(self.world.user_payload(user_id))

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(self.world.application_payload())

    # -- commands --------------------------------------------------------

    def _command_list(self, request: web.Request) -> tuple[int | None, list[dict[str, Any]]]:
        if request.match_info["app_id"] != str(self.world.application_id):
            raise ApiError(403, 50001, "Missing Access")
        raw_guild = request.match_info.get("guild_id")
        if raw_guild is None:
            return None, self.world.global_commands
        if int(raw_guild) not in self.world.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        return int(raw_guild), self.world.guild_commands.get(int(raw_guild), [])

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self._command_list(request)[1])

    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id, old = self._command_list(request)
        body = request[BODY]
        if not isinstance(body, list):
            raise invalid_form("_root", "expected an array of commands")
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        stored = []
        for index, command in enumerate(body):
            problem = command_problem(command)
            if problem:
                raise invalid_form(str(index), problem)
            key = (command["name"], command.get("type", 1))
            stored.append(self._stored_command(command, old_ids.get(key), guild_id))
        if guild_id is None:
            self.world.global_commands = stored
        else:
            self.world.guild_commands[guild_id] = stored
        return json_response(stored)

    def _stored_command(
        self, command: dict[str, Any], old_id: str | None, guild_id: int | None
    ) -> dict[str, Any]:
        stored = {
            "type": 1,
            "default_member_permissions": None,
            "nsfw": False,
            "options": [],
            **command,
            "id": old_id or str(self.world.next_id()),
            "application_id": str(self.world.application_id),
            "version": str(self.world.next_id()),
        }
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        return stored

    # -- channels & messages --------------------------------------------

    def _channel(self, request: web.Request) -> int:
        raw = request.match_info["channel_id"]
        if not raw.isdigit() or int(raw) not in self.world.channels:
            raise api_error(UNKNOWN_CHANNEL)
        return int(raw)

    def _channel_message(self, request: web.Request) -> Message:
        channel_id = self._channel(request)
        raw = request.match_info["message_id"]
        msg = self.world.messages.get(int(raw)) if raw.isdigit() else None
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise api_error(UNKNOWN_MESSAGE)
        return msg

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.world.channel_payload(self._channel(request)))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel_id = self._channel(request)
        limit = int(request.query.get("limit", 50))
        msgs = [m for m in self.world.channel_message_list(channel_id) if not m.ephemeral]
        newest_first = list(reversed(msgs))[:limit]
        return json_response([self.world.message_payload(m) for m in newest_first])

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self.world.message_payload(self._channel_message(request)))

    async def create_message(self, request: web.Request) -> web.Response:
        channel_id = self._channel(request)
        self._check_can_send(channel_id)
        body = request[BODY]
        check_message_body(body, creating=True)
        flags = int(body.get("flags") or 0) & ~(MESSAGE_FLAG_EPHEMERAL | MESSAGE_FLAG_LOADING)
        msg = self.world.create_message(channel_id, self.world.bot.id, {**body, "flags": flags})
        await self.feed.created(msg)
        return json_response(self.world.message_payload(msg))

    def _check_can_send(self, channel_id: int) -> None:
        channel = self.world.channels[channel_id]
        if channel.guild_id is None:
            assert channel.recipient_id is not None
            if not self.world.users[channel.recipient_id].dms_open:
                raise ApiError(403, 50007, "Cannot send messages to this user")
        elif not self.world.bot_can_send(channel_id):
            raise ApiError(403, 50013, "Missing Permissions")

    async def edit_message(self, request: web.Request) -> web.Response:
        msg = self._channel_message(request)
        if msg.author_id != self.world.bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        check_message_body(request[BODY], creating=False)
        self.world.edit_message(msg, request[BODY])
        await self.feed.updated(msg)
        return json_response(self.world.message_payload(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        msg = self._channel_message(request)
        msg.deleted = True
        await self.feed.deleted(msg)
        return web.Response(status=204)

    async def create_dm(self, request: web.Request) -> web.Response:
        raw = str(request[BODY].get("recipient_id", ""))
        if not raw.isdigit() or int(raw) not in self.world.users:
            raise ApiError(400, 50035, "Invalid Form Body")
        return json_response(self.world.channel_payload(self.world.dm_channel(int(raw)).id))

    # -- guilds ----------------------------------------------------------

    def _guild_id(self, request: web.Request) -> int:
        raw = request.match_info["guild_id"]
        if not raw.isdigit() or int(raw) not in self.world.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        return int(raw)

    async def get_guild(self, request: web.Request) -> web.Response:
        payload = self.world.guild_payload(self._guild_id(request))
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            payload.pop(key, None)
        return json_response(payload)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return json_response([self.world.channel_payload(c) for c in guild.channel_ids])

    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return json_response([self.world.role_payload(r) for r in guild.role_ids])

    async def list_members(self, request: web.Request) -> web.Response:
        guild_id = self._guild_id(request)
        limit = int(request.query.get("limit", 1))
        after = int(request.query.get("after", 0))
        ids = sorted(u for u in self.world.guilds[guild_id].members if u > after)[:limit]
        return json_response([self.world.member_payload(guild_id, u) for u in ids])

    async def get_member(self, request: web.Request) -> web.Response:
        guild_id = self._guild_id(request)
        raw = request.match_info["user_id"]
        if not raw.isdigit() or int(raw) not in self.world.guilds[guild_id].members:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(self.world.member_payload(guild_id, int(raw)))

    # -- interactions ----------------------------------------------------

    def _interaction(self, token: str, app_or_id: str, *, by_app: bool) -> Interaction:
        inter = self.interactions.get(token)
        if by_app:
            if inter is None or app_or_id != str(self.world.application_id):
                raise api_error(UNKNOWN_WEBHOOK)
        elif inter is None or app_or_id != str(inter.id):
            raise api_error(UNKNOWN_INTERACTION)
        return inter

    async def callback(self, request: web.Request) -> web.Response:
        info = request.match_info
        inter = self._interaction(info["token"], info["interaction_id"], by_app=False)
        if inter.callback is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - inter.sent_at > self.callback_deadline:
            raise api_error(UNKNOWN_INTERACTION)
        body = request[BODY]
        kind = int(body.get("type", 0))
        if kind not in ALLOWED_CALLBACKS.get(inter.type, frozenset()):
            raise invalid_form(
                "type", f"callback type {kind} is not valid for interaction type {inter.type}"
            )
        data = body.get("data") or {}
        if kind in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            check_message_body(data, creating=kind == CALLBACK_CHANNEL_MESSAGE)
        message = await self._apply_callback(inter, kind, data)
        inter.callback = {"type": kind, "data": data}
        inter.callback_at = time.monotonic()
        inter.callback_status = 200
        await inter.notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return json_response(self._callback_response(inter, kind, message))

    async def _apply_callback(
        self, inter: Interaction, kind: int, data: dict[str, Any]
    ) -> Message | None:
        world = self.world
        if kind in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_DEFERRED_CHANNEL_MESSAGE):
            flags = int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
            body = data if kind == CALLBACK_CHANNEL_MESSAGE else {}
            if kind == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
                flags |= MESSAGE_FLAG_LOADING
            msg = world.create_message(
                inter.channel_id,
                world.bot.id,
                {k: v for k, v in body.items() if k != "flags"},
                flags=flags,
                webhook_id=world.application_id,
                application_id=world.application_id,
                interaction_id=inter.id,
                message_type=20 if inter.type == INTERACTION_APPLICATION_COMMAND else 0,
            )
            inter.original_message_id = msg.id
            await self.feed.created(msg)
            return msg
        if kind in (CALLBACK_UPDATE_MESSAGE, CALLBACK_DEFERRED_UPDATE_MESSAGE):
            source = int(inter.payload["message"]["id"])
            inter.original_message_id = source
            msg = world.messages[source]
            if kind == CALLBACK_UPDATE_MESSAGE:
                world.edit_message(msg, data)
                await self.feed.updated(msg)
            return msg
        return None

    def _callback_response(
        self, inter: Interaction, kind: int, message: Message | None
    ) -> dict[str, Any]:
        callback: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            callback["response_message_id"] = str(message.id)
            callback["response_message_loading"] = bool(message.flags & MESSAGE_FLAG_LOADING)
            callback["response_message_ephemeral"] = message.ephemeral
            resource["message"] = self.world.message_payload(message)
        return {"interaction": callback, "resource": resource}

    def _webhook_message(self, request: web.Request) -> tuple[Interaction, Message]:
        info = request.match_info
        inter = self._interaction(info["token"], info["app_id"], by_app=True)
        raw = info["message_id"]
        if raw == "@original":
            mid = inter.original_message_id
        else:
            mid = int(raw) if raw.isdigit() else None
            if mid != inter.original_message_id and mid not in inter.followup_ids:
                mid = None
        msg = self.world.messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted:
            raise api_error(UNKNOWN_MESSAGE)
        return inter, msg

    async def followup(self, request: web.Request) -> web.Response:
        info = request.match_info
        inter = self._interaction(info["token"], info["app_id"], by_app=True)
        if inter.callback is None:
            raise api_error(UNKNOWN_WEBHOOK)
        body = request[BODY]
        check_message_body(body, creating=True)
        msg = self.world.create_message(
            inter.channel_id,
            self.world.bot.id,
            {k: v for k, v in body.items() if k != "flags"},
            flags=int(body.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL,
            webhook_id=self.world.application_id,
            application_id=self.world.application_id,
            interaction_id=inter.id,
        )
        inter.followup_ids.append(msg.id)
        await self.feed.created(msg)
        await inter.notify()
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(self.world.message_payload(msg))
        return web.Response(status=204)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        _, msg = self._webhook_message(request)
        return json_response(self.world.message_payload(msg))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        inter, msg = self._webhook_message(request)
        body = request[BODY]
        check_message_body(body, creating=False)
        if msg.flags & MESSAGE_FLAG_LOADING:
            msg.flags &= ~MESSAGE_FLAG_LOADING
            self._fill_deferred(msg, body)
        else:
            self.world.edit_message(msg, body)
        if msg.id == inter.original_message_id:
            inter.original_edits.append(body)
        await self.feed.updated(msg)
        await inter.notify()
        return json_response(self.world.message_payload(msg))

    def _fill_deferred(self, msg: Message, body: dict[str, Any]) -> None:
        """The first edit of a deferred response is its content, not an edit of it."""
        apply_message_body(msg, {k: v for k, v in body.items() if k != "flags"}, self.world)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        inter, msg = self._webhook_message(request)
        msg.deleted = True
        await self.feed.deleted(msg)
        await inter.notify()
        return web.Response(status=204)


def check_message_body(body: Any, *, creating: bool) -> None:
    """Discord's checks that catch real bugs: empty, too long, too many embeds."""
    if not isinstance(body, dict):
        raise invalid_form("_root", "expected an object")
    content = body.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise invalid_form("content", f"Must be {MAX_CONTENT} or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form("embeds", f"Must be {MAX_EMBEDS} or fewer in length.")
    has_body = (
        content or embeds or body.get("components") or body.get("sticker_ids") or body.get("_files")
    )
    if creating and not has_body:
        raise ApiError(400, 50006, "Cannot send an empty message")


def command_problem(command: Mapping[str, Any]) -> str | None:
    """What Discord would reject in an application command; None when it is fine."""
    name = command.get("name", "")
    if not COMMAND_NAME.match(name) or (command.get("type", 1) == 1 and name != name.lower()):
        return f"invalid command name {name!r}"
    if command.get("type", 1) == 1 and not 1 <= len(command.get("description", "")) <= 100:
        return f"command {name!r} needs a description of 1-100 characters"
    return options_problem(command.get("options") or [], name)


def options_problem(options: list[Mapping[str, Any]], where: str) -> str | None:
    if len(options) > 25:
        return f"{where}: more than 25 options"
    seen_optional = False
    for option in options:
        oname = option.get("name", "")
        if not COMMAND_NAME.match(oname) or oname != oname.lower():
            return f"{where}: invalid option name {oname!r}"
        if not 1 <= len(option.get("description", "")) <= 100:
            return f"{where} {oname}: description must be 1-100 characters"
        if option.get("type") in (1, 2):
            problem = options_problem(option.get("options") or [], f"{where} {oname}")
            if problem:
                return problem
            continue
        if option.get("required"):
            if seen_optional:
                return f"{where}: required option {oname!r} after an optional one"
        else:
            seen_optional = True
        if option.get("autocomplete") and option.get("choices"):
            return f"{where} {oname}: autocomplete and choices cannot both be set"
    return None

"""The local Discord's websocket gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME.

Every dispatch gets a sequence number and is kept per session, so a client that
drops and RESUMEs receives what it missed, in order, before RESUMED.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.discord_world import World

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_NOT_AUTHENTICATED = 4003

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

REPLAY_BUFFER = 2000


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class GatewayConnection:
    """One websocket; compresses in order under a lock so the zlib stream stays whole."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: str | None):
        self.ws = ws
        self.request = request
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.send_unlocked(payload)

    async def send_unlocked(self, payload: dict[str, Any]) -> None:
        text = _dumps(payload)
        if self._zlib is not None:
            data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(text)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass
class GatewaySession:
    session_id: str
    intents: int
    seq: int = 0
    resumable: bool = True
    conn: GatewayConnection | None = None
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wants(self, intent: int | None) -> bool:
        return intent is None or bool(self.intents & intent)


Redactor = Callable[[GatewaySession, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ResumeRecord:
    session_id: str
    from_seq: int
    replayed: int
    ok: bool


class Gateway:
    """Serves /gateway; the sandbox facade drives it through dispatch() and disconnect()."""

    def __init__(
        self,
        world: World,
        *,
        check_token: Callable[[str], bool],
        heartbeat_interval: float,
        resume_url: Callable[[], str],
    ) -> None:
        self.world = world
        self.check_token = check_token
        self.heartbeat_interval = heartbeat_interval
        self.resume_url = resume_url
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.heartbeats = 0
        self.identifies = 0
        self.resumes: list[ResumeRecord] = []
        self.received: deque[dict[str, Any]] = deque(maxlen=REPLAY_BUFFER)
        self.gate = asyncio.Event()
        self.gate.set()
        self.changed = asyncio.Condition()

    # -- driving ---------------------------------------------------------

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None = None,
        redact: Redactor | None = None,
    ) -> int:
        """Send an event to every live session (buffered if disconnected); returns how many."""
        count = 0
        for session in list(self.sessions.values()):
            if session.resumable and session.wants(intent):
                shown = data if redact is None else redact(session, data)
                await self._dispatch_to(session, event, shown)
                count += 1
        return count

    async def _dispatch_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            session.seq += 1
            payload = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
            session.buffer.append(payload)
            conn = session.conn
            if conn is None:
                return
            try:
                await conn.send(payload)
            except (ConnectionError, RuntimeError):
                log.debug("gateway send failed; event %s kept for RESUME", event)
                if session.conn is conn:
                    session.conn = None

    async def disconnect(self, *, code: int | None = 4000, resumable: bool = True) -> int:
        """Cut every live connection; code None drops TCP without a close frame."""
        conns = []
        for session in self.sessions.values():
            if session.conn is not None:
                conns.append(session.conn)
                session.conn = None
            if not resumable:
                session.resumable = False
        conns.extend(c for c in self.connections if c not in conns)
        for conn in conns:
            if code is None:
                conn.abort()
            else:
                with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                    await conn.ws.close(code=code, message=b"sandbox disconnect")
        return len(conns)

    async def send_op(self, op: int, data: Any) -> None:
        """Send a non-dispatch opcode (RECONNECT, INVALID_SESSION) to every live session."""
        for session in self.sessions.values():
            if session.conn is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await session.conn.send({"op": op, "d": data, "s": None, "t": None})
            if op == OP_INVALID_SESSION and not data:
                session.resumable = False

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.conn is not None and s.resumable]

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # -- serving ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        compress = request.query.get("compress")
        conn = GatewayConnection(ws, request, compress)
        self.connections.add(conn)
        session: GatewaySession | None = None
        try:
            await conn.send(
                {"op": OP_HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                self.received.append(payload)
                session = await self._handle_op(conn, session, payload) or session
        except (ConnectionError, RuntimeError) as exc:
            log.debug("gateway connection ended: %r", exc)
        finally:
            self.connections.discard(conn)
            if session is not None and session.conn is conn:
                session.conn = None
            await self._notify()
        return ws

    async def _handle_op(
        self, conn: GatewayConnection, session: GatewaySession | None, payload: dict[str, Any]
    ) -> GatewaySession | None:
        op = payload.get("op")
        data = payload.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            await conn.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self.gate.wait()
            return await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self.gate.wait()
            return await self._resume(conn, data or {})
        elif op == OP_REQUEST_MEMBERS:
            if session is None:
                await conn.ws.close(code=CLOSE_NOT_AUTHENTICATED)
                return None
            await self._members_chunk(session, data or {})
        return None

    async def _identify(
        self, conn: GatewayConnection, data: dict[str, Any]
    ) -> GatewaySession | None:
        if not self.check_token(str(data.get("token", ""))):
            await conn.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        self.identifies += 1
        session = GatewaySession(
            session_id=secrets.token_hex(16), intents=int(data.get("intents", 0))
        )
        self.sessions[session.session_id] = session
        ready = self._ready_payload(session, data)
        async with session.lock:
            session.conn = conn
        await self._dispatch_to(session, "READY", ready)
        for guild_id in list(self.world.guilds):
            await self._dispatch_to(session, "GUILD_CREATE", self.world.guild_payload(guild_id))
        await self._notify()
        return session

    def _ready_payload(self, session: GatewaySession, identify: dict[str, Any]) -> dict[str, Any]:
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.world.bot_user_payload(),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url(),
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "auth": {},
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        return ready

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        from_seq = int(data.get("seq") or 0)
        if session is None or not session.resumable or not self.check_token(str(data.get("token"))):
            self.resumes.append(ResumeRecord(str(data.get("session_id")), from_seq, 0, ok=False))
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            await self._notify()
            return None
        async with session.lock:
            missed = [p for p in session.buffer if p["s"] > from_seq]
            session.seq += 1
            resumed = {"op": OP_DISPATCH, "t": "RESUMED", "s": session.seq, "d": {}}
            session.buffer.append(resumed)
            session.conn = conn
            async with conn.lock:
                for payload in [*missed, resumed]:
                    await conn.send_unlocked(payload)
        self.resumes.append(ResumeRecord(session.session_id, from_seq, len(missed), ok=True))
        await self._notify()
        return session

    async def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild_id = int(data.get("guild_id", 0))
        guild = self.world.guilds.get(guild_id)
        members = (
            [] if guild is None else [self.world.member_payload(guild_id, u) for u in guild.members]
        )
        chunk: dict[str, Any] = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

"""A local Reddit OAuth API that the real asyncpraw client talks to.

Point asyncpraw at it with ``oauth_url`` and ``reddit_url`` both set to the base URL
that :meth:`RedditSandbox.start` returns. Items (Reddit things) are released over time,
the bot's writes are recorded, and rate limits and faults can be switched on.

Control API, for out-of-process tests (never rate-limited, never faulted, not recorded):

    GET  /_sandbox/requests          every API request: method, path, query, form, status, time
    GET  /_sandbox/writes            every successful write (comment, compose, crosspost, ...)
    GET  /_sandbox/state             counts: pending, released, requests, writes; and the
                                     requests being answered now (in_flight)
    POST /_sandbox/release?n=N       release the next N items (n=all: every pending item)
    POST /_sandbox/replay?rate=R     start releasing pending items at R a second
    POST /_sandbox/items             JSON thing {"kind", "data"}: publish it now
    POST /_sandbox/faults            JSON {"error_rate", "latency", "malformed_rate",
                                     "drop_rate", "burst_429"} (any subset)
    POST /_sandbox/ratelimit         JSON {"kind": "comment"|"compose"|"crosspost"|"any",
                                     "minutes": 9, "count": 1} (or "seconds")
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import gzip
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.sandbox.reddit_faults import (
    BudgetState,
    Faults,
    RateBudget,
    RecordedRequest,
    WriteThrottle,
)
from bot.sandbox.reddit_store import ItemStore, SandboxError, subreddit_filter
from bot.sandbox.reddit_things import (
    COMPOSE_OK,
    Thing,
    api_errors,
    error_body,
    listing,
    me_data,
    page,
    parse_limit,
    redditor_about,
    subreddit_about,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/access_token"
CONTROL_PREFIX = "/_sandbox/"
MAX_MULTIREDDIT_PATH = 2000
SCOPE = "identity edit history privatemessages read submit"
# Subreddit and multireddit listings; not /user/{name}/comments (a user's history).
LISTING_PATH = re.compile(r"^/(r/[^/]+|user/[^/]+/m/[^/]+)/(new|comments)/?$")

__all__ = ["RedditSandbox", "load_items", "serve"]


def load_items(path: str | Path) -> list[Thing]:
    """Read Reddit things, one JSON object a line; gzip is detected by its magic bytes."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    items: list[Thing] = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        thing = json.loads(line)
        if not isinstance(thing, dict) or "kind" not in thing or "data" not in thing:
            raise ValueError(f"{path}:{number}: not a Reddit thing with kind and data")
        items.append(thing)
    return items


@dataclass
class _Token:
    client_id: str
    user: str | None
    expires_at: float


@dataclass
class _Call:
    """One authorized API request, as handlers see it."""

    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    token: _Token


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


_Handler = Callable[[_Call], Awaitable[_Reply]]


class RedditSandbox:
    """The fake Reddit: in-process (same event loop) or as a server via :func:`serve`."""

    def __init__(
        self,
        items: Iterable[Thing] | None = None,
        *,
        username: str = "roveit_bot",
        rate_limit: int = 100,
        rate_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        restamp: bool = False,
        token_ttl: float = 3600.0,
    ) -> None:
        self.username = username
        self.store = ItemStore(items or (), username=username, restamp=restamp)
        self.faults = Faults(rng=rng or random.Random(0))
        self.budget = RateBudget(limit=rate_limit, window=rate_window, clock=clock)
        self.requests: list[RecordedRequest] = []
        self.writes: list[dict[str, Any]] = []
        # API requests being answered now ("POST /api/comment": 1), e.g. held by latency.
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._clock = clock
        self._token_ttl = token_ttl
        self._tokens: dict[str, _Token] = {}
        self._throttle = WriteThrottle()
        self._writes_changed = asyncio.Condition()
        self._released_changed = asyncio.Condition()
        self._wakers: set[asyncio.Task[None]] = set()
        self._multireddits: dict[tuple[str, str], str] = {}
        self._runner: web.AppRunner | None = None
        self._replay: asyncio.Task[None] | None = None
        self.base_url = ""
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("GET", re.compile(r"^/api/v1/me$"), self._me),
            ("GET", re.compile(r"^/r/(?P<subs>[^/]+)/(?P<which>new|comments)$"), self._sub_listing),
            ("GET", re.compile(r"^/r/(?P<sub>[^/+]+)/about$"), self._sub_about),
            ("GET", re.compile(r"^/user/(?P<user>[^/]+)/about$"), self._user_about),
            ("GET", re.compile(r"^/user/(?P<user>[^/]+)/comments$"), self._user_comments),
            (
                "GET",
                re.compile(r"^/user/(?P<user>[^/]+)/m/(?P<multi>[^/]+)/(?P<which>new|comments)$"),
                self._multi_listing,
            ),
            ("GET", re.compile(r"^/message/(?P<box>unread|inbox|messages)$"), self._messages),
            ("GET", re.compile(r"^/api/info$"), self._info),
            ("GET", re.compile(r"^/comments/(?P<id>[a-z0-9]+)(/[^/]*)?$"), self._submission),
            ("POST", re.compile(r"^/api/read_message$"), self._read_message),
            ("POST", re.compile(r"^/api/comment$"), self._comment),
            ("POST", re.compile(r"^/api/compose$"), self._compose),
            ("POST", re.compile(r"^/api/submit$"), self._submit),
        ]

    # Lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = ephemeral) and return the base URL."""
        # Long multireddit URLs must reach us so we can answer 414 as Reddit does.
        app = web.Application(handler_args={"max_line_size": 65536, "max_field_size": 65536})
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1] if sockets else port
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        await self.stop_replay()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RedditSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Items

    def release(self, n: int = 1) -> list[str]:
        """Make the next n items visible; returns their fullnames."""
        names = self.store.release(n)
        self._notify_released()
        return names

    def release_all(self) -> list[str]:
        return self.release(self.store.pending_count)

    def add_item(self, thing: Thing) -> str:
        """Publish one new item now (id and name minted if missing); returns its fullname."""
        name = self.store.add(thing)
        self._notify_released()
        return name

    async def wait_for_released(self, n: int, timeout: float = 5.0) -> int:
        """Wait until at least n items are visible (e.g. during a replay)."""
        async with self._released_changed:
            await asyncio.wait_for(
                self._released_changed.wait_for(lambda: self.store.released_count >= n), timeout
            )
        return self.store.released_count

    def _notify_released(self) -> None:
        """Wake released-count waiters from sync code without blocking the caller."""
        try:
            task = asyncio.get_running_loop().create_task(self._wake(self._released_changed))
        except RuntimeError:  # no loop running: nobody can be waiting
            return
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    @staticmethod
    async def _wake(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    def define_multireddit(self, owner: str, name: str, subreddits: Iterable[str]) -> None:
        """Make /user/{owner}/m/{name} list these subreddits."""
        self._multireddits[(owner.casefold(), name.casefold())] = "+".join(subreddits)

    def start_replay(self, items_per_second: float) -> None:
        """Release pending items on a schedule, in a background task, until stopped."""
        if items_per_second <= 0:
            raise ValueError("items_per_second must be positive")
        if self._replay is not None:
            self._replay.cancel()
        self._replay = asyncio.get_running_loop().create_task(self._run_replay(items_per_second))

    async def stop_replay(self) -> None:
        task, self._replay = self._replay, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_replay(self, items_per_second: float) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        released = 0
        tick = max(1.0 / items_per_second, 0.02)
        while self.store.pending_count:
            await asyncio.sleep(tick)
            due = int((loop.time() - started) * items_per_second) - released
            if due > 0:
                released += len(self.release(due))

    # Simulation knobs and records

    def ratelimit_next(
        self, kind: str = "any", minutes: int = 9, count: int = 1, *, seconds: int | None = None
    ) -> None:
        """Answer the next `count` writes of `kind` with Reddit's RATELIMIT error."""
        self._throttle.add(kind=kind, minutes=minutes, count=count, seconds=seconds)

    def expire_tokens(self) -> None:
        """Forget every access token, so clients must get a new one (401 first)."""
        self._tokens.clear()

    def listing_requests(self, *, path_contains: str = "") -> int:
        """How many GETs of /new and /comments listings were made (optionally filtered)."""
        return sum(
            1
            for request in self.requests
            if request.method == "GET"
            and LISTING_PATH.match(request.path)
            and path_contains in request.path
        )

    async def wait_for_writes(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least n writes were made; returns them all."""
        async with self._writes_changed:
            await asyncio.wait_for(
                self._writes_changed.wait_for(lambda: len(self.writes) >= n), timeout
            )
        return list(self.writes)

    async def _record_write(self, write_type: str, /, **details: Any) -> None:
        self.writes.append({"type": write_type, **details, "time": self._clock()})
        async with self._writes_changed:
            self._writes_changed.notify_all()

    # HTTP plumbing

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        if path.startswith(CONTROL_PREFIX):
            return await self._control(request, path)
        query = dict(request.query)
        form = await _read_form(request)
        key = f"{request.method} {path.rstrip('/') or '/'}"
        self.in_flight[key] += 1
        try:
            reply = await self._answer(request, path.rstrip("/") or "/", query, form)
        finally:
            self.in_flight[key] -= 1
        status = reply.status if reply is not None else 0
        self.requests.append(
            RecordedRequest(
                request.method, path, query, form, status, self._clock(), self._client_of(request)
            )
        )
        if reply is None:
            _drop(request)
            return web.Response(status=500)
        return _respond(reply, malformed=self._roll_malformed(path, reply))

    def _roll_malformed(self, path: str, reply: _Reply) -> bool:
        return (
            path != TOKEN_PATH
            and reply.status == 200
            and self.faults.roll(self.faults.malformed_rate)
        )

    async def _answer(
        self, request: web.Request, path: str, query: dict[str, str], form: dict[str, str]
    ) -> _Reply | None:
        """The reply to one API request, or None to drop the connection."""
        if path == TOKEN_PATH:
            return self._token(request, form) if request.method == "POST" else _not_found()
        if path.startswith("/r/") and len(request.path) > MAX_MULTIREDDIT_PATH:
            return _Reply(414, error_body(414, "URI Too Long"))
        token = self._authorize(request)
        if token is None:
            return _Reply(401, error_body(401, "Unauthorized"))
        delay = self.faults.delay()
        if delay:
            await asyncio.sleep(delay)
        if self.faults.roll(self.faults.drop_rate):
            return None
        budget = self.budget.charge(token.client_id)
        reply = await self._within_budget(request.method, path, query, form, token, budget)
        if token.user is not None:  # Reddit sends no budget headers to application-only tokens
            reply.headers.update(budget.headers())
        return reply

    async def _within_budget(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        token: _Token,
        budget: BudgetState,
    ) -> _Reply:
        if self.faults.take_429() or not budget.allowed:
            return _Reply(429, error_body(429, "Too Many Requests"))
        status = self.faults.take_error()
        if status is not None:
            return _Reply(status, error_body(status, "Server Error"))
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is not None and route_method == method:
                return await handler(_Call(match.groupdict(), query, form, token))
        return _not_found()

    # Auth

    def _token(self, request: web.Request, form: dict[str, str]) -> _Reply:
        client_id = _basic_client_id(request.headers.get("Authorization", ""))
        if client_id is None:
            return _Reply(401, error_body(401, "Unauthorized"))
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("username", "").casefold() != self.username.casefold():
                return _Reply(200, {"error": "invalid_grant"})
            user: str | None = self.username
        elif grant == "refresh_token" and form.get("refresh_token"):
            user = self.username
        elif grant in {"client_credentials", "https://oauth.reddit.com/grants/installed_client"}:
            user = None
        else:
            return _Reply(200, {"error": "unsupported_grant_type"})
        access_token = secrets.token_urlsafe(24)
        self._tokens[access_token] = _Token(client_id, user, self._clock() + self._token_ttl)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": int(self._token_ttl),
            "scope": SCOPE if user else "*",
        }
        if grant == "refresh_token":
            body["refresh_token"] = form["refresh_token"]
        return _Reply(200, body)

    def _client_of(self, request: web.Request) -> str:
        """The OAuth client behind a request: its bearer token's, or its Basic login's."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.casefold() == "bearer":
            token = self._tokens.get(value)
            return token.client_id if token is not None else ""
        return _basic_client_id(request.headers.get("Authorization", "")) or ""

    def _authorize(self, request: web.Request) -> _Token | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = self._tokens.get(value) if scheme.casefold() == "bearer" else None
        if token is None or token.expires_at <= self._clock():
            return None
        return token

    # Reading endpoints

    async def _me(self, call: _Call) -> _Reply:
        if call.token.user is None:
            return _Reply(403, error_body(403, "Forbidden"))
        return _Reply(
            200,
            me_data(
                call.token.user,
                inbox_count=self.store.unread_count(),
                client_id=call.token.client_id,
            ),
        )

    def _listing(self, subs: str, which: str, query: dict[str, str]) -> _Reply:
        kind = "t3" if which == "new" else "t1"
        things = self.store.newest(kind, subreddit_filter(subs))
        return _Reply(200, _page(things, query))

    async def _sub_listing(self, call: _Call) -> _Reply:
        return self._listing(call.params["subs"], call.params["which"], call.query)

    async def _multi_listing(self, call: _Call) -> _Reply:
        key = (call.params["user"].casefold(), call.params["multi"].casefold())
        subs = self._multireddits.get(key)
        if subs is None:
            return _not_found()
        return self._listing(subs, call.params["which"], call.query)

    async def _sub_about(self, call: _Call) -> _Reply:
        return _Reply(200, subreddit_about(call.params["sub"]))

    async def _user_about(self, call: _Call) -> _Reply:
        return _Reply(200, redditor_about(call.params["user"]))

    async def _user_comments(self, call: _Call) -> _Reply:
        """A user's comments, newest first (the bot checks its own before re-replying)."""
        return _Reply(200, _page(self.store.comments_by(call.params["user"]), call.query))

    async def _messages(self, call: _Call) -> _Reply:
        if call.token.user is None:
            return _Reply(403, error_body(403, "Forbidden"))
        box = call.params["box"]
        if box == "messages":
            things = self.store.conversations()
        else:
            things = self.store.inbox(unread_only=box == "unread")
        reply = _Reply(200, _page(things, call.query, geo_filter=True))
        if call.query.get("mark") == "true":
            self.store.mark_read(child["data"]["name"] for child in reply.body["data"]["children"])
        return reply

    async def _info(self, call: _Call) -> _Reply:
        if "url" in call.query:
            things = self.store.by_url(call.query["url"])
        else:
            names = [name for name in call.query.get("id", "").split(",") if name]
            things = self.store.info(names[:100])
        return _Reply(200, listing(things, geo_filter=True))

    async def _submission(self, call: _Call) -> _Reply:
        body = self.store.submission_page(call.params["id"])
        return _Reply(200, body) if body is not None else _not_found()

    # Writing endpoints

    async def _throttled(self, kind: str) -> _Reply | None:
        message = self._throttle.take(kind)
        if message is None:
            return None
        return _Reply(200, api_errors([["RATELIMIT", message, "ratelimit"]]))

    async def _read_message(self, call: _Call) -> _Reply:
        names = [name for name in call.form.get("id", "").split(",") if name]
        marked = self.store.mark_read(names)
        await self._record_write("read_message", ids=names, marked=marked)
        return _Reply(200, {})

    async def _comment(self, call: _Call) -> _Reply:
        if call.token.user is None:
            return _Reply(403, error_body(403, "Forbidden"))
        throttled = await self._throttled("comment")
        if throttled is not None:
            return throttled
        thing_id, text = call.form.get("thing_id", ""), call.form.get("text", "")
        if not text:
            return _Reply(200, api_errors([["NO_TEXT", "we need something here", "text"]]))
        try:
            thing = self.store.create_comment(thing_id=thing_id, text=text)
        except SandboxError as error:
            return _Reply(200, api_errors(error.errors))
        await self._record_write(
            "comment", thing_id=thing_id, text=text, name=thing["data"]["name"], kind=thing["kind"]
        )
        return _Reply(200, {"json": {"errors": [], "data": {"things": [thing]}}})

    async def _compose(self, call: _Call) -> _Reply:
        if call.token.user is None:
            return _Reply(403, error_body(403, "Forbidden"))
        throttled = await self._throttled("compose")
        if throttled is not None:
            return throttled
        to, subject, text = (call.form.get(key, "") for key in ("to", "subject", "text"))
        try:
            thing = self.store.create_message(to=to, subject=subject, text=text)
        except SandboxError as error:
            return _Reply(200, api_errors(error.errors))
        await self._record_write(
            "compose", to=to, subject=subject, text=text, name=thing["data"]["name"]
        )
        return _Reply(200, COMPOSE_OK)

    async def _submit(self, call: _Call) -> _Reply:
        if call.token.user is None:
            return _Reply(403, error_body(403, "Forbidden"))
        if call.form.get("kind") != "crosspost":
            return _Reply(200, api_errors([["NOT_SUPPORTED", "sandbox: crossposts only", "kind"]]))
        throttled = await self._throttled("crosspost")
        if throttled is not None:
            return throttled
        source, sr, title = (
            call.form.get(key, "") for key in ("crosspost_fullname", "sr", "title")
        )
        try:
            thing = self.store.create_crosspost(
                crosspost_fullname=source, subreddit=sr, title=title
            )
        except SandboxError as error:
            return _Reply(200, api_errors(error.errors))
        data = thing["data"]
        await self._record_write(
            "crosspost", crosspost_fullname=source, sr=sr, title=title, name=data["name"]
        )
        url = f"https://www.reddit.com{data['permalink']}"
        return _Reply(
            200,
            {
                "json": {
                    "errors": [],
                    "data": {"url": url, "drafts_count": 0, "id": data["id"], "name": data["name"]},
                }
            },
        )

    # Control API

    async def _control(self, request: web.Request, path: str) -> web.Response:
        action = (request.method, path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        try:
            body = await self._control_action(request, action)
        except (ValueError, TypeError, KeyError) as error:
            return web.json_response({"error": str(error)}, status=400)
        if body is None:
            return web.json_response(error_body(404, "Not Found"), status=404)
        return web.json_response(body)

    async def _control_action(
        self, request: web.Request, action: tuple[str, str]
    ) -> dict[str, Any] | list[Any] | None:
        if action == ("GET", "requests"):
            return [record.as_json() for record in self.requests]
        if action == ("GET", "writes"):
            return self.writes
        if action == ("GET", "state"):
            return self._state()
        if action == ("POST", "release"):
            n = request.query.get("n", "1")
            names = self.release_all() if n == "all" else self.release(int(n))
            return {"released": names}
        if action == ("POST", "replay"):
            rate = float(request.query.get("rate", "1"))
            self.start_replay(rate)
            return {"replaying": rate, "pending": self.store.pending_count}
        if action == ("POST", "items"):
            return {"name": self.add_item(await request.json())}
        if action == ("POST", "faults"):
            self.faults.update(await request.json())
            return self.faults.as_json()
        if action == ("POST", "ratelimit"):
            settings = await request.json()
            self.ratelimit_next(
                settings.get("kind", "any"),
                int(settings.get("minutes", 9)),
                int(settings.get("count", 1)),
                seconds=settings.get("seconds"),
            )
            return {"ok": True}
        return None

    def _state(self) -> dict[str, Any]:
        return {
            "pending": self.store.pending_count,
            "released": self.store.released_count,
            "requests": len(self.requests),
            "writes": len(self.writes),
            "in_flight": sorted(key for key, n in self.in_flight.items() if n > 0),
            "faults": self.faults.as_json(),
        }


def _page(things: list[Thing], query: dict[str, str], *, geo_filter: bool = False) -> Any:
    return page(
        things,
        limit=parse_limit(query.get("limit")),
        before=query.get("before") or None,
        after=query.get("after") or None,
        geo_filter=geo_filter,
    )


def _not_found() -> _Reply:
    return _Reply(404, error_body(404, "Not Found"))


def _basic_client_id(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.casefold() != "basic":
        return None
    try:
        decoded = base64.b64decode(value).decode("utf-8")
    except ValueError:
        return None
    client_id, sep, _secret = decoded.partition(":")
    return client_id if sep and client_id else None


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return {}
    form = await request.post()
    return {key: str(value) for key, value in form.items()}


def _respond(reply: _Reply, *, malformed: bool) -> web.Response:
    text = json.dumps(reply.body)
    if malformed:
        text = text[: max(1, len(text) // 2)]
    return web.Response(
        status=reply.status,
        text=text,
        content_type="application/json",
        charset="utf-8",
        headers=reply.headers,
    )


def _drop(request: web.Request) -> None:
    """Close the connection without a response, like a proxy giving up."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    items_path: str | Path | None = None,
    items_per_second: float = 1.0,
    username: str = "roveit_bot",
    rate_limit: int = 100,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the sandbox until cancelled, replaying items_path at items_per_second.

    ``items_per_second`` 0 replays nothing until POST /_sandbox/replay or /_sandbox/release;
    ``rate_limit`` is the requests a minute each OAuth client may make (Reddit's is ~100).
    """
    items = load_items(items_path) if items_path else []
    sandbox = RedditSandbox(items, username=username, restamp=True, rate_limit=rate_limit)
    url = await sandbox.start(host=host, port=port)
    try:
        if items and items_per_second > 0:
            sandbox.start_replay(items_per_second)
        log.info("Reddit sandbox at %s (%d items, %.2f/s)", url, len(items), items_per_second)
        if on_ready is not None:
            on_ready(url)
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()

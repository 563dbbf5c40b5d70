"""Reddit through the real asyncpraw: the engine's RedditPort and the bot's inbox.

Every action is one API request: targets are lazy asyncpraw objects (``fetch=False``),
never loaded first. asyncprawcore's own retries are switched off, so a failed request
is retried by the engine's outbox (with its backoff and ``already_replied`` check)
rather than silently repeated, and a RATELIMIT answer comes back as an ActionError
naming the wait instead of asyncpraw sleeping through it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpraw
import asyncprawcore
from asyncpraw.exceptions import AsyncPRAWException, ClientException, RedditAPIException
from asyncpraw.models import (
    Comment,
    Message,
    MoreComments,
    PollData,
    Redditor,
    Submission,
    Subreddit,
)
from asyncpraw.models.base import AsyncPRAWBase
from asyncprawcore.sessions import FiniteRetryStrategy

from bot.config import USERNAME, Settings
from bot.engine.ports import ActionError, Budget, Thing

log = logging.getLogger(__name__)

STREAM_PATHS = {"posts": "new", "comments": "comments"}
ALREADY_REPLIED_DEPTH = 100  # the bot's newest comments looked at by already_replied
ALREADY_REPLIED_MAX_DEPTH = 1000  # with a time bound: Reddit lists a user's newest ~1,000
ALREADY_REPLIED_SLACK = 300.0  # seconds of clock difference allowed between us and Reddit
RATELIMIT_DEFAULT_WAIT = 60.0  # when Reddit's RATELIMIT text names no amount
_WAIT = re.compile(r"(\d+)\s*(millisecond|second|minute|hour)s?", re.IGNORECASE)
_UNIT_SECONDS = {"millisecond": 0.001, "second": 1.0, "minute": 60.0, "hour": 3600.0}
# Attributes asyncpraw adds to its objects that Reddit never sent.
_LOCAL_ATTRIBUTES = frozenset({"comment_limit", "comment_sort", "comments"})
# HTTP answers that repeating the same request cannot change.
_PERMANENT_HTTP = (
    asyncprawcore.Forbidden,
    asyncprawcore.NotFound,
    asyncprawcore.InsufficientScope,
    asyncprawcore.BadRequest,
    asyncprawcore.Conflict,
    asyncprawcore.TooLarge,
    asyncprawcore.URITooLong,
    asyncprawcore.UnavailableForLegalReasons,
    asyncprawcore.Redirect,
)


class RedditError(Exception):
    """Reddit cannot be used as configured (no login, no username)."""


# ---- rate headers ---------------------------------------------------------------------


@dataclass(slots=True)
class RateMeter:
    """Requests made and the last rate headers seen: asyncpraw keeps no reset time."""

    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    remaining: float | None = None
    used: float | None = None
    reset_at: float | None = None
    statuses: dict[int, int] = field(default_factory=dict)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if "x-ratelimit-remaining" not in headers:
            return
        try:
            self.remaining = float(headers["x-ratelimit-remaining"])
            self.used = float(headers.get("x-ratelimit-used", 0))
            self.reset_at = self.clock() + float(headers.get("x-ratelimit-reset", 0))
        except ValueError:
            log.debug("unreadable rate headers: %s", dict(headers))

    def failed(self) -> None:
        """A request that got no response (dropped connection, timeout)."""
        self.requests += 1
        self.statuses[0] = self.statuses.get(0, 0) + 1


class MeteredRequestor(asyncprawcore.Requestor):
    """asyncprawcore's requestor, reporting each response to a RateMeter."""

    def __init__(self, *args: Any, meter: RateMeter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter

    @asynccontextmanager
    async def request(
        self, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> AsyncGenerator[aiohttp.ClientResponse]:
        try:
            async with super().request(*args, timeout=timeout, **kwargs) as response:
                self.meter.observe(response.status, response.headers)
                yield response
        except asyncprawcore.RequestException:
            self.meter.failed()
            raise


@dataclass(frozen=True)
class _NoRetry(FiniteRetryStrategy):
    """One attempt, no sleep: the engine's outbox and next poll do the retrying."""

    retries: int = 0

    def _sleep_seconds(self) -> float | None:
        return None

    def should_retry_on_failure(self) -> bool:
        return False


def _disable_retries(reddit: asyncpraw.Reddit) -> None:
    # asyncprawcore offers no public switch for this; every session gets the strategy.
    for core in {reddit._core, reddit._authorized_core, reddit._read_only_core}:
        if core is not None:
            core._retry_strategy_class = _NoRetry


# ---- plain JSON back from asyncpraw objects ------------------------------------------------


def _plain(value: Any) -> Any:
    # asyncpraw objectifies only attributes and lists of them (PollData.options, replies);
    # other values, lists and dicts included, are the parsed JSON itself and pass through.
    if isinstance(value, list):
        if any(isinstance(v, AsyncPRAWBase) for v in value):
            return [_plain(v) for v in value]
        return value
    if not isinstance(value, AsyncPRAWBase):
        return value
    if isinstance(value, Redditor):
        return str(value.name)
    if isinstance(value, Subreddit):
        return str(value.display_name)
    if isinstance(value, PollData):
        return {**plain_data(value), "user_selection": vars(value).get("_user_selection")}
    if isinstance(value, Comment | Submission):
        return thing_of(value)
    if isinstance(value, MoreComments):
        return {"kind": "more", "data": plain_data(value)}
    return plain_data(value)


def plain_data(obj: AsyncPRAWBase) -> dict[str, Any]:
    """An asyncpraw object's ``data`` as Reddit sent it: authors and subreddits as names."""
    data = {
        key: _plain(value)
        for key, value in vars(obj).items()
        if not key.startswith("_") and key not in _LOCAL_ATTRIBUTES
    }
    if "author" in data and data["author"] is None:
        data["author"] = "[deleted]"
    return data


def _replies_listing(replies: list[Any]) -> Any:
    """A comment's replies as Reddit nests them ("" when none, as in /comments listings)."""
    if not replies:
        return ""
    children = [_plain(reply) for reply in replies]
    listing = {"after": None, "before": None, "dist": None, "modhash": None}
    return {"kind": "Listing", "data": {**listing, "children": children}}


def thing_of(obj: Submission | Comment) -> Thing:
    """A Reddit thing ``{"kind", "data"}`` from a listed post or comment."""
    data = plain_data(obj)
    kind = "t3" if isinstance(obj, Submission) else "t1"
    data.setdefault("name", f"{kind}_{data.get('id')}")
    if kind == "t1":
        data["replies"] = _replies_listing(vars(obj).get("_replies") or [])
    return {"kind": kind, "data": data}


# ---- errors ---------------------------------------------------------------------------------


def ratelimit_wait(message: str) -> float:
    """Seconds named in Reddit's "Take a break for 9 minutes" (amounts add up)."""
    found = _WAIT.findall(message)
    if not found:
        return RATELIMIT_DEFAULT_WAIT
    return sum(int(amount) * _UNIT_SECONDS[unit.lower()] for amount, unit in found)


def _api_error(exc: RedditAPIException) -> ActionError:
    for item in exc.items:
        if item.error_type == "RATELIMIT":
            wait = ratelimit_wait(item.message or "")
            return ActionError(f"Reddit RATELIMIT: {item.message}", retry_after=wait)
    first = exc.items[0] if exc.items else None
    what = f"{first.error_type}: {first.message}" if first else str(exc)
    return ActionError(f"Reddit refused: {what}", permanent=True)


def _retry_after(exc: asyncprawcore.TooManyRequests) -> float | None:
    raw = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def action_error(exc: Exception) -> ActionError:
    """What an asyncpraw failure means for the outbox: wait, retry, or give up."""
    if isinstance(exc, ActionError):
        return exc
    if isinstance(exc, RedditAPIException):
        return _api_error(exc)
    if isinstance(exc, asyncprawcore.TooManyRequests):
        return ActionError("Reddit answered 429 Too Many Requests", retry_after=_retry_after(exc))
    if isinstance(exc, _PERMANENT_HTTP):
        status = exc.response.status if exc.response is not None else "?"
        return ActionError(f"Reddit answered {status} ({type(exc).__name__})", permanent=True)
    if isinstance(exc, ClientException):
        return ActionError(f"asyncpraw refused: {exc}", permanent=True)
    return ActionError(f"{type(exc).__name__}: {exc}")


# ---- inbox ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One unread inbox entry; ``kind`` t4 is a private message, t1 a comment reply/mention."""

    fullname: str
    kind: str
    author: str
    subject: str
    body: str
    was_comment: bool
    from_subreddit: bool
    created_utc: float


def _inbox_message(item: Any) -> InboxMessage:
    kind = "t4" if isinstance(item, Message) else "t1"
    author = getattr(item, "author", None)
    return InboxMessage(
        fullname=str(item.fullname),
        kind=kind,
        author=str(author.name) if isinstance(author, Redditor) else "",
        subject=str(getattr(item, "subject", "") or ""),
        body=str(getattr(item, "body", "") or ""),
        was_comment=bool(getattr(item, "was_comment", kind == "t1")),
        from_subreddit=getattr(item, "subreddit", None) is not None,
        created_utc=float(getattr(item, "created_utc", 0.0) or 0.0),
    )


# ---- the adapter --------------------------------------------------------------------------


def _bare_user(name: str) -> str:
    return name.strip().removeprefix("/").removeprefix("u/")


def _bare_subreddit(name: str) -> str:
    return name.strip().removeprefix("/").removeprefix("r/")


class AsyncprawReddit:
    """RedditPort over asyncpraw, plus the inbox calls the PM chat makes."""

    def __init__(self, reddit: asyncpraw.Reddit, *, username: str, meter: RateMeter) -> None:
        self.reddit = reddit
        self.username = username
        self.meter = meter

    async def close(self) -> None:
        await self.reddit.close()

    async def __aenter__(self) -> AsyncprawReddit:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- streams

    async def listing(
        self, stream: str, subreddits: Sequence[str], *, limit: int = 100, after: str | None = None
    ) -> list[Thing]:
        """``/r/a+b/new`` or ``/r/a+b/comments`` (r/all when empty), newest first."""
        subreddit = await self.reddit.subreddit("+".join(subreddits) if subreddits else "all")
        params: dict[str, str | int] = {"after": after} if after else {}
        source = subreddit.new if STREAM_PATHS[stream] == "new" else subreddit.comments
        return [thing_of(obj) async for obj in source(limit=limit, params=params)]

    async def fetch(self, fullname: str) -> Thing | None:
        """One post or comment by fullname (``/api/info``), for ``test ... on URL``."""
        async for obj in self.reddit.info(fullnames=[fullname]):
            if isinstance(obj, Submission | Comment):
                return thing_of(obj)
        return None

    # ---- actions

    async def _target(self, thing_id: str) -> Submission | Comment | Message:
        kind, _, item_id = thing_id.partition("_")
        if not item_id:
            raise ActionError(f"{thing_id!r} is not a Reddit fullname", permanent=True)
        if kind == "t3":
            return await self.reddit.submission(item_id, fetch=False)
        if kind == "t1":
            return await self.reddit.comment(item_id, fetch=False)
        if kind == "t4":
            return Message(self.reddit, {"id": item_id})
        raise ActionError(f"cannot reply to a {kind} ({thing_id})", permanent=True)

    async def reply(self, thing_id: str, text: str) -> str:
        """Comment on a post or comment, or answer a PM; the new thing's fullname."""
        target = await self._target(thing_id)
        try:
            created = await target.reply(text)
        except (AsyncPRAWException, asyncprawcore.AsyncPrawcoreException) as exc:
            raise action_error(exc) from exc
        return str(created.fullname) if created is not None else ""

    async def message(self, to: str, subject: str, text: str) -> None:
        name = _bare_user(to)
        if not USERNAME.match(name):
            raise ActionError(f"{to!r} is not a Reddit username", permanent=True)
        redditor = await self.reddit.redditor(name)
        try:
            await redditor.message(subject=subject[:100], message=text)
        except (AsyncPRAWException, asyncprawcore.AsyncPrawcoreException) as exc:
            raise action_error(exc) from exc

    async def crosspost(self, fullname: str, subreddit: str, title: str | None) -> str:
        """Share a post; without a title the post is loaded first for its own (2 requests)."""
        kind, _, item_id = fullname.partition("_")
        if kind != "t3" or not item_id:
            raise ActionError(f"only posts can be crossposted, not {fullname}", permanent=True)
        post = await self.reddit.submission(item_id, fetch=False)
        try:
            if title is None:
                await post.load()
            target = await self.reddit.subreddit(_bare_subreddit(subreddit))
            created = await post.crosspost(target, title=title)
        except (AsyncPRAWException, asyncprawcore.AsyncPrawcoreException) as exc:
            raise action_error(exc) from exc
        return _created_name(created)

    async def already_replied(
        self, thing_id: str, text: str | None = None, *, since: float | None = None
    ) -> bool:
        """Whether one of the bot's comments answers ``thing_id``.

        With ``text``, only a comment with that body counts: two modules may each reply
        to one item, and the first one's reply must not stand in for the second's. Without
        ``since``, the newest 100 comments are read (one request); with it, pages are read
        back to comments older than ``since`` (usually still one request), up to 1,000.
        """
        me = await self.reddit.redditor(self.username)
        wanted = text.strip() if text is not None else None
        depth = ALREADY_REPLIED_DEPTH if since is None else ALREADY_REPLIED_MAX_DEPTH
        try:
            async for comment in me.comments.new(limit=depth):
                if getattr(comment, "parent_id", None) == thing_id and (
                    wanted is None or str(getattr(comment, "body", "")).strip() == wanted
                ):
                    return True
                if since is not None and _older(comment, since - ALREADY_REPLIED_SLACK):
                    return False
        except (AsyncPRAWException, asyncprawcore.AsyncPrawcoreException) as exc:
            raise action_error(exc) from exc
        return False

    def budget(self) -> Budget:
        limits = self.reddit.auth.limits
        remaining, used = limits.get("remaining"), limits.get("used")
        if remaining is None or self.meter.reset_at is None:
            return Budget()
        reset_in = max(self.meter.reset_at - self.meter.clock(), 0.0)
        return Budget(remaining=float(remaining), reset_in=reset_in, used=float(used or 0))

    # ---- inbox, for the PM chat

    async def unread(self, *, limit: int = 100) -> list[InboxMessage]:
        """Unread inbox entries, newest first (one request)."""
        return [_inbox_message(item) async for item in self.reddit.inbox.unread(limit=limit)]

    async def mark_read(self, fullnames: Sequence[str]) -> None:
        """One request per 25 entries."""
        if not fullnames:
            return
        items: list[Comment | Message] = []
        for name in fullnames:
            kind, _, item_id = name.partition("_")
            if kind == "t4":
                items.append(Message(self.reddit, {"id": item_id}))
            elif kind == "t1":
                items.append(await self.reddit.comment(item_id, fetch=False))
        await self.reddit.inbox.mark_read(items)


def _older(comment: Any, than: float) -> bool:
    created = getattr(comment, "created_utc", None)
    return isinstance(created, int | float) and created < than


def _created_name(created: Any) -> str:
    if isinstance(created, AsyncPRAWBase):
        name = getattr(created, "fullname", None) or getattr(created, "name", None)
        return str(name or "")
    if isinstance(created, dict):
        return str(created.get("name") or "")
    return ""


def _login(settings: Settings) -> dict[str, str]:
    if settings.reddit_username and settings.reddit_password:
        return {"username": settings.reddit_username, "password": settings.reddit_password}
    if settings.reddit_refresh_token:
        return {"refresh_token": settings.reddit_refresh_token}
    raise RedditError("Reddit needs REDDIT_USERNAME and REDDIT_PASSWORD, or REDDIT_REFRESH_TOKEN")


async def open_reddit(
    settings: Settings, *, meter: RateMeter | None = None, timeout: int = 16
) -> AsyncprawReddit:
    """An authorized asyncpraw client for the configured account and endpoints."""
    if not (settings.reddit_client_id and settings.reddit_client_secret):
        raise RedditError("Reddit needs REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")
    meter = meter or RateMeter()
    reddit = asyncpraw.Reddit(
        client_id=settings.reddit_client_id,
        client_secret=settings.reddit_client_secret,
        user_agent=settings.reddit_user_agent,
        oauth_url=settings.reddit_oauth_url.rstrip("/"),
        reddit_url=settings.reddit_url.rstrip("/"),
        check_for_updates=False,
        ratelimit_seconds=-1,  # never sleep through a RATELIMIT: the outbox waits instead
        timeout=timeout,
        requestor_class=MeteredRequestor,
        requestor_kwargs={"meter": meter},
        **_login(settings),
    )
    _disable_retries(reddit)
    username = settings.reddit_username
    if not username:
        try:
            me = await reddit.user.me()
        except BaseException:
            await reddit.close()
            raise
        if me is None:
            await reddit.close()
            raise RedditError("the refresh token is not for a user account")
        username = str(me.name)
    return AsyncprawReddit(reddit, username=username, meter=meter)

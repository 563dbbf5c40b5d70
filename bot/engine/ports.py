"""What the engine needs from the outside world, as Protocols.

The engine imports no discord, asyncpraw, aiosqlite or apscheduler; adapters in
bot/reddit, bot/chat and bot/store implement these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.store.records import ActionRow, HeartbeatRecord, ModuleRecord

Thing = dict[str, Any]


class ActionError(Exception):
    """An action that did not happen.

    ``retry_after`` is the wait the platform named (Reddit's RATELIMIT, a 429);
    ``permanent`` means retrying cannot help (deleted item, refused webhook, 403).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Budget:
    """The API budget the last response's rate headers reported."""

    remaining: float | None = None
    reset_in: float | None = None
    used: float | None = None


class RedditPort(Protocol):
    async def listing(
        self, stream: str, subreddits: Sequence[str], *, limit: int = 100, after: str | None = None
    ) -> list[Thing]:
        """Newest first; ``subreddits`` empty means r/all."""
        ...

    async def reply(self, thing_id: str, text: str) -> str: ...

    async def message(self, to: str, subject: str, text: str) -> None: ...

    async def crosspost(self, fullname: str, subreddit: str, title: str | None) -> str: ...

    async def already_replied(
        self, thing_id: str, text: str | None = None, *, since: float | None = None
    ) -> bool:
        """Whether the bot's comments answer ``thing_id`` (with ``text``, if given); with
        ``since`` (wall-clock seconds) every comment made since then is looked at."""
        ...

    def budget(self) -> Budget: ...


class NotifyPort(Protocol):
    """Posts a notification into a chat. ``target`` comes from the action payload."""

    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None: ...

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        """Create or edit in place the one status message of a channel; its id."""
        ...


class WebhookPort(Protocol):
    async def post(self, url: str, payload: Mapping[str, Any]) -> int: ...


class StorePort(Protocol):
    """The queries the engine makes (bot.store.db.Store and Outbox implement them)."""

    async def list_modules(
        self, *, owner: str | None = None, place: str | None = None, active_only: bool = False
    ) -> list[ModuleRecord]: ...

    async def update_module(
        self,
        module_id: int,
        *,
        now: float,
        rule: str | None = None,
        status: str | None = None,
        status_reason: str | None = None,
        owner: str | None = None,
        clear_token: bool = False,
    ) -> ModuleRecord | None: ...

    async def record_match(
        self,
        *,
        module_id: int,
        item: str,
        author: str,
        now: float,
        skipped: str | None,
        actions: Sequence[tuple[str, dict[str, Any]]],
    ) -> int | None: ...

    async def matches_since(
        self, module_id: int, since: float, *, author: str | None = None
    ) -> int: ...

    async def keep_items(self, things: Iterable[dict[str, Any]], *, keep: int) -> list[str]: ...

    async def known_items(self, fullnames: Sequence[str]) -> set[str]: ...

    async def set_position(
        self, stream: str, *, last_item: str, last_created: float, now: float
    ) -> None: ...

    async def get_position(self, stream: str) -> tuple[str, float] | None: ...

    async def items_after(self, fullname: str) -> list[dict[str, Any]]: ...

    async def recent_items(self, limit: int) -> list[dict[str, Any]]: ...

    async def heartbeats(self) -> list[HeartbeatRecord]: ...

    async def set_heartbeat_message(self, *, chat: str, channel: str, message_id: str) -> None: ...

    async def action_counts(self) -> dict[str, int]: ...

    async def acquire_lease(self, name: str, *, holder: str, ttl: float, now: float) -> bool: ...

    async def release_lease(self, name: str, *, holder: str) -> None: ...


class OutboxPort(Protocol):
    async def claim_due(self, *, now: float, lease: float, limit: int = 10) -> list[ActionRow]: ...

    async def finish(self, action_id: int, *, now: float, result: str | None = None) -> None: ...

    async def fail(
        self, action_id: int, *, now: float, error: str, retry_at: float | None
    ) -> None: ...

    async def requeue_running(self, *, now: float) -> int: ...

    async def next_due(self) -> float | None: ...

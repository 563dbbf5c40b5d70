"""What every command handler takes and gives: the caller, the context, the reply."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.grammar import ast
from bot.store.db import ModuleRecord, Store

Chat = Literal["discord", "reddit", "terminal"]

MAX_MODULES_PER_OWNER = 50
MAX_MODULES_PER_PLACE = 500


class CommandError(Exception):
    """An expected failure answered to the user (no permission, unknown module, ...)."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, and where.

    ``place`` scopes modules: a Discord server id, ``dm:<user id>`` in Discord DMs,
    ``reddit`` for Reddit PMs, ``terminal`` for the terminal chat. ``admin`` is
    true for an admin of that place (Discord: Manage Server); ``bot_admin`` for a
    configured roveit admin, who is admin everywhere.
    """

    chat: Chat
    user_id: str
    name: str
    place: str
    channel: str | None = None
    admin: bool = False
    bot_admin: bool = False

    @property
    def key(self) -> str:
        return f"{self.chat}:{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return self.admin or self.bot_admin


@dataclass(frozen=True, slots=True)
class Reply:
    """A transport-neutral answer; each chat renders it its own way."""

    text: str
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    code: str | None = None  # preformatted text, e.g. a rule with a caret under an error
    private: bool = False
    error: bool = False

    def plain(self) -> str:
        """The reply as plain text, for the terminal and Reddit PMs."""
        parts = []
        if self.title:
            parts.append(self.title)
        if self.text:
            parts.append(self.text)
        if self.code:
            parts.append(self.code)
        parts += [f"{name}: {value}" for name, value in self.fields]
        return "\n".join(parts)


class ItemSource(Protocol):
    """Recent Reddit items for ``test`` and ``backtest``."""

    async def recent(self, limit: int) -> list[dict[str, Any]]: ...

    async def find(self, fullname: str) -> dict[str, Any] | None: ...


class StatusSource(Protocol):
    def status_fields(self) -> list[tuple[str, str]]: ...


ActionCheck = Callable[[ast.Rule, Caller], Awaitable[list[str]]]


async def _no_action_check(rule: ast.Rule, caller: Caller) -> list[str]:
    return []


@dataclass(slots=True)
class Context:
    """What handlers need from the rest of the bot, injected."""

    store: Store
    items: ItemSource
    clock: Callable[[], float]
    status: StatusSource | None = None
    check_actions: ActionCheck = _no_action_check
    on_change: Callable[[], None] = lambda: None
    max_per_owner: int = MAX_MODULES_PER_OWNER
    max_per_place: int = MAX_MODULES_PER_PLACE


# ---- claim tokens ------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(18)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, token_hash: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    if token_hash is None:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


# ---- who may see and change a module -----------------------------------------


def can_see(module: ModuleRecord, caller: Caller) -> bool:
    return caller.bot_admin or module.place == caller.place or module.owner == caller.key


def can_manage(module: ModuleRecord, caller: Caller) -> bool:
    if caller.bot_admin or (module.owner is not None and module.owner == caller.key):
        return True
    return caller.admin and module.place == caller.place


def owner_label(owner: str | None, caller: Caller | None = None) -> str:
    if owner is None:
        return "anonymous"
    if caller is not None and owner == caller.key:
        return "you"
    chat, _, user = owner.partition(":")
    if chat == "reddit":
        return f"u/{user}"
    if chat == "discord":
        return f"<@{user}>"
    return user

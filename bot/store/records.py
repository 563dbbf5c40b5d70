"""Plain records the store returns; importable without a database driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    id: int
    owner: str | None
    token_hash: str | None
    chat: str
    place: str
    channel: str | None
    rule: str
    status: str
    status_reason: str | None
    created_at: float
    updated_at: float

    @property
    def anonymous(self) -> bool:
        return self.owner is None


MODULE_COLUMNS = (
    "id, owner, token_hash, chat, place, channel, rule, status, status_reason, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class HeartbeatRecord:
    chat: str
    place: str
    channel: str
    every_seconds: int
    message_id: str | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    item: str
    matched_at: float
    skipped: str | None
    actions: tuple[tuple[str, str, int, str | None], ...]  # kind, status, attempts, error


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    module_id: int
    item: str
    idx: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    # When its match was recorded: the action cannot have taken effect earlier, so an
    # effect check (did the bot already reply?) need look no further back.
    queued_at: float = 0.0

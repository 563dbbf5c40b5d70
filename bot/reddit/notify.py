"""Notifications for modules made by Reddit PM: each one is a PM.

``notify here`` goes to the user the module was made from (the module's channel),
``notify me`` to its owner. Reddit has no message to edit in place, so a status
message (heartbeat) is a new PM every time and no message id is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from bot.engine.ports import ActionError

MAX_PM_BODY = 10_000  # Reddit refuses longer message bodies
SUBJECT = "roveit"
_LONE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")


class MessageSender(Protocol):
    async def message(self, to: str, subject: str, text: str) -> None: ...


def markdown_lines(text: str) -> str:
    """Keep single line breaks: Reddit markdown joins lines not ended by two spaces."""
    return _LONE_NEWLINE.sub("  \n", text)


def fit_pm(text: str) -> str:
    if len(text) <= MAX_PM_BODY:
        return text
    return text[: MAX_PM_BODY - 1] + "…"


def subject_for(card: Mapping[str, Any]) -> str:
    module = card.get("module")
    return f"{SUBJECT}: module #{module}" if module is not None else SUBJECT


def recipient(target: Mapping[str, Any]) -> str:
    """The username a notification target names; ActionError if it names none."""
    kind = target.get("kind")
    name = target.get("channel") if kind == "here" else target.get("user")
    if kind not in ("here", "user") or not name:
        raise ActionError(
            f"a module made by Reddit PM cannot notify a {kind or 'missing'} target",
            permanent=True,
        )
    return str(name)


class RedditNotifier:
    """NotifyPort for the "reddit" chat, over anything that sends PMs (AsyncprawReddit)."""

    def __init__(self, reddit: MessageSender) -> None:
        self.reddit = reddit

    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None:
        await self.reddit.message(
            recipient(target), subject_for(card), fit_pm(markdown_lines(text))
        )
        return None

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        """A new PM each time: Reddit cannot edit a sent message."""
        await self.reddit.message(channel, f"{SUBJECT}: status", fit_pm(markdown_lines(text)))
        return None

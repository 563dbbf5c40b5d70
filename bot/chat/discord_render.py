"""What roveit sends to Discord, as plain data: replies, notification cards, full items.

Pure functions over discord.py's Embed, so Discord's size limits and the escaping of
Reddit text are decided (and tested) in one place, away from any connection.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.chat.safe_text import discord_safe
from bot.commands.base import Reply
from bot.engine.item import Item
from bot.sandbox.discord_import import discord

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
MAX_CONTENT = 2000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FIELDS = 25
MAX_EMBED_TOTAL = 6000
MAX_CODE = 1500  # of a reply's code block, so the text beside it keeps room

SHORT_REPLY = 200  # a reply with only this much text goes as plain content
PREVIEW_CHARS = 300  # of a matched item's body in its notification
FULL_BODY_CHARS = 4000  # of the body shown by "Show full"; longer bodies come as a file

OK_COLOUR = discord.Colour.blurple()
ERROR_COLOUR = discord.Colour.red()
CARD_COLOUR = discord.Colour.orange()  # Reddit's

NO_MENTIONS = discord.AllowedMentions.none()

FULL_PREFIX = "roveit:full:"
PAUSE_PREFIX = "roveit:pause:"
FULL_TEMPLATE = r"roveit:full:(?P<module>[0-9]{1,15}):(?P<item>t[13]_[a-z0-9]{1,16})"
PAUSE_TEMPLATE = r"roveit:pause:(?P<module>[0-9]{1,15})"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message's parts: discord.py's ``content`` and ``embed`` keywords."""

    content: str | None = None
    embed: discord.Embed | None = None
    file_text: str | None = None  # attached as a .txt file when set
    file_name: str = "full.txt"

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
        if self.content is not None:
            out["content"] = self.content
        if self.embed is not None:
            out["embed"] = self.embed
        if self.file_text is not None:
            out["file"] = text_file(self.file_text, self.file_name)
        return out


def text_file(text: str, name: str) -> discord.File:
    """A fresh File each time: discord.py consumes it on send."""
    return discord.File(io.BytesIO(text.encode("utf-8")), filename=name)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Reddit text made inert: no Markdown, no mention, channel or command links."""
    return discord_safe(text)


def escape_reply(text: str) -> str:
    """Our own reply text: Markdown made literal; mentions stay (they show a name, never ping)."""
    return discord.utils.escape_markdown(text)


def code_block(code: str) -> str:
    """A fenced block that the code itself cannot close early."""
    return "```\n" + code.rstrip("\n").replace("```", "`\u200b``") + "\n```"


# ---- command replies --------------------------------------------------------------


def render_reply(reply: Reply) -> Outgoing:
    """Plain content for a short bare reply, else one embed."""
    if not (reply.title or reply.fields or reply.code) and len(reply.text) <= SHORT_REPLY:
        return Outgoing(content=escape_reply(reply.text) or "(nothing to say)")
    return Outgoing(embed=reply_embed(reply))


def reply_embed(reply: Reply) -> discord.Embed:
    block = code_block(truncate(reply.code, MAX_CODE)) if reply.code else ""
    room = MAX_DESCRIPTION - len(block) - 1
    text = truncate(escape_reply(reply.text), room) if reply.text else ""
    description = "\n".join(part for part in (text, block) if part)
    colour = ERROR_COLOUR if reply.error else OK_COLOUR
    title = truncate(reply.title, MAX_TITLE) if reply.title else None
    embed = discord.Embed(title=title, description=description or None, colour=colour)
    _add_fields(embed, reply.fields)
    return embed


def _add_fields(embed: discord.Embed, fields: tuple[tuple[str, str], ...]) -> None:
    """As many fields as Discord's per-embed limits allow; a last one says how many were cut."""
    used = len(embed.title or "") + len(embed.description or "")
    for index, (name, value) in enumerate(fields):
        name = truncate(name, MAX_FIELD_NAME) or "\u200b"
        value = truncate(escape_reply(value), MAX_FIELD_VALUE) or "—"
        left = len(fields) - index
        if (
            index >= MAX_FIELDS - 1
            and left > 1
            or used + len(name) + len(value) > MAX_EMBED_TOTAL - 40
        ):
            embed.add_field(name="…", value=f"{left} more not shown", inline=False)
            return
        used += len(name) + len(value)
        embed.add_field(name=name, value=value, inline=len(value) <= 40)


# ---- notifications --------------------------------------------------------------


def is_card(card: Mapping[str, Any]) -> bool:
    """A match card (embed and buttons) rather than a bare alert."""
    return bool(card.get("module") is not None and card.get("kind") and card.get("id"))


def card_fullname(card: Mapping[str, Any]) -> str:
    return f"{card['kind']}_{card['id']}"


def preview(body: str) -> str:
    """The first PREVIEW_CHARS characters of a body, escaped."""
    return escape(body[:PREVIEW_CHARS] + "…" if len(body) > PREVIEW_CHARS else body)


def card_embed(card: Mapping[str, Any]) -> discord.Embed:
    """One match: the title linked to the permalink, the facts as fields, a body preview."""
    title = truncate(escape(str(card.get("title") or "(untitled)")), MAX_TITLE)
    embed = discord.Embed(
        title=title,
        url=str(card.get("permalink") or "") or None,
        description=preview(str(card.get("body") or "")) or None,
        colour=CARD_COLOUR,
    )
    embed.add_field(name="subreddit", value=f"r/{escape(str(card.get('subreddit') or '?'))}")
    embed.add_field(name="author", value=f"u/{escape(str(card.get('author') or '[deleted]'))}")
    embed.add_field(name="flair", value=escape(str(card.get("flair") or "")) or "—")
    embed.add_field(name="score", value=str(card.get("score", 0)))
    kind = "comment" if card.get("kind") == "t1" else "post"
    embed.set_footer(text=f"roveit module #{card.get('module')} · {kind} {card_fullname(card)}")
    return embed


def notification(text: str, card: Mapping[str, Any]) -> Outgoing:
    """The rendered template as content; the card as an embed when there is one."""
    content = truncate(escape(text), MAX_CONTENT) if text else None
    embed = card_embed(card) if is_card(card) else None
    return Outgoing(content=content, embed=embed)


def full_custom_id(module_id: int, fullname: str) -> str:
    return f"{FULL_PREFIX}{module_id}:{fullname}"


def pause_custom_id(module_id: int) -> str:
    return f"{PAUSE_PREFIX}{module_id}"


def full_item(item: Item) -> Outgoing:
    """Everything about one item, for whoever pressed "Show full"; long bodies as a file."""
    body = item.body
    shown = escape(truncate(body, FULL_BODY_CHARS))
    embed = discord.Embed(
        title=truncate(escape(item.title or "(untitled)"), MAX_TITLE),
        url=item.permalink or None,
        description=truncate(shown, MAX_DESCRIPTION) or "(no text)",
        colour=CARD_COLOUR,
    )
    embed.add_field(name="subreddit", value=f"r/{escape(item.subreddit)}")
    embed.add_field(name="author", value=f"u/{escape(item.author)}")
    embed.add_field(name="flair", value=escape(item.flair) or "—")
    embed.add_field(name="score", value=str(item.score))
    if item.kind == "t3" and item.url and not item.self:
        embed.add_field(name="link", value=truncate(item.url, MAX_FIELD_VALUE), inline=False)
    if len(body) > FULL_BODY_CHARS:
        return Outgoing(embed=embed, file_text=body, file_name=f"{item.fullname}.txt")
    return Outgoing(embed=embed)

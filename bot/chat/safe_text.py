"""Reddit text made safe to put in a Discord message: it pings no one, and its Markdown
cannot reshape the message around it.

Send it with ``allowed_mentions=AllowedMentions.none()`` as well; this is the second lock,
for text pasted into a message whose own mentions are allowed. Plain Python (no discord.py),
so any layer may use it.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"

# Links as Discord autolinks them (discord.utils' pattern): left as they are, so they work.
URL = r"<[^: >]+:/[^ >]+>|(?:https?|steam)://[^\s<]+[^<.,:;\"'\]\s]"
# One pass, left to right: a link; a scheme that starts no link (escaped, so the escapes
# after it cannot complete one: "http://`" must not become the link "http://\\`"); Markdown
# that only counts at the start of a line (quote, heading, list, subtext); or a character
# that is Markdown anywhere.
_TOKEN = re.compile(
    rf"(?P<url>{URL})"
    r"|(?P<scheme>(?:https?|steam)(?=://))"
    r"|^(?P<lead>[ \t]*)(?:(?P<block>[>#+-])|(?P<number>\d+)\.(?=\s))"
    r"|(?P<char>[\\*_~|`\[\]])",
    re.MULTILINE,
)
# @everyone / @here in any case, and <@id> <@!id> <@&id> <#id> </name:id>.
_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_DIRECT = re.compile(r"<([@#][!&]?|/[^<>:\n]{1,100}:)(?=\d)")
# C0/C1 controls but tab and newline, bidirectional overrides and isolates, the BOM: they
# change how the rest of a line shows (an RTL override reverses what follows it).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    if match.group("url") is not None:
        return match.group(0)
    if match.group("scheme") is not None:
        return match.group("scheme") + "\\"
    if match.group("block") is not None:
        return match.group("lead") + "\\" + match.group("block")
    if match.group("number") is not None:
        return match.group("lead") + match.group("number") + "\\."
    return "\\" + match.group("char")


def discord_safe(text: str) -> str:
    """Escape Discord Markdown outside links and break every mention with a zero-width space."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _TOKEN.sub(_escape, text)
    text = _EVERYONE.sub("@" + ZWSP, text)
    return _DIRECT.sub(lambda m: "<" + m.group(1) + ZWSP, text)


def has_mention(text: str) -> bool:
    """Whether Discord would read a mention in ``text``: what discord_safe never leaves."""
    return _EVERYONE.search(text) is not None or _DIRECT.search(text) is not None

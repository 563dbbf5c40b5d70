"""Commands by Reddit private message: the inbox in, a reply to each PM out.

A PM whose subject is ``roveit`` (or ``re: roveit``) carries a command in its body;
a PM whose subject is a command name (``create``, ``pause``...) carries that command,
its name prepended when the body leaves it out. Everything else in the inbox (comment
replies, username mentions, modmail, other subjects, the bot's own messages) is left
alone and unread for the humans who run the account.

Each taken PM is answered by one reply and marked read (one request per 25); a
command is run at most once even if marking it read fails and it is listed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.commands.base import Caller, Context, Reply
from bot.commands.dispatch import CommandRateLimiter, handle_text
from bot.config import USERNAME, Settings
from bot.engine.ports import ActionError, Budget
from bot.grammar.ast import COMMAND_NAMES
from bot.reddit.client import InboxMessage
from bot.reddit.notify import fit_pm, markdown_lines

log = logging.getLogger(__name__)

SUBJECT = "roveit"
COMMAND_WORDS = frozenset(COMMAND_NAMES)
DEFAULT_INTERVAL = 10.0  # seconds between inbox polls: 6 of Reddit's ~100 requests a minute
LOW_BUDGET = 10  # requests left in the window below which the inbox waits for the reset
REMEMBERED = 2000  # fullnames of PMs already run, in case marking them read failed


class RedditInbox(Protocol):
    """What the PM chat needs from Reddit (bot.reddit.client.AsyncprawReddit has it)."""

    username: str

    async def unread(self, *, limit: int = 100) -> list[InboxMessage]: ...

    async def mark_read(self, fullnames: Sequence[str]) -> None: ...

    async def reply(self, thing_id: str, text: str) -> str: ...

    def budget(self) -> Budget: ...


# ---- PM text in, markdown out -------------------------------------------------------------


def _strip_reply_prefix(subject: str) -> str:
    subject = subject.strip()
    while subject[:3].casefold() == "re:":
        subject = subject[3:].strip()
    return subject


def _clean_body(body: str) -> str:
    """The command as typed: code fences, backticks and code-block indents removed."""
    lines = [line for line in body.splitlines() if line.strip()]
    if lines and all(line.startswith("    ") for line in lines):
        body = "\n".join(line[4:] for line in body.splitlines())
    text = body.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3].strip()
    elif len(text) >= 2 and text[0] == text[-1] == "`":
        text = text.strip("`").strip()
    return text


def command_text(message: InboxMessage) -> str | None:
    """The command a PM carries, or None when it is not addressed to roveit."""
    subject = _strip_reply_prefix(message.subject).casefold()
    body = _clean_body(message.body)
    if subject == SUBJECT:
        return body or "help"
    if subject in COMMAND_WORDS:
        first = body.split(maxsplit=1)[0].casefold() if body else ""
        return body if first == subject else f"{subject} {body}".strip()
    return None


def _escape_line(line: str) -> str:
    """A leading # or > would make a heading or a quote of a plain line."""
    return "\\" + line if line[:1] in ("#", ">") else line


def render(reply: Reply) -> str:
    """A Reply as Reddit markdown: Reply.plain()'s layout, code indented 4 spaces."""
    blocks: list[str] = []
    if reply.title:
        blocks.append(f"**{reply.title}**")
    if reply.text:
        blocks.append(markdown_lines("\n".join(map(_escape_line, reply.text.splitlines()))))
    if reply.code:
        blocks.append("\n".join("    " + line for line in reply.code.splitlines()))
    if reply.fields:
        lines = [_escape_line(f"{name}: {value}") for name, value in reply.fields]
        blocks.append(markdown_lines("\n".join(lines)))
    return fit_pm("\n\n".join(blocks) or "(no answer)")


def polite_refusal(wait: float, limit: int) -> str:
    return (
        f"You have sent more than {limit} commands in a minute, so I am taking a short break "
        f"from yours: please send the command again in {max(wait, 1):.0f} seconds. Commands "
        "sent before then are skipped without an answer."
    )


# ---- the chat -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Unsent:
    text: str
    not_before: float


class RedditPMChat:
    """Polls the unread inbox, runs commands from PMs, answers each by reply."""

    def __init__(
        self,
        *,
        reddit: RedditInbox,
        ctx: Context,
        settings: Settings,
        limiter: CommandRateLimiter | None = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reddit = reddit
        self.ctx = ctx
        self.interval = interval
        self.clock = clock
        self.limiter = limiter or CommandRateLimiter(
            count=settings.roveit_command_rate, window=60.0, clock=clock
        )
        self.admins = frozenset(a.casefold() for a in settings.roveit_admins)
        self._refused_until: dict[str, float] = {}
        self._taken: OrderedDict[str, None] = OrderedDict()
        self._unsent: dict[str, _Unsent] = {}
        self._unmarked: list[str] = []

    def caller_for(self, author: str) -> Caller | None:
        """Who sent a PM; None for the bot itself and for names Reddit cannot have."""
        if not USERNAME.match(author) or author.casefold() == self.reddit.username.casefold():
            return None
        return Caller(
            chat="reddit",
            user_id=author,
            name=author,
            place=f"reddit:{author}",
            channel=author,
            bot_admin=author.casefold() in self.admins,
        )

    def _take(self, message: InboxMessage) -> tuple[str, Caller] | None:
        if message.kind != "t4" or message.was_comment or message.from_subreddit:
            return None
        caller = self.caller_for(message.author)
        text = command_text(message)
        if caller is None or text is None:
            return None
        return text, caller

    def _remember(self, fullname: str) -> None:
        self._taken[fullname] = None
        while len(self._taken) > REMEMBERED:
            self._taken.popitem(last=False)

    async def poll_once(self) -> int:
        """One look at the inbox; returns how many commands were taken (answered or not)."""
        await self._send_unsent()
        messages = await self.reddit.unread()
        taken = 0
        for message in reversed(messages):  # oldest first, as they were sent
            if message.fullname in self._taken:
                self._unmarked.append(message.fullname)
                continue
            found = self._take(message)
            if found is None:
                continue
            self._remember(message.fullname)
            self._unmarked.append(message.fullname)
            taken += 1
            answer = await self._answer(*found)
            if answer is not None:
                await self._send(message.fullname, answer)
        await self._mark_read()
        return taken

    async def _answer(self, text: str, caller: Caller) -> str | None:
        """The reply to send, or None for a user already told they are too fast."""
        wait = self.limiter.allow(caller.key)
        if wait > 0:
            now = self.clock()
            if self._refused_until.get(caller.key, 0.0) > now:
                log.info("skipping a command from u/%s: rate-limited", caller.name)
                return None
            self._refused_until[caller.key] = now + wait
            return polite_refusal(wait, self.limiter.count)
        log.info("command from u/%s: %s", caller.name, text.split(maxsplit=1)[0][:20])
        return render(await handle_text(text, caller, self.ctx))

    async def _send(self, fullname: str, text: str) -> None:
        try:
            await self.reddit.reply(fullname, text)
        except ActionError as exc:
            if exc.permanent:
                log.warning("cannot answer %s: %s", fullname, exc)
                return
            delay = exc.retry_after if exc.retry_after is not None else self.interval
            self._unsent[fullname] = _Unsent(text, self.clock() + delay)
            log.info("answer to %s retries in %.0fs: %s", fullname, delay, exc)
        else:
            self._unsent.pop(fullname, None)

    async def _send_unsent(self) -> None:
        now = self.clock()
        for fullname, unsent in list(self._unsent.items()):
            if unsent.not_before <= now:
                await self._send(fullname, unsent.text)

    async def _mark_read(self) -> None:
        names = list(dict.fromkeys(self._unmarked))
        if not names:
            return
        try:
            await self.reddit.mark_read(names)
        except Exception as exc:  # listed again next poll; _taken keeps them from rerunning
            log.warning("could not mark %d PMs read: %s", len(names), exc)
            return
        self._unmarked.clear()

    def next_interval(self) -> float:
        """The poll interval, stretched to the window's reset when the API budget runs low."""
        budget = self.reddit.budget()
        if budget.remaining is not None and budget.remaining < LOW_BUDGET and budget.reset_in:
            return max(self.interval, budget.reset_in)
        return self.interval

    async def run(self, stop: asyncio.Event, beat: Callable[[], None] = lambda: None) -> None:
        """Poll until ``stop`` is set; a failed poll is logged and tried again next time."""
        while not stop.is_set():
            beat()
            try:
                await self.poll_once()
            except Exception as exc:
                log.warning("reading the Reddit inbox failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.next_interval())

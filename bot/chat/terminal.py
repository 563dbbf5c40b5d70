"""The terminal chat: one command a line from stdin, replies on stdout."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from bot.commands.base import Caller, Context, Reply
from bot.commands.dispatch import CommandRateLimiter, handle_text

PROMPT = "roveit> "
QUIT = {"quit", "exit", ":q"}


def terminal_caller(user: str = "local", *, admin: bool = True) -> Caller:
    return Caller(
        chat="terminal", user_id=user, name=user, place="terminal", channel="terminal", admin=admin
    )


def render(reply: Reply) -> str:
    """A reply as readable terminal text."""
    lines: list[str] = []
    head = reply.title or ""
    if reply.error:
        head = "error: " + head if head else "error:"
    if head:
        lines.append(head)
    if reply.text:
        lines.append(reply.text)
    if reply.code:
        lines.extend("    " + line for line in reply.code.splitlines())
    width = max((len(name) for name, _ in reply.fields), default=0)
    for name, value in reply.fields:
        lines.append(f"  {name.ljust(width)}  {value}")
    return "\n".join(lines)


class TerminalChat:
    """Reads commands, answers them, and prints notifications the engine sends here."""

    def __init__(
        self,
        ctx: Context,
        *,
        caller: Caller | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        limiter: CommandRateLimiter | None = None,
    ) -> None:
        self.ctx = ctx
        self.caller = caller or terminal_caller()
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.limiter = limiter
        self.interactive = self.stdin.isatty()

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _start_reader(self) -> asyncio.Queue[str]:
        """Lines from stdin through a daemon thread, so a blocked read never holds up exit."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue()

        def pump() -> None:
            while True:
                try:
                    line = self.stdin.readline()
                except (OSError, ValueError):
                    line = ""
                loop.call_soon_threadsafe(queue.put_nowait, line)
                if not line:
                    return

        threading.Thread(target=pump, name="terminal-stdin", daemon=True).start()
        return queue

    async def _readline(self, queue: asyncio.Queue[str]) -> str:
        if self.interactive:
            self.stdout.write(PROMPT)
            self.stdout.flush()
        return await queue.get()

    async def run(self) -> int:
        """Answer commands until end of input or ``quit``; 0 at the end."""
        if self.interactive:
            self.say('roveit terminal chat. "help" for help, "quit" to leave.')
        queue = self._start_reader()
        while True:
            line = await self._readline(queue)
            if not line:
                return 0
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.casefold() in QUIT:
                return 0
            if not self.interactive:
                self.say(f"> {text}")
            reply = await handle_text(text, self.caller, self.ctx, limiter=self.limiter)
            self.say(render(reply))


class TerminalNotifier:
    """Notifications for modules made in the terminal chat: printed lines."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._count = 0

    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None:
        self._count += 1
        module = card.get("module")
        head = f"🔔 module #{module}: " if module is not None else "🔔 "
        self._say(head + text)
        return f"terminal-{self._count}"

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        self._say(text)
        return message_id or "terminal-status"

"""The terminal chat: one command a line from stdin, replies on stdout."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

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

    async def _readline(self) -> str:
        if self.interactive:
            self.stdout.write(PROMPT)
            self.stdout.flush()
        return await asyncio.get_running_loop().run_in_executor(None, self.stdin.readline)

    async def run(self) -> int:
        """Answer commands until end of input or ``quit``; 0 at the end."""
        if self.interactive:
            self.say('roveit terminal chat. "help" for help, "quit" to leave.')
        while True:
            line = await self._readline()
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

"""Text or a parsed command in, a Reply out: the one door every chat goes through."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from bot.commands import modules, ops, testing
from bot.commands.base import Caller, CommandError, Context, Reply
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_command

log = logging.getLogger(__name__)

Handler = Callable[[Context, Any, Caller], Awaitable[Reply]]

HANDLERS: dict[type, Handler] = {
    ast.Create: modules.create,
    ast.ListModules: modules.list_modules,
    ast.Show: modules.show,
    ast.Edit: modules.edit,
    ast.Pause: modules.pause,
    ast.Resume: modules.resume,
    ast.Delete: modules.delete,
    ast.Claim: modules.claim,
    ast.Test: testing.test,
    ast.Backtest: testing.backtest,
    ast.Status: ops.status,
    ast.Heartbeat: ops.heartbeat,
    ast.Help: ops.help_command,
}


class CommandRateLimiter:
    """At most ``count`` commands per ``window`` seconds per user (sliding window)."""

    def __init__(
        self, *, count: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.count = count
        self.window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> float:
        """0 when the user may go ahead, else how many seconds to wait."""
        now = self._clock()
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.count:
            return times[0] + self.window - now
        times.append(now)
        return 0.0


async def handle(command: ast.Command, caller: Caller, ctx: Context) -> Reply:
    """Run one parsed command; expected failures come back as an error Reply."""
    handler = HANDLERS[type(command)]
    try:
        return await handler(ctx, command, caller)
    except CommandError as exc:
        return Reply(exc.message, code=exc.detail, error=True, private=True)
    except RuleSyntaxError as exc:
        return syntax_reply(exc)
    except Exception:
        log.exception("command %s failed", type(command).__name__)
        return Reply(
            "Sorry, something went wrong on my side; it has been logged.", error=True, private=True
        )


def syntax_reply(exc: RuleSyntaxError) -> Reply:
    head = f"line {exc.line}, column {exc.column}: {exc.message}"
    tail = f"\n{exc.hint}" if exc.hint else ""
    return Reply(f"That does not parse. {head}{tail}", code=exc.excerpt, error=True, private=True)


async def handle_text(
    text: str, caller: Caller, ctx: Context, *, limiter: CommandRateLimiter | None = None
) -> Reply:
    """Parse and run one command line as typed in a chat."""
    if limiter is not None:
        wait = limiter.allow(caller.key)
        if wait > 0:
            return Reply(
                f"You are sending commands faster than I can take them; try again in {wait:.0f}s.",
                error=True,
                private=True,
            )
    try:
        command = parse_command(text)
    except RuleSyntaxError as exc:
        return syntax_reply(exc)
    return await handle(command, caller, ctx)

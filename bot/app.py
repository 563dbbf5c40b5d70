"""Assembly: settings -> store, Reddit, chats, engine, supervisor; and clean shutdown.

With no Reddit credentials the bot runs the local Reddit sandbox in-process, replaying
the bundled real items, and talks to it through the same asyncpraw code it uses for
Reddit, so a first run shows modules firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.chat.heartbeat import HeartbeatService
from bot.chat.terminal import TerminalChat, TerminalNotifier, terminal_caller
from bot.commands.base import Caller, Context
from bot.commands.dispatch import CommandRateLimiter
from bot.commands.testing import KeptItems
from bot.config import Settings
from bot.data import sample_path
from bot.engine.index import IndexedMatcher
from bot.engine.lease import Leadership
from bot.engine.ports import NotifyPort
from bot.engine.runtime import Engine, EngineConfig
from bot.engine.supervisor import Supervisor
from bot.grammar import ast
from bot.logs import setup_logging
from bot.store.db import Outbox, Store, sqlite_path
from bot.webhook import WebhookError, WebhookPolicy, WebhookSender, check_url

if TYPE_CHECKING:
    from bot.reddit.client import AsyncprawReddit

log = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "roveit-local"
SANDBOX_SECRET = "roveit-local-secret"  # the in-process sandbox's only client; not a secret
SANDBOX_USER = "roveit_bot"


def webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(allow_http=settings.roveit_webhook_allow_http)


def action_checker(
    settings: Settings,
    discord_check: Callable[[ast.Rule, Caller], Awaitable[list[str]]] | None = None,
) -> Callable[[ast.Rule, Caller], Awaitable[list[str]]]:
    """What a new rule's actions need, checked when the module is created."""
    policy = webhook_policy(settings)

    async def check(rule: ast.Rule, caller: Caller) -> list[str]:
        problems: list[str] = []
        for action in rule.actions:
            if isinstance(action, ast.Webhook):
                try:
                    check_url(action.url, policy)
                except WebhookError as exc:
                    problems.append(f"webhook {action.url.split('?')[0]}: {exc.reason}")
        if caller.chat == "discord" and discord_check is not None:
            problems += await discord_check(rule, caller)
        return problems

    return check


@dataclass(slots=True)
class Bot:
    """The running pieces, for start/stop and for tests."""

    settings: Settings
    store: Store
    engine: Engine
    ctx: Context
    notifiers: dict[str, NotifyPort]
    heartbeats: HeartbeatService
    limiter: CommandRateLimiter
    reddit: AsyncprawReddit
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    sandbox: Any = None
    supervisor: Supervisor = field(default_factory=Supervisor)

    async def close(self) -> None:
        self.heartbeats.shutdown()
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                await closer()
        await self.store.close()


async def _start_local_reddit(settings: Settings) -> tuple[Settings, Any]:
    """The bundled replay behind a local Reddit API, and settings that point at it."""
    from bot.sandbox.reddit import RedditSandbox, load_items

    items = load_items(settings.roveit_replay_items or sample_path())
    sandbox = RedditSandbox(items, username=SANDBOX_USER, restamp=True)
    base = await sandbox.start()
    sandbox.start_replay(settings.roveit_replay_rate)
    local = dataclasses.replace(
        settings,
        reddit_client_id=SANDBOX_CLIENT_ID,
        reddit_client_secret=SANDBOX_SECRET,
        reddit_username=SANDBOX_USER,
        reddit_password="local",
        reddit_oauth_url=base,
        reddit_url=base,
    )
    log.info(
        "no Reddit credentials: replaying %d bundled items at %s/s",
        len(items),
        settings.roveit_replay_rate,
    )
    return local, sandbox


async def build_bot(settings: Settings, *, say: Callable[[str], None] | None = None) -> Bot:
    from bot.reddit.client import open_reddit
    from bot.reddit.notify import RedditNotifier

    store = await Store.open(sqlite_path(settings.database_url))
    closers: list[Callable[[], Awaitable[None]]] = []
    sandbox = None
    try:
        if not settings.reddit_configured:
            settings, sandbox = await _start_local_reddit(settings)
            closers.append(sandbox.stop)
        reddit = await open_reddit(settings)
        closers.append(reddit.close)
    except BaseException:
        for closer in reversed(closers):
            await closer()
        await store.close()
        raise
    notifiers: dict[str, NotifyPort] = {
        "terminal": TerminalNotifier(say or (lambda text: print(text, flush=True))),
        "reddit": RedditNotifier(reddit),
    }
    engine = Engine(
        store=store,
        outbox=Outbox(store),
        reddit=reddit,
        notifiers=notifiers,
        webhook=WebhookSender(policy=webhook_policy(settings)),
        config=EngineConfig(
            keep_items=settings.roveit_keep_items,
            poll_min_interval=settings.roveit_poll_interval,
            # The bot's own replies show up in the comment streams: never match them, or a
            # reply module answers its own replies.
            ignore_authors=frozenset({reddit.username.casefold()}),
        ),
        matcher_factory=IndexedMatcher,
    )
    heartbeats = HeartbeatService(store=store, status=engine, notifiers=notifiers)

    def changed() -> None:
        engine.modules_changed()
        _in_background(heartbeats.refresh())

    ctx = Context(
        store=store,
        items=KeptItems(store, fetch=reddit.fetch),
        clock=time.time,
        status=engine,
        check_actions=action_checker(settings),
        on_change=changed,
    )
    limiter = CommandRateLimiter(count=settings.roveit_command_rate)
    bot = Bot(
        settings, store, engine, ctx, notifiers, heartbeats, limiter, reddit, closers, sandbox
    )
    return bot


_BACKGROUND: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` without waiting for it, keeping a reference until it is done."""
    try:
        task = asyncio.get_running_loop().create_task(work)
    except RuntimeError:  # no loop (a command handled outside the bot): nothing to refresh
        work.close()
        return
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _announce(bot: Bot, message: str) -> None:
    _in_background(bot.heartbeats.announce(f"⚠️ {message}"))


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, say: Callable[[str], None] | None = None
) -> AsyncIterator[Bot]:
    bot = await build_bot(settings, say=say)
    try:
        yield bot
    finally:
        await bot.close()


def _add_engine_tasks(bot: Bot) -> None:
    engine = bot.engine
    bot.supervisor.add("poller", engine.poll_loop, silence_limit=300)
    bot.supervisor.add("actions", engine.action_loop, silence_limit=300)


def _add_chat_tasks(bot: Bot) -> None:
    from bot.chat.reddit_pm import RedditPMChat

    settings = bot.settings
    pm = RedditPMChat(reddit=bot.reddit, ctx=bot.ctx, settings=settings, limiter=bot.limiter)
    bot.supervisor.add("reddit-pm", pm.run, silence_limit=300)
    _add_discord(bot, answer_commands=True)


def _add_discord(bot: Bot, *, answer_commands: bool) -> None:
    """Discord: the chat, or (for `roveit engine`) only the output of notifications."""
    if not bot.settings.discord_configured:
        return
    from bot.chat.discord_app import DiscordChat

    discord_chat = DiscordChat(bot, answer_commands=answer_commands)
    bot.notifiers["discord"] = discord_chat.notifier
    bot.ctx.check_actions = action_checker(bot.settings, discord_chat.check_actions)
    bot.supervisor.add("discord", lambda stop, beat: discord_chat.run(stop))


def _set_event(event: asyncio.Event, _task: object) -> None:
    event.set()


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _serve(bot: Bot, stop: asyncio.Event, *, with_chats: bool) -> None:
    """Wait for the engine lease, then run everything until stopped or the lease is lost."""
    bot.heartbeats.start()
    leadership = Leadership(bot.store, ttl=bot.settings.roveit_lease_seconds)
    while not stop.is_set():
        if not await leadership.wait_until_leader(stop):
            return
        lost = asyncio.Event()
        holder = asyncio.create_task(leadership.hold(stop, lost))
        leading = asyncio.Event()
        ender = asyncio.create_task(_first_of(stop, lost))
        ender.add_done_callback(functools.partial(_set_event, leading))
        await bot.engine.recover()
        await bot.heartbeats.refresh()
        bot.supervisor = Supervisor(on_event=lambda message: _announce(bot, message))
        _add_engine_tasks(bot)
        if with_chats:
            _add_chat_tasks(bot)
        else:
            _add_discord(bot, answer_commands=False)
        await bot.supervisor.run(leading)
        ender.cancel()
        await holder


async def run_start(settings: Settings) -> int:
    """``roveit start``: every configured chat and the engine; the terminal chat on a tty."""
    setup_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    terminal = None
    async with running(settings, say=lambda text: print(text, flush=True)) as bot:
        serving = asyncio.create_task(_serve(bot, stop, with_chats=True))
        if sys.stdin.isatty():
            terminal = TerminalChat(bot.ctx, limiter=bot.limiter)
            bot.notifiers["terminal"] = TerminalNotifier(terminal.say)
            chat = asyncio.create_task(terminal.run())
            await asyncio.wait(
                {chat, serving, asyncio.create_task(stop.wait())},
                return_when=asyncio.FIRST_COMPLETED,
            )
            stop.set()
        else:
            log.info("roveit is running; stop it with SIGTERM")
        await serving
    log.info("roveit stopped cleanly")
    return 0


async def run_engine(settings: Settings, *, standby: bool = False) -> int:
    """``roveit engine``: streams, matching, actions and heartbeats, no chats."""
    setup_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    if standby:
        log.info("starting as a standby: this engine takes over when the leader's lease expires")
    async with running(settings) as bot:
        await _serve(bot, stop, with_chats=False)
    return 0


async def run_chat(settings: Settings, *, user: str | None = None, admin: bool = False) -> int:
    """``roveit chat``: the terminal chat on the configured database, without the engine."""
    setup_logging(level="WARNING", fmt=settings.log_format, secrets=settings.secrets)
    store = await Store.open(sqlite_path(settings.database_url))
    try:
        ctx = Context(
            store=store,
            items=KeptItems(store),
            clock=time.time,
            check_actions=action_checker(settings),
        )
        caller = terminal_caller(user or "local", admin=admin or user is None)
        chat = TerminalChat(
            ctx, caller=caller, limiter=CommandRateLimiter(count=settings.roveit_command_rate)
        )
        return await chat.run()
    finally:
        await store.close()

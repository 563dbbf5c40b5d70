"""The Discord chat: ``/roveit`` slash commands, notification buttons and the NotifyPort.

Typed options become ``bot.grammar.ast`` commands here (a rule through ``parse_rule``),
and every command goes through ``bot.commands.dispatch.handle`` like in the other chats.
Button presses are routed by custom id (discord.py's DynamicItem), so the buttons of
old notifications keep working after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any, Literal, Protocol

import aiohttp
import yarl

from bot.chat.discord_notify import DiscordNotifier, check_rule_actions
from bot.chat.discord_render import (
    FULL_TEMPLATE,
    PAUSE_TEMPLATE,
    Outgoing,
    full_item,
    render_reply,
    truncate,
)
from bot.commands import dispatch
from bot.commands.base import Caller, Context, Reply, can_see
from bot.commands.ops import HELP
from bot.config import Settings
from bot.engine.item import ItemError, item_from_thing
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_command, parse_rule
from bot.sandbox.discord_import import discord
from bot.store.db import ModuleRecord

app_commands = discord.app_commands
log = logging.getLogger(__name__)

DEFER_AFTER = 1.5  # seconds of work after which a quick command is deferred anyway
MAX_CHOICES = 25  # Discord's autocomplete limit
MAX_CHOICE_NAME = 100
MODULE_ID = re.compile(r"#?([0-9]{1,15})")
SORRY = "Sorry, something went wrong on my side; it has been logged."


class ChatHost(Protocol):
    """What the chat needs from the assembled bot (bot.app.Bot has these)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def ctx(self) -> Context: ...

    @property
    def limiter(self) -> dispatch.CommandRateLimiter: ...


DISCORD_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


def use_endpoints(settings: Settings, gateway: str | None = None) -> None:
    """Point discord.py at DISCORD_API_BASE and the gateway (a local Discord in tests)."""
    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    url = gateway or settings.discord_gateway_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url) if url else DISCORD_GATEWAY


async def discover_gateway(settings: Settings) -> str | None:
    """With a custom DISCORD_API_BASE and no DISCORD_GATEWAY_URL, ask that API's
    ``GET /gateway/bot`` where its gateway is, as Discord documents (a plain discord.py
    Client would otherwise dial Discord's own gateway)."""
    if settings.discord_gateway_url or settings.discord_api_base == Settings().discord_api_base:
        return None
    url = settings.discord_api_base.rstrip("/") + "/gateway/bot"
    headers = {"Authorization": f"Bot {settings.discord_token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url, headers=headers) as response,
        ):
            payload = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("could not ask %s for the gateway: %s", url, exc)
        return None
    found = payload.get("url") if isinstance(payload, dict) else None
    return found if isinstance(found, str) and found else None


# ---- who is asking ----------------------------------------------------------------


def caller_of(interaction: discord.Interaction[Any]) -> Caller:
    """Servers scope modules; in DMs a user is the admin of their own personal place."""
    user = interaction.user
    channel = str(interaction.channel_id) if interaction.channel_id else None
    if interaction.guild_id is None:
        place, admin = f"dm:{user.id}", True
    else:
        perms = interaction.permissions
        place, admin = str(interaction.guild_id), perms.manage_guild or perms.administrator
    return Caller(
        chat="discord",
        user_id=str(user.id),
        name=user.name,
        place=place,
        channel=channel,
        admin=admin,
    )


# ---- options into commands ----------------------------------------------------------


def module_or_rule(text: str) -> tuple[int | None, str | None, ast.Rule | None]:
    """``12``/``#12`` names a module; anything else is a rule (RuleSyntaxError if bad)."""
    text = text.strip()
    found = MODULE_ID.fullmatch(text)
    if found:
        return int(found.group(1)), None, None
    return None, text, parse_rule(text)


def build_test(rule_or_id: str, on: str | None) -> ast.Test:
    module_id, text, rule = module_or_rule(rule_or_id)
    return ast.Test(text, rule, module_id, on.strip() if on else None)


def build_backtest(rule_or_id: str, last: int | None) -> ast.Backtest:
    module_id, text, rule = module_or_rule(rule_or_id)
    return ast.Backtest(text, rule, module_id, last)


def build_heartbeat(mode: str, every: str | None) -> ast.Command:
    """Reuses the command grammar, so a bad duration is worded as in every other chat."""
    if mode == "off":
        return ast.Heartbeat(False)
    if not every or not every.strip():
        return parse_command("heartbeat here")
    return parse_command(f"heartbeat here every {''.join(every.split())}")


def module_choice(module: ModuleRecord) -> app_commands.Choice[int]:
    status = "" if module.status == "active" else f" [{module.status}]"
    name = truncate(f"#{module.id}{status} {' '.join(module.rule.split())}", MAX_CHOICE_NAME)
    return app_commands.Choice(name=name, value=module.id)


# ---- the client ---------------------------------------------------------------------


class RoveitClient(discord.Client):
    """discord.py's client with the /roveit tree and the button routes."""

    def __init__(self, chat: DiscordChat, *, guild_ready_timeout: float) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
        )
        self.chat = chat
        self.tree: app_commands.CommandTree[RoveitClient] = app_commands.CommandTree(self)
        if chat.answer_commands:
            self.tree.add_command(build_group())
        self.logged_in = asyncio.Event()
        self.ready = asyncio.Event()

    async def setup_hook(self) -> None:
        self.logged_in.set()
        if self.chat.answer_commands:
            self.add_dynamic_items(ShowFullButton, PauseButton)
            await self.chat.sync_commands()

    async def on_ready(self) -> None:
        self.ready.set()
        log.info("discord: connected as %s to %d servers", self.user, len(self.guilds))


class DiscordChat:
    """Runs the Discord client: answers /roveit, handles buttons, delivers notifications."""

    def __init__(
        self,
        host: ChatHost,
        *,
        guild_ready_timeout: float = 2.0,
        test_guild: int | None = None,
        answer_commands: bool = True,
    ) -> None:
        # False for `roveit engine`: it connects only to deliver notifications and
        # heartbeats, and leaves commands and buttons to the process running the chats
        self.answer_commands = answer_commands
        self.settings = host.settings
        self.ctx = host.ctx
        self.limiter = host.limiter
        self.test_guild = test_guild
        self._guild_ready_timeout = guild_ready_timeout
        self.client = RoveitClient(self, guild_ready_timeout=guild_ready_timeout)
        self.notifier = DiscordNotifier(self)

    # -- life cycle --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connected until ``stop`` is set; an error ends it (the supervisor restarts it)."""
        use_endpoints(self.settings, await discover_gateway(self.settings))
        if self.client.is_closed():
            self.client = RoveitClient(self, guild_ready_timeout=self._guild_ready_timeout)
        client = self.client
        runner = asyncio.create_task(client.start(self.settings.discord_token), name="discord")
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()
        finally:
            stopper.cancel()
            await client.close()
            if not runner.done():
                runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def sync_commands(self) -> None:
        """Global sync; also to a test server, where changes show at once."""
        tree = self.client.tree
        synced = await tree.sync()
        if self.test_guild is not None:
            guild = discord.Object(id=self.test_guild)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
        log.info("discord: synced %d commands", len(synced))

    async def wait_logged_in(self, timeout: float) -> bool:
        return await _wait(self.client.logged_in, timeout)

    async def wait_ready(self, timeout: float) -> bool:
        return await _wait(self.client.ready, timeout)

    async def check_actions(self, rule: ast.Rule, caller: Caller) -> list[str]:
        """notify #channel must name a channel of the caller's server the bot can post in."""
        return await check_rule_actions(self.client, rule, caller)

    # -- commands ------------------------------------------------------------------

    async def run_command(
        self,
        interaction: discord.Interaction[Any],
        build: Callable[[], ast.Command],
        *,
        slow: bool = False,
    ) -> None:
        """Answer one slash command within Discord's 3 seconds, whatever happens."""
        try:
            caller = caller_of(interaction)
            reply = self._refused(caller)
            if reply is None:
                try:
                    command = build()
                except RuleSyntaxError as exc:
                    reply = dispatch.syntax_reply(exc)
            if reply is not None:
                await self._send_response(interaction, reply)
                return
            await self._answer(interaction, command, caller, slow=slow)
        except Exception:
            log.exception("discord: /roveit failed")
            await self._apologise(interaction)

    def _refused(self, caller: Caller) -> Reply | None:
        wait = self.limiter.allow(caller.key)
        if wait <= 0:
            return None
        return Reply(
            f"You are sending commands faster than I can take them; try again in {wait:.0f}s.",
            error=True,
            private=True,
        )

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        command: ast.Command,
        caller: Caller,
        *,
        slow: bool,
    ) -> None:
        if slow:
            await interaction.response.defer(thinking=True)
            await self._finish_deferred(
                interaction, await dispatch.handle(command, caller, self.ctx)
            )
            return
        work = asyncio.ensure_future(dispatch.handle(command, caller, self.ctx))
        done, _ = await asyncio.wait({work}, timeout=DEFER_AFTER)
        if done:
            await self._send_response(interaction, work.result())
            return
        await interaction.response.defer(thinking=True)
        await self._finish_deferred(interaction, await work)

    async def _send_response(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        parts = render_reply(reply)
        await interaction.response.send_message(**parts.kwargs(), ephemeral=reply.private)

    async def _finish_deferred(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        """Fill the "thinking…" message; a private answer replaces it with an ephemeral one."""
        kwargs = render_reply(reply).kwargs()
        if reply.private:
            await interaction.delete_original_response()
            await interaction.followup.send(**kwargs, ephemeral=True)
            return
        await interaction.edit_original_response(**kwargs)

    async def _apologise(self, interaction: discord.Interaction[Any]) -> None:
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(SORRY, ephemeral=True)
            else:
                await interaction.response.send_message(SORRY, ephemeral=True)

    # -- autocomplete ----------------------------------------------------------------

    async def module_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[int]]:
        """The caller's visible modules whose id or rule matches what was typed so far."""
        caller = caller_of(interaction)
        store = self.ctx.store
        found = {m.id: m for m in await store.list_modules(place=caller.place)}
        found.update({m.id: m for m in await store.list_modules(owner=caller.key)})
        typed = str(current or "").strip().lstrip("#").casefold()
        matches = [
            m
            for m in sorted(found.values(), key=lambda m: m.id)
            if m.status != "deleted"
            and can_see(m, caller)
            and (str(m.id).startswith(typed) or typed in m.rule.casefold())
        ]
        return [module_choice(m) for m in matches[:MAX_CHOICES]]

    # -- buttons -----------------------------------------------------------------------

    async def show_full(
        self, interaction: discord.Interaction[Any], module_id: int, fullname: str
    ) -> None:
        """The whole item, privately, to whoever pressed the button."""
        reply = self._refused(caller_of(interaction))
        if reply is not None:
            await self._send_response(interaction, reply)
            return
        thing = await self.ctx.store.get_item(fullname)
        if thing is None:  # no longer kept: the notification's own copy, from the outbox
            card = await self.ctx.store.notification_card(module_id, fullname)
            thing = thing_of_card(card) if card else None
        parts: Outgoing | None = None
        if thing is not None:
            with contextlib.suppress(ItemError):
                parts = full_item(item_from_thing(thing))
        if parts is None:
            link = _card_link(interaction)
            text = f"I no longer keep {fullname} (module #{module_id})."
            text += f" It is on Reddit: {link}" if link else ""
            parts = Outgoing(content=text)
        await interaction.response.send_message(**parts.kwargs(), ephemeral=True)

    async def pause_pressed(self, interaction: discord.Interaction[Any], module_id: int) -> None:
        """Pause from the notification: the owner and admins only, answered privately."""
        caller = caller_of(interaction)
        reply = self._refused(caller) or await dispatch.handle(
            ast.Pause(module_id), caller, self.ctx
        )
        parts = render_reply(reply)
        await interaction.response.send_message(**parts.kwargs(), ephemeral=True)


def thing_of_card(card: dict[str, Any]) -> dict[str, Any]:
    """A notification card (bot.engine.runtime) back as a Reddit thing."""
    post = card.get("kind") == "t3"
    data = {
        "id": card.get("id"),
        "title" if post else "link_title": card.get("title"),
        "selftext" if post else "body": card.get("body"),
        "subreddit": card.get("subreddit"),
        "author": card.get("author"),
        "link_flair_text": card.get("flair"),
        "score": card.get("score"),
        "url": card.get("url"),
        "permalink": card.get("permalink"),
    }
    return {"kind": card.get("kind"), "data": data}


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


def _card_link(interaction: discord.Interaction[Any]) -> str | None:
    message = interaction.message
    if message is None or not message.embeds:
        return None
    return message.embeds[0].url


def _chat(interaction: discord.Interaction[Any]) -> DiscordChat:
    client = interaction.client
    assert isinstance(client, RoveitClient)
    return client.chat


# ---- buttons, routed by custom id ----------------------------------------------------


class ShowFullButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FULL_TEMPLATE):
    """roveit:full:<module>:<fullname> -> the item in full, ephemeral."""

    def __init__(self, module_id: int, fullname: str) -> None:
        super().__init__(
            discord.ui.Button(label="Show full", custom_id=f"roveit:full:{module_id}:{fullname}")
        )
        self.module_id = module_id
        self.fullname = fullname

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ShowFullButton:
        return cls(int(match["module"]), match["item"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        chat = _chat(interaction)
        try:
            await chat.show_full(interaction, self.module_id, self.fullname)
        except Exception:
            log.exception("discord: Show full failed")
            await chat._apologise(interaction)


class PauseButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PAUSE_TEMPLATE):
    """roveit:pause:<module> -> pause it, if the presser owns it or is an admin."""

    def __init__(self, module_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Pause module", custom_id=f"roveit:pause:{module_id}")
        )
        self.module_id = module_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> PauseButton:
        return cls(int(match["module"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        chat = _chat(interaction)
        try:
            await chat.pause_pressed(interaction, self.module_id)
        except Exception:
            log.exception("discord: Pause module failed")
            await chat._apologise(interaction)


# ---- /roveit ---------------------------------------------------------------------------

Scope = Literal["mine", "all"]
HeartbeatMode = Literal["here", "off"]
LastItems = app_commands.Range[int, 1, 10_000]


async def _module_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[int]]:
    return await _chat(interaction).module_choices(interaction, current)


async def _topic_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    typed = (current or "").strip().casefold()
    topics = [t for t in HELP if t and t.startswith(typed)]
    topics += [t for t in HELP if t and typed in t and t not in topics]
    return [app_commands.Choice(name=t, value=t) for t in topics[:MAX_CHOICES]]


_RULE = 'on posts|comments [in r/...] [if ...] then actions, e.g. on posts if title contains "x" then notify here'
_MODULE = "the module's id (start typing to pick)"


def build_group() -> app_commands.Group:
    """The /roveit group: SPEC §2's commands, each with typed options."""
    group = app_commands.Group(
        name="roveit", description="Watch Reddit with rules and act on matches"
    )
    _module_commands(group)
    _rule_commands(group)
    _ops_commands(group)
    return group


def _module_commands(group: app_commands.Group) -> None:
    @group.command(name="create", description="Create a module from a rule")
    @app_commands.describe(rule=_RULE, anonymous="no owner: you get a claim token, shown once")
    async def create(
        interaction: discord.Interaction[Any], rule: str, anonymous: bool = False
    ) -> None:
        text = rule.strip()
        await _chat(interaction).run_command(
            interaction, lambda: ast.Create(text, parse_rule(text), anonymous=anonymous)
        )

    @group.command(name="list", description="List your modules, or all modules of this server")
    @app_commands.describe(scope="mine (default) or all modules here")
    async def list_(interaction: discord.Interaction[Any], scope: Scope = "mine") -> None:
        await _chat(interaction).run_command(interaction, lambda: ast.ListModules(scope))

    @group.command(name="show", description="A module's rule, status, counts and recent matches")
    @app_commands.describe(module=_MODULE)
    @app_commands.autocomplete(module=_module_autocomplete)
    async def show(interaction: discord.Interaction[Any], module: int) -> None:
        await _chat(interaction).run_command(interaction, lambda: ast.Show(module), slow=True)

    @group.command(name="edit", description="Replace a module's rule (owner or admin)")
    @app_commands.describe(module=_MODULE, rule=_RULE)
    @app_commands.autocomplete(module=_module_autocomplete)
    async def edit(interaction: discord.Interaction[Any], module: int, rule: str) -> None:
        text = rule.strip()
        await _chat(interaction).run_command(
            interaction, lambda: ast.Edit(module, text, parse_rule(text))
        )

    for name, kind, what in (
        ("pause", ast.Pause, "Stop a module without deleting it (owner or admin)"),
        ("resume", ast.Resume, "Run a paused module again (owner or admin)"),
        ("delete", ast.Delete, "Remove a module (owner or admin)"),
    ):
        group.add_command(_status_command(name, kind, what))

    @group.command(name="claim", description="Become the owner of an anonymous module")
    @app_commands.describe(
        module="the anonymous module's id", token="the claim token shown when it was made"
    )
    async def claim(interaction: discord.Interaction[Any], module: int, token: str) -> None:
        await _chat(interaction).run_command(interaction, lambda: ast.Claim(module, token.strip()))


def _status_command(
    name: str, kind: type[ast.Pause] | type[ast.Resume] | type[ast.Delete], description: str
) -> app_commands.Command[Any, Any, None]:
    async def callback(interaction: discord.Interaction[Any], module: int) -> None:
        await _chat(interaction).run_command(interaction, lambda: kind(module))

    command: app_commands.Command[Any, Any, None] = app_commands.Command(
        name=name, description=description, callback=callback
    )
    command = app_commands.describe(module=_MODULE)(command)
    return app_commands.autocomplete(module=_module_autocomplete)(command)


def _rule_commands(group: app_commands.Group) -> None:
    @group.command(name="test", description="Does a rule or module match an item? Why or why not")
    @app_commands.describe(
        rule_or_id="a rule, or a module id like 12",
        on="a Reddit link or item id (default: the latest matching item)",
    )
    async def test(
        interaction: discord.Interaction[Any], rule_or_id: str, on: str | None = None
    ) -> None:
        await _chat(interaction).run_command(
            interaction, lambda: build_test(rule_or_id, on), slow=True
        )

    @group.command(name="backtest", description="What a rule or module would have matched recently")
    @app_commands.describe(
        rule_or_id="a rule, or a module id like 12", last="how many recent items"
    )
    async def backtest(
        interaction: discord.Interaction[Any], rule_or_id: str, last: LastItems | None = None
    ) -> None:
        await _chat(interaction).run_command(
            interaction, lambda: build_backtest(rule_or_id, last), slow=True
        )


def _ops_commands(group: app_commands.Group) -> None:
    @group.command(name="status", description="Engine health: streams, lag, counts, errors")
    async def status(interaction: discord.Interaction[Any]) -> None:
        await _chat(interaction).run_command(interaction, ast.Status, slow=True)

    @group.command(name="heartbeat", description="Keep one status message here up to date, or stop")
    @app_commands.describe(
        mode="here: start (or change); off: stop", every="how often, like 10m or 1h"
    )
    async def heartbeat(
        interaction: discord.Interaction[Any], mode: HeartbeatMode, every: str | None = None
    ) -> None:
        await _chat(interaction).run_command(interaction, lambda: build_heartbeat(mode, every))

    @group.command(name="help", description="How rules and commands work")
    @app_commands.describe(topic="rules, fields, tests, actions, options, templates or a command")
    @app_commands.autocomplete(topic=_topic_autocomplete)
    async def help_(interaction: discord.Interaction[Any], topic: str | None = None) -> None:
        await _chat(interaction).run_command(interaction, lambda: ast.Help(topic))

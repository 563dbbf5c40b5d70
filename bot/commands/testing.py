"""test and backtest: what a rule matches among kept (or bundled) items, and why."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.commands.base import Caller, CommandError, Context, Reply
from bot.commands.modules import visible_module
from bot.data import load_sample
from bot.engine.evaluate import compile_rule, explain
from bot.engine.item import Item, ItemError, item_from_thing
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_rule
from bot.store.db import Store

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[dict[str, Any] | None]]

DEFAULT_BACKTEST = 1000
MAX_BACKTEST = 10_000
SHOWN = 10

_URL_IDS = re.compile(r"/comments/([a-z0-9]+)(?:/[^/?#]*/([a-z0-9]+))?", re.IGNORECASE)
_FULLNAME = re.compile(r"^(t[13])_([a-z0-9]+)$", re.IGNORECASE)
_BARE_ID = re.compile(r"^[a-z0-9]{1,13}$", re.IGNORECASE)
_SHORT_URL = re.compile(r"redd\.it/([a-z0-9]+)", re.IGNORECASE)


def target_fullnames(target: str) -> list[str]:
    """The fullnames a URL or id may name, most likely first."""
    target = target.strip().strip("<>")
    m = _FULLNAME.match(target)
    if m:
        return [f"{m.group(1).lower()}_{m.group(2).lower()}"]
    m = _URL_IDS.search(target)
    if m:
        if m.group(2):
            return [f"t1_{m.group(2).lower()}"]
        return [f"t3_{m.group(1).lower()}"]
    m = _SHORT_URL.search(target)
    if m:
        return [f"t3_{m.group(1).lower()}"]
    if _BARE_ID.match(target):
        return [f"t3_{target.lower()}", f"t1_{target.lower()}"]
    raise CommandError(
        f"{target!r} is not a Reddit link or id (like https://www.reddit.com/r/x/comments/abc123/ "
        "or t3_abc123)."
    )


class KeptItems:
    """Items for test/backtest: those the engine kept, else the bundled sample."""

    def __init__(self, store: Store, *, fetch: Fetch | None = None) -> None:
        self._store = store
        self._fetch = fetch  # asks Reddit for an item the engine has not kept
        self._sample: list[dict[str, Any]] | None = None

    def _bundled(self) -> list[dict[str, Any]]:
        if self._sample is None:
            self._sample = load_sample()
        return self._sample

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        kept = await self._store.recent_items(limit)
        return kept if kept else self._bundled()[-limit:]

    async def find(self, fullname: str) -> dict[str, Any] | None:
        kept = await self._store.get_item(fullname)
        if kept is not None:
            return kept
        kind, _, item_id = fullname.partition("_")
        for thing in self._bundled():
            data = thing["data"]
            if thing.get("kind") == kind and data.get("id") == item_id:
                return thing
        if self._fetch is None:
            return None
        try:
            return await self._fetch(fullname)
        except Exception as exc:  # Reddit unreachable: the item is simply not found
            log.warning("could not fetch %s from Reddit: %s", fullname, exc)
            return None


async def _rule_of(
    ctx: Context, caller: Caller, rule: ast.Rule | None, module_id: int | None
) -> tuple[ast.Rule, str]:
    if rule is not None:
        return rule, "the rule"
    assert module_id is not None
    module = await visible_module(ctx, module_id, caller)
    try:
        return parse_rule(module.rule), f"module #{module.id}"
    except RuleSyntaxError as exc:  # stored before a grammar change; say so plainly
        raise CommandError(f"Module #{module.id} no longer parses: {exc.message}") from None


def _items(things: list[dict[str, Any]]) -> list[Item]:
    items = []
    for thing in things:
        try:
            items.append(item_from_thing(thing))
        except ItemError:
            continue
    return items


def _describe(item: Item) -> str:
    label = item.title if item.kind == "t3" else item.body
    label = " ".join(label.split())
    if len(label) > 80:
        label = label[:80] + "…"
    return f"{item.fullname} r/{item.subreddit} u/{item.author}: {label}"


async def test(ctx: Context, command: ast.Test, caller: Caller) -> Reply:
    rule, what = await _rule_of(ctx, caller, command.rule, command.module_id)
    if command.target is not None:
        thing = None
        for fullname in target_fullnames(command.target):
            thing = await ctx.items.find(fullname)
            if thing is not None:
                break
        if thing is None:
            raise CommandError(
                f"I could not find {command.target} among the items the engine kept or on Reddit."
            )
        try:
            item = item_from_thing(thing)
        except ItemError as exc:
            raise CommandError(f"{command.target} is {exc}.") from None
        matched = compile_rule(rule).matches(item)
        verdict = f"{'✅' if matched else '❌'} {what} {'matches' if matched else 'does not match'} {_describe(item)}"
        return Reply(verdict, code="\n".join(explain(rule, item)))
    items = _items(await ctx.items.recent(DEFAULT_BACKTEST))
    compiled = compile_rule(rule)
    for item in reversed(items):
        if compiled.matches(item):
            return Reply(
                f"✅ {what} matches the latest such item: {_describe(item)}\n{item.permalink}",
                code="\n".join(explain(rule, item)),
            )
    if not items:
        return Reply(f"❌ No items to test {what} on yet.")
    latest = items[-1]
    return Reply(
        f"❌ {what} matches none of the last {len(items)} items. The latest, {_describe(latest)}:",
        code="\n".join(explain(rule, latest)),
    )


async def backtest(ctx: Context, command: ast.Backtest, caller: Caller) -> Reply:
    rule, what = await _rule_of(ctx, caller, command.rule, command.module_id)
    last = command.last or DEFAULT_BACKTEST
    if not 1 <= last <= MAX_BACKTEST:
        raise CommandError(f"last takes 1 to {MAX_BACKTEST} items.")
    items = _items(await ctx.items.recent(last))
    compiled = compile_rule(rule)
    matched = [item for item in items if compiled.matches(item)]
    lines = [f"- {_describe(item)}" for item in matched[:SHOWN]]
    if len(matched) > SHOWN:
        lines.append(f"… and {len(matched) - SHOWN} more")
    summary = f"{what} matches {len(matched)} of the last {len(items)} items."
    return Reply("\n".join([summary, *lines]))

"""create, list, show, edit, pause, resume, delete, claim."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bot.commands.base import (
    Caller,
    CommandError,
    Context,
    Reply,
    can_manage,
    can_see,
    hash_token,
    new_token,
    owner_label,
    token_matches,
)
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_rule
from bot.grammar.printer import format_rule
from bot.store.db import ModuleRecord


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _made_in(module: ModuleRecord) -> str:
    if module.chat == "discord":
        if module.place.startswith("dm:"):
            return "Discord DMs"
        return f"Discord server {module.place}, channel <#{module.channel}>"
    if module.chat == "reddit":
        return f"Reddit PMs (u/{module.channel})" if module.channel else "Reddit PMs"
    return "the terminal"


def rule_shown(module: ModuleRecord, caller: Caller | None) -> str:
    """The rule as this caller may read it: webhook URLs (which often carry a secret) keep
    only their origin unless the caller may manage the module."""
    if caller is not None and can_manage(module, caller):
        return module.rule
    try:
        rule = parse_rule(module.rule)
    except RuleSyntaxError:
        return module.rule
    if not any(isinstance(a, ast.Webhook) for a in rule.actions):
        return module.rule
    actions = tuple(
        dataclasses.replace(a, url=_origin(a.url)) if isinstance(a, ast.Webhook) else a
        for a in rule.actions
    )
    return format_rule(dataclasses.replace(rule, actions=actions))


def _origin(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}{sep}{host}/…" if sep else "…"


def module_line(module: ModuleRecord, caller: Caller | None = None) -> str:
    status = "" if module.status == "active" else f" [{module.status}]"
    shown = rule_shown(module, caller)
    return f"#{module.id}{status} {shown}  (owner: {owner_label(module.owner, caller)})"


async def visible_module(ctx: Context, module_id: int, caller: Caller) -> ModuleRecord:
    """The module, if it exists and the caller may see it; one error for both cases."""
    module = await ctx.store.get_module(module_id)
    if module is None or not can_see(module, caller):
        raise CommandError(f"There is no module #{module_id} here.")
    return module


async def managed_module(ctx: Context, module_id: int, caller: Caller, verb: str) -> ModuleRecord:
    module = await visible_module(ctx, module_id, caller)
    if not can_manage(module, caller):
        who = "claim it first with its token" if module.owner is None else "ask its owner"
        raise CommandError(
            f"Only the owner of module #{module_id} or an admin may {verb} it ({who})."
        )
    return module


async def _check_new_rule(ctx: Context, rule: ast.Rule, caller: Caller) -> None:
    problems = await ctx.check_actions(rule, caller)
    if problems:
        raise CommandError("The rule cannot run here: " + "; ".join(problems))


async def create(ctx: Context, command: ast.Create, caller: Caller) -> Reply:
    await _check_new_rule(ctx, command.rule, caller)
    if not command.anonymous:
        owned = await ctx.store.count_modules(owner=caller.key)
        if owned >= ctx.max_per_owner and not caller.bot_admin:
            raise CommandError(
                f"You already have {owned} modules, the most one person may have. "
                "Delete one first (list mine, then delete ID)."
            )
    in_place = await ctx.store.count_modules(place=caller.place)
    if in_place >= ctx.max_per_place and not caller.bot_admin:
        raise CommandError(
            f"This place already has {in_place} modules, the most allowed. Ask an admin to "
            "delete unused ones."
        )
    token = new_token() if command.anonymous else None
    module = await ctx.store.create_module(
        rule=command.rule_text,
        owner=None if command.anonymous else caller.key,
        token_hash=hash_token(token) if token else None,
        chat=caller.chat,
        place=caller.place,
        channel=caller.channel,
        now=ctx.clock(),
    )
    ctx.on_change()
    if token is None:
        return Reply(f"Created module #{module.id}.", code=module.rule)
    return Reply(
        f"Created anonymous module #{module.id}. Its claim token is shown only this once; "
        f"keep it to become its owner with: claim {module.id} {token}",
        code=module.rule,
        fields=(("claim token", token),),
        private=True,
    )


async def list_modules(ctx: Context, command: ast.ListModules, caller: Caller) -> Reply:
    if command.scope == "mine":
        modules = await ctx.store.list_modules(owner=caller.key)
        title = "Your modules"
    else:
        modules = await ctx.store.list_modules(place=None if caller.bot_admin else caller.place)
        title = "All modules" if caller.bot_admin else "Modules here"
    if not modules:
        empty = (
            "You have no modules yet." if command.scope == "mine" else "There are no modules here."
        )
        return Reply(empty + ' Create one: create on posts if title contains "cat" then log')
    return Reply("\n".join(module_line(m, caller) for m in modules), title=title)


async def show(ctx: Context, command: ast.Show, caller: Caller) -> Reply:
    module = await visible_module(ctx, command.module_id, caller)
    counts = await ctx.store.module_counts(module.id)
    history = await ctx.store.history(module.id, limit=5)
    fields = [
        ("status", module.status + (f" ({module.status_reason})" if module.status_reason else "")),
        ("owner", owner_label(module.owner, caller)),
        ("made in", _made_in(module)),
        ("created", _when(module.created_at)),
        ("matches", str(counts.get("matches", 0))),
        ("skipped by limits", str(counts.get("skipped", 0))),
        (
            "actions",
            ", ".join(
                f"{counts.get('actions_' + s, 0)} {s}"
                for s in ("done", "pending", "running", "failed", "dead")
            ),
        ),
    ]
    for row in history:
        acts = ", ".join(
            f"{kind} {status}" + (f" ({err})" if err and status in ("failed", "dead") else "")
            for kind, status, _attempts, err in row.actions
        )
        outcome = f"skipped: {row.skipped}" if row.skipped else (acts or "recorded")
        fields.append((f"{_when(row.matched_at)} {row.item}", outcome))
    return Reply(
        "", title=f"Module #{module.id}", code=rule_shown(module, caller), fields=tuple(fields)
    )


async def edit(ctx: Context, command: ast.Edit, caller: Caller) -> Reply:
    await managed_module(ctx, command.module_id, caller, "edit")
    await _check_new_rule(ctx, command.rule, caller)
    module = await ctx.store.update_module(
        command.module_id, rule=command.rule_text, now=ctx.clock()
    )
    assert module is not None
    ctx.on_change()
    return Reply(f"Module #{module.id} now reads:", code=module.rule)


async def _set_status(
    ctx: Context, module_id: int, caller: Caller, status: str, verb: str, done: str
) -> Reply:
    module = await managed_module(ctx, module_id, caller, verb)
    if module.status == status:
        return Reply(f"Module #{module_id} is already {status}.")
    reason = f"by {owner_label(caller.key)}" if status == "paused" else None
    await ctx.store.update_module(module_id, status=status, status_reason=reason, now=ctx.clock())
    ctx.on_change()
    return Reply(f"Module #{module_id} {done}.")


async def pause(ctx: Context, command: ast.Pause, caller: Caller) -> Reply:
    return await _set_status(ctx, command.module_id, caller, "paused", "pause", "is paused")


async def resume(ctx: Context, command: ast.Resume, caller: Caller) -> Reply:
    return await _set_status(ctx, command.module_id, caller, "active", "resume", "is running again")


async def delete(ctx: Context, command: ast.Delete, caller: Caller) -> Reply:
    return await _set_status(ctx, command.module_id, caller, "deleted", "delete", "is deleted")


async def claim(ctx: Context, command: ast.Claim, caller: Caller) -> Reply:
    module = await ctx.store.get_module(command.module_id)
    # An owned module elsewhere looks missing; an anonymous one is claimable from anywhere.
    if module is None or (module.owner is not None and not can_see(module, caller)):
        raise CommandError(f"There is no module #{command.module_id}.")
    if module.owner is not None:
        raise CommandError(
            f"Module #{module.id} already has an owner; only anonymous modules can be claimed."
        )
    if not token_matches(command.token, module.token_hash):
        raise CommandError(f"That is not the claim token of module #{module.id}.")
    if not await ctx.store.claim_module(module.id, owner=caller.key, now=ctx.clock()):
        raise CommandError(f"Module #{module.id} was claimed by someone else just now.")
    ctx.on_change()
    return Reply(f"You now own module #{module.id}.", private=True)

"""status, heartbeat and help."""

from __future__ import annotations

import difflib

from bot.commands.base import Caller, CommandError, Context, Reply
from bot.grammar import ast

DEFAULT_HEARTBEAT = 600
MIN_HEARTBEAT = 60
MAX_HEARTBEAT = 86_400

HELP: dict[str, str] = {
    "": (
        "roveit watches Reddit and acts when a rule matches. A rule reads:\n"
        "  on STREAMS [in SUBREDDITS] [if CONDITION] then ACTIONS [OPTIONS]\n"
        'e.g. on posts in r/buildapcsales if title contains "4090" then notify here\n'
        "Commands: create, create anonymous, list, show, edit, pause, resume, delete, claim, "
        "test, backtest, status, heartbeat, help.\n"
        "Topics: help rules | fields | tests | actions | options | templates | COMMAND"
    ),
    "rules": (
        "on posts | comments | posts and comments  [in r/a, r/b]  [if CONDITION]  then ACTION, "
        "ACTION  [limit N per minute|hour|day] [cooldown 10m per author]. Without 'in' (or with "
        "'in r/all') every subreddit is watched."
    ),
    "fields": (
        "Text: title, body, text (title + body), author, subreddit, flair, author_flair, domain, "
        "url. Numbers: score, comments. Flags: nsfw, spoiler, self. On comments, title is the "
        "post's title; flair, domain and url are empty."
    ),
    "tests": (
        'F contains "s" | contains ["a", "b"] | contains all [..] | contains word "w" | '
        'matches /re/i | is "s" | is [..] | = "s" | != "s" | is empty | startswith "s" | '
        'endswith "s"; score >= 10 (< <= > >= = !=); nsfw, spoiler, self; not, and, or, ( ). '
        "Text tests ignore case; regexes are RE2 (no back-references or look-around)."
    ),
    "actions": (
        'notify here | me | #channel ["template"]; reply "template"; message author "template"; '
        'message u/name "template"; crosspost r/name ["title"]; webhook "https://..."; log. '
        "Separate actions with commas; they run in order."
    ),
    "options": (
        "limit N per minute|hour|day caps how often the actions run; cooldown 30s|10m|2h|1d per "
        "author skips an author who triggered the module that recently. Skipped matches are "
        "still recorded, as skipped."
    ),
    "templates": (
        "{title} {body} {text} {author} {subreddit} {permalink} {url} {flair} {score} {id} "
        "{module} {match}; {body:200} keeps the first 200 characters and adds …; {{ and }} are "
        "literal braces."
    ),
    "create": "create RULE makes a module you own; create anonymous RULE makes one with no owner "
    "and shows a claim token once.",
    "list": "list [mine | all]: your modules, or every module here.",
    "show": "show ID: a module's rule, status, counts and recent matches.",
    "edit": "edit ID RULE: replace a module's rule (owner or admin).",
    "pause": "pause ID: stop a module without deleting it (owner or admin).",
    "resume": "resume ID: run a paused module again (owner or admin).",
    "delete": "delete ID: remove a module (owner or admin).",
    "claim": "claim ID TOKEN: become the owner of an anonymous module.",
    "test": "test RULE_OR_ID [on URL_OR_ID]: does it match that item, and why or why not.",
    "backtest": "backtest RULE_OR_ID [last N]: what it would have matched among recent items.",
    "status": "status: the engine's streams, lag, counts and errors.",
    "heartbeat": "heartbeat here [every 10m] keeps a status message here up to date; "
    "heartbeat off stops it.",
    "help": "help [TOPIC]: this help.",
}


async def status(ctx: Context, command: ast.Status, caller: Caller) -> Reply:
    modules = await ctx.store.list_modules(active_only=True)
    fields = [("active modules", str(len(modules)))]
    if ctx.status is None:
        fields.append(("engine", "not running in this process"))
    else:
        fields += ctx.status.status_fields()
    counts = await ctx.store.action_counts()
    fields.append(
        (
            "actions",
            ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "pending", "failed", "dead")),
        )
    )
    return Reply("", title="roveit status", fields=tuple(fields))


async def heartbeat(ctx: Context, command: ast.Heartbeat, caller: Caller) -> Reply:
    channel = caller.channel
    if channel is None:
        raise CommandError("A heartbeat needs a channel; run this command in one.")
    if caller.chat == "reddit":
        raise CommandError("Heartbeats live in a Discord channel or the terminal, not in PMs.")
    if not (caller.is_admin or caller.chat == "terminal" or caller.place.startswith("dm:")):
        verb = "set" if command.enable else "switch off"
        raise CommandError(f"Only an admin may {verb} a heartbeat in a shared channel.")
    if not command.enable:
        removed = await ctx.store.clear_heartbeat(chat=caller.chat, channel=channel)
        ctx.on_change()
        return Reply("Heartbeat off." if removed else "There was no heartbeat here.")
    every = command.every_seconds or DEFAULT_HEARTBEAT
    if not MIN_HEARTBEAT <= every <= MAX_HEARTBEAT:
        raise CommandError("A heartbeat runs every 1m to 1d.")
    await ctx.store.set_heartbeat(
        chat=caller.chat, place=caller.place, channel=channel, every_seconds=every, now=ctx.clock()
    )
    ctx.on_change()
    return Reply(f"Heartbeat here every {_duration(every)}: one status message, kept up to date.")


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def help_command(ctx: Context, command: ast.Help, caller: Caller) -> Reply:
    topic = (command.topic or "").strip().casefold()
    if topic in HELP:
        return Reply(HELP[topic], title="roveit help" + (f": {topic}" if topic else ""))
    close = difflib.get_close_matches(topic, [t for t in HELP if t], n=1)
    hint = f' Did you mean "help {close[0]}"?' if close else ""
    raise CommandError(f"No help on {topic!r}.{hint} Topics: " + ", ".join(t for t in HELP if t))

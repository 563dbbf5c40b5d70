"""The ``roveit`` command line (SPEC §3)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.data import ThingsFileError, iter_things, sample_path
from bot.engine.evaluate import compile_rule
from bot.engine.item import ItemError, item_from_thing
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_rule
from bot.grammar.printer import explain_rule, format_rule
from bot.store.db import Store, StoreError, sqlite_path


def _rule_text(words: Sequence[str]) -> str:
    return " ".join(words)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        rule = parse_rule(_rule_text(args.rule))
    except RuleSyntaxError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(format_rule(rule))
    print(explain_rule(rule))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    try:
        compiled = compile_rule(parse_rule(_rule_text(args.rule)))
    except RuleSyntaxError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    path = Path(args.items) if args.items else sample_path()
    scanned = 0
    matched: list[str] = []
    shown: list[str] = []
    try:
        for thing in iter_things(path):
            scanned += 1
            try:
                item = item_from_thing(thing)
            except ItemError:
                continue
            if compiled.matches(item):
                matched.append(item.fullname)
                if not args.json:
                    title = item.title if item.kind == "t3" else item.body
                    shown.append(
                        f"{item.fullname}  r/{item.subreddit}  {' '.join(title.split())[:100]}"
                    )
    except (OSError, ThingsFileError) as exc:
        print(f"roveit backtest: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"scanned": scanned, "matched": matched}))
    else:
        print("\n".join(shown + [f"matched {len(matched)} of {scanned} items"]))
    return 0


def _settings() -> Settings:
    return load_settings()


async def _db_upgrade(settings: Settings) -> list[str]:
    store = await Store.open(sqlite_path(settings.database_url), migrate=False)
    try:
        return await store.upgrade()
    finally:
        await store.close()


def cmd_db(args: argparse.Namespace) -> int:
    applied = asyncio.run(_db_upgrade(_settings()))
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.app import run_chat

    return asyncio.run(run_chat(_settings(), user=args.user, admin=args.admin))


def cmd_start(args: argparse.Namespace) -> int:
    from bot.app import run_start

    return asyncio.run(run_start(_settings()))


def cmd_engine(args: argparse.Namespace) -> int:
    from bot.app import run_engine

    return asyncio.run(run_engine(_settings(), standby=args.standby))


def cmd_sandbox(args: argparse.Namespace) -> int:
    try:
        if args.which == "reddit":
            from bot.sandbox import reddit

            items = args.items or str(sample_path())
            asyncio.run(
                reddit.serve(
                    host=args.host,
                    port=args.port,
                    items_path=items,
                    items_per_second=args.rate,
                    rate_limit=args.rate_limit,
                    on_ready=_announce_url,
                )
            )
        else:
            from bot.sandbox import discord

            asyncio.run(discord.serve(host=args.host, port=args.port))
    except KeyboardInterrupt:
        pass
    return 0


def _announce_url(url: str) -> None:
    """First line on stdout: with --port 0, how a test or script finds the sandbox."""
    print(f"Reddit sandbox at {url}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roveit", description="Chat-ops bot for Reddit communities."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("start", help="the bot: every configured chat, and the engine")
    p.set_defaults(func=cmd_start)
    p = sub.add_parser("engine", help="the engine alone")
    p.add_argument("--standby", action="store_true", help="wait as a standby until the leader dies")
    p.set_defaults(func=cmd_engine)
    p = sub.add_parser("chat", help="the terminal chat; reads stdin when it is not a terminal")
    p.add_argument("--user", default=None, help="chat as this user (not an admin unless --admin)")
    p.add_argument("--admin", action="store_true", help="with --user: as an admin")
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("check", help="parse and explain a rule")
    p.add_argument("rule", nargs="+", help="the rule (one argument, or words joined by spaces)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("backtest", help="evaluate a rule over items (JSON lines, optionally .gz)")
    p.add_argument("--items", help="items file; default: the bundled sample")
    p.add_argument("--json", action="store_true", help='print {"scanned": N, "matched": [...]}')
    p.add_argument("rule", nargs="+")
    p.set_defaults(func=cmd_backtest)
    p = sub.add_parser("db", help="database tasks")
    db = p.add_subparsers(dest="db_command", required=True, metavar="TASK")
    up = db.add_parser("upgrade", help="apply schema migrations")
    up.set_defaults(func=cmd_db)
    p = sub.add_parser("sandbox", help="run a local Reddit API or Discord for tests")
    p.add_argument("which", choices=["reddit", "discord"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--items", help="reddit: items to serve (JSON lines, optionally .gz)")
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="reddit: items released a second (0: only through POST /_sandbox/replay or release)",
    )
    p.add_argument(
        "--rate-limit",
        type=int,
        default=100,
        help="reddit: API requests a minute per OAuth client (Reddit allows about 100)",
    )
    p.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, StoreError) as exc:
        print(f"roveit: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

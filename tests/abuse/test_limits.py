"""The documented limits, as a user meets them: a clear message, and where the rule went past
the limit (line, column and a caret), or the cap and what to do about it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands.base import Caller, Context, Reply
from bot.commands.dispatch import CommandRateLimiter, handle_text
from bot.commands.testing import KeptItems
from bot.engine.regex import MAX_PATTERN_LENGTH
from bot.grammar.errors import position
from bot.grammar.parser import (
    MAX_ACTIONS,
    MAX_COMMAND_LENGTH,
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    MAX_SUBREDDITS,
    MAX_VALUES,
)
from bot.store.db import Store

ALICE = Caller(chat="discord", user_id="1", name="alice", place="g1", channel="c1")
BOB = Caller(chat="discord", user_id="2", name="bob", place="g1", channel="c1")
CAROL_ELSEWHERE = Caller(chat="discord", user_id="3", name="carol", place="g2", channel="c2")
RULE = 'on posts if title contains "cat" then log'


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = await Store.open(tmp_path / "limits.sqlite3")
    try:
        yield Context(store=store, items=KeptItems(store), clock=lambda: 1_700_000_000.0)
    finally:
        await store.close()


def _values(n: int) -> str:
    return "[" + ", ".join(f'"w{i}"' for i in range(n)) + "]"


# (what, the rule, the words of the message, the text (last of its kind) or the offset the
# caret points at)
OVER = [
    (
        "rule length",
        'on posts if title contains "' + "x" * MAX_RULE_LENGTH + '" then log',
        f"characters long; at most {MAX_RULE_LENGTH:,}",
        None,  # the caret sits at character MAX_RULE_LENGTH + 1
    ),
    (
        "nesting depth",
        "on posts if " + "(" * (MAX_DEPTH + 5) + "nsfw" + ")" * (MAX_DEPTH + 5) + " then log",
        f"nested too deeply: at most {MAX_DEPTH} levels",
        len("on posts if ") + MAX_DEPTH,  # the first parenthesis too many
    ),
    (
        "nesting depth with not",
        "on posts if " + "not " * (MAX_DEPTH + 1) + "nsfw then log",
        f"at most {MAX_DEPTH} levels of parentheses and not",
        "not nsfw",
    ),
    (
        "values in a list",
        f"on posts if title contains {_values(MAX_VALUES + 1)} then log",
        f"a list holds at most {MAX_VALUES} values",
        f'"w{MAX_VALUES}"]',
    ),
    (
        "subreddits",
        "on posts in " + ", ".join(f"r/sub{i}" for i in range(MAX_SUBREDDITS + 1)) + " then log",
        f"at most {MAX_SUBREDDITS} subreddits",
        f"r/sub{MAX_SUBREDDITS} then",
    ),
    (
        "regex length",
        "on posts if title matches /" + "a" * (MAX_PATTERN_LENGTH + 1) + "/ then log",
        f"the pattern is {MAX_PATTERN_LENGTH + 1} characters; at most {MAX_PATTERN_LENGTH}",
        "/aaaa",
    ),
    (
        "regex program size",
        r"on posts if title matches /\pL{1000}/ then log",
        "this regular expression cannot be used: pattern too large",
        r"/\pL",
    ),
    (
        "regex repetition",
        "on posts if title matches /((a{100}){100}){100}/ then log",
        "invalid repetition size",
        "/((a",
    ),
    (
        "actions",
        "on posts then " + ", ".join(["log"] * (MAX_ACTIONS + 1)),
        f"a rule has at most {MAX_ACTIONS} actions",
        "log",
    ),
    (
        "limit count",
        "on posts then log limit 100001 per hour",
        "the limit must be from 1 to 100,000",
        "100001",
    ),
    (
        "cooldown",
        "on posts then log cooldown 366d per author",
        "the duration must be from 1 second to 365 days",
        "366d",
    ),
    (
        "template truncation",
        'on posts then notify here "{body:10001}"',
        "the length must be 1 to 10000",
        "{body:10001}",
    ),
]


@pytest.mark.parametrize(("what", "rule", "words", "at"), OVER, ids=[o[0] for o in OVER])
async def test_rule_limits_say_which_and_where(
    ctx: Context, what: str, rule: str, words: str, at: str | int | None
) -> None:
    reply = await handle_text(f"create {rule}", ALICE, ctx)
    assert reply.error and words in reply.text, reply.text
    if at is None:
        offset = MAX_RULE_LENGTH
    elif isinstance(at, int):
        offset = at
    elif what == "actions":
        offset = rule.index("log, " * MAX_ACTIONS) + len("log, ") * MAX_ACTIONS
    else:
        offset = rule.rindex(at) if what != "values in a list" else rule.index(at)
    line, column = position(rule, offset)
    assert f"line {line}, column {column}:" in reply.text
    assert reply.code is not None and reply.code.rstrip().endswith("^")
    assert await ctx.store.list_modules() == []


async def test_a_rule_one_under_each_limit_is_fine(ctx: Context) -> None:
    at_limits = [
        "on posts if " + "(" * MAX_DEPTH + "nsfw" + ")" * MAX_DEPTH + " then log",
        f"on posts if title contains {_values(MAX_VALUES)} then log",
        "on posts then " + ", ".join(["log"] * MAX_ACTIONS),
        "on posts if title matches /" + "a" * MAX_PATTERN_LENGTH + "/ then log",
        'on posts if title contains "' + "x" * (MAX_RULE_LENGTH - 60) + '" then log',
    ]
    for rule in at_limits:
        reply = await handle_text(f"create {rule}", ALICE, ctx)
        assert not reply.error, reply.text


async def test_an_overlong_command_is_refused_with_its_length(ctx: Context) -> None:
    text = "help " + "x" * MAX_COMMAND_LENGTH
    reply = await handle_text(text, ALICE, ctx)
    assert reply.error and f"characters long; at most {MAX_COMMAND_LENGTH:,}" in reply.text
    one_mb = await handle_text("create " + "on posts " * 120_000, ALICE, ctx)
    assert one_mb.error and "characters long" in one_mb.text


async def test_modules_per_owner_cap_says_how_many_and_what_to_do(ctx: Context) -> None:
    ctx.max_per_owner = 3
    for _ in range(3):
        assert not (await handle_text(f"create {RULE}", ALICE, ctx)).error
    refused = await handle_text(f"create {RULE}", ALICE, ctx)
    assert refused.error and refused.private
    assert refused.text == (
        "You already have 3 modules, the most one person may have. "
        "Delete one first (list mine, then delete ID)."
    )
    assert not (await handle_text(f"create {RULE}", BOB, ctx)).error, "the cap is per person"
    anonymous = await handle_text(f"create anonymous {RULE}", ALICE, ctx)
    assert not anonymous.error, "anonymous modules count for the place, not the person"
    assert len(await ctx.store.list_modules()) == 5
    assert not (await handle_text("delete 1", ALICE, ctx)).error
    assert not (await handle_text(f"create {RULE}", ALICE, ctx)).error, "room again after a delete"


async def test_modules_per_place_cap_says_so_and_counts_anonymous_ones(ctx: Context) -> None:
    ctx.max_per_place = 3
    assert not (await handle_text(f"create {RULE}", ALICE, ctx)).error
    assert not (await handle_text(f"create anonymous {RULE}", ALICE, ctx)).error
    assert not (await handle_text(f"create {RULE}", BOB, ctx)).error
    for who, command in ((BOB, "create"), (ALICE, "create anonymous")):
        refused = await handle_text(f"{command} {RULE}", who, ctx)
        assert refused.error and refused.text == (
            "This place already has 3 modules, the most allowed. "
            "Ask an admin to delete unused ones."
        )
    assert len(await ctx.store.list_modules(place="g1")) == 3
    assert not (await handle_text(f"create {RULE}", CAROL_ELSEWHERE, ctx)).error


async def test_command_rate_limit_answers_with_the_wait(ctx: Context) -> None:
    now = [1000.0]
    limiter = CommandRateLimiter(count=5, window=60, clock=lambda: now[0])

    async def say(who: Caller, text: str) -> Reply:
        return await handle_text(text, who, ctx, limiter=limiter)

    for _ in range(5):
        assert not (await say(ALICE, "status")).error
    now[0] += 15
    refused = await say(ALICE, f"create {RULE}")
    assert refused.error and refused.private
    assert refused.text == (
        "You are sending commands faster than I can take them; try again in 45s."
    )
    assert await ctx.store.list_modules() == [], "a refused command does nothing"
    assert not (await say(BOB, "status")).error, "the limit is per user"
    now[0] += 45
    assert not (await say(ALICE, f"create {RULE}")).error

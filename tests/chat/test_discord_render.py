"""What the Discord chat sends, decided without a connection: limits, escaping, options."""

from __future__ import annotations

import dataclasses

import pytest

from bot.chat.discord_app import build_backtest, build_heartbeat, build_test, module_or_rule
from bot.chat.discord_render import (
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_FIELDS,
    NO_MENTIONS,
    PREVIEW_CHARS,
    card_embed,
    code_block,
    full_item,
    is_card,
    notification,
    render_reply,
)
from bot.commands.base import Reply
from bot.data import load_sample
from bot.engine.item import Item, item_from_thing
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError


@pytest.fixture(scope="module")
def post() -> Item:
    """A real post with a long self text from the bundled sample."""
    for thing in load_sample():
        if thing["data"].get("name") == "t3_7a4bjo":
            return item_from_thing(thing)
    raise AssertionError("t3_7a4bjo is missing from the bundled sample")


def card(item: Item, **changes: object) -> dict[str, object]:
    item = dataclasses.replace(item, **changes)  # type: ignore[arg-type]
    return {
        "module": 7,
        "kind": item.kind,
        "id": item.id,
        "title": item.title,
        "permalink": item.permalink,
        "subreddit": item.subreddit,
        "author": item.author,
        "flair": item.flair,
        "score": item.score,
        "body": item.body,
        "url": item.url,
    }


# ---- replies ------------------------------------------------------------------------


def test_short_bare_reply_is_plain_content() -> None:
    out = render_reply(Reply("Module #3 is paused."))
    assert out.content == "Module #3 is paused." and out.embed is None
    assert out.kwargs()["allowed_mentions"] is NO_MENTIONS


def test_reply_with_code_is_an_embed_with_a_fenced_block() -> None:
    reply = Reply(
        "That does not parse.", code="on posts if x ```y``` then log\n         ^", error=True
    )
    out = render_reply(reply)
    assert out.embed is not None and out.content is None
    description = out.embed.description or ""
    assert description.startswith("That does not parse.\n```\n")
    assert description.endswith("^\n```") and description.count("```") == 2, (
        "the code cannot close the fence"
    )
    assert out.embed.colour == render_reply(Reply("x", error=True, title="t")).embed.colour  # type: ignore[union-attr]


def test_huge_replies_fit_discords_limits() -> None:
    fields = tuple((f"field {n}", "v" * 900) for n in range(40))
    out = render_reply(Reply("t" * 10_000, title="T" * 300, code="c" * 5000, fields=fields))
    assert out.embed is not None
    data = out.embed.to_dict()
    assert len(data["title"]) == 256 and len(data["description"]) <= MAX_DESCRIPTION
    assert len(data["fields"]) <= MAX_FIELDS and data["fields"][-1]["name"] == "…"
    assert len(out.embed) <= MAX_EMBED_TOTAL, "discord.py counts as Discord does"
    assert "more not shown" in data["fields"][-1]["value"]


def test_reply_markdown_is_literal() -> None:
    out = render_reply(Reply("#1 on posts if title matches /a_b*c/ then log"))
    assert out.content == "\\#1 on posts if title matches /a\\_b\\*c/ then log"


def test_code_block_neutralises_fences() -> None:
    assert code_block("a```b") == "```\na`\u200b``b\n```"


# ---- notifications ----------------------------------------------------------------


def test_card_embed_facts_and_preview(post: Item) -> None:
    data = card_embed(card(post, flair="")).to_dict()
    assert data["title"] == post.title and data["url"] == post.permalink
    assert [(f["name"], f["value"]) for f in data["fields"]] == [
        ("subreddit", "r/announcements"),
        ("author", "u/spez"),
        ("flair", "—"),
        ("score", str(post.score)),
    ]
    assert (
        data["description"].replace("\\", "") == post.body[:PREVIEW_CHARS].replace("\\", "") + "…"
    )
    assert "t3_7a4bjo" in data["footer"]["text"] and "#7" in data["footer"]["text"]


def test_reddit_text_cannot_ping_or_format(post: Item) -> None:
    out = notification("@everyone <@12345678901234567> said **hi**", card(post, body="@here _x_"))
    assert out.content == "@\u200beveryone <@\u200b12345678901234567> said \\*\\*hi\\*\\*"
    assert out.embed is not None and out.embed.description == "@\u200bhere \\_x\\_"
    assert out.kwargs()["allowed_mentions"].to_dict()["parse"] == []


def test_alerts_without_a_card_are_plain(post: Item) -> None:
    assert not is_card({})
    out = notification("⚠️ stream posts stalled", {})
    assert out.embed is None and out.content == "⚠️ stream posts stalled"
    assert is_card(card(post))


def test_full_item_shows_everything_and_files_long_bodies(post: Item) -> None:
    short = full_item(post)
    assert short.file_text is None and short.embed is not None
    assert (short.embed.description or "").replace("\\", "") == post.body.replace("\\", "")
    long = full_item(dataclasses.replace(post, body=post.body * 3))
    assert long.file_text == post.body * 3 and long.file_name == "t3_7a4bjo.txt"
    assert "file" in long.kwargs()


# ---- options into commands ------------------------------------------------------------


@pytest.mark.parametrize("text", ["12", "#12", " 12 "])
def test_a_number_names_a_module(text: str) -> None:
    assert module_or_rule(text) == (12, None, None)


def test_anything_else_is_a_rule() -> None:
    module_id, text, rule = module_or_rule(' on posts if title contains "x" then log ')
    assert module_id is None and text == 'on posts if title contains "x" then log'
    assert isinstance(rule, ast.Rule)
    with pytest.raises(RuleSyntaxError):
        module_or_rule("on posts if title then log")


def test_test_and_backtest_options() -> None:
    assert build_test("3", " t3_abc ") == ast.Test(None, None, 3, "t3_abc")
    assert build_backtest("#4", 50) == ast.Backtest(None, None, 4, 50)


def test_heartbeat_options() -> None:
    assert build_heartbeat("off", "10m") == ast.Heartbeat(False)
    assert build_heartbeat("here", None) == ast.Heartbeat(True)
    assert build_heartbeat("here", " 2 h ") == ast.Heartbeat(True, 7200)
    with pytest.raises(RuleSyntaxError) as bad:
        build_heartbeat("here", "soon")
    assert "duration like 30m" in bad.value.message

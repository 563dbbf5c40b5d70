"""What leaves the bot: templates reach only the documented placeholders and never evaluate
anything; Reddit text bound for Discord pings no one and keeps its Markdown to itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.safe_text import URL, ZWSP, discord_safe, has_mention
from bot.commands.base import Caller, Context
from bot.commands.dispatch import handle_text
from bot.commands.testing import KeptItems
from bot.engine.item import item_from_thing
from bot.engine.runtime import LoadedModule, build_actions
from bot.engine.templates import TemplateError, parse_template, render
from bot.grammar.ast import PLACEHOLDERS
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_rule
from bot.store.db import ModuleRecord, Store

CALLER = Caller(chat="discord", user_id="1", name="u", place="g1", channel="c1")

# ---- templates -------------------------------------------------------------------

REFUSED = [
    "{title.__class__}",
    "{title.__class__.__mro__}",
    "{0}",
    "{}",
    "{ }",
    "{body!r}",
    "{body!s:10}",
    "{author:>10}",
    "{author:<10}",
    "{score:x}",
    "{score:,}",
    "{body:.5}",
    "{body:-1}",
    "{body:0}",
    "{body:99999999}",
    "{body:١٢}",  # Arabic-Indic digits: digits to isdigit(), not to us
    "{title[0]}",
    "{title:{body}}",
    "{ {title} }",
    "{__import__('os').system('id')}",
    "{self}",
    "{module.__init__.__globals__}",
    "%(title)s {title",
    "text }",
    "{title}}",
    "{{title}",
]
LITERAL = [
    ("{{title}}", "{title}"),
    ("{{{title}}}", "{T}"),
    ("{{0}} {{title.__class__}}", "{0} {title.__class__}"),
    ("%(title)s %s $title ${title} {{", "%(title)s %s $title $T {"),
    ("}}{{", "}{"),
    ("{title} {body:3}", "T BBB…"),
    ("{ title }", "T"),
    ("{{{title}", "{T"),
    ("{title}}}}}", "T}}"),
]


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = await Store.open(tmp_path / "out.sqlite3")
    try:
        yield Context(store=store, items=KeptItems(store), clock=lambda: 1_700_000_000.0)
    finally:
        await store.close()


def _quoted(template: str) -> str:
    return '"' + template.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("template", REFUSED)
async def test_templates_reaching_past_the_placeholders_are_refused_at_create(
    ctx: Context, template: str
) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)
    rule = f"on posts then notify here {_quoted(template)}"
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(rule)
    err = info.value
    assert "placeholder" in err.message or "brace" in err.message or "length" in err.message
    at = rule.index(_quoted(template)) + 1
    assert at <= err.offset < at + len(template), "the caret points into the template"
    reply = await handle_text(f"create {rule}", CALLER, ctx)
    assert reply.error and f"column {err.column}" in reply.text and "^" in (reply.code or "")
    assert await ctx.store.list_modules() == [], "nothing is created"


@pytest.mark.parametrize(("template", "expected"), LITERAL)
def test_braces_and_other_format_syntax_render_literally(template: str, expected: str) -> None:
    assert render(template, {"title": "T", "body": "BBBBB"}) == expected


class Recording(Mapping[str, str]):
    """Values that note every key asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.data = values
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.asked.append(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


HOSTILE_VALUES = {
    "title": "{body} {title.__class__} %s {0}",
    "body": "{{}} {author!r} ${HOME} `id` $(id)",
    "author": "{__import__('os')}",
}


def test_rendering_fills_values_in_as_text_and_asks_only_for_placeholders() -> None:
    values = Recording({name: HOSTILE_VALUES.get(name, name) for name in PLACEHOLDERS})
    template = " | ".join("{" + name + "}" for name in PLACEHOLDERS) + " {body:7}"
    out = render(template, values)
    expected = " | ".join(values.data[name] for name in PLACEHOLDERS)
    assert out == expected + " " + HOSTILE_VALUES["body"][:7] + "…"
    assert set(values.asked) <= set(PLACEHOLDERS)


def _thing(**data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "abc123",
        "name": "t3_abc123",
        "subreddit": "pics",
        "author": "someone",
        "title": "",
        "selftext": "",
        "permalink": "/r/pics/comments/abc123/x/",
        "url": "https://i.redd.it/x.png",
        "score": 1,
        "created_utc": 1_700_000_000,
    }
    return {"kind": "t3", "data": {**base, **data}}


def test_hostile_reddit_items_fill_templates_literally_in_the_engine() -> None:
    rule_text = (
        'on posts then notify here "{title} by {author}", reply "{body:20}", '
        'message author "{text}", crosspost r/mine "{title}"'
    )
    record = ModuleRecord(
        7, "discord:1", None, "discord", "g1", "c1", rule_text, "active", None, 0, 0
    )
    item = item_from_thing(_thing(**HOSTILE_VALUES, selftext=HOSTILE_VALUES["body"]))
    rows = build_actions(LoadedModule(record, parse_rule(rule_text)), item)
    texts = {kind: payload.get("text", payload.get("title")) for kind, payload in rows}
    assert texts["notify"] == f"{HOSTILE_VALUES['title']} by {HOSTILE_VALUES['author']}"
    assert texts["reply"] == HOSTILE_VALUES["body"][:20] + "…"
    assert texts["message"] == HOSTILE_VALUES["title"] + "\n" + HOSTILE_VALUES["body"]
    assert texts["crosspost"] == HOSTILE_VALUES["title"]


# ---- text bound for Discord ----------------------------------------------------------

_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_ESCAPED = re.compile(r"\\([^0-9A-Za-z\s])")
# Markdown that would still take effect: a special character after an even run of
# backslashes, or a line that starts a quote, heading, list or subtext.
_LIVE_CHAR = re.compile(r"(?<!\\)(?:\\\\)*[*_~|`\[\]]")
_LIVE_LINE = re.compile(r"^[ \t]*(?:>|#|-|\+|\d+\.\s)", re.MULTILINE)


def shown(safe: str) -> str:
    """What Discord displays: escapes undone outside links, inserted zero-width spaces gone."""
    parts, last = [], 0
    for link in re.finditer(URL, safe):
        parts += [_ESCAPED.sub(r"\1", safe[last : link.start()]), link.group(0)]
        last = link.end()
    parts.append(_ESCAPED.sub(r"\1", safe[last:]))
    return "".join(parts).replace(ZWSP, "")


def outside_links(text: str) -> str:
    return re.sub(URL, "L", text)


def check_safe(original: str) -> str:
    safe = discord_safe(original)
    assert not has_mention(safe), safe
    assert not _LIVE_CHAR.search(outside_links(safe)), safe
    assert not _LIVE_LINE.search(outside_links(safe)), safe
    assert not _INVISIBLE.search(safe)
    expected = _INVISIBLE.sub("", original.replace("\r\n", "\n").replace("\r", "\n"))
    assert shown(safe) == expected.replace(ZWSP, ""), "the words shown are the words sent"
    return safe


HOSTILE_REDDIT = [
    ("@everyone free nitro", "@\u200beveryone free nitro"),
    ("@here @HERE @Everyone", "@\u200bhere @\u200bHERE @\u200bEveryone"),
    ("hi <@123456789012345678>", "hi <@\u200b123456789012345678>"),
    ("<@!123456789012345678> <@&987654321098765432>", "<@!\u200b123456789012345678> <@&\u200b987654321098765432>"),
    ("see <#123456789012345678>", "see <#\u200b123456789012345678>"),
    ("run </roveit delete:123456789012345678>", "run </roveit delete:\u200b123456789012345678>"),
    ("**bold** __u__ ~~s~~ ||spoiler||", r"\*\*bold\*\* \_\_u\_\_ \~\~s\~\~ \|\|spoiler\|\|"),
    ("```\nbreak out", "\\`\\`\\`\nbreak out"),
    ("# Huge\n> quote\n>>> rest\n- list\n-# small\n1. one", "\\# Huge\n\\> quote\n\\>>> rest\n\\- list\n\\-# small\n1\\. one"),
    ("[free nitro](https://evil.example/login)", "\\[free nitro\\](https://evil.example/login)"),
    ("https://www.reddit.com/r/a_b/comments/x_y/", "https://www.reddit.com/r/a_b/comments/x_y/"),
    ("a \\*not bold\\*", "a \\\\\\*not bold\\\\\\*"),
    ("rtl \u202etxet\u202c and \x00nul", "rtl txet and nul"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), HOSTILE_REDDIT)
def test_discord_safe_on_hostile_reddit_text(text: str, expected: str) -> None:
    assert check_safe(text) == expected


hostile_text = st.lists(
    st.one_of(
        st.sampled_from(
            ["@everyone", "@here", "<@", "<@!", "<@&", "<#", "</x y:", "123456789012345678", ">"]
            + ["*", "_", "~", "|", "`", "[", "](", ")", "\\", "#", "-", "1.", "\n", " ", "\r"]
            + ["https://x.com/a_b*c", "<https://x.com>", "\u202e", "\x00", ZWSP, "é", "🚀"]
        ),
        st.text(max_size=5),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(hostile_text)
def test_discord_safe_never_leaves_a_mention_or_live_markdown(text: str) -> None:
    check_safe(text)


def test_discord_safe_on_every_real_reddit_text(corpus: list[dict[str, Any]]) -> None:
    checked = 0
    for thing in corpus:
        data = thing["data"]
        for key in ("title", "selftext", "body", "author_flair_text", "link_flair_text"):
            value = data.get(key)
            if isinstance(value, str) and value:
                check_safe(value)
                checked += 1
    assert checked > 5000

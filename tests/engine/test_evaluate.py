"""Every row of SPEC §1's test table, on real corpus items, against an independent oracle.

The oracle is written in plain Python (``re`` for words, direct comparisons), not with the
evaluator's helpers, so a bug in one does not hide in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.evaluate import compile_rule, explain, match_text
from bot.engine.item import Item, item_from_thing
from bot.engine.regex import compile_regex
from bot.grammar.parser import parse_rule

Oracle = Callable[[dict[str, Any], str], bool]


def _f(thing: dict[str, Any], name: str) -> str:
    """The SPEC field table, written out again independently."""
    d, post = thing["data"], thing["kind"] == "t3"

    def s(key: str) -> str:
        v = d.get(key)
        return "" if v is None else str(v)

    table = {
        "title": s("title") if post else s("link_title"),
        "body": s("selftext") if post else s("body"),
        "author": s("author"),
        "subreddit": s("subreddit"),
        "flair": s("link_flair_text") if post else "",
        "author_flair": s("author_flair_text"),
        "domain": s("domain") if post else "",
        "url": s("url") if post else "",
    }
    if name == "text":
        return table["title"] + "\n" + table["body"]
    return table[name]


def _n(thing: dict[str, Any], name: str) -> int:
    d = thing["data"]
    if name == "comments":
        return (d.get("num_comments") or 0) if thing["kind"] == "t3" else 0
    return d.get("score") or 0


def _flag(thing: dict[str, Any], name: str) -> bool:
    d, post = thing["data"], thing["kind"] == "t3"
    key = {"nsfw": "over_18", "spoiler": "spoiler", "self": "is_self"}[name]
    return bool(d.get(key)) if (post or name == "nsfw") else False


def cf(s: str) -> str:
    return s.casefold()


def word(text: str, w: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(cf(w)) + r"(?!\w)", cf(text)) is not None


ROWS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ('title contains "the"', lambda t: "the" in cf(_f(t, "title"))),
    (
        'body contains ["reddit", "python"]',
        lambda t: any(w in cf(_f(t, "body")) for w in ("reddit", "python")),
    ),
    (
        'text contains all ["the", "and"]',
        lambda t: all(w in cf(_f(t, "text")) for w in ("the", "and")),
    ),
    ('title contains word "reddit"', lambda t: word(_f(t, "title"), "reddit")),
    (
        'body contains word ["I", "you"]',
        lambda t: word(_f(t, "body"), "i") or word(_f(t, "body"), "you"),
    ),
    (
        "body matches /\\bcats?\\b/i",
        lambda t: re.search(r"\bcats?\b", _f(t, "body"), re.I) is not None,
    ),
    ("title matches /^[A-Z]/", lambda t: re.search(r"^[A-Z]", _f(t, "title")) is not None),
    (
        "body matches /^thanks/im",
        lambda t: re.search(r"^thanks", _f(t, "body"), re.I | re.M) is not None,
    ),
    (
        "text matches /reddit.the/s",
        lambda t: re.search(r"reddit.the", _f(t, "text"), re.S) is not None,
    ),
    ('author is "AutoModerator"', lambda t: cf(_f(t, "author")) == "automoderator"),
    ('author is ["spez", "kn0thing"]', lambda t: cf(_f(t, "author")) in ("spez", "kn0thing")),
    ("author = u/spez", lambda t: cf(_f(t, "author")) == "spez"),
    ('flair = "question"', lambda t: cf(_f(t, "flair")) == "question"),
    ('domain != "i.redd.it"', lambda t: cf(_f(t, "domain")) != "i.redd.it"),
    ("flair is empty", lambda t: _f(t, "flair") == ""),
    ("body is empty", lambda t: _f(t, "body") == ""),
    ("subreddit is r/AskReddit", lambda t: cf(_f(t, "subreddit")) == "askreddit"),
    ('title startswith "what"', lambda t: cf(_f(t, "title")).startswith("what")),
    ('url endswith ".jpg"', lambda t: cf(_f(t, "url")).endswith(".jpg")),
    ('author_flair contains "a"', lambda t: "a" in cf(_f(t, "author_flair"))),
    ("score >= 10", lambda t: _n(t, "score") >= 10),
    ("score < 2", lambda t: _n(t, "score") < 2),
    ("score <= 1", lambda t: _n(t, "score") <= 1),
    ("score > 1000", lambda t: _n(t, "score") > 1000),
    ("score = 1", lambda t: _n(t, "score") == 1),
    ("score != 1", lambda t: _n(t, "score") != 1),
    ("comments >= 100", lambda t: _n(t, "comments") >= 100),
    ("nsfw", lambda t: _flag(t, "nsfw")),
    ("spoiler", lambda t: _flag(t, "spoiler")),
    ("self", lambda t: _flag(t, "self")),
    ("not self", lambda t: not _flag(t, "self")),
    (
        'title contains "a" and score >= 10 or nsfw',
        lambda t: ("a" in cf(_f(t, "title")) and _n(t, "score") >= 10) or _flag(t, "nsfw"),
    ),
    (
        'title contains "a" and (score >= 10 or nsfw)',
        lambda t: "a" in cf(_f(t, "title")) and (_n(t, "score") >= 10 or _flag(t, "nsfw")),
    ),
    (
        'not title contains "a" and not nsfw',
        lambda t: "a" not in cf(_f(t, "title")) and not _flag(t, "nsfw"),
    ),
]


@pytest.mark.parametrize(("condition", "oracle"), ROWS, ids=[r[0] for r in ROWS])
def test_each_test_of_the_table_on_real_items(
    condition: str, oracle: Callable[[dict[str, Any]], bool], corpus: list[dict[str, Any]]
) -> None:
    compiled = compile_rule(parse_rule(f"on posts and comments if {condition} then log"))
    items = [t for t in corpus if t["kind"] in ("t1", "t3")]
    got = [t["data"]["id"] for t in items if compiled.matches(item_from_thing(t))]
    want = [t["data"]["id"] for t in items if oracle(t)]
    assert got == want
    assert 0 < len(want) < len(items), "the row must split the corpus to prove anything"


def test_streams_and_subreddits_scope_the_rule(corpus: list[dict[str, Any]]) -> None:
    rule = compile_rule(parse_rule("on comments in r/askreddit, r/PICS then log"))
    items = [item_from_thing(t) for t in corpus if t["kind"] in ("t1", "t3")]
    got = {i.fullname for i in items if rule.matches(i)}
    want = {
        i.fullname
        for i in items
        if i.kind == "t1" and i.subreddit.casefold() in ("askreddit", "pics")
    }
    assert got == want and want
    everywhere = compile_rule(parse_rule("on posts in r/all then log"))
    assert sum(everywhere.matches(i) for i in items) == sum(i.kind == "t3" for i in items)


def _item(**data: Any) -> Item:
    return item_from_thing({"kind": "t3", "data": {"id": "z9", **data}})


@pytest.mark.parametrize(
    ("condition", "title", "expected"),
    [
        ('title contains word "gme"', "Buy $GME now", True),
        ('title contains word "gme"', "GMEs rising", False),
        ('title contains word "gme"', "x_GME", False),
        ('title contains word "gme"', "(GME)", True),
        ('title contains word "gme"', "GME9", False),
        ('title contains "STRASSE"', "die Straße", True),
        ('title is "ǅ"', "ǆ", True),
        ("title matches /CAT/", "cat", False),
        ("title matches /CAT/i", "cat", True),
        ("title matches /^(?i)cat$/m", "dog\nCAT", True),  # m keeps inline flags usable
        ("title matches /^cat$/", "dog\ncat", False),
        ("title matches /^d.+?g$/m", "x\ndog", True),
        ("title matches /^d.+?g$/m", "dg", False),  # lazy, not POSIX's (.+)?
        ("title contains “curly”", "a curly quote", True),
        ("title is empty", "", True),
    ],
)
def test_edge_cases(condition: str, title: str, expected: bool) -> None:
    rule = compile_rule(parse_rule(f"on posts if {condition} then log"))
    assert rule.matches(_item(title=title)) is expected


def test_match_text_is_what_the_first_matching_text_test_matched() -> None:
    rule = parse_rule(
        'on posts if score > 0 and (title contains "nope" or body matches /gr[ae]y/i) then log'
    )
    item = _item(title="x", selftext="The GREY cat", score=3)
    assert match_text(rule, item) == "GREY"
    rule = parse_rule('on posts if title contains ["zz", "Cat"] then log')
    assert match_text(rule, _item(title="A cat and zz")) == "cat"
    rule = parse_rule('on posts if not title contains "x" then log')
    assert match_text(rule, _item(title="y")) == ""


def test_explain_says_why_and_why_not() -> None:
    rule = parse_rule('on posts in r/pics if title contains "cat" and score >= 10 then log')
    item = _item(title="A cat", score=3, subreddit="pics")
    lines = explain(rule, item)
    assert lines[0].startswith("✓ stream")
    assert any(line.startswith("✓ subreddit") for line in lines)
    assert any("✓" in line and "contains" in line for line in lines)
    assert any("✗" in line and "score" in line and "(score is 3)" in line for line in lines)


def test_notify_channel_outside_discord_is_labelled_and_sent_here() -> None:
    from bot.engine.runtime import LoadedModule, build_actions
    from bot.store.records import ModuleRecord

    rule = parse_rule('on posts then notify #alerts "{title}"')
    for chat, kind, text in (("terminal", "here", "[#alerts] Hi"), ("discord", "channel", "Hi")):
        record = ModuleRecord(1, f"{chat}:u", None, chat, "g1", "c1", "", "active", None, 0.0, 0.0)
        [(action, payload)] = build_actions(LoadedModule(record, rule), _item(title="Hi"))
        assert (action, payload["target"]["kind"], payload["text"]) == ("notify", kind, text)


REGEX_PIECES = ["cat", "Cat", "dog", "ß", "SS", "İ", "ǅ", "😀", " ", "-", "a.b", "x", "é"]
TEXT_PIECES = [*REGEX_PIECES, "CAT", "cAt", "DOG", "ss", "i̇", "ǆ", "Ǆ", "\n", "aXb", "ÉS", "s"]


@settings(max_examples=300)
@given(
    words=st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=3),
    shape=st.sampled_from(["{}", "{}|{}", r"\b{}\b", "{}s?", "^{}", "{}$", "(?i){}", "{}.{}"]),
    flags=st.sampled_from(["", "i", "m", "s"]),
    name=st.sampled_from(["title", "body", "text"]),
    title=st.lists(st.sampled_from(TEXT_PIECES), max_size=6).map("".join),
    body=st.lists(st.sampled_from(TEXT_PIECES), max_size=6).map("".join),
)
def test_regex_shortcuts_answer_as_re2_does(
    words: list[str], shape: str, flags: str, name: str, title: str, body: str
) -> None:
    """The literal pre-check and the substring search that stands in for ``/cat|dog/``
    must say what RE2's own search says, whatever the case, flags and field."""
    pattern = shape.format(*(words * 2)[: shape.count("{}")])
    rule = compile_rule(parse_rule(f"on posts if {name} matches /{pattern}/{flags} then log"))
    item = _item(title=title, selftext=body)
    expected = compile_regex(pattern, flags).search(item.field_text(name)) is not None
    assert rule.matches(item) is expected

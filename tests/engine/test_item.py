"""The Item is built exactly per SPEC §1's field table, on real corpus items."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.item import REDDIT, ItemError, item_from_thing


def _s(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def test_posts_follow_the_field_table(corpus: list[dict[str, Any]]) -> None:
    posts = [t for t in corpus if t["kind"] == "t3"]
    assert len(posts) > 3000
    for thing in posts:
        d = thing["data"]
        item = item_from_thing(thing)
        assert item.title == _s(d, "title")
        assert item.body == _s(d, "selftext")
        assert item.text == _s(d, "title") + "\n" + _s(d, "selftext")
        assert item.author == _s(d, "author")
        assert item.subreddit == _s(d, "subreddit")
        assert item.flair == _s(d, "link_flair_text")
        assert item.author_flair == _s(d, "author_flair_text")
        assert item.domain == _s(d, "domain")
        assert item.url == _s(d, "url")
        assert item.score == (d.get("score") or 0)
        assert item.comments == (d.get("num_comments") or 0)
        assert item.nsfw is bool(d.get("over_18"))
        assert item.spoiler is bool(d.get("spoiler"))
        assert item.self is bool(d.get("is_self"))
        assert item.fullname == "t3_" + d["id"]
        assert item.permalink == REDDIT + d["permalink"]


def test_comments_follow_the_field_table(corpus: list[dict[str, Any]]) -> None:
    comments = [t for t in corpus if t["kind"] == "t1"]
    assert len(comments) > 5000
    for thing in comments:
        d = thing["data"]
        item = item_from_thing(thing)
        assert item.title == _s(d, "link_title")
        assert item.body == _s(d, "body")
        assert item.author_flair == _s(d, "author_flair_text")
        assert (item.flair, item.domain, item.url) == ("", "", "")
        assert item.comments == 0
        assert item.spoiler is False and item.self is False
        assert item.nsfw is bool(d.get("over_18"))
        assert item.score == (d.get("score") or 0)
        assert item.stream == "comments"


def test_missing_and_null_values_are_empty_zero_false() -> None:
    item = item_from_thing(
        {"kind": "t3", "data": {"id": "x1", "title": None, "score": None, "over_18": None}}
    )
    assert (item.title, item.body, item.flair, item.url) == ("", "", "", "")
    assert (item.score, item.comments) == (0, 0)
    assert (item.nsfw, item.spoiler, item.self) == (False, False, False)
    assert item.text == "\n"


@pytest.mark.parametrize(
    "thing",
    [
        {"kind": "t4", "data": {"id": "m1"}},
        {"kind": "t3", "data": {}},
        {"kind": "t3"},
        {"data": {"id": "x"}},
    ],
)
def test_things_that_are_not_items_are_refused(thing: dict[str, Any]) -> None:
    with pytest.raises(ItemError):
        item_from_thing(thing)


def test_casefold_is_cached_per_field() -> None:
    item = item_from_thing({"kind": "t3", "data": {"id": "a", "title": "STRASSE Straße"}})
    assert item.folded("title") == "strasse strasse"
    assert item.folded("title") is item.folded("title")


def test_lone_surrogates_become_replacement_characters() -> None:
    import json

    from bot.engine.evaluate import compile_rule
    from bot.grammar.parser import parse_rule

    thing = json.loads('{"kind": "t3", "data": {"id": "s", "title": "x\\ud800y \\ud83d\\ude00"}}')
    item = item_from_thing(thing)
    assert item.title == "x\ufffdy \U0001f600"
    item.title.encode("utf-8")
    assert compile_rule(parse_rule("on posts if title matches /x.y/ then log")).matches(item)

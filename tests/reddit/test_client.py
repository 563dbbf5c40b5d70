"""AsyncprawReddit: the real asyncpraw against the sandbox, request by request."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bot.engine.ports import ActionError
from bot.reddit.client import RedditError, open_reddit, ratelimit_wait
from tests.reddit.harness import ASYNCPRAW_WARNINGS, BOT, World, reddit_world

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]


async def _warm(world: World) -> int:
    """Log in first, so later counts hold only the call under test."""
    await world.reddit.listing("posts", ["warmup"], limit=1)
    return len(world.sandbox.requests)


async def test_listings_give_back_what_reddit_sent(
    tmp_path: Path, corpus: list[dict[str, Any]]
) -> None:
    items = [t for t in corpus if t["kind"] in ("t1", "t3")][:600]
    async with reddit_world(tmp_path, items) as world:
        world.sandbox.release_all()
        start = len(world.sandbox.requests)
        posts = await world.reddit.listing("posts", [], limit=100)
        comments = await world.reddit.listing("comments", [], limit=100)
        assert world.requests_since(start) == [
            ("GET", "/r/all/new", 200),
            ("GET", "/r/all/comments", 200),
        ]
        original = {t["data"]["name"]: t for t in items}
        for thing in posts + comments:
            assert _without_replies(thing) == _without_replies(original[thing["data"]["name"]])
            assert _reply_names(thing) == _reply_names(original[thing["data"]["name"]])
        newest_posts = [t["data"]["name"] for t in reversed(items) if t["kind"] == "t3"]
        assert [t["data"]["name"] for t in posts] == newest_posts[:100]
        older = await world.reddit.listing("posts", [], limit=100, after=posts[-1]["data"]["name"])
        assert [t["data"]["name"] for t in older] == newest_posts[100:200]


def _without_replies(thing: dict[str, Any]) -> dict[str, Any]:
    return {**thing, "data": {k: v for k, v in thing["data"].items() if k != "replies"}}


def _reply_names(thing: dict[str, Any]) -> list[str]:
    """Nested replies come back as a Listing of the same children (its keys vary on Reddit)."""
    replies = thing["data"].get("replies")
    if not replies:
        return []
    return [child["data"].get("name", "") for child in replies["data"]["children"]]


async def test_multireddit_listing_and_plain_fields(world: World) -> None:
    a = world.post("Python", "one", author="someone")
    world.post("rust", "two")
    c = world.comment("learnpython", "hello there", author="other_one")
    start = await _warm(world)
    posts = await world.reddit.listing("posts", ["python", "learnpython"])
    comments = await world.reddit.listing("comments", ["python", "learnpython"])
    assert [p["data"]["name"] for p in posts] == [a]
    assert [x["data"]["name"] for x in comments] == [c]
    data = comments[0]["data"]
    assert (data["author"], data["subreddit"], data["link_title"]) == (
        "other_one",
        "learnpython",
        "a post",
    )
    assert isinstance(data["created_utc"], float) and data["permalink"].startswith("/r/")
    paths = [path for _m, path, _s in world.requests_since(start)]
    assert paths == ["/r/python+learnpython/new", "/r/python+learnpython/comments"]


async def test_each_action_is_one_request(world: World) -> None:
    post = world.post("python", "a post")
    comment = world.comment("python", "a comment")
    pm = world.pm_to_bot("alice_test", "hi", "hello")
    start = await _warm(world)
    results = []
    for call in (
        world.reddit.reply(post, "on the post"),
        world.reddit.reply(comment, "on the comment"),
        world.reddit.reply(pm, "on the pm"),
        world.reddit.message("u/bob_test", "roveit: module #1", "hello bob"),
        world.reddit.crosspost(post, "r/mycollection", "shared"),
    ):
        before = len(world.sandbox.requests)
        results.append(await call)
        assert len(world.sandbox.requests) - before == 1
    reqs = world.requests_since(start)
    assert [(m, p) for m, p, _s in reqs] == [("POST", "/api/comment")] * 3 + [
        ("POST", "/api/compose"),
        ("POST", "/api/submit"),
    ]
    names = [w["name"] for w in world.sandbox.writes]
    assert results == [names[0], names[1], names[2], None, names[4]]
    assert world.writes("compose")[0]["to"] == "bob_test"
    assert world.writes("crosspost")[0]["sr"] == "mycollection"


async def test_crosspost_without_title_loads_the_post_first(world: World) -> None:
    post = world.post("python", "Its own title")
    start = await _warm(world)
    await world.reddit.crosspost(post, "elsewhere", None)
    assert [p for _m, p, _s in world.requests_since(start)][-1] == "/api/submit"
    assert world.writes("crosspost")[0]["title"] == "Its own title"
    assert len(world.requests_since(start)) == 2


@pytest.mark.parametrize(
    ("minutes", "seconds", "wait"), [(9, None, 540.0), (1, None, 60.0), (0, 30, 30.0)]
)
async def test_ratelimit_names_the_wait(
    world: World, minutes: int, seconds: int | None, wait: float
) -> None:
    post = world.post("python", "p")
    await _warm(world)
    world.sandbox.ratelimit_next("comment", minutes=minutes, seconds=seconds)
    before = len(world.sandbox.requests)
    with pytest.raises(ActionError) as caught:
        await world.reddit.reply(post, "too soon")
    assert caught.value.retry_after == wait and not caught.value.permanent
    assert len(world.sandbox.requests) - before == 1, "asyncpraw must not sleep and retry"
    assert await world.reddit.reply(post, "now") != ""


def test_ratelimit_wait_reads_reddit_wording() -> None:
    assert ratelimit_wait("Take a break for 9 minutes before trying again.") == 540
    assert ratelimit_wait("take a break for 1 minute and 30 seconds") == 90
    assert ratelimit_wait("Take a break for 500 milliseconds") == 0.5
    assert ratelimit_wait("you are doing that too much") == 60


async def test_refused_targets_are_permanent(world: World) -> None:
    await _warm(world)
    before = len(world.sandbox.requests)
    with pytest.raises(ActionError) as gone:
        await world.reddit.reply("t3_doesnotexist", "hello")
    assert gone.value.permanent and "INVALID_ID" in str(gone.value)
    with pytest.raises(ActionError) as no_post:
        await world.reddit.crosspost("t3_nothere", "elsewhere", "title")
    assert no_post.value.permanent
    assert len(world.sandbox.requests) - before == 2
    with pytest.raises(ActionError) as bad_name:
        await world.reddit.message("not a name!", "s", "t")
    assert bad_name.value.permanent
    assert len(world.sandbox.requests) - before == 2, "a bad username costs no request"


@pytest.mark.parametrize("fault", ["429", "503", "drop"])
async def test_transient_failures_are_retryable_and_not_repeated(world: World, fault: str) -> None:
    post = world.post("python", "p")
    await _warm(world)
    faults = world.sandbox.faults
    if fault == "429":
        faults.burst_429(1)
    elif fault == "503":
        faults.burst_errors(1, status=503)
    else:
        faults.drop_rate = 1.0
    before = len(world.sandbox.requests)
    with pytest.raises(ActionError) as caught:
        await world.reddit.reply(post, "hello")
    assert not caught.value.permanent
    assert len(world.sandbox.requests) - before == 1, "asyncprawcore's own retries are off"
    faults.clear()
    assert world.writes("comment") == []
    await world.reddit.reply(post, "hello")
    assert len(world.writes("comment")) == 1


async def test_already_replied_is_one_request(world: World) -> None:
    post = world.post("python", "p")
    other = world.post("python", "q")
    await world.reddit.reply(post, "answered")
    before = len(world.sandbox.requests)
    assert await world.reddit.already_replied(post) is True
    assert await world.reddit.already_replied(other) is False
    assert world.requests_since(before) == [
        ("GET", f"/user/{BOT}/comments", 200),
        ("GET", f"/user/{BOT}/comments", 200),
    ]


async def test_budget_follows_the_rate_headers(tmp_path: Path) -> None:
    async with reddit_world(tmp_path, rate_limit=100) as world:
        assert world.reddit.budget().remaining is None
        for _ in range(3):
            await world.reddit.listing("posts", ["python"], limit=1)
        budget = world.reddit.budget()
        assert budget.used == 3 and budget.remaining == 97
        assert budget.reset_in is not None and 0 < budget.reset_in <= 60
        assert world.engine.poll_interval() >= world.engine.config.poll_min_interval


async def test_refresh_token_login_finds_the_username(world: World) -> None:
    settings = dataclasses.replace(
        world.settings, reddit_username="", reddit_password="", reddit_refresh_token="tok"
    )
    reddit = await open_reddit(settings)
    try:
        assert reddit.username == BOT
    finally:
        await reddit.close()
    with pytest.raises(RedditError):
        await open_reddit(dataclasses.replace(settings, reddit_refresh_token=""))

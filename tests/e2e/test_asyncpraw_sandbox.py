"""The real asyncpraw client against the Reddit sandbox, over real HTTP on loopback.

Items are real Reddit things from ../shared/reddit/corpus.jsonl.gz; the tests skip with
a clear message when that folder is absent.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpraw
import asyncprawcore
import pytest
from asyncpraw.exceptions import RedditAPIException
from asyncpraw.models import Comment, Message, Submission

from bot.sandbox.reddit import RedditSandbox, load_items

# asyncprawcore 4 authenticates its token request with aiohttp.BasicAuth / auth=, which
# aiohttp 3.14 deprecates; under filterwarnings=error that would fail every token request.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "reddit" / "corpus.jsonl.gz"
BOT = "roveit_bot"


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        pytest.skip(f"real Reddit corpus not found at {CORPUS} (expected ../shared/reddit)")
    return load_items(CORPUS)


@pytest.fixture(scope="module")
def two_subreddits(corpus: list[dict[str, Any]]) -> tuple[str, str]:
    """The two subreddits with the most posts, so listings have something to show."""
    counts = collections.Counter(
        t["data"]["subreddit"]
        for t in corpus
        if t["kind"] == "t3" and not t["data"]["subreddit"].startswith("<")
    )
    (first, _), (second, _) = counts.most_common(2)
    return first, second


@pytest.fixture
async def sandbox(corpus: list[dict[str, Any]]) -> AsyncIterator[RedditSandbox]:
    items = [thing for thing in corpus if thing["kind"] in {"t1", "t3"}]
    async with RedditSandbox(items, username=BOT) as sb:
        yield sb


@pytest.fixture
async def reddit(sandbox: RedditSandbox) -> AsyncIterator[asyncpraw.Reddit]:
    client = asyncpraw.Reddit(
        client_id="roveit-test",
        client_secret="secret",
        username=BOT,
        password="hunter2",
        user_agent="roveit e2e tests",
        oauth_url=sandbox.base_url,
        reddit_url=sandbox.base_url,
        check_for_updates=False,
    )
    async with client:
        yield client


def released_posts(sandbox: RedditSandbox, subreddits: tuple[str, ...]) -> list[str]:
    wanted = {name.casefold() for name in subreddits}
    return [
        thing["data"]["name"]
        for thing in sandbox.store.newest("t3")
        if thing["data"]["subreddit"].casefold() in wanted
    ]


async def test_me_logs_in_with_the_password_grant(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    me = await reddit.user.me()
    assert me is not None and me.name == BOT
    token_request = sandbox.requests[0]
    assert token_request.path == "/api/v1/access_token"
    assert token_request.form == {"grant_type": "password", "password": "hunter2", "username": BOT}
    assert sandbox.requests[1].path == "/api/v1/me"


async def test_multireddit_new_is_newest_first_and_before_sees_only_newer(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit, two_subreddits: tuple[str, str]
) -> None:
    sandbox.release(3000)
    subreddit = await reddit.subreddit("+".join(name.upper() for name in two_subreddits))
    first = [post async for post in subreddit.new(limit=100)]
    expected = released_posts(sandbox, two_subreddits)[:100]
    assert [post.fullname for post in first] == expected
    assert all(isinstance(post, Submission) for post in first)

    sandbox.release(3000)
    newer = [post async for post in subreddit.new(limit=100, params={"before": first[0].fullname})]
    everything = released_posts(sandbox, two_subreddits)
    seen_newest = everything.index(first[0].fullname)
    assert seen_newest > 100, "the second release should add over a page of posts here"
    # As on Reddit, `before` gives the page just newer than the cursor, not the newest page.
    assert [post.fullname for post in newer] == everything[seen_newest - 100 : seen_newest]


async def test_unreleased_items_are_invisible(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    subreddit = await reddit.subreddit("all")
    assert [post async for post in subreddit.new(limit=100)] == []
    names = sandbox.release(5)
    seen = [thing.fullname async for thing in subreddit.new(limit=100)]
    seen += [thing.fullname async for thing in subreddit.comments(limit=100)]
    assert sorted(seen) == sorted(names)


async def test_comments_listing_returns_comment_objects(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(500)
    comments = [comment async for comment in (await reddit.subreddit("all")).comments(limit=10)]
    assert [c.fullname for c in comments] == [
        t["data"]["name"] for t in sandbox.store.newest("t1")[:10]
    ]
    assert all(isinstance(c, Comment) and c.body is not None for c in comments)
    assert sandbox.listing_requests() == 1


async def test_submission_stream_yields_each_released_post_once(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(200)
    stream = (await reddit.subreddit("all")).stream.submissions(pause_after=0, skip_existing=True)
    assert await anext(stream) is None  # existing items skipped
    posts_before = len(sandbox.store.newest("t3"))
    sandbox.release(300)
    fresh = sandbox.store.newest("t3")[: len(sandbox.store.newest("t3")) - posts_before]
    got = []
    while (post := await anext(stream)) is not None:
        got.append(post.fullname)
    assert got == [thing["data"]["name"] for thing in reversed(fresh)]
    assert any("before" in request.query for request in sandbox.requests)


async def test_reply_to_a_post_and_to_a_comment_is_recorded(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(300)
    post_name = sandbox.store.newest("t3")[0]["data"]["name"]
    comment_name = sandbox.store.newest("t1")[0]["data"]["name"]
    post = await reddit.submission(post_name.removeprefix("t3_"), fetch=False)
    comment = await reddit.comment(comment_name.removeprefix("t1_"), fetch=False)

    on_post = await post.reply("Thanks for posting!")
    on_comment = await comment.reply("Seen it.")

    writes = await sandbox.wait_for_writes(2, timeout=5)
    assert [(w["type"], w["thing_id"], w["text"]) for w in writes] == [
        ("comment", post_name, "Thanks for posting!"),
        ("comment", comment_name, "Seen it."),
    ]
    assert isinstance(on_post, Comment) and on_post.parent_id == post_name
    assert isinstance(on_comment, Comment) and on_comment.parent_id == comment_name
    assert on_comment.author.name == BOT
    assert sandbox.store.newest("t1")[0]["data"]["name"] == on_comment.fullname


async def test_lazy_submission_load_includes_the_bots_reply(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(300)
    post_id = sandbox.store.newest("t3")[0]["data"]["id"]
    post = await reddit.submission(post_id, fetch=False)
    reply = await post.reply("first!")
    assert isinstance(reply, Comment)
    loaded = await reddit.submission(post_id)
    assert loaded.title == sandbox.store.newest("t3")[0]["data"]["title"]
    await loaded.comments.replace_more(limit=0)
    assert reply.id in [c.id for c in loaded.comments.list() if isinstance(c, Comment)]


async def test_private_message_is_recorded(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    redditor = await reddit.redditor("some_user")
    await redditor.message(subject="roveit", message="Your question was received")
    (write,) = await sandbox.wait_for_writes(1, timeout=5)
    assert (write["type"], write["to"], write["subject"], write["text"]) == (
        "compose",
        "some_user",
        "roveit",
        "Your question was received",
    )


async def test_inbox_unread_mark_read_and_reply(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    pm = {
        "kind": "t4",
        "data": {
            "author": "alice",
            "dest": BOT,
            "subject": "roveit",
            "body": "list mine",
            "new": True,
            "was_comment": False,
        },
    }
    other = {
        "kind": "t4",
        "data": {
            "author": "alice",
            "dest": "someone_else",
            "subject": "x",
            "body": "not for the bot",
            "new": True,
        },
    }
    name = sandbox.add_item(pm)
    sandbox.add_item(other)

    unread = [message async for message in reddit.inbox.unread(limit=None)]
    assert [m.fullname for m in unread] == [name]
    assert isinstance(unread[0], Message) and unread[0].body == "list mine"

    await reddit.inbox.mark_read(unread)
    answer = await unread[0].reply("You own no modules yet.")
    assert [m async for m in reddit.inbox.unread(limit=None)] == []
    assert [m.fullname async for m in reddit.inbox.all(limit=None)] == [name]

    writes = await sandbox.wait_for_writes(2, timeout=5)
    assert writes[0]["type"] == "read_message" and writes[0]["ids"] == [name]
    assert writes[1]["type"] == "comment" and writes[1]["thing_id"] == name
    assert isinstance(answer, Message) and answer.dest == "alice"


async def test_crosspost_creates_a_post_in_the_target_subreddit(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(300)
    source = sandbox.store.newest("t3")[0]["data"]
    post = await reddit.submission(source["id"], fetch=False)
    target = await reddit.subreddit("mycollection")
    crossposted = await post.crosspost(target, title="Shared")
    assert isinstance(crossposted, Submission)
    (write,) = await sandbox.wait_for_writes(1, timeout=5)
    assert (write["type"], write["crosspost_fullname"], write["sr"], write["title"]) == (
        "crosspost",
        source["name"],
        "mycollection",
        "Shared",
    )
    in_target = [p async for p in (await reddit.subreddit("MyCollection")).new(limit=10)]
    assert [p.id for p in in_target] == [crossposted.id]
    assert in_target[0].crosspost_parent == source["name"]


async def test_info_returns_released_items_in_the_order_asked(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    names = sandbox.release(50)
    wanted = [names[10], names[3], names[40]]
    unreleased = sandbox.store._pending[0]["data"]["name"]
    got = [thing.fullname async for thing in reddit.info(fullnames=[*wanted, unreleased])]
    assert got == wanted


async def test_ratelimit_raises_reddit_api_exception_with_the_wait(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.release(50)
    post = await reddit.submission(sandbox.store.newest("t3")[0]["data"]["id"], fetch=False)
    sandbox.ratelimit_next(kind="comment", minutes=9)
    with pytest.raises(RedditAPIException) as caught:
        await post.reply("too soon")
    (item,) = caught.value.items
    assert item.error_type == "RATELIMIT" and "9 minutes" in str(item.message)
    assert sandbox.writes == []
    await post.reply("later")  # the RATELIMIT was for one write only
    assert [w["text"] for w in sandbox.writes] == ["later"]


async def test_ratelimit_for_compose_leaves_comments_alone(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    sandbox.ratelimit_next(kind="compose", minutes=2)
    with pytest.raises(RedditAPIException, match="2 minutes"):
        await (await reddit.redditor("bob")).message(subject="s", message="m")


async def test_429_is_surfaced_as_too_many_requests(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    await reddit.user.me()
    sandbox.faults.burst_429(1)
    with pytest.raises(asyncprawcore.exceptions.TooManyRequests):
        await reddit.user.me(use_cache=False)
    me = await reddit.user.me(use_cache=False)
    assert me is not None and me.name == BOT


async def test_5xx_is_retried_by_asyncprawcore(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    await reddit.user.me()
    sandbox.faults.burst_errors(1, status=503)
    sandbox.release(20)
    posts = [post async for post in (await reddit.subreddit("all")).new(limit=5)]
    assert len(posts) == len(sandbox.store.newest("t3")[:5])
    statuses = [request.status for request in sandbox.requests if request.path == "/r/all/new"]
    assert statuses == [503, 200]


async def test_dropped_connection_is_a_request_exception(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    await reddit.user.me()
    sandbox.faults.drop_rate = 1.0
    with pytest.raises(asyncprawcore.exceptions.RequestException):
        await reddit.user.me(use_cache=False)
    assert sandbox.requests[-1].status == 0


async def test_malformed_body_is_bad_json(sandbox: RedditSandbox, reddit: asyncpraw.Reddit) -> None:
    await reddit.user.me()
    sandbox.faults.malformed_rate = 1.0
    with pytest.raises(asyncprawcore.exceptions.BadJSON):
        await reddit.user.me(use_cache=False)


async def test_multireddit_past_2000_characters_is_uri_too_long(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    names = [f"subreddit_{index:04d}" for index in range(200)]
    subreddit = await reddit.subreddit("+".join(names))
    with pytest.raises(asyncprawcore.exceptions.URITooLong):
        _ = [post async for post in subreddit.new(limit=10)]
    fits = await reddit.subreddit("+".join(names[:100]))
    assert [post async for post in fits.new(limit=10)] == []


async def test_expired_token_is_renewed_after_a_401(
    sandbox: RedditSandbox, reddit: asyncpraw.Reddit
) -> None:
    await reddit.user.me()
    sandbox.expire_tokens()
    me = await reddit.user.me(use_cache=False)
    assert me is not None and me.name == BOT
    paths_statuses = [(r.path, r.status) for r in sandbox.requests]
    assert paths_statuses[-3:] == [
        ("/api/v1/me", 401),
        ("/api/v1/access_token", 200),
        ("/api/v1/me", 200),
    ]

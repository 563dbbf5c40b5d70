"""Polling edge cases: bursts larger than a page after an empty first poll are not lost."""

from __future__ import annotations

import pytest

from tests.reddit.harness import ASYNCPRAW_WARNINGS, World

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]


async def test_a_burst_after_an_empty_first_poll_is_paged_back(world: World) -> None:
    await world.create("on posts in r/burst then log")
    assert await world.engine.poll_once() == 0  # nothing yet: no stored position
    names = [world.post("burst", f"post {i}") for i in range(250)]
    assert await world.engine.poll_once() == 250
    recorded = await world.store.history(1, limit=1000)
    assert sorted(row.item for row in recorded) == sorted(names)


async def test_the_very_first_poll_takes_one_page_only(world: World) -> None:
    for i in range(150):
        world.post("burst", f"old {i}")
    await world.create("on posts in r/burst then log")
    assert await world.engine.poll_once() == 100  # history before the bot started is not replayed
    fresh = world.post("burst", "new")
    assert await world.engine.poll_once() == 1
    assert (await world.store.history(1, limit=1))[0].item == fresh


async def test_items_kept_before_a_crash_in_the_first_batch_are_matched_on_recovery(
    world: World,
) -> None:
    await world.create("on posts in r/burst then log")
    things = [
        {"kind": "t3", "data": {"id": f"k{i}", "name": f"t3_k{i}", "subreddit": "burst"}}
        for i in range(3)
    ]
    await world.store.keep_items(things, keep=100)  # kept, then the engine died: no position
    assert await world.store.get_position("posts") is None
    assert await world.engine.recover() == 3
    assert sorted(r.item for r in await world.store.history(1)) == ["t3_k0", "t3_k1", "t3_k2"]
    assert await world.store.get_position("posts") == ("t3_k2", 0.0)
    assert await world.engine.recover() == 0  # the position moved: nothing is matched twice


async def test_test_on_a_url_the_engine_has_not_seen_asks_reddit(world: World) -> None:
    from bot.commands.dispatch import handle_text
    from bot.commands.testing import KeptItems
    from tests.reddit.harness import reddit_caller

    name = world.post("python", "asyncio tips", author="poster_9")
    post_id = name.partition("_")[2]
    world.ctx.items = KeptItems(world.store, fetch=world.reddit.fetch)
    url = f"https://www.reddit.com/r/python/comments/{post_id}/asyncio_tips/"
    reply = await handle_text(
        f'test on posts if title contains "asyncio" then log on {url}',
        reddit_caller("alice_test"),
        world.ctx,
    )
    assert reply.text.startswith("✅") and name in reply.text, reply
    missing = await handle_text(
        "test on posts then log on t3_zzzzzz", reddit_caller("alice_test"), world.ctx
    )
    assert missing.error and "could not find t3_zzzzzz" in missing.text

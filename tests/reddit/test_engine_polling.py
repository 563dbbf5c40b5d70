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

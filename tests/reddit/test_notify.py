"""RedditNotifier: notifications of PM-made modules arrive as PMs."""

from __future__ import annotations

import pytest

from bot.engine.ports import ActionError
from bot.reddit.notify import RedditNotifier, markdown_lines
from tests.reddit.harness import ASYNCPRAW_WARNINGS, World

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]


async def test_here_and_user_targets_are_pms(world: World) -> None:
    notifier = RedditNotifier(world.reddit)
    here = {"kind": "here", "channel": "alice_test", "place": "reddit"}
    me = {"kind": "user", "user": "bob_test", "place": "reddit"}
    assert await notifier.notify(here, "New post\nhttps://redd.it/x", {"module": 4}) is None
    await notifier.notify(me, "for bob", {"module": 5})
    sent = [(w["to"], w["subject"], w["text"]) for w in world.writes("compose")]
    assert sent == [
        ("alice_test", "roveit: module #4", "New post  \nhttps://redd.it/x"),
        ("bob_test", "roveit: module #5", "for bob"),
    ]


async def test_a_channel_target_cannot_be_reached_by_pm(world: World) -> None:
    notifier = RedditNotifier(world.reddit)
    with pytest.raises(ActionError) as caught:
        await notifier.notify({"kind": "channel", "channel": "alerts"}, "x", {"module": 1})
    assert caught.value.permanent
    assert world.writes("compose") == []


async def test_status_is_a_new_pm_each_time(world: World) -> None:
    notifier = RedditNotifier(world.reddit)
    assert await notifier.status_message("alice_test", "all good", None) is None
    assert await notifier.status_message("alice_test", "still good", "ignored") is None
    assert [w["text"] for w in world.writes("compose")] == ["all good", "still good"]


def test_markdown_lines_keeps_paragraphs() -> None:
    assert markdown_lines("a\nb\n\nc") == "a  \nb\n\nc"

"""Commands by Reddit PM, read like transcripts: a PM in, the bot's reply in the sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.chat.reddit_pm import RedditPMChat, command_text, render
from bot.commands.base import Reply
from bot.reddit.client import InboxMessage
from tests.reddit.harness import ASYNCPRAW_WARNINGS, BOT, FakeClock, World, reddit_world

pytestmark = [pytest.mark.filterwarnings(w) for w in ASYNCPRAW_WARNINGS]

RULE = 'on posts in r/python if title contains "async" then reply "hi {author}"'


def answers_to(world: World, fullname: str) -> list[str]:
    return [w["text"] for w in world.writes("comment") if w["thing_id"] == fullname]


def is_unread(world: World, fullname: str) -> bool:
    thing = world.sandbox.store.get(fullname)
    assert thing is not None
    return bool(thing["data"]["new"])


async def test_create_by_pm_is_answered_and_marked_read(world: World) -> None:
    pm = world.pm_to_bot("alice_test", "roveit", f"create {RULE}")
    start = len(world.sandbox.requests)
    assert await world.pm.poll_once() == 1
    [answer] = answers_to(world, pm)
    assert answer.startswith("Created module #1.")
    assert f"\n\n    {RULE}" in answer, "the rule is shown as a markdown code block"
    assert not is_unread(world, pm)
    [module] = await world.store.list_modules()
    assert (module.owner, module.chat, module.place, module.channel) == (
        "reddit:alice_test",
        "reddit",
        "reddit:alice_test",
        "alice_test",
    )
    paths = [(m, p) for m, p, _s in world.requests_since(start)]
    assert paths == [
        ("GET", "/message/unread"),
        ("POST", "/api/comment"),
        ("POST", "/api/read_message"),
    ]
    assert await world.pm.poll_once() == 0, "a read PM is not run again"
    assert len(answers_to(world, pm)) == 1


async def test_subject_may_be_the_command_name(world: World) -> None:
    bare = world.pm_to_bot("alice_test", "create", RULE)
    full = world.pm_to_bot("alice_test", "Create", f"create {RULE}")
    again = world.pm_to_bot("alice_test", "re: roveit", "list mine")
    assert await world.pm.poll_once() == 3
    assert answers_to(world, bare)[0].startswith("Created module #1.")
    assert answers_to(world, full)[0].startswith("Created module #2.")
    assert "#1" in answers_to(world, again)[0] and "#2" in answers_to(world, again)[0]


async def test_only_private_messages_to_roveit_are_taken(world: World) -> None:
    own = world.sandbox.add_item(
        {
            "kind": "t4",
            "data": {"author": BOT, "dest": BOT, "subject": "roveit", "body": "status"},
        }
    )
    comment_reply = world.sandbox.add_item(
        {
            "kind": "t4",
            "data": {
                "author": "alice_test",
                "dest": BOT,
                "subject": "comment reply",
                "body": "create " + RULE,
                "was_comment": True,
            },
        }
    )
    other = world.pm_to_bot("alice_test", "hello there", "create " + RULE)
    bad_name = world.pm_to_bot("x", "roveit", "create " + RULE)
    assert await world.pm.poll_once() == 0
    assert world.writes("comment") == []
    assert await world.store.list_modules() == []
    for fullname in (own, comment_reply, other, bad_name):
        assert is_unread(world, fullname), "left for the humans who run the account"


async def test_a_syntax_error_is_shown_with_its_caret(world: World) -> None:
    pm = world.pm_to_bot("alice_test", "roveit", 'create on posts if title contans "x" then log')
    await world.pm.poll_once()
    [answer] = answers_to(world, pm)
    assert answer.startswith("That does not parse.")
    code = [line for line in answer.splitlines() if line.startswith("    ")]
    assert any("contans" in line for line in code) and any(
        line.strip() == "^" or line.strip().startswith("^") for line in code
    )


async def test_a_fast_user_is_refused_politely_once_per_window(tmp_path: Path) -> None:
    async with reddit_world(tmp_path, command_rate=2) as world:
        clock = FakeClock()
        pm_chat = RedditPMChat(
            reddit=world.reddit, ctx=world.ctx, settings=world.settings, clock=clock
        )
        sent = [world.pm_to_bot("speedy_one", "roveit", "help") for _ in range(5)]
        calm = world.pm_to_bot("calm_one", "roveit", "help")
        assert await pm_chat.poll_once() == 6
        answered = {name: answers_to(world, name) for name in sent}
        assert [len(answered[name]) for name in sent] == [1, 1, 1, 0, 0]
        refusal = answered[sent[2]][0]
        assert "short break" in refusal and "60 seconds" in refusal
        assert len(answers_to(world, calm)) == 1, "other users are not held up"
        assert not any(is_unread(world, name) for name in sent)

        clock.advance(61)
        later = world.pm_to_bot("speedy_one", "roveit", "help")
        assert await pm_chat.poll_once() == 1
        assert "short break" not in answers_to(world, later)[0]


async def test_an_admin_may_pause_someone_elses_module(world: World) -> None:
    world.pm_to_bot("alice_test", "roveit", f"create {RULE}")
    await world.pm.poll_once()
    stranger = world.pm_to_bot("bob_test", "pause", "1")
    admin = world.pm_to_bot("mod_admin", "pause", "pause 1")
    await world.pm.poll_once()
    # PM modules are personal: another Reddit user cannot even see it
    assert answers_to(world, stranger)[0].startswith("There is no module #1 here.")
    assert answers_to(world, admin) == ["Module #1 is paused."]
    [module] = await world.store.list_modules()
    assert module.status == "paused"


async def test_an_answer_that_fails_is_sent_later_and_the_command_runs_once(
    world: World,
) -> None:
    pm = world.pm_to_bot("alice_test", "roveit", f"create {RULE}")
    world.sandbox.ratelimit_next("comment", seconds=0)
    assert await world.pm.poll_once() == 1
    assert answers_to(world, pm) == []
    assert not is_unread(world, pm)
    await world.pm.poll_once()
    assert answers_to(world, pm)[0].startswith("Created module #1.")
    assert len(await world.store.list_modules()) == 1


def _message(subject: str, body: str) -> InboxMessage:
    return InboxMessage("t4_x", "t4", "alice_test", subject, body, False, False, 0.0)


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("roveit", "list mine", "list mine"),
        ("ROVEIT", "", "help"),
        ("re: re: roveit", "status", "status"),
        ("pause", "3", "pause 3"),
        ("pause", "Pause 3", "Pause 3"),
        ("help", "", "help"),
        ("roveit", "```\ncreate on posts then log\n```", "create on posts then log"),
        ("roveit", "    create on posts\n    then log", "create on posts\nthen log"),
        ("roveit", "`status`", "status"),
        ("hello", "status", None),
        ("re: your comment", "status", None),
    ],
)
def test_command_text(subject: str, body: str, expected: str | None) -> None:
    assert command_text(_message(subject, body)) == expected


def test_render_keeps_lines_and_indents_code() -> None:
    reply = Reply(
        "#1 on posts then log\nsecond line",
        title="Modules",
        code="rule\n   ^",
        fields=(("status", "active"),),
    )
    assert render(reply) == (
        "**Modules**\n\n\\#1 on posts then log  \nsecond line\n\n    rule\n       ^\n\nstatus: active"
    )


async def test_run_answers_until_stopped(world: World) -> None:
    chat = RedditPMChat(reddit=world.reddit, ctx=world.ctx, settings=world.settings, interval=0.05)
    stop = asyncio.Event()
    beats: list[int] = []
    runner = asyncio.ensure_future(chat.run(stop, lambda: beats.append(1)))
    try:
        first = world.pm_to_bot("alice_test", "roveit", "help")
        await world.sandbox.wait_for_writes(2)  # the answer, then the read mark
        world.sandbox.faults.burst_errors(1)  # a failed inbox poll is logged, not fatal
        second = world.pm_to_bot("alice_test", "roveit", "status")
        await world.sandbox.wait_for_writes(4)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 5)
    assert len(answers_to(world, first)) == len(answers_to(world, second)) == 1
    assert len(beats) >= 2

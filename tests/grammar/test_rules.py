"""SPEC §1 acceptance examples and the rule language's accepted forms, as ASTs."""

from __future__ import annotations

import pytest

from bot.grammar.ast import (
    And,
    Compare,
    Cooldown,
    Crosspost,
    Empty,
    Flag,
    Limit,
    Log,
    Matches,
    Message,
    Not,
    Notify,
    Or,
    Pos,
    Reply,
    Rule,
    TextTest,
    Webhook,
)
from bot.grammar.parser import parse_rule
from bot.grammar.printer import explain_rule, format_rule

ACCEPTANCE = [
    (
        'on posts in r/buildapcsales if title contains "4090" then notify here',
        Rule(
            ("posts",),
            ("buildapcsales",),
            TextTest("title", "contains", ("4090",)),
            (Notify("here"),),
        ),
    ),
    (
        r'on comments in r/python, r/learnpython if body matches /\basync(io)?\b/i and not author is "AutoModerator" then notify #alerts "{author}: {body:200}"',
        Rule(
            ("comments",),
            ("python", "learnpython"),
            And(
                (
                    Matches("body", r"\basync(io)?\b", "i"),
                    Not(TextTest("author", "is", ("AutoModerator",))),
                )
            ),
            (Notify("channel", channel="alerts", template="{author}: {body:200}"),),
        ),
    ),
    (
        'on posts in r/all if flair is "Discussion" and score >= 10 then reply "Thanks for posting, u/{author}!" limit 5 per hour',
        Rule(
            ("posts",),
            (),
            And((TextTest("flair", "is", ("Discussion",)), Compare("score", ">=", 10))),
            (Reply("Thanks for posting, u/{author}!"),),
            limit=Limit(5, "hour"),
        ),
    ),
    (
        'on posts in r/pics if domain is ["imgur.com", "i.redd.it"] and not nsfw then crosspost r/mycollection',
        Rule(
            ("posts",),
            ("pics",),
            And((TextTest("domain", "is", ("imgur.com", "i.redd.it")), Not(Flag("nsfw")))),
            (Crosspost("mycollection"),),
        ),
    ),
    (
        'on posts and comments in r/wallstreetbets if text contains word ["GME", "AMC"] then webhook "https://example.com/hook" cooldown 10m per author',
        Rule(
            ("posts", "comments"),
            ("wallstreetbets",),
            TextTest("text", "contains_word", ("GME", "AMC")),
            (Webhook("https://example.com/hook"),),
            cooldown=Cooldown(600),
        ),
    ),
    (
        'on posts if (title contains "help" or flair is "Question") and self then message author "Your question was received", notify me',
        Rule(
            ("posts",),
            (),
            And(
                (
                    Or(
                        (
                            TextTest("title", "contains", ("help",)),
                            TextTest("flair", "is", ("Question",)),
                        )
                    ),
                    Flag("self"),
                )
            ),
            (Message(None, "Your question was received"), Notify("me")),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTANCE)
def test_acceptance_examples(text: str, expected: Rule) -> None:
    rule = parse_rule(text)
    assert rule == expected
    assert parse_rule(format_rule(rule)) == expected


def _condition(text: str) -> object:
    return parse_rule(f"on posts if {text} then log").condition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('title contains "a"', TextTest("title", "contains", ("a",))),
        ('title contains ["a", "b"]', TextTest("title", "contains", ("a", "b"))),
        ('title contains all ["a", "b"]', TextTest("title", "contains_all", ("a", "b"))),
        ('body contains word "w"', TextTest("body", "contains_word", ("w",))),
        ('body contains word ["w", "v",]', TextTest("body", "contains_word", ("w", "v"))),
        ("body matches /a\\/b/ims", Matches("body", "a/b", "ims")),
        ("body matches /x/si", Matches("body", "x", "is")),
        ('flair is "x"', TextTest("flair", "is", ("x",))),
        ('flair is ["x", "y"]', TextTest("flair", "is", ("x", "y"))),
        ('flair = "x"', TextTest("flair", "is", ("x",))),
        ('flair != "x"', Not(TextTest("flair", "is", ("x",)))),
        ("flair is empty", Empty("flair")),
        ('url startswith "https://"', TextTest("url", "startswith", ("https://",))),
        ('domain endswith ".com"', TextTest("domain", "endswith", (".com",))),
        ("score < -5", Compare("score", "<", -5)),
        ("score <= 5", Compare("score", "<=", 5)),
        ("comments > 0", Compare("comments", ">", 0)),
        ("comments = 3", Compare("comments", "=", 3)),
        ("comments == 3", Compare("comments", "=", 3)),
        ("score != 3", Compare("score", "!=", 3)),
        ("nsfw", Flag("nsfw")),
        ("spoiler", Flag("spoiler")),
        ("SELF", Flag("self")),
        ("not not nsfw", Not(Not(Flag("nsfw")))),
        ("author is u/spez", TextTest("author", "is", ("spez",))),
        ("subreddit is r/Python", TextTest("subreddit", "is", ("Python",))),
        ("author is [u/a-b_c, 'x']", TextTest("author", "is", ("a-b_c", "x"))),
        ("title contains 'it\\'s'", TextTest("title", "contains", ("it's",))),
        ("title contains “smart”", TextTest("title", "contains", ("smart",))),
        ("title contains ‘single’", TextTest("title", "contains", ("single",))),
        ('title contains "a\\\\b\\"c"', TextTest("title", "contains", ('a\\b"c',))),
        ('Title CONTAINS "x"', TextTest("title", "contains", ("x",))),
        # precedence: not > and > or, flattened n-ary
        (
            "nsfw or spoiler and self",
            Or((Flag("nsfw"), And((Flag("spoiler"), Flag("self"))))),
        ),
        ("nsfw and spoiler and self", And((Flag("nsfw"), Flag("spoiler"), Flag("self")))),
        ("nsfw and (spoiler and self)", And((Flag("nsfw"), Flag("spoiler"), Flag("self")))),
        ("(nsfw or spoiler) or self", Or((Flag("nsfw"), Flag("spoiler"), Flag("self")))),
        ("not nsfw and self", And((Not(Flag("nsfw")), Flag("self")))),
        ("not (nsfw and self)", Not(And((Flag("nsfw"), Flag("self"))))),
    ],
)
def test_conditions(text: str, expected: object) -> None:
    assert _condition(text) == expected


@pytest.mark.parametrize(
    ("text", "streams", "subreddits"),
    [
        ("on posts then log", ("posts",), ()),
        ("on comments then log", ("comments",), ()),
        ("on comments and posts then log", ("posts", "comments"), ()),
        ("on posts in python, r/Learn_Python then log", ("posts",), ("python", "Learn_Python")),
        ("on posts in r/a1, r/all then log", ("posts",), ()),
        ("on posts in r/ab, r/AB, /r/cd then log", ("posts",), ("ab", "cd")),
        ("ON POSTS IN R/Ab THEN LOG", ("posts",), ("Ab",)),
    ],
)
def test_streams_and_subreddits(
    text: str, streams: tuple[str, ...], subreddits: tuple[str, ...]
) -> None:
    rule = parse_rule(text)
    assert (rule.streams, rule.subreddits) == (streams, subreddits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("notify here", Notify("here")),
        ("notify me", Notify("me")),
        ('notify me "{title}"', Notify("me", template="{title}")),
        ("notify #mod-alerts_2", Notify("channel", channel="mod-alerts_2")),
        ("notify <#123456>", Notify("channel", channel="123456")),
        ('reply "hi {author}"', Reply("hi {author}")),
        ('message author "hey"', Message(None, "hey")),
        ('message u/Some-User "hey"', Message("Some-User", "hey")),
        ("crosspost r/pics", Crosspost("pics")),
        ('crosspost r/pics "{title}"', Crosspost("pics", "{title}")),
        ('webhook "http://127.0.0.1:8080/x"', Webhook("http://127.0.0.1:8080/x")),
        ("log", Log()),
    ],
)
def test_actions(text: str, expected: object) -> None:
    assert parse_rule(f"on posts then {text}").actions == (expected,)


@pytest.mark.parametrize(
    ("text", "limit", "cooldown"),
    [
        ("limit 1 per minute", Limit(1, "minute"), None),
        ("limit 3 per day cooldown 30s per author", Limit(3, "day"), Cooldown(30)),
        ("cooldown 2h per author limit 10 per hour", Limit(10, "hour"), Cooldown(7200)),
        ("cooldown 1d per author", None, Cooldown(86400)),
        ("COOLDOWN 10M PER AUTHOR", None, Cooldown(600)),
    ],
)
def test_options(text: str, limit: Limit | None, cooldown: Cooldown | None) -> None:
    rule = parse_rule(f"on posts then log {text}")
    assert (rule.limit, rule.cooldown) == (limit, cooldown)
    assert rule.limit is None or rule.limit.window_seconds in (60, 3600, 86400)


def test_line_breaks_mean_a_space_and_positions_are_recorded() -> None:
    text = (
        'on posts\n  if title contains "x"\n  and not nsfw\nthen log,\n notify me limit 2 per hour'
    )
    rule = parse_rule(text)
    assert rule.pos == Pos(1, 1, 0)
    assert isinstance(rule.condition, And)
    first, second = rule.condition.operands
    assert first.pos == Pos(2, 6, 14)
    assert rule.condition.pos == first.pos
    assert isinstance(second, Not) and second.pos == Pos(3, 7, 39)
    assert isinstance(second.operand, Flag) and second.operand.pos == Pos(3, 11, 43)
    assert [a.pos for a in rule.actions] == [Pos(4, 6, 53), Pos(5, 2, 59)]
    assert rule.limit is not None and rule.limit.pos == Pos(5, 12, 69)


def test_group_position_is_the_opening_parenthesis() -> None:
    rule = parse_rule("on posts if (nsfw or self) and spoiler then log")
    assert isinstance(rule.condition, And)
    assert rule.condition.pos == Pos(1, 13, 12)
    inner = rule.condition.operands[0]
    assert isinstance(inner, Or) and inner.pos == Pos(1, 14, 13)


def test_format_rule_is_canonical() -> None:
    text = "ON Posts IN r/Pics IF NOT (Title Contains 'a\"b' OR nsfw) THEN Notify #x 'q\\\\' COOLDOWN 120s PER author"
    assert format_rule(parse_rule(text)) == (
        'on posts in r/Pics if not (title contains "a\\"b" or nsfw) then notify #x "q\\\\" cooldown 2m per author'
    )
    assert format_rule(parse_rule("on posts if body matches /a\\/b[\\/]/ then log")) == (
        "on posts if body matches /a\\/b[\\/]/ then log"
    )
    assert format_rule(parse_rule("on posts then log cooldown 90s per author")).endswith(
        "90s per author"
    )


def test_explain_rule_says_what_where_when_and_does() -> None:
    text = ACCEPTANCE[2][0]
    assert explain_rule(parse_rule(text)) == "\n".join(
        [
            "Watches: new posts",
            "In: every subreddit",
            'When: the post flair is "Discussion" and the score is at least 10',
            "Then:",
            '  1. reply on Reddit with "Thanks for posting, u/{author}!"',
            "Limit: at most 5 times per hour",
        ]
    )
    explained = explain_rule(parse_rule(ACCEPTANCE[4][0]))
    assert "In: r/wallstreetbets" in explained
    assert "Cooldown: skips an author for 10 minutes after a match" in explained
    assert "it is not marked NSFW" in explain_rule(parse_rule(ACCEPTANCE[3][0]))

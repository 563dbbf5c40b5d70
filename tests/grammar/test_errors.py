"""Malformed rules: the exact line, column, message and hint a user is shown."""

from __future__ import annotations

import pickle
import time

import pytest

from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import (
    MAX_ACTIONS,
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    MAX_SUBREDDITS,
    MAX_VALUES,
    parse_rule,
)

PLACEHOLDER_LIST = (
    "the placeholders are {title}, {body}, {text}, {author}, {subreddit}, {permalink}, "
    "{url}, {flair}, {score}, {id}, {module}, {match}"
)

CASES = [
    # misspelled keyword
    (
        'on posts if title contians "x" then log',
        1,
        19,
        "expected a test: contains, matches, is, startswith, endswith, =, !=",
        'did you mean "contains"?',
    ),
    (
        'on posts\nif title contians "x"\nthen log',
        2,
        10,
        "expected a test: contains, matches, is, startswith, endswith, =, !=",
        'did you mean "contains"?',
    ),
    ("on psots then log", 1, 4, 'expected "posts" or "comments"', 'did you mean "posts"?'),
    (
        "on posts then lgo",
        1,
        15,
        "expected an action: notify, reply, message, crosspost, webhook, log",
        'did you mean "log"?',
    ),
    (
        "posts then log",
        1,
        1,
        'expected "on"',
        'a rule starts with "on", like: on posts if title contains "python" then notify here',
    ),
    # missing then / comma / quotes
    (
        'on posts if title contains "x" notify here',
        1,
        32,
        'expected "then" before the actions',
        'write "then notify ..."',
    ),
    (
        "on posts then notify here log",
        1,
        27,
        'expected "," between two actions',
        "separate actions with commas, like: notify here, log",
    ),
    (
        "on posts if title contains hello then log",
        1,
        28,
        "expected a string in quotes",
        'put text in quotes, like "hello"',
    ),
    (
        "on posts then",
        1,
        14,
        "the rule ends here; expected an action: notify, reply, message, crosspost, webhook, log",
        None,
    ),
    # unclosed string and regex
    (
        'on posts if title contains "abc then log',
        1,
        28,
        "this string has no closing quote",
        'end it with " (a backslash before a quote makes it part of the string)',
    ),
    (
        "on posts if body matches /abc then log",
        1,
        26,
        "this regular expression has no closing /",
        "write a slash inside it as \\/",
    ),
    # fields
    (
        'on posts if titel contains "x" then log',
        1,
        13,
        'unknown field "titel"',
        'did you mean "title"?',
    ),
    (
        'on posts if score contains "x" then log',
        1,
        13,
        "score is a number: compare it with <, <=, >, >=, = or !=, like score >= 10",
        None,
    ),
    (
        'on posts if title > "x" then log',
        1,
        19,
        "> compares numbers (score, comments); text takes contains, is, startswith or endswith",
        None,
    ),
    (
        'on posts if score = "x" then log',
        1,
        13,
        "score is a number: write it without quotes, like score = 10",
        None,
    ),
    (
        'on posts if nsfw contains "x" then log',
        1,
        13,
        "nsfw is a flag: write just nsfw, or not nsfw",
        None,
    ),
    (
        "on posts if title then log",
        1,
        18,
        "title needs a test after it: contains, matches, is, startswith, endswith, =, !=",
        None,
    ),
    ("on posts if score > abc then log", 1, 21, "expected a whole number", None),
    # regular expressions
    (
        "on posts if body matches /(a)\\1/ then log",
        1,
        26,
        "this regular expression cannot be used: invalid escape sequence: \\1 (RE2 has no back-references)",
        None,
    ),
    (
        "on posts if body matches /a(?=b)/ then log",
        1,
        26,
        "this regular expression cannot be used: invalid perl operator: (?= (RE2 has no look-ahead)",
        None,
    ),
    (
        "on posts if body matches /x/q then log",
        1,
        29,
        'unknown regular expression flag "q"; the flags are i, m and s',
        None,
    ),
    (
        "on posts if body matches // then log",
        1,
        26,
        "an empty regular expression matches everything",
        None,
    ),
    # templates: the caret points inside the string, escapes counted
    (
        'on posts then reply "hi {autor}"',
        1,
        25,
        "unknown placeholder {autor}; " + PLACEHOLDER_LIST,
        None,
    ),
    (
        'on posts then reply "a\\"b {autor}"',
        1,
        27,
        "unknown placeholder {autor}; " + PLACEHOLDER_LIST,
        None,
    ),
    # actions and options
    (
        "on comments then crosspost r/pics",
        1,
        18,
        "crosspost shares posts; this rule watches comments",
        'use "on posts" for a rule that crossposts',
    ),
    (
        "on posts and comments then log, crosspost r/pics",
        1,
        33,
        "crosspost shares posts; this rule watches comments",
        'use "on posts" for a rule that crossposts',
    ),
    (
        "on posts then log cooldown 10x per author",
        1,
        28,
        '"10x" is not a duration: a number and a unit, like 30s, 10m, 2h or 1d',
        None,
    ),
    (
        "on posts then log cooldown 0s per author",
        1,
        28,
        "the duration must be from 1 second to 365 days",
        None,
    ),
    ("on posts then log limit 0 per hour", 1, 25, "the limit must be from 1 to 100,000", None),
    ("on posts then log limit 1 per hour limit 2 per day", 1, 36, "limit is given twice", None),
    (
        "on posts then notify #Alerts",
        1,
        22,
        "a channel name is lowercase letters, digits, - and _, like #alerts",
        'did you mean "#alerts"?',
    ),
    (
        'on posts then message u/ab "x"',
        1,
        23,
        '"u/ab" is not a Reddit username: 3 to 20 letters, digits, _ or -',
        None,
    ),
    (
        'on posts then webhook "ftp://x"',
        1,
        24,
        "a webhook needs an http:// or https:// address without spaces",
        None,
    ),
    # subreddits, streams, lists, trailing junk
    (
        "on posts in r/a then log",
        1,
        13,
        '"r/a" is not a subreddit name: 2 to 21 letters, digits or _',
        None,
    ),
    (
        "on posts and posts then log",
        1,
        14,
        "posts is named twice",
        'did you mean "posts and comments"?',
    ),
    (
        "on posts if title contains [] then log",
        1,
        28,
        'an empty list: put at least one string in it, like ["a", "b"]',
        None,
    ),
    (
        'on posts if title contains "" then log',
        1,
        28,
        'an empty string: every text contains it; use "is empty" to test for nothing',
        None,
    ),
    (
        "on posts then log junk",
        1,
        19,
        'expected ",", "limit", "cooldown" or the end of the rule',
        None,
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message", "hint"), CASES)
def test_malformed_rule(text: str, line: int, column: int, message: str, hint: str | None) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    err = caught.value
    assert (err.line, err.column, err.message, err.hint) == (line, column, message, hint)
    source_line = text.split("\n")[line - 1]
    assert err.excerpt.split("\n") == ["  " + source_line, "  " + " " * (column - 1) + "^"]


def test_full_message_matches_the_documented_shape() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule('on posts if title contians "x" then log')
    assert str(caught.value) == (
        "line 1, column 19: expected a test: contains, matches, is, startswith, endswith, =, !=\n"
        '  on posts if title contians "x" then log\n'
        "                    ^\n"
        'did you mean "contains"?'
    )
    assert caught.value.expected == (
        "contains",
        "matches",
        "is",
        "startswith",
        "endswith",
        "=",
        "!=",
    )
    assert isinstance(caught.value, ValueError)


def test_errors_survive_pickling() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("on psots then log")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert (copy.line, copy.column, copy.hint) == (1, 4, 'did you mean "posts"?')


def test_expected_words_are_words_not_terminal_names() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("on posts in r/ab r/cd then log")
    assert caught.value.message == 'expected "if", "," or "then"'
    assert caught.value.expected == ("if", ",", "then")


def test_list_too_long_points_at_the_first_extra_value() -> None:
    values = ", ".join(f'"v{i}"' for i in range(MAX_VALUES + 1))
    text = f"on posts if title contains [{values}] then log"
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert caught.value.message == f"a list holds at most {MAX_VALUES} values"
    assert caught.value.offset == text.index(f'"v{MAX_VALUES}"')
    ok = ", ".join(f'"v{i}"' for i in range(MAX_VALUES))
    assert len(parse_rule(f"on posts if title is [{ok}] then log").condition.values) == MAX_VALUES  # type: ignore[union-attr]


def test_too_many_actions_and_subreddits() -> None:
    actions = ", ".join(["log"] * (MAX_ACTIONS + 1))
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(f"on posts then {actions}")
    assert caught.value.message == f"a rule has at most {MAX_ACTIONS} actions"
    assert caught.value.column == len("on posts then ") + 1 + MAX_ACTIONS * len("log, ")
    subs = ", ".join(f"r/sub{i}" for i in range(MAX_SUBREDDITS + 1))
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(f"on posts in {subs} then log")
    assert caught.value.message == f"a rule watches at most {MAX_SUBREDDITS} subreddits"
    assert caught.value.column == len("on posts in ") + 1 + subs.index(f"r/sub{MAX_SUBREDDITS}")


@pytest.mark.parametrize("opener", ["(", "not ", "not ("])
def test_too_deep_points_at_the_level_past_the_limit(opener: str) -> None:
    depth_ok = opener.count("(") + opener.count("not")
    per_level = max(depth_ok, 1)
    levels = MAX_DEPTH // per_level
    closer = ")" * opener.count("(")
    fine = f"on posts if {opener * levels}nsfw{closer * levels} then log"
    parse_rule(fine)
    text = f"on posts if {opener * (levels + 1)}nsfw{closer * (levels + 1)} then log"
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert (
        caught.value.message
        == f"nested too deeply: at most {MAX_DEPTH} levels of parentheses and not"
    )
    assert caught.value.offset >= len("on posts if ") + len(opener) * (levels - 1)


def test_deep_nesting_near_the_length_limit_is_refused_without_recursion() -> None:
    for body in ("(" * 3990, "not " * 997, "((((not " * 400):
        text = ("on posts if " + body)[:MAX_RULE_LENGTH]
        with pytest.raises(RuleSyntaxError) as caught:
            parse_rule(text)
        assert caught.value.message.startswith("nested too deeply")
        assert caught.value.line == 1


def test_huge_input_is_rejected_before_parsing() -> None:
    text = "on posts if " + 'title contains "x" and ' * 50_000 + "nsfw then log"
    assert len(text) > 1_000_000
    started = time.perf_counter()
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert time.perf_counter() - started < 0.5
    assert (
        caught.value.message
        == f"the rule is {len(text):,} characters long; at most {MAX_RULE_LENGTH:,}"
    )
    assert caught.value.offset == MAX_RULE_LENGTH
    assert len(caught.value.excerpt) < 200


def test_long_valid_rule_parses_quickly() -> None:
    tests = " or ".join(f'title contains "w{i}"' for i in range(150))
    text = f"on posts if {tests} then log"
    assert len(text) <= MAX_RULE_LENGTH
    started = time.perf_counter()
    rule = parse_rule(text)
    assert time.perf_counter() - started < 0.5
    assert rule.condition is not None and len(rule.condition.operands) == 150  # type: ignore[union-attr]

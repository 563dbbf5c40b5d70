"""Properties: printing then parsing any valid AST gives it back; no input escapes as another error."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.grammar import ast
from bot.grammar.errors import CommandSyntaxError, RuleSyntaxError
from bot.grammar.parser import MAX_RULE_LENGTH, parse_command, parse_rule
from bot.grammar.printer import format_rule

TRICKY = ['"', "\\", "'", "“", "”", "‘", "’", "\n", "/", "{", "}", "é", "日本", "🚀", '\\"', " "]

text_values = st.one_of(
    st.text(min_size=1, max_size=12),
    st.lists(st.sampled_from(TRICKY + ["a", "b"]), min_size=1, max_size=6).map("".join),
)
any_values = st.lists(text_values, min_size=1, max_size=3).map(tuple)
user_names = st.from_regex(r"[A-Za-z0-9_-]{3,20}", fullmatch=True)
sub_names = st.from_regex(r"[A-Za-z0-9_]{2,21}", fullmatch=True).filter(
    lambda s: s.casefold() != "all"
)

plain_template_text = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=10)
templates = (
    st.lists(
        st.one_of(
            plain_template_text, st.sampled_from(["{author}", "{body:200}", "{{", "}}", '"', "\\"])
        ),
        min_size=1,
        max_size=5,
    )
    .map("".join)
    .filter(bool)
)

patterns = st.sampled_from(
    ["a/b", r"\bword\b", "x+", "(a|b)c", "[/]", "é", r"\d{2,3}", "^$x", r"\\", r"a\.b", "[^/]+"]
)
flags = st.sampled_from(["", "i", "m", "s", "im", "is", "ms", "ims"])

text_tests = st.builds(
    ast.TextTest,
    st.sampled_from(ast.TEXT_FIELDS),
    st.sampled_from(ast.TEXT_OPS),
    any_values,
)
is_empty_string = st.builds(
    ast.TextTest, st.sampled_from(ast.TEXT_FIELDS), st.just("is"), st.just(("",))
)
leaves = st.one_of(
    text_tests,
    is_empty_string,
    st.builds(ast.Empty, st.sampled_from(ast.TEXT_FIELDS)),
    st.builds(ast.Matches, st.sampled_from(ast.TEXT_FIELDS), patterns, flags),
    st.builds(
        ast.Compare,
        st.sampled_from(ast.NUMBER_FIELDS),
        st.sampled_from(ast.COMPARE_OPS),
        st.integers(-(10**12), 10**12),
    ),
    st.builds(ast.Flag, st.sampled_from(ast.FLAGS)),
)


def _flat(kind: type[ast.And] | type[ast.Or], children: list[ast.Condition]) -> ast.Condition:
    operands: list[ast.Condition] = []
    for child in children:
        operands.extend(child.operands if isinstance(child, kind) else (child,))
    return kind(tuple(operands))


def _extend(inner: st.SearchStrategy[ast.Condition]) -> st.SearchStrategy[ast.Condition]:
    many = st.lists(inner, min_size=2, max_size=3)
    return st.one_of(
        st.builds(ast.Not, inner),
        many.map(lambda cs: _flat(ast.And, cs)),
        many.map(lambda cs: _flat(ast.Or, cs)),
    )


conditions = st.recursive(leaves, _extend, max_leaves=6)

channels = st.one_of(
    st.from_regex(r"[a-z0-9_-]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9]{5,19}", fullmatch=True),
)
optional_templates = st.none() | templates
post_actions = st.one_of(
    st.builds(ast.Notify, st.sampled_from(["here", "me"]), st.none(), optional_templates),
    st.builds(ast.Notify, st.just("channel"), channels, optional_templates),
    st.builds(ast.Reply, templates),
    st.builds(ast.Message, st.none() | user_names, templates),
    st.builds(
        ast.Webhook,
        st.from_regex(r"https?://[a-z]{1,10}\.com/[A-Za-z0-9/?=&%-]{0,20}", fullmatch=True),
    ),
    st.builds(ast.Log),
)
durations = st.one_of(
    st.integers(1, 365 * 86400),
    st.integers(1, 365).map(lambda d: d * 86400),
    st.integers(1, 48).map(lambda h: h * 3600),
)


@st.composite
def rules(draw: st.DrawFn) -> ast.Rule:
    streams = draw(st.sampled_from([("posts",), ("comments",), ("posts", "comments")]))
    action = post_actions
    if streams == ("posts",):
        action = post_actions | st.builds(ast.Crosspost, sub_names, optional_templates)
    subs = draw(st.lists(sub_names, max_size=3, unique_by=str.casefold).map(tuple))
    return ast.Rule(
        streams,
        subs,
        draw(st.none() | conditions),
        tuple(draw(st.lists(action, min_size=1, max_size=4))),
        draw(
            st.none()
            | st.builds(ast.Limit, st.integers(1, 100_000), st.sampled_from(list(ast.PERIODS)))
        ),
        draw(st.none() | st.builds(ast.Cooldown, durations)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules())
def test_format_then_parse_is_identity(rule: ast.Rule) -> None:
    text = format_rule(rule)
    assume(len(text) <= MAX_RULE_LENGTH)
    assert parse_rule(text) == rule
    assert format_rule(parse_rule(text)) == text


SEEDS = [
    'on posts in r/python if title contains "x" and not nsfw then notify here',
    'on comments if body matches /a(b)?/i or score >= -3 then reply "{author}", log limit 2 per day',
    'on posts and comments if (author is u/someone or flair is empty) then webhook "https://x.com" cooldown 10m per author',
    "create on posts then log",
    "test #3 on t3_abc",
]
noise = st.sampled_from(
    list(string.printable) + TRICKY + ["(", ")", "[", "]", ",", "on ", " not ", " and "]
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(noise)
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + 1 :]
        elif kind == "replace":
            text = text[:at] + piece + text[at + 1 :]
        else:
            text = text[:at]
    return text


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated(), st.text(max_size=80)))
def test_any_text_raises_only_rule_syntax_error(text: str) -> None:
    try:
        rule = parse_rule(text)
    except RuleSyntaxError as err:
        assert err.line >= 1 and err.column >= 1
        assert err.message and "$END" not in str(err) and "_RPAR" not in str(err)
    else:
        assert parse_rule(format_rule(rule)) == rule


@settings(max_examples=200, deadline=None)
@given(st.one_of(mutated(), st.text(max_size=60)))
def test_any_text_raises_only_command_syntax_error(text: str) -> None:
    try:
        parse_command(text)
    except CommandSyntaxError as err:
        assert err.line >= 1 and err.column >= 1 and err.message

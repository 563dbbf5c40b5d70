"""Text to AST: ``parse_rule`` (SPEC §1) and ``parse_command`` (SPEC §2).

Both raise only ``RuleSyntaxError`` / ``CommandSyntaxError``. The rule grammar runs on
one cached LALR parser whose Transformer is applied during the parse itself, so no
recursion happens however deeply a rule nests; nesting is capped while tokens arrive.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from functools import cache
from typing import Any, cast
from urllib.parse import urlsplit

from lark import Lark, Token, Transformer
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.parsers.lalr_interactive_parser import InteractiveParser

from bot.engine.regex import RegexError, compile_regex
from bot.engine.templates import TemplateError, parse_template
from bot.grammar import ast
from bot.grammar.errors import EXCERPT_SPAN, CommandSyntaxError, RuleSyntaxError

MAX_RULE_LENGTH = 4000
MAX_COMMAND_LENGTH = MAX_RULE_LENGTH + 200
MAX_DEPTH = 20
MAX_VALUES = 100
MAX_ACTIONS = 20
MAX_SUBREDDITS = 50
MAX_NUMBER = 10**12
MAX_LIMIT = 100_000
MAX_DURATION = 365 * 86400
MIN_HEARTBEAT = 60
MAX_BACKTEST = 10_000
MAX_MODULE_ID = 10**15
MAX_TOPIC_LENGTH = 100

SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9_]{2,21}")
USERNAME = re.compile(r"[A-Za-z0-9_-]{3,20}")
CHANNEL_NAME = re.compile(r"[a-z0-9_-]{1,100}")
CLAIM_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")
TARGET = re.compile(r"https?://[^\s\"'“”‘’]+|[A-Za-z0-9_]{1,40}")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TEST_WORDS = ("contains", "matches", "is", "startswith", "endswith", "=", "!=")
COMPARE_WORDS = ("<", "<=", ">", ">=", "=", "!=")
ACTION_WORDS = ("notify", "reply", "message", "crosspost", "webhook", "log")
EXAMPLE_RULE = 'on posts if title contains "python" then notify here'


# ---- semantic problems found while building ------------------------------------


class _Problem(Exception):
    """A rule that parses but means nothing valid; ``offset`` is where to point."""

    def __init__(self, message: str, offset: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def _pos(tok: Token) -> ast.Pos:
    return ast.Pos(tok.line or 1, tok.column or 1, tok.start_pos or 0)


def _start(tok: Token) -> int:
    return tok.start_pos or 0


# ---- values ----------------------------------------------------------------------


def _unescape(inner: str) -> tuple[str, list[int]]:
    """A backslash escapes the next character; also where each result char came from."""
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            i += 1
        out.append(inner[i])
        where.append(i)
        i += 1
    where.append(len(inner))
    return "".join(out), where


def _string(tok: Token) -> str:
    return _unescape(tok.value[1:-1])[0]


def _template(tok: Token, what: str) -> str:
    """A quoted template, checked now so a bad placeholder fails at creation, not when it fires."""
    value, where = _unescape(tok.value[1:-1])
    if not value:
        raise _Problem(f"the {what} is empty", _start(tok))
    try:
        parse_template(value)
    except TemplateError as exc:
        at = where[min(max(exc.offset, 0), len(value))]
        raise _Problem(str(exc), _start(tok) + 1 + at) from None
    return value


def _subreddit_name(tok: Token) -> str:
    name = tok.value.lstrip("/")
    if tok.type == "SUBREDDIT":
        name = name[2:]
    if not SUBREDDIT_NAME.fullmatch(name):
        raise _Problem(
            f'"{tok.value}" is not a subreddit name: 2 to 21 letters, digits or _',
            _start(tok),
        )
    return name


def _username(tok: Token) -> str:
    name = tok.value.lstrip("/")[2:]
    if not USERNAME.fullmatch(name):
        raise _Problem(
            f'"{tok.value}" is not a Reddit username: 3 to 20 letters, digits, _ or -',
            _start(tok),
        )
    return name


def _value(tok: Token) -> str:
    if tok.type == "USER":
        return _username(tok)
    if tok.type == "SUBREDDIT":
        return _subreddit_name(tok)
    return _string(tok)


def _number(tok: Token, *, what: str, low: int, high: int) -> int:
    digits = tok.value.lstrip("+-")
    value = int(tok.value) if len(digits) <= 15 else MAX_NUMBER * 10
    if not low <= value <= high:
        raise _Problem(f"{what} must be from {low:,} to {high:,}", _start(tok))
    return value


def _parse_duration(text: str, offset: int = 0, *, minimum: int = 1) -> int:
    """Seconds in ``30s``, ``10m``, ``2h`` or ``1d``; raises _Problem otherwise."""
    match = re.fullmatch(r"([0-9]{1,9})([A-Za-z]*)", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in DURATION_UNITS:
        raise _Problem(
            f'"{text}" is not a duration: a number and a unit, like 30s, 10m, 2h or 1d', offset
        )
    seconds = int(match.group(1)) * DURATION_UNITS[unit]
    if not minimum <= seconds <= MAX_DURATION:
        raise _Problem(f"the duration must be from {_duration_words(minimum)} to 365 days", offset)
    return seconds


def _duration_words(seconds: int) -> str:
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % unit == 0:
            count = seconds // unit
            return f"{count} {name}" + ("s" if count != 1 else "")
    return f"{seconds} seconds"  # pragma: no cover - the loop always returns


# ---- the builder -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    """A parenthesised condition; remembers where the parenthesis opened."""

    node: ast.Condition
    offset: int
    pos: ast.Pos


@dataclass(frozen=True, slots=True)
class _List:
    tokens: tuple[Token, ...]


@dataclass(frozen=True, slots=True)
class _Streams:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Subreddits:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Where:
    condition: ast.Condition


@dataclass(frozen=True, slots=True)
class _Actions:
    items: tuple[ast.Action, ...]


_CondLike = ast.Condition | _Group


def _cond(item: _CondLike) -> ast.Condition:
    return item.node if isinstance(item, _Group) else item


def _cond_pos(item: _CondLike) -> ast.Pos | None:
    return item.pos if isinstance(item, _Group) else item.pos


def _field(tok: Token, *, numeric: bool) -> str:
    """The field's name, checked for the kind of test applied to it."""
    name = tok.value.lower()
    if numeric and name in ast.NUMBER_FIELDS or not numeric and name in ast.TEXT_FIELDS:
        return name
    if name in ast.FLAGS:
        raise _Problem(f"{name} is a flag: write just {name}, or not {name}", _start(tok))
    if name in ast.NUMBER_FIELDS:
        raise _Problem(
            f"{name} is a number: compare it with <, <=, >, >=, = or !=, like {name} >= 10",
            _start(tok),
        )
    if name in ast.TEXT_FIELDS:
        raise _Problem(
            f'{name} is text: test it with contains, matches, is, startswith or endswith, like {name} is "10"',
            _start(tok),
        )
    raise _unknown_field(tok)


def _unknown_field(tok: Token) -> _Problem:
    names = ast.TEXT_FIELDS + ast.NUMBER_FIELDS + ast.FLAGS
    hint = _did_you_mean(tok.value, names) or "the fields are " + ", ".join(names)
    return _Problem(f'unknown field "{tok.value}"', _start(tok), hint)


def _values(item: Token | _List, *, op: str) -> tuple[str, ...]:
    tokens = item.tokens if isinstance(item, _List) else (item,)
    values = tuple(_value(tok) for tok in tokens)
    if op != "is":
        for tok, value in zip(tokens, values, strict=True):
            if not value:
                raise _Problem(
                    f'an empty string: every text {op.replace("_", " ")} it; use "is empty" to test for nothing',
                    _start(tok),
                )
    return values


def _text_test(items: list[Any], op: ast.TextOp) -> ast.TextTest:
    name_tok, values = items[0], items[-1]
    field = _field(name_tok, numeric=False)
    return ast.TextTest(field, op, _values(values, op=op), pos=_pos(name_tok))


def _regex(tok: Token) -> tuple[str, str]:
    """Pattern and flags of ``/pattern/flags``; ``\\/`` stands for a slash."""
    end = tok.value.rindex("/")
    raw, flags = tok.value[1:end], tok.value[end + 1 :]
    bad = sorted(set(flags) - set("ims"))
    if bad:
        raise _Problem(
            f'unknown regular expression flag "{bad[0]}"; the flags are i, m and s',
            _start(tok) + end + 1 + flags.index(bad[0]),
        )
    pattern = re.sub(r"\\(.)", lambda m: "/" if m.group(1) == "/" else m.group(0), raw)
    if not pattern:
        raise _Problem("an empty regular expression matches everything", _start(tok))
    return pattern, "".join(sorted(set(flags)))


class _RuleBuilder(Transformer[Token, Any]):
    """Builds the AST during the parse; raises _Problem where the meaning is invalid."""

    # -- conditions
    def flag(self, items: list[Token]) -> ast.Flag:
        tok = items[0]
        name = tok.value.lower()
        if name in ast.FLAGS:
            return ast.Flag(name, pos=_pos(tok))
        if name in ast.TEXT_FIELDS or name in ast.NUMBER_FIELDS:
            words = ", ".join(TEST_WORDS if name in ast.TEXT_FIELDS else COMPARE_WORDS)
            raise _Problem(f"{name} needs a test after it: {words}", tok.end_pos or 0)
        raise _unknown_field(tok)

    def contains(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "contains")

    def contains_all(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "contains_all")

    def contains_word(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "contains_word")

    def startswith(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "startswith")

    def endswith(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "endswith")

    def is_test(self, items: list[Any]) -> ast.TextTest:
        return _text_test(items, "is")

    def empty(self, items: list[Token]) -> ast.Empty:
        return ast.Empty(_field(items[0], numeric=False), pos=_pos(items[0]))

    def matches(self, items: list[Token]) -> ast.Matches:
        name_tok, regex_tok = items[0], items[2]
        field = _field(name_tok, numeric=False)
        pattern, flags = _regex(regex_tok)
        try:
            compile_regex(pattern, flags)
        except RegexError as exc:
            message = f"this regular expression cannot be used: {exc}"
            raise _Problem(message, _start(regex_tok)) from None
        return ast.Matches(field, pattern, flags, pos=_pos(name_tok))

    def compare(self, items: list[Token]) -> ast.Compare:
        name_tok, op_tok, int_tok = items
        field = _field(name_tok, numeric=True)
        op = "=" if op_tok.value == "==" else op_tok.value
        value = _number(int_tok, what="the number", low=-MAX_NUMBER, high=MAX_NUMBER)
        return ast.Compare(field, cast(ast.CompareOp, op), value, pos=_pos(name_tok))

    def equals(self, items: list[Any]) -> ast.Condition:
        name_tok, op_tok, values = items
        if op_tok.value not in ("=", "==", "!="):
            raise _Problem(
                f"{op_tok.value} compares numbers (score, comments); text takes contains, is, startswith or endswith",
                _start(op_tok),
            )
        if name_tok.value.lower() in ast.NUMBER_FIELDS:
            raise _Problem(
                f"{name_tok.value.lower()} is a number: write it without quotes, like score = 10",
                _start(name_tok),
            )
        test = _text_test([name_tok, values], "is")
        return ast.Not(test, pos=test.pos) if op_tok.value == "!=" else test

    def value_list(self, items: list[Token]) -> _List:
        bracket, values = items[0], tuple(items[1:])
        if not values:
            raise _Problem(
                'an empty list: put at least one string in it, like ["a", "b"]', _start(bracket)
            )
        if len(values) > MAX_VALUES:
            raise _Problem(f"a list holds at most {MAX_VALUES} values", _start(values[MAX_VALUES]))
        return _List(values)

    def negation(self, items: list[Any]) -> ast.Not:
        return ast.Not(_cond(items[1]), pos=_pos(items[0]))

    def group(self, items: list[Any]) -> _Group:
        return _Group(_cond(items[1]), _start(items[0]), _pos(items[0]))

    def and_cond(self, items: list[_CondLike]) -> ast.And:
        return ast.And(_flatten(items, ast.And), pos=_cond_pos(items[0]))

    def or_cond(self, items: list[_CondLike]) -> ast.Or:
        return ast.Or(_flatten(items, ast.Or), pos=_cond_pos(items[0]))

    def if_clause(self, items: list[_CondLike]) -> _Where:
        return _Where(_cond(items[0]))

    # -- streams and subreddits
    def streams(self, items: list[Token]) -> _Streams:
        names = [tok.value.lower() for tok in items]
        if len(names) == 2 and names[0] == names[1]:
            raise _Problem(
                f"{names[0]} is named twice", _start(items[1]), 'did you mean "posts and comments"?'
            )
        return _Streams(tuple(s for s in ast.STREAMS if s in names))

    def in_clause(self, items: list[Token]) -> _Subreddits:
        if len(items) > MAX_SUBREDDITS:
            raise _Problem(
                f"a rule watches at most {MAX_SUBREDDITS} subreddits", _start(items[MAX_SUBREDDITS])
            )
        names: dict[str, str] = {}
        for tok in items:
            name = _subreddit_name(tok)
            names.setdefault(name.casefold(), name)
        if "all" in names:
            return _Subreddits(())
        return _Subreddits(tuple(names.values()))

    # -- actions
    def notify(self, items: list[Token]) -> ast.Notify:
        target = items[1]
        template = _template(items[2], "notification") if len(items) > 2 else None
        pos = _pos(items[0])
        if target.type == "HERE":
            return ast.Notify("here", template=template, pos=pos)
        if target.type == "ME":
            return ast.Notify("me", template=template, pos=pos)
        return ast.Notify("channel", channel=_channel(target), template=template, pos=pos)

    def reply(self, items: list[Token]) -> ast.Reply:
        return ast.Reply(_template(items[1], "reply"), pos=_pos(items[0]))

    def message(self, items: list[Token]) -> ast.Message:
        to = _username(items[1]) if items[1].type == "USER" else None
        return ast.Message(to, _template(items[2], "message"), pos=_pos(items[0]))

    def crosspost(self, items: list[Token]) -> ast.Crosspost:
        name = _subreddit_name(items[1])
        if name.casefold() == "all":
            raise _Problem("crosspost needs one subreddit, not r/all", _start(items[1]))
        title = _template(items[2], "crosspost title") if len(items) > 2 else None
        return ast.Crosspost(name, title, pos=_pos(items[0]))

    def webhook(self, items: list[Token]) -> ast.Webhook:
        url = _string(items[1])
        parts = urlsplit(url) if url.isprintable() and " " not in url else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Problem(
                "a webhook needs an http:// or https:// address without spaces",
                _start(items[1]) + 1,
            )
        return ast.Webhook(url, pos=_pos(items[0]))

    def log(self, items: list[Token]) -> ast.Log:
        return ast.Log(pos=_pos(items[0]))

    def actions(self, items: list[ast.Action]) -> _Actions:
        if len(items) > MAX_ACTIONS:
            raise _Problem(
                f"a rule has at most {MAX_ACTIONS} actions", _offset_of(items[MAX_ACTIONS].pos)
            )
        return _Actions(tuple(items))

    # -- options and the rule
    def limit(self, items: list[Token]) -> ast.Limit:
        count = _number(items[1], what="the limit", low=1, high=MAX_LIMIT)
        per = cast(Any, items[2].value.lower())
        return ast.Limit(count, per, pos=_pos(items[0]))

    def cooldown(self, items: list[Token]) -> ast.Cooldown:
        seconds = _parse_duration(items[1].value, _start(items[1]))
        return ast.Cooldown(seconds, pos=_pos(items[0]))

    def start(self, items: list[Any]) -> ast.Rule:
        on = items[0]
        streams = next(i.names for i in items if isinstance(i, _Streams))
        subs = next((i.names for i in items if isinstance(i, _Subreddits)), ())
        where = next((i.condition for i in items if isinstance(i, _Where)), None)
        actions = next(i.items for i in items if isinstance(i, _Actions))
        if "comments" in streams:
            for action in actions:
                if isinstance(action, ast.Crosspost):
                    raise _Problem(
                        "crosspost shares posts; this rule watches comments",
                        _offset_of(action.pos),
                        'use "on posts" for a rule that crossposts',
                    )
        limit, cooldown = _options([i for i in items if isinstance(i, ast.Limit | ast.Cooldown)])
        return ast.Rule(streams, subs, where, actions, limit, cooldown, pos=_pos(on))


def _flatten(
    items: Sequence[_CondLike], kind: type[ast.And] | type[ast.Or]
) -> tuple[ast.Condition, ...]:
    out: list[ast.Condition] = []
    for item in items:
        node = _cond(item)
        if isinstance(node, kind):
            out.extend(node.operands)
        else:
            out.append(node)
    return tuple(out)


def _channel(tok: Token) -> str:
    if tok.type == "MENTION":
        return tok.value[2:-1]
    name = tok.value[1:]
    if CHANNEL_NAME.fullmatch(name):
        return name
    hint = None
    if CHANNEL_NAME.fullmatch(name.lower()):
        hint = f'did you mean "#{name.lower()}"?'
    raise _Problem(
        "a channel name is lowercase letters, digits, - and _, like #alerts", _start(tok), hint
    )


def _offset_of(pos: ast.Pos | None) -> int:
    return pos.offset if pos else 0


def _options(items: list[ast.Limit | ast.Cooldown]) -> tuple[ast.Limit | None, ast.Cooldown | None]:
    limit: ast.Limit | None = None
    cooldown: ast.Cooldown | None = None
    for item in items:
        if isinstance(item, ast.Limit):
            if limit is not None:
                raise _Problem("limit is given twice", _offset_of(item.pos))
            limit = item
        else:
            if cooldown is not None:
                raise _Problem("cooldown is given twice", _offset_of(item.pos))
            cooldown = item
    return limit, cooldown


@cache
def _rule_parser() -> Lark:
    return Lark.open(
        "rules.lark",
        rel_to=__file__,
        parser="lalr",
        lexer="contextual",
        transformer=_RuleBuilder(),
    )


# ---- syntax errors in words ----------------------------------------------------

_WORDS: dict[str, str] = {
    "ON": '"on"',
    "POSTS": '"posts"',
    "COMMENTS": '"comments"',
    "_IN": '"in"',
    "_IF": '"if"',
    "NAME": "a field like title",
    "NOT": '"not"',
    "LPAR": '"("',
    "CONTAINS": '"contains"',
    "ALL": '"all"',
    "WORD": '"word"',
    "MATCHES": '"matches"',
    "IS": '"is"',
    "EMPTY": '"empty"',
    "STARTSWITH": '"startswith"',
    "ENDSWITH": '"endswith"',
    "CMP": "a comparison like >=",
    "INT": "a whole number",
    "STRING": "a string in quotes",
    "USER": "a user like u/name",
    "SUBREDDIT": "a subreddit like r/python",
    "REGEX": "a regular expression like /word/i",
    "LSQB": '"["',
    "_RSQB": '"]"',
    "_COMMA": '","',
    "_AND": '"and"',
    "_OR": '"or"',
    "_RPAR": '")"',
    "THEN": '"then"',
    "NOTIFY": '"notify"',
    "REPLY": '"reply"',
    "MESSAGE": '"message"',
    "CROSSPOST": '"crosspost"',
    "WEBHOOK": '"webhook"',
    "LOG": '"log"',
    "HERE": '"here"',
    "ME": '"me"',
    "CHANNEL": "a channel like #alerts",
    "MENTION": "a channel like #alerts",
    "AUTHOR": '"author"',
    "LIMIT": '"limit"',
    "COOLDOWN": '"cooldown"',
    "_PER": '"per"',
    "PERIOD": "minute, hour or day",
    "DURATION": "a duration like 30s, 10m, 2h or 1d",
    "$END": "the end of the rule",
}
# Sets of terminals better said as one phrase; the first that fits wins.
_GROUPS: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({"NOTIFY", "REPLY", "MESSAGE", "CROSSPOST", "WEBHOOK", "LOG"}),
        "an action: " + ", ".join(ACTION_WORDS),
    ),
    (frozenset({"NAME", "NOT", "LPAR"}), 'a condition like title contains "x", score > 10 or nsfw'),
    (frozenset({"HERE", "ME", "CHANNEL"}), "here, me or a channel like #alerts"),
    (
        frozenset({"STRING", "USER", "SUBREDDIT", "LSQB"}),
        'a string in quotes or a list like ["a", "b"]',
    ),
    (frozenset({"SUBREDDIT", "NAME"}), "a subreddit like r/python"),
    (frozenset({"AUTHOR", "USER"}), '"author" or a user like u/name'),
)
_TEST_TERMINALS = frozenset({"CONTAINS", "MATCHES", "IS", "STARTSWITH", "ENDSWITH", "CMP"})
_ACTION_TERMINALS = frozenset({"NOTIFY", "REPLY", "MESSAGE", "CROSSPOST", "WEBHOOK", "LOG"})
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}

# Common mistakes, recognised by the parser state they leave (Lark's match_examples).
_EXAMPLES: dict[str, list[str]] = {
    "missing_then": [
        "on posts log",
        "on posts in r/abc log",
        "on posts in r/abc, r/abd log",
        "on posts and comments log",
        "on posts if nsfw log",
        'on posts if title contains "x" log',
        'on posts if title contains ["x"] log',
        'on posts if title contains all "x" log',
        'on posts if title contains word "x" log',
        'on posts if title is "x" log',
        "on posts if title is u/abc log",
        "on posts if title is r/abc log",
        'on posts if title startswith "x" log',
        'on posts if title = "x" log',
        "on posts if title is empty log",
        "on posts if title matches /x/ log",
        "on posts if score > 1 log",
        "on posts if (nsfw) log",
        "on posts if not nsfw log",
        "on posts if nsfw and self log",
        "on posts if nsfw or self log",
    ],
    "missing_comma": [
        "on posts then log log",
        "on posts then notify here log",
        'on posts then notify here "x" log',
        'on posts then reply "x" log',
        'on posts then message author "x" log',
        "on posts then crosspost r/abc log",
        'on posts then crosspost r/abc "x" log',
        'on posts then webhook "http://x" log',
    ],
    "unquoted": [
        "on posts if title contains x",
        "on posts if title contains all x",
        "on posts if title contains word x",
        "on posts if title is x",
        "on posts if title startswith x",
        "on posts if title endswith x",
        "on posts if title contains [x",
        'on posts if title contains ["a", x',
        "on posts then reply x",
        "on posts then message author x",
        "on posts then webhook x",
    ],
}


@dataclass(slots=True)
class _Tracker:
    """What the parse has seen so far: open parentheses/nots and the latest tokens."""

    stack: list[str]
    history: list[Token]

    def see(self, tok: Token) -> None:
        self.history = [*self.history[-2:], tok]
        kind = tok.type
        if kind in ("LPAR", "NOT"):
            self.stack.append(kind)
            if len(self.stack) > MAX_DEPTH:
                raise _Problem(
                    f"nested too deeply: at most {MAX_DEPTH} levels of parentheses and not",
                    _start(tok),
                )
        elif kind == "_RPAR":
            self._close_nots()
            if self.stack:
                self.stack.pop()
            self._close_nots()
        elif kind in ("_AND", "_OR", "THEN"):
            self._close_nots()

    def _close_nots(self) -> None:
        while self.stack and self.stack[-1] == "NOT":
            self.stack.pop()

    def before(self, tok: Token | None) -> list[Token]:
        """The tokens the parser accepted before ``tok`` (most recent last)."""
        if tok is not None and self.history and self.history[-1] is tok:
            return self.history[:-1]
        return self.history


def _describe(expected: Iterable[str]) -> tuple[str, ...]:
    """The expected terminals as phrases, in a stable order."""
    left = set(expected)
    phrases: list[str] = []
    for members, phrase in _GROUPS:
        if members <= left:
            phrases.append(phrase)
            left -= members
    for name, phrase in _WORDS.items():
        if name in left and phrase not in phrases:
            phrases.append(phrase)
    return tuple(phrases)


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _keywords(expected: Iterable[str]) -> list[str]:
    words: list[str] = []
    for name in expected:
        phrase = _WORDS.get(name, "")
        if phrase.startswith('"') and phrase[1:-1].isalpha():
            words.append(phrase[1:-1])
        elif name == "PERIOD":
            words += ["minute", "hour", "day"]
        elif name == "NAME" and "NOT" in expected:
            words += [*ast.TEXT_FIELDS, *ast.NUMBER_FIELDS, *ast.FLAGS]
    return words


def _plain(phrases: Sequence[str]) -> tuple[str, ...]:
    return tuple(p.strip('"') for p in phrases)


def _bad_character(exc: UnexpectedCharacters, text: str) -> RuleSyntaxError:
    offset = exc.pos_in_stream or 0
    char = exc.char
    context = exc.get_context(text, EXCERPT_SPAN)
    if char in _QUOTES:
        return RuleSyntaxError.at(
            text,
            offset,
            "this string has no closing quote",
            expected=(_QUOTES[char],),
            hint=f"end it with {_QUOTES[char]} (a backslash before a quote makes it part of the string)",
            context=context,
        )
    if char == "/" and "REGEX" in exc.allowed:
        return RuleSyntaxError.at(
            text,
            offset,
            "this regular expression has no closing /",
            expected=("/",),
            hint="write a slash inside it as \\/",
            context=context,
        )
    phrases = _describe(exc.allowed)
    return RuleSyntaxError.at(
        text,
        offset,
        f'unexpected character "{char}"; expected {_join(phrases)}',
        expected=_plain(phrases),
        context=context,
    )


def _after_field(
    field_tok: Token, token: Token, expected: set[str], text: str, offset: int
) -> RuleSyntaxError | None:
    """A word after a field name that is not a test: say which tests fit that field."""
    name = field_tok.value.lower()
    word = token.value if token.type != "$END" else ""
    if name in ast.TEXT_FIELDS:
        hint = _did_you_mean(word, [*TEST_WORDS[:5], "empty"]) if word.isalpha() else None
        message = "expected a test: " + ", ".join(TEST_WORDS)
        return RuleSyntaxError.at(text, offset, message, expected=TEST_WORDS, hint=hint)
    if name in ast.NUMBER_FIELDS:
        message = "expected a comparison: " + ", ".join(COMPARE_WORDS)
        return RuleSyntaxError.at(text, offset, message, expected=COMPARE_WORDS)
    if name in ast.FLAGS:
        expected -= _TEST_TERMINALS
        return None
    problem = _unknown_field(field_tok)
    return RuleSyntaxError.at(text, problem.offset, problem.message, hint=problem.hint)


def _classify(exc: UnexpectedInput, token: Token) -> str | None:
    try:
        label = exc.match_examples(_rule_parser().parse, _EXAMPLES, use_accepts=False)
    except (
        LarkError,
        _Problem,
    ):  # pragma: no cover - the examples are well-formed up to the mistake
        return None
    if label in ("missing_then", "missing_comma") and token.type not in _ACTION_TERMINALS:
        return None
    if label == "unquoted" and token.type not in ("NAME", "INT", "DURATION"):
        return None
    return cast(str | None, label)


def _labelled(label: str, token: Token, text: str, offset: int) -> RuleSyntaxError:
    if label == "missing_then":
        return RuleSyntaxError.at(
            text,
            offset,
            'expected "then" before the actions',
            expected=("then",),
            hint=f'write "then {token.value.lower()} ..."',
        )
    if label == "missing_comma":
        return RuleSyntaxError.at(
            text,
            offset,
            'expected "," between two actions',
            expected=(",",),
            hint="separate actions with commas, like: notify here, log",
        )
    return RuleSyntaxError.at(
        text,
        offset,
        "expected a string in quotes",
        expected=("a string in quotes",),
        hint=f'put text in quotes, like "{token.value}"',
    )


def _acceptable(interactive: InteractiveParser) -> set[str]:
    """The terminals the parser would really take next (LALR's expected sets over-approximate)."""
    out: set[str] = set()
    for name in interactive.choices():
        if not name.isupper():
            continue
        try:
            copy(interactive).feed_token(Token(name, ""))
        except UnexpectedInput:
            continue
        except _Problem:
            pass  # syntactically fine; the meaning is checked once the rule is whole
        out.add(name)
    return out


def _bad_token(
    exc: UnexpectedToken | UnexpectedEOF,
    text: str,
    track: _Tracker,
    interactive: InteractiveParser,
) -> RuleSyntaxError:
    token: Token = exc.token if isinstance(exc, UnexpectedToken) else Token("$END", "")
    at_end = token.type == "$END"
    offset = len(text.rstrip()) if at_end else _start(token)
    expected = _acceptable(interactive) or set(exc.expected)
    if "LPAR" not in track.stack:
        expected.discard("_RPAR")
    seen = track.before(token)
    prev = seen[-1] if seen else None
    if prev is not None and prev.type == "NAME" and expected & _TEST_TERMINALS:
        found = _after_field(prev, token, expected, text, offset)
        if found is not None:
            return found
    numeric = len(seen) > 1 and seen[-2].value.lower() in ast.NUMBER_FIELDS
    if prev is not None and prev.type == "CMP" and numeric:
        expected = {"INT"}
    if not at_end:
        label = _classify(exc, token)
        if label is not None:
            return _labelled(label, token, text, offset)
    phrases = _describe(expected)
    lead = "the rule ends here; expected " if at_end else "expected "
    word = token.value if not at_end else ""
    hint = _did_you_mean(word, _keywords(expected)) if word.isalpha() else None
    if hint is None and prev is None:
        hint = f'a rule starts with "on", like: {EXAMPLE_RULE}'
    return RuleSyntaxError.at(
        text, offset, lead + _join(phrases), expected=_plain(phrases), hint=hint
    )


def _syntax_error(
    exc: UnexpectedInput, text: str, track: _Tracker, interactive: InteractiveParser
) -> RuleSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, text)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        return _bad_token(exc, text, track, interactive)
    return RuleSyntaxError.at(text, 0, "this rule does not parse")  # pragma: no cover


def _run(text: str) -> ast.Rule:
    interactive = _rule_parser().parse_interactive(text)
    track = _Tracker([], [])
    try:
        for tok in interactive.iter_parse():
            track.see(tok)
        last = track.history[-1] if track.history else None
        return cast(ast.Rule, interactive.feed_eof(last))
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, track, interactive) from None


def parse_rule(text: str) -> ast.Rule:
    """The rule's AST; RuleSyntaxError (only) says where and why it is wrong."""
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError.at(
            text,
            MAX_RULE_LENGTH,
            f"the rule is {len(text):,} characters long; at most {MAX_RULE_LENGTH:,}",
        )
    try:
        return _run(text)
    except _Problem as problem:
        raise RuleSyntaxError.at(text, problem.offset, problem.message, hint=problem.hint) from None
    except VisitError as exc:  # pragma: no cover - the in-parse transformer raises directly
        inner = exc.orig_exc
        if isinstance(inner, _Problem):
            raise RuleSyntaxError.at(text, inner.offset, inner.message, hint=inner.hint) from None
        raise RuleSyntaxError.at(text, 0, f"this rule does not parse: {inner}") from None
    except LarkError as exc:  # pragma: no cover - every Lark error above is an UnexpectedInput
        raise RuleSyntaxError.at(text, 0, f"this rule does not parse: {exc}") from None


# ---- commands ------------------------------------------------------------------

_COMMAND_WORDS: dict[str, str] = {
    **{name.upper(): f'"{name}"' for name in ast.COMMAND_NAMES},
    "ANONYMOUS": '"anonymous"',
    "RULE_TEXT": "a rule starting with on",
    "SCOPE": '"mine"',
    "SCOPE_ALL": '"all"',
    "ID": "a module id like 12 or #12",
    "TOKEN": "the claim token",
    "HERE": '"here"',
    "OFF": '"off"',
    "EVERY": '"every"',
    "DURATION": "a duration like 30m, 2h or 1d",
    "ON": '"on"',
    "TARGET": "a Reddit link or item id",
    "LAST": '"last"',
    "COUNT": "a whole number",
    "TOPIC": "a help topic",
    "$END": "the end of the command",
}


class _CommandBuilder(Transformer[Token, ast.Command]):
    """Turns the command tree into an ``ast.Command``; a rule goes through ``parse_rule``."""

    def start(self, items: list[ast.Command]) -> ast.Command:
        return items[0]

    def create(self, items: list[Token]) -> ast.Create:
        text, rule = _command_rule(items[-1])
        return ast.Create(text, rule, anonymous=len(items) == 3)

    def list_modules(self, items: list[Token]) -> ast.ListModules:
        scope = items[1].value.lower() if len(items) > 1 else "mine"
        return ast.ListModules(cast(Any, scope))

    def show(self, items: list[Token]) -> ast.Show:
        return ast.Show(_module_id(items[1]))

    def edit(self, items: list[Token]) -> ast.Edit:
        text, rule = _command_rule(items[2])
        return ast.Edit(_module_id(items[1]), text, rule)

    def pause(self, items: list[Token]) -> ast.Pause:
        return ast.Pause(_module_id(items[1]))

    def resume(self, items: list[Token]) -> ast.Resume:
        return ast.Resume(_module_id(items[1]))

    def delete(self, items: list[Token]) -> ast.Delete:
        return ast.Delete(_module_id(items[1]))

    def claim(self, items: list[Token]) -> ast.Claim:
        token = items[2]
        if not CLAIM_TOKEN.fullmatch(token.value):
            raise _Problem("that does not look like a claim token", _start(token))
        return ast.Claim(_module_id(items[1]), token.value)

    def test(self, items: list[Token]) -> ast.Test:
        if items[1].type == "ID":
            target = _target(items[3]) if len(items) > 2 else None
            return ast.Test(None, None, _module_id(items[1]), target)
        text, tail = _split_tail(items[1], "on", lambda word: TARGET.fullmatch(word) is not None)
        rule_text, rule = _command_rule(items[1], text)
        return ast.Test(rule_text, rule, None, tail)

    def backtest(self, items: list[Token]) -> ast.Backtest:
        if items[1].type == "ID":
            last = _last(items[3].value, _start(items[3])) if len(items) > 2 else None
            return ast.Backtest(None, None, _module_id(items[1]), last)
        text, tail = _split_tail(items[1], "last", lambda word: word.isascii() and word.isdigit())
        rule_text, rule = _command_rule(items[1], text)
        offset = _start(items[1]) + len(items[1].value.rstrip()) - len(tail or "")
        return ast.Backtest(rule_text, rule, None, _last(tail, offset) if tail else None)

    def status(self, items: list[Token]) -> ast.Status:
        return ast.Status()

    def heartbeat_on(self, items: list[Token]) -> ast.Heartbeat:
        if len(items) < 4:
            return ast.Heartbeat(True)
        seconds = _parse_duration(items[3].value, _start(items[3]), minimum=MIN_HEARTBEAT)
        return ast.Heartbeat(True, seconds)

    def heartbeat_off(self, items: list[Token]) -> ast.Heartbeat:
        return ast.Heartbeat(False)

    def help(self, items: list[Token]) -> ast.Help:
        if len(items) < 2:
            return ast.Help()
        topic = " ".join(items[1].value.split()).lower()
        if len(topic) > MAX_TOPIC_LENGTH:
            raise _Problem(
                f"a help topic is at most {MAX_TOPIC_LENGTH} characters", _start(items[1])
            )
        return ast.Help(topic)


def _module_id(tok: Token) -> int:
    digits = tok.value.lstrip("#")
    value = int(digits) if len(digits) <= 15 else MAX_MODULE_ID + 1
    if not 1 <= value <= MAX_MODULE_ID:
        raise _Problem("no module has that id", _start(tok))
    return value


def _target(tok: Token) -> str:
    if not TARGET.fullmatch(tok.value):
        raise _Problem("expected a Reddit link or an item id like t3_abc123", _start(tok))
    return tok.value


def _last(text: str, offset: int) -> int:
    value = int(text) if len(text) <= 9 else MAX_BACKTEST + 1
    if not 1 <= value <= MAX_BACKTEST:
        raise _Problem(f"last takes 1 to {MAX_BACKTEST:,} items", offset)
    return value


def _split_tail(tok: Token, keyword: str, fits: Any) -> tuple[str, str | None]:
    """Split ``... KEYWORD X`` off the end of a rule when X fits; a rule never ends that way."""
    text = tok.value.rstrip()
    parts = text.rsplit(None, 2)
    if len(parts) == 3 and parts[1].lower() == keyword and fits(parts[2]):
        return parts[0], parts[2]
    return text, None


class _RuleInCommand(Exception):
    def __init__(self, error: RuleSyntaxError) -> None:
        super().__init__(str(error))
        self.error = error


def _command_rule(tok: Token, text: str | None = None) -> tuple[str, ast.Rule]:
    rule_text = (tok.value if text is None else text).rstrip()
    try:
        return rule_text, parse_rule(rule_text)
    except RuleSyntaxError as err:
        raise _RuleInCommand(err) from None


@cache
def _command_parser() -> Lark:
    return Lark.open("commands.lark", rel_to=__file__, parser="lalr", lexer="contextual")


def _command_error(exc: UnexpectedInput, text: str) -> CommandSyntaxError:
    offset = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    if token is not None and token.type == "$END":
        offset = len(text.rstrip())
    first = not text[:offset].strip()
    word = (text[offset:].split() or [""])[0] if token is None or token.type != "$END" else ""
    if first:
        first_hint = _did_you_mean(word, ast.COMMAND_NAMES) or "the commands are " + ", ".join(
            ast.COMMAND_NAMES
        )
        message = f'unknown command "{word}"' if word else "expected a command"
        return _command_at(text, offset, message, expected=ast.COMMAND_NAMES, hint=first_hint)
    names = set(exc.expected if isinstance(exc, UnexpectedToken) else getattr(exc, "allowed", ()))
    if "SCOPE" in names:
        names.add("SCOPE_ALL")
    phrases = [p for n, p in _COMMAND_WORDS.items() if n in names]
    if isinstance(exc, UnexpectedToken) and "$END" in (exc.accepts or names):
        names.add("$END")
    phrases = [p for n, p in _COMMAND_WORDS.items() if n in names]
    keywords = [p.strip('"') for p in phrases if p.startswith('"')]
    hint: str | None = _did_you_mean(word, keywords) if word.isalpha() else None
    if "RULE_TEXT" in names and word and word.lower() in ast.STREAMS:
        hint = f'a rule starts with "on", like: {EXAMPLE_RULE}'
    lead = (
        "the command ends here; expected "
        if token is not None and token.type == "$END"
        else "expected "
    )
    message = lead + _join(phrases or ["something else"])
    return _command_at(text, offset, message, expected=_plain(phrases), hint=hint)


def _command_at(text: str, offset: int, message: str, **kw: Any) -> CommandSyntaxError:
    err = CommandSyntaxError.at(text, offset, message, **kw)
    assert isinstance(err, CommandSyntaxError)
    return err


def parse_command(text: str) -> ast.Command:
    """The command's AST; CommandSyntaxError (only) says where and why it is wrong."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise _command_at(
            text,
            MAX_COMMAND_LENGTH,
            f"the command is {len(text):,} characters long; at most {MAX_COMMAND_LENGTH:,}",
        )
    try:
        tree = _command_parser().parse(text)
        return _CommandBuilder().transform(tree)
    except UnexpectedInput as exc:
        raise _command_error(exc, text) from None
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _RuleInCommand):
            raise CommandSyntaxError.in_rule(inner.error) from None
        if isinstance(inner, _Problem):
            raise _command_at(text, inner.offset, inner.message, hint=inner.hint) from None
        raise _command_at(text, 0, f"this command does not parse: {inner}") from None
    except LarkError as exc:  # pragma: no cover - every Lark error above is an UnexpectedInput
        raise _command_at(text, 0, f"this command does not parse: {exc}") from None

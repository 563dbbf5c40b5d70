"""The one evaluator: a rule AST compiled into a predicate over an Item.

The engine, ``test``, ``backtest``, the CLI and the indexed matcher all decide
with the functions here, so they cannot disagree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bot.engine.item import Item
from bot.engine.literals import folded_literals, literal_alternatives
from bot.engine.regex import compile_regex
from bot.grammar import ast

Predicate = Callable[[Item], bool]

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def find_word(haystack: str, word: str) -> int:
    """Index of the first whole-word occurrence of ``word`` in ``haystack``, or -1."""
    start = haystack.find(word)
    end_limit = len(haystack)
    while start >= 0:
        end = start + len(word)
        before_ok = start == 0 or not is_word_char(haystack[start - 1])
        after_ok = end >= end_limit or not is_word_char(haystack[end])
        if before_ok and after_ok:
            return start
        start = haystack.find(word, start + 1)
    return -1


def text_hit(op: str, haystack: str, needle: str) -> int:
    """Where ``needle`` satisfies ``op`` in the casefolded ``haystack``, or -1."""
    if op in ("contains", "contains_all"):
        return haystack.find(needle)
    if op == "contains_word":
        return find_word(haystack, needle)
    if op == "is":
        return 0 if haystack == needle else -1
    if op == "startswith":
        return 0 if haystack.startswith(needle) else -1
    if op == "endswith":
        return len(haystack) - len(needle) if haystack.endswith(needle) else -1
    raise ValueError(f"unknown text test {op!r}")


def folded_values(test: ast.TextTest) -> tuple[str, ...]:
    return tuple(v.casefold() for v in test.values)


def _text_test(test: ast.TextTest) -> Predicate:
    """Specialised per op (same answers as ``text_hit``): the field is folded once per item."""
    name, op, needles = test.field, test.op, folded_values(test)
    if op == "contains_all":
        return lambda item: all(n in item.folded(name) for n in needles)
    if op == "contains" and len(needles) == 1:
        needle = needles[0]
        return lambda item: needle in item.folded(name)
    if op == "contains":
        return lambda item: _contains_any(item.folded(name), needles)
    if op == "is":
        choices = frozenset(needles)
        return lambda item: item.folded(name) in choices
    if op == "startswith":
        return lambda item: item.folded(name).startswith(needles)
    if op == "endswith":
        return lambda item: item.folded(name).endswith(needles)
    if op == "contains_word":
        return lambda item: _word_any(item.folded(name), needles)
    raise ValueError(f"unknown text test {op!r}")


def _contains_any(haystack: str, needles: tuple[str, ...]) -> bool:
    return any(n in haystack for n in needles)


def _word_any(haystack: str, needles: tuple[str, ...]) -> bool:
    return any(find_word(haystack, n) >= 0 for n in needles)


def _regex_test(test: ast.Matches) -> Predicate:
    """RE2 over the field's UTF-8 bytes (the same yes/no, without offset decoding), run
    only when the casefolded field holds one of the literals every match must contain;
    a case-sensitive ``/cat|dog/`` is a substring search, without RE2."""
    name, search = test.field, compile_regex(test.pattern, test.flags).search
    alternatives = None if "i" in test.flags else literal_alternatives(test.pattern)
    if alternatives is not None:
        if name == "text" and not any("\n" in a for a in alternatives):
            # text is title + "\n" + body, and no alternative spans the line break
            return lambda item: (
                _contains_any(item.title, alternatives) or _contains_any(item.body, alternatives)
            )
        return lambda item: _contains_any(item.field_text(name), alternatives)
    literals = folded_literals(test.pattern)
    if literals is None:
        return lambda item: search(item.encoded(name)) is not None
    if len(literals) == 1:
        literal = literals[0]
        return lambda item: literal in item.folded(name) and search(item.encoded(name)) is not None
    return lambda item: (
        _contains_any(item.folded(name), literals) and search(item.encoded(name)) is not None
    )


def compile_condition(cond: ast.Condition) -> Predicate:
    """A predicate for one condition tree (iterative enough for the depth limit of 20)."""
    match cond:
        case ast.TextTest():
            return _text_test(cond)
        case ast.Empty(field=name):
            return lambda item: item.field_text(name) == ""
        case ast.Matches():
            return _regex_test(cond)
        case ast.Compare(field=name, op=op, value=value):
            compare = _COMPARE[op]
            return lambda item: compare(item.number(name), value)
        case ast.Flag(name=name):
            return lambda item: item.flag(name)
        case ast.Not(operand=operand):
            inner = compile_condition(operand)
            return lambda item: not inner(item)
        case ast.And(operands=operands):
            parts = tuple(compile_condition(o) for o in cheapest_first(operands))
            if len(parts) == 2:
                first, second = parts
                return lambda item: first(item) and second(item)
            return lambda item: all(p(item) for p in parts)
        case ast.Or(operands=operands):
            parts = tuple(compile_condition(o) for o in cheapest_first(operands))
            if len(parts) == 2:
                first, second = parts
                return lambda item: first(item) or second(item)
            return lambda item: any(p(item) for p in parts)
    raise TypeError(f"not a condition: {cond!r}")


_SHORT_FIELDS = frozenset({"author", "subreddit", "flair", "author_flair", "domain", "url"})


def _cost(cond: ast.Condition) -> int:
    """A rough price of evaluating ``cond`` once, to test cheap operands first."""
    match cond:
        case ast.Compare() | ast.Flag():
            return 1
        case ast.Empty():
            return 2
        case ast.TextTest(field=name, op=op):
            return (2 if name in _SHORT_FIELDS else 4) + (2 if op == "contains_word" else 0)
        case ast.Matches():
            return 10
        case ast.Not(operand=operand):
            return _cost(operand)
        case ast.And(operands=operands) | ast.Or(operands=operands):
            return sum(map(_cost, operands))
    return 10


def cheapest_first(operands: tuple[ast.Condition, ...]) -> list[ast.Condition]:
    """Operands of ``and``/``or`` in the order cheapest first. Every predicate here is pure
    and total on a normalized item, so the order changes the time, never the answer."""
    return sorted(operands, key=_cost)


def _always(item: Item) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: ast.Rule
    streams: frozenset[str]
    subreddits: frozenset[str]
    condition: Predicate

    def in_scope(self, item: Item) -> bool:
        """Whether the item is on a watched stream and subreddit."""
        if item.stream not in self.streams:
            return False
        return not self.subreddits or item.folded("subreddit") in self.subreddits

    def matches(self, item: Item) -> bool:
        # in_scope inlined: this runs once per candidate module per item.
        if item.stream not in self.streams:
            return False
        if self.subreddits and item.folded("subreddit") not in self.subreddits:
            return False
        return self.condition(item)


def compile_rule(rule: ast.Rule) -> CompiledRule:
    return CompiledRule(
        rule=rule,
        streams=frozenset(rule.streams),
        subreddits=frozenset(s.casefold() for s in rule.subreddits),
        condition=compile_condition(rule.condition) if rule.condition is not None else _always,
    )


# ---- the text a match was made on, and why/why not ------------------------


def _positive_text_tests(cond: ast.Condition | None) -> Iterator[ast.TextTest | ast.Matches]:
    """Text tests outside any ``not``, left to right."""
    if cond is None:
        return
    if isinstance(cond, ast.TextTest | ast.Matches):
        yield cond
    elif isinstance(cond, ast.And | ast.Or):
        for operand in cond.operands:
            yield from _positive_text_tests(operand)


def _hit_text(test: ast.TextTest | ast.Matches, item: Item) -> str | None:
    original = item.field_text(test.field)
    if isinstance(test, ast.Matches):
        found = compile_regex(test.pattern, test.flags).search(original)
        return None if found is None else found.group(0)
    folded = item.folded(test.field)
    hits = [
        (text_hit(test.op, folded, n), n, v)
        for n, v in zip(folded_values(test), test.values, strict=True)
    ]
    found_hits = [h for h in hits if h[0] >= 0]
    if not found_hits or (test.op == "contains_all" and len(found_hits) < len(hits)):
        return None
    at, needle, written = min(found_hits, key=lambda h: h[0])
    if len(folded) == len(original):
        return original[at : at + len(needle)]
    return written


def match_text(rule: ast.Rule, item: Item) -> str:
    """``{match}``: the text the first matching text test matched, or ""."""
    for test in _positive_text_tests(rule.condition):
        hit = _hit_text(test, item)
        if hit is not None:
            return hit
    return ""


def explain(rule: ast.Rule, item: Item) -> list[str]:
    """Why a rule does or does not match an item: one line per check, ✓ or ✗."""
    from bot.grammar.printer import format_condition

    compiled = compile_rule(rule)
    lines: list[str] = []
    stream_ok = item.stream in compiled.streams
    lines.append(
        f"{'✓' if stream_ok else '✗'} stream: {item.stream} (watching {', '.join(rule.streams)})"
    )
    if rule.subreddits:
        sub_ok = item.folded("subreddit") in compiled.subreddits
        where = ", ".join("r/" + s for s in rule.subreddits)
        lines.append(f"{'✓' if sub_ok else '✗'} subreddit: r/{item.subreddit} (watching {where})")

    def walk(cond: ast.Condition, depth: int) -> None:
        ok = compile_condition(cond)(item)
        mark = "✓" if ok else "✗"
        indent = "  " * depth
        if isinstance(cond, ast.And | ast.Or):
            word = "all of" if isinstance(cond, ast.And) else "any of"
            lines.append(f"{indent}{mark} {word}:")
            for operand in cond.operands:
                walk(operand, depth + 1)
            return
        detail = _detail(cond, item)
        lines.append(f"{indent}{mark} {format_condition(cond)}{detail}")

    if rule.condition is not None:
        walk(rule.condition, 0)
    return lines


def _detail(cond: ast.Condition, item: Item) -> str:
    name = getattr(cond, "field", None) or getattr(cond, "name", None)
    if isinstance(cond, ast.Compare):
        return f"  ({cond.field} is {item.number(cond.field)})"
    if isinstance(cond, ast.Flag):
        return f"  ({cond.name} is {'set' if item.flag(cond.name) else 'not set'})"
    if isinstance(cond, ast.Not) or not isinstance(name, str):
        return ""
    value = item.field_text(name)
    shown = value if len(value) <= 80 else value[:80] + "…"
    return f"  ({name} is {shown!r})"

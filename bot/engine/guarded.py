"""A module's condition decided with the atoms that hit the item, as one Python function.

The index scans every field once for the atoms of all modules (bot/engine/atoms.py). A
candidate's condition then reads those hits instead of the text where it can: a text test
none of whose atoms hit is false, and one its atoms decide exactly (``contains``, ``is``,
``is empty``, a regex without a literal, which is its own atom) is true on a hit. Other
tests ask the evaluator's own predicate (bot/engine/evaluate.py), so both matchers decide
every leaf the same way.

The condition becomes the source of one function, ``cond(item, hits)``, compiled once
when the module is added: a candidate costs one call instead of a call per node of the
condition. The source holds only integers (atom ids), names from fixed tables and
operators; every value the user wrote is passed in as a constant, never pasted in.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

from bot.engine.atoms import (
    AtomKey,
    Requirement,
    contains_atoms,
    indexable_needle,
    requirement,
)
from bot.engine.evaluate import cheapest_first, compile_condition, find_word, folded_values
from bot.engine.item import Item
from bot.engine.literals import literal_alternatives
from bot.grammar import ast

Guarded = Callable[[Item, AbstractSet[int]], bool]
Acquire = Callable[[AtomKey], int]

_NUMBERS = {"score": "item.score", "comments": "item.comments"}
_FLAGS = {"nsfw": "item.nsfw", "spoiler": "item.spoiler", "self": "item.self"}
_OPERATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "==", "!=": "!="}


def exact(cond: ast.Condition, needed: Requirement) -> bool:
    """Whether a hit of one of the test's atoms (its ``requirement``) means the test holds:
    a plain ``contains`` (its needles are the atoms), ``is`` and ``is empty`` (equality
    atoms), and a regex without a literal (the atom is the regex itself, searched in the
    same field: items are normalized, so RE2 always gets valid UTF-8). ``contains all``,
    words, prefixes, suffixes and regexes with literals only narrow it down (``contains
    all`` is decided with one atom set per needle instead)."""
    if isinstance(cond, ast.Empty):
        return True
    if isinstance(cond, ast.Matches):
        return all(key[0] == "regex" for key in needed)
    return isinstance(cond, ast.TextTest) and cond.op in ("contains", "is")


def _case_sensitive_literals(test: ast.Matches) -> tuple[str, ...] | None:
    """The literals of a ``/cat|dog/`` without the ``i`` flag, when all can be scanned."""
    if "i" in test.flags:
        return None
    alternatives = literal_alternatives(test.pattern)
    if alternatives is None or not all(indexable_needle(a.casefold()) for a in alternatives):
        return None
    return alternatives


class _Source:
    """The expression of one condition, and the constants it refers to by name."""

    def __init__(self, acquire: Acquire) -> None:
        self.acquire = acquire
        self.atoms: list[int] = []
        self.constants: dict[str, Any] = {"find_word": find_word}

    def constant(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def atom(self, key: AtomKey) -> str:
        atom = self.acquire(key)
        self.atoms.append(atom)
        return str(atom)

    def decide(self, cond: ast.Condition) -> str:
        """Ask the evaluator."""
        return f"{self.constant(compile_condition(cond))}(item)"

    def expression(self, cond: ast.Condition) -> str:
        match cond:
            case ast.Compare(field=name, op=op, value=value) if name in _NUMBERS:
                return f"{_NUMBERS[name]} {_OPERATORS[op]} {self.constant(value)}"
            case ast.Flag(name=name) if name in _FLAGS:
                return _FLAGS[name]
            case ast.Not(operand=operand):
                return f"not ({self.expression(operand)})"
            case ast.And(operands=operands):
                return " and ".join(f"({self.expression(o)})" for o in cheapest_first(operands))
            case ast.Or(operands=operands):
                return " or ".join(f"({self.expression(o)})" for o in cheapest_first(operands))
            case ast.TextTest() | ast.Empty() | ast.Matches():
                return self.leaf(cond)
        return self.decide(cond)

    def leaf(self, cond: ast.TextTest | ast.Empty | ast.Matches) -> str:
        needed = requirement(cond)
        if needed is None:
            return self.decide(cond)
        keys = sorted(needed)
        if isinstance(cond, ast.TextTest) and cond.op == "contains_word":
            # Looked for only in the fields whose atom for it hit: a word of ``text`` is a
            # word of the title or of the body (the line break between them is a
            # boundary, and a needle without one cannot span it).
            return " or ".join(
                f"({self.atom(key)} in hits and find_word(item.folded({self.constant(key[1])}),"
                f" {self.constant(key[2])}) >= 0)"
                for key in keys
            )
        if isinstance(cond, ast.Matches) and (alternatives := _case_sensitive_literals(cond)):
            # /cat|dog/ without i: look for each literal, as written, only where its
            # casefolded atom hit (text: in the title or the body, which hold the same).
            return " or ".join(
                f"({self.atom(key)} in hits and {self.constant(literal)}"
                f" in item.field_text({self.constant(key[1])}))"
                for literal in alternatives
                for key in sorted(contains_atoms(cond.field, (literal.casefold(),)))
            )
        if isinstance(cond, ast.TextTest) and cond.op == "contains_all":
            needles = folded_values(cond)
            if all(map(indexable_needle, needles)):  # each needle is in the text or not
                return " and ".join(
                    f"({self.hit(contains_atoms(cond.field, (n,)))})" for n in needles
                )
        hit = self.hit(needed)
        if exact(cond, needed):
            return hit
        return f"{hit} and {self.decide(cond)}"

    def hit(self, needed: Requirement) -> str:
        """True when one of the atoms hit."""
        atoms = [self.atom(key) for key in sorted(needed)]
        if len(atoms) == 1:
            return f"{atoms[0]} in hits"
        return f"not {self.constant(frozenset(map(int, atoms)))}.isdisjoint(hits)"


def guarded(cond: ast.Condition, acquire: Acquire) -> tuple[Guarded, list[int]]:
    """``cond`` as one compiled function of (item, atoms that hit), and the atoms it reads,
    each acquired from the index (once per use: release each one when the module goes)."""
    source = _Source(acquire)
    body = source.expression(cond)
    code = compile(f"def cond(item, hits):\n    return bool({body})\n", "<condition>", "exec")
    namespace = dict(source.constants)
    exec(code, namespace)  # noqa: S102 - the source is built from fixed tables; see above
    function: Guarded = namespace["cond"]
    return function, source.atoms

"""What a condition requires of an item, as *atoms*: cheap facts about one item.

An atom is ("contains", field, needle), ("equals", field, value), ("regex", field,
flags, pattern) — needles and values casefolded — or a number or flag fact:
("at_least"|"at_most", field, bound) and ("flag", name). A condition's requirement is a
set of atoms such that the condition cannot hold unless at least one of them does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bot.engine.evaluate import folded_values
from bot.engine.literals import required_literals
from bot.grammar import ast

AtomKey = tuple[str, ...]
Requirement = frozenset[AtomKey]

MIN_NEEDLE = 2  # a one-character needle hits nearly every item: not worth indexing
OTHER_KINDS = frozenset({"at_least", "at_most", "flag"})  # tested per bucket, not scanned


def _atom_cost(atom: AtomKey) -> float:
    """A rough chance that the atom hits a random item, to pick the rarest requirement."""
    kind, value = atom[0], atom[-1]
    if kind == "equals":
        return 0.9 if value == "" else 0.01
    if kind == "regex":
        return 0.3
    if kind == "flag":
        return _FLAG_COST.get(value, 0.3)
    if kind == "at_least":  # the higher the bound, the rarer; text is preferred all the same
        return max(0.2, 1.0 - 0.2 * math.log10(max(int(value), 1)))
    if kind == "at_most":
        return 0.9
    return {1: 0.6, 2: 0.5, 3: 0.2, 4: 0.1}.get(len(value), 0.05)


_FLAG_COST = {"spoiler": 0.05, "nsfw": 0.1, "self": 0.4}


def _cost(requirement: Requirement) -> float:
    return sum(_atom_cost(a) for a in requirement)


def indexable_needle(needle: str) -> bool:
    """One ASCII character hits nearly every item; one emoji or other rare character does not."""
    return len(needle) >= MIN_NEEDLE or (needle != "" and not needle.isascii())


def contains_atoms(name: str, needles: Iterable[str]) -> Requirement:
    """``text`` is title + "\n" + body, so a needle without a line break is in the text
    exactly when it is in the title or the body: scanning those two is enough."""
    atoms: set[AtomKey] = set()
    for needle in needles:
        if name == "text" and "\n" not in needle:
            atoms.update((("contains", "title", needle), ("contains", "body", needle)))
        else:
            atoms.add(("contains", name, needle))
    return frozenset(atoms)


def _text_requirement(test: ast.TextTest) -> Requirement | None:
    needles = folded_values(test)
    if test.op == "is":
        return frozenset(("equals", test.field, n) for n in needles)
    if test.op == "contains_all":
        needles = (max(needles, key=len),)
    if not needles or not all(map(indexable_needle, needles)):
        return None
    return contains_atoms(test.field, needles)


def _regex_requirement(test: ast.Matches) -> Requirement:
    literals = required_literals(test.pattern)
    if literals is not None:
        needles = {lit.casefold() for lit in literals}
        if all(map(indexable_needle, needles)):
            return contains_atoms(test.field, needles)
    return frozenset({("regex", test.field, test.flags, test.pattern)})


def _compare_requirement(test: ast.Compare) -> Requirement | None:
    """``score >= 10`` needs score at least 10; ``!=`` excludes one value and needs nothing."""
    bound = {">=": 0, ">": 1, "=": 0}.get(test.op)
    if bound is not None:
        return frozenset({("at_least", test.field, str(test.value + bound))})
    bound = {"<=": 0, "<": -1}.get(test.op)
    if bound is not None:
        return frozenset({("at_most", test.field, str(test.value + bound))})
    return None


def requirement(cond: ast.Condition | None) -> Requirement | None:
    """Atoms one of which must hit for ``cond`` to hold; None when no such set exists.
    Numeric atoms (``at_least``/``at_most``, the bound as text) and ``flag`` atoms are
    tested per scope bucket (sorted thresholds, flag sets), not by the automata."""
    match cond:
        case ast.Compare():
            return _compare_requirement(cond)
        case ast.Flag(name=name):
            return frozenset({("flag", name)})
        case ast.TextTest():
            return _text_requirement(cond)
        case ast.Empty(field=name):
            return frozenset({("equals", name, "")})
        case ast.Matches():
            return _regex_requirement(cond)
        case ast.And(operands=operands):
            options = [r for r in map(requirement, operands) if r is not None]
            return min(options, key=_cost) if options else None
        case ast.Or(operands=operands):
            parts = [requirement(o) for o in operands]
            if not parts or any(p is None for p in parts):
                return None
            return frozenset().union(*(p for p in parts if p is not None))
    return None

"""Which modules match an item, without evaluating every module on every item.

Each module's condition is reduced to *atoms*: cheap facts about one item (a casefolded
field contains a needle, equals a value, or a regular expression matches it) such that
the condition cannot hold unless at least one of its atoms does. Per item, every field is
scanned once for all atoms of all modules (Aho-Corasick over needles, a dict for
equality, RE2 sets for regular expressions without a required literal), and only the
modules behind the atoms that hit, plus those whose condition cannot be reduced, are
evaluated. A candidate's condition is compiled by bot/engine/guarded.py to read the same
hits (a text test whose atoms missed is false without reading the text) and to ask the
evaluator that ``PlainMatcher`` uses for everything the atoms cannot decide.

Adding or removing a module never rebuilds on the spot. New atoms wait in a short tail
that is probed one by one; the next ``match`` folds a full tail into a small "recent"
automaton, and only when that grows past a quarter of the main one is the main one
rebuilt, so each new atom costs O(1) amortized automaton work and the largest stall is
one field's rebuild, once per many additions. Removed atoms stay in the automata, hitting
nothing, until a rebuild drops them.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import ahocorasick
import re2

from bot.engine.atoms import OTHER_KINDS, AtomKey, requirement
from bot.engine.guarded import Guarded, guarded
from bot.engine.item import Item
from bot.engine.regex import compile_regex, options_for, source_for
from bot.grammar import ast

Automaton = Literal["aho", "re2"]
Text = str | bytes  # folded str for needles, UTF-8 for regexes
Scope = tuple[str, str | None]  # (stream, casefolded subreddit, or ALL for every one)

TAIL_MAX = 32  # new atoms probed one by one before they are compiled ...
TAIL_WAIT = 256  # ... or until this many items have been matched
RECENT_MIN = 512  # the recent automaton may grow to max(this, main / 4) atoms
SET_MAX_MEM = 256 << 20  # RE2 set memory; a set that still runs out is probed one by one
ALL = None  # the subreddit key of modules that watch every subreddit

_second = operator.itemgetter(1)
_NO_HITS: frozenset[int] = frozenset()


# ---- scanners: one compiled multi-pattern search ------------------------------------


class _Scanner(Protocol):
    def scan(self, text: Text, hits: set[int]) -> None: ...


class _AhoScanner:
    """Aho-Corasick over needles; values are atom ids."""

    __slots__ = ("_automaton",)

    def __init__(self, entries: dict[int, str]) -> None:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for atom, needle in entries.items():
            automaton.add_word(needle, atom)
        automaton.make_automaton()
        self._automaton = automaton

    def scan(self, text: Text, hits: set[int]) -> None:
        hits.update(map(_second, self._automaton.iter(text)))


class _SetScanner:
    """An RE2 set. Pattern 0 is empty and always matches, so a result without it means
    RE2's DFA ran out of memory, and then every pattern is probed on its own."""

    __slots__ = ("_set", "_atoms", "_entries", "_probe")

    def __init__(
        self,
        entries: dict[int, str],
        *,
        options: Any,
        to_pattern: Callable[[str], str],
        probe: Callable[[str, Any], bool],
    ) -> None:
        self._set = re2.Set.SearchSet(options)
        self._set.Add("")
        self._atoms = [-1]
        for atom, key in entries.items():
            self._set.Add(to_pattern(key))
            self._atoms.append(atom)
        self._set.Compile()
        self._entries = entries
        self._probe = probe

    def scan(self, text: Text, hits: set[int]) -> None:
        try:
            found = self._set.Match(text)
        except UnicodeEncodeError:  # a lone surrogate: let the evaluator decide, as plain does
            hits.update(self._atoms[1:])
            return
        if found and found[0] == 0:
            hits.update(map(self._atoms.__getitem__, found[1:]))
            return
        probe = self._probe
        hits.update(atom for atom, key in self._entries.items() if probe(key, text))


def _set_options(flags: str = "") -> Any:
    options = options_for(flags)
    options.max_mem = SET_MAX_MEM
    return options


def _contains(needle: str, text: str) -> bool:
    return needle in text


def _literal_scanner(automaton: Automaton) -> Callable[[dict[int, str]], _Scanner]:
    if automaton == "aho":
        return _AhoScanner

    def build(entries: dict[int, str]) -> _Scanner:
        options = _set_options()
        return _SetScanner(entries, options=options, to_pattern=re2.escape, probe=_contains)

    return build


def _regex_probe(flags: str) -> Callable[[str, Any], bool]:
    def probe(pattern: str, text: Text) -> bool:
        try:
            return compile_regex(pattern, flags).search(text) is not None
        except UnicodeEncodeError:
            return True  # a candidate: the evaluator answers (or fails) as plain would

    return probe


def _regex_scanner(flags: str) -> Callable[[dict[int, str]], _Scanner]:
    def build(entries: dict[int, str]) -> _Scanner:
        return _SetScanner(
            entries,
            options=_set_options(flags),
            to_pattern=lambda pattern: source_for(pattern, flags),
            probe=_regex_probe(flags),
        )

    return build


# ---- a growable pattern index: main automaton, recent automaton, tail ---------------


class _TieredIndex:
    """Patterns for one field: compiled in tiers so an addition never rebuilds them all."""

    def __init__(
        self,
        build: Callable[[dict[int, str]], _Scanner],
        probe: Callable[[str, Any], bool],
        *,
        recent_min: int,
    ) -> None:
        self._build = build
        self._probe = probe
        self._recent_min = recent_min
        self._main: dict[int, str] = {}
        self._recent: dict[int, str] = {}
        self._tail: dict[int, str] = {}
        self._dead: set[int] = set()
        self._main_scanner: _Scanner | None = None
        self._recent_scanner: _Scanner | None = None
        self.rebuilds = 0

    def __len__(self) -> int:
        return len(self._main) + len(self._recent) + len(self._tail) - len(self._dead)

    def add(self, atom: int, pattern: str) -> None:
        self._tail[atom] = pattern

    def revive(self, atom: int) -> None:
        self._dead.discard(atom)

    def kill(self, atom: int) -> bool:
        """Forget an atom; True when it is gone now, False when a rebuild will drop it."""
        if self._tail.pop(atom, None) is not None:
            return True
        self._dead.add(atom)
        return False

    def needs_work(self) -> bool:
        return bool(self._tail) or self.too_many_dead()

    def too_many_dead(self) -> bool:
        return len(self._dead) > max(self._recent_min, len(self) // 2)

    def maintain(self) -> list[int]:
        """Compile the tail into the recent tier, or everything into the main one when the
        recent tier would outgrow a quarter of it; returns the dead atoms dropped."""
        grown = len(self._recent) + len(self._tail) > max(self._recent_min, len(self._main) // 4)
        if not grown and not self.too_many_dead():
            self._recent.update(self._tail)
            self._tail = {}
            self._recent_scanner = self._build(self._recent) if self._recent else None
            self.rebuilds += 1
            return []
        merged = {**self._main, **self._recent, **self._tail}
        dropped = [a for a in self._dead if a in merged]
        for atom in dropped:
            del merged[atom]
        self._main, self._recent, self._tail, self._dead = merged, {}, {}, set()
        self._main_scanner = self._build(merged) if merged else None
        self._recent_scanner = None
        self.rebuilds += 1
        return dropped

    def scan(self, text: Text, hits: set[int]) -> None:
        if self._main_scanner is not None:
            self._main_scanner.scan(text, hits)
        if self._recent_scanner is not None:
            self._recent_scanner.scan(text, hits)
        if self._tail:
            probe = self._probe
            hits.update(atom for atom, pattern in self._tail.items() if probe(pattern, text))


# ---- the matcher --------------------------------------------------------------------


class _Thresholds:
    """Modules that need a number at least (or at most) some bound, sorted by the bound, so
    one bisection per item finds those whose bound it meets and skips all the others."""

    __slots__ = ("bounds", "modules")

    def __init__(self) -> None:
        self.bounds: list[int] = []
        self.modules: list[int] = []

    def __len__(self) -> int:
        return len(self.bounds)

    def add(self, bound: int, module_id: int) -> None:
        at = bisect.bisect_right(self.bounds, bound)
        self.bounds.insert(at, bound)
        self.modules.insert(at, module_id)

    def remove(self, bound: int, module_id: int) -> None:
        at = bisect.bisect_left(self.bounds, bound)
        while self.modules[at] != module_id:
            at += 1
        del self.bounds[at], self.modules[at]


class _Bucket:
    """The modules of one scope (stream, casefolded subreddit or ALL), by what brings them
    to evaluation: always, an automaton or equality atom, a number, or a flag."""

    __slots__ = ("always", "postings", "numbers", "flags")

    def __init__(self) -> None:
        self.always: set[int] = set()
        self.postings: dict[int, set[int]] = {}
        self.numbers: dict[tuple[str, str], _Thresholds] = {}  # (at_least|at_most, field)
        self.flags: dict[str, set[int]] = {}

    def __bool__(self) -> bool:
        return bool(self.always or self.postings or self.numbers or self.flags)

    def add_other(self, key: AtomKey, module_id: int) -> None:
        """A numeric or flag atom of a module."""
        if key[0] == "flag":
            self.flags.setdefault(key[1], set()).add(module_id)
        else:
            self.numbers.setdefault((key[0], key[1]), _Thresholds()).add(int(key[2]), module_id)

    def remove_other(self, key: AtomKey, module_id: int) -> None:
        if key[0] == "flag":
            _discard(self.flags, key[1], module_id)
            return
        thresholds = self.numbers[(key[0], key[1])]
        thresholds.remove(int(key[2]), module_id)
        if not thresholds:
            del self.numbers[(key[0], key[1])]

    def collect(self, item: Item, hits: AbstractSet[int], found: set[int]) -> None:
        """Add this bucket's candidates for the item, given the atoms that hit it."""
        if self.always:
            found |= self.always
        postings = self.postings
        if postings and hits:
            for atom in postings.keys() & hits:
                found |= postings[atom]
        if self.numbers:
            for (kind, name), thresholds in self.numbers.items():
                value = getattr(item, name)  # score or comments
                bounds = thresholds.bounds
                if kind == "at_least":
                    if value >= bounds[0]:
                        found.update(thresholds.modules[: bisect.bisect_right(bounds, value)])
                elif value <= bounds[-1]:
                    found.update(thresholds.modules[bisect.bisect_left(bounds, value) :])
        if self.flags:
            for name, modules in self.flags.items():
                if getattr(item, name):  # nsfw, spoiler or self
                    found |= modules


@dataclass(frozen=True, slots=True)
class _Module:
    atoms: tuple[int, ...]  # automaton and equality atoms
    others: tuple[AtomKey, ...]  # numeric and flag atoms; no atoms at all: always evaluated
    scopes: tuple[Scope, ...]
    leaf_atoms: tuple[int, ...]  # atoms its guarded condition reads from the hits


class IndexedMatcher:
    """The Matcher for many modules: candidates from per-field automata, then their
    conditions over the atoms that hit (and the one evaluator for what atoms cannot tell)."""

    def __init__(
        self,
        *,
        automaton: Automaton = "aho",
        tail_max: int = TAIL_MAX,
        tail_wait: int = TAIL_WAIT,
        recent_min: int = RECENT_MIN,
    ) -> None:
        self._automaton: Automaton = automaton
        self._tail_max = tail_max
        self._tail_wait = tail_wait
        self._recent_min = recent_min
        self._modules: dict[int, _Module] = {}
        # Candidates come only from the item's own scope buckets, so the condition alone
        # decides (no scope check per candidate).
        self._conditions: dict[int, Guarded] = {}
        self._readers: set[int] = set()  # conditions that read hits, of modules without postings
        self._atom_ids: dict[AtomKey, int] = {}
        self._atom_keys: dict[int, AtomKey] = {}
        self._refs: dict[int, int] = {}
        self._next_atom = 0
        self._contains: dict[str, _TieredIndex] = {}
        self._regex: dict[tuple[str, str], _TieredIndex] = {}
        self._equals: dict[str, dict[str, int]] = {}
        self._buckets: dict[Scope, _Bucket] = {}
        self._pending = 0  # atoms waiting in tails (or 1 for too many dead ones)
        self._waited = 0  # items matched while they wait

    def __len__(self) -> int:
        return len(self._modules)

    # -- changes

    def add(self, module_id: int, rule: ast.Rule) -> None:
        if module_id in self._modules:
            self.remove(module_id)
        needed = requirement(rule.condition) or frozenset()
        others = tuple(sorted(k for k in needed if k[0] in OTHER_KINDS))
        atoms = tuple(sorted(self._acquire(k) for k in needed if k[0] not in OTHER_KINDS))
        subreddits = tuple(sorted({s.casefold() for s in rule.subreddits})) or (ALL,)
        scopes = tuple((stream, sub) for stream in sorted(set(rule.streams)) for sub in subreddits)
        condition: Guarded = _always
        leaf_atoms: list[int] = []
        if rule.condition is not None:
            condition, leaf_atoms = guarded(rule.condition, self._acquire)
        self._conditions[module_id] = condition
        if leaf_atoms and not atoms:  # a candidate by number, flag or always, reading hits
            self._readers.add(module_id)
        self._modules[module_id] = _Module(atoms, others, scopes, tuple(leaf_atoms))
        for scope in scopes:
            bucket = self._buckets.get(scope)
            if bucket is None:
                bucket = self._buckets[scope] = _Bucket()
            if not needed:
                bucket.always.add(module_id)
            for atom in atoms:
                bucket.postings.setdefault(atom, set()).add(module_id)
            for key in others:
                bucket.add_other(key, module_id)

    def remove(self, module_id: int) -> None:
        module = self._modules.pop(module_id, None)
        if module is None:
            return
        del self._conditions[module_id]
        self._readers.discard(module_id)
        for scope in module.scopes:
            bucket = self._buckets[scope]
            bucket.always.discard(module_id)
            for atom in module.atoms:
                _discard(bucket.postings, atom, module_id)
            for key in module.others:
                bucket.remove_other(key, module_id)
            if not bucket:
                del self._buckets[scope]
        for atom in (*module.atoms, *module.leaf_atoms):
            self._release(atom)

    def _acquire(self, key: AtomKey) -> int:
        atom = self._atom_ids.get(key)
        if atom is not None:
            if self._refs[atom] == 0 and key[0] != "equals":
                self._index_of(key).revive(atom)
            self._refs[atom] += 1
            return atom
        atom = self._next_atom
        self._next_atom += 1
        self._atom_ids[key], self._atom_keys[atom], self._refs[atom] = atom, key, 1
        if key[0] == "equals":
            self._equals.setdefault(key[1], {})[key[2]] = atom
        else:
            self._index_of(key).add(atom, key[-1])
            self._pending += 1
        return atom

    def _release(self, atom: int) -> None:
        self._refs[atom] -= 1
        if self._refs[atom]:
            return
        key = self._atom_keys[atom]
        if key[0] == "equals":
            values = self._equals[key[1]]
            del values[key[2]]
            if not values:
                del self._equals[key[1]]
            self._forget(atom)
            return
        index = self._index_of(key)
        if index.kill(atom):
            self._forget(atom)
        elif index.too_many_dead():
            self._pending = max(self._pending, 1)

    def _forget(self, atom: int) -> None:
        key = self._atom_keys.pop(atom)
        del self._atom_ids[key], self._refs[atom]

    def _index_of(self, key: AtomKey) -> _TieredIndex:
        if key[0] == "contains":
            index = self._contains.get(key[1])
            if index is None:
                index = _TieredIndex(
                    _literal_scanner(self._automaton), _contains, recent_min=self._recent_min
                )
                self._contains[key[1]] = index
            return index
        flags = key[2]
        found = self._regex.get((key[1], flags))
        if found is None:
            found = _TieredIndex(
                _regex_scanner(flags), _regex_probe(flags), recent_min=self._recent_min
            )
            self._regex[(key[1], flags)] = found
        return found

    def maintain(self) -> None:
        """Compile waiting atoms now; ``match`` calls it once more than ``tail_max`` atoms
        wait or they have waited ``tail_wait`` items, so additions cost O(1) amortized."""
        for index in (*self._contains.values(), *self._regex.values()):
            if index.needs_work():
                for atom in index.maintain():
                    self._forget(atom)
        self._pending = self._waited = 0

    # -- matching

    def hits(self, item: Item) -> set[int]:
        """The atoms that hold for this item (dead ones included; they lead nowhere)."""
        found: set[int] = set()
        for name, index in self._contains.items():
            text = item.folded(name)
            if text:
                index.scan(text, found)
        for name, values in self._equals.items():
            atom = values.get(item.folded(name))
            if atom is not None:
                found.add(atom)
        for (name, _flags), index in self._regex.items():
            index.scan(item.encoded(name), found)  # the UTF-8 the evaluator searches too
        return found

    def candidates(self, item: Item) -> tuple[set[int], AbstractSet[int]]:
        """Modules worth evaluating: those of the item's scope buckets whose atoms hit, or
        that are evaluated on every item of their scope; and the atoms that hit."""
        if self._pending:
            self._waited += 1
            if self._pending > self._tail_max or self._waited >= self._tail_wait:
                self.maintain()
        stream = item.stream
        get = self._buckets.get
        found: set[int] = set()
        everywhere, here = get((stream, ALL)), get((stream, item.folded("subreddit")))
        if everywhere is None and here is None:
            return found, _NO_HITS
        hits: AbstractSet[int] = _NO_HITS
        if (everywhere is not None and everywhere.postings) or (here is not None and here.postings):
            hits = self.hits(item)
        if everywhere is not None:
            everywhere.collect(item, hits, found)
        if here is not None:
            here.collect(item, hits, found)
        if hits is _NO_HITS and found and not self._readers.isdisjoint(found):
            hits = self.hits(item)  # only now: a candidate's condition reads them
        return found, hits

    def match(self, item: Item) -> list[int]:
        conditions = self._conditions
        found, hits = self.candidates(item)
        return [mid for mid in sorted(found) if conditions[mid](item, hits)]

    def stats(self) -> dict[str, int]:
        """Sizes, for ``status`` and the benchmark."""
        always = set().union(*(b.always for b in self._buckets.values()))
        return {
            "modules": len(self._modules),
            "always_evaluated": len(always),
            "atoms": len(self._refs),
            "rebuilds": sum(i.rebuilds for i in (*self._contains.values(), *self._regex.values())),
        }


def _always(item: Item, hits: AbstractSet[int]) -> bool:
    return True


def _discard(table: dict[Any, set[int]], key: Any, module_id: int) -> None:
    members = table.get(key)
    if members is None:
        return
    members.discard(module_id)
    if not members:
        del table[key]

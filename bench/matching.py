"""Matching benchmark: every rule over every item, with the plain or the indexed matcher.

    python -m bench.matching --rules FILE [--items FILE] [--engine indexed|plain] [--json]
    python -m bench.matching --generate N [--seed S] [--out FILE]

Items default to ../shared/reddit/corpus.jsonl.gz (posts and comments; messages are not
items). See bench/README.md for the numbers and how to reproduce them.
"""

from __future__ import annotations

import argparse
import collections
import gc
import gzip
import json
import os
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from bot.engine.index import Automaton, IndexedMatcher
from bot.engine.item import Item, ItemError, item_from_thing
from bot.engine.matcher import Matcher, PlainMatcher
from bot.grammar import ast
from bot.grammar.parser import parse_rule

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "reddit" / "corpus.jsonl.gz"
WORD = re.compile(r"[^\W\d_]{4,}")
SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9_]{2,21}")
KEYWORD_RANKS = (300, 20000)  # document-frequency ranks of words people watch for
ENGINES: dict[str, Callable[[], Matcher]] = {
    "indexed": IndexedMatcher,
    "plain": PlainMatcher,
    "indexed-re2": lambda: IndexedMatcher(automaton="re2"),
}


# ---- input ----------------------------------------------------------------------------


def load_items(path: Path) -> list[Item]:
    """Posts and comments from a JSON-lines file of Reddit things (optionally .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    items: list[Item] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    items.append(item_from_thing(json.loads(line)))
                except ItemError:
                    continue
    return items


def read_rules(path: Path) -> list[str]:
    """One rule a line; blank lines and # comments skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# ---- measuring -----------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident memory now (Linux), or the peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(frozen=True, slots=True)
class Result:
    engine: str
    items: int
    modules: int
    seconds: float
    matches: int
    build_seconds: float
    rss_per_module_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "items": self.items,
            "modules": self.modules,
            "seconds": round(self.seconds, 4),
            "items_per_second": round(self.items / self.seconds, 1) if self.seconds else None,
            "matches": self.matches,
            "build_seconds": round(self.build_seconds, 4),
            "rss_per_module_bytes": self.rss_per_module_bytes,
        }


def build(engine: str, rules: Sequence[ast.Rule]) -> Matcher:
    matcher = ENGINES[engine]()
    for module_id, rule in enumerate(rules, start=1):
        matcher.add(module_id, rule)
    if isinstance(matcher, IndexedMatcher):
        matcher.maintain()
    return matcher


def fresh(items: Sequence[Item]) -> list[Item]:
    """Copies with empty casefold caches, so every pass pays for folding as a live item does."""
    return [replace(item, _folded={}, _encoded={}) for item in items]


def run(
    engine: str, rule_texts: Sequence[str], items: Sequence[Item], *, repeat: int = 1
) -> Result:
    """Parse and index the rules (memory measured around it), then match every item once
    per pass; the fastest of ``repeat`` passes counts (the machine is shared)."""
    parse_rule("on posts then log")  # load the parser before the baseline
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    matcher = build(engine, [parse_rule(text) for text in rule_texts])
    build_seconds = time.perf_counter() - started
    gc.collect()
    grown = max(rss_bytes() - before, 0)
    seconds = float("inf")
    for _ in range(repeat):
        batch = fresh(items)
        started = time.perf_counter()
        matches = sum(len(matcher.match(item)) for item in batch)
        seconds = min(seconds, time.perf_counter() - started)
    return Result(
        engine=engine,
        items=len(items),
        modules=len(rule_texts),
        seconds=seconds,
        matches=matches,
        build_seconds=build_seconds,
        rss_per_module_bytes=grown // max(len(rule_texts), 1),
    )


def churn(rule_texts: Sequence[str], items: Sequence[Item], *, rounds: int = 200) -> dict[str, Any]:
    """Cost of adding and removing one module at this size, and of the rebuilds it causes."""
    rules = [parse_rule(text) for text in rule_texts]
    matcher = IndexedMatcher()
    for module_id, rule in enumerate(rules[:-rounds], start=1):
        matcher.add(module_id, rule)
    matcher.maintain()
    adds: list[float] = []
    removes: list[float] = []
    matches: list[float] = []
    for n, rule in enumerate(rules[-rounds:]):
        module_id = len(rules) + n + 1
        t0 = time.perf_counter()
        matcher.add(module_id, rule)
        t1 = time.perf_counter()
        matcher.match(items[n % len(items)])
        t2 = time.perf_counter()
        matcher.remove(n + 1)
        t3 = time.perf_counter()
        adds.append(t1 - t0)
        matches.append(t2 - t1)
        removes.append(t3 - t2)
    return {
        "modules": len(matcher),
        "rounds": rounds,
        "add_us_median": round(sorted(adds)[len(adds) // 2] * 1e6, 1),
        "remove_us_median": round(sorted(removes)[len(removes) // 2] * 1e6, 1),
        "match_after_add_us_median": round(sorted(matches)[len(matches) // 2] * 1e6, 1),
        "match_after_add_ms_max": round(max(matches) * 1e3, 2),
        "rebuilds": matcher.stats()["rebuilds"],
    }


def compare_automata(
    rule_texts: Sequence[str], items: Sequence[Item], *, repeat: int = 3
) -> dict[str, Any]:
    """Aho-Corasick against RE2 sets for the needles: build time, scan time, memory, agreement."""
    rules = [parse_rule(text) for text in rule_texts]
    report: dict[str, Any] = {"modules": len(rules), "items": len(items)}
    found: dict[str, list[set[int]]] = {}
    batch = fresh(items)
    for item in batch:  # fold first: only the scans are timed
        for name in ast.TEXT_FIELDS:
            item.folded(name)
    automata: tuple[Automaton, ...] = ("aho", "re2")
    for automaton in automata:
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        matcher = IndexedMatcher(automaton=automaton)
        for module_id, rule in enumerate(rules, start=1):
            matcher.add(module_id, rule)
        matcher.maintain()
        built = time.perf_counter() - started
        after_build = rss_bytes()
        found[automaton] = [matcher.hits(item) for item in batch]
        grown = rss_bytes() - after_build
        scanned = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            for item in batch:
                matcher.hits(item)
            scanned = min(scanned, time.perf_counter() - started)
        report[automaton] = {
            "build_seconds": round(built, 3),
            "scan_us_per_item": round(scanned / len(items) * 1e6, 2),
            "index_rss_bytes": after_build - before,
            "rss_growth_while_scanning_bytes": grown,
            "atoms": matcher.stats()["atoms"],
        }
        del matcher
    report["same_hits"] = found["aho"] == found["re2"]
    return report


# ---- generating realistic rules ------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _values(values: Sequence[str]) -> str:
    if len(values) == 1:
        return _quote(values[0])
    return "[" + ", ".join(_quote(v) for v in values) + "]"


@dataclass(slots=True)
class Vocabulary:
    """What the corpus offers to write rules with."""

    keywords: list[str]
    subreddits: list[str]
    busy_subreddits: list[str]
    flairs: list[str]
    authors: list[str]
    author_flairs: list[str]
    domains: list[str]
    title_ends: list[str]
    title_starts: list[str]
    scores: list[int]

    @classmethod
    def of(cls, items: Sequence[Item]) -> Vocabulary:
        doc_freq: collections.Counter[str] = collections.Counter()
        subs: collections.Counter[str] = collections.Counter()
        ends: collections.Counter[str] = collections.Counter()
        starts: collections.Counter[str] = collections.Counter()
        for item in items:
            doc_freq.update({w.casefold() for w in WORD.findall(item.text)})
            if SUBREDDIT_NAME.fullmatch(item.subreddit):
                subs[item.subreddit] += 1
            words = WORD.findall(item.title)
            if words:
                starts[words[0]] += 1
                ends[words[-1]] += 1
        low, high = KEYWORD_RANKS
        ranked = _ranked(doc_freq)
        return cls(
            keywords=_some(ranked[low:high] or ranked, "reddit"),
            subreddits=_some(sorted(subs), "AskReddit"),
            busy_subreddits=_some(_ranked(subs)[:60], "AskReddit"),
            flairs=_some(_distinct(i.flair for i in items), "Discussion"),
            authors=_some(
                _distinct(i.author for i in items if i.author not in ("", "[deleted]")), "spez"
            ),
            author_flairs=_some(_distinct(i.author_flair for i in items), "Verified"),
            domains=_some(_distinct(i.domain for i in items), "i.redd.it"),
            title_ends=_some(_ranked(ends)[20:1000], "help"),
            title_starts=_some(_ranked(starts)[20:1000], "Why"),
            scores=sorted(i.score for i in items) or [0],
        )


def _ranked(counts: collections.Counter[str]) -> list[str]:
    """Most frequent first, ties in text order, so a seed always gives the same rules."""
    return sorted(counts, key=lambda key: (-counts[key], key))


def _some(values: list[str], fallback: str) -> list[str]:
    """A pool to draw from; a small item file may lack some kinds of values."""
    return values or [fallback]


def _distinct(values: Iterable[str]) -> list[str]:
    return sorted({v.strip() for v in values if v.strip()})


class RuleWriter:
    """Writes rule text in every form the language has, from the corpus vocabulary."""

    def __init__(self, vocab: Vocabulary, rng: random.Random) -> None:
        self.v = vocab
        self.rng = rng

    def words(self, low: int = 1, high: int = 3) -> list[str]:
        return self.rng.sample(self.v.keywords, self.rng.randint(low, high))

    def score(self) -> int:
        scores = self.v.scores
        return scores[int(len(scores) * self.rng.uniform(0.9, 0.999))]

    def field(self) -> str:
        return self.rng.choice(("title", "title", "body", "text", "text"))

    # Conditions that name text, so the index can find them.
    def keyword(self) -> str:
        r, f = self.rng, self.field()
        forms: list[Callable[[], str]] = [
            lambda: f"{f} contains {_values(self.words(1, 1))}",
            lambda: f"{f} contains {_values(self.words(2, 4))}",
            lambda: f"{f} contains all {_values(self.words(2, 2))}",
            lambda: f"{f} contains word {_values(self.words(1, 3))}",
            lambda: f"{f} matches /\\b{r.choice(self.v.keywords)}(s|es)?\\b/i",
            lambda: f"{f} matches /{'|'.join(self.words(2, 3))}/",
            lambda: f'title startswith "{r.choice(self.v.title_starts)}"',
            lambda: f'title endswith "{r.choice(self.v.title_ends)}"',
            lambda: f"url contains {_quote(r.choice(self.v.keywords))}",
        ]
        return r.choice(forms)()

    def field_test(self) -> str:
        r = self.rng
        forms: list[Callable[[], str]] = [
            lambda: f"flair is {_values(r.sample(self.v.flairs, r.randint(1, 2)))}",
            lambda: f"author is {_values(r.sample(self.v.authors, r.randint(1, 3)))}",
            lambda: f"domain is {_values(r.sample(self.v.domains, r.randint(1, 3)))}",
            lambda: f"author_flair contains {_quote(r.choice(self.v.author_flairs))}",
            lambda: f"body matches /[0-9]{{{r.randint(5, 9)}}}/",
            lambda: f"title matches /^[A-Z ]{{{r.randint(12, 30)}}}$/",
        ]
        return r.choice(forms)()

    def extra(self) -> str:
        r = self.rng
        forms: list[Callable[[], str]] = [
            lambda: f"score >= {self.score()}",
            lambda: f"comments > {r.randint(0, 50)}",
            lambda: "not nsfw",
            lambda: r.choice(("self", "spoiler", "nsfw")),
            lambda: f"not author is {_quote(r.choice(self.v.authors))}",
            lambda: f"not {self.keyword()}",
            lambda: "flair is empty",
            lambda: f"body startswith {_quote(r.choice(self.v.keywords))}",
        ]
        return r.choice(forms)()

    def indexable(self) -> str:
        r = self.rng
        shape = r.random()
        if shape < 0.45:
            return self.keyword()
        if shape < 0.6:
            return self.field_test()
        if shape < 0.85:
            return f"{self.keyword()} and {self.extra()}"
        if shape < 0.95:
            return f"({self.keyword()} or {self.field_test()}) and {self.extra()}"
        return f"{self.keyword()} or {self.keyword()}"

    def unindexable(self) -> str | None:
        r = self.rng
        forms: list[Callable[[], str | None]] = [
            lambda: None,
            lambda: f"score >= {self.score()}",
            lambda: f"{r.choice(('nsfw', 'spoiler', 'self'))} and comments >= {r.randint(1, 30)}",
            lambda: f"not {self.keyword()}",
            lambda: f"{self.keyword()} or score > {self.score()}",
            lambda: f'body contains "a" and not {r.choice(("nsfw", "self"))}',
        ]
        weights = (1, 3, 2, 1, 2, 1)
        return r.choices(forms, weights)[0]()

    def subreddits(self) -> list[str]:
        r = self.rng
        pool = self.v.busy_subreddits if r.random() < 0.3 else self.v.subreddits
        return [r.choice(pool) for _ in range(r.choice((1, 1, 1, 2, 3)))]

    def action(self) -> str:
        return self.rng.choice(
            (
                "notify here",
                "notify me",
                'notify #alerts "{author}: {title}"',
                "log",
                'reply "Thanks for posting, u/{author}!"',
                'webhook "https://example.com/hook"',
            )
        )

    def option(self) -> str:
        r = self.rng
        return r.choice(("", "", "", " limit 5 per hour", " cooldown 10m per author"))

    def rule(self) -> str:
        """A rule: 35% watch every subreddit for text; the rest watch a few subreddits,
        and only those may have conditions the index cannot use (as a bot's users do)."""
        r = self.rng
        streams = r.choice(("posts", "comments", "posts and comments"))
        condition: str | None
        if r.random() < 0.35:
            where, condition = "", self.keyword() if r.random() < 0.7 else self.indexable()
        else:
            where = " in " + ", ".join(f"r/{s}" for s in self.subreddits())
            condition = self.unindexable() if r.random() < 0.1 else self.indexable()
        cond = f" if {condition}" if condition else ""
        return f"on {streams}{where}{cond} then {self.action()}{self.option()}"


def generate(n: int, items: Sequence[Item], *, seed: int = 0) -> list[str]:
    """``n`` rules that parse, drawn from the items' vocabulary."""
    writer = RuleWriter(Vocabulary.of(items), random.Random(seed))
    rules: list[str] = []
    while len(rules) < n:
        text = writer.rule()
        parse_rule(text)
        rules.append(text)
    return rules


# ---- command line --------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.matching", description=__doc__)
    parser.add_argument("--rules", type=Path, help="one rule a line")
    parser.add_argument("--items", type=Path, default=CORPUS, help="Reddit things, JSON lines")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="indexed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--generate", type=int, metavar="N", help="write N rules and exit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="where --generate writes (default stdout)")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the fastest counts")
    parser.add_argument("--churn", action="store_true", help="measure add/remove instead")
    parser.add_argument("--automata", action="store_true", help="compare aho and re2 instead")
    args = parser.parse_args(argv)
    if args.generate is None and args.rules is None:
        parser.error("give --rules FILE, or --generate N")
    return args


def _write(lines: Sequence[str], out: TextIO) -> None:
    out.write("".join(line + "\n" for line in lines))


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.items.is_file():
        print(f"no items at {args.items}: pass --items FILE", file=sys.stderr)
        return 2
    items = load_items(args.items)
    if args.generate is not None:
        rules = generate(args.generate, items, seed=args.seed)
        if args.out:
            with args.out.open("w", encoding="utf-8") as out:
                _write(rules, out)
        else:
            _write(rules, sys.stdout)
        return 0
    texts = read_rules(args.rules)
    if args.churn:
        report = churn(texts, items)
    elif args.automata:
        report = compare_automata(texts, items, repeat=args.repeat)
    else:
        report = run(args.engine, texts, items, repeat=args.repeat).as_json()
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

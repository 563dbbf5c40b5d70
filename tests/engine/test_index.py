"""The indexed matcher answers exactly as the plain one: random rules over the real corpus,
add/remove sequences, and the edge cases of words, case folding, unicode and empty strings."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.atoms import requirement
from bot.engine.index import IndexedMatcher
from bot.engine.item import Item, ItemError, item_from_thing
from bot.engine.literals import required_literals
from bot.engine.matcher import PlainMatcher
from bot.engine.regex import RegexError, compile_regex
from bot.grammar import ast

Op = tuple[str, int, ast.Rule | None]
TEXT_OPS: tuple[ast.TextOp, ...] = (
    "contains",
    "contains_all",
    "contains_word",
    "is",
    "startswith",
    "endswith",
)

# ---- real items and their vocabulary ---------------------------------------------------


@pytest.fixture(scope="module")
def items(corpus: list[dict[str, Any]]) -> list[Item]:
    found: list[Item] = []
    for thing in corpus:
        try:
            found.append(item_from_thing(thing))
        except ItemError:
            continue
    assert len(found) > 8000
    return found


def _vocabulary() -> dict[str, list[str]]:
    """Strings cut from real field values (so tests hit), plus unicode that folds oddly."""
    from tests.conftest import CORPUS, corpus_things

    if not CORPUS.is_file():
        return {}
    rng = random.Random(6)
    things = corpus_things()
    rng.shuffle(things)
    vocab: dict[str, set[str]] = {name: set() for name in ast.TEXT_FIELDS}
    words: set[str] = set()
    for thing in things[:3000]:
        try:
            item = item_from_thing(thing)
        except ItemError:
            continue
        for name in ast.TEXT_FIELDS:
            value = item.field_text(name)
            if value and len(vocab[name]) < 300:
                vocab[name].add(value)
                start = rng.randrange(len(value))
                vocab[name].add(value[start : start + rng.randint(2, 12)])
        words.update(re.findall(r"\w{2,}", item.title)[:3])
    specials = ["straße", "STRASSE", "ǅemal", "ﬁle", "İstanbul", "ΣΊΣΥΦΟΣ", "😀", "Kelvin", "_"]
    out = {name: sorted(values) + specials for name, values in vocab.items()}
    out["words"] = sorted(words)[:2000] + specials
    out["subreddits"] = sorted({t["data"].get("subreddit") or "x" for t in things[:3000]})
    return out


VOCAB = _vocabulary()
needs_corpus = pytest.mark.skipif(not VOCAB, reason="the shared corpus ../shared/reddit is absent")


def _case(value: str, how: int) -> str:
    return (value, value.upper(), value.lower(), value.title())[how]


def values_for(name: str) -> st.SearchStrategy[str]:
    pool = VOCAB.get(name, ["x"]) + VOCAB.get("words", [])
    return st.builds(_case, st.sampled_from(pool), st.integers(0, 3))


REGEX_SHAPES = [
    "{w}",
    r"\b{w}\b",
    "{w}|{v}",
    "(?i){w}",
    "{w}s?",
    "^{w}",
    "{w}$",
    r"\d{{3,}}",
    "[a-z]{{4}}{w}",
    "(?:{w})+{v}",
    "{w}.{{0,5}}{v}",
    "[[:alpha:]]{w}",
    "({w}|{v})x*",
    r"\w+",
    "{w}(?P<x>{v})?",
]


def _regex(shape: str, w: str, v: str) -> str:
    return shape.format(w=re2.escape(w), v=re2.escape(v))


def _compiles(test: ast.Matches) -> bool:
    try:
        compile_regex(test.pattern, test.flags)
    except RegexError:
        return False
    return True


fields = st.sampled_from(ast.TEXT_FIELDS)


@st.composite
def text_tests(draw: st.DrawFn) -> ast.TextTest:
    name = draw(fields)
    op: ast.TextOp = draw(st.sampled_from(TEXT_OPS))
    values = draw(st.lists(values_for(name), min_size=1, max_size=3))
    if op == "is" and draw(st.booleans()):
        values.append("")
    return ast.TextTest(name, op, tuple(values))


@st.composite
def regex_tests(draw: st.DrawFn) -> ast.Matches:
    name = draw(fields)
    shape = draw(st.sampled_from(REGEX_SHAPES))
    w, v = draw(values_for(name)), draw(values_for(name))
    flags = draw(st.sampled_from(["", "i", "m", "s", "im", "is"]))
    return ast.Matches(name, _regex(shape, w, v), flags)


leaves = st.one_of(
    text_tests(),
    text_tests(),
    regex_tests().filter(_compiles),
    st.builds(ast.Empty, fields),
    st.builds(
        ast.Compare,
        st.sampled_from(ast.NUMBER_FIELDS),
        st.sampled_from(ast.COMPARE_OPS),
        st.sampled_from([-5, 0, 1, 2, 10, 100, 5000]),
    ),
    st.builds(ast.Flag, st.sampled_from(ast.FLAGS)),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(ast.Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: ast.And(tuple(ops))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: ast.Or(tuple(ops))),
    ),
    max_leaves=6,
)
rules = st.builds(
    lambda streams, subs, cond: ast.Rule(streams, subs, cond, (ast.Log(),)),
    st.sampled_from([("posts",), ("comments",), ("posts", "comments")]),
    st.one_of(
        st.just(()),
        st.lists(
            st.builds(_case, st.sampled_from(VOCAB.get("subreddits", ["x"])), st.integers(0, 3)),
            min_size=1,
            max_size=3,
        ).map(tuple),
    ),
    st.one_of(st.none(), conditions, conditions, conditions),
)


def _agree(plain: PlainMatcher, indexed: IndexedMatcher, items: list[Item]) -> int:
    matched = 0
    for item in items:
        expected = plain.match(item)
        assert indexed.match(item) == expected, item.fullname
        matched += len(expected)
    return matched


# ---- the property ----------------------------------------------------------------------


@needs_corpus
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rule_list=st.lists(rules, min_size=3, max_size=20))
def test_indexed_agrees_with_plain_on_every_corpus_item(
    rule_list: list[ast.Rule], items: list[Item]
) -> None:
    plain, indexed = PlainMatcher(), IndexedMatcher()
    for module_id, rule in enumerate(rule_list, start=1):
        plain.add(module_id, rule)
        indexed.add(module_id, rule)
    assert len(indexed) == len(plain)
    _agree(plain, indexed, items)


@needs_corpus
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rule_list=st.lists(rules, min_size=1, max_size=15))
def test_the_re2_set_backend_agrees_too(rule_list: list[ast.Rule], items: list[Item]) -> None:
    plain, indexed = PlainMatcher(), IndexedMatcher(automaton="re2")
    for module_id, rule in enumerate(rule_list, start=1):
        plain.add(module_id, rule)
        indexed.add(module_id, rule)
    _agree(plain, indexed, items[::3])


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 12), rules),
        st.tuples(st.just("remove"), st.integers(1, 12), st.none()),
        st.tuples(st.just("check"), st.integers(0, 40), st.none()),
    ),
    min_size=1,
    max_size=30,
)


@needs_corpus
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
def test_add_and_remove_sequences_keep_agreeing(ops: list[Op], items: list[Item]) -> None:
    """Tiny tiers, so compiling tails, rebuilding and dropping dead atoms all happen."""
    plain = PlainMatcher()
    indexed = IndexedMatcher(tail_max=2, tail_wait=3, recent_min=2)
    for kind, module_id, rule in ops:
        if kind == "add" and rule is not None:
            plain.add(module_id, rule)
            indexed.add(module_id, rule)
        elif kind == "remove":
            plain.remove(module_id)
            indexed.remove(module_id)
        else:
            _agree(plain, indexed, items[module_id::97])
        assert len(indexed) == len(plain)
    _agree(plain, indexed, items[::7])


def test_churn_through_every_tier_at_scale(items: list[Item]) -> None:
    """Hundreds of keyword modules added and removed between matches, with real tier sizes."""
    rng = random.Random(3)
    words = sorted({w.casefold() for i in items[:2000] for w in re.findall(r"\w{4,}", i.title)})
    plain, indexed = PlainMatcher(), IndexedMatcher(tail_max=8, tail_wait=16, recent_min=16)

    def rule(n: int) -> ast.Rule:
        test = ast.TextTest("text", "contains_word", tuple(rng.sample(words, 2)))
        return ast.Rule(("posts", "comments"), (), test, (ast.Log(),))

    live: list[int] = []
    for n in range(600):
        r = rule(n)
        plain.add(n, r)
        indexed.add(n, r)
        live.append(n)
        if n % 3 == 0:
            gone = live.pop(rng.randrange(len(live)))
            plain.remove(gone)
            indexed.remove(gone)
        if n % 25 == 0:
            _agree(plain, indexed, items[n : n + 40])
    assert indexed.stats()["rebuilds"] > 10
    assert _agree(plain, indexed, items[::5]) > 0


# ---- edge cases, each against the plain matcher and against the expected answer ------


def post(**data: Any) -> Item:
    return item_from_thing({"kind": "t3", "data": {"id": "x", "subreddit": "test", **data}})


def one(cond: ast.Condition | None, item: Item, **rule: Any) -> bool:
    """Whether module 1 matches, after checking that both matchers say the same."""
    full = ast.Rule(rule.get("streams", ("posts",)), rule.get("subs", ()), cond, (ast.Log(),))
    plain, indexed = PlainMatcher(), IndexedMatcher()
    plain.add(1, full)
    indexed.add(1, full)
    expected = plain.match(item)
    assert indexed.match(item) == expected
    return expected == [1]


WORD_CASES = [
    ("GME to the moon", True),
    ("buy $GME!", True),
    ("gme", True),
    ("gmestop", False),
    ("_gme", False),
    ("gme_", False),
    ("gme2", False),
    ("2gme", False),
    ("égme", False),
    ("gme\nnext", True),
    ("not gmé", False),
    ("xgme gme", True),
]


@pytest.mark.parametrize(("title", "expected"), WORD_CASES)
def test_contains_word_keeps_to_word_boundaries(title: str, expected: bool) -> None:
    test = ast.TextTest("title", "contains_word", ("GME",))
    assert one(test, post(title=title)) is expected


FOLD_CASES = [
    (ast.TextTest("title", "contains", ("straße",)), "STRASSE", True),
    (ast.TextTest("title", "contains", ("STRASSE",)), "Straße", True),
    (ast.TextTest("title", "is", ("strasse",)), "STRAẞE", True),
    (ast.TextTest("title", "contains_word", ("ﬁle",)), "a FILE here", True),
    (ast.TextTest("title", "startswith", ("σίσυ",)), "ΣΊΣΥΦΟΣ", True),
    (ast.TextTest("title", "endswith", ("φος",)), "ΣΊΣΥΦΟΣ", True),
    (ast.TextTest("title", "contains", ("😀x",)), "a😀X", True),
    (ast.Matches("title", "straße", "i"), "STRASSE", False),
    (ast.Matches("title", "Kelvin", "i"), "\u212aelvin", True),
    (ast.Matches("title", "(?i)ǅemal", ""), "ǄEMAL", True),
    (ast.Matches("title", "ſtop", "i"), "STOP", True),
    (ast.Matches("title", "İstanbul", "i"), "istanbul", False),
    (ast.Matches("text", "end\nstart", ""), "", False),
]


@pytest.mark.parametrize(("test", "title", "expected"), FOLD_CASES)
def test_case_folding_and_unicode(test: ast.Condition, title: str, expected: bool) -> None:
    assert one(test, post(title=title)) is expected


def test_a_needle_across_the_title_body_seam_is_found() -> None:
    item = post(title="the end", selftext="start here")
    assert one(ast.TextTest("text", "contains", ("end\nstart",)), item)
    assert one(ast.Matches("text", "end\\nstart", ""), item)
    assert not one(ast.TextTest("title", "contains", ("end\nstart",)), item)


EMPTY_CASES = [
    (ast.TextTest("flair", "is", ("",)), {}, True),
    (ast.TextTest("flair", "is", ("", "News")), {"link_flair_text": "news"}, True),
    (ast.TextTest("flair", "is", ("",)), {"link_flair_text": "x"}, False),
    (ast.Empty("flair"), {"link_flair_text": None}, True),
    (ast.Empty("title"), {"title": " "}, False),
    (ast.Not(ast.Empty("body")), {"selftext": "a"}, True),
    (ast.TextTest("title", "contains", ("a",)), {"title": "bAr"}, True),
    (ast.TextTest("title", "contains", ("a",)), {"title": ""}, False),
]


@pytest.mark.parametrize(("test", "data", "expected"), EMPTY_CASES)
def test_empty_strings_and_one_letter_needles(
    test: ast.Condition, data: dict[str, Any], expected: bool
) -> None:
    assert one(test, post(**data)) is expected


@pytest.mark.parametrize("tail_max", [0, 100])
def test_a_lone_surrogate_fails_only_where_plain_fails(tail_max: int) -> None:
    """RE2 cannot encode a lone surrogate: the index must not fail for modules out of scope."""
    item = post(title="odd \ud83d 12345", subreddit="here")
    rule = ast.Rule(("posts",), ("elsewhere",), ast.Matches("title", "[0-9]{5}"), (ast.Log(),))
    plain, indexed = PlainMatcher(), IndexedMatcher(tail_max=tail_max, tail_wait=1000)
    for matcher in (plain, indexed):
        matcher.add(1, rule)
        matcher.add(2, ast.Rule(("posts",), (), ast.TextTest("title", "contains", ("odd",)), ()))
    assert indexed.match(item) == plain.match(item) == [2]


NUMBER_CASES = [
    (ast.Compare("score", ">=", 10), 10, True),
    (ast.Compare("score", ">=", 10), 9, False),
    (ast.Compare("score", ">", 10), 10, False),
    (ast.Compare("score", "<", 0), -1, True),
    (ast.Compare("score", "<", 0), 0, False),
    (ast.Compare("score", "<=", 0), 0, True),
    (ast.Compare("score", "=", 7), 7, True),
    (ast.Compare("score", "=", 7), 8, False),
    (ast.Compare("score", "!=", 7), 8, True),
]


@pytest.mark.parametrize(("test", "score", "expected"), NUMBER_CASES)
def test_numeric_thresholds_at_their_bounds(
    test: ast.Condition, score: int, expected: bool
) -> None:
    assert one(test, post(score=score)) is expected
    assert one(test, post(score=score), subs=("test",)) is expected


def test_thresholds_and_flags_of_many_modules_in_one_bucket() -> None:
    """Equal bounds, removal of one of several equal bounds, flags, in a subreddit bucket."""
    plain, indexed = PlainMatcher(), IndexedMatcher()
    conds: list[ast.Condition] = [
        ast.Compare("score", ">=", 5),
        ast.Compare("score", ">=", 5),
        ast.Compare("score", ">", 100),
        ast.Compare("score", "<=", 5),
        ast.Compare("comments", ">=", 2),
        ast.Flag("nsfw"),
        ast.Or((ast.Flag("spoiler"), ast.Compare("score", "<", -3))),
        ast.And((ast.Flag("self"), ast.Compare("comments", ">", 0))),
    ]
    for module_id, cond in enumerate(conds, start=1):
        for matcher in (plain, indexed):
            matcher.add(module_id, ast.Rule(("posts",), ("test",), cond, (ast.Log(),)))
    things = [
        {"score": s, "num_comments": c, "over_18": n, "spoiler": p, "is_self": f}
        for s in (-10, -3, 0, 5, 6, 101)
        for c in (0, 2)
        for n in (True, False)
        for p in (True, False)
        for f in (True, False)
    ]
    items = [post(**data) for data in things]
    assert _agree(plain, indexed, items) > 0
    for gone in (2, 6, 3):
        plain.remove(gone)
        indexed.remove(gone)
        assert _agree(plain, indexed, items) > 0
    assert indexed.stats()["always_evaluated"] == 0


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (ast.And((ast.Matches("title", "x+"), ast.Compare("score", ">", 1))), False),
        (ast.Or((ast.Matches("title", "x+"), ast.Compare("score", ">", -1))), True),
        (ast.And((ast.TextTest("title", "contains_word", ("hi",)), ast.Flag("nsfw"))), False),
        (ast.Not(ast.And((ast.Matches("title", "h"), ast.Flag("self")))), True),
    ],
)
def test_operands_evaluate_cheapest_first_with_the_same_answer(
    cond: ast.Condition, expected: bool
) -> None:
    assert one(cond, post(title="hi there", score=0)) is expected


def test_scope_is_stream_and_casefolded_subreddit() -> None:
    test = ast.TextTest("title", "contains", ("hello",))
    item = post(title="hello", subreddit="Python")
    assert one(test, item, subs=("PYTHON",))
    assert not one(test, item, subs=("learnpython",))
    assert not one(test, item, streams=("comments",))
    assert one(None, item, subs=("python",))


# ---- what gets indexed -----------------------------------------------------------------

T = ast.TextTest


@pytest.mark.parametrize(
    ("cond", "atoms"),
    [
        (T("title", "contains", ("GPU",)), {("contains", "title", "gpu")}),
        (
            T("text", "contains_word", ("gme",)),
            {("contains", "title", "gme"), ("contains", "body", "gme")},
        ),
        (T("author", "is", ("Bob",)), {("equals", "author", "bob")}),
        (T("title", "contains_all", ("ab", "longest")), {("contains", "title", "longest")}),
        (ast.Empty("flair"), {("equals", "flair", "")}),
        (ast.Matches("body", r"\basync(io)?\b", "i"), {("contains", "body", "async")}),
        (ast.Matches("url", r"\d{4}", ""), {("regex", "url", "", r"\d{4}")}),
        (
            ast.And((ast.Flag("nsfw"), T("domain", "is", ("imgur.com",)))),
            {("equals", "domain", "imgur.com")},
        ),
        (
            ast.Or((T("title", "contains", ("help",)), T("flair", "is", ("Question",)))),
            {("contains", "title", "help"), ("equals", "flair", "question")},
        ),
        (
            ast.Or((T("title", "contains", ("help",)), ast.Flag("self"))),
            {("contains", "title", "help"), ("flag", "self")},
        ),
        (ast.Or((T("title", "contains", ("help",)), ast.Not(ast.Flag("self")))), None),
        (ast.Not(T("title", "contains", ("help",))), None),
        (ast.Compare("score", ">=", 10), {("at_least", "score", "10")}),
        (ast.Compare("score", ">", 10), {("at_least", "score", "11")}),
        (ast.Compare("comments", "=", 3), {("at_least", "comments", "3")}),
        (ast.Compare("score", "<", 0), {("at_most", "score", "-1")}),
        (ast.Compare("score", "<=", 5), {("at_most", "score", "5")}),
        (ast.Compare("score", "!=", 5), None),
        (
            ast.And((ast.Compare("score", ">=", 50000), T("title", "contains", ("help",)))),
            {("contains", "title", "help")},
        ),
        (
            ast.And((ast.Compare("score", ">=", 50000), T("title", "contains", ("ab",)))),
            {("at_least", "score", "50000")},
        ),
        (T("title", "contains", ("a",)), None),
        (T("author_flair", "contains", ("🤖",)), {("contains", "author_flair", "🤖")}),
        (None, None),
    ],
)
def test_requirements(cond: ast.Condition | None, atoms: set[tuple[str, ...]] | None) -> None:
    found = requirement(cond)
    assert (None if found is None else set(found)) == atoms


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\basync(io)?\b", {"async"}),
        ("foo|bar", {"foo", "bar"}),
        ("(foo|ba)r+z", {"foo", "ba"}),
        ("[[:alpha:]]xyz", {"xyz"}),
        ("abc*d", {"ab"}),
        ("hel+o", {"hel"}),
        (r"a\.b", {"a.b"}),
        ("[]a]bc", {"bc"}),
        ("x{1,3}yz", {"yz"}),
        ("a{,3}", {"a{,3}"}),
        (r"(?P<n>gme|amc)\s", {"gme", "amc"}),
        ("(?i:Hello) world", {" world"}),
        (r"\d{4}", None),
        ("foo|.*", None),
        (r"\x41bc", None),
        (r"\Qa.b\E", None),
        ("(a)?", None),
    ],
)
def test_required_literals(pattern: str, literals: set[str] | None) -> None:
    found = required_literals(pattern)
    assert (None if found is None else set(found)) == literals


@given(
    words=st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3),
    shape=st.sampled_from(REGEX_SHAPES),
    text=st.text(max_size=30),
    flags=st.sampled_from(["", "i", "m", "s"]),
)
def test_every_match_contains_a_required_literal(
    words: list[str], shape: str, text: str, flags: str
) -> None:
    pattern = _regex(shape, words[0], words[-1])
    try:
        regex = compile_regex(pattern, flags)
    except RegexError:
        return
    literals = required_literals(pattern)
    haystack = text + words[0] + text
    if literals is not None and regex.search(haystack) is not None:
        assert any(lit.casefold() in haystack.casefold() for lit in literals)
    if literals is not None and regex.search(text) is not None:
        assert any(lit.casefold() in text.casefold() for lit in literals)


def test_re2_case_folding_never_disagrees_with_casefold() -> None:
    """Why a literal found under ``i`` can be searched casefolded: any two characters RE2
    treats as the same letter casefold to the same string (checked for every cased one)."""
    options = re2.Options()
    options.case_sensitive = False
    checked = 0
    for code in range(0x110000):
        ch = chr(code)
        if 0xD800 <= code <= 0xDFFF or ch.casefold() == ch == ch.upper():
            continue
        images = {ch.lower(), ch.upper(), ch.casefold(), ch.title(), ch.swapcase()}
        images |= {f(x) for x in images for f in (str.lower, str.upper, str.casefold)}
        regex = re2.compile(re2.escape(ch), options)
        for other in images:
            if len(other) == 1 and other != ch and regex.fullmatch(other):
                assert ch.casefold() == other.casefold(), (ch, other)
                checked += 1
    assert checked > 2000


HOSTILE = ['"); import os; ("', "'\n'", "k0", "{k1}", "\\", "hits", "item.score", "1 in hits"]


@pytest.mark.parametrize("op", ["contains", "contains_word", "contains_all", "is", "startswith"])
@pytest.mark.parametrize("needle", HOSTILE)
def test_what_users_write_never_becomes_code(op: ast.TextOp, needle: str) -> None:
    """Conditions are compiled to Python source; the values in them must stay values."""
    cond = ast.And((ast.TextTest("title", op, (needle, "zz")), ast.Compare("score", ">=", 0)))
    if op in ("contains_all", "is"):
        cond = ast.TextTest("title", op, (needle,))
    exactly = one(cond, post(title=needle), subs=("test",))  # index and plain agree ...
    assert exactly is True or op == "contains_word"  # ... and the value is a value
    assert one(cond, post(title=f"say {needle}!")) is op.startswith("contains")
    assert one(cond, post(title="nothing")) is False


def test_a_candidate_by_number_still_reads_its_text_atoms() -> None:
    """``score >= 50000`` brings the module to evaluation (its rarest requirement); its
    ``contains "ab"`` is then read from the atoms, which must be scanned for that item
    although no bucket has postings."""
    cond = ast.And((ast.Compare("score", ">=", 50000), ast.TextTest("title", "contains", ("ab",))))
    assert requirement(cond) == {("at_least", "score", "50000")}
    assert one(cond, post(score=60000, title="xABy")) is True
    assert one(cond, post(score=60000, title="xy")) is False
    assert one(cond, post(score=10, title="ab")) is False


@pytest.mark.parametrize(
    ("pattern", "flags", "title", "body", "expected"),
    [
        ("Cat|dog", "", "a Cat", "", True),
        ("Cat|dog", "", "a cat", "", False),
        ("Cat|dog", "", "CAT DOG", "", False),
        ("Cat|dog", "", "", "hot dog", True),
        ("Cat|dog", "i", "CAT", "", True),
        ("Straße|ǅ", "", "STRASSE ǆ", "", False),
        ("Straße|ǅ", "", "", "die Straße", True),
    ],
)
def test_case_sensitive_alternatives_read_as_written(
    pattern: str, flags: str, title: str, body: str, expected: bool
) -> None:
    """The atoms of ``/Cat|dog/`` are casefolded; the test must still respect the case."""
    item = post(title=title, selftext=body)
    assert one(ast.Matches("text", pattern, flags), item) is expected
    for name in ("title", "body"):
        want = compile_regex(pattern, flags).search(item.field_text(name)) is not None
        assert one(ast.Matches(name, pattern, flags), item) is want

"""User regexes cannot stall the engine: RE2 searches take time linear in the input.

Each pattern below backtracks exponentially in Python's ``re``: ``(a+)+$`` over
22 ``a``s and a ``!`` took 0.27 s there, doubling with each ``a`` (30 would be
~70 s, 10 KB forever). Through compile_regex they
are searched over 10 KB and 100 KB of the repeated character plus one
non-matching character; run with ``-s`` to see the timings.

Measured on the 2-core dev box (best of 5 runs, 10 KB -> 100 KB, ratio):
    failing subjects (letters then "!"):
    (a+)+$      0.002 ms -> 0.004 ms   2.0x  (RE2 runs $-anchored patterns from the end)
    (a|aa)*b    0.015 ms -> 0.139 ms   9.1x
    (a*)*b      0.015 ms -> 0.139 ms   9.1x
    (x+x+)+y    0.015 ms -> 0.139 ms   9.1x
    ((a+)+)+$   0.002 ms -> 0.004 ms   2.0x
    matching subjects (letters only; the match spans the whole input), 100 KB -> 1 MB:
    (a+)+$      3.5 ms -> 36 ms    ~10x
    ((a+)+)+$   5.1 ms -> 51 ms    ~10x
Matches that report capture groups cost 40-80 ns a character once RE2 leaves its
small-input engine (between 30 KB and 100 KB: 0.12 ms at 10 KB, 3.5-5 ms at 100 KB),
so the matching case compares 100 KB with 1 MB, two sizes on the same engine.
Reddit caps a post body at 40,000 characters.
"""

from __future__ import annotations

import re
import time

import pytest
import re2

from bot.engine.regex import RegexError, compile_regex

CATASTROPHIC = ["(a+)+$", "(a|aa)*b", "(a*)*b", "(x+x+)+y", "((a+)+)+$"]
SMALL, LARGE, HUGE = 10_000, 100_000, 1_000_000
REPEATS = 5
MAX_RATIO = 30.0  # 10x the input may cost at most ~30x the time (linear, with noise)
MAX_SECONDS = 1.0  # backtracking would take longer than the age of the universe


def _subject(pattern: str, size: int) -> str:
    """``size`` copies of the pattern's letter, then a character that makes it fail."""
    letter = "x" if "x" in pattern else "a"
    return letter * size + "!"


def _best_time(compiled: object, text: str) -> float:
    search = compiled.search  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        found = search(text)
        best = min(best, time.perf_counter() - started)
        assert found is None  # every subject ends in a character the pattern cannot match
    return best


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_pattern_runs_in_linear_time(pattern: str) -> None:
    compiled = compile_regex(pattern, "")
    small = _best_time(compiled, _subject(pattern, SMALL))
    large = _best_time(compiled, _subject(pattern, LARGE))
    ratio = large / small
    print(
        f"\n{pattern:<10} 10 KB {small * 1e3:.3f} ms -> 100 KB {large * 1e3:.3f} ms"
        f"  ratio {ratio:.1f}x"
    )
    assert large < MAX_SECONDS
    assert ratio <= MAX_RATIO


@pytest.mark.parametrize("flags", ["", "i", "m", "s", "ims"])
def test_compile_regex_returns_an_re2_object(flags: str) -> None:
    compiled = compile_regex(r"\basync(io)?\b", flags)
    assert isinstance(compiled, re2._Regexp)
    assert not isinstance(compiled, re.Pattern)
    assert compiled.search("use asyncio here") is not None


def test_ignore_case_flag_is_honoured_by_re2() -> None:
    assert compile_regex("GME", "i").search("buy gme") is not None
    assert compile_regex("GME", "").search("buy gme") is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"(a)\1", "back-references"), (r"a(?=b)", "look-ahead"), (r"(?<!a)b", "look-behind")],
)
def test_backtracking_only_features_are_refused_with_a_reason(pattern: str, why: str) -> None:
    with pytest.raises(RegexError, match=why):
        compile_regex(pattern, "")


def test_huge_programs_are_refused_instead_of_using_unbounded_memory() -> None:
    with pytest.raises(RegexError):
        compile_regex("((((a{100}){100}){100}){100})", "")


@pytest.mark.parametrize("pattern", ["(a+)+$", "((a+)+)+$"])
def test_anchored_pattern_matching_everything_is_linear(pattern: str) -> None:
    """The failing subject ends early from the right; this one makes RE2 walk all of it."""
    compiled = compile_regex(pattern, "")
    times = []
    for size in (LARGE, HUGE):
        text = "a" * size
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            found = compiled.search(text)
            best = min(best, time.perf_counter() - started)
            assert found is not None and found.span() == (0, size)
        times.append(best)
    small, large = times
    print(f"\n{pattern:<10} match 100 KB {small * 1e3:.3f} ms -> 1 MB {large * 1e3:.3f} ms")
    assert large < MAX_SECONDS
    assert large / small <= MAX_RATIO

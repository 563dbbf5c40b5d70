"""User regular expressions, compiled with RE2 only: linear time, bounded memory."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN_LENGTH = 1000
MAX_PROGRAM_MEMORY = 8 << 20  # bytes RE2 may spend on one compiled pattern


class RegexError(ValueError):
    """A pattern RE2 cannot compile; ``str()`` says why in words."""


def options_for(flags: str) -> Any:
    """RE2 options for the ``i`` and ``s`` flags; ``m`` is written into the pattern."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_MEMORY
    options.case_sensitive = "i" not in flags
    options.dot_nl = "s" in flags
    return options


def source_for(pattern: str, flags: str) -> str:
    """The pattern as RE2 compiles it: ``m`` (``^`` and ``$`` at every line) is RE2's own
    ``(?m)``, which keeps the whole Perl syntax (inline flags, lazy repetition) usable."""
    return "(?m)" + pattern if "m" in flags else pattern


def _explain(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "invalid escape sequence: \\" in reason and reason[-1:].isdigit():
        return f"{reason} (RE2 has no back-references)"
    if "invalid perl operator: (?=" in reason or "invalid perl operator: (?!" in reason:
        return f"{reason} (RE2 has no look-ahead)"
    if "invalid perl operator: (?<" in reason:
        return f"{reason} (RE2 has no look-behind)"
    return reason


@lru_cache(maxsize=4096)
def compile_regex(pattern: str, flags: str = "") -> Any:
    """The compiled RE2 pattern for ``/pattern/flags``; RegexError when RE2 refuses it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"the pattern is {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}")
    bad = set(flags) - set("ims")
    if bad:
        raise RegexError(f"unknown flag {''.join(sorted(bad))!r}; flags are i, m and s")
    try:
        return re2.compile(source_for(pattern, flags), options_for(flags))
    except re2.error as exc:
        raise RegexError(_explain(exc)) from None

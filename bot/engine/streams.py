"""Which listing requests cover the active modules: pure planning, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.grammar import ast

MAX_MULTIREDDIT_URL = 2000
# "https://oauth.reddit.com/r/" + "/comments?limit=100&raw_json=1&after=t1_xxxxxxxxxx"
URL_OVERHEAD = 90


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Per stream (posts, comments): None for r/all, else multireddit chunks."""

    chunks: dict[str, tuple[tuple[str, ...], ...] | None]

    def requests_per_poll(self) -> int:
        return sum(1 if c is None else len(c) for c in self.chunks.values())


def chunk_subreddits(
    names: Iterable[str], *, max_url: int = MAX_MULTIREDDIT_URL
) -> tuple[tuple[str, ...], ...]:
    """Sorted, deduplicated names joined with '+' into as few URLs under ``max_url`` as fit."""
    unique = sorted({n.casefold() for n in names})
    budget = max_url - URL_OVERHEAD
    chunks: list[tuple[str, ...]] = []
    current: list[str] = []
    length = 0
    for name in unique:
        extra = len(name) + (1 if current else 0)
        if current and length + extra > budget:
            chunks.append(tuple(current))
            current, length = [], 0
            extra = len(name)
        current.append(name)
        length += extra
    if current:
        chunks.append(tuple(current))
    return tuple(chunks)


def plan_streams(rules: Iterable[ast.Rule], *, max_url: int = MAX_MULTIREDDIT_URL) -> StreamPlan:
    """One plan for all active rules: r/all for a stream as soon as one rule needs it."""
    everywhere: set[str] = set()
    names: dict[str, set[str]] = {}
    for rule in rules:
        for stream in rule.streams:
            if not rule.subreddits:
                everywhere.add(stream)
            else:
                names.setdefault(stream, set()).update(rule.subreddits)
    chunks: dict[str, tuple[tuple[str, ...], ...] | None] = {}
    for stream in ast.STREAMS:
        if stream in everywhere:
            chunks[stream] = None
        elif stream in names:
            chunks[stream] = chunk_subreddits(names[stream], max_url=max_url)
    return StreamPlan(chunks)

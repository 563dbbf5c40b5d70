"""Time decisions, each taking ``now`` as an argument: limits, cooldowns, backoff, runaway."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bot.grammar import ast


def skip_reason(rule: ast.Rule, *, acted_in_window: int, author_recent: int) -> str | None:
    """Why a match is skipped (recorded but not acted on), or None to act.

    ``acted_in_window``: the module's acted-on matches within its limit window;
    ``author_recent``: the author's acted-on matches within the cooldown.
    """
    if rule.limit is not None and acted_in_window >= rule.limit.count:
        return f"limit {rule.limit.count} per {rule.limit.per}"
    if rule.cooldown is not None and author_recent > 0:
        return "cooldown per author"
    return None


def backoff_delay(attempt: int, *, jitter: float, base: float = 2.0, cap: float = 900.0) -> float:
    """Exponential backoff with full jitter: ``jitter`` in [0, 1) picks within the window."""
    window = min(cap, base ** max(attempt, 1))
    return max(0.5, window * (0.5 + jitter / 2))


@dataclass(slots=True)
class RunawayGuard:
    """Trips when a module fires more than ``threshold`` times within ``window`` seconds."""

    threshold: int = 60
    window: float = 60.0
    _times: dict[int, deque[float]] = field(default_factory=dict)

    def record(self, module_id: int, now: float) -> bool:
        times = self._times.setdefault(module_id, deque())
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times) > self.threshold

    def forget(self, module_id: int) -> None:
        self._times.pop(module_id, None)

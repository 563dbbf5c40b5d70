"""Misbehaviour on demand for the Reddit sandbox: rate budgets, RATELIMIT answers, faults."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.sandbox.reddit_things import ratelimit_message

ERROR_STATUSES = (500, 502, 503)
WRITE_KINDS = ("comment", "compose", "crosspost", "any")


class RecordedRequest(NamedTuple):
    """One request as the sandbox saw it; status 0 means the connection was dropped.

    ``client`` is the OAuth client id of its token ("" before one is known), so tests can
    tell which of several clients (e.g. a leader and a standby engine) made it.
    """

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int
    time: float
    client: str = ""

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


@dataclass
class Faults:
    """Fault knobs, settable at any time; one seeded Random decides every roll."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    error_rate: float = 0.0
    latency: float | Callable[[], float] = 0.0
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    pending_429: int = 0
    pending_errors: list[int] = field(default_factory=list)

    SETTABLE = frozenset(
        {"error_rate", "latency", "malformed_rate", "drop_rate", "burst_429", "burst_errors"}
    )

    def burst_429(self, n: int) -> None:
        """Answer the next n API requests with 429, whatever the budget says."""
        self.pending_429 = max(0, int(n))

    def take_429(self) -> bool:
        if self.pending_429 <= 0:
            return False
        self.pending_429 -= 1
        return True

    def burst_errors(self, n: int, *, status: int = 503) -> None:
        """Answer the next n API requests with this 5xx status (deterministic error_rate)."""
        self.pending_errors = [status] * max(0, int(n))

    def take_error(self) -> int | None:
        if self.pending_errors:
            return self.pending_errors.pop(0)
        if self.roll(self.error_rate):
            return self.rng.choice(ERROR_STATUSES)
        return None

    def delay(self) -> float:
        value = self.latency() if callable(self.latency) else self.latency
        return max(0.0, float(value))

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def clear(self) -> None:
        self.error_rate = self.malformed_rate = self.drop_rate = 0.0
        self.latency = 0.0
        self.pending_429 = 0
        self.pending_errors = []

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply a JSON settings object from the control API; unknown keys are an error."""
        unknown = set(settings) - self.SETTABLE
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        for key, value in settings.items():
            if key == "burst_429":
                self.burst_429(int(value))
            elif key == "burst_errors":
                self.burst_errors(int(value))
            else:
                setattr(self, key, float(value))

    def as_json(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency": None if callable(self.latency) else self.latency,
            "malformed_rate": self.malformed_rate,
            "drop_rate": self.drop_rate,
            "burst_429": self.pending_429,
            "burst_errors": len(self.pending_errors),
        }


class BudgetState(NamedTuple):
    allowed: bool
    used: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        """Reddit's spelling: remaining as a float string, the others as integers."""
        return {
            "x-ratelimit-remaining": f"{float(self.remaining):.1f}",
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(self.reset),
        }


class RateBudget:
    """Fixed windows per OAuth client, as Reddit counts: `limit` requests per `window` s."""

    def __init__(self, *, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def charge(self, client: str) -> BudgetState:
        """Count one request against `client`; past the budget it is not allowed."""
        now = self._clock()
        start, used = self._windows.get(client, (now, 0))
        if now - start >= self.window:
            start, used = now, 0
        used += 1
        self._windows[client] = (start, used)
        reset = max(0, math.ceil(start + self.window - now))
        return BudgetState(
            allowed=used <= self.limit,
            used=used,
            remaining=max(0, self.limit - used),
            reset=reset,
        )


@dataclass
class _Pending:
    kind: str
    message: str
    count: int


class WriteThrottle:
    """Queued RATELIMIT answers for the next writes of a kind."""

    def __init__(self) -> None:
        self._queue: list[_Pending] = []

    def add(self, *, kind: str, minutes: int, count: int, seconds: int | None = None) -> None:
        if kind not in WRITE_KINDS:
            raise ValueError(f"kind must be one of {WRITE_KINDS}, not {kind!r}")
        message = ratelimit_message(minutes=minutes, seconds=seconds)
        self._queue.append(_Pending(kind=kind, message=message, count=max(1, count)))

    def take(self, kind: str) -> str | None:
        """The RATELIMIT message owed to this write, if one is queued for it."""
        for pending in self._queue:
            if pending.kind in {kind, "any"}:
                pending.count -= 1
                if pending.count <= 0:
                    self._queue.remove(pending)
                return pending.message
        return None

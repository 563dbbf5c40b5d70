"""Keeps long-lived tasks running: each reports heartbeats; one that dies or goes silent
is restarted with backoff, and the restart is reported."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

TaskFactory = Callable[[asyncio.Event, Callable[[], None]], Awaitable[None]]


@dataclass(slots=True)
class Supervised:
    name: str
    factory: TaskFactory
    silence_limit: float | None  # seconds without a heartbeat before a restart; None: never
    last_beat: float = 0.0
    restarts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = None
    inner_stop: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    """Runs named tasks until stop; restarts the ones that die or go silent."""

    def __init__(
        self,
        *,
        on_event: Callable[[str], None] = lambda message: None,
        monotonic: Callable[[], float] = time.monotonic,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        check_every: float = 1.0,
    ) -> None:
        self._tasks: dict[str, Supervised] = {}
        self._on_event = on_event
        self._monotonic = monotonic
        self._base = backoff_base
        self._cap = backoff_cap
        self._check_every = check_every

    def add(self, name: str, factory: TaskFactory, *, silence_limit: float | None = None) -> None:
        """``factory(stop, beat)`` runs until ``stop`` is set, calling ``beat()`` now and then."""
        self._tasks[name] = Supervised(name, factory, silence_limit)

    def health(self) -> dict[str, tuple[bool, int, str | None]]:
        """Per task: (running, restarts, last error)."""
        return {
            t.name: (t.task is not None and not t.task.done(), t.restarts, t.last_error)
            for t in self._tasks.values()
        }

    def _start(self, sup: Supervised) -> None:
        sup.inner_stop = asyncio.Event()
        sup.last_beat = self._monotonic()

        def beat() -> None:
            sup.last_beat = self._monotonic()

        sup.task = asyncio.ensure_future(sup.factory(sup.inner_stop, beat))

    async def run(self, stop: asyncio.Event) -> None:
        for sup in self._tasks.values():
            self._start(sup)
        restart_at: dict[str, float] = {}
        try:
            while not stop.is_set():
                now = self._monotonic()
                for sup in self._tasks.values():
                    self._check(sup, now, restart_at)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._check_every)
        finally:
            await self._stop_all()

    def _check(self, sup: Supervised, now: float, restart_at: dict[str, float]) -> None:
        task = sup.task
        if sup.name in restart_at:
            if now >= restart_at[sup.name]:
                del restart_at[sup.name]
                self._start(sup)
            return
        assert task is not None
        silent = sup.silence_limit is not None and now - sup.last_beat > sup.silence_limit
        if not task.done() and not silent:
            return
        if task.done():
            exc = task.exception() if not task.cancelled() else None
            sup.last_error = f"{type(exc).__name__}: {exc}" if exc else "stopped"
        else:
            sup.last_error = f"silent for {now - sup.last_beat:.0f}s"
            sup.inner_stop.set()
            task.cancel()
        sup.restarts += 1
        delay = min(self._cap, self._base * 2 ** min(sup.restarts - 1, 10))
        restart_at[sup.name] = now + delay
        message = f"{sup.name} restarted in {delay:.0f}s ({sup.last_error})"
        log.warning(message)
        self._on_event(message)

    async def _stop_all(self) -> None:
        for sup in self._tasks.values():
            sup.inner_stop.set()
        tasks = [s.task for s in self._tasks.values() if s.task is not None]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

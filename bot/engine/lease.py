"""Leader election over the store: only the engine holding the lease polls and acts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from bot.engine.ports import StorePort

log = logging.getLogger(__name__)

LEASE_NAME = "engine"


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """Acquires the engine lease, renews it every third of its period, and says when it is lost.

    A standby waits until the leader stops renewing; it takes over once the lease has
    expired, so within two lease periods of the leader's death.
    """

    def __init__(
        self,
        store: StorePort,
        *,
        ttl: float = 15.0,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.clock = clock
        self.is_leader = False

    async def try_acquire(self) -> bool:
        self.is_leader = await self.store.acquire_lease(
            LEASE_NAME, holder=self.holder, ttl=self.ttl, now=self.clock()
        )
        return self.is_leader

    async def wait_until_leader(self, stop: asyncio.Event) -> bool:
        """Block until this engine leads (True) or ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            if await self.try_acquire():
                log.info("engine %s is the leader", self.holder)
                return True
            if not announced:
                log.info("engine %s is on standby: another engine holds the lease", self.holder)
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
        return False

    async def hold(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """Renew until ``stop``; set ``lost`` (and return) if another engine took over."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
            if stop.is_set():
                break
            try:
                still = await self.try_acquire()
            except Exception as exc:  # the database hiccuped: keep trying until expiry
                log.warning("renewing the engine lease failed: %s", exc)
                continue
            if not still:
                log.error("engine %s lost the lease; stopping polls and actions", self.holder)
                lost.set()
                return
        await self.store.release_lease(LEASE_NAME, holder=self.holder)

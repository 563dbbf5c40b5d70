"""Heartbeats: one status message per channel, edited in place on an APScheduler interval,
plus an alert when a stream stalls or keeps failing and a note when it recovers."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.engine.ports import NotifyPort
from bot.store.db import Store
from bot.store.records import HeartbeatRecord

log = logging.getLogger(__name__)

ERRORS_FOR_ALERT = 3


class StatusProvider(Protocol):
    def status_fields(self) -> list[tuple[str, str]]: ...

    def problems(self) -> dict[str, str]: ...


def status_text(fields: list[tuple[str, str]]) -> str:
    width = max((len(name) for name, _ in fields), default=0)
    lines = ["roveit status"] + [f"{name.ljust(width)}  {value}" for name, value in fields]
    return "\n".join(lines)


class HeartbeatService:
    """Schedules every stored heartbeat; ``refresh()`` after a heartbeat command."""

    def __init__(
        self,
        *,
        store: Store,
        status: StatusProvider,
        notifiers: Mapping[str, NotifyPort],
        scheduler: AsyncIOScheduler | None = None,
        extra_fields: Callable[[], list[tuple[str, str]]] = list,
    ) -> None:
        self.store = store
        self.status = status
        self.notifiers = notifiers
        self.scheduler = scheduler or AsyncIOScheduler()
        self.extra_fields = extra_fields
        self._known_problems: dict[str, str] = {}
        self._scheduled: dict[str, int] = {}

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()
        self.scheduler.add_job(
            self.check_health, "interval", seconds=15, id="health", replace_existing=True
        )

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def refresh(self) -> None:
        """Match the scheduled jobs to the stored heartbeats."""
        records = await self.store.heartbeats()
        wanted = {f"hb:{r.chat}:{r.channel}": r for r in records}
        for job_id in list(self._scheduled):
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
                del self._scheduled[job_id]
        for job_id, record in wanted.items():
            if self._scheduled.get(job_id) == record.every_seconds:
                continue
            self.scheduler.add_job(
                self.beat,
                "interval",
                seconds=record.every_seconds,
                args=[record.chat, record.channel],
                id=job_id,
                replace_existing=True,
                next_run_time=_now(),
            )
            self._scheduled[job_id] = record.every_seconds

    async def beat(self, chat: str, channel: str) -> None:
        """Create or edit in place the status message of one channel."""
        record = await self._record(chat, channel)
        notifier = self.notifiers.get(chat)
        if record is None or notifier is None:
            return
        text = status_text(self.status.status_fields() + self.extra_fields())
        try:
            message_id = await notifier.status_message(channel, text, record.message_id)
        except Exception as exc:
            log.warning("heartbeat in %s %s failed: %s", chat, channel, exc)
            return
        if message_id and message_id != record.message_id:
            await self.store.set_heartbeat_message(
                chat=chat, channel=channel, message_id=message_id
            )

    async def _record(self, chat: str, channel: str) -> HeartbeatRecord | None:
        for record in await self.store.heartbeats():
            if record.chat == chat and record.channel == channel:
                return record
        return None

    async def check_health(self) -> None:
        """Alert every heartbeat channel of a new problem, and of its recovery."""
        problems = self.status.problems()
        messages = [
            f"⚠️ {text}" for key, text in problems.items() if key not in self._known_problems
        ]
        messages += [
            f"✅ recovered: {text}"
            for key, text in self._known_problems.items()
            if key not in problems
        ]
        self._known_problems = dict(problems)
        if messages:
            await self.announce("\n".join(messages))

    async def announce(self, text: str) -> None:
        for record in await self.store.heartbeats():
            notifier = self.notifiers.get(record.chat)
            if notifier is None:
                continue
            try:
                await notifier.notify(
                    {"kind": "here", "channel": record.channel, "place": record.place}, text, {}
                )
            except Exception as exc:
                log.warning("alert to %s %s failed: %s", record.chat, record.channel, exc)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

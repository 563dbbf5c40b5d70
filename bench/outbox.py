"""Outbox throughput on SQLite: actions a second through the durable queue.

    python -m bench.outbox [--actions N] [--batch B] [--db PATH]

Each action is enqueued the way the engine records a match (``Store.record_match``: the
match and its action in one transaction), claimed with ``Outbox.claim_due`` (a lease,
one transaction per batch) and marked done with ``Outbox.finish``; the action itself
is a no-op, so the numbers are the queue's own cost. Four runs, each on a fresh file:

- ``enqueue``: record_match alone;
- ``drain``: claim_due + finish over a full queue;
- ``concurrent``: a producer enqueuing while a worker drains (as the engine's poller
  and action worker do), timed from the first enqueue to the last finish;
- ``engine``: the same through ``Engine.run_due_actions`` with a no-op notifier.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.engine.ports import Budget, Thing
from bot.engine.runtime import Engine, EngineConfig
from bot.store.db import Outbox, Store

LEASE = 120.0


class NoopReddit:
    """The engine needs a RedditPort; the benchmark never calls Reddit."""

    async def listing(
        self, stream: str, subreddits: Sequence[str], *, limit: int = 100, after: str | None = None
    ) -> list[Thing]:
        return []

    async def reply(self, thing_id: str, text: str) -> str:
        return ""

    async def message(self, to: str, subject: str, text: str) -> None:
        return None

    async def crosspost(self, fullname: str, subreddit: str, title: str | None) -> str:
        return ""

    async def already_replied(
        self, thing_id: str, text: str | None = None, *, since: float | None = None
    ) -> bool:
        return False

    def budget(self) -> Budget:
        return Budget()


class NoopNotifier:
    async def notify(
        self, target: Mapping[str, Any], text: str, card: Mapping[str, Any]
    ) -> str | None:
        return None

    async def status_message(self, channel: str, text: str, message_id: str | None) -> str | None:
        return None


async def _fresh(path: Path) -> tuple[Store, int]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = await Store.open(path)
    record = await store.create_module(
        rule='on posts then notify here "{title}"',
        owner="bench:owner",
        token_hash=None,
        chat="noop",
        place="bench",
        channel="bench",
        now=time.time(),
    )
    return store, record.id


async def _enqueue(store: Store, module_id: int, n: int, *, start: int = 0) -> None:
    payload = {"chat": "noop", "target": {"kind": "here"}, "text": "x", "card": {}}
    for i in range(start, start + n):
        await store.record_match(
            module_id=module_id,
            item=f"t3_{i:07d}",
            author="someone",
            now=time.time(),
            skipped=None,
            actions=[("notify", payload)],
        )


async def _drain(outbox: Outbox, n: int, *, batch: int, idle: asyncio.Event | None = None) -> int:
    done = 0
    while done < n:
        rows = await outbox.claim_due(now=time.time(), lease=LEASE, limit=batch)
        if not rows:
            if idle is not None:  # the producer has not caught up yet
                idle.clear()
                await idle.wait()
            continue
        for row in rows:
            await outbox.finish(row.id, now=time.time(), result=None)
        done += len(rows)
    return done


def _rate(n: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "per_second": round(n / seconds, 1)}


async def bench_enqueue_then_drain(path: Path, n: int, batch: int) -> dict[str, Any]:
    store, module_id = await _fresh(path)
    try:
        started = time.perf_counter()
        await _enqueue(store, module_id, n)
        enqueued = time.perf_counter()
        assert await _drain(Outbox(store), n, batch=batch) == n
        drained = time.perf_counter()
        assert await store.action_counts() == {"done": n}
    finally:
        await store.close()
    return {
        "enqueue": _rate(n, enqueued - started),
        "drain": _rate(n, drained - enqueued),
    }


async def bench_concurrent(path: Path, n: int, batch: int) -> dict[str, float]:
    store, module_id = await _fresh(path)
    outbox = Outbox(store)
    waiting = asyncio.Event()
    try:
        started = time.perf_counter()

        async def produce() -> None:
            chunk = 50
            for start in range(0, n, chunk):
                await _enqueue(store, module_id, min(chunk, n - start), start=start)
                waiting.set()

        await asyncio.gather(produce(), _drain(outbox, n, batch=batch, idle=waiting))
        seconds = time.perf_counter() - started
        assert await store.action_counts() == {"done": n}
    finally:
        await store.close()
    return _rate(n, seconds)


async def bench_engine(path: Path, n: int, batch: int) -> dict[str, float]:
    store, module_id = await _fresh(path)
    try:
        engine = Engine(
            store=store,
            outbox=Outbox(store),
            reddit=NoopReddit(),
            notifiers={"noop": NoopNotifier()},
            config=replace(EngineConfig(), action_batch=batch),
        )
        await engine.reload_modules()
        await _enqueue(store, module_id, n)
        started = time.perf_counter()
        assert await engine.run_due_actions() == n
        seconds = time.perf_counter() - started
        assert await store.action_counts() == {"done": n}
    finally:
        await store.close()
    return _rate(n, seconds)


async def run(*, actions: int, batch: int, db: Path) -> dict[str, Any]:
    report: dict[str, Any] = {
        "actions": actions,
        "batch": batch,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_cpus()} cpus",
    }
    report.update(await bench_enqueue_then_drain(db, actions, batch))
    report["concurrent"] = await bench_concurrent(db, actions, batch)
    report["engine"] = await bench_engine(db, actions, batch)
    return report


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument("--actions", type=int, default=5000, help="actions per run")
    parser.add_argument("--batch", type=int, default=10, help="actions claimed at a time")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "outbox.sqlite3"
        report = asyncio.run(run(actions=args.actions, batch=args.batch, db=db))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The engine against the Reddit sandbox through the real asyncpraw: what a poll costs,
what an action costs, how many items a second it takes in, and how long an item waits
for its reply.

    python -m bench.reddit_engine [--json] [--items 2000] [--latency-items 200]

Needs ../shared/reddit/corpus.jsonl.gz (real Reddit items). Everything runs on
loopback in one process (sandbox, asyncpraw, SQLite on a temporary directory), so
the figures are the bot's own cost, not Reddit's network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.engine.matcher import Matcher, PlainMatcher
from bot.engine.runtime import EngineConfig
from bot.sandbox.reddit import load_items
from tests.reddit.harness import BOT, TEST_ENGINE, reddit_world

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "reddit" / "corpus.jsonl.gz"
Thing = dict[str, Any]


def _matchers() -> dict[str, Callable[[], Matcher]]:
    found: dict[str, Callable[[], Matcher]] = {"plain": PlainMatcher}
    try:
        from bot.engine.index import IndexedMatcher
    except ImportError:
        return found
    found["indexed"] = IndexedMatcher
    return found


def subreddit_pool(items: list[Thing]) -> list[str]:
    """Real subreddit names from the corpus, each once, in first-seen order."""
    seen: dict[str, None] = {}
    for thing in items:
        name = str(thing["data"].get("subreddit") or "")
        if name.replace("_", "").isalnum() and 2 <= len(name) <= 21:
            seen.setdefault(name.casefold(), None)
    return list(seen)


def module_rule(i: int, pool: list[str]) -> str:
    subs = ", ".join(f"r/{pool[(i * 7 + k) % len(pool)]}" for k in range(3))
    streams = ("posts", "comments", "posts and comments")[i % 3]
    field = "title" if streams == "posts" else "text"
    return f'on {streams} in {subs} if {field} contains "x{i % 10}" then log'


# ---- listing requests per poll -------------------------------------------------------------


async def listing_requests(tmp: Path, pool: list[str], modules: int) -> dict[str, Any]:
    async with reddit_world(tmp / f"listing-{modules}") as world:
        for i in range(modules):
            await world.create(module_rule(i, pool))
        before = world.sandbox.listing_requests()
        await world.engine.poll_once()
        requests = world.sandbox.listing_requests() - before
        subreddits = {
            name
            for chunks in world.engine.plan.chunks.values()
            if chunks
            for chunk in chunks
            for name in chunk
        }
        errors = sum(h.errors for h in world.engine.counters.streams.values())
        return {
            "modules": modules,
            "subreddits": len(subreddits),
            "listing_requests_per_poll": requests,
            "poll_errors": errors,
        }


# ---- requests per action ----------------------------------------------------------------------


async def requests_per_action(tmp: Path) -> dict[str, Any]:
    async with reddit_world(tmp / "actions") as world:
        await world.create(
            'on posts in r/benchsub then reply "r {id}", message author "m {title}", '
            'crosspost r/collected, notify here "n {title}"'
        )
        world.post("benchsub", "one post", author="bench_user")
        await world.engine.poll_once()
        per_kind: dict[str, int] = {}
        while True:
            rows = await world.outbox.claim_due(now=world.clock(), lease=60, limit=1)
            if not rows:
                break
            before = len(world.sandbox.requests)
            await world.engine._run_action(rows[0])
            per_kind[rows[0].kind] = len(world.sandbox.requests) - before
        return per_kind


# ---- throughput -------------------------------------------------------------------------------


async def throughput(
    tmp: Path, items: list[Thing], pool: list[str], *, matcher: str, batch: int
) -> dict[str, Any]:
    """Items a second through poll_once (fetch, keep, match, record) with 100 modules."""
    factory = _matchers()[matcher]
    async with reddit_world(tmp / f"throughput-{matcher}", items, matcher_factory=factory) as world:
        for i in range(99):
            await world.create(module_rule(i, pool))
        await world.create('on posts and comments if text contains "the" then log')
        # The first poll takes one page and sets the positions (an empty first poll would not).
        world.sandbox.release(batch)
        await world.engine.poll_once()
        ingested = 0
        polls = 0
        released_before = world.sandbox.store.released_count
        matches_before = world.engine.counters.matches
        requests_before = len(world.sandbox.requests)
        started = time.perf_counter()
        while world.sandbox.store.pending_count:
            world.sandbox.release(batch)
            ingested += await world.engine.poll_once()
            polls += 1
        elapsed = time.perf_counter() - started
        return {
            "matcher": matcher,
            "items": len(items) - released_before,
            "ingested": ingested,
            "polls": polls,
            "seconds": round(elapsed, 3),
            "items_per_second": round(ingested / elapsed, 1),
            "matches": world.engine.counters.matches - matches_before,
            "api_requests": len(world.sandbox.requests) - requests_before,
        }


# ---- latency ----------------------------------------------------------------------------------


async def latency(tmp: Path, count: int, *, poll_interval: float, rate: float) -> dict[str, Any]:
    """Seconds from a post appearing to the bot's reply, with the real loops running."""
    config = EngineConfig(
        poll_min_interval=poll_interval,
        runaway_threshold=10**9,
        ignore_authors=frozenset({BOT}),
    )
    async with reddit_world(tmp / "latency", config=config, engine_clock=time.time) as world:
        await world.create('on posts in r/benchsub then reply "seen {id}"')
        stop = asyncio.Event()
        runner = asyncio.create_task(world.engine.run(stop))
        await asyncio.sleep(poll_interval * 2)  # first poll sets the position
        appeared: dict[str, float] = {}
        for i in range(count):
            name = world.post("benchsub", f"bench post {i}", author="bench_user")
            appeared[name] = world.sandbox._clock()
            await asyncio.sleep(1 / rate)
        replies = asyncio.ensure_future(world.sandbox.wait_for_writes(count, timeout=120))
        await asyncio.wait({replies, runner}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await runner  # raises if the engine died
        await replies
        waits = [w["time"] - appeared[w["thing_id"]] for w in world.writes("comment")]
        return {
            "items": count,
            "release_rate_per_s": rate,
            "poll_min_interval": poll_interval,
            "replies": len(waits),
            "median_s": round(statistics.median(waits), 3),
            "p90_s": round(statistics.quantiles(waits, n=10)[-1], 3),
            "worst_s": round(max(waits), 3),
            "api_requests": len(world.sandbox.requests),
        }


async def budget_interval(tmp: Path, pool: list[str]) -> dict[str, Any]:
    """The poll interval the engine picks under Reddit's own budget (100 requests a minute)."""
    async with reddit_world(tmp / "budget", rate_limit=100, config=TEST_ENGINE) as world:
        for i in range(100):
            await world.create(module_rule(i, pool))
        await world.engine.poll_once()
        return {
            "modules": 100,
            "listing_requests_per_poll": world.engine.plan.requests_per_poll(),
            "budget": str(world.reddit.budget()),
            "poll_interval_s": round(world.engine.poll_interval(), 2),
        }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not CORPUS.is_file():
        sys.exit(f"the shared Reddit corpus is not at {CORPUS}: this benchmark needs it")
    corpus = [t for t in load_items(CORPUS) if t["kind"] in ("t1", "t3")]
    items = corpus[-args.items :]
    pool = subreddit_pool(corpus)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results: dict[str, Any] = {
            "listing": [await listing_requests(tmp, pool, n) for n in (1, 100, 1000)],
            "requests_per_action": await requests_per_action(tmp),
            "throughput": [
                await throughput(tmp, items, pool, matcher=name, batch=args.batch)
                for name in _matchers()
            ],
            "latency": await latency(
                tmp, args.latency_items, poll_interval=args.poll_interval, rate=args.rate
            ),
            "budget": await budget_interval(tmp, pool),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reddit_engine", description=__doc__)
    parser.add_argument("--items", type=int, default=2000, help="items for the throughput run")
    parser.add_argument("--batch", type=int, default=200, help="items released between polls")
    parser.add_argument("--latency-items", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="latency: posts a second")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="latency: poll_min_interval"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # asyncprawcore's token request uses aiohttp's deprecated BasicAuth; not ours to fix.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, value in results.items():
        print(f"{name}:")
        for row in value if isinstance(value, list) else [value]:
            print("   ", json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

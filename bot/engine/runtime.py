"""The engine: streams -> matcher -> outbox -> actions, against the ports.

Each loop takes a stop event; ``poll_once`` and ``run_due_actions`` are single
steps that tests drive directly.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.engine.evaluate import match_text
from bot.engine.item import Item, ItemError, item_from_thing
from bot.engine.limits import RunawayGuard, backoff_delay, skip_reason
from bot.engine.matcher import Matcher, PlainMatcher
from bot.engine.ports import (
    ActionError,
    NotifyPort,
    OutboxPort,
    RedditPort,
    StorePort,
    Thing,
    WebhookPort,
)
from bot.engine.streams import StreamPlan, plan_streams
from bot.engine.templates import render
from bot.grammar import ast
from bot.grammar.errors import RuleSyntaxError
from bot.grammar.parser import parse_rule
from bot.store.records import ActionRow, ModuleRecord

log = logging.getLogger(__name__)

KIND_OF_STREAM = {"posts": "t3", "comments": "t1"}


@dataclass(frozen=True, slots=True)
class EngineConfig:
    keep_items: int = 10_000
    page_limit: int = 100
    max_pages: int = 10  # per chunk and poll while whole pages are new (Reddit serves ~1,000 back)
    poll_min_interval: float = 2.0
    poll_max_interval: float = 60.0
    action_share: float = 0.3  # of the API budget kept for actions
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_cap: float = 900.0
    action_lease: float = 120.0
    action_batch: int = 10
    runaway_threshold: int = 60
    runaway_window: float = 60.0
    # Casefolded authors never matched, e.g. the bot's own account: no replies to its replies.
    ignore_authors: frozenset[str] = frozenset()


@dataclass(slots=True)
class StreamHealth:
    polls: int = 0
    items: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_poll: float | None = None  # monotonic
    newest_created: float | None = None
    last_error: str | None = None


@dataclass(slots=True)
class Counters:
    items_seen: int = 0
    matches: int = 0
    skipped: int = 0
    actions_done: int = 0
    actions_failed: int = 0
    actions_dead: int = 0
    last_error: str | None = None
    streams: dict[str, StreamHealth] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadedModule:
    record: ModuleRecord
    rule: ast.Rule


def _fullname(thing: Thing) -> str:
    data = thing.get("data") or {}
    return str(data.get("name") or f"{thing.get('kind')}_{data.get('id')}")


def _created(thing: Thing) -> float:
    created = (thing.get("data") or {}).get("created_utc")
    return float(created) if isinstance(created, int | float) else 0.0


def _default_text(item: Item) -> str:
    what = "post" if item.kind == "t3" else "comment"
    title = item.title if item.kind == "t3" else f"on “{item.title}”"
    return f"New {what} in r/{item.subreddit} by u/{item.author}: {title}\n{item.permalink}"


def _card(item: Item, module_id: int) -> dict[str, Any]:
    return {
        "module": module_id,
        "kind": item.kind,
        "id": item.id,
        "title": item.title,
        "permalink": item.permalink,
        "subreddit": item.subreddit,
        "author": item.author,
        "flair": item.flair,
        "score": item.score,
        "body": item.body,
        "url": item.url,
    }


def notify_target(action: ast.Notify, module: ModuleRecord) -> dict[str, Any]:
    """Where a notification goes, fixed at match time."""
    owner_user = module.owner.partition(":")[2] if module.owner else None
    if action.target == "me" and owner_user is not None:
        return {"kind": "user", "user": owner_user, "place": module.place}
    if action.target == "channel" and module.chat == "discord":
        return {"kind": "channel", "channel": action.channel, "place": module.place}
    return {"kind": "here", "channel": module.channel, "place": module.place}


def build_actions(module: LoadedModule, item: Item) -> list[tuple[str, dict[str, Any]]]:
    """The outbox rows of one match, templates filled in now so a retry needs no item."""
    record = module.record
    values = item.placeholders(module=str(record.id), match=match_text(module.rule, item))
    subject = f"roveit module #{record.id}"
    rows: list[tuple[str, dict[str, Any]]] = []
    for action in module.rule.actions:
        match action:
            case ast.Notify():
                text = render(action.template, values) if action.template else _default_text(item)
                if action.target == "channel" and record.chat != "discord":
                    text = f"[#{action.channel}] {text}"  # no channels here: labelled, sent here
                rows.append(
                    (
                        "notify",
                        {
                            "chat": record.chat,
                            "target": notify_target(action, record),
                            "text": text,
                            "card": _card(item, record.id),
                        },
                    )
                )
            case ast.Reply():
                rows.append(
                    ("reply", {"thing_id": item.fullname, "text": render(action.template, values)})
                )
            case ast.Message():
                to = action.to or item.author
                rows.append(
                    (
                        "message",
                        {"to": to, "subject": subject, "text": render(action.template, values)},
                    )
                )
            case ast.Crosspost():
                # The post's own title when none is given: the crosspost needs no fetch.
                title = render(action.title, values) if action.title else item.title
                rows.append(
                    (
                        "crosspost",
                        {"fullname": item.fullname, "subreddit": action.subreddit, "title": title},
                    )
                )
            case ast.Webhook():
                body = {
                    "module": record.id,
                    "match": values["match"],
                    "item": _card(item, record.id),
                }
                rows.append(("webhook", {"url": action.url, "body": body}))
            case ast.Log():
                continue
    return rows


class Engine:
    """Runs streams, matching and actions until its stop event is set."""

    def __init__(
        self,
        *,
        store: StorePort,
        outbox: OutboxPort,
        reddit: RedditPort,
        notifiers: dict[str, NotifyPort] | None = None,
        webhook: WebhookPort | None = None,
        config: EngineConfig | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        matcher_factory: Callable[[], Matcher] = PlainMatcher,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.reddit = reddit
        # shared with the app, which adds chats (Discord) as they connect
        self.notifiers = notifiers if notifiers is not None else {}
        self.webhook = webhook
        self.config = config or EngineConfig()
        self.clock = clock
        self.monotonic = monotonic
        self.matcher: Matcher = matcher_factory()
        self.modules: dict[int, LoadedModule] = {}
        self.plan = StreamPlan({})
        self.counters = Counters()
        self.started = monotonic()
        self.runaway = RunawayGuard(self.config.runaway_threshold, self.config.runaway_window)
        self._rng = rng or random.Random()
        self._modules_changed = asyncio.Event()
        self._actions_waiting = asyncio.Event()
        self._modules_changed.set()
        self._reload_lock = asyncio.Lock()
        self._polled: set[str] = set()  # streams polled by this engine: later polls page back

    # ---- modules ---------------------------------------------------------------

    def modules_changed(self) -> None:
        """Called after any create, edit, pause, resume or delete: reshape soon."""
        self._modules_changed.set()

    async def reload_modules(self) -> None:
        """Bring the matcher in line with the store, adding and removing only what changed."""
        async with self._reload_lock:
            if self._modules_changed.is_set():
                self._modules_changed.clear()
                await self._reload()

    async def _reload(self) -> None:
        records = await self.store.list_modules(active_only=True)
        fresh: dict[int, LoadedModule] = {}
        for record in records:
            known = self.modules.get(record.id)
            if known is not None and known.record.rule == record.rule:
                fresh[record.id] = LoadedModule(record, known.rule)
                continue
            try:
                fresh[record.id] = LoadedModule(record, parse_rule(record.rule))
            except RuleSyntaxError as exc:
                log.warning("module #%s does not parse and is skipped: %s", record.id, exc.message)
        for module_id, old in self.modules.items():
            if module_id not in fresh or fresh[module_id].rule != old.rule:
                self.matcher.remove(module_id)
        for module_id, new in fresh.items():
            old_module = self.modules.get(module_id)
            if old_module is None or old_module.rule != new.rule:
                self.matcher.add(module_id, new.rule)
        self.modules = fresh
        self.plan = plan_streams(m.rule for m in fresh.values())

    # ---- streams ---------------------------------------------------------------

    async def _fetch_chunk(self, stream: str, chunk: tuple[str, ...]) -> list[Thing]:
        """Recent items of one listing, newest first, paging back while a whole page is new."""
        things: list[Thing] = []
        after: str | None = None
        first_poll = stream not in self._polled and await self.store.get_position(stream) is None
        for _page in range(self.config.max_pages):
            page = await self.reddit.listing(
                stream, chunk, limit=self.config.page_limit, after=after
            )
            things.extend(page)
            if len(page) < self.config.page_limit or first_poll:
                break
            names = [_fullname(t) for t in page]
            if await self.store.known_items(names):
                break
            after = names[-1]
        return things

    async def poll_once(self) -> int:
        """One poll of every planned listing; returns how many new items were processed."""
        if self._modules_changed.is_set():
            await self.reload_modules()
        total = 0
        for stream, chunks in self.plan.chunks.items():
            health = self.counters.streams.setdefault(stream, StreamHealth())
            try:
                things: list[Thing] = []
                for chunk in chunks if chunks is not None else ((),):
                    things.extend(await self._fetch_chunk(stream, chunk))
            except Exception as exc:  # a poll failure is retried next poll; nothing is lost
                health.errors += 1
                health.consecutive_errors += 1
                health.last_error = f"{type(exc).__name__}: {exc}"
                self.counters.last_error = f"{stream}: {health.last_error}"
                log.warning("polling %s failed: %s", stream, health.last_error)
                continue
            self._polled.add(stream)
            health.polls += 1
            health.consecutive_errors = 0
            health.last_poll = self.monotonic()
            total += await self.ingest(stream, things)
        return total

    async def ingest(self, stream: str, things: list[Thing]) -> int:
        """Keep, match and record new items (oldest first), then advance the position."""
        kind = KIND_OF_STREAM[stream]
        # oldest first; several multireddit chunks are merged by creation time
        ordered = sorted((t for t in reversed(things) if t.get("kind") == kind), key=_created)
        new_names = await self.store.keep_items(ordered, keep=self.config.keep_items)
        if not new_names:
            return 0
        wanted = set(new_names)
        fresh = [t for t in ordered if _fullname(t) in wanted]
        processed = await self.process(fresh)
        await self._advance(stream, fresh[-1])
        return processed

    async def recover(self) -> int:
        """After a restart: orphaned actions are queued again, and kept items newer than
        each stream's position are fed again to the current modules."""
        requeued = await self.outbox.requeue_running(now=self.clock())
        if requeued:
            log.info("%d actions left running by a previous engine are queued again", requeued)
        await self.reload_modules()
        total = 0
        for stream, kind in KIND_OF_STREAM.items():
            pos = await self.store.get_position(stream)
            # no position yet: whatever was kept was never matched (a crash in the first batch)
            kept = await (
                self.store.items_after(pos[0])
                if pos
                else self.store.recent_items(self.config.keep_items)
            )
            things = [t for t in kept if t.get("kind") == kind]
            if things:
                total += await self.process(things)
                await self._advance(stream, things[-1])
        return total

    async def _advance(self, stream: str, last: Thing) -> None:
        """Every kept item up to ``last`` has been matched and recorded."""
        await self.store.set_position(
            stream, last_item=_fullname(last), last_created=_created(last), now=self.clock()
        )

    # ---- matching ----------------------------------------------------------------

    async def process(self, things: list[Thing]) -> int:
        """Match items in order; every match (acted on or skipped) is recorded once."""
        count = 0
        for thing in things:
            try:
                item = item_from_thing(thing)
            except ItemError:
                continue
            count += 1
            self.counters.items_seen += 1
            health = self.counters.streams.setdefault(item.stream, StreamHealth())
            health.items += 1
            health.newest_created = max(health.newest_created or 0.0, item.created_utc)
            if item.author.casefold() in self.config.ignore_authors:
                continue
            for module_id in self.matcher.match(item):
                module = self.modules.get(module_id)
                if module is not None:
                    await self._record(module, item)
        return count

    async def _record(self, module: LoadedModule, item: Item) -> None:
        now = self.clock()
        rule = module.rule
        acted = 0
        author_recent = 0
        if rule.limit is not None:
            acted = await self.store.matches_since(
                module.record.id, now - rule.limit.window_seconds
            )
        if rule.cooldown is not None:
            author_recent = await self.store.matches_since(
                module.record.id, now - rule.cooldown.seconds, author=item.author
            )
        skipped = skip_reason(rule, acted_in_window=acted, author_recent=author_recent)
        actions = [] if skipped else build_actions(module, item)
        match_id = await self.store.record_match(
            module_id=module.record.id,
            item=item.fullname,
            author=item.author,
            now=now,
            skipped=skipped,
            actions=actions,
        )
        if match_id is None:
            return
        if skipped:
            self.counters.skipped += 1
            return
        self.counters.matches += 1
        if actions:
            self._actions_waiting.set()
        if self.runaway.record(module.record.id, self.monotonic()):
            await self._stop_runaway(module)

    async def _stop_runaway(self, module: LoadedModule) -> None:
        cfg = self.config
        reason = f"runaway: more than {cfg.runaway_threshold} matches in {cfg.runaway_window:.0f}s"
        await self.store.update_module(
            module.record.id, status="paused", status_reason=reason, now=self.clock()
        )
        self.runaway.forget(module.record.id)
        self.modules_changed()
        log.warning("module #%s paused: %s", module.record.id, reason)
        notifier = self.notifiers.get(module.record.chat)
        if notifier is not None:
            target = notify_target(ast.Notify("me"), module.record)
            text = (
                f"Module #{module.record.id} was paused: it matched more than "
                f"{cfg.runaway_threshold} items in {cfg.runaway_window:.0f} seconds. Check its rule, "
                f"then resume {module.record.id}."
            )
            try:
                await notifier.notify(target, text, {})
            except Exception as exc:
                log.warning("could not tell the owner of #%s: %s", module.record.id, exc)

    # ---- actions -------------------------------------------------------------------

    async def run_due_actions(self) -> int:
        """Run every action that is due now; returns how many were attempted."""
        await self.reload_modules()
        attempted = 0
        while True:
            rows = await self.outbox.claim_due(
                now=self.clock(), lease=self.config.action_lease, limit=self.config.action_batch
            )
            if not rows:
                return attempted
            for row in rows:
                await self._run_action(row)
                attempted += 1

    async def _run_action(self, row: ActionRow) -> None:
        if row.module_id not in self.modules:
            error = f"module #{row.module_id} was paused or deleted before this action ran"
            await self.outbox.fail(row.id, now=self.clock(), error=error, retry_at=None)
            return
        try:
            result = await self._perform(row)
        except ActionError as exc:
            await self._failed(row, str(exc), retry_after=exc.retry_after, permanent=exc.permanent)
        except Exception as exc:
            await self._failed(
                row, f"{type(exc).__name__}: {exc}", retry_after=None, permanent=False
            )
        else:
            self.counters.actions_done += 1
            await self.outbox.finish(row.id, now=self.clock(), result=result)

    async def _failed(
        self, row: ActionRow, error: str, *, retry_after: float | None, permanent: bool
    ) -> None:
        now = self.clock()
        self.counters.actions_failed += 1
        self.counters.last_error = f"{row.kind} for #{row.module_id}: {error}"
        if permanent or row.attempts >= self.config.max_attempts:
            self.counters.actions_dead += 1
            log.warning("action %s of #%s is dead: %s", row.kind, row.module_id, error)
            await self.outbox.fail(row.id, now=now, error=error, retry_at=None)
            return
        delay = (
            retry_after
            if retry_after is not None
            else backoff_delay(
                row.attempts,
                jitter=self._rng.random(),
                base=self.config.backoff_base,
                cap=self.config.backoff_cap,
            )
        )
        log.info("action %s of #%s retries in %.0fs: %s", row.kind, row.module_id, delay, error)
        await self.outbox.fail(row.id, now=now, error=error, retry_at=now + delay)

    async def _perform(self, row: ActionRow) -> str | None:
        p = row.payload
        if row.kind == "notify":
            notifier = self.notifiers.get(p["chat"])
            if notifier is None:
                raise ActionError(f"no {p['chat']} chat is connected")
            return await notifier.notify(p["target"], p["text"], p["card"])
        if row.kind == "reply":
            if row.attempts > 1 and await self.reddit.already_replied(
                p["thing_id"], p["text"], since=row.queued_at or None
            ):
                return "already replied"
            return await self.reddit.reply(p["thing_id"], p["text"])
        if row.kind == "message":
            await self.reddit.message(p["to"], p["subject"], p["text"])
            return None
        if row.kind == "crosspost":
            return await self.reddit.crosspost(p["fullname"], p["subreddit"], p["title"])
        if row.kind == "webhook":
            if self.webhook is None:
                raise ActionError("webhooks are not configured", permanent=True)
            return str(await self.webhook.post(p["url"], p["body"]))
        raise ActionError(f"unknown action {row.kind}", permanent=True)

    # ---- loops -------------------------------------------------------------------

    def poll_interval(self) -> float:
        """Seconds between polls so listings stay within the API budget, leaving room for actions."""
        cfg = self.config
        per_poll = max(self.plan.requests_per_poll(), 1)
        budget = self.reddit.budget()
        if budget.remaining is None or not budget.reset_in:
            return cfg.poll_min_interval
        spendable = max(budget.remaining * (1 - cfg.action_share), 1.0)
        interval = per_poll * budget.reset_in / spendable
        return min(max(interval, cfg.poll_min_interval), cfg.poll_max_interval)

    async def poll_loop(self, stop: asyncio.Event, beat: Callable[[], None] = lambda: None) -> None:
        while not stop.is_set():
            beat()
            if self.plan.chunks or self._modules_changed.is_set():
                await self.poll_once()
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._modules_changed.wait()),
            }
            try:
                await asyncio.wait(
                    waiters, timeout=self.poll_interval(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()

    async def action_loop(
        self, stop: asyncio.Event, beat: Callable[[], None] = lambda: None
    ) -> None:
        while not stop.is_set():
            beat()
            self._actions_waiting.clear()
            await self.run_due_actions()
            due = await self.outbox.next_due()
            timeout = 30.0 if due is None else min(max(due - self.clock(), 0.05), 30.0)
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._actions_waiting.wait()),
            }
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    async def run(self, stop: asyncio.Event) -> None:
        """Recover, then poll and act until ``stop`` is set."""
        await self.recover()
        await asyncio.gather(self.poll_loop(stop), self.action_loop(stop))

    # ---- status ----------------------------------------------------------------------

    def problems(self) -> dict[str, str]:
        """Current trouble, keyed so an alert is raised once and its recovery noticed."""
        found: dict[str, str] = {}
        now = self.monotonic()
        stall_after = max(5 * self.poll_interval(), 120.0)
        for stream in self.plan.chunks:
            health = self.counters.streams.get(stream)
            if health is None:
                continue
            if health.consecutive_errors >= 3:
                found[f"errors:{stream}"] = (
                    f"the {stream} stream failed {health.consecutive_errors} times in a row "
                    f"({health.last_error})"
                )
            if health.last_poll is not None and now - health.last_poll > stall_after:
                found[f"stall:{stream}"] = (
                    f"the {stream} stream has not polled for {_ago(now - health.last_poll)}"
                )
        return found

    def status_fields(self) -> list[tuple[str, str]]:
        now = self.monotonic()
        c = self.counters
        fields = [
            ("uptime", _ago(now - self.started)),
            ("items seen", str(c.items_seen)),
            ("matches", f"{c.matches} (+{c.skipped} skipped by limits)"),
            (
                "actions this run",
                f"{c.actions_done} done, {c.actions_failed} failed, {c.actions_dead} dead",
            ),
            ("listing requests per poll", str(self.plan.requests_per_poll())),
        ]
        for stream, chunks in self.plan.chunks.items():
            health = c.streams.get(stream, StreamHealth())
            where = "r/all" if chunks is None else f"{sum(len(x) for x in chunks)} subreddits"
            last = "never" if health.last_poll is None else _ago(now - health.last_poll) + " ago"
            errors = (
                f", {health.consecutive_errors} errors in a row"
                if health.consecutive_errors
                else ""
            )
            lag = (
                ""
                if health.newest_created is None
                else f", lag {_ago(self.clock() - health.newest_created)}"
            )
            fields.append(
                (
                    f"stream {stream}",
                    f"{where}, last poll {last}{lag}, {health.items} items{errors}",
                )
            )
        if c.last_error:
            fields.append(("last error", c.last_error))
        return fields


def _ago(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"

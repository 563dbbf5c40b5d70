"""What the sandbox's Reddit contains: items released over time, plus the bot's own writes.

Plain data, no I/O: the HTTP layer in reddit.py asks it for listings and hands it writes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bot.sandbox.reddit_things import (
    Thing,
    base36,
    finish_thing,
    fullname,
    listing,
    new_comment,
    new_crosspost,
    new_message,
)

KINDS = ("t1", "t3", "t4")
# Minted ids are 8 base-36 digits, longer than any id in the real corpus (6-7).
_FIRST_MINTED_ID = 36**7

SubredditFilter = Callable[[Thing], bool]

# Keys asyncpraw needs that a hand-written test item may leave out.
_ADDED_DEFAULTS: dict[str, dict[str, Any]] = {
    "t1": {"replies": "", "body": "", "score": 1, "stickied": False, "distinguished": None},
    "t3": {
        "title": "",
        "selftext": "",
        "is_self": True,
        "url": "",
        "domain": "",
        "score": 1,
        "num_comments": 0,
        "over_18": False,
        "spoiler": False,
        "link_flair_text": None,
        "stickied": False,
    },
    "t4": {
        "replies": "",
        "new": True,
        "was_comment": False,
        "first_message_name": None,
        "parent_id": None,
        "subreddit": None,
        "context": "",
        "distinguished": None,
        "subject": "",
        "body": "",
        "type": "unknown",
    },
}


class SandboxError(Exception):
    """A write Reddit would refuse; `errors` is its [[code, message, field]] list."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(f"{code}: {message} ({field})")
        self.errors = [[code, message, field]]


def subreddit_filter(spec: str) -> SubredditFilter:
    """Reddit's multireddit syntax: `a+b+c`, `all`, `popular`, or `all-x-y` (all but x, y)."""
    lowered = spec.casefold()
    if lowered in {"all", "popular"}:
        return lambda thing: True
    if lowered.startswith("all-"):
        excluded = {name for name in lowered.split("-")[1:] if name}
        return lambda thing: str(thing["data"].get("subreddit", "")).casefold() not in excluded
    wanted = {name for name in lowered.split("+") if name}
    return lambda thing: str(thing["data"].get("subreddit", "")).casefold() in wanted


def _own_copy(thing: Thing) -> Thing:
    """Copy the top level so marking read or restamping never touches the caller's dicts."""
    if not isinstance(thing, dict) or thing.get("kind") not in KINDS:
        raise ValueError(f"not a Reddit thing of kind {KINDS}: {str(thing)[:80]}")
    data = thing.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"thing has no data object: {str(thing)[:80]}")
    return {"kind": thing["kind"], "data": dict(data)}


class ItemStore:
    """Released and pending things, indexed the ways the API endpoints read them."""

    def __init__(
        self,
        items: Iterable[Thing] = (),
        *,
        username: str,
        restamp: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.username = username
        self._restamp = restamp
        self._wall_clock = wall_clock
        self._pending: deque[Thing] = deque(_own_copy(thing) for thing in items)
        self._by_kind: dict[str, list[Thing]] = {kind: [] for kind in KINDS}
        self._by_name: dict[str, Thing] = {}
        self._next_id = _FIRST_MINTED_ID

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def released_count(self) -> int:
        return len(self._by_name)

    def release(self, n: int = 1) -> list[str]:
        """Make the next n pending items visible, in the order given."""
        names: list[str] = []
        while self._pending and len(names) < n:
            names.append(self._publish(self._pending.popleft()))
        return names

    def release_all(self) -> list[str]:
        return self.release(len(self._pending))

    def add(self, thing: Thing) -> str:
        """Publish one new item now, minting its id and name, and filling keys it lacks."""
        own = _own_copy(thing)
        for key, value in _ADDED_DEFAULTS[own["kind"]].items():
            own["data"].setdefault(key, value)
        if "created_utc" not in own["data"]:
            own["data"]["created_utc"] = own["data"]["created"] = float(int(self._wall_clock()))
        return self._publish(own)

    def get(self, name: str) -> Thing | None:
        return self._by_name.get(name)

    def _mint_id(self) -> str:
        while True:
            candidate = base36(self._next_id)
            self._next_id += 1
            if not any(f"{kind}_{candidate}" in self._by_name for kind in KINDS):
                return candidate

    def _publish(self, thing: Thing) -> str:
        data = thing["data"]
        if not data.get("id"):
            name = str(data.get("name") or "")
            data["id"] = name.split("_", 1)[1] if "_" in name else self._mint_id()
        if not data.get("name"):
            data["name"] = f"{thing['kind']}_{data['id']}"
        if self._restamp:
            data["created_utc"] = data["created"] = float(int(self._wall_clock()))
        name = fullname(thing)
        if name in self._by_name:
            self._by_kind[thing["kind"]].remove(self._by_name[name])
        self._by_name[name] = thing
        self._by_kind[thing["kind"]].append(thing)
        return name

    # Reading

    def newest(self, kind: str, keep: SubredditFilter | None = None) -> list[Thing]:
        """Released things of a kind, newest (latest released) first."""
        things = reversed(self._by_kind[kind])
        return [thing for thing in things if keep is None or keep(thing)]

    def comments_by(self, user: str) -> list[Thing]:
        """Released comments of one author, newest first."""
        wanted = user.casefold()
        return self.newest("t1", lambda t: str(t["data"].get("author") or "").casefold() == wanted)

    def _is_to_bot(self, thing: Thing) -> bool:
        return str(thing["data"].get("dest") or "").casefold() == self.username.casefold()

    def _is_from_bot(self, thing: Thing) -> bool:
        return str(thing["data"].get("author") or "").casefold() == self.username.casefold()

    def inbox(self, *, unread_only: bool) -> list[Thing]:
        """PMs addressed to the bot, newest first; unread means Reddit's `new` flag."""
        return [
            thing
            for thing in self.newest("t4")
            if self._is_to_bot(thing) and (thing["data"].get("new") or not unread_only)
        ]

    def conversations(self) -> list[Thing]:
        """`/message/messages`: PMs to or from the bot."""
        return [
            thing
            for thing in self.newest("t4")
            if self._is_to_bot(thing) or self._is_from_bot(thing)
        ]

    def unread_count(self) -> int:
        return len(self.inbox(unread_only=True))

    def mark_read(self, names: Iterable[str]) -> list[str]:
        marked: list[str] = []
        for name in names:
            thing = self._by_name.get(name)
            if thing is not None and thing["kind"] == "t4":
                thing["data"]["new"] = False
                marked.append(name)
        return marked

    def info(self, names: Iterable[str]) -> list[Thing]:
        found = (self._by_name.get(name) for name in names)
        return [thing for thing in found if thing is not None and thing["kind"] != "t4"]

    def by_url(self, url: str) -> list[Thing]:
        wanted = url.rstrip("/")
        return [
            thing
            for thing in self.newest("t3")
            if wanted
            in {
                str(thing["data"].get("url") or "").rstrip("/"),
                str(thing["data"].get("url_overridden_by_dest") or "").rstrip("/"),
            }
        ]

    def submission_page(self, post_id: str) -> list[dict[str, Any]] | None:
        """`/comments/{id}`: the post's Listing, then its comment tree's Listing."""
        post = self._by_name.get(f"t3_{post_id}")
        if post is None:
            return None
        link_id = fullname(post)
        comments = [
            thing for thing in self._by_kind["t1"] if thing["data"].get("link_id") == link_id
        ]
        children: dict[str, list[Thing]] = {}
        for comment in comments:
            children.setdefault(str(comment["data"].get("parent_id")), []).append(comment)
        return [listing([post]), listing(_tree(link_id, children), dist=None)]

    # Writing (the bot's own actions)

    def create_comment(self, *, thing_id: str, text: str) -> Thing:
        """Reply to a post, comment or PM, as Reddit's /api/comment does."""
        parent = self._require(thing_id, field="thing_id", kinds=KINDS)
        now = self._wall_clock()
        if parent["kind"] == "t4":
            other = str(parent["data"].get("author") or "")
            if other.casefold() == self.username.casefold():
                other = str(parent["data"].get("dest") or "")
            thing = new_message(
                to=other, subject="", text=text, username=self.username, now=now, parent=parent
            )
        else:
            thing = new_comment(
                thing_id=thing_id, parent=parent, text=text, username=self.username, now=now
            )
        finish_thing(thing, thing_id=self._mint_id())
        self._publish(thing)
        return thing

    def create_message(self, *, to: str, subject: str, text: str) -> Thing:
        if not to:
            raise SandboxError("NO_USER", "please enter a username", "to")
        if not subject:
            raise SandboxError("NO_SUBJECT", "please enter a subject", "subject")
        if not text:
            raise SandboxError("NO_TEXT", "we need something here", "text")
        thing = new_message(
            to=to.removeprefix("/u/").removeprefix("u/"),
            subject=subject,
            text=text,
            username=self.username,
            now=self._wall_clock(),
        )
        finish_thing(thing, thing_id=self._mint_id())
        self._publish(thing)
        return thing

    def create_crosspost(self, *, crosspost_fullname: str, subreddit: str, title: str) -> Thing:
        parent = self._require(crosspost_fullname, field="crosspost_fullname", kinds=("t3",))
        if not subreddit:
            raise SandboxError("SUBREDDIT_REQUIRED", "you must specify a subreddit", "sr")
        if not title:
            raise SandboxError("NO_TEXT", "we need something here", "title")
        thing = new_crosspost(
            parent=parent,
            subreddit=subreddit.removeprefix("r/"),
            title=title,
            username=self.username,
            now=self._wall_clock(),
        )
        finish_thing(thing, thing_id=self._mint_id())
        self._publish(thing)
        return thing

    def _require(self, name: str, *, field: str, kinds: tuple[str, ...]) -> Thing:
        thing = self._by_name.get(name)
        if thing is None or thing["kind"] not in kinds:
            raise SandboxError("INVALID_ID", "that item doesn't exist", field)
        return thing


def _tree(parent: str, children: dict[str, list[Thing]]) -> list[Thing]:
    """Copies of the comments under `parent`, each with its replies nested as Reddit does."""
    nested: list[Thing] = []
    for comment in children.get(parent, []):
        replies = _tree(fullname(comment), children)
        data = dict(comment["data"])
        data["replies"] = listing(replies, dist=None) if replies else ""
        nested.append({"kind": "t1", "data": data})
    return nested

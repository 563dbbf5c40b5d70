"""One normalized Item built from a Reddit thing ``{"kind", "data"}`` (SPEC §1 field table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REDDIT = "https://www.reddit.com"
STREAM_OF_KIND = {"t3": "posts", "t1": "comments"}


class ItemError(ValueError):
    """A thing that is not a post or a comment, or has no id."""


def _clean(value: str) -> str:
    """Lone surrogates (JSON allows "\\ud800") become U+FFFD, so RE2 and UTF-8 always work."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    return _clean(value if isinstance(value, str) else str(value))


def _number(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _flag(data: Mapping[str, Any], key: str) -> bool:
    return data.get(key) is True


@dataclass(slots=True)
class Item:
    """A post or comment as the rule language sees it; text fields are never None."""

    kind: str
    id: str
    subreddit: str
    author: str
    title: str
    body: str
    flair: str
    author_flair: str
    domain: str
    url: str
    score: int
    comments: int
    nsfw: bool
    spoiler: bool
    self: bool
    permalink: str
    created_utc: float
    _folded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fullname(self) -> str:
        return f"{self.kind}_{self.id}"

    @property
    def stream(self) -> str:
        return STREAM_OF_KIND[self.kind]

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}"

    def field_text(self, name: str) -> str:
        """The value of a text field, as written."""
        if name == "text":
            return self.text
        value = getattr(self, name)
        return value if isinstance(value, str) else str(value)

    def folded(self, name: str) -> str:
        """The casefolded value of a text field, computed once per item."""
        cached = self._folded.get(name)  # .get: a miss (once per field) costs no exception
        if cached is not None:
            return cached
        if name == "text":  # casefold maps code point by code point, and "\n" to itself
            cached = self.folded("title") + "\n" + self.folded("body")
        else:
            cached = self.field_text(name).casefold()
        self._folded[name] = cached
        return cached

    def encoded(self, name: str) -> bytes:
        """The UTF-8 bytes of a text field, as written, computed once per item (RE2 searches
        bytes without decoding offsets back into characters)."""
        cached = self._encoded.get(name)
        if cached is None:
            cached = self._encoded[name] = self.field_text(name).encode()
        return cached

    def number(self, name: str) -> int:
        return self.score if name == "score" else self.comments

    def flag(self, name: str) -> bool:
        return bool(getattr(self, name))

    def placeholders(self, *, module: str = "", match: str = "") -> dict[str, str]:
        """Values for action templates."""
        return {
            "title": self.title,
            "body": self.body,
            "text": self.text,
            "author": self.author,
            "subreddit": self.subreddit,
            "permalink": self.permalink,
            "url": self.url,
            "flair": self.flair,
            "score": str(self.score),
            "id": self.id,
            "module": module,
            "match": match,
        }


def _permalink(data: Mapping[str, Any]) -> str:
    link = _text(data, "permalink")
    if not link:
        return ""
    return link if link.startswith("http") else REDDIT + link


def item_from_thing(thing: Mapping[str, Any]) -> Item:
    """Normalize a listing child; ItemError for anything but a t3 or t1 with an id."""
    kind = thing.get("kind")
    data = thing.get("data")
    if kind not in STREAM_OF_KIND or not isinstance(data, Mapping):
        raise ItemError(f"not a post or comment (kind {kind!r})")
    item_id = _text(data, "id")
    if not item_id:
        name = _text(data, "name")
        item_id = name.partition("_")[2]
    if not item_id:
        raise ItemError("the item has no id")
    created = data.get("created_utc")
    is_post = kind == "t3"
    return Item(
        kind=kind,
        id=item_id,
        subreddit=_text(data, "subreddit"),
        author=_text(data, "author"),
        title=_text(data, "title" if is_post else "link_title"),
        body=_text(data, "selftext" if is_post else "body"),
        flair=_text(data, "link_flair_text") if is_post else "",
        author_flair=_text(data, "author_flair_text"),
        domain=_text(data, "domain") if is_post else "",
        url=_text(data, "url") if is_post else "",
        score=_number(data, "score"),
        comments=_number(data, "num_comments") if is_post else 0,
        nsfw=_flag(data, "over_18"),
        spoiler=_flag(data, "spoiler") if is_post else False,
        self=_flag(data, "is_self") if is_post else False,
        permalink=_permalink(data),
        created_utc=float(created) if isinstance(created, int | float) else 0.0,
    )

"""The rule language's syntax tree: frozen dataclasses named after grammar rules.

Every node carries ``pos`` (where it started in the rule text). ``pos`` takes no
part in equality, so a rule parsed from its printed form equals the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Fields a text test may read, and the numeric fields and flags (SPEC §1).
TEXT_FIELDS = (
    "title",
    "body",
    "text",
    "author",
    "subreddit",
    "flair",
    "author_flair",
    "domain",
    "url",
)
NUMBER_FIELDS = ("score", "comments")
FLAGS = ("nsfw", "spoiler", "self")
STREAMS = ("posts", "comments")
TEXT_OPS = ("contains", "contains_all", "contains_word", "is", "startswith", "endswith")
COMPARE_OPS = ("<", "<=", ">", ">=", "=", "!=")
PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
PLACEHOLDERS = (
    "title",
    "body",
    "text",
    "author",
    "subreddit",
    "permalink",
    "url",
    "flair",
    "score",
    "id",
    "module",
    "match",
)

TextOp = Literal["contains", "contains_all", "contains_word", "is", "startswith", "endswith"]
CompareOp = Literal["<", "<=", ">", ">=", "=", "!="]


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int
    offset: int = 0


def _pos() -> Pos | None:
    return field(default=None, compare=False, repr=False, kw_only=True)


# ---- conditions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextTest:
    """``F contains "s"``, ``contains all [..]``, ``contains word``, ``is``, ``startswith``, ``endswith``.

    ``values`` holds the strings as written (prefixes ``u/`` and ``r/`` removed);
    more than one value means "any of them", except for ``contains_all``.
    """

    field: str
    op: TextOp
    values: tuple[str, ...]
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Empty:
    """``F is empty``."""

    field: str
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Matches:
    """``F matches /pattern/flags`` with flags drawn from ``i``, ``m``, ``s``."""

    field: str
    pattern: str
    flags: str = ""
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Compare:
    """``score >= 10``: numeric comparison on ``score`` or ``comments``."""

    field: str
    op: CompareOp
    value: int
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Flag:
    """``nsfw``, ``spoiler`` or ``self``."""

    name: str
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]
    pos: Pos | None = _pos()


Condition = TextTest | Empty | Matches | Compare | Flag | Not | And | Or


# ---- actions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notify:
    """``notify here|me|#channel ["template"]``; ``channel`` is set for ``#channel``."""

    target: Literal["here", "me", "channel"]
    channel: str | None = None
    template: str | None = None
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Reply:
    template: str
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Message:
    """``message author "t"`` (``to`` is None) or ``message u/name "t"``."""

    to: str | None
    template: str
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Crosspost:
    subreddit: str
    title: str | None = None
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Log:
    pos: Pos | None = _pos()


Action = Notify | Reply | Message | Crosspost | Webhook | Log


# ---- options and the rule -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """``limit N per minute|hour|day``."""

    count: int
    per: Literal["minute", "hour", "day"]
    pos: Pos | None = _pos()

    @property
    def window_seconds(self) -> int:
        return PERIODS[self.per]


@dataclass(frozen=True, slots=True)
class Cooldown:
    """``cooldown DURATION per author``; the duration kept in seconds."""

    seconds: int
    pos: Pos | None = _pos()


@dataclass(frozen=True, slots=True)
class Rule:
    """``on STREAMS [in SUBREDDITS] [if CONDITION] then ACTIONS [OPTIONS]``.

    ``subreddits`` is empty for every subreddit (no ``in``, or ``in r/all``);
    names keep the case they were written in and are compared casefolded.
    """

    streams: tuple[str, ...]
    subreddits: tuple[str, ...]
    condition: Condition | None
    actions: tuple[Action, ...]
    limit: Limit | None = None
    cooldown: Cooldown | None = None
    pos: Pos | None = _pos()


# ---- commands (SPEC §2) ---------------------------------------------------
# A rule inside a command is kept both as text (what is stored) and parsed.


@dataclass(frozen=True, slots=True)
class Create:
    rule_text: str
    rule: Rule
    anonymous: bool = False


@dataclass(frozen=True, slots=True)
class ListModules:
    scope: Literal["mine", "all"] = "mine"


@dataclass(frozen=True, slots=True)
class Show:
    module_id: int


@dataclass(frozen=True, slots=True)
class Edit:
    module_id: int
    rule_text: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class Pause:
    module_id: int


@dataclass(frozen=True, slots=True)
class Resume:
    module_id: int


@dataclass(frozen=True, slots=True)
class Delete:
    module_id: int


@dataclass(frozen=True, slots=True)
class Claim:
    module_id: int
    token: str


@dataclass(frozen=True, slots=True)
class Test:
    """``test RULE_OR_ID [on URL_OR_ID]``: exactly one of ``rule`` and ``module_id`` is set."""

    rule_text: str | None
    rule: Rule | None
    module_id: int | None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Backtest:
    """``backtest RULE_OR_ID [last N]``: exactly one of ``rule`` and ``module_id`` is set."""

    rule_text: str | None
    rule: Rule | None
    module_id: int | None
    last: int | None = None


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``heartbeat here [every DURATION]`` (``enable``) or ``heartbeat off``."""

    enable: bool
    every_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None


Command = (
    Create
    | ListModules
    | Show
    | Edit
    | Pause
    | Resume
    | Delete
    | Claim
    | Test
    | Backtest
    | Status
    | Heartbeat
    | Help
)
COMMAND_NAMES = (
    "create",
    "list",
    "show",
    "edit",
    "pause",
    "resume",
    "delete",
    "claim",
    "test",
    "backtest",
    "status",
    "heartbeat",
    "help",
)

"""The literals every match of a regular expression must contain (up to case).

The indexed matcher scans for them instead of running each regex, and the evaluator
checks them (a substring search in the casefolded field) before it runs RE2 at all.
"""

from __future__ import annotations

from dataclasses import dataclass


class _Unsure(Exception):
    """Syntax the literal extractor does not model: no literals are named for it."""


_ESCAPED_CHARS = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_CLASS_ESCAPES = set("dDsSwW")
_ZERO_WIDTH_ESCAPES = set("bBAz")


@dataclass(slots=True)
class _Piece:
    """One atom of a regex: a literal character, any other one-character thing, or a group."""

    char: str | None = None
    group: frozenset[str] | None = None
    is_group: bool = False
    zero_width: bool = False


class _RegexScanner:
    """A conservative reader of RE2 syntax that finds literals every match must contain."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alternation(self) -> frozenset[str] | None:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        if any(b is None for b in branches):
            return None
        return frozenset().union(*(b for b in branches if b is not None))

    def sequence(self) -> frozenset[str] | None:
        options: list[frozenset[str]] = []
        run: list[str] = []

        def close() -> None:
            if run:
                options.append(frozenset({"".join(run)}))
                run.clear()

        while self.peek() not in ("", "|", ")"):
            piece = self.piece()
            low, high = self.quantifier()
            if piece.zero_width or low == 0:
                close()
            elif piece.is_group:
                close()
                if piece.group is not None:
                    options.append(piece.group)
            elif piece.char is not None:
                run.append(piece.char)
                if high != 1:
                    close()
            else:
                close()
        close()
        return max(options, key=_literal_strength) if options else None

    def quantifier(self) -> tuple[int, int | None]:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.i += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
        elif ch == "{" and (bounds := self._braces()) is not None:
            low, high = bounds
        else:
            return 1, 1
        if self.peek() == "?":
            self.i += 1
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._is_repeat()):
            raise _Unsure("stacked repetition")
        return low, high

    def _is_repeat(self) -> bool:
        save = self.i
        try:
            return self._braces() is not None
        finally:
            self.i = save

    def _braces(self) -> tuple[int, int | None] | None:
        end = self.p.find("}", self.i)
        if end < 0:
            return None
        body = self.p[self.i + 1 : end]
        low_text, comma, high_text = body.partition(",")
        if not low_text.isdigit() or not (high_text == "" or high_text.isdigit()):
            return None
        if not low_text.isascii() or not high_text.isascii():
            return None
        self.i = end + 1
        low = int(low_text)
        if not comma:
            return low, low
        return low, int(high_text) if high_text else None

    def piece(self) -> _Piece:
        ch = self.peek()
        if ch == "(":
            return self.group()
        if ch == "[":
            self.char_class()
            return _Piece()
        if ch == ".":
            self.i += 1
            return _Piece()
        if ch in ("^", "$"):
            self.i += 1
            return _Piece(zero_width=True)
        if ch == "\\":
            return self.escape()
        if ch in ("*", "+", "?"):
            raise _Unsure("repetition without an operand")
        self.i += 1
        return _Piece(char=ch)

    def group(self) -> _Piece:
        self.i += 1
        if self.p.startswith("?", self.i):
            self.i += 1
            if self.p.startswith("P<", self.i) or self.peek() == "<":
                end = self.p.find(">", self.i)
                if end < 0:
                    raise _Unsure("unterminated group name")
                self.i = end + 1
            else:
                while self.peek().isalpha() or self.peek() == "-":
                    self.i += 1
                if self.peek() == ")":
                    self.i += 1
                    return _Piece(zero_width=True)
                if self.peek() != ":":
                    raise _Unsure("unknown group syntax")
                self.i += 1
        inner = self.alternation()
        if self.peek() != ")":
            raise _Unsure("unbalanced parenthesis")
        self.i += 1
        return _Piece(group=inner, is_group=True)

    def char_class(self) -> None:
        self.i += 1
        if self.peek() == "^":
            self.i += 1
        if self.peek() == "]":
            self.i += 1
        while True:
            ch = self.peek()
            if ch == "":
                raise _Unsure("unterminated character class")
            if ch == "]":
                self.i += 1
                return
            if ch == "\\":
                self.i += 2
            elif self.p.startswith("[:", self.i):
                end = self.p.find(":]", self.i + 2)
                if end < 0:
                    raise _Unsure("unterminated named class")
                self.i = end + 2
            else:
                self.i += 1

    def escape(self) -> _Piece:
        nxt = self.p[self.i + 1 : self.i + 2]
        self.i += 2
        if nxt == "":
            raise _Unsure("trailing backslash")
        if nxt in _ZERO_WIDTH_ESCAPES:
            return _Piece(zero_width=True)
        if nxt in _CLASS_ESCAPES:
            return _Piece()
        if nxt in ("p", "P"):
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                if end < 0:
                    raise _Unsure("unterminated unicode class")
                self.i = end + 1
            else:
                self.i += 1
            return _Piece()
        if nxt in _ESCAPED_CHARS:
            return _Piece(char=_ESCAPED_CHARS[nxt])
        if nxt.isascii() and not nxt.isalnum():
            return _Piece(char=nxt)
        raise _Unsure(f"escape \\{nxt}")


def _literal_strength(options: frozenset[str]) -> tuple[int, int]:
    return min(len(s.casefold()) for s in options), -len(options)


def required_literals(pattern: str) -> frozenset[str] | None:
    """Strings (as written) one of which every match of ``pattern`` contains, up to
    case; None when none can be named. Case folds with RE2's ``i`` flag are covered
    because a case-insensitive match casefolds to the casefolded literal."""
    scanner = _RegexScanner(pattern)
    try:
        found = scanner.alternation()
    except _Unsure:
        return None
    if scanner.i != len(pattern):
        return None
    return found


def folded_literals(pattern: str) -> tuple[str, ...] | None:
    """``required_literals`` casefolded, for a substring search in a casefolded field:
    when none of them is there, the pattern cannot match (under any flags)."""
    literals = required_literals(pattern)
    if literals is None:
        return None
    return tuple(sorted({literal.casefold() for literal in literals}))


_META = frozenset("\\^$.|?*+()[]{}")


def literal_alternatives(pattern: str) -> tuple[str, ...] | None:
    """The branches of a pattern that is nothing but literals joined by ``|``
    (``/cat|dog/``), or None. Without the ``i`` flag such a pattern matches exactly where
    the text contains one of them, so a substring search can stand in for RE2."""
    branches = pattern.split("|")
    if all(branch and _META.isdisjoint(branch) for branch in branches):
        return tuple(dict.fromkeys(branches))
    return None

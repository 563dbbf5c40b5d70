"""The one error family of the grammar: what a user sees when a rule or command does not parse."""

from __future__ import annotations

from typing import Any

EXCERPT_SPAN = 60  # characters shown either side of the caret on long lines


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based offset into ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def excerpt(text: str, offset: int, *, span: int = EXCERPT_SPAN) -> str:
    """The source line around ``offset`` and a caret under it, like Lark's ``get_context``."""
    offset = max(0, min(offset, len(text)))
    start = max(offset - span, 0)
    before = text[start:offset].rsplit("\n", 1)[-1]
    after = text[offset : offset + span].split("\n", 1)[0]
    return before + after + "\n" + " " * len(before.expandtabs()) + "^\n"


def indent(context: str) -> str:
    """Two spaces before each line of an excerpt, so it stands apart from the message."""
    return "\n".join("  " + line for line in context.rstrip("\n").split("\n"))


class RuleSyntaxError(ValueError):
    """A rule that does not parse; ``str()`` is the whole answer shown to the user."""

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        excerpt: str = "",
        expected: tuple[str, ...] = (),
        hint: str | None = None,
        offset: int = 0,
        where: str = "",
    ) -> None:
        self.message = message
        self.where = where
        self.line = line
        self.column = column
        self.excerpt = excerpt
        self.expected = expected
        self.hint = hint
        self.offset = offset
        super().__init__(self.render())

    def render(self) -> str:
        """Where, what was wrong, the rule with a caret under the spot, then a hint."""
        lines = [f"{self.where}line {self.line}, column {self.column}: {self.message}"]
        if self.excerpt:
            lines.append(self.excerpt)
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "line": self.line,
            "column": self.column,
            "excerpt": self.excerpt,
            "expected": self.expected,
            "hint": self.hint,
            "offset": self.offset,
            "where": self.where,
        }
        return _rebuild, (type(self), self.message, fields)

    @classmethod
    def at(
        cls,
        text: str,
        offset: int,
        message: str,
        *,
        expected: tuple[str, ...] = (),
        hint: str | None = None,
        context: str | None = None,
    ) -> RuleSyntaxError:
        """The error for ``offset`` in ``text``; ``context`` overrides the computed excerpt."""
        line, column = position(text, offset)
        shown = context if context is not None else excerpt(text, offset)
        return cls(
            message,
            line=line,
            column=column,
            excerpt=indent(shown),
            expected=expected,
            hint=hint,
            offset=offset,
        )


class CommandSyntaxError(RuleSyntaxError):
    """A command that does not parse; for a rule inside it, positions are within the rule."""

    @classmethod
    def in_rule(cls, err: RuleSyntaxError) -> CommandSyntaxError:
        """The command error for a bad rule inside a command, keeping the rule's positions."""
        return cls(
            err.message,
            line=err.line,
            column=err.column,
            excerpt=err.excerpt,
            expected=err.expected,
            hint=err.hint,
            offset=err.offset,
            where="in the rule: ",
        )


def _rebuild(
    cls: type[RuleSyntaxError], message: str, fields: dict[str, object]
) -> RuleSyntaxError:
    return cls(message, **fields)  # type: ignore[arg-type]

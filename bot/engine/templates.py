"""Action templates: ``{author}``, ``{body:200}``; ``{{`` and ``}}`` are literal braces.

Only the documented placeholders exist; there is no attribute access, indexing or
format spec beyond a truncation length, so a template can reach nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from bot.grammar.ast import PLACEHOLDERS

MAX_TRUNCATE = 10_000
ELLIPSIS = "…"


class TemplateError(ValueError):
    """A template that cannot be used; ``offset`` is where in the template text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    width: int | None = None


Part = str | Field


def _placeholder(inner: str, offset: int) -> Field:
    name, sep, width_text = inner.partition(":")
    name = name.strip()
    if name not in PLACEHOLDERS:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise TemplateError(
            f"unknown placeholder {{{inner}}}; the placeholders are {known}", offset
        )
    if not sep:
        return Field(name)
    width_text = width_text.strip()
    if not width_text.isdigit() or not width_text.isascii():
        raise TemplateError(
            f"{{{inner}}}: after ':' comes a length in characters, like {{{name}:200}}", offset
        )
    width = int(width_text)
    if not 1 <= width <= MAX_TRUNCATE:
        raise TemplateError(f"{{{inner}}}: the length must be 1 to {MAX_TRUNCATE}", offset)
    return Field(name, width)


@lru_cache(maxsize=4096)
def parse_template(text: str) -> tuple[Part, ...]:
    """Split a template into literal text and placeholders; TemplateError if it is unusable."""
    parts: list[Part] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError("'{' is not closed; write {{ for a literal brace", i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_placeholder(text[i + 1 : end], i))
            i = end + 1
        elif ch == "}":
            raise TemplateError("'}' without '{'; write }} for a literal brace", i)
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def truncate(value: str, width: int | None) -> str:
    """The first ``width`` characters, then "…" when anything was cut."""
    if width is None or len(value) <= width:
        return value
    return value[:width] + ELLIPSIS


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill a template that ``parse_template`` accepted, from plain string values."""
    out: list[str] = []
    for part in parse_template(text):
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(truncate(values.get(part.name, ""), part.width))
    return "".join(out)

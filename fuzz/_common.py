"""What both harnesses share: the project on sys.path, and the checks on a parse error."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.grammar.errors import RuleSyntaxError, position  # noqa: E402


def check_error(text: str, err: RuleSyntaxError, *, in_rule: bool = False) -> None:
    """A parse error a user can act on: a position inside the text and words to read."""
    assert err.line >= 1 and err.column >= 1, (err.line, err.column)
    assert str(err) and err.message, "an error without words"
    if in_rule:  # positions are within the rule, which is a tail of the command
        assert err.line <= text.count("\n") + 1 and err.column <= len(text) + 1
        return
    assert 0 <= err.offset <= len(text), (err.offset, len(text))
    assert position(text, err.offset) == (err.line, err.column), (err.offset, err.line)

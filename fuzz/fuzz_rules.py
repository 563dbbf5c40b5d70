"""Atheris harness: parse_rule raises only RuleSyntaxError, with a position; a parsed rule
survives format_rule unchanged.

    python fuzz/fuzz_rules.py fuzz/corpus/rules -atheris_runs=200000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from _common import check_error

    from bot.grammar.errors import RuleSyntaxError
    from bot.grammar.parser import parse_rule
    from bot.grammar.printer import format_rule


def test_one_input(data: bytes) -> None:
    """One input: any text, valid or not."""
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        rule = parse_rule(text)
    except RuleSyntaxError as err:
        check_error(text, err)
        return
    printed = format_rule(rule)
    again = parse_rule(printed)
    assert again == rule, (text, printed)
    assert format_rule(again) == printed, (text, printed)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

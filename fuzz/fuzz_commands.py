"""Atheris harness: parse_command raises only CommandSyntaxError, with a position; a rule
inside a parsed command survives format_rule unchanged.

    python fuzz/fuzz_commands.py fuzz/corpus/commands -atheris_runs=200000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from _common import check_error

    from bot.grammar import ast
    from bot.grammar.errors import CommandSyntaxError
    from bot.grammar.parser import parse_command, parse_rule
    from bot.grammar.printer import format_rule


def test_one_input(data: bytes) -> None:
    """One input: any text, valid or not."""
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        command = parse_command(text)
    except CommandSyntaxError as err:
        check_error(text, err, in_rule=bool(err.where))
        return
    rule = getattr(command, "rule", None)
    if isinstance(rule, ast.Rule):
        assert parse_rule(format_rule(rule)) == rule, text


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

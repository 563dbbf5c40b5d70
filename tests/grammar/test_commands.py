"""SPEC §2 commands: every form, and the errors a user is shown."""

from __future__ import annotations

import pytest

from bot.grammar import ast
from bot.grammar.errors import CommandSyntaxError, RuleSyntaxError
from bot.grammar.parser import parse_command, parse_rule

RULE = 'on posts if title contains "x" then notify here'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"create {RULE}", ast.Create(RULE, parse_rule(RULE))),
        (f"CREATE Anonymous {RULE}", ast.Create(RULE, parse_rule(RULE), anonymous=True)),
        (f"create\n{RULE}\n", ast.Create(RULE, parse_rule(RULE))),
        ("list", ast.ListModules("mine")),
        ("list mine", ast.ListModules("mine")),
        ("List ALL", ast.ListModules("all")),
        ("show 12", ast.Show(12)),
        ("show #12", ast.Show(12)),
        (f"edit #4 {RULE}", ast.Edit(4, RULE, parse_rule(RULE))),
        ("pause 1", ast.Pause(1)),
        ("resume #2", ast.Resume(2)),
        ("delete 3", ast.Delete(3)),
        ("claim 5 Abc_123-xyz", ast.Claim(5, "Abc_123-xyz")),
        ("test 7", ast.Test(None, None, 7)),
        ("test #7 on t3_abc123", ast.Test(None, None, 7, "t3_abc123")),
        (f"test {RULE}", ast.Test(RULE, parse_rule(RULE), None)),
        (
            f"test {RULE} on https://www.reddit.com/r/x/comments/abc/title/",
            ast.Test(
                RULE, parse_rule(RULE), None, "https://www.reddit.com/r/x/comments/abc/title/"
            ),
        ),
        (
            'test on posts then reply "come on in"',
            ast.Test(
                'on posts then reply "come on in"',
                parse_rule('on posts then reply "come on in"'),
                None,
            ),
        ),
        ("backtest 9", ast.Backtest(None, None, 9)),
        ("backtest #9 last 200", ast.Backtest(None, None, 9, 200)),
        (f"backtest {RULE}", ast.Backtest(RULE, parse_rule(RULE), None)),
        (f"backtest {RULE} LAST 50", ast.Backtest(RULE, parse_rule(RULE), None, 50)),
        ("status", ast.Status()),
        ("heartbeat here", ast.Heartbeat(True)),
        ("heartbeat here every 30m", ast.Heartbeat(True, 1800)),
        ("Heartbeat Here Every 1d", ast.Heartbeat(True, 86400)),
        ("heartbeat off", ast.Heartbeat(False)),
        ("help", ast.Help()),
        ("help Create", ast.Help("create")),
        ("help  rule\n language ", ast.Help("rule language")),
    ],
)
def test_command_forms(text: str, expected: ast.Command) -> None:
    assert parse_command(text) == expected


def test_every_command_name_is_covered() -> None:
    seen = {
        type(parse_command(text)).__name__
        for text in (
            f"create {RULE}",
            "list",
            "show 1",
            f"edit 1 {RULE}",
            "pause 1",
            "resume 1",
            "delete 1",
            "claim 1 t",
            "test 1",
            "backtest 1",
            "status",
            "heartbeat off",
            "help",
        )
    }
    assert len(seen) == len(ast.COMMAND_NAMES)


@pytest.mark.parametrize(
    ("text", "line", "column", "message", "hint"),
    [
        (
            f"craete {RULE}",
            1,
            1,
            'unknown command "craete"',
            'did you mean "create"?',
        ),
        ("hlep", 1, 1, 'unknown command "hlep"', 'did you mean "help"?'),
        (
            "",
            1,
            1,
            "expected a command",
            "the commands are create, list, show, edit, pause, resume, delete, claim, test, "
            "backtest, status, heartbeat, help",
        ),
        (
            "create posts then log",
            1,
            8,
            'expected "anonymous" or a rule starting with on',
            'a rule starts with "on", like: on posts if title contains "python" then notify here',
        ),
        ("show abc", 1, 6, "expected a module id like 12 or #12", None),
        ("show", 1, 5, "the command ends here; expected a module id like 12 or #12", None),
        ("show 0", 1, 6, "no module has that id", None),
        ("list everything", 1, 6, 'expected "mine", "all" or the end of the command', None),
        ("status now", 1, 8, "expected the end of the command", None),
        ("claim 3", 1, 8, "the command ends here; expected the claim token", None),
        ("claim 3 a+b", 1, 9, "that does not look like a claim token", None),
        ("test 5 on", 1, 10, "the command ends here; expected a Reddit link or item id", None),
        ("test 5 on 'x'", 1, 11, "expected a Reddit link or an item id like t3_abc123", None),
        ("heartbeat here every 5s", 1, 22, "the duration must be from 1 minute to 365 days", None),
        (
            "heartbeat here every soon",
            1,
            22,
            "expected a duration like 30m, 2h or 1d",
            None,
        ),
        ("heartbeat", 1, 10, 'the command ends here; expected "here" or "off"', None),
        ("backtest 3 last 0", 1, 17, "last takes 1 to 10,000 items", None),
        (f"backtest {RULE} last 99999", 1, 63, "last takes 1 to 10,000 items", None),
    ],
)
def test_command_errors(text: str, line: int, column: int, message: str, hint: str | None) -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command(text)
    err = caught.value
    assert (err.line, err.column, err.message, err.hint) == (line, column, message, hint)
    assert str(err).startswith(f"line {line}, column {column}: {message}")


def test_rule_errors_inside_commands_are_relative_to_the_rule() -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command('create anonymous on posts if title contians "x" then log')
    err = caught.value
    assert isinstance(err, RuleSyntaxError)
    assert (err.line, err.column) == (1, 19)
    assert str(err) == (
        "in the rule: line 1, column 19: expected a test: contains, matches, is, startswith, endswith, =, !=\n"
        '  on posts if title contians "x" then log\n'
        "                    ^\n"
        'did you mean "contains"?'
    )
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command("edit 3 on comments then crosspost r/pics")
    assert caught.value.message == "crosspost shares posts; this rule watches comments"
    assert caught.value.column == 18


def test_huge_command_is_rejected_before_parsing() -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command("create " + "on posts then log, " * 100_000)
    assert "characters long" in caught.value.message

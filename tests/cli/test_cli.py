"""The ``roveit`` command line as a real subprocess (SPEC §3)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.engine.evaluate import compile_rule
from bot.engine.item import ItemError, item_from_thing
from bot.grammar.parser import parse_rule
from tests.conftest import CORPUS

ROVEIT = str(Path(sys.executable).parent / "roveit")


def roveit(
    *args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "REDDIT_", "ROVEIT_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [ROVEIT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=full_env,
    )


def test_check_prints_the_canonical_rule_and_an_explanation() -> None:
    done = roveit("check", "on posts in r/buildapcsales if title contains “4090” then notify here")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == 'on posts in r/buildapcsales if title contains "4090" then notify here'
    assert len(done.stdout.splitlines()) > 1


def test_check_fails_with_line_column_and_caret() -> None:
    done = roveit("check", 'on posts if title contians "x" then log')
    assert done.returncode == 1
    assert done.stdout == ""
    assert "line 1, column 19" in done.stderr
    lines = done.stderr.splitlines()
    caret_line = next(line for line in lines if line.strip() == "^")
    rule_line = lines[lines.index(caret_line) - 1]
    assert rule_line[caret_line.index("^")] == "c"  # the caret sits under "contians"
    assert 'did you mean "contains"' in done.stderr


def _expected(rule: str, things: list[dict[str, Any]]) -> list[str]:
    compiled = compile_rule(parse_rule(rule))
    out = []
    for t in things:
        try:
            item = item_from_thing(t)
        except ItemError:
            continue
        if compiled.matches(item):
            out.append(item.fullname)
    return out


@pytest.mark.parametrize(
    "rule",
    [
        'on posts and comments in r/wallstreetbets if text contains word ["GME", "AMC"] then log',
        'on posts if (title contains "help" or flair is "Question") and self then log',
        "on comments if body matches /\\bthanks?\\b/i and score >= 2 then log",
    ],
)
def test_backtest_json_on_the_shared_corpus(rule: str, corpus: list[dict[str, Any]]) -> None:
    done = roveit("backtest", "--items", str(CORPUS), "--json", rule)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["scanned"] == len(corpus) == 9309
    assert result["matched"] == _expected(rule, corpus)


def test_backtest_reads_plain_and_gzip_files_and_the_bundled_sample(tmp_path: Path) -> None:
    things = [
        {"kind": "t3", "data": {"id": "a1", "title": "Cat pics", "subreddit": "pics"}},
        {"kind": "t4", "data": {"id": "m1", "body": "a PM"}},
        {
            "kind": "t1",
            "data": {"id": "c1", "body": "cat!", "link_title": "x", "subreddit": "pics"},
        },
        {"kind": "t3", "data": {"id": "a2", "title": "dog", "subreddit": "pics"}},
    ]
    plain = tmp_path / "items.jsonl"
    plain.write_text("\n".join(json.dumps(t) for t in things) + "\n\n")
    packed = tmp_path / "items.jsonl.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(plain.read_text())
    rule = 'on posts and comments if text contains "cat" then log'
    for path in (plain, packed):
        done = roveit("backtest", "--items", str(path), "--json", rule)
        assert json.loads(done.stdout) == {"scanned": 4, "matched": ["t3_a1", "t1_c1"]}
    human = roveit("backtest", "--items", str(plain), rule)
    assert human.returncode == 0 and "matched 2 of 4 items" in human.stdout
    sample = roveit("backtest", "--json", "on posts and comments then log")
    assert json.loads(sample.stdout)["scanned"] == 400


def test_backtest_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "t3", "data": {"id": "a"}}\nnot json\n')
    done = roveit("backtest", "--items", str(bad), "--json", "on posts then log")
    assert done.returncode == 1 and "bad.jsonl:2" in done.stderr
    missing = roveit("backtest", "--items", str(tmp_path / "nope.jsonl"), "on posts then log")
    assert missing.returncode == 1 and "nope.jsonl" in missing.stderr
    rule = roveit("backtest", "--json", "on posts if then log")
    assert rule.returncode == 1 and "column" in rule.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x/roveit.sqlite3"}
    first = roveit("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0 and "0001_initial.sql" in first.stdout
    second = roveit("db", "upgrade", env=env, cwd=tmp_path)
    assert second.returncode == 0 and "up to date" in second.stdout
    relative = roveit("db", "upgrade", env={"DATABASE_URL": "sqlite:///rel.sqlite3"}, cwd=tmp_path)
    assert relative.returncode == 0 and (tmp_path / "rel.sqlite3").is_file()
    wrong = roveit("db", "upgrade", env={"DATABASE_URL": "mysql://x"}, cwd=tmp_path)
    assert wrong.returncode == 2 and "DATABASE_URL" in wrong.stderr


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKNE=abc\n")
    done = roveit("db", "upgrade", cwd=tmp_path)
    assert done.returncode == 2 and "DISCORD_TOKNE" in done.stderr


SCRIPT = """\
create on posts if title contains "cat" then log
create anonymous on comments in r/python, r/learnpython if body matches /\\basync(io)?\\b/i then log
list
list all
show 1
edit 1 on posts if title contains "dog" then log
pause 1
resume 1
test 1
test on posts then log on t3_nope
backtest 1 last 50
status
heartbeat here every 10m
heartbeat off
help
help actions
create on posts if title contians "x" then log
delete 1
list all
"""


def test_every_command_through_the_terminal_chat(tmp_path: Path) -> None:
    done = roveit("chat", stdin=SCRIPT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Created module #1." in out
    assert "Created anonymous module #2." in out and "claim 2 " in out
    assert "#1" in out and "#2" in out
    assert "Module #1 now reads:" in out and 'title contains "dog"' in out
    assert "Module #1 is paused." in out and "Module #1 is running again." in out
    assert "I could not find t3_nope" in out
    assert "matches" in out and "of the last 50 items" in out
    assert "roveit status" in out and "active modules" in out
    assert "Heartbeat here every 10m" in out and "Heartbeat off." in out
    assert "roveit help" in out
    assert "line 1, column 19" in out and 'did you mean "contains"?' in out
    assert "Module #1 is deleted." in out
    assert out.rstrip().endswith("(owner: anonymous)")  # the last list shows only #2


def test_claim_through_the_terminal_as_two_users(tmp_path: Path) -> None:
    made = roveit(
        "chat", "--user", "alice", stdin="create anonymous on posts then log\n", cwd=tmp_path
    )
    token = made.stdout.split("claim 1 ")[1].split()[0]
    refused = roveit("chat", "--user", "bob", stdin="pause 1\nclaim 1 wrong\n", cwd=tmp_path)
    assert "claim it first" in refused.stdout and "not the claim token" in refused.stdout
    claimed = roveit("chat", "--user", "bob", stdin=f"claim 1 {token}\npause 1\n", cwd=tmp_path)
    assert "You now own module #1." in claimed.stdout and "Module #1 is paused." in claimed.stdout
    other = roveit("chat", "--user", "carol", stdin="resume 1\n", cwd=tmp_path)
    assert "Only the owner of module #1" in other.stdout


SPEC_EXAMPLES = [
    'on posts in r/buildapcsales if title contains "4090" then notify here',
    'on comments in r/python, r/learnpython if body matches /\\basync(io)?\\b/i and not author is "AutoModerator" then notify #alerts "{author}: {body:200}"',
    'on posts in r/all if flair is "Discussion" and score >= 10 then reply "Thanks for posting, u/{author}!" limit 5 per hour',
    'on posts in r/pics if domain is ["imgur.com", "i.redd.it"] and not nsfw then crosspost r/mycollection',
    'on posts and comments in r/wallstreetbets if text contains word ["GME", "AMC"] then webhook "https://example.com/hook" cooldown 10m per author',
    'on posts if (title contains "help" or flair is "Question") and self then message author "Your question was received", notify me',
]


def test_every_spec_example_is_created_in_the_terminal_chat(tmp_path: Path) -> None:
    script = "".join(f"create {rule}\n" for rule in SPEC_EXAMPLES) + "list\n"
    done = roveit("chat", stdin=script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for n, rule in enumerate(SPEC_EXAMPLES, 1):
        assert f"Created module #{n}." in done.stdout
        assert f"#{n} {rule}  (owner: you)" in done.stdout
    assert "error" not in done.stdout

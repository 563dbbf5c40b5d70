"""Secrets never reach a log: the redacting formatter on hostile log records, and whole runs
of ``roveit start`` (Reddit and Discord configured, DEBUG logs) and ``roveit chat`` whose
every byte of output is searched for the secrets they were given."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from bot.logs import REDACTED, setup_logging
from bot.sandbox.discord import DiscordSandbox, reset_discord_py
from bot.sandbox.reddit import RedditSandbox

ROOT = Path(__file__).resolve().parents[2]
ROVEIT = [sys.executable, "-m", "bot.cli"]
BOT = "roveit_bot"

DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GxYzAb.discord-token-s3cret_value"
CLIENT_SECRET = "client-secret-'quoted'-\\back\\slash"
PASSWORD = 'p@ss w0rd "quoted" \\ 100%'
REFRESH_TOKEN = "refresh-token-4521-xyz/+="
WEBHOOK_TOKEN = "hooktoken9f8e7d6c"
WEBHOOK = f"https://hooks.example.com/services/T00/{WEBHOOK_TOKEN}-path?token={WEBHOOK_TOKEN}"
SECRETS = (DISCORD_TOKEN, CLIENT_SECRET, PASSWORD, REFRESH_TOKEN)


def forms(secret: str) -> set[str]:
    """The ways a secret can be written into a log line: as is, escaped, URL-encoded."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        repr(secret)[1:-1],
        json.dumps(repr(secret)[1:-1])[1:-1],  # a repr inside a JSON log line
        quote(secret, safe=""),
        quote_plus(secret),
    }


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return sorted({form for s in secrets for form in forms(s) if form in text})


# ---- the formatter ------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _log_everything(log: logging.Logger, secret: str) -> None:
    log.debug("login with %s", secret)
    log.info("options %r", {"password": secret})
    log.warning("url https://x.example/?p=%s and %s", quote(secret, safe=""), quote_plus(secret))
    try:
        try:
            raise KeyError(secret)
        except KeyError as inner:
            raise RuntimeError(f"auth failed for {secret!r}") from inner
    except RuntimeError:
        log.exception("request failed")


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("secret", SECRETS)
def test_the_formatter_redacts_every_form_of_a_secret(
    restore_logging: None, capsys: pytest.CaptureFixture[str], fmt: str, secret: str
) -> None:
    setup_logging(level="DEBUG", fmt=fmt, secrets=SECRETS)
    _log_everything(logging.getLogger("roveit.test"), secret)
    err = capsys.readouterr().err
    assert "request failed" in err and "Traceback" in err and "RuntimeError" in err
    assert err.count(REDACTED) >= 6
    assert leaks(err, SECRETS) == []


# ---- whole runs -----------------------------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'roveit.sqlite3'}",
        "LOG_LEVEL": "DEBUG",
        **extra,
    }


def _written(sandbox: RedditSandbox, kind: str, key: str, value: str) -> list[str]:
    return [w["text"] for w in sandbox.writes if w["type"] == kind and w[key] == value]


async def _wait_written(sandbox: RedditSandbox, kind: str, key: str, value: str) -> str:
    """The first text the bot wrote with ``key`` = ``value`` (answers: comments on the PM)."""
    while not (found := _written(sandbox, kind, key, value)):
        await sandbox.wait_for_writes(len(sandbox.writes) + 1, timeout=30)
    return found[0]


def _pm(sandbox: RedditSandbox, author: str, body: str) -> str:
    data = {"author": author, "dest": BOT, "subject": "roveit", "body": body}
    return sandbox.add_item({"kind": "t4", "data": data})


async def test_a_full_start_with_every_secret_logs_none(tmp_path: Path) -> None:
    reddit = RedditSandbox([], username=BOT)
    discord = DiscordSandbox(token=DISCORD_TOKEN)
    base = await reddit.start()
    api_base, gateway = await discord.start()
    reset_discord_py()  # the sandbox points this process's discord.py at itself; not needed
    env = _env(
        tmp_path,
        LOG_FORMAT="json",
        REDDIT_CLIENT_ID="roveit-test-client",
        REDDIT_CLIENT_SECRET=CLIENT_SECRET,
        REDDIT_USERNAME=BOT,
        REDDIT_PASSWORD=PASSWORD,
        REDDIT_REFRESH_TOKEN=REFRESH_TOKEN,
        REDDIT_OAUTH_URL=base,
        REDDIT_URL=base,
        DISCORD_TOKEN=DISCORD_TOKEN,
        DISCORD_API_BASE=api_base,
        DISCORD_GATEWAY_URL=gateway,
        ROVEIT_ADMINS="boss_user",
    )
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *ROVEIT, "start", stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        # One inbox poll takes all three (the PM chat polls every 20 s or so).
        rule = f'on posts if title contains "flowcheck" then webhook "{WEBHOOK}", notify here'
        asked = {
            who: _pm(reddit, who, text)
            for who, text in (
                ("alice_test", f"create anonymous {rule}"),
                ("bob_test", "claim 1 guessed-claim-token-123"),
                ("boss_user", "list all"),
            )
        }
        answers = {
            who: await _wait_written(reddit, "comment", "thing_id", name)
            for who, name in asked.items()
        }
        token = re.search(r"claim (\d+) (\S+)", answers["alice_test"])
        assert token, answers
        assert "not the claim token" in answers["bob_test"]
        assert f"#{token.group(1)}" in answers["boss_user"]
        reddit.add_item({"kind": "t3", "data": {"subreddit": "pics", "title": "a flowcheck post"}})
        notified = await _wait_written(reddit, "compose", "to", "alice_test")
        assert "flowcheck" in notified, "the module fired"
        await discord.wait_ready(timeout=30)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        await reddit.stop()
        await discord.stop()
    logs = err.read_text("utf-8", "replace")
    printed = out.read_text("utf-8", "replace")
    assert code == 0, logs[-3000:]
    assert '"level": "DEBUG"' in logs and "webhook" in logs, "the search reads real DEBUG logs"
    secrets = (*SECRETS, WEBHOOK_TOKEN, token.group(2), "guessed-claim-token-123")
    assert leaks(logs + printed, secrets) == []


async def _chat(tmp_path: Path, env: dict[str, str], *commands: str) -> tuple[str, str]:
    """``roveit chat`` on piped stdin: what it printed, and what it logged."""
    proc = await asyncio.create_subprocess_exec(
        *ROVEIT, "chat", "--user", "mallory", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    stdin = "\n".join(commands).encode() + b"\n"
    stdout, stderr = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode(), stderr.decode()


async def test_the_terminal_chat_prints_a_claim_token_once_and_logs_no_secret(
    tmp_path: Path,
) -> None:
    env = _env(
        tmp_path,
        DISCORD_TOKEN=DISCORD_TOKEN,
        REDDIT_CLIENT_SECRET=CLIENT_SECRET,
        REDDIT_PASSWORD=PASSWORD,
        REDDIT_REFRESH_TOKEN=REFRESH_TOKEN,
    )
    printed, logs = await _chat(
        tmp_path,
        env,
        f'create anonymous on posts then webhook "{WEBHOOK}"',
        'create on posts if title contains "x" then log',
        "list all",
        "claim 1 not-the-token",
        "status",
    )
    token = re.search(r"claim 1 (\S+)", printed)
    assert token and printed.count(token.group(1)) == 2, "shown once: in the text and its field"
    printed_later, logs_later = await _chat(
        tmp_path, env, f"claim 1 {token.group(1)}", "show 1", "edit 1 on posts then log"
    )
    assert "You now own module #1" in printed_later
    assert token.group(1) not in printed_later.replace(f"claim 1 {token.group(1)}", "")
    assert leaks(logs + logs_later, (*SECRETS, WEBHOOK_TOKEN, token.group(1))) == []
    assert leaks(printed + printed_later, SECRETS) == []

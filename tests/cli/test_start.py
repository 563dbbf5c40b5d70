"""``roveit start`` on embedded defaults: a first run fires modules; SIGTERM stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.app import _serve, running
from bot.chat.terminal import terminal_caller
from bot.commands.dispatch import handle_text
from bot.config import load_settings

ROVEIT = str(Path(sys.executable).parent / "roveit")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "REDDIT_", "ROVEIT_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/roveit.sqlite3"
    return env


async def test_a_first_run_shows_a_module_firing(tmp_path: Path) -> None:
    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/r.sqlite3", "ROVEIT_REPLAY_RATE": "50"}, dotenv=None
    )
    fired: asyncio.Queue[str] = asyncio.Queue()
    async with running(settings, say=fired.put_nowait) as bot:
        reply = await handle_text(
            'create on posts and comments then notify here "{subreddit}: {title}"',
            terminal_caller(),
            bot.ctx,
        )
        assert not reply.error, reply
        stop = asyncio.Event()
        serving = asyncio.create_task(_serve(bot, stop, with_chats=False))
        first = await asyncio.wait_for(fired.get(), timeout=30)
        stop.set()
        await asyncio.wait_for(serving, timeout=15)
    head, subreddit, _title = first.split(": ", 2)
    assert head == "🔔 module #1" and subreddit  # a subreddit of the bundled items


def test_start_without_a_terminal_runs_until_sigterm(tmp_path: Path) -> None:
    with subprocess.Popen(
        [ROVEIT, "start"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
    ) as proc:
        _run_until_sigterm(proc)


def _run_until_sigterm(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stderr is not None
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if "is the leader" in line or not line:
                break
        assert any("is the leader" in line for line in seen), seen
        assert proc.poll() is None, "stdin at EOF must not stop the bot"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = proc.stderr.read()
        assert "roveit stopped cleanly" in rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

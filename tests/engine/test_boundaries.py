"""The engine is plain Python: it imports no chat client, Reddit client, database driver or
scheduler (those live at the edges, behind bot/engine/ports.py)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import bot.engine

FORBIDDEN = ("discord", "asyncpraw", "asyncprawcore", "aiosqlite", "apscheduler", "aiohttp")


def test_engine_modules_import_no_io_libraries() -> None:
    names = [f"bot.engine.{m.name}" for m in pkgutil.iter_modules(bot.engine.__path__)]
    assert "bot.engine.runtime" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

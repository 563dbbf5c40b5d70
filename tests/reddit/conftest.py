"""The Reddit world fixture: sandbox + asyncpraw + store + engine + PM chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reddit.harness import World, reddit_world


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with reddit_world(tmp_path, admins=("Mod_Admin",)) as built:
        yield built

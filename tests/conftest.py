"""Shared fixtures: where the shared Reddit data lives, real items from it."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI replays the same examples every run (a submission must not land or fail by chance);
# developers' runs keep exploring new ones, and the examples that fail are kept as
# explicit @example cases.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
SHARED_REDDIT = ROOT.parent / "shared" / "reddit"
CORPUS = SHARED_REDDIT / "corpus.jsonl.gz"


def corpus_things() -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        pytest.skip(
            f"the shared Reddit corpus is not at {CORPUS}: these tests need ../shared/reddit"
        )
    return corpus_things()

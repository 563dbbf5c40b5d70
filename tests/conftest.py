"""Shared fixtures: where the shared Reddit data lives, real items from it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

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

"""Bundled data: a sample of real Reddit items for first runs, ``test`` and ``backtest``."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

SAMPLE_NAME = "sample.jsonl.gz"


class ThingsFileError(ValueError):
    """A line of an items file that is not a Reddit thing; says which line and why."""


def sample_path() -> Path:
    return Path(str(resources.files("bot.data") / SAMPLE_NAME))


def _open(path: Path) -> TextIO:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_things(path: str | Path) -> Iterator[dict[str, Any]]:
    """Reddit things ``{"kind", "data"}`` from a JSON-lines file, gzip or not; blank lines skipped."""
    path = Path(path)
    with _open(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                thing = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ThingsFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(thing, dict) or not isinstance(thing.get("data"), dict):
                raise ThingsFileError(f'{path}:{number}: not a Reddit thing {{"kind", "data"}}')
            yield thing


def load_sample() -> list[dict[str, Any]]:
    return list(iter_things(sample_path()))

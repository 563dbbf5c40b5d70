"""The matching benchmark as a user runs it: generate rules, run both engines, same matches."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from bot.grammar.parser import parse_rule
from tests.conftest import CORPUS, ROOT

KEYS = {"items", "modules", "seconds", "items_per_second", "matches", "rss_per_module_bytes"}


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.matching", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.fixture(scope="module")
def small_items(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1,500 corpus things (in a temporary file, not the project)."""
    if not CORPUS.is_file():
        pytest.skip(f"the shared Reddit corpus is not at {CORPUS}: the benchmark reads it")
    path = tmp_path_factory.mktemp("bench") / "items.jsonl"
    with gzip.open(CORPUS, "rt", encoding="utf-8") as source:
        path.write_text("".join(islice(source, 1500)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rules_file(small_items: Path) -> Path:
    out = small_items.with_name("rules.txt")
    done = bench("--generate", "60", "--seed", "2", "--items", str(small_items), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rules = out.read_text(encoding="utf-8").splitlines()
    assert len(rules) == 60
    for rule in rules:
        parse_rule(rule)
    kinds = " ".join(rules)
    for word in ("contains", "matches", " is ", "startswith", "endswith", " in r/", " and ", "not"):
        assert word in kinds, word
    out.write_text("# generated\n\n" + "\n".join(rules) + "\n", encoding="utf-8")
    return out


def run_engine(engine: str, rules: Path, items: Path) -> dict[str, object]:
    done = bench("--rules", str(rules), "--items", str(items), "--engine", engine, "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_indexed_and_plain_report_the_same_matches(rules_file: Path, small_items: Path) -> None:
    plain = run_engine("plain", rules_file, small_items)
    indexed = run_engine("indexed", rules_file, small_items)
    for report in (plain, indexed):
        assert set(report) >= KEYS
        assert report["modules"] == 60
        assert isinstance(report["items"], int) and 1000 < report["items"] <= 1500
        assert isinstance(report["seconds"], float) and report["seconds"] > 0
    assert plain["items"] == indexed["items"]
    assert isinstance(plain["matches"], int) and plain["matches"] > 0
    assert indexed["matches"] == plain["matches"]


def test_generation_is_deterministic_per_seed(small_items: Path) -> None:
    first, second, other = (
        bench("--generate", "5", "--seed", seed, "--items", str(small_items)).stdout
        for seed in ("7", "7", "8")
    )
    assert first == second
    assert first != other
    assert len(first.splitlines()) == 5


def test_without_rules_it_says_what_to_give() -> None:
    done = bench("--json")
    assert done.returncode == 2
    assert "--rules" in done.stderr

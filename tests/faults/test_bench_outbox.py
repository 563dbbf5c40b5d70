"""The outbox benchmark runs end to end and reports what it measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.outbox import main


def test_bench_outbox_prints_rates_for_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--actions", "300", "--batch", "25", "--db", str(tmp_path / "o.sqlite3")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["actions"], report["batch"]) == (300, 25)
    for run in ("enqueue", "drain", "concurrent", "engine"):
        assert report[run]["per_second"] > 0 and report[run]["seconds"] > 0, run

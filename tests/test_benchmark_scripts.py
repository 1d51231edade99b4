"""The result tables of the benchmark scripts: statistics and files, at a tiny scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import probe_check  # noqa: E402


def test_probe_check_writes_its_table(tmp_path, capsys):
    argv = ["--eps", "0.1", "--steps", "2", "--seeds", "1", "--results", str(tmp_path)]
    assert probe_check.main(argv) == 0
    text = (tmp_path / "probe_check.md").read_text()
    assert "| steps | condition | shape | scale | orientation | position_x | position_y |" in text
    assert "| 2 | original |" in text and "| 2 | oblique 0.1 |" in text
    assert "commit: " in text and "command: python benchmarks/probe_check.py" in text
    rows = json.loads((tmp_path / "probe_check.json").read_text())["rows"]
    assert [row["condition"] for row in rows] == ["original", "oblique 0.1"]
    assert all(0.0 <= a <= 1.0 for row in rows for a in row["accuracy"][0])

"""The result tables of the benchmark scripts: statistics and files, at a tiny scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_check  # noqa: E402
import probe_check  # noqa: E402


def _record(condition: str, seed: int, mig: float) -> dict:
    return {
        "seed": seed,
        "dataset": {"condition": condition},
        "metrics": {"mig": {"discrete_mig": mig}},
    }


def test_paper_check_table_and_rank_test():
    records = [_record("original", s, v) for s, v in enumerate([0.5, 0.7, 0.6])]
    records += [_record("oblique", s, v) for s, v in enumerate([0.1, 0.3, 0.2])]
    records += [_record("noise", s, v) for s, v in enumerate([0.6, 0.8, 0.7])]
    table = paper_check.mig_by_condition(records)
    assert table["original"] == [0.5, 0.7, 0.6]  # seed order
    assert table["oblique_shuffled"] == []
    rows = {row["condition"]: row for row in paper_check.summary_rows("beta_vae", table)}
    assert set(rows) == {"original", "oblique", "noise"}
    assert rows["original"]["mean"] == pytest.approx(0.6)
    assert rows["original"]["sd"] == pytest.approx(0.1)
    assert rows["original"]["p_lower_than_original"] is None
    # Complete separation of 3 vs 3: the exact one-sided p-value is 1 / C(6, 3) = 0.05.
    assert rows["oblique"]["p_lower_than_original"] == pytest.approx(0.05)
    assert rows["noise"]["p_lower_than_original"] > 0.5
    text = paper_check.markdown(list(rows.values()), {"setting": "reduced", "seeds": 3})
    assert "| beta_vae | oblique | 3 | 0.200 | 0.100 | 0.05 | 0.10, 0.30, 0.20 |" in text
    assert "- seeds: 3" in text


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

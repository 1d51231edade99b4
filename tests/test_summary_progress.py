"""The robustness table and the progress lines, on known inputs."""

from __future__ import annotations

import io
import json

import pytest

from disentangle_bench.pipeline.summary import ResultsTable, load_run_record, mean_and_sd
from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.progress import Progress, format_duration


def record(condition: str, seed: int, score: float) -> dict:
    return {
        "dataset": {"base": "toy", "condition": condition},
        "model": {"name": "beta_vae"},
        "metrics": {"mig": {"discrete_mig": score}},
        "training": {"steps_completed": 100, "batch_size": 64},
        "seed": seed,
        "device": "cpu",
    }


def test_table_groups_seeds_per_condition_and_reports_the_change():
    records = [
        record("original", 0, 0.5),
        record("original", 1, 0.7),
        record("noise", 0, 0.2),
        record("noise", 1, 0.4),
    ]
    table = ResultsTable.from_records(records)
    assert table.conditions == ["original", "noise"]
    (row,) = table.rows()
    assert row["original"]["mean"] == pytest.approx(0.6)
    assert row["original"]["sd"] == pytest.approx(0.1414213562)
    assert row["noise"]["values"] == [0.2, 0.4]
    markdown = table.to_markdown("toy")
    row_text = "| toy | beta_vae | mig.discrete_mig | 0.600 (0.141) | 0.300 (0.141) "
    assert row_text + "| -0.300 [-0.300, -0.300] |" in markdown
    assert "steps 100; batch_size 64; seeds 0, 1; device cpu" in markdown
    assert "every twin lowered the score beyond seed noise" in markdown
    assert "A bootstrap over 2 seeds is indicative only" in markdown
    assert json.loads(json.dumps(table.to_json()))["rows"][0]["noise"]["mean"] == pytest.approx(0.3)


def test_changes_are_paired_by_seed_and_read_by_their_interval():
    records = [record("original", s, v) for s, v in enumerate([0.6, 0.7, 0.5, 0.6])]
    records += [record("oblique", s, v) for s, v in enumerate([0.3, 0.2, 0.3, 0.25])]
    # Noise given in another seed order: pairing is by seed, not by position.
    records += [record("noise", s, v) for s, v in [(3, 0.62), (0, 0.58), (2, 0.52), (1, 0.71)]]
    table = ResultsTable.from_records(records)
    (row,) = table.rows()
    oblique, noise = row["oblique - original"], row["noise - original"]
    assert oblique["n"] == noise["n"] == 4
    assert oblique["mean"] == pytest.approx(-0.3375)
    assert oblique["interval"][1] < 0
    assert noise["mean"] == pytest.approx(0.0075)
    assert noise["interval"][0] < 0 < noise["interval"][1]
    (sentence,) = table.findings()
    assert "interval lies below zero on oblique only" in sentence
    markdown = table.to_markdown("toy")
    assert "Mean (sd) over 4 seeds" in markdown


def test_one_seed_says_it_cannot_separate_a_change_from_noise():
    table = ResultsTable.from_records([record("original", 0, 0.5), record("noise", 0, 0.4)])
    markdown = table.to_markdown("toy")
    assert "| -0.100 |" in markdown and "Mean (sd)" not in markdown
    assert "One seed cannot separate a change from seed noise." in markdown


def test_mean_and_sd_of_one_value():
    assert mean_and_sd([0.25]) == (0.25, 0.0)


def test_unfinished_record_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"status": "running"}')
    with pytest.raises(BenchError, match="not a finished run record"):
        load_run_record(path)
    path.write_text("{not json")
    with pytest.raises(BenchError, match="cannot read run record"):
        load_run_record(path)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (75, "1m15s"), (3725, "1h02m")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_progress_reports_rate_and_eta_from_work_measured_here():
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(1000, "train", start=200, interval=5.0, stream=stream, clock=lambda: now[0])
    now[0] = 110.0
    progress.update(300, "loss=1")  # 100 steps in 10 s: 10 steps/s, 700 left: 70 s
    now[0] = 111.0
    progress.update(310)  # within the interval: not printed
    now[0] = 200.0
    progress.update(1000)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "train 300/1000 (30%) 10.0 steps/s ETA 1m10s | loss=1"
    assert lines[1].startswith("train 1000/1000 (100%) 8.0 steps/s ETA 0s")
    assert len(lines) == 2

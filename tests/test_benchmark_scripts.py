"""The result tables of the benchmark scripts: statistics and files, at a tiny scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

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


def test_twin_distinctness_counts_distinct_images_and_fails_on_a_collision(tmp_path, capsys):
    import twin_distinctness

    out = tmp_path / "distinct.jsonl"
    argv = ["shapes3d_small", "--limit", "300", "--chunk", "128", "--out", str(out)]
    assert twin_distinctness.main(argv) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["dataset"] == "shapes3d_small"
    assert row["configurations"] == row["distinct_images"] == 300 and row["all_distinct"]

    class Repeating:  # two configurations share every image
        num_configurations = 6

        def factors_of(self, index):
            return np.asarray(index)[:, None] % 3

        def sample_observations_from_factors(self, factors, random_state):
            return np.repeat(factors[:, :, None, None].astype(np.float32), 4, axis=2)

    assert twin_distinctness.distinct_images(Repeating(), chunk=4) == (6, 3)


def test_testbed_decoder_measures_capture_and_losses_against_their_references(monkeypatch):
    import testbed_decoder

    from disentangle_bench.data.blob import Blob
    from disentangle_bench.evidence.testbed import Condition

    monkeypatch.setattr(testbed_decoder, "STEPS", 30)
    base = Blob()
    for form in ("blend", "push"):
        row = testbed_decoder.measure(Condition("structural", 0.1, form=form), 0, base)
        assert row["steps"] == 30 and row["form"] == form and 0.0 <= row["mig"] <= 1.0
        assert np.isfinite(row["pattern_capture"])
        # the floor is the least any decoder can reach (Gibbs' inequality)
        assert row["loss_floor"] < min(row["loss_pattern_blind"], row["reconstruction_loss"])
    slow_condition = Condition("shuffled", 0.1, form="blend", switch_share=0.0625)
    slow = testbed_decoder.measure(slow_condition, 0, base)
    assert slow["label"] == "shuffled@eps=0.1,pattern=0,form=blend,share=0.0625"
    assert slow["switch_share"] == 0.0625 and set(slow["code_r2"]) == set(base.factor_names)
    data = slow_condition.build(base)
    assert data.perturbation.switch_share == 0.0625 and data.perturbation.shuffle
    pcl = testbed_decoder.measure(
        Condition("structural", 0.1, form="blend", switch_share=0.0625), 0, base, "pcl"
    )
    assert pcl["model"] == "pcl" and "pattern_capture" not in pcl and pcl["active_latents"] <= 2
    kept = testbed_decoder.clean_part(Condition("structural", 0.1, form="blend"), np.ones(3))
    np.testing.assert_allclose(kept, 0.9)


def test_quickstart_time_times_both_modes_and_checks_they_give_one_table(
    monkeypatch, tmp_path, capsys
):
    import quickstart_time

    tiny = Path(__file__).parent / "configs" / "tiny.gin"
    monkeypatch.setattr(quickstart_time, "QUICKSTART", tiny)
    assert quickstart_time.main(["--out", str(tmp_path)]) == 0
    (report_path,) = tmp_path.glob("quickstart_time-*.json")
    report = json.loads(report_path.read_text())
    assert set(report["seconds"]) == set(quickstart_time.MODES)
    assert all(len(times) == 1 and times[0] > 0 for times in report["seconds"].values())
    assert report["same_table"] is True and report["median_ratio_baseline_over_auto"] > 0
    text = report_path.with_suffix(".md").read_text()
    assert "| --jobs 1 (baseline) |" in text and "Both give the same table: yes" in text


def test_testbed_report_splits_the_decoder_table_by_model_and_pattern_seed(tmp_path, monkeypatch):
    import testbed_report

    monkeypatch.setattr(testbed_report, "ROOT", tmp_path)

    def row(model, pattern, seed, capture):
        label = f"structural@eps=0.175,pattern={pattern},form=blend,share=0.0625"
        return {
            "model": model, "label": label, "kind": "structural", "form": "blend",
            "eps": 0.175, "switch_share": 0.0625, "seed": seed, "mig": 0.1 * seed,
            "pattern_capture": capture, "reconstruction_loss": 330.0, "loss_floor": 310.0,
            "loss_pattern_blind": 360.0, "commit": "abc1234",
        }  # fmt: skip

    rows = [row("beta_vae", 0, s, 0.8) for s in (0, 1)] + [row("beta_vae", 1, 0, 0.6)]
    rows += [row("beta_tc_vae", 0, s, 0.7) for s in (0, 1)]
    rows.append({"model": "pcl", "label": rows[0]["label"], "seed": 0, "mig": 0.6})  # no decoder
    path = tmp_path / "decoder.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    study = [{"model": "beta_vae", "label": rows[0]["label"], "seed": 1, "mig": 0.1}]
    text, record = testbed_report.decoder_section(path, study)
    assert "their MIG equals the study's for 1 of the 1 runs" in text
    assert "| beta_vae | blend | 0.0625 | 0.175 | structural | 0 | 2 |" in text
    assert "| beta_vae | blend | 0.0625 | 0.175 | structural | 1 | 1 |" in text
    assert "| beta_tc_vae | blend | 0.0625 | 0.175 | structural | 0 | 2 |" in text
    assert "pcl" not in text
    assert record["beta_tc_vae/blend/share=0.0625/eps=0.175/structural/pattern=0"][
        "pattern_capture"
    ] == [0.7, 0.7]

"""The README's quickstart: the test bed's claim in one config, deterministic, with a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from disentangle_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "gin_configs" / "quickstart.gin"


def run_quickstart(out: Path, capsys, steps: int) -> tuple[dict, str]:
    code = main(
        [
            "run",
            "--gin",
            str(QUICKSTART),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--bind",
            f"train.steps = {steps}",
            "--bind",
            f"train.checkpoint_every = {steps}",
            "--bind",
            "mig.num_train = 1000",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    return json.loads((out / "results.json").read_text()), printed


def test_the_quickstart_describes_the_test_bed_claim():
    text = QUICKSTART.read_text()
    assert "experiment.datasets = ['blob']" in text
    assert "experiment.perturbations = ['oblique_blend', 'blend_matched_noise']" in text
    assert "oblique_blend.switch_share = 0.0625" in text
    assert "experiment.seeds = [0, 1]" in text
    assert "experiment.jobs = 'auto'" in text  # one worker per core: minutes, not tens of them


@pytest.mark.slow
def test_the_quickstart_is_deterministic_and_reads_its_intervals(tmp_path, capsys):
    first, printed = run_quickstart(tmp_path / "a", capsys, steps=30)
    second, _ = run_quickstart(tmp_path / "b", capsys, steps=30)
    assert first["rows"] == second["rows"]  # the same config and seeds give the same table
    (row,) = first["rows"]
    assert row["dataset"] == "blob" and row["model"] == "beta_vae"
    for twin in ("oblique_blend", "blend_matched_noise"):
        change = row[f"{twin} - original"]
        assert change["n"] == 2 and len(change["interval"]) == 2
    assert "beta_vae on blob, mig.discrete_mig:" in printed
    assert "Mean (sd) over 2 seeds" in printed

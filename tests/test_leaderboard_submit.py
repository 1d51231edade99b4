"""``bench submit`` and ``bench leaderboard validate`` on real runs of tests/configs/tiny.gin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gin
import pytest

from disentangle_bench.cli import main
from disentangle_bench.leaderboard import build_leaderboard_for_runs, load_submission

TINY = str(Path(__file__).parent / "configs" / "tiny.gin")
RUN = "dsprites_small-{}-beta_vae-seed{}"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two seeds of beta_vae on dsprites_small, its oblique and its noise twin (6 tiny runs)."""
    out = tmp_path_factory.mktemp("study") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
        patch.delenv("DISENTANGLE_BENCH_PLUGINS", raising=False)
        gin.clear_config()
        bindings = [
            "experiment.seeds = [0, 1]",
            "experiment.perturbations = ['oblique', 'noise']",
            "train.steps = 2",
            "mig.num_train = 100",
        ]
        argv = ["run", "--gin", TINY, "--out", str(out), "--device", "cpu"]
        for binding in bindings:
            argv += ["--bind", binding]
        assert main(argv) == 0
        gin.clear_config()
    return out


def copy_runs(study: Path, target: Path, names: list[str] | None = None) -> Path:
    """Only the run records (no checkpoints) of ``names`` (default: all)."""
    for run_dir in sorted((study / "runs").iterdir()):
        if names is None or run_dir.name in names:
            (target / "runs" / run_dir.name).mkdir(parents=True)
            shutil.copy(run_dir / "run.json", target / "runs" / run_dir.name / "run.json")
    return target


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0]


def test_submit_a_study_then_validate_and_build(study, tmp_path, capsys):
    board = tmp_path / "board"
    assert main(["submit", str(study), "--name", "beta-VAE (tiny)", "--to", str(board)]) == 0
    out = capsys.readouterr().out
    path = board / "submissions" / "beta-vae-tiny.json"
    assert f"wrote {path}: method 'beta-VAE (tiny)' (beta_vae), 6 runs in 1 config(s)" in out
    submission = load_submission(path)
    runs = submission["runs"]
    assert [(r["dataset"]["condition"], r["seed"]) for r in runs] == [
        ("original", 0), ("original", 1), ("noise", 0), ("noise", 1), ("oblique", 0),
        ("oblique", 1),
    ]  # fmt: skip
    record = json.loads((study / "runs" / RUN.format("oblique", 1) / "run.json").read_text())
    oblique = runs[-1]
    assert oblique["dataset"]["fingerprint"] == record["dataset"]["fingerprint"]
    assert oblique["dataset"]["perturbation"]["eps"] == 0.1
    assert oblique["metrics"] == record["metrics"] and oblique["steps"] == 2
    assert oblique["device"] == "cpu" and oblique["project_version"]
    assert oblique["operative_gin"] == record["config"]["operative_gin"]
    assert submission["configs"][0]["hyperparameters"] == record["model"]["hyperparameters"]

    assert main(["leaderboard", "validate", str(path)]) == 0
    assert f"{path}: valid: method 'beta-VAE (tiny)' (beta_vae), 6 runs" in capsys.readouterr().out
    assert main(["leaderboard", "build", "--dir", str(board), "--check-fingerprints"]) == 0
    readme = (board / "README.md").read_text()
    assert "### dsprites\\_small · mig\\.discrete\\_mig · oblique \\(eps 0\\.1\\)" in readme
    assert "| 1 | beta\\-VAE \\(tiny\\) |" in readme and "2 steps, 2 seeds | cpu |" in readme

    # The same name again is refused; the same runs under another name are duplicates.
    capsys.readouterr()
    assert main(["submit", str(study), "--name", "beta-VAE (tiny)", "--to", str(board)]) == 2
    assert "exists; choose another --name or pass --overwrite" in error_line(capsys)
    assert main(["submit", str(study), "--name", "other", "--to", str(board)]) == 2
    line = error_line(capsys)
    assert "duplicate runs: 6 run(s) already submitted in submissions/beta-vae-tiny.json" in line
    assert not (board / "submissions" / "other.json").exists()
    assert main(["submit", str(study), "--name", "beta-VAE (tiny)", "--to", str(board),
                 "--overwrite"]) == 0  # fmt: skip


def test_single_run_directories_and_partial_submissions(study, tmp_path, capsys):
    runs = study / "runs"
    board = tmp_path / "board"
    pair = [str(runs / RUN.format("original", 0)), str(runs / RUN.format("noise", 0))]
    assert main(["submit", *pair, "--name", "pair", "--to", str(board)]) == 0
    assert load_submission(board / "submissions" / "pair.json")["runs"][1]["seed"] == 0
    capsys.readouterr()

    originals = [str(runs / RUN.format("original", s)) for s in (0, 1)]
    assert main(["submit", *originals, "--name", "alone", "--to", str(board)]) == 2
    line = error_line(capsys)
    assert "rejected: partial submission: config c-" in line
    assert "on 'dsprites_small' has only original runs, no perturbed twin" in line

    uneven = [*originals, str(runs / RUN.format("noise", 0))]
    assert main(["submit", *uneven, "--name", "uneven", "--to", str(board)]) == 2
    assert "has seeds [0, 1] on the original but [0] on noise" in error_line(capsys)

    assert main(["submit", str(tmp_path / "nothing"), "--name", "x", "--to", str(board)]) == 2
    assert "does not exist" in error_line(capsys)
    unfinished = copy_runs(study, tmp_path / "unfinished")
    (unfinished / "runs" / "dsprites_small-noise-beta_vae-seed9").mkdir()
    assert main(["submit", str(unfinished), "--name", "x", "--to", str(board)]) == 2
    assert "has no run.json: the run has not finished" in error_line(capsys)
    assert sorted(p.name for p in (board / "submissions").iterdir()) == ["pair.json"]


def test_fingerprints_are_checked_against_the_registered_datasets(study, tmp_path, capsys):
    edited = copy_runs(study, tmp_path / "edited")
    # Claim another noise strength: the rebuilt dataset no longer has the recorded fingerprint.
    for run in (RUN.format("noise", 0), RUN.format("noise", 1)):
        path = edited / "runs" / run / "run.json"
        record = json.loads(path.read_text())
        record["dataset"]["perturbation"]["parameters"]["eps"] = 0.2
        path.write_text(json.dumps(record))
    board = tmp_path / "board"
    assert main(["submit", str(edited), "--name", "edited", "--to", str(board)]) == 2
    line = error_line(capsys)
    assert "rejected: dataset 'dsprites_small+noise': fingerprint" in line
    assert "does not match the registered dataset" in line
    assert (
        main(["submit", str(edited), "--name", "edited", "--to", str(board), "--no-fingerprints"])
        == 0
    )
    path = board / "submissions" / "edited.json"
    capsys.readouterr()
    assert main(["leaderboard", "validate", str(path)]) == 2
    assert "does not match the registered dataset" in error_line(capsys)
    assert main(["leaderboard", "validate", str(path), "--no-fingerprints"]) == 0

    # A file edited by hand fails its content hash.
    submission = json.loads(path.read_text())
    submission["runs"][0]["metrics"]["mig"]["discrete_mig"] = 0.999
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(submission))
    capsys.readouterr()
    assert main(["leaderboard", "validate", str(tampered), "--no-fingerprints"]) == 2
    assert "content_hash sha256:" in error_line(capsys)
    assert main(["leaderboard", "validate", str(tampered), str(path), "--no-fingerprints"]) == 2
    captured = capsys.readouterr()
    assert f"{path}: valid" in captured.out
    assert "bench: error: 1 of 2 submissions rejected" in captured.err
    assert (
        main(["leaderboard", "validate", str(path), "--no-fingerprints", "--against", str(board)])
        == 0
    )  # a file in the directory it is checked against is not its own duplicate


def test_quickstart_helper_on_real_runs(study, tmp_path):
    out = copy_runs(study, tmp_path / "quickstart")
    result = build_leaderboard_for_runs(out)
    assert result is not None and result.accepted == ["submissions/beta_vae.json"]
    page = (out / "leaderboard" / "index.html").read_text()
    assert page.count('<tr class="entry">') == 1 and page.count("<svg") == 2

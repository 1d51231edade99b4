"""The leaderboard holds the test-bed study: its controls (``matched_noise``, ``oblique_shuffled``),
the chance rule, the matched-noise twin's fingerprint check and the script that turns the study's
runs into submissions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_leaderboard_build import markdown_rows
from test_leaderboard_support import ROBUST, run_record, study_records, write_submission

from disentangle_bench.leaderboard import build_leaderboard, build_submission
from disentangle_bench.leaderboard.aggregate import aggregate, kind_of
from disentangle_bench.leaderboard.chance import ChanceLevel, at_chance, levels, measure
from disentangle_bench.leaderboard.render_markdown import render_markdown
from disentangle_bench.leaderboard.statistics import Estimate
from disentangle_bench.leaderboard.validation import fingerprint_problems, problems

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import testbed_submissions  # noqa: E402

OBLIQUE = "### dsprites\\_small · mig\\.discrete\\_mig · oblique \\(eps 0\\.1\\)"


def titles(readme: str) -> list[str]:
    return [line for line in readme.splitlines() if line.startswith("### ")]


def board_of(tmp_path: Path, **methods: list[dict]) -> Path:
    board = tmp_path / "board"
    for name, records in methods.items():
        write_submission(board, name, records)
    return board


# -- controls ------------------------------------------------------------------------------------


def test_perturbation_kinds():
    assert kind_of("matched_noise") == kind_of("noise") == "noise"
    assert kind_of("oblique_shuffled") == "shuffled"
    assert kind_of("oblique") == kind_of("linear_mix") == kind_of("my_plugin") == "structural"


def test_matched_noise_is_the_noise_control_and_preferred_over_noise(tmp_path):
    both = study_records(
        {
            "original": [0.50, 0.52, 0.54],
            "oblique": [0.10, 0.12, 0.14],
            "noise": [0.20, 0.20, 0.20],
            "matched_noise": [0.45, 0.46, 0.47],
        }
    )
    # Plain noise at the structural eps, matched_noise at another: matched_noise still wins.
    far = study_records({"original": [0.3, 0.3], "oblique": [0.2, 0.2], "noise": [0.1, 0.1]})
    far += study_records({"matched_noise": [0.25, 0.25]}, eps=0.3)
    for record in far:
        record["model"]["hyperparameters"]["beta"] = 2.0
    only = study_records({"original": [0.4, 0.4], "matched_noise": [0.3, 0.3]}, beta=8.0)
    board = board_of(tmp_path, both=both, far=far, only=only)
    readme = build_leaderboard(board, strict=True).readme.read_text()
    assert titles(readme) == [
        OBLIQUE,  # matched_noise is no structural condition: no table of its own beside it
        "### dsprites\\_small · mig\\.discrete\\_mig · matched\\_noise \\(eps 0\\.1\\)",
    ]
    header, *rows = markdown_rows(readme, OBLIQUE)
    assert header[4] == "noise" and "shuffled" not in header
    by_name = {row[1]: row for row in rows}
    assert by_name["both"][4].startswith("0.460 [") and by_name["both"][4].endswith("(eps 0.1)")
    assert by_name["far"][4] == "0.250 [0.250, 0.250] (eps 0.3)"
    # The entry with only a noise control gets the control's own table (with every entry that
    # has that condition).
    header, *rows = markdown_rows(readme, titles(readme)[1])
    assert header[3] == "matched\\_noise \\(eps 0\\.1\\)"
    assert [row[:2] for row in rows] == [["1", "both"], ["2", "only"]]


def test_shuffled_is_a_control_column_not_a_structural_table(tmp_path):
    records = study_records(
        {
            "original": [0.50, 0.52, 0.54],
            "oblique": [0.10, 0.12, 0.14],
            "matched_noise": [0.45, 0.46, 0.47],
            "oblique_shuffled": [0.30, 0.30, 0.30],
        }
    )
    lone = study_records({"original": [0.4, 0.4], "oblique_shuffled": [0.2, 0.2]}, beta=8.0)
    board = board_of(tmp_path, vae=records, lone=lone)
    readme = build_leaderboard(board, strict=True).readme.read_text()
    assert titles(readme) == [
        OBLIQUE,
        "### dsprites\\_small · mig\\.discrete\\_mig · oblique\\_shuffled \\(eps 0\\.1\\)",
    ]
    header, row = markdown_rows(readme, OBLIQUE)
    assert header == [
        "rank", "method", "original", "oblique \\(eps 0\\.1\\)", "noise", "shuffled", "drop",
        "robustness", "scale", "hardware",
    ]  # fmt: skip
    assert row[5] == "0.300 [0.300, 0.300] (eps 0.1)"
    assert row[6] == "0.400 [0.400, 0.400]"  # the drop is against the structural twin
    # The entry with only the shuffled control gets the control's table (listing every entry
    # that has it).
    header, *rows = markdown_rows(readme, titles(readme)[1])
    assert "noise" not in header and "shuffled" not in header[4:]
    assert [row[:2] for row in rows] == [["1", "vae"], ["2", "lone"]]
    assert rows[1][2:4] == ["0.400 [0.400, 0.400]", "0.200 [0.200, 0.200]"]
    page = (board / "index.html").read_text()
    assert "<th>shuffled</th>" in page


def test_each_structural_table_shows_the_controls_made_for_it(tmp_path):
    records = study_records(
        {
            "original": [0.50, 0.52, 0.54],
            "oblique": [0.10, 0.12, 0.14],
            "matched_noise": [0.45, 0.46, 0.47],
            "oblique_shuffled": [0.30, 0.30, 0.30],
            "oblique_blend": [0.20, 0.20, 0.20],
            "blend_matched_noise": [0.35, 0.35, 0.35],
            "oblique_blend_shuffled": [0.25, 0.25, 0.25],
        }
    )
    readme = build_leaderboard(board_of(tmp_path, vae=records), strict=True).readme.read_text()
    blend = "### dsprites\\_small · mig\\.discrete\\_mig · oblique\\_blend \\(eps 0\\.1\\)"
    assert titles(readme) == [OBLIQUE, blend]  # the blend's controls have no table of their own
    assert kind_of("blend_matched_noise") == "noise"
    assert kind_of("oblique_blend_shuffled") == "shuffled"
    (_, pushed), (_, blended) = markdown_rows(readme, OBLIQUE), markdown_rows(readme, blend)
    assert pushed[3:6] == [
        "0.120 [0.100, 0.140]",
        "0.460 [0.450, 0.470] (eps 0.1)",
        "0.300 [0.300, 0.300] (eps 0.1)",
    ]
    assert blended[3:6] == [
        "0.200 [0.200, 0.200]",
        "0.350 [0.350, 0.350] (blend_matched_noise, eps 0.1)",
        "0.250 [0.250, 0.250] (oblique_blend_shuffled, eps 0.1)",
    ]


# -- chance --------------------------------------------------------------------------------------

#: An entry that loses everything on the twin, and one whose original score is at chance.
REAL = {"original": [0.50, 0.52, 0.54], "oblique": [0.0, 0.0, 0.0], "matched_noise": [0.5] * 3}
CHANCE = {
    "original": [0.0003, 0.0, 0.0005],
    "oblique": [0.0006, 0.0004, 0.0005],
    "matched_noise": [0.0003] * 3,
}
BLOB_OBLIQUE = "### blob · mig\\.discrete\\_mig · oblique \\(eps 0\\.1\\)"


def chance_board(tmp_path: Path) -> Path:
    return board_of(
        tmp_path,
        real=study_records(REAL, dataset="blob"),
        chance=study_records(CHANCE, dataset="blob", beta=8.0),
    )


def test_an_entry_at_chance_has_no_ratio_and_ranks_after_the_others(tmp_path):
    board = chance_board(tmp_path)
    level = levels()["blob", "mig.discrete_mig"]
    assert 0.0 < level.level < 0.001  # the committed measurement (checked below)
    readme = build_leaderboard(board, strict=True).readme.read_text()
    _, first, second = markdown_rows(readme, BLOB_OBLIQUE)
    assert first[:2] == ["1", "real"] and first[6] == "0.000 [0.000, 0.000]"
    assert second[:2] == ["2", "chance"] and second[6] == "n/a (original at chance)"
    assert second[5].startswith("0.000 [")  # the drop is still shown
    assert f"Chance level: {level.level:.2g} (the largest mig\\.discrete\\_mig of 20" in readme
    # Without the rule the chance entry would rank first, with a ratio near 1.9.
    submissions = {
        f"submissions/{path.name}": json.loads(path.read_text())
        for path in sorted((board / "submissions").iterdir())
    }
    plain = render_markdown(aggregate(submissions, chance_levels={}))
    _, first, second = markdown_rows(plain, BLOB_OBLIQUE)
    assert first[:2] == ["1", "chance"] and first[6].startswith("1.875 [")
    assert "Chance level" not in plain


def test_chance_rule_follows_the_interval_and_the_metric_parameters(tmp_path):
    level = ChanceLevel("blob", "mig.discrete_mig", 0.01, 0.005, 4, 20, {"num_train": 10})
    assert at_chance(Estimate(0.2, 0.01, 0.4, 3), level, True)  # the interval reaches it
    assert not at_chance(Estimate(0.2, 0.0101, 0.4, 3), level, True)
    assert at_chance(Estimate(0.005, 0.005, 0.005, 1), level, True)
    assert not at_chance(Estimate(0.005, 0.005, 0.005, 1), level, False)  # lower is better
    assert not at_chance(Estimate(0.005, 0.0, 0.01, 3), None, True)
    assert level.applies_to({"mig": {"num_train": 10}})
    assert not level.applies_to({"mig": {"num_train": 10000}}) and not level.applies_to({})
    # A mean well above the level, but one seed of three at 0: chance is not excluded.
    mixed = study_records(
        {"original": [0.0, 0.0, 0.3], "oblique": [0.3, 0.3, 0.3], "noise": [0.3] * 3},
        dataset="blob",
    )
    # The same numbers scored with another MIG sample size: the level does not apply.
    other = study_records(
        {"original": [0.0, 0.0, 0.3], "oblique": [0.3, 0.3, 0.3], "noise": [0.3] * 3},
        dataset="blob",
        beta=2.0,
    )
    for record in other:
        record["metric_parameters"]["mig"]["num_train"] = 1000
    board = board_of(tmp_path, mixed=mixed, other=other)
    readme = build_leaderboard(board, strict=True).readme.read_text()
    rows = {row[1]: row for row in markdown_rows(readme, BLOB_OBLIQUE)[1:]}
    assert rows["mixed"][0] == "2" and rows["mixed"][6] == "n/a (original at chance)"
    assert rows["other"][0] == "1" and rows["other"][6].startswith("3.000 [")


@pytest.mark.slow
def test_independent_codes_score_near_zero_and_the_committed_level_is_measured():
    from disentangle_bench.evidence.testbed import NUM_LATENT

    (measured,) = testbed_submissions.measured_chance_levels(None)  # the script's measurement
    assert measured == levels()["blob", "mig.discrete_mig"], (
        "rerun: python benchmarks/testbed_submissions.py"
    )
    assert measured.num_latent == NUM_LATENT and measured.draws == 20
    assert measured.metric_parameters == {"num_train": 10000, "batch_size": 16}
    assert 0.0 < measured.mean <= measured.level < 0.005  # independent codes: MIG near 0
    fewer = measure("blob", "mig", "discrete_mig", num_latent=NUM_LATENT, draws=3)
    assert fewer.level <= measured.level and fewer.draws == 3


# -- the matched-noise twin's fingerprint --------------------------------------------------------


def real_records(condition: str, parameters: dict | None = None) -> list[dict]:
    """Records of ``blob`` (or its twin) with the dataset part ``bench run`` writes."""
    from disentangle_bench.pipeline.record import build_dataset
    from disentangle_bench.registry import Registry

    registry = Registry()
    perturbation = None if condition == "original" else condition
    built = build_dataset(
        registry, "blob", perturbation, perturbation_parameters=parameters or None
    )
    dataset = built.record(registry)
    records = []
    for seed in (0, 1):
        record = run_record(dataset="blob", condition=condition, seed=seed)
        record["dataset"] = dataset
        records.append(record)
    return records


def test_a_matched_noise_twin_is_checked_against_the_registry():
    records = real_records("original") + real_records("matched_noise", {"eps": 0.1, "seed": 0})
    recorded = records[-1]["dataset"]["perturbation"]["parameters"]
    assert recorded["match"] == "oblique" and recorded["noise_eps"] is None  # derived values
    submission = build_submission(records, "twin")
    assert problems(submission) == []
    assert fingerprint_problems(submission) == []
    # A derived value that is not what the perturbation reports is refused.
    for record in records[2:]:
        record["dataset"]["perturbation"]["parameters"]["noise_eps"] = 0.5
    found = fingerprint_problems(build_submission(records, "twin"))
    assert found == [
        "dataset 'blob+matched_noise': perturbation 'matched_noise': recorded parameter(s) "
        "noise_eps are not what it reports for the others"
    ]


# -- benchmarks/testbed_submissions.py -----------------------------------------------------------

COMMIT = "670a9ad7135d1d5693a83971c3eb7a4d23214089"


def study_row(
    model: str,
    kind: str,
    seed: int,
    mig: float,
    form: str = "push",
    eps: float = 0.1,
    share: float | None = None,
) -> dict:
    label = "original" if kind == "original" else f"{kind}@eps={eps:g},pattern=0"
    label += ",form=blend" if form == "blend" and kind != "original" else ""
    label += f",share={share:g}" if share and kind in ("structural", "shuffled") else ""
    eps = 0.0 if kind == "original" else eps
    return {
        "model": model, "condition": kind, "eps": eps, "pattern": 0, "label": label,
        "seed": seed, "steps": 3000, "mig": mig, "phase_r2": 0.01, "train_seconds": 50.0,
        "threads": 1, "cpu": "Test CPU", "commit": COMMIT,
    }  # fmt: skip


def write_study(path: Path, rows: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + tail)
    return path


def test_the_script_turns_paired_study_runs_into_submissions(tmp_path, capsys):
    mig = {"original": 0.6, "structural": 0.1, "noise": 0.5, "shuffled": 0.3}
    rows = [study_row("beta_vae", kind, 0, value) for kind, value in mig.items()]
    rows += [study_row("beta_vae", "original", 1, 0.55)]  # seed 1 lacks its twins
    rows += [study_row("pcl", kind, 0, 0.2) for kind in ("original", "structural")]
    study = write_study(tmp_path / "study.jsonl", rows, tail='{"model": "beta_v')
    board = tmp_path / "leaderboard"
    (board / "submissions").mkdir(parents=True)
    retired = board / "submissions" / testbed_submissions.RETIRED[0]
    retired.write_text("{}")
    foreign = write_submission(board, "someone else", study_records(ROBUST))
    argv = ["--plan", "push", "--study", str(study), "--leaderboard", str(board), "--skip-chance"]
    argv += ["--scratch", str(tmp_path / "scratch")]

    assert testbed_submissions.main(argv) == 0
    out = capsys.readouterr().out
    assert "pcl: no seed has all of original, structural, noise yet; no entry" in out
    first = board / "submissions" / "beta-vae-test-bed-blob-cpu-3-000-steps-1-seed.json"
    assert sorted(p.name for p in (board / "submissions").iterdir()) == sorted(
        [first.name, foreign.name]
    )
    submission = json.loads(first.read_text())
    assert submission["method"]["name"] == "beta-VAE (test bed: blob, CPU, 3,000 steps, 1 seed)"
    (config,) = submission["configs"]
    assert config["hyperparameters"]["beta"] == 16.0
    assert config["hyperparameters"]["architecture"] == "mlp"
    assert config["hyperparameters"]["num_latent"] == 4
    assert config["training"]["steps"] == 3000 and config["training"]["batch_size"] == 64
    assert config["training"]["learning_rate"] == 1e-3
    assert (config["training"]["beta1"], config["training"]["beta2"]) == (0.9, 0.999)
    assert config["training"]["epsilon"] == 1e-8
    assert config["metric_parameters"] == {"mig": {"num_train": 10000, "batch_size": 16}}
    runs = {run["dataset"]["condition"]: run for run in submission["runs"]}
    assert sorted(runs) == ["matched_noise", "oblique", "original"]  # no shuffled control
    assert runs["oblique"]["run_id"] == "blob-oblique-beta_vae-seed0"
    assert runs["oblique"]["metrics"] == {"mig": {"discrete_mig": 0.1}}
    assert runs["matched_noise"]["metrics"] == {"mig": {"discrete_mig": 0.5}}
    assert runs["oblique"]["dataset"]["perturbation"]["parameters"]["eps"] == 0.1
    assert all(run["versions"]["commit"] == COMMIT for run in runs.values())
    assert all(run["device"] == "cpu (Test CPU, 1 thread)" for run in runs.values())
    gin_text = runs["oblique"]["operative_gin"]
    assert gin_text.startswith(testbed_submissions.MARKER)
    assert f"# commit: {COMMIT}" in gin_text and "oblique.eps = 0.1" in gin_text
    assert "# cpu: Test CPU; torch threads: 1" in gin_text
    # The operative gin is a config bench run reads.
    import disentangle_bench.pipeline.running  # noqa: F401  (registers experiment, train)
    from disentangle_bench.pipeline.config import parse_gin

    (tmp_path / "run.gin").write_text(gin_text)
    assert "oblique.eps = 0.1" in parse_gin([tmp_path / "run.gin"])
    readme = (board / "README.md").read_text()
    assert "beta\\-VAE \\(test bed\\: blob\\, CPU\\, 3\\,000 steps\\, 1 seed\\)" in readme
    assert "hardware: cpu \\(Test CPU\\, 1 thread\\)" in readme

    # The study grows: seed 1 gets its twins; the entry is replaced, the foreign one stays.
    rows += [study_row("beta_vae", kind, 1, 0.15 if kind == "structural" else 0.5)
             for kind in ("structural", "noise")]  # fmt: skip
    write_study(study, rows)
    assert testbed_submissions.main(argv) == 0
    names = sorted(p.name for p in (board / "submissions").iterdir())
    assert names == sorted(["beta-vae-test-bed-blob-cpu-3-000-steps-2-seeds.json", foreign.name])
    readme = (board / "README.md").read_text()
    assert "2 seeds" in readme and "1 seed\\)" not in readme


def test_the_script_submits_the_blend_study_with_its_own_controls(tmp_path):
    mig = {"original": 0.6, "structural": 0.2, "noise": 0.5, "shuffled": 0.3}
    rows = [study_row(model, kind, 0, value, form="blend") for kind, value in mig.items()
            for model in ("beta_vae", "pcl")]  # fmt: skip
    study = write_study(tmp_path / "blend.jsonl", rows)
    board = tmp_path / "leaderboard"
    argv = ["--plan", "blend", "--study", str(study), "--leaderboard", str(board), "--skip-chance"]
    assert testbed_submissions.main(argv) == 0
    pcl = json.loads((board / "submissions" / "pcl-test-bed-blob-cpu-3-000-steps-1-seed.json")
                     .read_text())  # fmt: skip
    assert pcl["configs"][0]["hyperparameters"]["num_latent"] == 2
    runs = {run["dataset"]["condition"]: run for run in pcl["runs"]}
    assert sorted(runs) == ["blend_matched_noise", "oblique_blend", "original"]
    assert runs["oblique_blend"]["run_id"] == "blob-oblique_blend-pcl-seed0"
    assert "oblique_blend.eps = 0.1" in runs["oblique_blend"]["operative_gin"]
    assert runs["blend_matched_noise"]["dataset"]["perturbation"]["parameters"]["match"] == (
        "oblique_blend"
    )
    readme = (board / "README.md").read_text()
    assert "oblique\\_blend \\(eps 0\\.1\\)" in readme


def test_the_script_submits_the_slow_study_by_default_with_its_switch_share(tmp_path):
    mig = {"original": 0.6, "structural": 0.1, "noise": 0.3, "shuffled": 0.2}
    rows = [study_row(model, kind, 0, value, form="blend", eps=0.175, share=0.0625)
            for kind, value in mig.items() for model in ("beta_tc_vae", "ae")]  # fmt: skip
    study = write_study(tmp_path / "slow.jsonl", rows)
    board = tmp_path / "leaderboard"
    argv = ["--study", str(study), "--leaderboard", str(board), "--skip-chance"]
    assert testbed_submissions.main(argv) == 0  # --plan slow is the default
    name = "beta-tcvae-test-bed-blob-cpu-3-000-steps-1-seed.json"
    tc = json.loads((board / "submissions" / name).read_text())
    assert tc["method"]["name"] == "beta-TCVAE (test bed: blob, CPU, 3,000 steps, 1 seed)"
    assert tc["configs"][0]["hyperparameters"]["beta"] == 16.0
    runs = {run["dataset"]["condition"]: run for run in tc["runs"]}
    assert sorted(runs) == ["blend_matched_noise", "oblique_blend", "original"]
    parameters = runs["oblique_blend"]["dataset"]["perturbation"]["parameters"]
    assert parameters["switch_share"] == 0.0625 and parameters["eps"] == 0.175
    assert "oblique_blend.switch_share = 0.0625" in runs["oblique_blend"]["operative_gin"]
    assert runs["blend_matched_noise"]["metrics"] == {"mig": {"discrete_mig": 0.3}}

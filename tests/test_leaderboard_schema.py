"""The submission format: its schema file, content hash, and good and bad files."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from test_leaderboard_support import FRAGILE, ROBUST, run_record, study_records

from disentangle_bench.leaderboard import (
    FORMAT,
    FORMAT_VERSION,
    SubmissionError,
    build_submission,
    check,
    content_hash,
    load_submission,
    parse_submission,
)
from disentangle_bench.leaderboard.schema import MAX_FILE_BYTES
from disentangle_bench.leaderboard.submission import RunCollectionError
from disentangle_bench.leaderboard.validation import problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def good() -> dict:
    return build_submission(study_records(ROBUST), "robust method")


def rehash(submission: dict) -> dict:
    submission["content_hash"] = content_hash(submission)
    return submission


def test_schema_ships_as_package_data_and_is_a_valid_schema():
    text = resources.files("disentangle_bench.leaderboard").joinpath("submission.schema.json")
    schema = json.loads(text.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["format_version"] == {"const": FORMAT_VERSION}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = pyproject["tool"]["setuptools"]["package-data"]["disentangle_bench.leaderboard"]
    assert "submission.schema.json" in data
    assert any(dep.startswith("jsonschema") for dep in pyproject["project"]["dependencies"])


def test_built_submission_is_valid_and_its_hash_is_sha256_of_canonical_json():
    submission = good()
    assert submission["format"] == FORMAT and submission["format_version"] == 1
    assert problems(submission) == []
    body = {k: v for k, v in submission.items() if k != "content_hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert submission["content_hash"] == f"sha256:{digest}"
    method = submission["method"]
    assert method == {
        "name": "robust method",
        "model": "beta_vae",
        "plugin": "builtin",
        "distribution": "disentangle-bench",
        "version": "0.1.0",
    }
    run = submission["runs"][0]
    assert run["dataset"]["condition"] == "original" and run["steps"] == 1500
    assert run["wall_seconds"] == pytest.approx(11.5) and run["project_version"] == "0.1.0"
    noise = next(r for r in submission["runs"] if r["dataset"]["condition"] == "noise")
    assert noise["dataset"]["perturbation"]["eps"] == 0.1
    assert [c["id"] for c in submission["configs"]] == [run["config"]]
    # The layout on disk does not matter: the hash is over the canonical form.
    reparsed = parse_submission(json.dumps(submission, indent=4).encode(), "file")
    assert problems(reparsed) == []


def test_configs_are_told_apart_by_their_hyperparameters():
    records = study_records(ROBUST) + study_records(FRAGILE, beta=1.0)
    submission = build_submission(records, "two betas")
    assert len(submission["configs"]) == 2
    assert problems(submission) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["runs"][0].pop("seed"), "$.runs[0]: 'seed' is a required property"),
        (lambda s: s["runs"][0].update(seed="0"), "$.runs[0].seed: '0' is not of type 'integer'"),
        (lambda s: s.update(format_version=2), "$.format_version: 1 was expected"),
        (lambda s: s["method"].update(extra=1), "Additional properties are not allowed"),
        (lambda s: s["method"].update(name=""), "$.method.name"),
        (lambda s: s["method"].update(name="x" * 101), "is too long"),
        (lambda s: s["runs"][0]["dataset"].update(fingerprint="abc"), "does not match"),
        (lambda s: s["runs"][0]["dataset"].update(base="../x"), "$.runs[0].dataset.base"),
        (lambda s: s["runs"][0]["metrics"]["mig"].update(discrete_mig="0.3"), "not of type"),
        (lambda s: s["runs"][0]["metrics"]["mig"].update(discrete_mig=True), "not of type"),
    ],
)
def test_schema_violations_are_named_by_path(edit, message):
    submission = good()
    edit(submission)
    found = problems(submission)
    assert found and any(message in problem for problem in found), found
    with pytest.raises(SubmissionError) as error:
        check(submission, "sub.json")
    assert str(error.value).startswith("sub.json: rejected: ")
    assert "\n" not in str(error.value)


def test_an_edited_file_fails_its_content_hash():
    submission = good()
    submission["runs"][0]["metrics"]["mig"]["discrete_mig"] = 0.99
    [problem] = problems(submission)
    assert "content_hash" in problem and "does not match the content" in problem


def test_scores_must_be_finite_and_in_range_unknown_keys_finite_only():
    submission = good()
    submission["runs"][0]["metrics"]["mig"]["discrete_mig"] = 1.5
    submission["runs"][1]["metrics"]["mig"]["discrete_mig"] = -0.2
    found = problems(rehash(submission))
    assert any("mig.discrete_mig = 1.5 is outside its range [0, 1]" in p for p in found)
    assert any("mig.discrete_mig = -0.2 is outside its range [0, 1]" in p for p in found)

    records = study_records(ROBUST)
    for record in records:
        record["metrics"]["my_metric"] = {"my_score": -1234.5, "100:test_accuracy_factor_0": 0.5}
    assert problems(build_submission(records, "third party")) == []
    records[0]["metrics"]["my_metric"]["100:test_accuracy_factor_0"] = 1.01
    [problem] = problems(build_submission(records, "third party"))
    assert "my_metric.100:test_accuracy_factor_0 = 1.01 is outside its range [0, 1]" in problem

    records[0]["metrics"]["my_metric"]["my_score"] = float("nan")
    with pytest.raises(RunCollectionError, match="not finite.*my_metric.my_score = nan"):
        build_submission(records, "nan")
    in_memory = good()
    in_memory["runs"][0]["metrics"]["mig"]["discrete_mig"] = float("inf")
    assert problems(in_memory) == ["holds a number that is not finite"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"format": "disentangle-bench-submission", "x": NaN}', "NaN is not a valid JSON"),
        (b'{"format": "disentangle-bench-submission", "x": 1e999}', "too large for a float"),
        (b'{"format": "disentangle-bench-submission", "x": Infinity}', "not a valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "not a submission"),
        (b'{"format": "other"}', "not a submission"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_bytes_are_rejected_with_a_clear_message(text, message):
    with pytest.raises(SubmissionError, match="bad.json: rejected: .*" + message):
        parse_submission(text, "bad.json")


def test_size_limit_and_links(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(SubmissionError, match="over the limit of 5,242,880 bytes"):
        load_submission(big)
    target = tmp_path / "real.json"
    target.write_text(json.dumps(good()))
    assert load_submission(target)["method"]["name"] == "robust method"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(SubmissionError, match="not a regular file"):
        load_submission(link)
    with pytest.raises(SubmissionError, match="cannot read it"):
        load_submission(tmp_path / "missing.json")


def test_run_and_config_consistency():
    submission = good()
    submission["runs"][1]["config"] = "c-000000000000"
    found = problems(rehash(submission))
    assert any("names an unknown config c-000000000000" in p for p in found)

    submission = good()
    submission["configs"][0]["hyperparameters"]["beta"] = 100.0
    found = problems(rehash(submission))
    assert any("does not match its content" in p for p in found)

    submission = good()
    noise = next(r for r in submission["runs"] if r["dataset"]["condition"] == "noise")
    noise["dataset"]["condition"] = "oblique"
    found = problems(rehash(submission))
    assert any("condition 'oblique' does not name its perturbation" in p for p in found)


def test_runs_from_two_models_are_refused():
    records = study_records(ROBUST) + study_records(FRAGILE, model="factor_vae")
    with pytest.raises(RunCollectionError, match="several models \\(beta_vae, factor_vae\\)"):
        build_submission(records, "mixed")


def test_submission_is_independent_of_record_order():
    records = study_records(ROBUST)
    assert build_submission(records, "a") == build_submission(list(reversed(records)), "a")
    assert copy.deepcopy(good()) == good()


def test_duplicate_runs_within_a_submission_are_refused():
    records = study_records(ROBUST) + [run_record(seed=0, condition="original")]
    records[-1]["run_id"] = "copy-of-seed0"
    found = problems(build_submission(records, "dup"))
    [problem] = found
    assert problem.startswith("duplicate run: ") and "'copy-of-seed0'" in problem
    assert "(same config c-" in problem and "dataset 'dsprites_small' and seed 0)" in problem

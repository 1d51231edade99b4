"""Hostile submissions: scores that overflow, datasets that point at files, one code path for
``validate`` and ``build``, and filesystem failures of ``submit`` and ``build`` as one line."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from test_leaderboard_support import ROBUST, study_records, write_run_dirs, write_submission

from disentangle_bench.cli import main
from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.leaderboard import SubmissionError, build_leaderboard, build_submission
from disentangle_bench.leaderboard.ranges import MAX_MAGNITUDE
from disentangle_bench.leaderboard.statistics import bootstrap_ratio
from disentangle_bench.leaderboard.validation import (
    FingerprintReport,
    admit,
    check,
    parse_submission,
    problems,
)
from disentangle_bench.perturbations import MatchedNoise
from disentangle_bench.registry import Registry
from disentangle_bench.registry.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parents[1]
TWINS = {"original": [0.40, 0.42], "noise": [0.39, 0.41]}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0]


def records_scoring(value, key: str = "my_score") -> list[dict]:
    """A method whose third-party metric scores ``value`` on every run (sign alternating)."""
    records = study_records(ROBUST)
    for number, record in enumerate(records):
        signed = value if number % 2 else (-value if isinstance(value, (int, float)) else value)
        record["metrics"]["my_metric"] = {key: signed}
    return records


# -- scores ---------------------------------------------------------------------------------------


def test_a_huge_finite_score_under_an_unknown_key_is_refused_by_validate_and_skipped_by_build(
    tmp_path, capsys
):
    board = tmp_path / "board"
    write_submission(board, "good", study_records(ROBUST, dataset="shapes3d_small"))
    path = write_submission(board, "huge", records_scoring(1.7e308))
    [problem, *_] = problems(json.loads(path.read_text()))
    assert "my_metric.my_score = -1.7e+308 is larger than 1e+15 in magnitude" in problem

    assert main(["leaderboard", "validate", str(path), "--no-fingerprints"]) == 2
    assert "huge.json: rejected: run " in one_error_line(capsys)

    warnings = io.StringIO()
    result = build_leaderboard(board, stream=warnings)  # used to crash in the plots
    assert result.accepted == ["submissions/good.json"]
    [line] = warnings.getvalue().splitlines()
    assert line.startswith("warning: skipping submissions/huge.json: rejected: run ")
    assert "is larger than 1e+15 in magnitude" in line
    assert "shapes3d\\_small" in result.readme.read_text()

    assert main(["leaderboard", "build", "--dir", str(board), "--strict"]) == 2
    assert "submissions/huge.json: rejected:" in one_error_line(capsys)


def test_an_integer_too_large_for_a_float_is_refused_not_crashed_on(tmp_path, capsys):
    # In a file: refused while parsing (no integer of more than 19 digits anywhere).
    path = tmp_path / "big.json"
    submission = build_submission(records_scoring(0.5), "big")
    text = json.dumps(submission).replace('"my_score": 0.5', '"my_score": 1' + "0" * 400, 1)
    path.write_text(text)
    assert main(["leaderboard", "validate", str(path), "--no-fingerprints"]) == 2
    line = one_error_line(capsys)
    assert "big.json: rejected: not valid JSON: the integer 1000000000" in line
    assert "... (401 digits) is too large" in line
    # Built in memory from run records (bench submit): refused by the score check, no crash.
    found = problems(build_submission(records_scoring(10**400), "big"))
    assert found and all("is an integer of about 401 digits, larger than 1e+15" in p for p in found)
    # Integers that are plain numbers are scores like any other.
    assert problems(build_submission(records_scoring(3), "three")) == []


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (0.5, True),
        (MAX_MAGNITUDE, True),
        (5e-324, True),
        (MAX_MAGNITUDE * 1.5, False),
        (1.7e308, False),
        (10**16, False),
        (True, False),
        ("0.5", False),
        (None, False),
    ],
)
def test_build_accepts_exactly_what_validate_accepts(tmp_path, value, accepted):
    board = tmp_path / "board"
    write_submission(board, "good", study_records(TWINS, dataset="shapes3d_small"))
    path = write_submission(board, "probe", records_scoring(value))
    try:
        admit(path, file_name=True)
        validated = True
    except SubmissionError:
        validated = False
    assert validated is accepted
    result = build_leaderboard(board, stream=io.StringIO())  # never raises
    assert ("submissions/probe.json" in result.accepted) is accepted
    assert "submissions/good.json" in result.accepted
    assert result.html.read_text().count("<svg") >= 2


def test_extreme_allowed_scores_render_and_an_overflowing_ratio_is_undefined(tmp_path):
    assert bootstrap_ratio([1e-300, 1e-300], [1e15, 1e15]) is None
    ratio = bootstrap_ratio([1e-300, 2e-300, 1e-300], [1e15, 1e15, 1e15])
    assert ratio is None
    board = tmp_path / "board"
    tiny = study_records({"original": [1e-300, 2e-300], "noise": [1e15, 1e15]})
    for record in tiny:
        record["metrics"] = {"my_metric": {"my_score": record["metrics"]["mig"]["discrete_mig"]}}
    write_submission(board, "tiny", tiny)
    write_submission(board, "big", records_scoring(MAX_MAGNITUDE))
    result = build_leaderboard(board, strict=True, stream=io.StringIO())
    assert result.accepted == ["submissions/big.json", "submissions/tiny.json"]
    assert "n/a" in result.readme.read_text()


def test_a_check_that_breaks_on_hostile_input_refuses_the_file_and_spares_the_rest(
    tmp_path, monkeypatch
):
    board = tmp_path / "board"
    write_submission(board, "a", study_records(ROBUST))
    write_submission(board, "b", study_records(ROBUST, dataset="shapes3d_small"))
    from disentangle_bench.leaderboard import validation

    original = validation._twin_problems

    def fragile(runs):
        if runs[0]["dataset"]["base"] == "dsprites_small":
            raise OverflowError("cannot convert")
        return original(runs)

    monkeypatch.setattr(validation, "_twin_problems", fragile)
    warnings = io.StringIO()
    result = build_leaderboard(board, stream=warnings)
    assert result.accepted == ["submissions/b.json"]
    assert "a.json: rejected: cannot be checked (OverflowError: cannot convert)" in (
        warnings.getvalue()
    )


def test_parse_refuses_long_integers_anywhere():
    text = b'{"format": "disentangle-bench-submission", "seed": 123456789012345678901}'
    with pytest.raises(SubmissionError, match=r"the integer 12345678901234567890\.\.\. \(21"):
        parse_submission(text, "x.json")
    assert parse_submission(b'{"format": "disentangle-bench-submission", "n": 9223372036854775807}',
                            "x.json")["n"] == 2**63 - 1  # fmt: skip


# -- fingerprints: never built from what a submission records --------------------------------


class Spy(GroundTruthData):
    """A 3 x 2 grid of 4 x 4 images that records every construction."""

    name = "spy_grid"
    built: ClassVar[list[dict]] = []

    def __init__(self, size: int = 4, cache: bool = True) -> None:
        Spy.built.append({"size": size, "cache": cache})
        self.size = size

    @property
    def factor_names(self):
        return ("a", "b")

    @property
    def factors_num_values(self):
        return (3, 2)

    @property
    def observation_shape(self):
        return (self.size, self.size, 1)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"spy {self.size}".encode()).hexdigest()

    def sample_observations_from_factors(self, factors, random_state):
        return np.zeros((len(factors), self.size, self.size, 1), np.float32)


class SpyFile(Spy):
    """The same, read from a file (a ``path`` parameter)."""

    name = "spy_file"

    def __init__(self, path: str | None = None) -> None:
        super().__init__()


@pytest.fixture
def spy_registry():
    Spy.built.clear()

    @hookimpl
    def register_datasets():
        return [Spy, SpyFile]

    return Registry(plugins=[types.SimpleNamespace(register_datasets=register_datasets)])


def spy_submission(dataset: str = "spy_grid", parameters=None, original=None, noise_eps=0.1):
    records = study_records(TWINS, dataset=dataset, eps=noise_eps)
    size = (parameters or {}).get("size", 4)
    truth = hashlib.sha256(f"spy {size}".encode()).hexdigest()
    for record in records:
        record["dataset"]["parameters"] = (
            parameters if parameters is not None else {"size": 4, "cache": True}
        )
        if record["dataset"]["condition"] == "original":
            record["dataset"]["fingerprint"] = original or truth
        else:
            base = type("Base", (), {"fingerprint": original or truth})()
            twin = MatchedNoise(eps=0.1, seed=0).apply(base)
            record["dataset"]["fingerprint"] = twin.fingerprint
    return build_submission(records, "spy method")


def test_registered_datasets_are_checked_against_the_registrys_own_build(spy_registry):
    report = FingerprintReport()
    check(spy_submission(), "s.json", fingerprints=True, registry=spy_registry, report=report)
    assert Spy.built == [{"size": 4, "cache": True}]  # once, with its defaults (no arguments)
    assert sorted(report.checked) == ["spy_grid", "spy_grid+noise"]
    assert report.recorded_only == {} and report.note() is None

    wrong = spy_submission(original="0" * 64)
    with pytest.raises(SubmissionError, match="'spy_grid': fingerprint 000000000000 does not"):
        check(wrong, "s.json", fingerprints=True, registry=spy_registry)
    # A twin recorded at another strength than it was made with: its fingerprint gives it away.
    with pytest.raises(SubmissionError, match="'spy_grid\\+noise': fingerprint .* does not match"):
        check(spy_submission(noise_eps=0.2), "s.json", fingerprints=True, registry=spy_registry)


def test_non_default_parameters_and_file_based_datasets_are_never_built(spy_registry):
    report = FingerprintReport()
    hostile = spy_submission(parameters={"size": 10**9, "cache": True})
    check(hostile, "s.json", fingerprints=True, registry=spy_registry, report=report)
    assert Spy.built == []  # a billion-pixel image was never made
    assert report.recorded_only == {
        "spy_grid": "non-default parameters: size",
        "spy_grid+noise": "non-default parameters: size",
    }
    assert report.note() == (
        "fingerprint not re-derived, recorded one used: spy_grid (non-default parameters: size); "
        "spy_grid+noise (non-default parameters: size)"
    )
    for parameters in ({"path": None}, {"path": "/etc/passwd"}):
        report = FingerprintReport()
        submission = spy_submission("spy_file", parameters=parameters)
        check(submission, "s.json", fingerprints=True, registry=spy_registry, report=report)
        assert Spy.built == []
        assert report.recorded_only == {"spy_file": "file-based", "spy_file+noise": "file-based"}


def evil_npz(path: Path, marker: Path) -> Path:
    """A dSprites-layout npz whose pickled ``metadata`` creates ``marker`` when unpickled."""

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    classes = np.stack(np.unravel_index(np.arange(12), (1, 3, 2, 2, 1, 1)), axis=1)
    np.savez(
        path,
        imgs=np.zeros((12, 64, 64), np.uint8),
        latents_classes=classes.astype(np.int64),
        latents_values=classes.astype(np.float64),
        metadata=np.array(Payload(), dtype=object),
    )
    with np.load(path, allow_pickle=True) as archive:  # the payload works: this would run it
        archive["metadata"]
    assert marker.exists()
    marker.unlink()
    return path


def test_validate_never_builds_a_submitted_path(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(cache))
    marker = tmp_path / "code-ran"
    evil = evil_npz(tmp_path / "evil.npz", marker)
    export = tmp_path / "some-directory"
    export.mkdir()
    (export / "dataset_info.json").write_text("{}")
    board = tmp_path / "board"
    for dataset, path in (("dsprites_full", evil), ("hf_dataset", export)):
        records = study_records(TWINS, dataset=dataset)
        for record in records:
            record["dataset"]["parameters"] = {"path": str(path)}
        submission = write_submission(board, dataset, records)
        assert main(["leaderboard", "validate", str(submission)]) == 0
        out = capsys.readouterr().out
        assert f"{submission}: valid: method '{dataset}'" in out
        assert (
            f"{submission}: fingerprint not re-derived, recorded one used: {dataset} (file-based)"
        ) in out
    assert not marker.exists()  # the pickle never ran
    assert not cache.exists()  # nothing was imported into the cache


def test_real_registry_defaults_are_rebuilt_and_compared(tmp_path, capsys):
    # dsprites_small recorded with its defaults is rebuilt by the registry (and its made-up
    # fingerprint refused); with cache=False it is compared by its recorded fingerprint only.
    board = tmp_path / "board"
    path = write_submission(board, "made-up", study_records(TWINS))
    assert main(["leaderboard", "validate", str(path)]) == 2
    assert "'dsprites_small': fingerprint" in one_error_line(capsys)
    records = study_records(TWINS)
    for record in records:
        record["dataset"]["parameters"] = {"cache": False}
    path = write_submission(board, "uncached", records)
    assert main(["leaderboard", "validate", str(path)]) == 0
    assert "dsprites_small (non-default parameters: cache)" in capsys.readouterr().out


# -- bench submit's folder, and filesystem failures --------------------------------------------


def test_submit_defaults_to_submissions_in_the_current_directory(tmp_path, monkeypatch, capsys):
    tracked = sorted(p.name for p in (ROOT / "leaderboard" / "submissions").iterdir())
    runs = write_run_dirs(tmp_path / "runs", study_records(ROBUST))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["submit", str(runs), "--name", "mine", "--no-fingerprints"]) == 0
    out = capsys.readouterr().out
    assert "wrote submissions/mine.json: method 'mine'" in out
    assert "copy it into LEADERBOARD/submissions/ (or submit with --to LEADERBOARD)" in out
    assert (work / "submissions" / "mine.json").is_file()
    assert sorted(p.name for p in (ROOT / "leaderboard" / "submissions").iterdir()) == tracked
    # --to a file: one line, nothing written.
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["submit", str(runs), "--name", "x", "--to", str(target)]) == 2
    line = one_error_line(capsys)
    assert f"--to {target}: {target} is a file, not a directory" in line
    assert target.read_text() == "x"


def refuse_writes(monkeypatch, module, name: str = "atomic_write_text") -> None:
    """Make ``module.name`` fail as an unwritable folder does (chmod does not stop root)."""

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(path).parent))

    monkeypatch.setattr(module, name, denied)


def test_unwritable_leaderboard_and_submission_folders_are_one_line(tmp_path, monkeypatch, capsys):
    from disentangle_bench.leaderboard import build as build_module
    from disentangle_bench.util import files

    board = tmp_path / "board"
    write_submission(board, "good", study_records(ROBUST))
    with monkeypatch.context() as patch:
        refuse_writes(patch, build_module)
        assert main(["leaderboard", "build", "--dir", str(board)]) == 2
    line = one_error_line(capsys)
    assert line == (
        f"bench: error: cannot write the leaderboard table {board / 'README.md'}: {board}: "
        "Permission denied: the folder is not writable"
    )
    runs = write_run_dirs(tmp_path / "runs", study_records(ROBUST, dataset="shapes3d_small"))
    with monkeypatch.context() as patch:
        refuse_writes(patch, files, "atomic_write")
        assert main(["submit", str(runs), "--name", "x", "--to", str(board)]) == 2
    line = one_error_line(capsys)
    assert f"cannot write the submission {board / 'submissions' / 'x.json'}: " in line
    assert not (board / "submissions" / "x.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root")
def test_a_read_only_leaderboard_folder_is_one_line(tmp_path, capsys):
    board = tmp_path / "board"
    write_submission(board, "good", study_records(ROBUST))
    board.chmod(0o500)
    try:
        assert main(["leaderboard", "build", "--dir", str(board)]) == 2
    finally:
        board.chmod(0o700)
    assert f"cannot write the leaderboard table {board / 'README.md'}" in one_error_line(capsys)
